import type { Command } from 'commander';
import { Command as Program } from 'commander';
import type { Redis } from 'ioredis';
import { Webhook } from 'standardwebhooks';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { registerWebhooksCommand } from '../../src/cli/commands/webhooks.js';
import { webhookIdFor } from '../../src/contract/webhook-event.js';
import {
  getDeadLetter,
  listDeadLetters,
  redactUrl,
  replayAllDeadLetters,
  replayDeadLetter,
} from '../../src/webhooks/dead-letter.js';
import { PrivateRedis } from '../support/redis-server.js';
import { waitFor } from '../support/wait-for.js';
import { type Harness, newSecret, Receiver, resolveInference, startHarness, testConfig } from './helpers.js';

describe('dead letter and replay', () => {
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
    receiver.reply = () => ({ status: 200 });
  });
  afterAll(async () => {
    await receiver?.stop();
    connection?.disconnect();
    await redis?.destroy();
  });

  it('keeps exhausted deliveries, lists them, and replays them with the same webhook-id and body', async () => {
    const secret = newSecret();
    harness = await startHarness(
      connection,
      testConfig(redis.url, { 'webhooks.secret': [secret], 'webhooks.scheduleSeconds': [0, 0.02, 0.02] }),
    );
    receiver.reply = () => ({ status: 500, body: 'receiver down' });
    const inferenceId = await resolveInference(harness.ledger, {
      status: 'completed',
      webhookUrl: `${receiver.url('/dlq')}?token=hush`,
      metadata: { order: 42 },
    });
    const webhookId = webhookIdFor(inferenceId, 'inference.completed');
    const queue = harness.role.queue;
    await waitFor(() => getDeadLetter(queue, webhookId), { what: 'dead letter' });

    const page = await listDeadLetters(queue);
    expect(page.total).toBe(1);
    expect(page.items[0]).toMatchObject({
      webhookId,
      type: 'inference.completed',
      inferenceId,
      reason: 'exhausted',
      attempts: 3,
      totalAttempts: 3,
      replays: 0,
      lastStatus: 500,
      target: `${receiver.url('/dlq')}?…`,
    });
    expect(page.items[0]?.lastError).toContain('receiver down');
    expect(JSON.stringify(page)).not.toContain('hush');
    expect(receiver.to('/dlq')).toHaveLength(3);
    expect((await harness.ledger.get(inferenceId))?.webhook).toMatchObject({ state: 'failed', attempts: 3 });

    receiver.reply = () => ({ status: 204 });
    expect(await replayDeadLetter(queue, webhookId, { ledger: harness.ledger })).toEqual({
      webhookId,
      replayed: true,
    });
    await waitFor(async () => (await harness?.ledger.get(inferenceId))?.webhook.state === 'delivered', {
      what: 'replayed delivery',
    });
    const requests = receiver.to('/dlq');
    expect(requests).toHaveLength(4);
    const [first, , , replayed] = requests;
    expect(replayed?.headers['webhook-id']).toBe(webhookId);
    expect(replayed?.body).toBe(first?.body);
    const verified = new Webhook(secret).verify(replayed?.body ?? '', {
      'webhook-id': String(replayed?.headers['webhook-id']),
      'webhook-timestamp': String(replayed?.headers['webhook-timestamp']),
      'webhook-signature': String(replayed?.headers['webhook-signature']),
    });
    expect(verified).toMatchObject({ data: { inferenceId, metadata: { order: 42 } } });
    expect((await harness.ledger.get(inferenceId))?.webhook).toMatchObject({
      state: 'delivered',
      attempts: 4,
      lastStatus: 204,
    });
    expect(await listDeadLetters(queue)).toEqual({ total: 0, items: [] });
    // The worker records the attempt in the job after the ledger: wait for the job to finish.
    await waitFor(async () => (await queue.getJobState(webhookId)) === 'completed', {
      what: 'the job completed',
    });
    const job = await queue.getJob(webhookId);
    expect(job?.data).toMatchObject({ replays: 1, attempts: 1, totalAttempts: 4, deadLetter: null });
  });

  it('replays everything with --all semantics, and explains what it cannot replay', async () => {
    harness = await startHarness(
      connection,
      testConfig(redis.url, { 'webhooks.secret': [newSecret()], 'webhooks.scheduleSeconds': [0] }),
    );
    receiver.reply = () => ({ status: 503 });
    const ids = [];
    for (let i = 0; i < 3; i += 1) {
      const inferenceId = await resolveInference(harness.ledger, {
        status: 'failed',
        webhookUrl: receiver.url('/all'),
      });
      ids.push(webhookIdFor(inferenceId, 'inference.failed'));
    }
    const queue = harness.role.queue;
    await waitFor(async () => (await queue.getFailedCount()) === 3, { what: 'three dead letters' });

    expect(await replayDeadLetter(queue, 'msg_unknown')).toMatchObject({
      replayed: false,
      reason: /no such delivery/,
    });
    receiver.reply = () => ({ status: 200 });
    const results = await replayAllDeadLetters(queue, { ledger: harness.ledger });
    expect(results.map((r) => r.webhookId).sort()).toEqual([...ids].sort());
    expect(results.every((r) => r.replayed)).toBe(true);
    await waitFor(async () => (await queue.getCompletedCount()) === 3, { what: 'three replays delivered' });
    const id = ids[0] as string;
    expect(await replayDeadLetter(queue, id)).toMatchObject({ replayed: false, reason: /not dead-lettered/ });
  });

  it('smad webhooks failed / replay work against the configured Redis', async () => {
    const config = testConfig(redis.url, {
      'webhooks.secret': [newSecret()],
      'webhooks.scheduleSeconds': [0],
    });
    harness = await startHarness(connection, config);
    receiver.reply = () => ({ status: 500, body: 'nope' });
    const inferenceId = await resolveInference(harness.ledger, {
      status: 'completed',
      webhookUrl: receiver.url('/cli'),
    });
    const webhookId = webhookIdFor(inferenceId, 'inference.completed');
    await waitFor(() => getDeadLetter(harness?.role.queue as never, webhookId));

    const saved = { ...process.env };
    process.env.SMAD_REDIS_URL = redis.url;
    process.env.SMAD_QUEUE_PREFIX = config.queue.prefix;
    const out: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      out.push(String(chunk));
      return true;
    });
    const run = async (...args: string[]) => {
      out.length = 0;
      const program: Command = new Program('smad').exitOverride();
      registerWebhooksCommand(program);
      await program.parseAsync(['node', 'smad', 'webhooks', ...args]);
      return out.join('');
    };
    try {
      const json = JSON.parse(await run('failed', '--json'));
      expect(json.total).toBe(1);
      expect(json.items[0]).toMatchObject({ webhookId, inferenceId, reason: 'exhausted', lastStatus: 500 });
      const table = await run('failed');
      expect(table.split('\n')[0]).toMatch(/^WEBHOOK ID\s+TYPE\s+INFERENCE ID\s+REASON/);
      expect(table).toContain(webhookId);
      expect(table).toContain('HTTP 500: nope');

      receiver.reply = () => ({ status: 200 });
      expect(await run('replay', webhookId)).toBe(`replayed ${webhookId}\n`);
      await waitFor(async () => (await harness?.ledger.get(inferenceId))?.webhook.state === 'delivered');
      expect(await run('failed')).toBe('no dead-lettered webhook deliveries\n');
      expect(await run('replay', '--all')).toBe('no dead-lettered webhook deliveries\n');
    } finally {
      spy.mockRestore();
      process.env = saved;
      process.exitCode = undefined;
    }
  });

  it('redacts credentials, query and fragment from listed URLs', () => {
    expect(redactUrl('https://user:pw@hooks.example.com:8443/in/x?token=1#f')).toBe(
      'https://hooks.example.com:8443/in/x?…',
    );
    expect(redactUrl('http://h/p')).toBe('http://h/p');
    expect(redactUrl('nonsense')).toBe('(invalid URL)');
  });
});
