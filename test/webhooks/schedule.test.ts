import { describe, expect, it } from 'vitest';
import {
  DEFAULT_JITTER,
  jitterMs,
  MAX_RETRY_AFTER_MS,
  nextRetryDelayMs,
  parseRetryAfter,
  scheduledDelayMs,
} from '../../src/webhooks/schedule.js';

const DEFAULT = [0, 5, 300, 1800, 7200, 18000, 36000, 36000];
const mid = () => 0.5; // no jitter
const low = () => 0; // lowest jitter
const high = () => 0.999999; // highest jitter

describe('delivery schedule', () => {
  it('waits scheduleSeconds[n-1] before attempt n, and has as many attempts as entries', () => {
    expect(DEFAULT.map((_, i) => scheduledDelayMs(DEFAULT, i + 1, mid))).toEqual(
      DEFAULT.map((s) => s * 1000),
    );
    expect(scheduledDelayMs(DEFAULT, 9, mid)).toBeUndefined();
    expect(() => scheduledDelayMs(DEFAULT, 0)).toThrow();
  });

  it('accepts fractions of a second', () => {
    expect(scheduledDelayMs([0, 0.05, 0.25], 2, mid)).toBe(50);
    expect(scheduledDelayMs([0, 0.05, 0.25], 3, mid)).toBe(250);
  });

  it('jitters delays > 0 within ±DEFAULT_JITTER and never jitters an immediate attempt', () => {
    expect(jitterMs(0, high)).toBe(0);
    expect(scheduledDelayMs(DEFAULT, 1, high)).toBe(0);
    const base = 300_000;
    expect(jitterMs(base, low)).toBe(Math.round(base * (1 - DEFAULT_JITTER)));
    expect(jitterMs(base, high)).toBeLessThanOrEqual(Math.round(base * (1 + DEFAULT_JITTER)));
    expect(jitterMs(base, high)).toBeGreaterThan(base);
    for (let i = 0; i < 1000; i += 1) {
      const d = jitterMs(base);
      expect(d).toBeGreaterThanOrEqual(base * (1 - DEFAULT_JITTER));
      expect(d).toBeLessThanOrEqual(base * (1 + DEFAULT_JITTER));
    }
  });

  it('parses Retry-After as seconds or an HTTP date, capped and never negative', () => {
    const now = Date.parse('2026-11-27T10:00:00Z');
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter(' 1.5 ', now)).toBe(1_500);
    expect(parseRetryAfter('Fri, 27 Nov 2026 10:02:00 GMT', now)).toBe(120_000);
    expect(parseRetryAfter('Fri, 27 Nov 2026 09:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter(String(7 * 86_400), now)).toBe(MAX_RETRY_AFTER_MS);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter('-5', now)).toBeUndefined();
    expect(parseRetryAfter('', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });

  it('uses the larger of the scheduled wait and Retry-After, for 429/502/503/504 only', () => {
    const base = { scheduleSeconds: DEFAULT, attemptsMade: 1, nowMs: 0, random: mid };
    expect(nextRetryDelayMs({ ...base, status: 500, retryAfter: '60' })).toBe(5_000);
    for (const status of [429, 502, 503, 504]) {
      expect(nextRetryDelayMs({ ...base, status, retryAfter: '60' })).toBe(60_000);
      expect(nextRetryDelayMs({ ...base, status, retryAfter: '1' })).toBe(5_000);
    }
    expect(nextRetryDelayMs({ ...base, status: 429 })).toBe(5_000);
    expect(nextRetryDelayMs({ ...base, status: undefined })).toBe(5_000);
    // Retry-After is never shortened by jitter.
    expect(nextRetryDelayMs({ ...base, random: low, status: 503, retryAfter: '5' })).toBe(5_000);
  });

  it('is exhausted after the last scheduled attempt, whatever Retry-After says', () => {
    expect(
      nextRetryDelayMs({ scheduleSeconds: DEFAULT, attemptsMade: 8, nowMs: 0, status: 429, retryAfter: '1' }),
    ).toBeUndefined();
    expect(nextRetryDelayMs({ scheduleSeconds: [0], attemptsMade: 1, nowMs: 0 })).toBeUndefined();
  });
});
