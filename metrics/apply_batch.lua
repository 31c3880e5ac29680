-- Apply one partition batch atomically, only if the partition's stored offset is still the one the
-- consumer read its state at. Generic: the domain rules live in metrics/ledger.py.
--
-- KEYS[1] offset, KEYS[2] stats, KEYS[3] recent, KEYS[4] register hash, KEYS[5] counter versions,
-- KEYS[6..] counter hashes, then event-state keys (in the payload's order).
-- ARGV[1] expected offset ("" = none stored; "*" = backfill: no check, offset left alone)
-- ARGV[2] new offset, ARGV[3] applied_at, ARGV[4] recent_min_score, ARGV[5] recent_max
-- ARGV[6] the payload, MessagePack (one C call to decode, instead of one argument per field):
--   { counters = { {expire_at, {field, ...}, {inc, ...}}, ... }  (a field at most once per hash),
--     state_ttl, states = { state JSON, ... }, register = {field, value, ...},
--     stats = {field, inc, ...}, last_ts, recent = {score, member, ...},
--     compact_entries, long_value }  (see metrics.connect.compact_hash_limits)
-- Returns {1, new_offset} when applied, {0, stored_offset or ""} on a conflict (nothing written).
--
-- Bulk commands, not one per field: a script's redis.call costs several times what a HINCRBY itself
-- does, and a batch of 5,000 records makes about 14,000 counter increments. Reading the fields with one
-- HMGET and writing the sums with one HSET is as atomic as HINCRBY inside a script.
local stored = redis.call('GET', KEYS[1])
local expected = ARGV[1]
if expected ~= '*' and (stored or '') ~= expected then
  return {0, stored or ''}
end
local p = cmsgpack.unpack(ARGV[6])
-- Arguments per call stay well below the Lua stack limit of unpack (8,000).
local CHUNK = 1000

-- A compact hash (ziplist or listpack) is scanned on every field read and write: at a few hundred fields
-- that is about ten times a hashtable's work per field, and most of a batch's time. A batch taking a
-- hash past BIG fields makes it a hashtable first (one value too long for the compact form converts it;
-- the field is removed at the end). Smaller hashes stay compact, which is what they are good for.
local BIG = 64
local CONVERT = '~convert'

-- Numbers reach Redis as "%.17g": integers below 1e17 in plain digits, as HINCRBY writes them.
local function add(key, fields, incs)
  local size = redis.call('HLEN', key)
  local convert = size <= p.compact_entries and size + #fields > BIG
  if convert then redis.call('HSET', key, CONVERT, p.long_value) end
  for lo = 1, #fields, CHUNK do
    local hi = math.min(lo + CHUNK - 1, #fields)
    local args = {}
    local n = 0
    if size == 0 then
      for i = lo, hi do
        args[n + 1] = fields[i]; args[n + 2] = incs[i]; n = n + 2
      end
    else
      local current = redis.call('HMGET', key, unpack(fields, lo, hi))
      for i = lo, hi do
        args[n + 1] = fields[i]; args[n + 2] = (tonumber(current[i - lo + 1]) or 0) + incs[i]; n = n + 2
      end
    end
    redis.call('HSET', key, unpack(args))
  end
  if convert then redis.call('HDEL', key, CONVERT) end
end

local function put(command, key, flat)
  for lo = 1, #flat, 2 * CHUNK do
    redis.call(command, key, unpack(flat, lo, math.min(lo + 2 * CHUNK - 1, #flat)))
  end
end

local k = 6
local changed = {}
local ones = {}
for _, c in ipairs(p.counters) do
  local key = KEYS[k]; k = k + 1
  add(key, c[2], c[3])
  redis.call('EXPIREAT', key, c[1])
  changed[#changed + 1] = key
  ones[#ones + 1] = 1
end
-- Readers learn which buckets changed from one small hash instead of one read per bucket.
if #changed > 0 then
  add(KEYS[5], changed, ones)
  redis.call('EXPIRE', KEYS[5], p.versions_ttl)
end
for _, s in ipairs(p.states) do
  redis.call('SET', KEYS[k], s, 'EX', p.state_ttl); k = k + 1
end
if #p.register > 0 then put('HSET', KEYS[4], p.register) end
local st = p.stats
for i = 1, #st, 2 do
  redis.call('HINCRBY', KEYS[2], st[i], st[i + 1])
end
local prev_ts = tonumber(redis.call('HGET', KEYS[2], 'last_ts') or '0')
if p.last_ts > prev_ts then redis.call('HSET', KEYS[2], 'last_ts', tostring(p.last_ts)) end
redis.call('HSET', KEYS[2], 'applied_at', ARGV[3])
local rc = p.recent
if #rc > 0 then
  put('ZADD', KEYS[3], rc)
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. ARGV[4])
  redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -(tonumber(ARGV[5]) + 1))
end
if expected ~= '*' then redis.call('SET', KEYS[1], ARGV[2]) end
return {1, ARGV[2]}
