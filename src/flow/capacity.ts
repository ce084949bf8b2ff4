/** What the dispatcher asks flow control before each InvokeEndpointAsync call. */
export type CapacityGrant =
  | { granted: true }
  | { granted: false; reason: 'rate' | 'in-flight'; retryAtMs: number };

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
  async release(): Promise<void> {}
  async extend(): Promise<void> {}
  async onSlowDown(): Promise<void> {}
  async onAccepted(): Promise<void> {}
}
