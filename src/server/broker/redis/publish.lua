-- Appends one update to a dashboard's stream in Redis, atomically: the seq (and, for a
-- dashboard Redis does not hold, a new epoch), the log entry, the latest values and the
-- publish to every instance. All keys share the dashboard's hash tag.
--
-- KEYS[1] meta   hash: epoch, seq (the last assigned), ts (the newest update time)
-- KEYS[2] log    stream: entry id <seq>-0, field f = the update's frame (PROTOCOL.md JSON)
-- KEYS[3] latest hash: metric name -> "<ts> <value>" (the newest point of each metric)
-- ARGV[1] an epoch to use if Redis holds none   ARGV[2] entries kept (--replay-capacity)
-- ARGV[3] the pub/sub channel                    ARGV[4] the dashboard id as a JSON string
-- ARGV[5] the update's time (ms)                 ARGV[6] the frame's JSON after its seq
-- ARGV[7] a deadline (ms since 1970): a request that reaches Redis after its instance gave up
--         waiting (and answered 503) must not be applied later, when the data is someone
--         else's retry
-- ARGV[8..] metric name, value (as text), pairs
-- Returns {epoch, seq, created}.

local now = redis.call('TIME')
if tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) > tonumber(ARGV[7]) then
  return redis.error_reply('LATE the update reached Redis after its deadline (Redis was not answering, or its clock is ahead of the instance\'s)')
end

local created = 0
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
  -- Nothing held (a new dashboard, or Redis lost its data): a new epoch, so no seq is ever
  -- reused under an old one.
  epoch = ARGV[1]
  created = 1
  redis.call('DEL', KEYS[2], KEYS[3])
  redis.call('HSET', KEYS[1], 'epoch', epoch, 'seq', 0, 'ts', ARGV[5])
end
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
local frame = '{"type":"update","dashboard":' .. ARGV[4] .. ',"seq":' .. seq .. ',' .. ARGV[6]
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[2], seq .. '-0', 'f', frame)

local ts = tonumber(ARGV[5])
local newest = tonumber(redis.call('HGET', KEYS[1], 'ts'))
-- A late point does not replace a newer one (model/latest.rs). In chunks: unpack is bounded.
local chunk = 500
local first = 8
while first <= #ARGV do
  local last = math.min(#ARGV, first + 2 * chunk - 1)
  local newer = {}
  if ts >= newest then
    -- Not late (the usual case): no metric holds a newer point than the dashboard's newest.
    for i = first, last, 2 do
      newer[#newer + 1] = ARGV[i]
      newer[#newer + 1] = ARGV[5] .. ' ' .. ARGV[i + 1]
    end
  else
    local names = {}
    for i = first, last, 2 do
      names[#names + 1] = ARGV[i]
    end
    local held = redis.call('HMGET', KEYS[3], unpack(names))
    for k = 1, #names do
      local point = held[k]
      if not point or tonumber(string.match(point, '^(%S+)')) <= ts then
        newer[#newer + 1] = names[k]
        newer[#newer + 1] = ARGV[5] .. ' ' .. ARGV[first + 2 * k - 1]
      end
    end
  end
  if #newer > 0 then
    redis.call('HSET', KEYS[3], unpack(newer))
  end
  first = last + 1
end
if ts > newest then
  redis.call('HSET', KEYS[1], 'ts', ARGV[5])
end

redis.call('PUBLISH', ARGV[3], epoch .. ' ' .. frame)
return {epoch, seq, created}
