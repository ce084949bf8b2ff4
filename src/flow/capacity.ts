/**
 * Why a call may not go now: `rate` (the job holds a reservation for `retryAtMs`),
 * `rate-queue` (queued for a reservation beyond the horizon), `in-flight` (the endpoint is
 * full). Jobs refused for `rate-queue` or `in-flight` are woken when their turn comes;
 * `retryAtMs` is then the latest they wake by themselves.
 */
export type WaitReason = 'rate' | 'rate-queue' | 'in-flight';

export type CapacityRefusal = { granted: false; reason: WaitReason; retryAtMs: number };

/** What the dispatcher asks flow control before each InvokeEndpointAsync call. */
export type CapacityGrant = { granted: true } | CapacityRefusal;

/**
 * An acquire decision to be taken inside another script, in the same round trip (the
 * ledger's claim, see src/ledger/scripts.ts CLAIM_AND_ACQUIRE): the keys and arguments of the
 * flow `acquire` function, with the inferenceId (args[1]) filled in by that script, and what
 * to do with its reply.
 */
export interface AcquirePlan {
  keys: string[];
  args: (string | number)[];
  settle(inferenceId: string, reply: string[]): CapacityGrant;
}

/**
 * Flow control's bookkeeping of an accepted call (see Capacity.accepted), to be run inside
 * the ledger's `submitted` transition (src/ledger/scripts.ts ADVANCE_AND_ACCEPT).
 */
export interface AcceptPlan {
  keys: string[];
  args: (string | number)[];
}

export interface Capacity {
  /**
   * Takes a call token (endpoint and account rate) and an in-flight slot for the inference,
   * leased until `leaseUntilMs`; or says when to ask again.
   */
  acquire(
    endpointName: string,
    inferenceId: string,
    leaseUntilMs: number,
    jobId?: string,
  ): Promise<CapacityGrant>;
  /** The same decision as acquire, to be taken by another script (the ledger's claim) in its round trip. */
  planAcquire(endpointName: string, leaseUntilMs: number, jobId: string): AcquirePlan;
  /**
   * For a `rate` refusal whose slot is near: waits for it in this process and returns true
   * (the caller asks again), when fewer than a few jobs already wait here; false when the
   * job should be parked instead.
   */
  waitLocally(jobId: string, refusal: CapacityRefusal): Promise<boolean>;
  /**
   * Called once a refused job is parked: true when its turn came while it was still active
   * (popped from its queue, or its slot passed), so nobody could wake it and it must wake
   * itself.
   */
  missedWake(endpointName: string, jobId: string, refusal: CapacityRefusal): Promise<boolean>;
  /**
   * SageMaker accepted the call granted to this inference: the hard windows count it from
   * about when SageMaker received it (its answer) if that was late, and its in-flight slot
   * is leased until `leaseUntilMs` (the inference's deadline). Run by the ledger's
   * `submitted` transition, in its round trip.
   */
  planAccepted(endpointName: string, inferenceId: string, leaseUntilMs: number): AcceptPlan;
  /**
   * The call granted to this inference was not accepted (an error, or no answer): it counts
   * in the hard windows from its answer, and its in-flight slot goes back.
   */
  refused(endpointName: string, inferenceId: string): Promise<void>;
  /** The endpoint answered throttling or 503. */
  onSlowDown(endpointName: string): Promise<void>;
}
