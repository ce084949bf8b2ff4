import type { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { INFERENCE_STATUSES, TRANSITIONS } from '../../src/contract/status.js';
import { Ledger } from '../../src/ledger/ledger.js';
import { PrivateRedis } from '../support/redis-server.js';

describe('ledger', () => {
  let server: PrivateRedis;
  let redis: Redis;
  let ledger: Ledger;
  let n = 0;
  const nextJob = () => ({ jobId: `job-${++n}`, jobTimestamp: 1000 + n });

  beforeAll(async () => {
    server = await PrivateRedis.start();
    redis = server.client();
    ledger = new Ledger(redis, 'test', 3600);
  });
  afterAll(async () => {
    redis?.disconnect();
    await server?.destroy();
  });
  beforeEach(async () => {
    await redis.flushall();
  });

  const claimNew = async (overrides: Partial<Parameters<Ledger['claim']>[0]> = {}) => {
    const job = nextJob();
    const claim = await ledger.claim({
      ...job,
      newInferenceId: `inf-${n}`,
      endpointName: 'ep',
      initialStatus: 'submitting',
      ...overrides,
    });
    return { ...job, claim };
  };

  it('writes the record ahead (submitting) and finds it again for the same job', async () => {
    const { jobId, jobTimestamp, claim } = await claimNew({
      metadata: { a: 1 },
      webhookUrl: 'https://x.example/h',
    });
    expect(claim).toEqual({ kind: 'created', inferenceId: `inf-${n}`, status: 'submitting' });
    const again = await ledger.claim({
      jobId,
      jobTimestamp,
      newInferenceId: 'another-fresh-id',
      endpointName: 'ep',
      initialStatus: 'submitting',
    });
    expect(again).toEqual({ kind: 'existing', inferenceId: claim.inferenceId, status: 'submitting' });
    const record = await ledger.getByJobId(jobId);
    expect(record).toMatchObject({
      inferenceId: claim.inferenceId,
      jobId,
      endpointName: 'ep',
      status: 'submitting',
      attempts: 0,
      metadata: { a: 1 },
      webhook: { url: 'https://x.example/h', state: 'pending' },
    });
  });

  it('treats a new job reusing an old job id as a new job', async () => {
    const { jobId, claim } = await claimNew();
    const reused = await ledger.claim({
      jobId,
      jobTimestamp: 999_999,
      newInferenceId: 'fresh',
      endpointName: 'ep',
      initialStatus: 'submitting',
    });
    expect(reused).toEqual({ kind: 'created', inferenceId: 'fresh', status: 'submitting' });
    expect(claim.inferenceId).not.toBe('fresh');
  });

  it('rejects a supplied inferenceId that belongs to another job, changing nothing', async () => {
    await claimNew({ suppliedInferenceId: 'mine' });
    const before = await redis.hgetall('test:ledger:inf:mine');
    const { claim } = await claimNew({ suppliedInferenceId: 'mine' });
    expect(claim).toEqual({ kind: 'duplicate', inferenceId: 'mine', status: 'submitting' });
    expect(await redis.hgetall('test:ledger:inf:mine')).toEqual(before);
  });

  it('moves only forward: every (from, to) pair agrees with the contract table', async () => {
    for (const from of INFERENCE_STATUSES) {
      for (const to of INFERENCE_STATUSES) {
        const { claim } = await claimNew();
        await redis.hset(`test:ledger:inf:${claim.inferenceId}`, 'status', from);
        const result = await ledger.advance(claim.inferenceId, to);
        const allowed = TRANSITIONS[from].includes(to);
        expect({ from, to, kind: result.kind }).toEqual({ from, to, kind: allowed ? 'ok' : 'stale' });
        const status = await redis.hget(`test:ledger:inf:${claim.inferenceId}`, 'status');
        expect(status).toBe(allowed ? to : from);
      }
    }
  });

  it('a terminal transition appends one outbox event, releases the slot and starts retention', async () => {
    const { claim } = await claimNew({ endpointName: 'ep-a', webhookUrl: 'https://x.example/h' });
    await redis.zadd('test:flow:inflight:ep-a', Date.now() + 60_000, claim.inferenceId);
    await ledger.advance(claim.inferenceId, 'submitted', { set: { outputLocation: 's3://b/o.out' } });
    expect(await redis.xlen(ledger.keys.outbox)).toBe(0);
    const done = await ledger.advance(claim.inferenceId, 'completed', {
      set: { responseContentType: 'text/plain' },
    });
    expect(done).toMatchObject({ kind: 'ok', previous: 'submitted' });
    const late = await ledger.advance(claim.inferenceId, 'failed', { set: { failureReason: 'late' } });
    expect(late).toMatchObject({ kind: 'stale', current: 'completed' });
    const events = await redis.xrange(ledger.keys.outbox, '-', '+');
    expect(events).toHaveLength(1);
    expect(events[0]?.[1]).toEqual([
      'type',
      'inference.completed',
      'inferenceId',
      claim.inferenceId,
      'at',
      expect.any(String),
    ]);
    expect(await redis.zcard('test:flow:inflight:ep-a')).toBe(0);
    expect(await redis.ttl(`test:ledger:inf:${claim.inferenceId}`)).toBeGreaterThan(3000);
    const record = await ledger.get(claim.inferenceId);
    expect(record).toMatchObject({
      status: 'completed',
      failureReason: null,
      attempts: 1,
      outputLocation: 's3://b/o.out',
    });
    expect(record?.resolvedAt).not.toBeNull();
  });

  it('a record without a webhook URL appends no outbox event (nothing to send), and still frees its slot', async () => {
    const { claim } = await claimNew({ endpointName: 'ep-b' });
    await redis.zadd('test:flow:inflight:ep-b', Date.now() + 60_000, claim.inferenceId);
    await ledger.advance(claim.inferenceId, 'completed');
    expect(await redis.xlen(ledger.keys.outbox)).toBe(0);
    expect(await redis.zcard('test:flow:inflight:ep-b')).toBe(0);
    expect(await ledger.get(claim.inferenceId)).toMatchObject({
      status: 'completed',
      webhook: { state: 'none' },
    });
  });

  it('fills missing fields even when the transition is stale (the late 202 after a notification)', async () => {
    const { claim } = await claimNew();
    await ledger.advance(claim.inferenceId, 'completed', {
      fill: { outputLocation: 's3://b/from-notification.out' },
    });
    const late = await ledger.advance(claim.inferenceId, 'submitted', {
      set: { outputLocation: 's3://b/ignored.out', submittedAt: 5 },
      fill: { outputLocation: 's3://b/ignored.out', failureLocation: 's3://b/f.out' },
    });
    expect(late).toMatchObject({ kind: 'stale', current: 'completed' });
    const record = await ledger.get(claim.inferenceId);
    expect(record).toMatchObject({
      status: 'completed',
      outputLocation: 's3://b/from-notification.out',
      failureLocation: 's3://b/f.out',
      submittedAt: null,
    });
  });

  it('records a rejected job as final at claim, with its event', async () => {
    const { claim } = await claimNew({
      initialStatus: 'rejected',
      failureReason: 'invalid job: x',
      webhookUrl: 'https://x.example/h',
    });
    expect(claim.status).toBe('rejected');
    const record = await ledger.get(claim.inferenceId);
    expect(record).toMatchObject({ status: 'rejected', failureReason: 'invalid job: x' });
    const events = await redis.xrange(ledger.keys.outbox, '-', '+');
    expect(events.map((e) => e[1][1])).toEqual(['inference.rejected']);
  });

  it('counts retries only while submitting, and reports a record gone or missing', async () => {
    const { claim } = await claimNew();
    expect(await ledger.noteRetry(claim.inferenceId, 'ThrottlingException: slow down')).toBe(1);
    expect(await ledger.noteRetry(claim.inferenceId, 'ServiceUnavailable: x')).toBe(2);
    await ledger.advance(claim.inferenceId, 'completed');
    expect(await ledger.noteRetry(claim.inferenceId, 'late')).toBe(-1);
    expect(await ledger.advance('no-such-id', 'completed')).toEqual({ kind: 'missing' });
    expect(await ledger.setFields('no-such-id', { webhookState: 'delivered' })).toBe(false);
    expect(await redis.exists('test:ledger:inf:no-such-id')).toBe(0);
  });
});
