import type { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseEndpointPolicies } from '../../src/config/endpoint-policies.js';
import { type FlowSettings, RedisCapacity } from '../../src/flow/redis-capacity.js';
import { Ledger } from '../../src/ledger/ledger.js';
import { PrivateRedis } from '../support/redis-server.js';

describe('RedisCapacity', () => {
  let server: PrivateRedis;
  let redis: Redis;
  let clock = 1_000_000;
  let woken: string[] = [];
  let settings: FlowSettings;
  let capacity: RedisCapacity;
  const now = () => clock;
  /**
   * SageMaker accepted the call granted to `inferenceId`: the ledger's `submitted` transition
   * with flow control's bookkeeping (the record itself is not needed for the flow keys).
   */
  const answer = (endpoint: string, inferenceId: string, leaseUntilMs = clock + 60_000) =>
    new Ledger(redis, 't', 3600).advance(
      inferenceId,
      'submitted',
      {},
      clock,
      capacity.planAccepted(endpoint, inferenceId, leaseUntilMs),
    );

  beforeAll(async () => {
    server = await PrivateRedis.start();
    redis = server.client();
  });
  afterAll(async () => {
    redis?.disconnect();
    await server?.destroy();
  });
  beforeEach(async () => {
    await redis.flushall();
    clock = 1_000_000;
    woken = [];
    settings = {
      endpoints: parseEndpointPolicies({
        '*': { maxTps: 0, maxInFlight: 0 },
        slow: { maxTps: 10, maxInFlight: 0 },
        capped: { maxTps: 0, maxInFlight: 2 },
        bursty: { maxTps: 5, burst: 3, maxInFlight: 0 },
      }),
      accountMaxTps: 0,
      decreaseFactor: 0.5,
      recoverySeconds: 10,
      slowDownCooldownMs: 1000,
      windowMarginMs: 0,
      waitFallbackSeconds: 30,
    };
    capacity = new RedisCapacity(
      redis,
      't',
      () => settings,
      async (jobId) => woken.push(jobId),
      now,
      { wakeTimers: false },
    );
  });

  it('spaces calls at 1/maxTps by reserving each waiting call its own slot', async () => {
    expect(await capacity.acquire('slow', 'i1', clock + 60_000)).toEqual({ granted: true });
    expect(await capacity.acquire('slow', 'i2', clock + 60_000)).toEqual({
      granted: false,
      reason: 'rate',
      retryAtMs: clock + 100,
    });
    expect(await capacity.acquire('slow', 'i3', clock + 60_000)).toEqual({
      granted: false,
      reason: 'rate',
      retryAtMs: clock + 200,
    });
    // Waking early changes nothing: the reservation stands.
    expect(await capacity.acquire('slow', 'i3', clock + 60_000)).toMatchObject({ retryAtMs: clock + 200 });
    clock += 100;
    expect(await capacity.acquire('slow', 'i2', clock + 60_000)).toEqual({ granted: true });
    clock += 100;
    expect(await capacity.acquire('slow', 'i3', clock + 60_000)).toEqual({ granted: true });
    const [state] = (await capacity.inspect()).filter((e) => e.endpointName === 'slow');
    expect(state).toMatchObject({ effectiveRate: 10, waitingForRate: 0, inFlight: 3 });
  });

  it('never lets more than maxTps calls into one window, whatever the reservations say', async () => {
    settings.endpoints.slow = { ...settings.endpoints.slow!, burst: 20 };
    let granted = 0;
    for (let i = 0; i < 15; i++)
      if ((await capacity.acquire('slow', `b${i}`, clock + 60_000)).granted) granted++;
    expect(granted).toBe(10);
    const refused = await capacity.acquire('slow', 'b-late', clock + 60_000);
    expect(refused).toMatchObject({ granted: false, reason: 'rate' });
  });

  it('allows a configured burst, then the steady rate', async () => {
    const results = [];
    for (let i = 0; i < 4; i++) results.push(await capacity.acquire('bursty', `x${i}`, clock + 60_000));
    expect(results.slice(0, 3).every((r) => r.granted)).toBe(true);
    expect(results[3]).toMatchObject({ granted: false, retryAtMs: clock + 200 });
  });

  it('holds an account limit across endpoints', async () => {
    settings.accountMaxTps = 4;
    const results = [];
    for (const endpoint of ['a', 'b', 'c', 'd', 'e'])
      results.push(await capacity.acquire(endpoint, `acc-${endpoint}`, clock + 60_000));
    expect(results.slice(0, 1).every((r) => r.granted)).toBe(true);
    expect(results.filter((r) => r.granted)).toHaveLength(1);
    expect(results[1]).toMatchObject({ granted: false, reason: 'rate', retryAtMs: clock + 250 });
    expect(results[4]).toMatchObject({ granted: false, reason: 'rate', retryAtMs: clock + 1000 });
  });

  it('caps in-flight inferences; the ledger frees a slot on resolution and the waiter is woken', async () => {
    const ledger = new Ledger(redis, 't', 3600, { onSlotFreed: async (jobId) => woken.push(jobId) });
    for (const id of ['f1', 'f2', 'f3']) {
      await ledger.claim({
        jobId: `job-${id}`,
        jobTimestamp: 1,
        newInferenceId: id,
        endpointName: 'capped',
        initialStatus: 'submitting',
      });
    }
    expect(await capacity.acquire('capped', 'f1', clock + 60_000, 'job-f1')).toEqual({ granted: true });
    expect(await capacity.acquire('capped', 'f2', clock + 60_000, 'job-f2')).toEqual({ granted: true });
    const refused = await capacity.acquire('capped', 'f3', clock + 60_000, 'job-f3');
    expect(refused).toMatchObject({ granted: false, reason: 'in-flight' });
    // A retry of an inference already holding a slot is not counted twice.
    expect(await capacity.acquire('capped', 'f1', clock + 60_000, 'job-f1')).toEqual({ granted: true });
    await ledger.advance('f1', 'submitted');
    await ledger.advance('f1', 'completed');
    expect(woken).toEqual(['job-f3']);
    expect(await capacity.acquire('capped', 'f3', clock + 60_000, 'job-f3')).toEqual({ granted: true });
    const [state] = (await capacity.inspect()).filter((e) => e.endpointName === 'capped');
    expect(state).toMatchObject({ inFlight: 2, waitingForSlot: 0 });
  });

  it('gives back a slot the call did not use, and slots of crashed processes expire with their lease', async () => {
    expect(await capacity.acquire('capped', 'g1', clock + 5_000, 'job-g1')).toEqual({ granted: true });
    expect(await capacity.acquire('capped', 'g2', clock + 60_000, 'job-g2')).toEqual({ granted: true });
    const refused = await capacity.acquire('capped', 'g3', clock + 60_000, 'job-g3');
    // Woken by a freed slot; at the latest after waitFallbackSeconds.
    expect(refused).toEqual({ granted: false, reason: 'in-flight', retryAtMs: clock + 30_000 });
    await capacity.refused('capped', 'g2');
    expect(woken).toEqual(['job-g3']);
    expect(await capacity.acquire('capped', 'g3', clock + 60_000, 'job-g3')).toEqual({ granted: true });
    expect(await capacity.acquire('capped', 'g4', clock + 60_000, 'job-g4')).toMatchObject({
      granted: false,
    });
    clock += 5_001; // g1's process died: its lease ran out
    expect(await capacity.acquire('capped', 'g4', clock + 60_000, 'job-g4')).toEqual({ granted: true });
  });

  it('a waiter wakes by itself later the further back it waits: a huge backlog costs few pickups', async () => {
    for (const id of ['h1', 'h2']) await capacity.acquire('capped', id, clock + 600_000, `job-${id}`);
    const fallbacks: number[] = [];
    for (let i = 1; i <= 7; i++) {
      const refused = await capacity.acquire('capped', `w${i}`, clock + 600_000, `job-w${i}`);
      expect(refused).toMatchObject({ granted: false, reason: 'in-flight' });
      if (!refused.granted) fallbacks.push(refused.retryAtMs - clock);
    }
    // Two slots: two waiters per round of waitFallbackSeconds (30 s).
    expect(fallbacks).toEqual([30_000, 30_000, 60_000, 60_000, 90_000, 90_000, 120_000]);
    // Asking again keeps a waiter's place (and so its wait).
    expect(await capacity.acquire('capped', 'w5', clock + 600_000, 'job-w5')).toMatchObject({
      retryAtMs: clock + 90_000,
    });
    settings.waitFallbackSeconds = 86_400;
    expect(await capacity.acquire('capped', 'w7', clock + 600_000, 'job-w7')).toMatchObject({
      retryAtMs: clock + 86_400_000,
    });
  });

  it("forgets a reservation's wake timer once the job is granted or waits for something else", async () => {
    const timed = new RedisCapacity(
      redis,
      't',
      () => settings,
      async (jobId) => woken.push(jobId),
      now,
    );
    const timers = () => (timed as unknown as { wakeTimers: Map<string, unknown> }).wakeTimers;
    expect(await timed.acquire('slow', 't1', clock + 60_000, 'job-t1')).toEqual({ granted: true });
    expect(await timed.acquire('slow', 't2', clock + 60_000, 'job-t2')).toMatchObject({ reason: 'rate' });
    expect([...timers().keys()]).toEqual(['job-t2']);
    clock += 100;
    expect(await timed.acquire('slow', 't2', clock + 60_000, 'job-t2')).toEqual({ granted: true });
    // Fired later, the timer would wake job-t2 from its next park (awaiting its outcome).
    expect(timers().size).toBe(0);
  });

  it('halves the rate on throttling at most once per cooldown, then recovers linearly', async () => {
    await capacity.onSlowDown('slow');
    await capacity.onSlowDown('slow');
    const rate = async () => (await capacity.inspect()).find((e) => e.endpointName === 'slow')?.effectiveRate;
    expect(await rate()).toBe(5);
    clock += 1_000;
    expect(await rate()).toBe(6);
    await capacity.onSlowDown('slow');
    expect(await rate()).toBe(3);
    clock += 7_000;
    expect(await rate()).toBe(10);
    // The slower rate spaces reservations further apart.
    await capacity.onSlowDown('slow');
    expect(await capacity.acquire('slow', 'r1', clock + 60_000)).toEqual({ granted: true });
    expect(await capacity.acquire('slow', 'r2', clock + 60_000)).toEqual({
      granted: false,
      reason: 'rate',
      retryAtMs: clock + 200,
    });
  });

  it('spaces reservations window / rate apart, so the cursor and the hard window (1 s + margin) agree', async () => {
    settings.windowMarginMs = 20;
    expect(await capacity.acquire('slow', 'm1', clock + 60_000)).toEqual({ granted: true });
    // 10/s in 1020 ms windows: one call every 102 ms, never an 11th call in a window.
    expect(await capacity.acquire('slow', 'm2', clock + 60_000)).toMatchObject({ retryAtMs: clock + 102 });
    expect(await capacity.acquire('slow', 'm3', clock + 60_000)).toMatchObject({ retryAtMs: clock + 204 });
  });

  it("reserves the account's slot only once the endpoint's is due: a slow endpoint's backlog never delays another endpoint", async () => {
    settings.accountMaxTps = 100;
    for (let i = 0; i < 50; i++) await capacity.acquire('slow', `h${i}`, clock + 60_000);
    // 'other' (unlimited) is paced by the account alone (10 ms), not behind slow's 5 s backlog.
    expect(await capacity.acquire('other', 'o1', clock + 60_000)).toEqual({
      granted: false,
      reason: 'rate',
      retryAtMs: clock + 10,
    });
    clock += 10;
    expect(await capacity.acquire('other', 'o1', clock + 60_000)).toEqual({ granted: true });
  });

  it('reserves at most a horizon ahead; the queue beyond it takes the rate in force when its turn comes', async () => {
    await capacity.onSlowDown('slow'); // 10 → 5/s: one slot every 200 ms
    const t0 = clock;
    // The queue is FIFO by arrival (ms; ties by id): ids that sort in arrival order.
    const id = (i: number) => `j${String(i).padStart(2, '0')}`;
    const results = [];
    for (let i = 0; i < 30; i++) results.push(await capacity.acquire('slow', id(i), clock + 60_000, id(i)));
    expect(results[0]).toEqual({ granted: true });
    expect(results[5]).toEqual({ granted: false, reason: 'rate', retryAtMs: t0 + 1000 });
    expect(results[6]).toMatchObject({ granted: false, reason: 'rate-queue' });
    expect((await capacity.inspect()).find((e) => e.endpointName === 'slow')).toMatchObject({
      waitingForRate: 29,
    });
    // Recovered (10 s to grow back from 0): the queue is reserved at 10/s, not at 5/s.
    clock = t0 + 5_000;
    expect(await capacity.acquire('slow', id(1), clock + 60_000, id(1))).toEqual({ granted: true });
    expect(woken).toEqual([6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16].map(id));
    expect(await capacity.acquire('slow', id(16), clock + 60_000, id(16))).toMatchObject({
      reason: 'rate',
      retryAtMs: clock + 1000,
    });
  });

  it('a job popped from the rate queue or the waiting set while still active must wake itself', async () => {
    settings.reservationHorizonMs = 200;
    await capacity.acquire('slow', 'q0', clock + 60_000, 'q0');
    await capacity.acquire('slow', 'q1', clock + 60_000, 'q1'); // slot +100
    await capacity.acquire('slow', 'q2', clock + 60_000, 'q2'); // slot +200
    const queued = await capacity.acquire('slow', 'q3', clock + 60_000, 'q3');
    expect(queued).toMatchObject({ granted: false, reason: 'rate-queue' });
    if (queued.granted) throw new Error('unreachable');
    expect(await capacity.missedWake('slow', 'q3', queued)).toBe(false);
    clock += 100;
    expect(await capacity.acquire('slow', 'q1', clock + 60_000, 'q1')).toEqual({ granted: true });
    expect(woken).toEqual(['q3']);
    expect(await capacity.missedWake('slow', 'q3', queued)).toBe(true);
    // A reservation: missed once its slot passed while the job was parking.
    const reserved = { granted: false, reason: 'rate', retryAtMs: clock + 100 } as const;
    expect(await capacity.missedWake('slow', 'q2', reserved)).toBe(false);
    clock += 100;
    expect(await capacity.missedWake('slow', 'q2', reserved)).toBe(true);
  });

  it('a call that would crowd the hard window takes a new reservation: late jobs are spread, never herded', async () => {
    settings.endpoints.slow = { ...settings.endpoints.slow!, burst: 20 };
    for (let i = 0; i < 10; i++)
      expect(await capacity.acquire('slow', `w${i}`, clock + 60_000)).toEqual({ granted: true });
    const a = await capacity.acquire('slow', 'late-a', clock + 60_000);
    const b = await capacity.acquire('slow', 'late-b', clock + 60_000);
    if (a.granted || b.granted) throw new Error('the window must be full');
    expect(a.retryAtMs).toBeGreaterThan(clock + 1000);
    expect(b.retryAtMs - a.retryAtMs).toBe(200);
  });

  it('counts a slow call in the window from its answer (less the margin): it cannot crowd a later window at the endpoint', async () => {
    settings.windowMarginMs = 20;
    const t0 = clock;
    expect(await capacity.acquire('slow', 's1', clock + 60_000)).toEqual({ granted: true });
    for (let i = 2; i <= 11; i++) await capacity.acquire('slow', `s${i}`, clock + 60_000); // slots 102 ms apart
    for (let i = 2; i <= 10; i++) {
      clock = t0 + (i - 1) * 102;
      // s1's answer came 300 ms after its grant: SageMaker may have received it that late.
      if (i === 4) {
        clock = t0 + 300;
        await answer('slow', 's1');
        clock = t0 + (i - 1) * 102;
      }
      expect(await capacity.acquire('slow', `s${i}`, clock + 60_000)).toEqual({ granted: true });
      await answer('slow', `s${i}`);
    }
    clock = t0 + 1020;
    // Without the answer s1 (granted at t0) would have left the window by now.
    expect(await capacity.acquire('slow', 's11', clock + 60_000)).toMatchObject({
      granted: false,
      reason: 'rate',
    });
  });

  it('a call answered a little late delays the call a window later by as much, and no slot is lost', async () => {
    settings.windowMarginMs = 20;
    const t0 = clock;
    for (let i = 1; i <= 12; i++) await capacity.acquire('slow', `d${i}`, clock + 60_000); // d1 now, then 102 ms apart
    clock = t0 + 50;
    await answer('slow', 'd1'); // counted from t0 + 30 on
    for (let i = 2; i <= 10; i++) {
      clock = t0 + (i - 1) * 102;
      expect(await capacity.acquire('slow', `d${i}`, clock + 60_000)).toEqual({ granted: true });
      await answer('slow', `d${i}`);
    }
    clock = t0 + 1020;
    expect(await capacity.acquire('slow', 'd11', clock + 60_000)).toEqual({
      granted: false,
      reason: 'rate',
      retryAtMs: t0 + 30 + 1021,
    });
    clock = t0 + 1051;
    expect(await capacity.acquire('slow', 'd11', clock + 60_000)).toEqual({ granted: true });
    await answer('slow', 'd11');
    clock = t0 + 1122;
    expect(await capacity.acquire('slow', 'd12', clock + 60_000)).toEqual({ granted: true });
  });

  it('a call answered fast counts from its answer: a grant a little late costs the call a window later nothing', async () => {
    settings.windowMarginMs = 20;
    const t0 = clock;
    for (let i = 0; i <= 11; i++) await capacity.acquire('slow', `f${i}`, clock + 60_000); // f0 now, then 102 ms apart
    await answer('slow', 'f0');
    for (let i = 1; i <= 10; i++) {
      clock = t0 + i * 102 + (i === 1 ? 5 : 0); // f1 granted 5 ms after its slot
      expect(await capacity.acquire('slow', `f${i}`, clock + 60_000)).toEqual({ granted: true });
      if (i === 1) clock += 3; // f1 received by t0 + 110 at the latest
      await answer('slow', `f${i}`);
    }
    // Counted from its grant (t0 + 107), f1 would still fill the window at f11's slot.
    clock = t0 + 11 * 102;
    expect(await capacity.acquire('slow', 'f11', clock + 60_000)).toEqual({ granted: true });
  });

  it('a call not yet answered counts in every window: SageMaker may receive it any time until then', async () => {
    settings.windowMarginMs = 20;
    const t0 = clock;
    for (let i = 0; i <= 10; i++) await capacity.acquire('slow', `p${i}`, clock + 60_000); // p0 now, then 102 ms apart
    for (let i = 1; i <= 9; i++) {
      clock = t0 + i * 102;
      expect(await capacity.acquire('slow', `p${i}`, clock + 60_000)).toEqual({ granted: true });
      await answer('slow', `p${i}`);
    }
    // p0, granted at t0, is still unanswered at p10's slot: it still counts, the window is full.
    clock = t0 + 1020;
    const refused = await capacity.acquire('slow', 'p10', clock + 60_000);
    expect(refused).toMatchObject({ granted: false, reason: 'rate' });
    if (refused.granted) throw new Error('unreachable');
    await answer('slow', 'p0'); // answered now: it counts until now + 1 s
    clock = refused.retryAtMs;
    expect(await capacity.acquire('slow', 'p10', clock + 60_000)).toEqual({ granted: true });
  });

  it('waits in process only for a slot due within the horizon, and only a few jobs per process at once', async () => {
    settings.localWaitSlots = 1;
    const near = { granted: false, reason: 'rate', retryAtMs: clock + 30 } as const;
    const first = capacity.waitLocally('n1', near);
    // The one local slot is taken: the next job parks.
    expect(await capacity.waitLocally('n2', near)).toBe(false);
    expect(await first).toBe(true);
    expect(await capacity.waitLocally('n3', { ...near, retryAtMs: clock + 5_000 })).toBe(false);
    expect(await capacity.waitLocally('n4', { ...near, reason: 'in-flight' })).toBe(false);
  });

  it('throttles within the cooldown hold the rate down: it grows back only while answers are clean', async () => {
    const rate = async () => (await capacity.inspect()).find((e) => e.endpointName === 'slow')?.effectiveRate;
    await capacity.onSlowDown('slow');
    expect(await rate()).toBe(5);
    clock += 500;
    await capacity.onSlowDown('slow'); // no new cut, and the 0.5 s of recovery is void
    expect(await rate()).toBe(5);
    clock += 500;
    expect(await rate()).toBe(5.5);
    await capacity.onSlowDown('slow'); // a second after the cut: cut again
    expect(await rate()).toBe(2.75);
  });

  it('a lease that ran out frees its slot like a release (a waiter is woken); inspect never sweeps', async () => {
    expect(await capacity.acquire('capped', 'e1', clock + 5_000, 'job-e1')).toEqual({ granted: true });
    expect(await capacity.acquire('capped', 'e2', clock + 60_000, 'job-e2')).toEqual({ granted: true });
    expect(await capacity.acquire('capped', 'e3', clock + 60_000, 'job-e3')).toMatchObject({
      reason: 'in-flight',
    });
    clock += 5_001;
    expect((await capacity.inspect()).find((e) => e.endpointName === 'capped')).toMatchObject({
      inFlight: 1,
      waitingForSlot: 1,
    });
    expect(woken).toEqual([]);
    // Any decision on the endpoint sweeps: the waiter is woken (here a newcomer takes the slot first).
    expect(await capacity.acquire('capped', 'e4', clock + 60_000, 'job-e4')).toEqual({ granted: true });
    expect(woken).toEqual(['job-e3']);
  });

  it('leases run past the deadline by the grace: the terminal transition, not the lease, frees a live slot', async () => {
    settings.leaseGraceMs = 1_500;
    await capacity.acquire('capped', 'l1', clock + 100, 'job-l1');
    expect(Number(await redis.zscore(capacity.keys.inFlight('capped'), 'l1'))).toBe(clock + 1_600);
    await answer('capped', 'l1', clock + 200);
    expect(Number(await redis.zscore(capacity.keys.inFlight('capped'), 'l1'))).toBe(clock + 1_700);
  });

  describe("in the ledger's round trips", () => {
    const claimInput = (jobId: string, inferenceId: string, endpointName = 'capped') => ({
      jobId,
      jobTimestamp: 1,
      newInferenceId: inferenceId,
      endpointName,
      initialStatus: 'submitting' as const,
    });
    const inFlight = async (endpoint = 'capped') =>
      redis.zrange(capacity.keys.inFlight(endpoint), '0', '-1', 'WITHSCORES');

    it('a claim takes the decision for the inference it decides, exactly as acquire would', async () => {
      const ledger = new Ledger(redis, 't', 3600);
      const plan = (jobId: string) => capacity.planAcquire('capped', clock + 60_000, jobId);
      const first = await ledger.claim(claimInput('job-c1', 'c1'), clock, plan('job-c1'));
      expect(first).toMatchObject({ kind: 'created', inferenceId: 'c1', grant: { granted: true } });
      // The same job picked up again: the same inference, which holds its slot already.
      const again = await ledger.claim(claimInput('job-c1', 'unused'), clock, plan('job-c1'));
      expect(again).toMatchObject({ kind: 'existing', inferenceId: 'c1', grant: { granted: true } });
      expect(await ledger.claim(claimInput('job-c2', 'c2'), clock, plan('job-c2'))).toMatchObject({
        grant: { granted: true },
      });
      const full = await ledger.claim(claimInput('job-c3', 'c3'), clock, plan('job-c3'));
      // Refused for the cap, and written ahead all the same (its pickup comes back to it).
      expect(full).toMatchObject({
        kind: 'created',
        status: 'submitting',
        grant: { granted: false, reason: 'in-flight', retryAtMs: clock + 30_000 },
      });
      expect(await inFlight()).toEqual(['c1', String(clock + 60_000), 'c2', String(clock + 60_000)]);
      expect(await redis.zrange(capacity.keys.waiting('capped'), '0', '-1')).toEqual(['job-c3']);
    });

    it('a claim takes no decision for a duplicate id or a record past submitting', async () => {
      const ledger = new Ledger(redis, 't', 3600);
      await ledger.claim(claimInput('job-d1', 'd1', 'other'), clock);
      const duplicate = await ledger.claim(
        { ...claimInput('job-d2', 'x'), suppliedInferenceId: 'd1' },
        clock,
        capacity.planAcquire('capped', clock + 60_000, 'job-d2'),
      );
      expect(duplicate).toEqual({ kind: 'duplicate', inferenceId: 'd1', status: 'submitting' });
      await ledger.advance('d1', 'submitted');
      await ledger.advance('d1', 'completed');
      const finished = await ledger.claim(
        claimInput('job-d1', 'x', 'capped'),
        clock,
        capacity.planAcquire('capped', clock + 60_000, 'job-d1'),
      );
      expect(finished).toMatchObject({
        kind: 'existing',
        status: 'completed',
        record: { inferenceId: 'd1' },
      });
      expect(finished).not.toHaveProperty('grant');
      expect(await inFlight()).toEqual([]);
    });

    it('the submitted transition renews the lease and stamps the answer, but never revives a slot the notification freed', async () => {
      settings.leaseGraceMs = 1_000;
      const ledger = new Ledger(redis, 't', 3600);
      for (const id of ['a1', 'a2'])
        expect(
          await ledger.claim(
            claimInput(`job-${id}`, id),
            clock,
            capacity.planAcquire('capped', clock + 100, `job-${id}`),
          ),
        ).toMatchObject({ grant: { granted: true } });
      const deadline = clock + 50_000;
      const ok = await ledger.advance(
        'a1',
        'submitted',
        {},
        clock,
        capacity.planAccepted('capped', 'a1', deadline),
      );
      expect(ok).toMatchObject({ kind: 'ok', previous: 'submitting' });
      // The notification for a2 came first: its slot is gone and stays gone.
      await ledger.advance('a2', 'completed');
      const stale = await ledger.advance(
        'a2',
        'submitted',
        {},
        clock,
        capacity.planAccepted('capped', 'a2', deadline),
      );
      expect(stale).toMatchObject({ kind: 'stale', current: 'completed' });
      expect(await inFlight()).toEqual(['a1', String(deadline + 1_000)]);
    });

    it('the submitted transition stamps the call in the hard windows from its answer', async () => {
      const ledger = new Ledger(redis, 't', 3600);
      await ledger.claim(
        claimInput('job-w1', 'w1', 'slow'),
        clock,
        capacity.planAcquire('slow', clock + 60_000, 'job-w1'),
      );
      const calls = capacity.keys.calls('slow');
      // In flight until answered: it counts in every window until the request timeout.
      expect(Number((await redis.zrange(calls, '0', '-1', 'WITHSCORES'))[1])).toBeGreaterThan(clock + 1_000);
      clock += 40;
      await ledger.advance('w1', 'submitted', {}, clock, capacity.planAccepted('slow', 'w1', clock + 60_000));
      expect(await redis.zrange(calls, '0', '-1', 'WITHSCORES')).toEqual([`w1@${clock - 40}`, String(clock)]);
    });
  });
});
