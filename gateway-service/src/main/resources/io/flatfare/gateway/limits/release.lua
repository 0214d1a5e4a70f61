-- Ends a request: frees its concurrency slot and, for a request that is not billed, gives it back to the monthly quota;
-- a request withdrawn (admitted early, then failing its checks: as if never admitted) also gives its place in the rate
-- back. ZREM removes the request once, so a repeated release (or one after its lease ran out and it was purged) gives
-- nothing back twice; a release after the month ended gives nothing back to the new month.
--
-- KEYS[1] in flight (sorted set), KEYS[2] quota (hash {m, n}), KEYS[3] rate (GCRA time, see admit.lua); ARGV[1]
-- request id, ARGV[2] "1" to give the request back to the quota, ARGV[3] the month id it was counted in, ARGV[4] the
-- rate's interval in microseconds to give back ("" for none), ARGV[5] "1" when the request was tracked in flight
-- (then the rate is given back only by the release that removed it; an untracked one is released once by its replica).

local removed = redis.call('ZREM', KEYS[1], ARGV[1]) == 1
if removed and ARGV[2] == '1' then
  local stored = redis.call('HMGET', KEYS[2], 'm', 'n')
  if stored[1] == ARGV[3] and (tonumber(stored[2]) or 0) > 0 then
    redis.call('HINCRBY', KEYS[2], 'n', -1)
  end
end
if ARGV[4] ~= '' and (removed or ARGV[5] ~= '1') then
  local tat = tonumber(redis.call('GET', KEYS[3]))
  if tat then
    local time = redis.call('TIME')
    local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
    local back = tat - tonumber(ARGV[4])
    if back > now then
      redis.call('SET', KEYS[3], string.format('%d', back), 'PX', math.ceil((back - now) / 1000))
    else
      -- The bucket is full again without this request: the state of an account that sent nothing.
      redis.call('DEL', KEYS[3])
    end
  end
end
return 1
