import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { webhookIdFor } from '../../src/contract/webhook-event.js';
import { Ledger } from '../../src/ledger/ledger.js';
import { openDeliveryQueue } from '../../src/webhooks/delivery-queue.js';
import {
  defaultClaimIdleMs,
  type OutboxEntry,
  OutboxRelay,
  type RelayOutcome,
} from '../../src/webhooks/outbox-relay.js';
import { PrivateRedis } from '../support/redis-server.js';
import { waitFor } from '../support/wait-for.js';
import {
  type Harness,
  newSecret,
  Receiver,
  resolveInference,
  silentLogger,
  startHarness,
  testConfig,
} from './helpers.js';

describe('defaultClaimIdleMs', () => {
  it('never takes over an entry whose first attempt may still be in progress', () => {
    expect(defaultClaimIdleMs(15_000)).toBe(60_000);
    expect(defaultClaimIdleMs(60_000)).toBe(135_000);
    for (const timeout of [1_000, 15_000, 30_000, 120_000, 600_000])
      expect(defaultClaimIdleMs(timeout)).toBeGreaterThan(timeout);
  });
});

describe('outbox relay', () => {
  let redis: PrivateRedis;
  let connection: Redis;
  let receiver: Receiver;
  const harnesses: Harness[] = [];

  beforeAll(async () => {
    redis = await PrivateRedis.start();
    connection = redis.client();
    receiver = await Receiver.start();
  });
  afterEach(async () => {
    for (const h of harnesses.splice(0)) await h.close();
    receiver.reply = () => ({ status: 200, body: 'ok' });
  });
  afterAll(async () => {
    await receiver?.stop();
    connection?.disconnect();
    await redis?.destroy();
  });

  it('relaying the same event twice adds one delivery job with one body', async () => {
    const config = testConfig(redis.url, { 'webhooks.secret': [newSecret()] });
    const ledger = new Ledger(connection, config.queue.prefix, 86_400);
    const queue = openDeliveryQueue(config, connection);
    const relay = new OutboxRelay({ config, connection, ledger, queue, logger: silentLogger });
    try {
      const inferenceId = await resolveInference(ledger, {
        status: 'completed',
        webhookUrl: receiver.url('/twice'),
      });
      const [[entryId, fields]] = (await connection.xrange(ledger.keys.outbox, '-', '+')) as [
        [string, string[]],
      ];
      const entry: OutboxEntry = {
        id: entryId,
        type: fields[1] as string,
        inferenceId,
        at: Number(fields[5]),
      };
      expect(fields).toEqual([
        'type',
        'inference.completed',
        'inferenceId',
        inferenceId,
        'at',
        expect.any(String),
      ]);
      expect(await relay.relay(entry)).toBe('queued');
      const first = await queue.getJob(webhookIdFor(inferenceId, 'inference.completed'));
      expect(first?.id).toBe(webhookIdFor(inferenceId, 'inference.completed'));
      expect(await relay.relay(entry)).toBe('queued');
      expect(await queue.getJobCounts()).toMatchObject({ waiting: 1, delayed: 0, active: 0 });
      const again = await queue.getJob(webhookIdFor(inferenceId, 'inference.completed'));
      expect(again?.data.body).toBe(first?.data.body);
      expect(again?.timestamp).toBe(first?.timestamp);
    } finally {
      await queue.obliterate({ force: true });
      await queue.close();
    }
  });

  it('a relay that crashes before XACK leaves the entry to another relay, and the delivery happens once', async () => {
    const config = testConfig(redis.url, { 'webhooks.secret': [newSecret()] });
    const seen: [string, RelayOutcome][] = [];
    let crash = true;
    const crashing = await startHarness(connection, config, {
      relay: {
        claimIdleMs: 100_000,
        hooks: {
          beforeAck: (entry, outcome) => {
            seen.push([entry.id, outcome]);
            if (crash) throw new Error('simulated crash between job add and XACK');
          },
        },
      },
    });
    harnesses.push(crashing);
    const inferenceId = await resolveInference(crashing.ledger, {
      status: 'completed',
      webhookUrl: receiver.url('/once'),
    });
    const webhookId = webhookIdFor(inferenceId, 'inference.completed');
    await waitFor(async () => (await crashing.ledger.get(inferenceId))?.webhook.state === 'delivered');
    expect(seen).toHaveLength(1);
    // The entry is still pending (unacknowledged) in the group.
    const outbox = crashing.ledger.keys.outbox;
    expect(((await connection.xpending(outbox, 'webhook-relay')) as [number])[0]).toBe(1);
    await crashing.close();
    harnesses.splice(0);

    // Another process's relay claims the stale entry and relays it again: a no-op.
    crash = false;
    const survivor = await startHarness(connection, config, {
      relay: {
        claimIdleMs: 1,
        hooks: { beforeAck: (entry, outcome) => void seen.push([entry.id, outcome]) },
      },
    });
    harnesses.push(survivor);
    await waitFor(async () => (await connection.xlen(outbox)) === 0, {
      what: 'outbox entry acknowledged and deleted',
    });
    expect(((await connection.xpending(outbox, 'webhook-relay')) as [number])[0]).toBe(0);
    expect(seen.map(([id]) => id)).toEqual([seen[0]?.[0], seen[0]?.[0]]);
    // The first relay delivered it itself; the second found it delivered.
    expect(seen.map(([, outcome]) => outcome)).toEqual(['delivered', 'handled-before']);
    expect(receiver.to('/once')).toHaveLength(1);
    expect(await survivor.role.queue.getJobCounts()).toMatchObject({
      waiting: 0,
      delayed: 0,
      active: 0,
      failed: 0,
    });
    expect(await survivor.role.queue.getJob(webhookId)).toBeUndefined();
  });

  it('recognises an event delivered earlier even after its job is gone', async () => {
    const config = testConfig(redis.url, { 'webhooks.secret': [newSecret()] });
    const h = await startHarness(connection, config);
    harnesses.push(h);
    const inferenceId = await resolveInference(h.ledger, {
      status: 'expired',
      webhookUrl: receiver.url('/gone-job'),
    });
    await waitFor(async () => (await h.ledger.get(inferenceId))?.webhook.state === 'delivered');
    const webhookId = webhookIdFor(inferenceId, 'inference.expired');
    await (await h.role.queue.getJob(webhookId))?.remove();
    expect(
      await h.role.relay.relay({ id: '0-1', type: 'inference.expired', inferenceId, at: Date.now() }),
    ).toBe('handled-before');
    expect(await h.role.queue.getJob(webhookId)).toBeUndefined();
  });

  it('several relays share the outbox: every event delivered exactly once', async () => {
    const config = testConfig(redis.url, { 'webhooks.secret': [newSecret()] });
    const a = await startHarness(connection, config);
    const b = await startHarness(connection, config);
    harnesses.push(a, b);
    const ids: string[] = [];
    for (let i = 0; i < 40; i += 1) {
      ids.push(
        await resolveInference(a.ledger, {
          status: i % 2 ? 'completed' : 'failed',
          webhookUrl: receiver.url(`/shared/${i}`),
        }),
      );
    }
    await waitFor(
      async () =>
        (await Promise.all(ids.map((id) => a.ledger.get(id)))).every((r) => r?.webhook.state === 'delivered'),
      { what: 'all delivered' },
    );
    await waitFor(async () => (await connection.xlen(a.ledger.keys.outbox)) === 0);
    for (let i = 0; i < 40; i += 1) expect(receiver.to(`/shared/${i}`), `event ${i}`).toHaveLength(1);
    const byRelay = [...a.outcomes, ...b.outcomes];
    expect(byRelay.filter((o) => o.result === 'delivered')).toHaveLength(40);
  });

  it('drops malformed entries and events for records that no longer exist', async () => {
    const config = testConfig(redis.url, { 'webhooks.secret': [newSecret()] });
    const outcomes: RelayOutcome[] = [];
    const h = await startHarness(connection, config, {
      relay: { hooks: { beforeAck: (_e, outcome) => void outcomes.push(outcome) } },
    });
    harnesses.push(h);
    await connection.xadd(h.ledger.keys.outbox, '*', 'nonsense', '1');
    await connection.xadd(
      h.ledger.keys.outbox,
      '*',
      'type',
      'inference.completed',
      'inferenceId',
      'gone',
      'at',
      '1',
    );
    await waitFor(() => outcomes.length === 2);
    expect(outcomes.sort()).toEqual(['malformed', 'missing']);
    await waitFor(async () => (await connection.xlen(h.ledger.keys.outbox)) === 0);
  });

  it('makes first attempts itself, at most webhooks.concurrency at once: a hanging receiver holds only its slots', async () => {
    const config = testConfig(redis.url, {
      'webhooks.secret': [newSecret()],
      'webhooks.concurrency': 2,
      'webhooks.scheduleSeconds': [0, 3600],
    });
    const h = await startHarness(connection, config, { timeoutMs: 1_000 });
    harnesses.push(h);
    const retriesWhenFastArrived: number[] = [];
    const retriesWhenSecondHangArrived: number[] = [];
    receiver.reply = (req) => {
      // Both slots in use at once: the second hanging request came before any attempt ended.
      if (req.path === '/hang-2')
        retriesWhenSecondHangArrived.push(h.outcomes.filter((o) => o.result === 'retry').length);
      if (req.path.startsWith('/hang')) return 'hang';
      if (req.path === '/after-hangs')
        retriesWhenFastArrived.push(h.outcomes.filter((o) => o.result === 'retry').length);
      return { status: 200 };
    };
    const fast = await resolveInference(h.ledger, { status: 'completed', webhookUrl: receiver.url('/fast') });
    await waitFor(async () => (await h.ledger.get(fast))?.webhook.state === 'delivered');
    await resolveInference(h.ledger, { status: 'completed', webhookUrl: receiver.url('/hang-1') });
    await resolveInference(h.ledger, { status: 'completed', webhookUrl: receiver.url('/hang-2') });
    const behind = await resolveInference(h.ledger, {
      status: 'completed',
      webhookUrl: receiver.url('/after-hangs'),
    });
    await waitFor(async () => (await h.ledger.get(behind))?.webhook.state === 'delivered', {
      what: 'the event behind the hanging ones delivered',
    });
    // Both slots were held by the hanging receiver: the next event went only once one of them
    // had timed out (and was handed to the delivery queue for its retry).
    expect(retriesWhenSecondHangArrived).toEqual([0]);
    expect(retriesWhenFastArrived).toHaveLength(1);
    expect(retriesWhenFastArrived[0]).toBeGreaterThanOrEqual(1);
    // Both hanging attempts end as retries (the second may time out a moment after the first).
    await waitFor(async () => (await h.role.queue.getDelayedCount()) === 2, { what: 'two retries queued' });
    expect(await h.role.queue.getFailedCount()).toBe(0);
  });

  it('a failed first attempt becomes a delivery job that carries it; relaying the event again attempts nothing more', async () => {
    const config = testConfig(redis.url, {
      'webhooks.secret': [newSecret()],
      'webhooks.scheduleSeconds': [0, 3600],
    });
    const outcomes: RelayOutcome[] = [];
    const h = await startHarness(connection, config, {
      relay: { hooks: { beforeAck: (_e, outcome) => void outcomes.push(outcome) } },
    });
    harnesses.push(h);
    receiver.reply = () => ({ status: 503 });
    const inferenceId = await resolveInference(h.ledger, {
      status: 'failed',
      webhookUrl: receiver.url('/first-fails'),
    });
    const webhookId = webhookIdFor(inferenceId, 'inference.failed');
    await waitFor(() => outcomes.length === 1, { what: 'the entry relayed' });
    expect(outcomes).toEqual(['queued']);
    const job = await h.role.queue.getJob(webhookId);
    expect(await job?.getState()).toBe('delayed');
    expect(job?.data).toMatchObject({ attempts: 1, totalAttempts: 1, lastStatus: 503, deadLetter: null });
    expect((await h.ledger.get(inferenceId))?.webhook).toMatchObject({ state: 'pending', attempts: 1 });
    // The entry relayed again (its acknowledgement lost): the job stands, no second request.
    const again = await h.role.relay.relay({
      id: '0-1',
      type: 'inference.failed',
      inferenceId,
      at: Date.now(),
    });
    expect(again).toBe('queued');
    expect(receiver.to('/first-fails')).toHaveLength(1);
    expect((await h.role.queue.getJob(webhookId))?.data).toMatchObject({ attempts: 1 });
  });

  it('closing waits for first attempts in progress and acknowledges them: nothing is left pending', async () => {
    const config = testConfig(redis.url, { 'webhooks.secret': [newSecret()] });
    const h = await startHarness(connection, config);
    // Answered only once the relay is closing.
    receiver.reply = (req) => (req.path === '/slow-answer' ? 'hang' : { status: 200 });
    const inferenceId = await resolveInference(h.ledger, {
      status: 'completed',
      webhookUrl: receiver.url('/slow-answer'),
    });
    await waitFor(() => receiver.to('/slow-answer').length === 1, { what: 'the first attempt sent' });
    const closing = h.role.relay.close();
    let closed = false;
    void closing.then(() => {
      closed = true;
    });
    // The relay is still waiting for the attempt: not closed, the entry pending.
    const outbox = h.ledger.keys.outbox;
    expect(((await connection.xpending(outbox, 'webhook-relay')) as [number])[0]).toBe(1);
    expect(closed).toBe(false);
    receiver.answerHanging(204);
    await closing;
    expect((await h.ledger.get(inferenceId))?.webhook).toMatchObject({ state: 'delivered', lastStatus: 204 });
    expect(((await connection.xpending(outbox, 'webhook-relay')) as [number])[0]).toBe(0);
    expect(await connection.xlen(outbox)).toBe(0);
    await h.close();
  });
});
