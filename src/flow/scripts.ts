/**
 * Flow control's Lua scripts: one round trip per decision, exact across every process that
 * shares the Redis.
 *
 * Rate: each limiter (the endpoint, the account) keeps a GCRA cursor (its theoretical
 * arrival time). A call that may not go now gets a *reservation*: the next slot on every
 * cursor, recorded for its inference, so its job sleeps exactly until its turn and Redis
 * work per waiting job stays constant however long the backlog. At call time a sliding log
 * of the last window's calls is the hard guarantee: never more than the limit in any
 * window (a late wake-up that would crowd a window is parked until the window frees).
 *
 * In flight: a sorted set of inferences submitted and not resolved, scored by lease
 * deadline (a crashed process's slots expire with their inference's deadline). A job that
 * finds the endpoint full waits in a per-endpoint set; whoever frees a slot (the ledger's
 * terminal transition, or release()) pops the oldest waiter to be woken.
 *
 * Adaptive rate: a throttle or 503 multiplies the endpoint's effective rate by a factor
 * (at most once per cooldown); it then grows back linearly to the configured ceiling.
 */

const EFFECTIVE_RATE = `
local function effectiveRate(adaptiveKey, now, maxTps, recoveryPerSec)
  if maxTps <= 0 then return 0 end
  local a = redis.call('HMGET', adaptiveKey, 'rate', 'at')
  if not a[1] then return maxTps end
  local r = tonumber(a[1]) + recoveryPerSec * (now - tonumber(a[2])) / 1000
  if r >= maxTps then
    redis.call('DEL', adaptiveKey)
    return maxTps
  end
  return r
end
`;

/**
 * acquire
 * KEYS: inflight, waiting, adaptive, epCursor, epCalls, reservations, acctCursor, acctCalls, endpointsSet
 * ARGV: now, inferenceId, jobId, leaseUntil, maxTps, burst, maxInFlight, accountMaxTps,
 *       recoveryPerSec, waitFallbackMs, windowMs, endpointName
 * Returns {'ok'} | {'in-flight', retryAt} | {'rate', retryAt}
 */
export const ACQUIRE = `${EFFECTIVE_RATE}
local inflight, waiting, adaptive, epCursor, epCalls, resv, acctCursor, acctCalls, endpoints =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9]
local now = tonumber(ARGV[1])
local id, jobId, leaseUntil = ARGV[2], ARGV[3], tonumber(ARGV[4])
local maxTps, burst, maxInFlight, acctTps = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local recoveryPerSec, fallbackMs, windowMs = tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11])
redis.call('SADD', endpoints, ARGV[12])

-- 1. In-flight slot (checked first: a full endpoint consumes no rate).
redis.call('ZREMRANGEBYSCORE', inflight, '-inf', now)
if maxInFlight > 0 and not redis.call('ZSCORE', inflight, id) then
  if redis.call('ZCARD', inflight) >= maxInFlight then
    redis.call('ZADD', waiting, 'NX', now, jobId)
    local retry = now + fallbackMs
    local first = redis.call('ZRANGE', inflight, 0, 0, 'WITHSCORES')
    if first[2] and tonumber(first[2]) < retry then retry = tonumber(first[2]) end
    return {'in-flight', tostring(retry)}
  end
end

-- 2. Rate: a reservation on every cursor.
local rate = effectiveRate(adaptive, now, maxTps, recoveryPerSec)
local slot = tonumber(redis.call('HGET', resv, id) or '-1')
if slot < 0 then
  slot = now
  local epTat, acctTat
  if rate > 0 then
    local T = 1000 / rate
    epTat = tonumber(redis.call('GET', epCursor) or '0')
    if epTat < now then epTat = now end
    local s = epTat - (burst - 1) * T
    if s > slot then slot = s end
  end
  if acctTps > 0 then
    acctTat = tonumber(redis.call('GET', acctCursor) or '0')
    if acctTat < now then acctTat = now end
    if acctTat > slot then slot = acctTat end
  end
  if rate > 0 then
    local T = 1000 / rate
    local base = epTat
    if slot > base then base = slot end
    redis.call('SET', epCursor, tostring(base + T), 'PX', math.ceil(base + T - now + 60000))
  end
  if acctTps > 0 then
    local T = 1000 / acctTps
    local base = acctTat
    if slot > base then base = slot end
    redis.call('SET', acctCursor, tostring(base + T), 'PX', math.ceil(base + T - now + 60000))
  end
  if slot > now + 1 then
    redis.call('HSET', resv, id, tostring(slot))
    return {'rate', tostring(slot)}
  end
elseif slot > now + 1 then
  return {'rate', tostring(slot)}
end

-- 3. Hard windows on the calls actually made.
local function windowFull(calls, limit)
  redis.call('ZREMRANGEBYSCORE', calls, '-inf', now - windowMs)
  if redis.call('ZCARD', calls) >= limit then
    local first = redis.call('ZRANGE', calls, 0, 0, 'WITHSCORES')
    return tonumber(first[2]) + windowMs + 1
  end
  return nil
end
if maxTps > 0 then
  local limit = math.max(1, math.floor(rate))
  local retry = windowFull(epCalls, limit)
  if retry then
    redis.call('HSET', resv, id, tostring(now))
    return {'rate', tostring(retry)}
  end
end
if acctTps > 0 then
  local retry = windowFull(acctCalls, math.max(1, math.floor(acctTps)))
  if retry then
    redis.call('HSET', resv, id, tostring(now))
    return {'rate', tostring(retry)}
  end
end

-- 4. Granted.
redis.call('HDEL', resv, id)
redis.call('ZREM', waiting, jobId)
local member = id .. '@' .. ARGV[1]
if maxTps > 0 then
  redis.call('ZADD', epCalls, now, member)
  redis.call('PEXPIRE', epCalls, windowMs * 2)
end
if acctTps > 0 then
  redis.call('ZADD', acctCalls, now, member)
  redis.call('PEXPIRE', acctCalls, windowMs * 2)
end
redis.call('ZADD', inflight, leaseUntil, id)
return {'ok'}
`;

/**
 * release: a slot taken for a call SageMaker did not accept goes back; the oldest waiter
 * is returned to be woken. KEYS: inflight, waiting. ARGV: inferenceId.
 */
export const RELEASE = `
if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then
  local popped = redis.call('ZPOPMIN', KEYS[2])
  if popped[1] then return popped[1] end
end
return ''
`;

/** extend: renew an in-flight lease (XX: never re-adds a released slot). KEYS: inflight. ARGV: id, leaseUntil. */
export const EXTEND = `
return redis.call('ZADD', KEYS[1], 'XX', ARGV[2], ARGV[1])
`;

/**
 * slowDown: multiplicative decrease of the endpoint's effective rate, at most once per cooldown.
 * KEYS: adaptive. ARGV: now, maxTps, factor, minRate, recoveryPerSec, cooldownMs. Returns the new rate.
 */
export const SLOW_DOWN = `${EFFECTIVE_RATE}
local now, maxTps, factor = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local minRate, recoveryPerSec, cooldownMs = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
if maxTps <= 0 then return '0' end
local current = effectiveRate(KEYS[1], now, maxTps, recoveryPerSec)
local last = tonumber(redis.call('HGET', KEYS[1], 'at') or '0')
if now - last < cooldownMs then return tostring(current) end
local nextRate = current * factor
if nextRate < minRate then nextRate = minRate end
redis.call('HSET', KEYS[1], 'rate', tostring(nextRate), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((maxTps - nextRate) / recoveryPerSec * 1000) + 60000)
return tostring(nextRate)
`;

/**
 * inspect: the state of one endpoint for status and metrics.
 * KEYS: inflight, waiting, adaptive, reservations. ARGV: now, maxTps, recoveryPerSec.
 * Returns {effectiveRate, inFlight, waitingForSlot, waitingForRate}.
 */
export const INSPECT = `${EFFECTIVE_RATE}
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return {
  tostring(effectiveRate(KEYS[3], now, tonumber(ARGV[2]), tonumber(ARGV[3]))),
  redis.call('ZCARD', KEYS[1]),
  redis.call('ZCARD', KEYS[2]),
  redis.call('HLEN', KEYS[4]),
}
`;
