/**
 * Every Redis key the ledger owns, under the configured prefix (hash-tag it, e.g. "{smad}",
 * on Redis Cluster so that the scripts' keys share a slot).
 */
export interface LedgerKeys {
  /** Hash: one inference record, keyed by inferenceId. */
  inference(inferenceId: string): string;
  /** String: jobId → inferenceId index. */
  job(jobId: string): string;
  /** Stream: outcome events waiting for the webhook relay (the outbox). */
  outbox: string;
  /** Sorted set: in-flight inferences of one endpoint, scored by their lease deadline (ms). */
  inFlight(endpointName: string): string;
}

export function ledgerKeys(prefix: string): LedgerKeys {
  const base = `${prefix}:ledger`;
  return {
    inference: (id) => `${base}:inf:${id}`,
    job: (jobId) => `${base}:job:${jobId}`,
    outbox: `${base}:outbox`,
    inFlight: (endpointName) => `${prefix}:flow:inflight:${endpointName}`,
  };
}
