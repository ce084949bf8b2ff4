/**
 * Inference statuses (the ledger's `status`) and the forward-only transition table. The
 * ledger's Lua script implements the same table; TRANSITIONS is exported as plain data
 * (JSON-serialisable) so a test can hold the script to it.
 */

export const INFERENCE_STATUSES = [
  'submitting',
  'submitted',
  'completed',
  'failed',
  'expired',
  'rejected',
  'dispatch_failed',
] as const;
export type InferenceStatus = (typeof INFERENCE_STATUSES)[number];

/** Statuses that end an inference: nothing moves a record out of them. */
export const FINAL_STATUSES = ['completed', 'failed', 'expired', 'rejected', 'dispatch_failed'] as const;
export type FinalStatus = (typeof FINAL_STATUSES)[number];

/**
 * The key TRANSITIONS uses for "no record yet" (a Lua script can read the status with
 * `redis.call('HGET', key, 'status') or 'none'`). Not a status: no record ever holds it.
 */
export const NO_RECORD = 'none';
export type NoRecord = typeof NO_RECORD;

/**
 * For each current status (or NO_RECORD), the statuses a record may move to. Transitions
 * only move forward: a late or duplicate message never moves a record back, and a final
 * status is never left. Writing the status a record already has is not a transition (the
 * ledger treats it as a duplicate and changes nothing).
 *
 * `submitting` may resolve directly because SageMaker's notification can arrive before the
 * InvokeEndpointAsync call returns (the record is written ahead of the call), and because
 * the call itself may end in a ValidationError (`rejected`) or exhausted retries.
 */
export const TRANSITIONS: Readonly<Record<InferenceStatus | NoRecord, readonly InferenceStatus[]>> = {
  none: ['submitting', 'rejected', 'dispatch_failed'],
  submitting: ['submitted', 'completed', 'failed', 'expired', 'rejected', 'dispatch_failed'],
  submitted: ['completed', 'failed', 'expired'],
  completed: [],
  failed: [],
  expired: [],
  rejected: [],
  dispatch_failed: [],
};

export function isInferenceStatus(value: unknown): value is InferenceStatus {
  return typeof value === 'string' && (INFERENCE_STATUSES as readonly string[]).includes(value);
}

export function isFinalStatus(status: InferenceStatus): status is FinalStatus {
  return (FINAL_STATUSES as readonly string[]).includes(status);
}

/** Whether a record in status `from` (undefined: no record yet) may move to `to`. */
export function canTransition(from: InferenceStatus | undefined, to: InferenceStatus): boolean {
  return TRANSITIONS[from ?? NO_RECORD].includes(to);
}
