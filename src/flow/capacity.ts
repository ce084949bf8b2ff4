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
   * The call granted to this inference got its answer (accepted, refused or failed): the
   * hard windows count it from about when SageMaker received it if that was late.
   */
  answered(endpointName: string, inferenceId: string): Promise<void>;
  /** Gives back a slot taken for a call that SageMaker did not accept. */
  release(endpointName: string, inferenceId: string): Promise<void>;
  /** Renews the lease of an accepted inference's slot until its deadline. */
  extend(endpointName: string, inferenceId: string, leaseUntilMs: number): Promise<void>;
  /** The endpoint answered throttling or 503. */
  onSlowDown(endpointName: string): Promise<void>;
  /** The endpoint accepted a call. */
  onAccepted(endpointName: string): Promise<void>;
}

/** No limits: every call may go at once. */
export class UnlimitedCapacity implements Capacity {
  async acquire(): Promise<CapacityGrant> {
    return { granted: true };
  }
  async waitLocally(): Promise<boolean> {
    return false;
  }
  async missedWake(): Promise<boolean> {
    return false;
  }
  async answered(): Promise<void> {}
  async release(): Promise<void> {}
  async extend(): Promise<void> {}
  async onSlowDown(): Promise<void> {}
  async onAccepted(): Promise<void> {}
}
