-- Apply one partition batch atomically, only if the partition's stored offset is still the one the
-- consumer read its state at. Generic: the domain rules live in metrics/ledger.py.
--
-- KEYS[1] offset, KEYS[2] stats, KEYS[3] recent, KEYS[4] register hash, KEYS[5] counter versions,
-- KEYS[6..] counter hashes, then event-state keys (in the payload's order).
-- ARGV[1] expected offset ("" = none stored; "*" = backfill: no check, offset left alone)
-- ARGV[2] new offset, ARGV[3] applied_at, ARGV[4] recent_min_score, ARGV[5] recent_max
-- ARGV[6] the payload, MessagePack (one C call to decode, instead of one argument per field):
--   { counters = { {expire_at, {field, inc, field, inc, ...}}, ... },
--     state_ttl, states = { state JSON, ... }, register = {field, value, ...},
--     stats = {field, inc, ...}, last_ts, recent = {score, member, ...} }
-- Returns {1, new_offset} when applied, {0, stored_offset or ""} on a conflict (nothing written).
local stored = redis.call('GET', KEYS[1])
local expected = ARGV[1]
if expected ~= '*' and (stored or '') ~= expected then
  return {0, stored or ''}
end
local p = cmsgpack.unpack(ARGV[6])
local k = 6
for _, c in ipairs(p.counters) do
  local key = KEYS[k]; k = k + 1
  local f = c[2]
  for i = 1, #f, 2 do
    redis.call('HINCRBY', key, f[i], f[i + 1])
  end
  -- Readers learn which buckets changed from one small hash instead of one read per bucket.
  redis.call('HINCRBY', KEYS[5], key, 1)
  redis.call('EXPIREAT', key, c[1])
end
for _, s in ipairs(p.states) do
  redis.call('SET', KEYS[k], s, 'EX', p.state_ttl); k = k + 1
end
if #p.counters > 0 then redis.call('EXPIRE', KEYS[5], p.versions_ttl) end
local r = p.register
for i = 1, #r, 2 do
  redis.call('HSET', KEYS[4], r[i], r[i + 1])
end
local st = p.stats
for i = 1, #st, 2 do
  redis.call('HINCRBY', KEYS[2], st[i], st[i + 1])
end
local prev_ts = tonumber(redis.call('HGET', KEYS[2], 'last_ts') or '0')
if p.last_ts > prev_ts then redis.call('HSET', KEYS[2], 'last_ts', tostring(p.last_ts)) end
redis.call('HSET', KEYS[2], 'applied_at', ARGV[3])
local rc = p.recent
if #rc > 0 then
  for i = 1, #rc, 2 do
    redis.call('ZADD', KEYS[3], rc[i], rc[i + 1])
  end
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. ARGV[4])
  redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -(tonumber(ARGV[5]) + 1))
end
if expected ~= '*' then redis.call('SET', KEYS[1], ARGV[2]) end
return {1, ARGV[2]}
