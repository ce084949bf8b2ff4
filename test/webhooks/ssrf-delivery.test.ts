import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { webhookIdFor } from '../../src/contract/webhook-event.js';
import { getDeadLetter, replayDeadLetter } from '../../src/webhooks/dead-letter.js';
import { PrivateRedis } from '../support/redis-server.js';
import { waitFor } from '../support/wait-for.js';
import { type Harness, newSecret, Receiver, resolveInference, startHarness, testConfig } from './helpers.js';

describe('SSRF guard on deliveries', () => {
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
    receiver.requests.length = 0;
  });
  afterAll(async () => {
    await receiver?.stop();
    connection?.disconnect();
    await redis?.destroy();
  });

  it('refuses loopback, link-local, private and unspecified targets by default, before connecting', async () => {
    const config = testConfig(redis.url, {
      'webhooks.secret': [newSecret()],
      'webhooks.allowPrivateNetworks': false,
    });
    const h = await startHarness(connection, config);
    harnesses.push(h);
    const port = receiver.port;
    const targets: [string, RegExp][] = [
      [`http://127.0.0.1:${port}/a`, /127\.0\.0\.1 is a loopback address/],
      [`http://localhost:${port}/b`, /127\.0\.0\.1 \(resolved from localhost\) is a loopback address/],
      ['http://169.254.169.254/latest/meta-data/', /link-local/],
      ['http://10.0.0.1/c', /private/],
      [`http://[::1]:${port}/d`, /::1 is a loopback address/],
      [`http://0.0.0.0:${port}/e`, /unspecified/],
      [`http://[::ffff:127.0.0.1]:${port}/f`, /loopback/],
    ];
    const ids: string[] = [];
    for (const [url] of targets)
      ids.push(await resolveInference(h.ledger, { status: 'completed', webhookUrl: url }));
    for (const [i, [url, reason]] of targets.entries()) {
      const inferenceId = ids[i] as string;
      await waitFor(async () => (await h.ledger.get(inferenceId))?.webhook.state === 'refused', {
        what: url,
      });
      const record = await h.ledger.get(inferenceId);
      expect(record?.webhook.lastError, url).toMatch(reason);
      expect(record?.webhook.attempts).toBe(0);
      // The ledger says refused before the dead-letter job has failed (the worker fails it).
      const dead = await waitFor(
        () => getDeadLetter(h.role.queue, webhookIdFor(inferenceId, 'inference.completed')),
        { what: `the dead letter of ${url}` },
      );
      expect(dead).toMatchObject({ reason: 'refused' });
      expect(dead?.message).toMatch(/^refused: /);
    }
    // Nothing reached the receiver that loopback targets point at.
    expect(receiver.requests).toHaveLength(0);
    // Each refusal is final: one pickup each, no retry loop.
    expect(h.outcomes.map((o) => o.result)).toEqual(targets.map(() => 'refused'));
  });

  it('delivers to private targets with allowPrivateNetworks', async () => {
    const h = await startHarness(
      connection,
      testConfig(redis.url, { 'webhooks.secret': [newSecret()], 'webhooks.allowPrivateNetworks': true }),
    );
    harnesses.push(h);
    await resolveInference(h.ledger, { status: 'completed', webhookUrl: receiver.url('/ip') });
    await resolveInference(h.ledger, {
      status: 'completed',
      webhookUrl: `http://localhost:${receiver.port}/name`,
    });
    await waitFor(() => receiver.to('/ip').length === 1 && receiver.to('/name').length === 1);
  });

  it('delivers to targets on the allow list (host name or CIDR) and refuses the rest', async () => {
    const h = await startHarness(
      connection,
      testConfig(redis.url, {
        'webhooks.secret': [newSecret()],
        'webhooks.allowPrivateNetworks': false,
        'webhooks.allowList': ['localhost', '127.0.0.0/8'],
      }),
    );
    harnesses.push(h);
    await resolveInference(h.ledger, { status: 'completed', webhookUrl: receiver.url('/cidr') });
    await resolveInference(h.ledger, {
      status: 'completed',
      webhookUrl: `http://localhost:${receiver.port}/host`,
    });
    const refused = await resolveInference(h.ledger, {
      status: 'completed',
      webhookUrl: 'http://10.0.0.1/x',
    });
    await waitFor(() => receiver.to('/cidr').length === 1 && receiver.to('/host').length === 1);
    await waitFor(async () => (await h.ledger.get(refused))?.webhook.state === 'refused');
  });

  it('a refused delivery can be replayed once the configuration allows it', async () => {
    const prefixConfig = testConfig(redis.url, {
      'webhooks.secret': [newSecret()],
      'webhooks.allowPrivateNetworks': false,
    });
    const strict = await startHarness(connection, prefixConfig);
    const inferenceId = await resolveInference(strict.ledger, {
      status: 'completed',
      webhookUrl: receiver.url('/later'),
    });
    await waitFor(async () => (await strict.ledger.get(inferenceId))?.webhook.state === 'refused');
    await strict.close();

    const relaxed = await startHarness(connection, {
      ...prefixConfig,
      webhooks: { ...prefixConfig.webhooks, allowList: ['127.0.0.1'] },
    });
    harnesses.push(relaxed);
    const webhookId = webhookIdFor(inferenceId, 'inference.completed');
    expect(await replayDeadLetter(relaxed.role.queue, webhookId, { ledger: relaxed.ledger })).toMatchObject({
      replayed: true,
    });
    await waitFor(async () => (await relaxed.ledger.get(inferenceId))?.webhook.state === 'delivered');
    expect(receiver.to('/later')).toHaveLength(1);
    expect(receiver.to('/later')[0]?.headers['webhook-id']).toBe(webhookId);
  });
});
