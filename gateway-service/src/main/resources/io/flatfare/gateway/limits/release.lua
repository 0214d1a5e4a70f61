-- Ends a request: frees its concurrency slot and, for a request that is not billed, gives it back to the monthly quota.
-- ZREM removes the request once, so a repeated release (or one after its lease ran out and it was purged) gives
-- nothing back twice; a release after the month ended gives nothing back to the new month.
--
-- KEYS[1] in flight (sorted set), KEYS[2] quota (hash {m, n}); ARGV[1] request id, ARGV[2] "1" to give the request
-- back to the quota, ARGV[3] the month id it was counted in.

if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 and ARGV[2] == '1' then
  local stored = redis.call('HMGET', KEYS[2], 'm', 'n')
  if stored[1] == ARGV[3] and (tonumber(stored[2]) or 0) > 0 then
    redis.call('HINCRBY', KEYS[2], 'n', -1)
  end
end
return 1
