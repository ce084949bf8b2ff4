import { describe, expect, it } from 'vitest';
import {
  canTransition,
  FINAL_STATUSES,
  INFERENCE_STATUSES,
  type InferenceStatus,
  isFinalStatus,
  isInferenceStatus,
  NO_RECORD,
  TRANSITIONS,
} from '../../src/contract/status.js';

/** The table of PRODUCT.md "Inference statuses", written out independently of the source. */
const EXPECTED: Record<string, string[]> = {
  none: ['submitting', 'rejected', 'dispatch_failed'],
  submitting: ['submitted', 'completed', 'failed', 'expired', 'rejected', 'dispatch_failed'],
  submitted: ['completed', 'failed', 'expired'],
  completed: [],
  failed: [],
  expired: [],
  rejected: [],
  dispatch_failed: [],
};

/** How far along a status is: every transition must increase it. */
const RANK: Record<InferenceStatus, number> = {
  submitting: 1,
  submitted: 2,
  completed: 3,
  failed: 3,
  expired: 3,
  rejected: 3,
  dispatch_failed: 3,
};

const FROM: (InferenceStatus | undefined)[] = [undefined, ...INFERENCE_STATUSES];

describe('inference statuses', () => {
  it('are the seven of the contract, five of them final', () => {
    expect([...INFERENCE_STATUSES].sort()).toEqual(
      ['completed', 'dispatch_failed', 'expired', 'failed', 'rejected', 'submitted', 'submitting'].sort(),
    );
    expect([...FINAL_STATUSES].sort()).toEqual([
      'completed',
      'dispatch_failed',
      'expired',
      'failed',
      'rejected',
    ]);
    for (const status of INFERENCE_STATUSES) {
      expect(isFinalStatus(status)).toBe(status !== 'submitting' && status !== 'submitted');
    }
  });

  it('isInferenceStatus recognises exactly the statuses', () => {
    for (const status of INFERENCE_STATUSES) expect(isInferenceStatus(status)).toBe(true);
    for (const value of [NO_RECORD, '', 'Completed', 'pending', null, undefined, 3]) {
      expect(isInferenceStatus(value)).toBe(false);
    }
  });
});

describe('TRANSITIONS', () => {
  it('is the contract table, as plain JSON data', () => {
    expect(JSON.parse(JSON.stringify(TRANSITIONS))).toEqual(EXPECTED);
    expect(Object.keys(TRANSITIONS).sort()).toEqual([NO_RECORD, ...INFERENCE_STATUSES].sort());
  });

  it('only moves forward', () => {
    for (const [from, targets] of Object.entries(TRANSITIONS)) {
      const rank = from === NO_RECORD ? 0 : RANK[from as InferenceStatus];
      for (const to of targets) expect(RANK[to], `${from} -> ${to}`).toBeGreaterThan(rank);
    }
  });

  it('never leaves a final status', () => {
    for (const status of FINAL_STATUSES) expect(TRANSITIONS[status]).toEqual([]);
  });

  it('reaches every final status from submitting, and submitted only by a call SageMaker accepted', () => {
    for (const status of FINAL_STATUSES) expect(TRANSITIONS.submitting).toContain(status);
    expect(TRANSITIONS.none).not.toContain('submitted');
  });
});

describe('canTransition', () => {
  it('follows the table for every pair, undefined meaning no record', () => {
    for (const from of FROM) {
      for (const to of INFERENCE_STATUSES) {
        expect(canTransition(from, to), `${from} -> ${to}`).toBe(EXPECTED[from ?? 'none']?.includes(to));
      }
    }
  });

  it('spot checks', () => {
    expect(canTransition(undefined, 'submitting')).toBe(true);
    expect(canTransition(undefined, 'rejected')).toBe(true);
    expect(canTransition(undefined, 'completed')).toBe(false);
    expect(canTransition('submitting', 'completed')).toBe(true);
    expect(canTransition('submitted', 'submitting')).toBe(false);
    expect(canTransition('submitted', 'rejected')).toBe(false);
    expect(canTransition('submitted', 'dispatch_failed')).toBe(false);
    expect(canTransition('completed', 'failed')).toBe(false);
    expect(canTransition('expired', 'completed')).toBe(false);
  });

  it('treats writing the current status as no transition', () => {
    for (const status of INFERENCE_STATUSES) expect(canTransition(status, status)).toBe(false);
  });
});
