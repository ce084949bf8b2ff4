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
    expect(refused).toEqual({ granted: false, reason: 'in-flight', retryAtMs: clock + 5_000 });
    await capacity.release('capped', 'g2');
    expect(woken).toEqual(['job-g3']);
    expect(await capacity.acquire('capped', 'g3', clock + 60_000, 'job-g3')).toEqual({ granted: true });
    expect(await capacity.acquire('capped', 'g4', clock + 60_000, 'job-g4')).toMatchObject({
      granted: false,
    });
    clock += 5_001; // g1's process died: its lease ran out
    expect(await capacity.acquire('capped', 'g4', clock + 60_000, 'job-g4')).toEqual({ granted: true });
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
});
