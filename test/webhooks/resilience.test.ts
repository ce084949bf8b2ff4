import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { webhookIdFor } from '../../src/contract/webhook-event.js';
import { PrivateRedis } from '../support/redis-server.js';
import { waitFor } from '../support/wait-for.js';
import { type Harness, newSecret, Receiver, resolveInference, startHarness, testConfig } from './helpers.js';

describe('webhooks across a Redis restart', () => {
  let redis: PrivateRedis;
  let connection: Redis;
  let receiver: Receiver;
  let harness: Harness | undefined;

  beforeAll(async () => {
    redis = await PrivateRedis.start();
    connection = redis.client();
    connection.on('error', () => {});
    receiver = await Receiver.start();
  });
  afterAll(async () => {
    await harness?.close();
    await receiver?.stop();
    connection?.disconnect();
    await redis?.destroy();
  });

  it('keeps relaying and delivering after Redis restarts, and a delivery pending across it completes', async () => {
    harness = await startHarness(
      connection,
      testConfig(redis.url, {
        'webhooks.secret': [newSecret()],
        'webhooks.scheduleSeconds': [0, 0.5, 0.5, 0.5],
      }),
    );
    const h = harness;
    receiver.reply = (req, n) => (req.path === '/before' && n === 1 ? { status: 500 } : { status: 200 });
    const before = await resolveInference(h.ledger, {
      status: 'completed',
      webhookUrl: receiver.url('/before'),
    });
    await waitFor(() => receiver.to('/before').length === 1, { what: 'first attempt' });
    await waitFor(async () => (await h.ledger.get(before))?.webhook.attempts === 1, {
      what: 'first attempt recorded',
    });

    await redis.restart();

    const after = await waitFor(
      () => resolveInference(h.ledger, { status: 'failed', webhookUrl: receiver.url('/after') }),
      { what: 'ledger writable again' },
    );
    await waitFor(async () => (await h.ledger.get(before))?.webhook.state === 'delivered', {
      what: 'pending delivery completed',
      timeoutMs: 30_000,
    });
    await waitFor(async () => (await h.ledger.get(after))?.webhook.state === 'delivered', {
      what: 'new event delivered',
      timeoutMs: 30_000,
    });
    expect(receiver.to('/before').map((r) => r.headers['webhook-id'])).toEqual([
      webhookIdFor(before, 'inference.completed'),
      webhookIdFor(before, 'inference.completed'),
    ]);
    expect(receiver.to('/after')).toHaveLength(1);
  });
});
