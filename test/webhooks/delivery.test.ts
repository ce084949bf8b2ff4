import type { Redis } from 'ioredis';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { FinalStatus } from '../../src/contract/status.js';
import { eventTypeForStatus, type WebhookPayload, webhookIdFor } from '../../src/contract/webhook-event.js';
import { getDeadLetter } from '../../src/webhooks/dead-letter.js';
import { freePort, PrivateRedis } from '../support/redis-server.js';
import { waitFor } from '../support/wait-for.js';
import { type Harness, newSecret, Receiver, resolveInference, startHarness, testConfig } from './helpers.js';

const headersOf = (h: Record<string, string | string[] | undefined>) => ({
  'webhook-id': String(h['webhook-id']),
  'webhook-timestamp': String(h['webhook-timestamp']),
  'webhook-signature': String(h['webhook-signature']),
});

describe('webhook delivery', () => {
  let redis: PrivateRedis;
  let connection: Redis;
  let receiver: Receiver;
  let harness: Harness | undefined;

  beforeAll(async () => {
    redis = await PrivateRedis.start();
    connection = redis.client();
    receiver = await Receiver.start();
  });
  afterEach(async () => {
    await harness?.close();
    harness = undefined;
    receiver.reply = () => ({ status: 200, body: 'ok' });
  });
  afterAll(async () => {
    await receiver?.stop();
    connection?.disconnect();
    await redis?.destroy();
  });

  it('delivers every event type, signed with every active secret, with the exact payload', async () => {
    const [primary, secondary] = [newSecret(), newSecret(48)];
    const config = testConfig(redis.url, {
      'webhooks.secret': [primary, secondary],
      'webhooks.allowPrivateNetworks': false,
      'webhooks.allowList': ['127.0.0.1'],
    });
    harness = await startHarness(connection, config);
    const statuses: FinalStatus[] = ['completed', 'failed', 'expired', 'rejected', 'dispatch_failed'];
    const ids = new Map<FinalStatus, string>();
    for (const status of statuses) {
      ids.set(
        status,
        await resolveInference(harness.ledger, {
          status,
          webhookUrl: receiver.url(`/all/${status}`),
          metadata: { tenant: 'acme', status, nested: { list: [1, 'two', null] } },
          responseContentType: status === 'completed' ? 'application/json' : undefined,
        }),
      );
    }
    await waitFor(() => statuses.every((s) => receiver.to(`/all/${s}`).length === 1), {
      what: 'five deliveries',
    });

    for (const status of statuses) {
      const inferenceId = ids.get(status) as string;
      const [req] = receiver.to(`/all/${status}`);
      if (!req) throw new Error('no request');
      const headers = headersOf(req.headers);
      const type = eventTypeForStatus(status);
      expect(req.headers['content-type']).toBe('application/json');
      expect(headers['webhook-id']).toBe(webhookIdFor(inferenceId, type));
      expect(headers['webhook-signature'].split(' ')).toHaveLength(2);
      // Either secret verifies (rotation); a wrong one does not.
      const viaPrimary = new Webhook(primary).verify(req.body, headers) as WebhookPayload;
      expect(new Webhook(secondary).verify(req.body, headers)).toEqual(viaPrimary);
      expect(() => new Webhook(newSecret()).verify(req.body, headers)).toThrow(WebhookVerificationError);

      const record = await harness.ledger.get(inferenceId);
      if (!record) throw new Error('no record');
      expect(Object.keys(viaPrimary)).toEqual(['type', 'timestamp', 'data']);
      expect(viaPrimary.type).toBe(type);
      expect(viaPrimary.timestamp).toBe(record.resolvedAt);
      expect(viaPrimary.data).toEqual({
        inferenceId,
        jobId: record.jobId,
        endpointName: 'echo',
        status,
        inputLocation: record.inputLocation,
        outputLocation: record.outputLocation,
        failureLocation: record.failureLocation,
        failureReason: record.failureReason,
        responseContentType: record.responseContentType,
        submittedAt: record.submittedAt,
        resolvedAt: record.resolvedAt,
        metadata: { tenant: 'acme', status, nested: { list: [1, 'two', null] } },
      });
      await waitFor(async () => (await harness?.ledger.get(inferenceId))?.webhook.state === 'delivered', {
        what: `ledger shows ${status} delivered`,
      });
      const after = await harness.ledger.get(inferenceId);
      expect(after?.webhook).toMatchObject({
        state: 'delivered',
        attempts: 1,
        lastStatus: 200,
        lastError: null,
      });
      expect(after?.webhook.deliveredAt).not.toBeNull();
    }
  });

  it("signs with the job's own secret only, when it named one", async () => {
    const configured = newSecret();
    const own = newSecret();
    harness = await startHarness(connection, testConfig(redis.url, { 'webhooks.secret': [configured] }));
    await resolveInference(harness.ledger, {
      status: 'completed',
      webhookUrl: receiver.url('/own'),
      webhookSecret: own,
    });
    const [req] = await waitFor(() => (receiver.to('/own').length === 1 ? receiver.to('/own') : undefined));
    if (!req) throw new Error('no request');
    const headers = headersOf(req.headers);
    expect(() => new Webhook(own).verify(req.body, headers)).not.toThrow();
    expect(() => new Webhook(configured).verify(req.body, headers)).toThrow(WebhookVerificationError);
  });

  it('retries a failing receiver on the schedule, with the same webhook-id and body, and records one success', async () => {
    harness = await startHarness(connection, testConfig(redis.url, { 'webhooks.secret': [newSecret()] }));
    receiver.reply = (_req, n) => (n <= 3 ? { status: 500, body: `boom ${n}` } : { status: 200 });
    const inferenceId = await resolveInference(harness.ledger, {
      status: 'completed',
      webhookUrl: receiver.url('/flaky'),
    });
    await waitFor(async () => (await harness?.ledger.get(inferenceId))?.webhook.state === 'delivered', {
      what: 'delivered after retries',
    });
    const requests = receiver.to('/flaky');
    expect(requests).toHaveLength(4);
    expect(new Set(requests.map((r) => r.headers['webhook-id']))).toEqual(
      new Set([webhookIdFor(inferenceId, 'inference.completed')]),
    );
    expect(new Set(requests.map((r) => r.body)).size).toBe(1);
    const record = await harness.ledger.get(inferenceId);
    expect(record?.webhook).toMatchObject({
      state: 'delivered',
      attempts: 4,
      lastStatus: 200,
      lastError: null,
    });
    expect(harness.outcomes.filter((o) => o.inferenceId === inferenceId).map((o) => o.result)).toEqual([
      'retry',
      'retry',
      'retry',
      'delivered',
    ]);
  });

  it('stops at 410 Gone after one attempt and dead-letters the delivery', async () => {
    harness = await startHarness(connection, testConfig(redis.url, { 'webhooks.secret': [newSecret()] }));
    receiver.reply = () => ({ status: 410, body: 'endpoint removed' });
    const inferenceId = await resolveInference(harness.ledger, {
      status: 'failed',
      webhookUrl: receiver.url('/gone'),
    });
    const webhookId = webhookIdFor(inferenceId, 'inference.failed');
    const dead = await waitFor(() => getDeadLetter(harness?.role.queue as never, webhookId), {
      what: 'dead letter',
    });
    expect(dead).toMatchObject({ reason: 'gone', attempts: 1, lastStatus: 410 });
    expect(receiver.to('/gone')).toHaveLength(1);
    expect((await harness.ledger.get(inferenceId))?.webhook).toMatchObject({
      state: 'failed',
      attempts: 1,
      lastStatus: 410,
    });
  });

  it('honours Retry-After on 503 (waits at least that long)', async () => {
    harness = await startHarness(connection, testConfig(redis.url, { 'webhooks.secret': [newSecret()] }));
    receiver.reply = (_req, n) =>
      n === 1 ? { status: 503, headers: { 'retry-after': '1' } } : { status: 200 };
    const inferenceId = await resolveInference(harness.ledger, {
      status: 'completed',
      webhookUrl: receiver.url('/slow-down'),
    });
    await waitFor(async () => (await harness?.ledger.get(inferenceId))?.webhook.state === 'delivered', {
      what: 'delivered after Retry-After',
    });
    const [first, second] = receiver.to('/slow-down');
    if (!first || !second) throw new Error('expected two requests');
    expect(second.at - first.at).toBeGreaterThanOrEqual(1000);
    const retry = harness.outcomes.find((o) => o.inferenceId === inferenceId && o.result === 'retry');
    expect(retry).toMatchObject({ status: 503 });
    expect(retry?.delayMs).toBeGreaterThanOrEqual(1000);
  });

  it('counts a redirect as a failed attempt and never follows it', async () => {
    harness = await startHarness(connection, testConfig(redis.url, { 'webhooks.secret': [newSecret()] }));
    receiver.reply = (req, n) =>
      req.path === '/moved' && n === 1
        ? { status: 301, headers: { location: receiver.url('/new-home') } }
        : { status: 200 };
    const inferenceId = await resolveInference(harness.ledger, {
      status: 'completed',
      webhookUrl: receiver.url('/moved'),
    });
    await waitFor(async () => (await harness?.ledger.get(inferenceId))?.webhook.state === 'delivered');
    expect(receiver.to('/moved')).toHaveLength(2);
    expect(receiver.to('/new-home')).toHaveLength(0);
    const first = harness.outcomes.find((o) => o.inferenceId === inferenceId);
    expect(first).toMatchObject({ result: 'retry', status: 301 });
    expect(first?.error).toContain('not followed');
    expect((await harness.ledger.get(inferenceId))?.webhook.attempts).toBe(2);
  });

  it('times out a hanging receiver and counts it as a failed attempt', async () => {
    harness = await startHarness(connection, testConfig(redis.url, { 'webhooks.secret': [newSecret()] }), {
      timeoutMs: 300,
    });
    receiver.reply = (_req, n) => (n === 1 ? 'hang' : { status: 200 });
    const inferenceId = await resolveInference(harness.ledger, {
      status: 'completed',
      webhookUrl: receiver.url('/hang'),
    });
    await waitFor(async () => (await harness?.ledger.get(inferenceId))?.webhook.state === 'delivered');
    expect(receiver.to('/hang')).toHaveLength(2);
    const first = harness.outcomes.find((o) => o.inferenceId === inferenceId);
    expect(first?.result).toBe('retry');
    expect(first?.error).toMatch(/timed out/);
  });

  it('retries connection errors until the schedule is exhausted, then dead-letters', async () => {
    harness = await startHarness(
      connection,
      testConfig(redis.url, {
        'webhooks.secret': [newSecret()],
        'webhooks.scheduleSeconds': [0, 0.02, 0.02],
      }),
    );
    const port = await freePort();
    const inferenceId = await resolveInference(harness.ledger, {
      status: 'expired',
      webhookUrl: `http://127.0.0.1:${port}/nobody`,
    });
    await waitFor(async () => (await harness?.ledger.get(inferenceId))?.webhook.state === 'failed');
    const record = await harness.ledger.get(inferenceId);
    expect(record?.webhook).toMatchObject({ state: 'failed', attempts: 3, lastStatus: null });
    expect(record?.webhook.lastError).toMatch(/ECONNREFUSED/);
    // The ledger is written before the job is moved to failed.
    const queue = harness.role.queue;
    const dead = await waitFor(() => getDeadLetter(queue, webhookIdFor(inferenceId, 'inference.expired')));
    expect(dead).toMatchObject({ reason: 'exhausted', attempts: 3, totalAttempts: 3 });
    expect(dead?.message).toMatch(/^exhausted: 3 attempts failed/);
  });

  it('refuses to deliver unsigned when no secret is configured anywhere', async () => {
    harness = await startHarness(connection, testConfig(redis.url, { 'webhooks.secret': [] }));
    const inferenceId = await resolveInference(harness.ledger, {
      status: 'completed',
      webhookUrl: receiver.url('/unsigned'),
    });
    await waitFor(async () => (await harness?.ledger.get(inferenceId))?.webhook.state === 'refused');
    expect((await harness.ledger.get(inferenceId))?.webhook.lastError).toMatch(
      /no signing secret configured/,
    );
    expect(receiver.to('/unsigned')).toHaveLength(0);
    const queue = harness.role.queue;
    const dead = await waitFor(() => getDeadLetter(queue, webhookIdFor(inferenceId, 'inference.completed')));
    expect(dead).toMatchObject({ reason: 'refused', attempts: 0 });
  });

  it('delivers nothing for an inference without a webhook URL, and records that', async () => {
    harness = await startHarness(connection, testConfig(redis.url, { 'webhooks.secret': [newSecret()] }));
    const inferenceId = await resolveInference(harness.ledger, { status: 'completed' });
    const outbox = harness.ledger.keys.outbox;
    await waitFor(async () => (await connection.xlen(outbox)) === 0, { what: 'outbox drained' });
    expect((await harness.ledger.get(inferenceId))?.webhook.state).toBe('none');
    expect(await harness.role.queue.getJob(webhookIdFor(inferenceId, 'inference.completed'))).toBeUndefined();
    // No delivery under any id, and no attempt made.
    expect(
      await harness.role.queue.getJobCountByTypes('waiting', 'delayed', 'active', 'completed', 'failed'),
    ).toBe(0);
    expect(harness.outcomes).toEqual([]);
    expect((await harness.ledger.get(inferenceId))?.status).toBe('completed');
  });
});
