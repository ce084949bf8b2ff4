import { describe, expect, it } from 'vitest';
import {
  checkFailNext,
  checkKnobs,
  DEFAULT_KNOBS,
  FaultPlan,
  KnobError,
  KnobSet,
} from '../../src/emulator/knobs.js';
import { createRandom, roll } from '../../src/emulator/random.js';

describe('knobs', () => {
  it('checks values and names bad or unknown ones', () => {
    expect(checkKnobs({ latencyMs: 5, expiredNotification: 'none', timeScale: 0.5 })).toEqual({
      knobs: { latencyMs: 5, expiredNotification: 'none', timeScale: 0.5 },
      problems: [],
    });
    expect(
      checkKnobs({ failureRatio: -0.1, latencyMs: '3', timeScale: 0, expiredNotification: 'x', zz: 1 }, 'k')
        .problems,
    ).toEqual([
      'k.failureRatio: must be a number from 0 to 1 (was -0.1)',
      'k.latencyMs: must be a number of milliseconds ≥ 0 (was "3")',
      'k.timeScale: must be a number > 0 (was 0)',
      'k.expiredNotification: must be "error" or "none" (was "x")',
      expect.stringContaining('k.zz: unknown knob'),
    ]);
    expect(checkKnobs([1]).problems).toEqual(['knobs: must be an object of knob values']);
  });

  it('layers per-endpoint overrides on global values, and resets to the starting ones', () => {
    const set = new KnobSet({ latencyMs: 10 }, new Map([['a', { failureRatio: 1 }]]));
    expect(set.effective()).toEqual({ ...DEFAULT_KNOBS, latencyMs: 10 });
    expect(set.effective('a')).toMatchObject({ latencyMs: 10, failureRatio: 1 });
    set.set({ latencyMs: 20 });
    set.set({ failureRatio: 0.5, throttleRatio: 1 }, 'a');
    expect(set.effective('a')).toMatchObject({ latencyMs: 20, failureRatio: 0.5, throttleRatio: 1 });
    expect(set.effective('b')).toMatchObject({ latencyMs: 20, failureRatio: 0 });
    expect(() => set.set({ failureRatio: 2 })).toThrow(KnobError);
    set.reset();
    expect(set.effective('a')).toMatchObject({ latencyMs: 10, failureRatio: 1, throttleRatio: 0 });
  });

  it('forces the next N answers, in order, optionally for one endpoint', () => {
    const plan = new FaultPlan();
    plan.failNext({ status: 503, count: 2 });
    plan.failNext({ status: 'throttle', endpoint: 'b' });
    expect(plan.pending).toBe(3);
    expect(plan.take('a')).toBe(503);
    expect(plan.take('b')).toBe(503);
    expect(plan.take('a')).toBeUndefined();
    expect(plan.take('b')).toBe('throttle');
    expect(plan.take('b')).toBeUndefined();
    expect(checkFailNext({ status: 500, count: 3, endpoint: 'x' })).toEqual({
      value: { status: 500, count: 3, endpoint: 'x' },
      problems: [],
    });
    expect(checkFailNext({ status: 429 }).problems).toEqual([
      'status: must be 503, 500 or "throttle" (was 429)',
    ]);
  });

  it('rolls from a seeded PRNG: the same seed, the same sequence; 0 and 1 never roll', () => {
    const a = createRandom(42);
    const b = createRandom(42);
    const first = Array.from({ length: 5 }, () => a());
    expect(Array.from({ length: 5 }, () => b())).toEqual(first);
    expect(first.every((x) => x >= 0 && x < 1)).toBe(true);
    const c = createRandom(1);
    expect(roll(c, 0)).toBe(false);
    expect(roll(c, 1)).toBe(true);
    expect(c()).toBe(createRandom(1)());
  });
});
