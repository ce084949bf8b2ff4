/**
 * The delivery schedule: when each attempt of a webhook delivery runs. Pure functions; the
 * delivery worker applies them. `scheduleSeconds[n - 1]` is the wait before attempt n (the
 * first entry is the wait after the event, 0 = immediately), so its length is the number of
 * attempts. Delays may be fractions of a second.
 */

/** Statuses whose `Retry-After` header is honoured ("slow down"). */
export const RETRY_AFTER_STATUSES: ReadonlySet<number> = new Set([429, 502, 503, 504]);

/** The longest wait a receiver's `Retry-After` can impose on one retry. */
export const MAX_RETRY_AFTER_MS = 24 * 60 * 60 * 1000;

/** Jitter applied to every delay > 0: the delay is scaled by a factor in [1 - j, 1 + j]. */
export const DEFAULT_JITTER = 0.15;

/** A random number in [0, 1) (Math.random's contract); injectable for tests. */
export type RandomSource = () => number;

/** `ms` scaled by a random factor in [1 - jitter, 1 + jitter]; 0 stays 0. */
export function jitterMs(ms: number, random: RandomSource = Math.random, jitter = DEFAULT_JITTER): number {
  if (ms <= 0) return 0;
  return Math.max(0, Math.round(ms * (1 + jitter * (2 * random() - 1))));
}

/**
 * The jittered wait in ms before attempt `attempt` (1-based), or undefined when the schedule
 * has no such attempt (the delivery is exhausted).
 */
export function scheduledDelayMs(
  scheduleSeconds: readonly number[],
  attempt: number,
  random: RandomSource = Math.random,
  jitter = DEFAULT_JITTER,
): number | undefined {
  if (!Number.isInteger(attempt) || attempt < 1)
    throw new Error(`attempt must be an integer >= 1 (was ${attempt})`);
  const seconds = scheduleSeconds[attempt - 1];
  if (seconds === undefined) return undefined;
  return jitterMs(seconds * 1000, random, jitter);
}

/**
 * Parses a `Retry-After` value: delay-seconds (fractions accepted) or an HTTP date. Returns the
 * wait in ms from `nowMs` (never negative, at most MAX_RETRY_AFTER_MS), or undefined when the
 * value is absent or unreadable.
 */
export function parseRetryAfter(value: string | undefined, nowMs: number): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (text === '') return undefined;
  let ms: number;
  if (/^\d+(\.\d+)?$/.test(text)) {
    ms = Number(text) * 1000;
  } else {
    // An HTTP date names its day and month ("Fri, 27 Nov 2026 10:00:00 GMT").
    if (!/[A-Za-z]/.test(text)) return undefined;
    const at = Date.parse(text);
    if (Number.isNaN(at)) return undefined;
    ms = at - nowMs;
  }
  return Math.min(MAX_RETRY_AFTER_MS, Math.max(0, Math.ceil(ms)));
}

export interface RetryInput {
  scheduleSeconds: readonly number[];
  /** Attempts made so far in this schedule, including the one that just failed. */
  attemptsMade: number;
  /** The HTTP status of the failed attempt; undefined for a connection error or timeout. */
  status?: number;
  /** The response's `Retry-After` header. */
  retryAfter?: string;
  nowMs: number;
  random?: RandomSource;
  jitter?: number;
}

/**
 * The wait in ms before the next attempt after a failed one, or undefined when the schedule is
 * exhausted. For 429, 502, 503 and 504 a `Retry-After` longer than the scheduled wait wins
 * (capped at MAX_RETRY_AFTER_MS); it is never shortened by jitter.
 */
export function nextRetryDelayMs(input: RetryInput): number | undefined {
  const scheduled = scheduledDelayMs(
    input.scheduleSeconds,
    input.attemptsMade + 1,
    input.random,
    input.jitter,
  );
  if (scheduled === undefined) return undefined;
  if (input.status === undefined || !RETRY_AFTER_STATUSES.has(input.status)) return scheduled;
  const asked = parseRetryAfter(input.retryAfter, input.nowMs);
  return asked === undefined ? scheduled : Math.max(scheduled, asked);
}
