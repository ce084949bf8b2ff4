import { INVOCATION_TIMEOUT_SECONDS, TTL_SECONDS } from '../contract/api-constraints.js';

/**
 * The moment an inference is given up on: submission + RequestTTLSeconds +
 * InvocationTimeoutSeconds (the API's defaults when the job sets none) + grace.
 */
export function inferenceDeadline(
  submittedAtMs: number,
  requestTTLSeconds: number | undefined,
  invocationTimeoutSeconds: number | undefined,
  graceSeconds: number,
  timeScale = 1,
): number {
  const ttl = requestTTLSeconds ?? TTL_SECONDS.default;
  const timeout = invocationTimeoutSeconds ?? INVOCATION_TIMEOUT_SECONDS.default;
  return submittedAtMs + Math.ceil((ttl + timeout + graceSeconds) * 1000 * timeScale);
}

/**
 * Next S3 check for an endpoint without notifications: the first after `firstSeconds`, then
 * the wait doubles (it equals the time already waited), capped at `maxSeconds` and at the
 * deadline.
 */
export function nextPollAt(
  submittedAtMs: number,
  nowMs: number,
  firstSeconds: number,
  maxSeconds: number,
  deadlineMs: number,
  timeScale = 1,
): number {
  const waited = Math.max(0, nowMs - submittedAtMs);
  const interval = Math.min(maxSeconds * 1000 * timeScale, Math.max(firstSeconds * 1000 * timeScale, waited));
  return Math.min(deadlineMs, nowMs + interval);
}
