/**
 * The ledger's Lua scripts. Every write to a record goes through one of them, so each is
 * atomic: a transition only moves forward (the table below equals TRANSITIONS in
 * src/contract/status.ts), and a terminal transition, in the same script, releases the
 * endpoint's in-flight slot, starts the retention clock and appends the outcome event to
 * the outbox stream (when the record has a webhook URL: the outbox feeds webhooks only). Keys other than KEYS[] are built from the prefix, as BullMQ does; on
 * Redis Cluster the hash-tagged prefix keeps them in one slot.
 */

import { ACCEPTED_FUNCTION, ACQUIRE_FUNCTION, FREE_SLOT_FUNCTION } from '../flow/scripts.js';

const TRANSITION_TABLE = `
local forward = {
  submitting = { submitted = true, completed = true, failed = true, expired = true, rejected = true, dispatch_failed = true },
  submitted = { completed = true, failed = true, expired = true },
}
local final = { completed = true, failed = true, expired = true, rejected = true, dispatch_failed = true }
local eventType = {
  completed = 'inference.completed', failed = 'inference.failed', expired = 'inference.expired',
  rejected = 'inference.rejected', dispatch_failed = 'inference.dispatch_failed',
}
`;

const FINALIZE = `${FREE_SLOT_FUNCTION}
local function finalize(ledgerBase, flowBase, infKey, outboxKey, id, to, now, retention)
  redis.call('HSET', infKey, 'resolvedAt', now)
  local jobId = redis.call('HGET', infKey, 'jobId')
  local endpoint = redis.call('HGET', infKey, 'endpointName')
  if retention > 0 then
    redis.call('EXPIRE', infKey, retention)
    if jobId then redis.call('EXPIRE', ledgerBase .. ':job:' .. jobId, retention) end
  end
  local waiter = ''
  if endpoint then
    waiter = freeSlot(flowBase .. ':inflight:' .. endpoint, flowBase .. ':waiting:' .. endpoint, id)
  end
  -- The outbox feeds webhooks only: a record without a URL (webhookState 'none') has nothing to send.
  if redis.call('HGET', infKey, 'webhookState') ~= 'none' then
    redis.call('XADD', outboxKey, '*', 'type', eventType[to], 'inferenceId', id, 'at', now)
  end
  return waiter
end
`;

/**
 * claim: the first step of every pickup of a job.
 * KEYS: jobIndexKey, outboxKey
 * ARGV: ledgerBase, flowBase, jobId, jobTs, suppliedId, newId, endpointName, now, initialStatus,
 *       failureReason, metadataJson, webhookUrl, webhookSecret, inputLocation, retentionSeconds, enqueuedAt
 * Returns {kind, inferenceId, status}; kind is 'existing' (this job claimed before: same id
 * on every retry and after a crash), 'created', or 'duplicate' (the supplied id belongs to
 * another job). An 'existing' claim of a record past 'submitting' (the pickup that finishes a
 * resolved job, or checks a parked one) is followed by the record's fields and values, so
 * that pickup needs no second read.
 */
const CLAIM_FUNCTION = `${TRANSITION_TABLE}${FINALIZE}
local function claim(K, A)
local idxKey, outboxKey = K[1], K[2]
local ledgerBase, flowBase, jobId, jobTs = A[1], A[2], A[3], A[4]
local suppliedId, newId, endpoint, now = A[5], A[6], A[7], A[8]
local initial, reason, metadata, webhookUrl = A[9], A[10], A[11], A[12]
local webhookSecret, inputLocation, retention, enqueuedAt = A[13], A[14], tonumber(A[15]), A[16]

local existing = redis.call('GET', idxKey)
if existing then
  local key = ledgerBase .. ':inf:' .. existing
  if redis.call('HGET', key, 'jobTs') == jobTs then
    local status = redis.call('HGET', key, 'status')
    local reply = {'existing', existing, status}
    if status and status ~= 'submitting' then
      local flat = redis.call('HGETALL', key)
      for i = 1, #flat do reply[i + 3] = flat[i] end
    end
    return reply
  end
end
local id = newId
if suppliedId ~= '' then id = suppliedId end
local infKey = ledgerBase .. ':inf:' .. id
if redis.call('EXISTS', infKey) == 1 then
  return {'duplicate', id, redis.call('HGET', infKey, 'status')}
end
local webhookState = 'none'
if webhookUrl ~= '' then webhookState = 'pending' end
redis.call('HSET', infKey, 'inferenceId', id, 'jobId', jobId, 'jobTs', jobTs, 'endpointName', endpoint,
  'status', initial, 'attempts', 0, 'createdAt', now, 'enqueuedAt', enqueuedAt, 'metadata', metadata,
  'webhookUrl', webhookUrl, 'webhookSecret', webhookSecret, 'webhookState', webhookState,
  'inputLocation', inputLocation)
redis.call('SET', idxKey, id)
if final[initial] then
  redis.call('HSET', infKey, 'failureReason', reason)
  finalize(ledgerBase, flowBase, infKey, outboxKey, id, initial, now, retention)
end
return {'created', id, initial}
end
`;

export const CLAIM = `${CLAIM_FUNCTION}return claim(KEYS, ARGV)
`;

/**
 * claimAndAcquire: a claim, then, when the record is being submitted, flow control's acquire
 * decision for it (src/flow/scripts.ts), in one round trip: the first pickup of a job both
 * writes its record and takes its call's capacity.
 * KEYS: the claim's two keys, then acquire's eleven. ARGV: the claim's sixteen arguments,
 * then acquire's fourteen (its inferenceId, the second, is the one the claim decided).
 * Returns the claim's reply; when the record is 'submitting', followed by acquire's reply.
 */
export const CLAIM_AND_ACQUIRE = `${CLAIM_FUNCTION}${ACQUIRE_FUNCTION}
local claimed = claim({KEYS[1], KEYS[2]}, {unpack(ARGV, 1, 16)})
if claimed[1] == 'duplicate' or claimed[3] ~= 'submitting' then return claimed end
local args = {unpack(ARGV, 17, 30)}
args[2] = claimed[2]
local granted = acquire({unpack(KEYS, 3, 13)}, args)
for i = 1, #granted do claimed[3 + i] = granted[i] end
return claimed
`;

/**
 * advance: move a record forward.
 * KEYS: inferenceKey, outboxKey
 * ARGV: ledgerBase, flowBase, inferenceId, toStatus, now, retentionSeconds, fieldsJson
 * fieldsJson = {"set": {...}, "fill": {...}}: "set" fields are written only when the
 * transition happens; "fill" fields are written whenever the field is still empty (so the
 * dispatcher's late 202 still records a FailureLocation the notification did not carry).
 * Returns {'ok', previousStatus, jobId, waiterJobId} | {'stale', currentStatus, jobId} | {'missing'}:
 * waiterJobId is a job that waited for the in-flight slot this transition freed ('' if none).
 */
const ADVANCE_FUNCTION = `${TRANSITION_TABLE}${FINALIZE}
local function advance(K, A)
local infKey, outboxKey = K[1], K[2]
local ledgerBase, flowBase, id, to, now = A[1], A[2], A[3], A[4], A[5]
local retention = tonumber(A[6])
local fields = cjson.decode(A[7])
local status = redis.call('HGET', infKey, 'status')
if not status then return {'missing'} end
if type(fields.fill) == 'table' then
  for k, v in pairs(fields.fill) do
    local current = redis.call('HGET', infKey, k)
    if (not current or current == '') and v ~= '' then redis.call('HSET', infKey, k, v) end
  end
end
local allowed = forward[status]
local jobId = redis.call('HGET', infKey, 'jobId') or ''
if not allowed or not allowed[to] then return {'stale', status, jobId} end
if type(fields.set) == 'table' then
  for k, v in pairs(fields.set) do redis.call('HSET', infKey, k, v) end
end
redis.call('HSET', infKey, 'status', to)
if to == 'submitted' then
  redis.call('HINCRBY', infKey, 'attempts', 1)
end
local waiter = ''
if final[to] then waiter = finalize(ledgerBase, flowBase, infKey, outboxKey, id, to, now, retention) end
return {'ok', status, jobId, waiter}
end
`;

export const ADVANCE = `${ADVANCE_FUNCTION}return advance(KEYS, ARGV)
`;

/**
 * advanceAndAccept: an advance (to 'submitted': SageMaker accepted the call), then flow
 * control's bookkeeping of the accepted call (src/flow/scripts.ts, accepted), in one round
 * trip. The bookkeeping runs whatever the advance found: its lease renewal never adds back a
 * slot that a notification, resolving the record first, released.
 * KEYS: the advance's two keys, then accepted's three. ARGV: the advance's seven arguments,
 * then accepted's seven. Returns the advance's reply.
 */
export const ADVANCE_AND_ACCEPT = `${ADVANCE_FUNCTION}${ACCEPTED_FUNCTION}
local advanced = advance({KEYS[1], KEYS[2]}, {unpack(ARGV, 1, 7)})
accepted({KEYS[3], KEYS[4], KEYS[5]}, {unpack(ARGV, 8, 14)})
return advanced
`;

/**
 * noteRetry: count a failed API attempt of a record still being submitted.
 * KEYS: inferenceKey. ARGV: error message.
 * Returns the attempts so far, or -1 when the record is no longer 'submitting'.
 */
export const NOTE_RETRY = `
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'submitting' then return -1 end
redis.call('HSET', KEYS[1], 'lastError', ARGV[1])
return redis.call('HINCRBY', KEYS[1], 'attempts', 1)
`;

/**
 * setFields: update bookkeeping fields (webhook delivery state) of an existing record
 * without recreating an expired one. KEYS: inferenceKey. ARGV: field, value, ...
 * Returns 1 when written, 0 when the record is gone.
 */
export const SET_FIELDS = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
`;
