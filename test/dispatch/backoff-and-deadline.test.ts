import { describe, expect, it } from 'vitest';
import { backoffDelayMs } from '../../src/dispatch/backoff.js';
import { inferenceDeadline, nextPollAt } from '../../src/dispatch/deadline.js';

describe('backoffDelayMs', () => {
  it('doubles its ceiling per attempt up to the maximum, with jitter inside [ceiling/10, ceiling]', () => {
    expect(backoffDelayMs(1, 1000, 60_000, () => 1)).toBe(1000);
    expect(backoffDelayMs(3, 1000, 60_000, () => 1)).toBe(4000);
    expect(backoffDelayMs(20, 1000, 60_000, () => 1)).toBe(60_000);
    expect(backoffDelayMs(3, 1000, 60_000, () => 0)).toBe(400);
    const seen = new Set(Array.from({ length: 50 }, () => backoffDelayMs(4, 1000, 60_000)));
    expect(seen.size).toBeGreaterThan(1);
    for (const d of seen) {
      expect(d).toBeGreaterThanOrEqual(800);
      expect(d).toBeLessThanOrEqual(8000);
    }
  });
});

describe('inferenceDeadline', () => {
  it('adds TTL, invocation timeout and grace, with the API defaults when unset', () => {
    expect(inferenceDeadline(0, 60, 10, 5)).toBe(75_000);
    expect(inferenceDeadline(1000, undefined, undefined, 0)).toBe(1000 + (21_600 + 900) * 1000);
  });
});

describe('nextPollAt', () => {
  it('first waits the first delay, then doubles the wait, capped by the maximum and the deadline', () => {
    expect(nextPollAt(0, 0, 15, 300, 10_000_000)).toBe(15_000);
    expect(nextPollAt(0, 15_000, 15, 300, 10_000_000)).toBe(30_000);
    expect(nextPollAt(0, 30_000, 15, 300, 10_000_000)).toBe(60_000);
    expect(nextPollAt(0, 1_000_000, 15, 300, 10_000_000)).toBe(1_300_000);
    expect(nextPollAt(0, 1_000_000, 15, 300, 1_100_000)).toBe(1_100_000);
  });
});
