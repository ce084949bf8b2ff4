import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type AwsStack, startAwsStack } from '../support/emulator.js';
import { PrivateRedis } from '../support/redis-server.js';
import { waitFor } from '../support/wait-for.js';
import { callsBetween, callTimes, type FlowRig, spanRate, startFlowRig, worstWindow } from './rig.js';

/**
 * Rate limits across processes: three `smad start --roles dispatcher` processes share one
 * Redis and the emulator; completions run in the test process. Every figure is measured
 * from the emulator's request log (receive time of each call), i.e. at the endpoint.
 */
describe('flow control: rate limits (3 dispatcher processes)', () => {
  let redis: PrivateRedis;
  let stack: AwsStack;
  let rig: FlowRig | undefined;

  beforeAll(async () => {
    redis = await PrivateRedis.start();
    stack = await startAwsStack({
      endpoints: [{ name: 'limited' }, { name: 'a' }, { name: 'b' }, { name: 'c' }, { name: 'stormy' }],
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

  const jobsFor = (endpointName: string, count: number) =>
    Array.from({ length: count }, (_, i) => ({ name: endpointName, data: { endpointName, body: `${i}` } }));

  it('an endpoint limited to 20 calls/s never receives more than 20 in any second, and gets ≥ 90% of 20/s under backlog', async () => {
    rig = await startFlowRig(redis, stack, {
      settings: {
        endpoints: { '*': { maxTps: 0, maxInFlight: 0 }, limited: { maxTps: 20, maxInFlight: 0 } },
      },
    });
    await rig.smad.queue.addBulk(jobsFor('limited', 300));
    await waitFor(async () => (await rig!.smad.queue.getCompletedCount()) === 300, {
      timeoutMs: 60_000,
      what: '300 completed jobs',
    });

    const times = callTimes(stack, 'limited');
    expect(times).toHaveLength(300);
    const worst = worstWindow(times, 1000);
    const rate = spanRate(times);
    console.log(
      `limited: ${times.length} calls, worst 1 s window ${worst.calls}, ${rate.toFixed(2)} calls/s`,
    );
    // For every call i: calls received in [t_i, t_i + 1000) ≤ 20.
    expect(worst.calls).toBeLessThanOrEqual(20);
    // All 300 were queued up front, so the endpoint had backlog from the first call to the last.
    expect(rate).toBeGreaterThanOrEqual(0.9 * 20);
  }, 90_000);

  it('an account limit below the sum of the endpoint limits holds across endpoints', async () => {
    rig = await startFlowRig(redis, stack, {
      settings: {
        endpoints: {
          '*': { maxTps: 0, maxInFlight: 0 },
          a: { maxTps: 20, maxInFlight: 0 },
          b: { maxTps: 20, maxInFlight: 0 },
          c: { maxTps: 20, maxInFlight: 0 },
        },
        'limits.accountMaxTps': 15,
      },
    });
    const jobs = [jobsFor('a', 60), jobsFor('b', 60), jobsFor('c', 60)].flat();
    await rig.smad.queue.addBulk(jobs);
    await waitFor(async () => (await rig!.smad.queue.getCompletedCount()) === 180, {
      timeoutMs: 60_000,
      what: '180 completed jobs',
    });

    const all = stack.emulator.requests.map((r) => r.receivedAt).sort((x, y) => x - y);
    expect(all).toHaveLength(180);
    const worst = worstWindow(all, 1000);
    const rate = spanRate(all);
    const perEndpoint = ['a', 'b', 'c'].map((e) => callTimes(stack, e));
    console.log(
      `account: worst 1 s window ${worst.calls} (limit 15), ${rate.toFixed(2)} calls/s;` +
        ` per endpoint ${perEndpoint.map((t) => t.length).join('/')}`,
    );
    expect(worst.calls).toBeLessThanOrEqual(15);
    for (const times of perEndpoint) {
      expect(times).toHaveLength(60);
      expect(worstWindow(times, 1000).calls).toBeLessThanOrEqual(20);
    }
    // The account, not the endpoints (60/s together), was the bound.
    expect(rate).toBeGreaterThanOrEqual(0.9 * 15);
  }, 90_000);

  it('a throttling storm slows every process down (shared effective rate), and the rate recovers after it', async () => {
    const limit = 20;
    rig = await startFlowRig(redis, stack, {
      settings: {
        endpoints: { '*': { maxTps: 0, maxInFlight: 0 }, stormy: { maxTps: limit, maxInFlight: 0 } },
        'flow.decreaseFactor': 0.5,
        'flow.slowDownCooldownMs': 1000,
        'flow.recoverySeconds': 2,
      },
      // Throttled calls are retried; the storm must not exhaust the attempts.
      env: { SMAD_DISPATCH_MAX_ATTEMPTS: '1000' },
    });
    await rig.smad.queue.addBulk(jobsFor('stormy', 400));
    const effective = async () => (await rig!.endpoint('stormy')).effectiveRate;

    // Steady state first.
    await waitFor(() => callTimes(stack, 'stormy').length >= 30, { timeoutMs: 20_000, what: '30 calls' });
    expect(await effective()).toBe(limit);

    // The storm: every call to the endpoint is answered 400 ThrottlingException.
    stack.emulator.setKnobs({ throttleRatio: 1 }, 'stormy');
    const stormStart = Date.now();
    let lowest = limit;
    await waitFor(
      async () => {
        lowest = Math.min(lowest, await effective());
        return Date.now() - stormStart >= 5000;
      },
      { timeoutMs: 20_000, what: '5 s of storm' },
    );
    stack.emulator.setKnobs({ throttleRatio: 0 }, 'stormy');
    const stormEnd = Date.now();

    const throttled = stack.emulator.requests.filter((r) => r.endpointName === 'stormy' && r.status === 400);
    expect(throttled.length).toBeGreaterThan(0);
    // Halved once per cooldown: 20 → 10 → 5 → 2.5 ... within the 5 s.
    expect(lowest).toBeLessThanOrEqual(limit / 4);
    // After a reaction time (two cuts; reservations made reach ≤ 1 s ahead), the calls of all
    // three processes together fall well below the limit.
    const stormRate =
      callsBetween(callTimes(stack, 'stormy'), stormStart + 2000, stormEnd) /
      ((stormEnd - stormStart - 2000) / 1000);

    // Recovery: linear, back to maxTps within recoverySeconds of the last decrease.
    const recovered = await waitFor(async () => ((await effective()) === limit ? Date.now() : 0), {
      timeoutMs: 10_000,
      what: 'the effective rate back to maxTps',
    });
    // The achieved rate climbs back: measured over the 2 s after the horizon (1 s) refilled.
    const from = recovered + 1000;
    await waitFor(() => callTimes(stack, 'stormy').some((t) => t >= from + 2000), {
      timeoutMs: 20_000,
      what: '2 s of calls after recovery',
    });
    const recoveredRate = callsBetween(callTimes(stack, 'stormy'), from, from + 2000) / 2;
    const all = callTimes(stack, 'stormy');
    console.log(
      `storm: lowest effective rate ${lowest.toFixed(2)}, ${stormRate.toFixed(2)} calls/s during the storm` +
        ` (${throttled.length} throttled), ${recoveredRate.toFixed(2)} calls/s after recovery;` +
        ` worst 1 s window ${worstWindow(all, 1000).calls}`,
    );
    expect(stormRate).toBeLessThanOrEqual(0.5 * limit);
    expect(recoveredRate).toBeGreaterThanOrEqual(0.75 * limit);
    // The hard limit held throughout, retries included.
    expect(worstWindow(all, 1000).calls).toBeLessThanOrEqual(limit);
    expect(await rig.smad.queue.getFailedCount()).toBe(0);
  }, 90_000);
});
