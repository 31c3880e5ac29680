-- Apply one partition batch atomically, only if the partition's stored offset is still the one the
-- consumer read its state at. Generic: the domain rules live in metrics/ledger.py.
--
-- KEYS[1] offset, KEYS[2] stats, KEYS[3] recent, KEYS[4] register hash, KEYS[5..] counter hashes, then
-- event-state hashes.
-- ARGV: expected_offset ("" = none stored), new_offset, applied_at, recent_min_score, recent_max,
--       n_counter_keys, { expire_at, n_fields, field, inc, ... } * n_counter_keys,
--       n_state_keys, state_ttl, { n_fields, field, value, ... } * n_state_keys,
--       n_register, { field, value } * n_register,
--       n_stats, { field, inc } * n_stats, last_ts,
--       n_recent, { score, member } * n_recent
-- Returns {1, new_offset} when applied, {0, stored_offset or ""} on a conflict (nothing written).
-- expected_offset "*" (the direct backfill, which has no Kafka offsets) skips the check and leaves the
-- stored offset alone.
local stored = redis.call('GET', KEYS[1])
local expected = ARGV[1]
if expected ~= '*' and (stored or '') ~= expected then
  return {0, stored or ''}
end
local a = 6
local k = 5
local n_counter = tonumber(ARGV[a]); a = a + 1
for _ = 1, n_counter do
  local key = KEYS[k]; k = k + 1
  local expire_at = ARGV[a]; local n = tonumber(ARGV[a + 1]); a = a + 2
  for _ = 1, n do
    redis.call('HINCRBY', key, ARGV[a], ARGV[a + 1]); a = a + 2
  end
  redis.call('HINCRBY', key, '_v', 1)
  redis.call('EXPIREAT', key, expire_at)
end
local n_state = tonumber(ARGV[a]); local state_ttl = ARGV[a + 1]; a = a + 2
for _ = 1, n_state do
  local key = KEYS[k]; k = k + 1
  local n = tonumber(ARGV[a]); a = a + 1
  local args = {}
  for i = 1, n * 2 do args[i] = ARGV[a + i - 1] end
  a = a + n * 2
  redis.call('HSET', key, unpack(args))
  redis.call('EXPIRE', key, state_ttl)
end
local n_register = tonumber(ARGV[a]); a = a + 1
for _ = 1, n_register do
  redis.call('HSET', KEYS[4], ARGV[a], ARGV[a + 1]); a = a + 2
end
local n_stats = tonumber(ARGV[a]); a = a + 1
for _ = 1, n_stats do
  redis.call('HINCRBY', KEYS[2], ARGV[a], ARGV[a + 1]); a = a + 2
end
local last_ts = tonumber(ARGV[a]); a = a + 1
local prev_ts = tonumber(redis.call('HGET', KEYS[2], 'last_ts') or '0')
if last_ts > prev_ts then redis.call('HSET', KEYS[2], 'last_ts', ARGV[a - 1]) end
redis.call('HSET', KEYS[2], 'applied_at', ARGV[3])
local n_recent = tonumber(ARGV[a]); a = a + 1
if n_recent > 0 then
  for _ = 1, n_recent do
    redis.call('ZADD', KEYS[3], ARGV[a], ARGV[a + 1]); a = a + 2
  end
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. ARGV[4])
  redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -(tonumber(ARGV[5]) + 1))
end
if expected ~= '*' then redis.call('SET', KEYS[1], ARGV[2]) end
return {1, ARGV[2]}
