import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type AwsStack, startAwsStack } from '../support/emulator.js';
import { PrivateRedis } from '../support/redis-server.js';
import { waitFor } from '../support/wait-for.js';
import { type FlowRig, monitorCommands, quantile, startFlowRig } from './rig.js';

/**
 * A saturated endpoint never blocks another's jobs: three dispatcher processes, endpoint
 * `hog` saturated by its rate (2/s, hundreds queued) and `hog-slots` by its in-flight cap
 * (3 slots, a 2 s model, a hundred queued), both under an account limit; `quick` must see
 * the same queue wait as when it runs alone.
 */
describe('flow control: isolation between endpoints (3 dispatcher processes)', () => {
  let redis: PrivateRedis;
  let stack: AwsStack;
  let rig: FlowRig | undefined;

  beforeAll(async () => {
    redis = await PrivateRedis.start();
    stack = await startAwsStack({
      endpoints: [
        { name: 'hog' },
        { name: 'hog-slots', maxConcurrentInvocationsPerInstance: 10, knobs: { latencyMs: 2000 } },
        { name: 'quick' },
        { name: 'trickle' },
        { name: 'narrow', maxConcurrentInvocationsPerInstance: 10, knobs: { latencyMs: 2000 } },
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

  /** Queue waits (job timestamp → call received) of `count` quick jobs sent one after another. */
  async function quickWaits(count: number, label: string): Promise<number[]> {
    const waits: number[] = [];
    for (let i = 0; i < count; i++) {
      const inferenceId = `${label}-${i}`;
      const job = await rig!.smad.queue.add('quick', { endpointName: 'quick', body: 'q', inferenceId });
      const call = await waitFor(
        () => stack.emulator.requests.find((r) => r.params.inferenceId === inferenceId),
        { timeoutMs: 20_000, what: `the call of ${inferenceId}` },
      );
      waits.push(call.receivedAt - job.timestamp);
    }
    return waits;
  }

  it("B's queue wait with A saturated (by rate and by in-flight) stays within noise of B alone", async () => {
    rig = await startFlowRig(redis, stack, {
      settings: {
        endpoints: {
          '*': { maxTps: 0, maxInFlight: 0 },
          hog: { maxTps: 2, maxInFlight: 0 },
          'hog-slots': { maxTps: 0, maxInFlight: 3 },
          quick: { maxTps: 0, maxInFlight: 0 },
        },
        'limits.accountMaxTps': 100,
      },
    });
    // Warm: every process has made calls (connections open) before B's waits are measured.
    await quickWaits(10, 'warm-up');
    const alone = await quickWaits(20, 'alone');

    await rig.smad.queue.addBulk([
      ...Array.from({ length: 300 }, (_, i) => ({
        name: 'hog',
        data: { endpointName: 'hog', body: `${i}` },
      })),
      ...Array.from({ length: 100 }, (_, i) => ({
        name: 'hog-slots',
        data: { endpointName: 'hog-slots', body: `${i}` },
      })),
    ]);
    let last: unknown;
    // Saturated: every hog job picked up and parked (none left in the wait list).
    await waitFor(
      async () => {
        const [hog, slots, waiting] = await Promise.all([
          rig!.endpoint('hog'),
          rig!.endpoint('hog-slots'),
          rig!.smad.queue.getWaitingCount(),
        ]);
        last = { hog, slots, waiting };
        return (
          hog.waitingForRate >= 280 && slots.waitingForSlot >= 80 && slots.inFlight === 3 && waiting === 0
        );
      },
      { timeoutMs: 20_000, what: 'hog and hog-slots saturated' },
    ).catch((err) => {
      throw new Error(`${(err as Error).message}: ${JSON.stringify(last)}`);
    });
    const saturated = await quickWaits(20, 'saturated');
    const p95Alone = quantile(alone, 0.95);
    const p95Saturated = quantile(saturated, 0.95);
    console.log({ p95Alone, p95Saturated, alone, saturated });
    // Within noise: at most twice B's own p95 plus 100 ms. Waiting behind A (2/s with 300
    // queued, or 3 slots of 2 s for 100 jobs) would take seconds to minutes.
    expect(p95Saturated).toBeLessThanOrEqual(2 * p95Alone + 100);
    // A stayed saturated the whole time: its backlogs are still waiting.
    expect((await rig.endpoint('hog')).waitingForRate).toBeGreaterThan(200);
    expect((await rig.endpoint('hog-slots')).waitingForSlot).toBeGreaterThan(50);
  }, 90_000);

  /**
   * Redis commands while `calls` more calls reach the endpoint (MONITOR): client commands
   * (round trips) per waiting job per second, every command (Lua included) per waiting job
   * per second, and flow-control decisions (acquire scripts) per call made.
   */
  async function workWhileSaturated(endpointName: string, calls: number, waiting: () => Promise<number>) {
    const count = () => stack.emulator.requests.filter((r) => r.endpointName === endpointName).length;
    const before = count();
    const n0 = await waiting();
    const monitor = await monitorCommands(redis);
    const t0 = Date.now();
    await waitFor(() => count() >= before + calls, {
      timeoutMs: 30_000,
      what: `${calls} calls to ${endpointName}`,
    });
    const counted = await monitor.stop();
    const seconds = (Date.now() - t0) / 1000;
    const made = count() - before;
    const jobs = (n0 + (await waiting())) / 2;
    return {
      jobs,
      seconds,
      calls: made,
      clientPerJobSecond: counted.client / (jobs * seconds),
      allPerJobSecond: (counted.client + counted.lua) / (jobs * seconds),
      decisionsPerCall: counted.acquires / made,
      clientPerCall: counted.client / made,
      byCommand: counted.byCommand,
    };
  }

  /**
   * The bound (README "Flow control"): client commands (round trips) per waiting job per
   * second. A parked job costs nothing; it is woken only when its turn comes, about 10 round
   * trips per wake, and each call made wakes at most two waiters; an in-flight waiter also
   * wakes once per flow.waitFallbackSeconds (30 s). So the work is (calls/s × round trips per
   * call) / N + 10 / 30 per waiting job per second: about 0.2 here (2 calls/s, about 30 round
   * trips per call, N = 300).
   */
  const CLIENT_COMMANDS_PER_WAITING_JOB_SECOND = 1;
  /**
   * Spin detector, independent of N: flow-control decisions per call made. Two per call (the
   * job popped from the rate queue parks until its slot; at its slot, the call), at most one
   * more when its estimated turn comes before the pop, at most two waits for the hard window
   * under load: ≤ 5. Jobs polling every P seconds instead would cost N / (P × calls/s) per
   * call, more than 6 for any P < 25 s with N = 300 at 2 calls/s.
   */
  const DECISIONS_PER_CALL = 6;

  it('rate waiters: Redis work per waiting job stays bounded (300 jobs on an endpoint at 2 calls/s)', async () => {
    rig = await startFlowRig(redis, stack, {
      settings: { endpoints: { '*': { maxTps: 0, maxInFlight: 0 }, trickle: { maxTps: 2, maxInFlight: 0 } } },
    });
    await rig.smad.queue.addBulk(
      Array.from({ length: 300 }, (_, i) => ({ name: 't', data: { endpointName: 'trickle', body: `${i}` } })),
    );
    const waiting = async () => (await rig!.endpoint('trickle')).waitingForRate;
    await waitFor(async () => (await waiting()) >= 290 && (await rig!.smad.queue.getWaitingCount()) === 0, {
      timeoutMs: 20_000,
      what: 'trickle saturated',
    });
    const work = await workWhileSaturated('trickle', 10, waiting);
    console.log('rate waiters', JSON.stringify(work));
    // Counted at all (a MONITOR that matched nothing would pass the bounds below).
    expect(work.decisionsPerCall).toBeGreaterThanOrEqual(1);
    expect(work.clientPerJobSecond).toBeGreaterThan(0);
    expect(work.clientPerJobSecond).toBeLessThanOrEqual(CLIENT_COMMANDS_PER_WAITING_JOB_SECOND);
    expect(work.decisionsPerCall).toBeLessThanOrEqual(DECISIONS_PER_CALL);
  }, 90_000);

  it('in-flight waiters: Redis work per waiting job stays bounded (300 jobs for 5 slots of 2 s)', async () => {
    rig = await startFlowRig(redis, stack, {
      settings: { endpoints: { '*': { maxTps: 0, maxInFlight: 0 }, narrow: { maxTps: 0, maxInFlight: 5 } } },
    });
    await rig.smad.queue.addBulk(
      Array.from({ length: 300 }, (_, i) => ({ name: 'n', data: { endpointName: 'narrow', body: `${i}` } })),
    );
    const waiting = async () => (await rig!.endpoint('narrow')).waitingForSlot;
    await waitFor(async () => (await waiting()) >= 290 && (await rig!.smad.queue.getWaitingCount()) === 0, {
      timeoutMs: 20_000,
      what: 'narrow saturated',
    });
    const work = await workWhileSaturated('narrow', 10, waiting);
    console.log('in-flight waiters', JSON.stringify(work));
    expect(work.decisionsPerCall).toBeGreaterThanOrEqual(1);
    expect(work.clientPerJobSecond).toBeGreaterThan(0);
    expect(work.clientPerJobSecond).toBeLessThanOrEqual(CLIENT_COMMANDS_PER_WAITING_JOB_SECOND);
    expect(work.decisionsPerCall).toBeLessThanOrEqual(DECISIONS_PER_CALL);
  }, 90_000);
});
