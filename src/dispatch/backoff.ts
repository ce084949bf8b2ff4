/**
 * Exponential backoff with full jitter: attempt n (1-based) waits a random time in
 * [0, min(max, base * 2^(n-1))], never less than a tenth of it so retries don't bunch at 0.
 */
export function backoffDelayMs(
  attempt: number,
  baseMs: number,
  maxMs: number,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  const floor = ceiling / 10;
  return Math.round(floor + random() * (ceiling - floor));
}
