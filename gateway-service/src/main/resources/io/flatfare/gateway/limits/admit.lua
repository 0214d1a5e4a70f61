-- Admits one request all or nothing: every limit is checked first and consumed only when all of them allow it. Redis
-- runs a script without interleaving other commands, so gateway replicas sharing these keys agree exactly.
-- The clock is the Redis server's (TIME), never a gateway's, so replicas with skewed clocks still agree.
--
-- KEYS[1] rate: the GCRA theoretical arrival time in microseconds (a string, expiring once the bucket is full again)
-- KEYS[2] in flight: sorted set of request ids scored by their lease deadline in milliseconds
-- KEYS[3] quota: hash {m = month id, n = requests used in that month}, expiring when the month ends
-- ARGV[1] request id; ARGV[2] requests per minute, ARGV[3] concurrent requests, ARGV[4] requests per month
-- (each "" for no limit); ARGV[5] lease in milliseconds
-- Returns {admitted 1/0, refusing limit ("" / RATE / CONCURRENCY / QUOTA), retry after ms, rate remaining,
-- rate reset ms, month id}

local time = redis.call('TIME')
local seconds = tonumber(time[1])
local now = seconds * 1000000 + tonumber(time[2])
local now_ms = math.floor(now / 1000)
local request_id = ARGV[1]
local rate_limit = tonumber(ARGV[2])
local concurrency_limit = tonumber(ARGV[3])
local quota_limit = tonumber(ARGV[4])
local lease_ms = tonumber(ARGV[5])

local function to_ms(us)
  return math.ceil(us / 1000)
end

-- Rate, by GCRA (a token bucket kept as one timestamp): the bucket holds rate_limit requests and refills one every
-- 60 s / rate_limit, continuously, as the OpenAI limits do. Integer microseconds keep it exact (doubles hold integers
-- up to 2^53); rounding the interval up only makes the limit stricter by under a microsecond per request.
local rate_refused, rate_retry, interval, tat = false, 0, 0, now
if rate_limit then
  if rate_limit < 1 then
    rate_refused, rate_retry = true, 60000000
  else
    interval = math.ceil(60000000 / rate_limit)
    tat = math.max(tonumber(redis.call('GET', KEYS[1]) or 0), now)
    local allow_at = tat + interval - rate_limit * interval
    if now < allow_at then
      rate_refused, rate_retry = true, allow_at - now
    end
  end
end

-- Quota: requests counted per calendar month (UTC); a counter of an earlier month counts as zero.
local month, next_month_start = calendar_month(seconds)
local used = 0
local quota_refused = false
if quota_limit then
  local stored = redis.call('HMGET', KEYS[3], 'm', 'n')
  if tonumber(stored[1]) == month then
    used = tonumber(stored[2]) or 0
  end
  quota_refused = used >= quota_limit
end

-- Concurrency: requests whose lease has run out are dropped first, so a replica that died holding slots frees them.
-- Requests are tracked when a quota applies too, so that a release gives the quota back at most once.
local tracked = concurrency_limit or quota_limit
local concurrency_refused = false
if tracked then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now_ms)
  if concurrency_limit then
    concurrency_refused = redis.call('ZCARD', KEYS[2]) >= concurrency_limit
  end
end

-- The quota is reported first (retrying does not help), then the rate, then concurrency.
local kind, retry = '', 0
if quota_refused then
  kind, retry = 'QUOTA', next_month_start * 1000000 - now
elseif rate_refused then
  kind, retry = 'RATE', rate_retry
elseif concurrency_refused then
  kind = 'CONCURRENCY'
end

if kind == '' then
  if rate_limit then
    tat = tat + interval
    redis.call('SET', KEYS[1], string.format('%d', tat), 'PX', to_ms(tat - now))
  end
  if quota_limit then
    redis.call('HSET', KEYS[3], 'm', string.format('%d', month), 'n', string.format('%d', used + 1))
    redis.call('PEXPIREAT', KEYS[3], string.format('%d', next_month_start * 1000))
  end
  if tracked then
    redis.call('ZADD', KEYS[2], string.format('%d', now_ms + lease_ms), request_id)
    redis.call('PEXPIRE', KEYS[2], lease_ms)
  end
end

-- The rate state for the headers: requests left now, and the time until the bucket is full again.
local remaining, reset = 0, 0
if rate_limit and rate_limit >= 1 then
  remaining = math.min(math.max(math.floor((now + rate_limit * interval - tat) / interval), 0), rate_limit)
  reset = to_ms(math.max(tat - now, 0))
end

return {kind == '' and 1 or 0, kind, to_ms(retry), remaining, reset, month}
