package redistoken

import goredis "github.com/redis/go-redis/v9"

// The scripts read the time from Redis (TIME), so that instances whose
// clocks disagree still share one window. A window is a hash per counted
// thing: field "p:<bucket start ms>" holds the tokens passed in that bucket
// (a bucket in the future holds tokens promised to prioritized requests),
// "w:<bucket start ms>" the tokens promised during that bucket. Fields older
// than the window are deleted as the script meets them, and the key expires
// two windows after its last write.

// prelude reads the clock and the common arguments. Scripts that call TIME
// need effects replication, the default from Redis 7; older servers get it
// from replicate_commands.
const prelude = `
pcall(redis.replicate_commands)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function clamp(x)
  if x ~= x then return 0 end
  if x > 2147483647 then return 2147483647 end
  if x < -2147483648 then return -2147483648 end
  if x >= 0 then return math.floor(x) end
  return -math.floor(-x)
end
-- scan sums a window hash: passed tokens in the window, tokens promised to
-- the bucket after cur, the passed tokens of the oldest bucket still in the
-- window, and tokens promised during the window; it deletes stale fields.
local function scan(key, cur, bucket, interval)
  local oldest = cur - interval + bucket
  local fields = redis.call('HGETALL', key)
  local pass, promised, head, waiting = 0, 0, 0, 0
  local stale = {}
  for i = 1, #fields, 2 do
    local f = fields[i]
    local v = tonumber(fields[i + 1])
    local st = tonumber(string.sub(f, 3))
    if st == nil or st < oldest then
      stale[#stale + 1] = f
    elseif string.sub(f, 1, 1) == 'p' then
      if st <= cur then
        pass = pass + v
        if st == oldest then head = v end
      else
        promised = promised + v
      end
    elseif st <= cur then
      waiting = waiting + v
    end
  end
  if #stale > 0 then redis.call('HDEL', key, unpack(stale)) end
  return pass, promised, head, waiting
end
`

// flowScript is Sentinel's ClusterFlowChecker on one window, checked and
// counted in one step.
// KEYS[1] window; ARGV threshold, count, prioritized (0/1), bucketMs,
// intervalMs, maxOccupyRatio. Returns {status, remaining, waitMs}.
var flowScript = goredis.NewScript(prelude + `
local threshold = tonumber(ARGV[1])
local count = tonumber(ARGV[2])
local prio = ARGV[3] == '1'
local bucket = tonumber(ARGV[4])
local interval = tonumber(ARGV[5])
local ratio = tonumber(ARGV[6])
local cur = now - now % bucket
local pass, promised, head, waiting = scan(KEYS[1], cur, bucket, interval)
local sec = interval / 1000
local qps = pass / sec
local rem = threshold - qps - count
if rem >= 0 then
  redis.call('HINCRBY', KEYS[1], 'p:' .. cur, count)
  redis.call('PEXPIRE', KEYS[1], interval * 2)
  return {0, clamp(rem), 0}
end
if prio and waiting / sec <= ratio * threshold and qps + count + promised - head <= threshold then
  local nxt = cur + bucket
  redis.call('HINCRBY', KEYS[1], 'p:' .. nxt, count)
  redis.call('HINCRBY', KEYS[1], 'w:' .. cur, count)
  redis.call('PEXPIRE', KEYS[1], interval * 2)
  return {2, 0, nxt - now}
end
return {1, 0, 0}
`)

// paramScript is Sentinel's ClusterParamFlowChecker: every value must have
// room, then every value is counted.
// KEYS one window per value; ARGV count, bucketMs, intervalMs, then one
// threshold per key. Returns {status, remaining} (remaining -1 for several
// values).
var paramScript = goredis.NewScript(prelude + `
local count = tonumber(ARGV[1])
local bucket = tonumber(ARGV[2])
local interval = tonumber(ARGV[3])
local cur = now - now % bucket
local sec = interval / 1000
local rem = 0
for i = 1, #KEYS do
  local pass = scan(KEYS[i], cur, bucket, interval)
  rem = tonumber(ARGV[3 + i]) - pass / sec - count
  if rem < 0 then return {1, 0} end
end
for i = 1, #KEYS do
  redis.call('HINCRBY', KEYS[i], 'p:' .. cur, count)
  redis.call('PEXPIRE', KEYS[i], interval * 2)
end
if #KEYS > 1 then return {0, -1} end
return {0, clamp(rem)}
`)

// heartbeatScript registers an instance of a namespace and counts the live
// ones. KEYS[1] the members sorted set; ARGV instance id, ttl ms.
var heartbeatScript = goredis.NewScript(`
pcall(redis.replicate_commands)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - ttl)
redis.call('PEXPIRE', KEYS[1], ttl * 2)
return redis.call('ZCARD', KEYS[1])
`)

// leaveScript unregisters an instance. KEYS[1] members; ARGV instance id.
var leaveScript = goredis.NewScript(`return redis.call('ZREM', KEYS[1], ARGV[1])`)
