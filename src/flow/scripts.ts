/**
 * Flow control's Lua scripts: one round trip per decision, exact across every process that
 * shares the Redis.
 *
 * Rate: each limiter (the endpoint, the account) keeps a GCRA cursor (its theoretical
 * arrival time), spaced `window / rate` apart so that the cursor and the hard window below
 * agree (`window` is 1 s plus the margin). A call that may not go now gets a *reservation*:
 * the next slot on the cursor, recorded for its job, so the job sleeps exactly until its
 * turn. Reservations on an endpoint reach at most a *horizon* ahead (1 s, or two slots at a
 * very low rate): beyond it, jobs wait in the endpoint's rate queue (FIFO), parked until
 * the estimated time of their turn, and every decision on the endpoint tops the horizon up
 * from the head of the queue, reserving for the jobs it pops and returning them to be woken.
 * So a change of rate (throttling, recovery, a reload) applies within the horizon instead of
 * being frozen into the whole backlog's reservations, and each waiting job still wakes a
 * constant number of times (popped, then at its slot). The account's slot is reserved only
 * once the endpoint's slot is due, so a slow endpoint's backlog never pushes the account
 * cursor ahead of other endpoints. At call time a sliding log of the last window's calls is
 * the hard guarantee: never more than the configured maxTps (and accountMaxTps) in any
 * window. A call that would crowd a window waits for room: briefly in its place when the
 * window frees within one slot, else with a new reservation on the cursor (see step 4 of
 * acquire). A call is logged at its grant as in flight (it counts in every window until
 * answered, or until the request timeout if its process died) and at its answer for
 * exactly 1 s from the answer, since SageMaker received it before. So windows at the
 * endpoint hold whatever the latency, and the margin is the slack a call answered a little
 * late (or granted a little late) has before it holds back the call one window later.
 * A process wakes the jobs it reserved a slot for at that slot itself (a timer promoting
 * the parked job), since BullMQ's delayed jobs wake with the Redis timer's resolution
 * (100 ms at the default hz 10); the delayed job is the fallback if the process dies.
 *
 * In flight: a sorted set of inferences submitted and not resolved, scored by lease: the
 * inference's deadline plus the time a crashed dispatcher's jobs take to be handed over, so
 * a live slot is released by the inference's terminal transition (its deadline check for an
 * inference that never comes back) and the lease only frees a slot whose job is gone. A job that
 * finds the endpoint full waits in a per-endpoint set (FIFO), parked until it is woken or by
 * itself at the latest: the first maxInFlight waiters after waitFallbackSeconds, the next
 * maxInFlight after twice that, and so on (up to a day); whoever frees a slot (the ledger's terminal transition, release(), or a
 * decision that sweeps expired leases) pops the oldest waiter to be woken. A full endpoint
 * takes no rate: the in-flight check comes first.
 *
 * Waking is a promotion of the parked BullMQ job; a job popped while it was still active
 * (between its decision and its park) cannot be promoted, so the dispatcher checks after
 * parking that it is still queued, or that its slot has not passed, and wakes itself
 * otherwise (Capacity.missedWake).
 *
 * Adaptive rate: a throttle or 503 multiplies the endpoint's effective rate by a factor
 * (at most once per cooldown); it then grows back linearly to the configured ceiling, from
 * the last throttle: throttles within the cooldown do not cut again but hold the rate, so a
 * storm keeps it down however fast the recovery is set.
 */

/**
 * freeSlot(inflight, waiting, id): gives back an inference's in-flight slot; the oldest waiter
 * of the endpoint is returned to be woken ('' if none, or if the inference held no slot).
 * The one place that frees a slot: the ledger's terminal transitions and `refused` call it.
 */
export const FREE_SLOT_FUNCTION = `
local function freeSlot(inflight, waiting, id)
  if redis.call('ZREM', inflight, id) == 1 then
    local popped = redis.call('ZPOPMIN', waiting)
    if popped[1] then return popped[1] end
  end
  return ''
end
`;

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
 * KEYS: inflight, waiting, adaptive, epCursor, epCalls, reservations, rateQueue,
 *       acctCursor, acctCalls, acctReservations, endpointsSet
 * ARGV: now, inferenceId, jobId, leaseUntil, maxTps, burst, maxInFlight, accountMaxTps,
 *       recoveryPerSec, waitFallbackMs, windowMs, endpointName, horizonMs, callHoldMs
 * Returns {verdict, retryAt, jobIdToWake...}: verdict 'ok' | 'in-flight' (in the waiting
 * set) | 'rate' (holds a reservation, or waits for the window) | 'rate-queue' (in the rate
 * queue); the jobs after retryAt were popped by this decision and must be woken.
 * Written as a Lua function `acquire(K, A)` (K: the keys, A: the arguments), so that another
 * script takes the decision in its own round trip: the ledger's claim does
 * (src/ledger/scripts.ts, CLAIM_AND_ACQUIRE).
 */
export const ACQUIRE_FUNCTION = `${EFFECTIVE_RATE}
local function acquire(K, A)
local inflight, waiting, adaptive, epCursor, epCalls, resv, queue, acctCursor, acctCalls, acctResv, endpoints =
  K[1], K[2], K[3], K[4], K[5], K[6], K[7], K[8], K[9], K[10], K[11]
local now = tonumber(A[1])
local id, jobId, leaseUntil = A[2], A[3], tonumber(A[4])
local maxTps, burst, maxInFlight, acctTps = tonumber(A[5]), tonumber(A[6]), tonumber(A[7]), tonumber(A[8])
local recoveryPerSec, fallbackMs, windowMs = tonumber(A[9]), tonumber(A[10]), tonumber(A[11])
local horizonMs, holdMs = tonumber(A[13]), tonumber(A[14])
redis.call('SADD', endpoints, A[12])
local wake = {}
local function reply(verdict, retryAt)
  return {verdict, tostring(retryAt), unpack(wake)}
end

-- 1. In-flight slot (checked first: a full endpoint consumes no rate). Leases that ran out
--    free their slots like a release does: one waiter woken per slot.
local swept = redis.call('ZREMRANGEBYSCORE', inflight, '-inf', now)
for _ = 1, swept do
  local popped = redis.call('ZPOPMIN', waiting)
  if not popped[1] then break end
  if popped[1] ~= jobId then wake[#wake + 1] = popped[1] end
end
if maxInFlight > 0 and not redis.call('ZSCORE', inflight, id) then
  if redis.call('ZCARD', inflight) >= maxInFlight then
    redis.call('ZADD', waiting, 'NX', now, jobId)
    -- Woken when a slot frees and it is the oldest waiter. It also wakes by itself, in case a
    -- wake was lost (a popper crashed) or a slot leaked (swept only by a decision): the first
    -- maxInFlight waiters after fallbackMs, each further maxInFlight after one fallback more,
    -- up to a day, so a huge backlog costs a bounded number of pickups per second.
    local rounds = math.ceil((redis.call('ZRANK', waiting, jobId) + 1) / maxInFlight)
    return reply('in-flight', now + math.min(fallbackMs * rounds, 86400000))
  end
end

-- 2. Endpoint rate: a reservation within the horizon, or a place in the rate queue.
local rate = effectiveRate(adaptive, now, maxTps, recoveryPerSec)
if rate > 0 then
  local T = windowMs / rate
  local horizon = math.max(horizonMs, 2 * T)
  local function cursor()
    local tat = tonumber(redis.call('GET', epCursor) or '0')
    if tat < now then tat = now end
    return tat
  end
  if redis.call('HEXISTS', resv, jobId) == 0 then redis.call('ZADD', queue, 'NX', now, jobId) end
  -- Every decision tops the horizon up from the head of the queue (this job's turn too).
  for _ = 1, 1000 do
    local head = redis.call('ZRANGE', queue, 0, 0)[1]
    if not head then break end
    local tat = cursor()
    local s = math.max(now, tat - (burst - 1) * T)
    if s > now + horizon then break end
    redis.call('ZREM', queue, head)
    redis.call('SET', epCursor, tostring(tat + T), 'PX', math.ceil(tat + T - now + 60000))
    redis.call('HSET', resv, head, tostring(s))
    if head ~= jobId then wake[#wake + 1] = head end
  end
  local slot = tonumber(redis.call('HGET', resv, jobId) or '')
  if not slot then
    -- Parked until about when its turn comes; a pop wakes it sooner if the rate rises.
    local rank = redis.call('ZRANK', queue, jobId)
    return reply('rate-queue', math.max(now + 1, cursor() + (rank + 2) * T - horizon))
  end
  if slot > now + 1 then return reply('rate', slot) end
end

-- 3. Account rate, reserved only once the endpoint's slot is due.
if acctTps > 0 then
  local slot = tonumber(redis.call('HGET', acctResv, jobId) or '')
  if not slot then
    local T = windowMs / acctTps
    slot = tonumber(redis.call('GET', acctCursor) or '0')
    if slot < now then slot = now end
    redis.call('SET', acctCursor, tostring(slot + T), 'PX', math.ceil(slot + T - now + 60000))
    if slot > now + 1 then redis.call('HSET', acctResv, jobId, tostring(slot)) end
  end
  if slot > now + 1 then return reply('rate', slot) end
end

-- 4. Hard windows on the calls actually made: the configured limits, never exceeded. A call
--    that would crowd a window waits for room: if the window frees within one slot of the
--    cursor (an earlier call answered a little late), it keeps its reservation and goes
--    then, costing no slot; otherwise (late wake-ups bunched) it takes a new reservation on
--    the cursor, no earlier than the window has room, so refused calls are spread one slot
--    apart instead of all retrying the moment the window frees, which would crowd it again.
local function windowFreeAt(calls, limit)
  redis.call('ZREMRANGEBYSCORE', calls, '-inf', now - windowMs)
  local n = redis.call('ZCARD', calls)
  if n < limit then return nil end
  -- The call fits once the entry at rank n - limit has left the window; a call in flight
  -- (scored in the future) leaves only once answered: come back a slot later at least.
  local blocking = tonumber(redis.call('ZRANGE', calls, n - limit, n - limit, 'WITHSCORES')[2])
  if blocking > now then return math.huge end
  return blocking + windowMs + 1
end
local function waitForRoom(cursorKey, resvKey, T, freeAt)
  local slot = freeAt
  if freeAt >= now + T then
    slot = math.max(tonumber(redis.call('GET', cursorKey) or '0'), now + T)
    if freeAt < math.huge and slot < freeAt then slot = freeAt end
    redis.call('SET', cursorKey, tostring(slot + T), 'PX', math.ceil(slot + T - now + 60000))
  end
  redis.call('HSET', resvKey, jobId, tostring(slot))
  return reply('rate', slot)
end
if maxTps > 0 then
  local freeAt = windowFreeAt(epCalls, math.max(1, math.floor(maxTps)))
  if freeAt then return waitForRoom(epCursor, resv, windowMs / math.max(rate, 0.001), freeAt) end
end
if acctTps > 0 then
  local freeAt = windowFreeAt(acctCalls, math.max(1, math.floor(acctTps)))
  if freeAt then return waitForRoom(acctCursor, acctResv, windowMs / acctTps, freeAt) end
end

-- 5. Granted.
redis.call('HDEL', resv, jobId)
redis.call('HDEL', acctResv, jobId)
redis.call('ZREM', queue, jobId)
redis.call('ZREM', waiting, jobId)
-- Logged as in flight until answered (see answered).
local member = id .. '@' .. A[1]
if maxTps > 0 then
  redis.call('ZADD', epCalls, now + holdMs, member)
  redis.call('PEXPIRE', epCalls, holdMs + windowMs * 2)
end
if acctTps > 0 then
  redis.call('ZADD', acctCalls, now + holdMs, member)
  redis.call('PEXPIRE', acctCalls, holdMs + windowMs * 2)
end
redis.call('ZADD', inflight, leaseUntil, id)
return reply('ok', 0)
end
`;

export const ACQUIRE = `${ACQUIRE_FUNCTION}return acquire(KEYS, ARGV)
`;

/**
 * stillWaiting: whether a parked job is still in the set it waits in (the in-flight waiting
 * set or the rate queue); if not, it was popped while still active and must wake itself.
 * KEYS: set. ARGV: jobId. Returns 1 or 0.
 */
export const STILL_WAITING = `
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 1 end
return 0
`;

/**
 * answered: a granted call got its answer, at `at` + margin. SageMaker received it no later
 * than that, so its entries in the hard windows, in flight until now, count from here on
 * exactly until the answer + 1 s: score = answer - margin (the windows are 1 s + margin).
 * KEYS: epCalls, acctCalls. ARGV: member, at, ttlMs, onEndpoint (0/1), onAccount (0/1).
 */
const ANSWERED_FUNCTION = `
local function answered(epCalls, acctCalls, member, at, ttlMs, onEndpoint, onAccount)
  local function stamp(key)
    redis.call('ZADD', key, at, member)
    if redis.call('PTTL', key) < tonumber(ttlMs) then redis.call('PEXPIRE', key, ttlMs) end
  end
  if onEndpoint == '1' then stamp(epCalls) end
  if onAccount == '1' then stamp(acctCalls) end
end
`;

/**
 * accepted: SageMaker accepted the call. Its answer is stamped in the hard windows (see
 * answered) and its in-flight lease renewed until the inference's deadline (XX: a slot the
 * notification released already, when it won the race, is never added back).
 * KEYS: epCalls, acctCalls, inflight. ARGV: member, at, ttlMs, onEndpoint, onAccount,
 * inferenceId, leaseUntil. Also a Lua function `accepted(K, A)`, which the ledger's
 * `submitted` transition runs in its round trip (src/ledger/scripts.ts, ADVANCE_AND_ACCEPT).
 */
export const ACCEPTED_FUNCTION = `${ANSWERED_FUNCTION}
local function accepted(K, A)
  answered(K[1], K[2], A[1], A[2], A[3], A[4], A[5])
  return redis.call('ZADD', K[3], 'XX', A[7], A[6])
end
`;

/**
 * refused: the call got an answer that was not an acceptance (an error, or no answer): it is
 * stamped in the hard windows like any answer and its in-flight slot goes back; the oldest
 * waiter is returned to be woken ('' if none).
 * KEYS: epCalls, acctCalls, inflight, waiting. ARGV: member, at, ttlMs, onEndpoint,
 * onAccount, inferenceId.
 */
export const REFUSED = `${ANSWERED_FUNCTION}${FREE_SLOT_FUNCTION}
answered(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5])
return freeSlot(KEYS[3], KEYS[4], ARGV[6])
`;

/**
 * slowDown: multiplicative decrease of the endpoint's effective rate, at most once per
 * cooldown; every throttle (within the cooldown too) restarts the linear recovery from the
 * rate reached, so the rate grows back only while answers are clean.
 * KEYS: adaptive. ARGV: now, maxTps, factor, minRate, recoveryPerSec, cooldownMs. Returns the new rate.
 * The adaptive hash holds rate (at time 'at', the recovery's origin) and cut (the last decrease).
 */
export const SLOW_DOWN = `${EFFECTIVE_RATE}
local now, maxTps, factor = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local minRate, recoveryPerSec, cooldownMs = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
if maxTps <= 0 then return '0' end
local current = effectiveRate(KEYS[1], now, maxTps, recoveryPerSec)
local state = redis.call('HMGET', KEYS[1], 'rate', 'cut')
local nextRate
if state[2] and now - tonumber(state[2]) < cooldownMs then
  -- Throttled again within the cooldown: no new cut, and no recovery since the last throttle.
  nextRate = tonumber(state[1])
else
  nextRate = current * factor
  if nextRate < minRate then nextRate = minRate end
  redis.call('HSET', KEYS[1], 'cut', tostring(now))
end
redis.call('HSET', KEYS[1], 'rate', tostring(nextRate), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((maxTps - nextRate) / recoveryPerSec * 1000) + 60000)
return tostring(nextRate)
`;

/**
 * inspect: the state of one endpoint for status and metrics. Read-only on the in-flight
 * set: sweeping expired leases must wake waiters, which only acquire does.
 * KEYS: inflight, waiting, adaptive, reservations, rateQueue. ARGV: now, maxTps, recoveryPerSec.
 * Returns {effectiveRate, inFlight, waitingForSlot, waitingForRate}.
 */
export const INSPECT = `${EFFECTIVE_RATE}
local now = tonumber(ARGV[1])
return {
  tostring(effectiveRate(KEYS[3], now, tonumber(ARGV[2]), tonumber(ARGV[3]))),
  redis.call('ZCOUNT', KEYS[1], '(' .. ARGV[1], '+inf'),
  redis.call('ZCARD', KEYS[2]),
  redis.call('HLEN', KEYS[4]) + redis.call('ZCARD', KEYS[5]),
}
`;
