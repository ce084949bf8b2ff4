import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { InferenceRecord } from '../../src/emulator/index.js';
import { type AwsStack, startAwsStack } from '../support/emulator.js';
import { PrivateRedis } from '../support/redis-server.js';
import { waitFor } from '../support/wait-for.js';
import { type FlowRig, startFlowRig } from './rig.js';

const CAP = 10;

/** The most intervals [from, to) overlapping at any instant (to undefined: still open). */
function maxOverlap(intervals: { from: number; to: number | undefined }[]): number {
  const events: [number, number][] = [];
  for (const { from, to } of intervals) {
    events.push([from, 1]);
    if (to !== undefined) events.push([to, -1]);
  }
  // Ends before starts at the same instant: a slot freed and taken at once is not an overlap.
  events.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  let open = 0;
  let most = 0;
  for (const [, delta] of events) {
    open += delta;
    most = Math.max(most, open);
  }
  return most;
}

/** Unresolved inferences at the emulator: accepted (202) until their outcome was final. */
function emulatorOverlap(records: readonly InferenceRecord[]): number {
  return maxOverlap(records.map((r) => ({ from: r.receivedAt, to: r.finishedAt })));
}

/**
 * In-flight caps across processes: three `smad start --roles dispatcher` processes, one
 * endpoint capped at 10 inferences submitted and not resolved, a slow model. Waiters are
 * parked with flow.waitFallbackSeconds = 600, so every slot that comes back within the test
 * came back by a wake-up (resolution, failure, expiry), never by the fallback timer.
 */
describe('flow control: in-flight cap (3 dispatcher processes)', () => {
  let redis: PrivateRedis;
  let stack: AwsStack;
  let rig: FlowRig | undefined;

  beforeAll(async () => {
    redis = await PrivateRedis.start();
    stack = await startAwsStack({
      endpoints: [
        // Room for 50 concurrent invocations: only smad's cap keeps it at 10.
        { name: 'capped', maxConcurrentInvocationsPerInstance: 50, knobs: { latencyMs: 300 } },
        // Nothing ever comes back: no failure object, no notification.
        {
          name: 'void',
          model: 'fail',
          maxConcurrentInvocationsPerInstance: 50,
          s3FailurePath: null,
          successTopicArn: null,
          errorTopicArn: null,
        },
      ],
    });
  });
  afterEach(async () => {
    await rig?.stop();
    rig = undefined;
    await stack.reset();
  });
  afterAll(async () => {
    await stack?.stop();
    await redis?.destroy();
  });

  async function start(env: Record<string, string> = {}, processes = 3) {
    rig = await startFlowRig(redis, stack, {
      processes,
      settings: {
        endpoints: {
          '*': { maxTps: 0, maxInFlight: 0 },
          capped: { maxTps: 0, maxInFlight: CAP },
          void: { maxTps: 0, maxInFlight: CAP },
        },
        'flow.waitFallbackSeconds': 600,
        // Deadlines in milliseconds: (requestTTLSeconds + invocationTimeoutSeconds) / 1000.
        'expiry.timeScale': 0.001,
        'expiry.graceSeconds': 0,
      },
      env,
    });
    return rig;
  }

  /** Polls until `done`, sampling the in-flight count Redis holds for the endpoint. */
  async function untilDone(
    endpointName: string,
    done: () => Promise<boolean>,
    what: string,
  ): Promise<{ peak: number; waited: number }> {
    let peak = 0;
    let waited = 0;
    await waitFor(
      async () => {
        const state = await rig!.endpoint(endpointName);
        peak = Math.max(peak, state.inFlight);
        waited = Math.max(waited, state.waitingForSlot);
        return done();
      },
      { timeoutMs: 60_000, what },
    );
    return { peak, waited };
  }

  async function expectSlotsBack(endpointName: string) {
    const state = await rig!.endpoint(endpointName);
    expect(state).toMatchObject({ inFlight: 0, waitingForSlot: 0 });
  }

  it('never more than 10 unresolved; slots come back as inferences resolve', async () => {
    const { smad } = await start();
    await smad.queue.addBulk(
      Array.from({ length: 60 }, (_, i) => ({
        name: 'c',
        data: { endpointName: 'capped', body: `ok ${i}` },
      })),
    );
    const sampled = await untilDone(
      'capped',
      async () => (await smad.queue.getCompletedCount()) === 60,
      '60 completed jobs',
    );
    const records = stack.emulator.inferences.filter((r) => r.endpointName === 'capped');
    const stats = stack.emulator.stats().endpoints.capped;
    console.log(
      `resolve: emulator unresolved peak ${emulatorOverlap(records)}, running peak ${stats?.peakInFlight},` +
        ` Redis in-flight peak ${sampled.peak}, waiters peak ${sampled.waited}`,
    );
    expect(records).toHaveLength(60);
    expect(emulatorOverlap(records)).toBe(CAP);
    expect(stats?.peakInFlight).toBeLessThanOrEqual(CAP);
    expect(sampled.peak).toBeLessThanOrEqual(CAP);
    expect(sampled.waited).toBeGreaterThan(0);
    await expectSlotsBack('capped');
  }, 90_000);

  it('slots come back when inferences fail (model failure)', async () => {
    const { smad } = await start();
    const body = JSON.stringify({ emulator: { fail: 'model says no' } });
    await smad.queue.addBulk(
      Array.from({ length: 40 }, () => ({ name: 'c', data: { endpointName: 'capped', body } })),
    );
    const sampled = await untilDone(
      'capped',
      async () => (await smad.queue.getFailedCount()) === 40,
      '40 failed jobs',
    );
    const records = stack.emulator.inferences.filter((r) => r.endpointName === 'capped');
    console.log(
      `fail: emulator unresolved peak ${emulatorOverlap(records)}, Redis in-flight peak ${sampled.peak}`,
    );
    expect(records.every((r) => r.status === 'failed')).toBe(true);
    expect(records).toHaveLength(40);
    expect(emulatorOverlap(records)).toBe(CAP);
    expect(sampled.peak).toBeLessThanOrEqual(CAP);
    const [job] = await smad.queue.getFailed(0, 0);
    expect(job?.failedReason).toMatch(/^failed: /);
    await expectSlotsBack('capped');
  }, 90_000);

  it('slots come back when inferences expire (nothing ever comes back)', async () => {
    const { smad } = await start();
    // Deadline: (600 + 1) s × 0.001 = 601 ms after submission.
    const jobs = await smad.queue.addBulk(
      Array.from({ length: 30 }, (_, i) => ({
        name: 'v',
        data: { endpointName: 'void', body: `${i}`, requestTTLSeconds: 600, invocationTimeoutSeconds: 1 },
      })),
    );
    const sampled = await untilDone(
      'void',
      async () => (await smad.queue.getFailedCount()) === 30,
      '30 expired jobs',
    );
    const records = await Promise.all(jobs.map((j) => smad.runtime.ledger.getByJobId(j.id!)));
    expect(records.map((r) => r?.status)).toEqual(Array(30).fill('expired'));
    // Held from submission to expiry, never more than the cap at once; 30 jobs through 10
    // slots took at least three generations of expiries.
    const held = records.map((r) => ({ from: Date.parse(r!.submittedAt!), to: Date.parse(r!.resolvedAt!) }));
    console.log(`expire: ledger peak ${maxOverlap(held)}, Redis in-flight peak ${sampled.peak}`);
    expect(maxOverlap(held)).toBeLessThanOrEqual(CAP);
    expect(sampled.peak).toBeLessThanOrEqual(CAP);
    await expectSlotsBack('void');
  }, 90_000);

  it('dispatchers killed with SIGKILL mid-load: the cap holds, their work is taken over, every slot comes back', async () => {
    const handOver = {
      // A killed process's active jobs are handed over within about 1.5 s.
      SMAD_DISPATCH_LOCK_DURATION_MS: '1000',
      SMAD_DISPATCH_STALLED_INTERVAL_MS: '500',
    };
    const { smad, processes } = await start(handOver, 0);
    // First alone, a dispatcher that dies right after SageMaker accepted its first call:
    // holding a slot, the inference's ledger record not yet 'submitted', its other pickups
    // active or parked.
    const doomed = await rig!.addProcess({ ...handOver, SMAD_TEST_KILL_AFTER_INVOKE: '1' });
    await smad.queue.addBulk(
      Array.from({ length: 60 }, (_, i) => ({ name: 'c', data: { endpointName: 'capped', body: `k ${i}` } })),
    );
    expect((await doomed.exit).signal).toBe('SIGKILL');
    const [first] = stack.emulator.requests;
    // Then the three; one of them is killed mid-load, whatever it was doing.
    const three = await Promise.all([1, 2, 3].map(() => rig!.addProcess(handOver)));
    await waitFor(() => stack.emulator.inferences.filter((r) => r.endpointName === 'capped').length >= 20, {
      what: '20 calls',
    });
    three[0]!.kill('SIGKILL');
    expect((await three[0]!.exit).signal).toBe('SIGKILL');

    const sampled = await untilDone(
      'capped',
      async () => (await smad.queue.getCompletedCount()) === 60,
      '60 completed jobs after the kills',
    );
    const records = stack.emulator.inferences.filter((r) => r.endpointName === 'capped');
    console.log(
      `sigkill: ${records.length} calls for 60 jobs, emulator unresolved peak ${emulatorOverlap(records)},` +
        ` Redis in-flight peak ${sampled.peak}`,
    );
    expect(processes).toHaveLength(4);
    // The doomed process's inference resolved (its slot with it), dispatched again or not.
    expect(await smad.runtime.ledger.get(first!.inferenceId!)).toMatchObject({ status: 'completed' });
    expect(emulatorOverlap(records)).toBeLessThanOrEqual(CAP);
    expect(sampled.peak).toBeLessThanOrEqual(CAP);
    await expectSlotsBack('capped');
  }, 90_000);
});
