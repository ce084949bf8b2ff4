import { createServer, type Server } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type AwsStack, startAwsStack } from '../support/emulator.js';
import { PrivateRedis } from '../support/redis-server.js';
import { freshPrefix, type SmadHarness, startSmad } from '../support/smad.js';
import { SmadProcess, stackEnv } from '../support/smad-process.js';
import { waitFor } from '../support/wait-for.js';

const SECRET = `whsec_${Buffer.alloc(32, 9).toString('base64')}`;

describe('graceful shutdown', () => {
  let redis: PrivateRedis;
  let stack: AwsStack;
  let smad: SmadHarness | undefined;
  let receiver: Server;
  let receiverUrl = '';
  const delivered = new Map<string, number>();
  const processes: SmadProcess[] = [];

  beforeAll(async () => {
    redis = await PrivateRedis.start();
    stack = await startAwsStack({ endpoints: [{ name: 'echo', maxConcurrentInvocationsPerInstance: 8 }] });
    receiver = createServer((req, res) => {
      const id = String(req.headers['webhook-id']);
      delivered.set(id, (delivered.get(id) ?? 0) + 1);
      req.resume();
      req.on('end', () => res.writeHead(204).end());
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
    const address = receiver.address();
    receiverUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/hooks`;
  });
  afterEach(async () => {
    for (const p of processes.splice(0)) await p.stop();
    await smad?.stop();
    smad = undefined;
    await stack.reset();
  });
  afterAll(async () => {
    receiver?.closeAllConnections();
    await new Promise((r) => receiver?.close(r));
    await stack?.stop();
    await redis?.destroy();
  });

  it('SIGTERM under load: exits 0 within the bound, and after a restart nothing is lost', async () => {
    const prefix = freshPrefix();
    const env = {
      ...stackEnv(stack, redis.url, prefix),
      SMAD_ROLES: 'dispatcher,completions,webhooks,http',
      SMAD_HTTP_AUTH: 'false',
      SMAD_WEBHOOK_URL: receiverUrl,
      SMAD_WEBHOOK_SECRET: SECRET,
      SMAD_WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
      SMAD_SHUTDOWN_TIMEOUT_SECONDS: '10',
    };
    const first = new SmadProcess(['start'], env);
    processes.push(first);
    await first.started();
    stack.emulator.setKnobs({ latencyMs: 20 });
    smad = await startSmad(redis, stack, { prefix, roles: [] });
    const jobs = await smad.queue.addBulk(
      Array.from({ length: 150 }, (_, i) => ({
        name: 'load',
        data: { endpointName: 'echo', body: `load ${i}` },
      })),
    );
    await waitFor(() => delivered.size >= 20, { what: 'some webhooks delivered before the signal' });
    const signalled = Date.now();
    first.kill('SIGTERM');
    const exit = await first.exit;
    const took = Date.now() - signalled;
    expect(exit.code).toBe(0);
    expect(took).toBeLessThan(10_000 + 2_000);
    expect(first.lines.some((l) => l.msg === 'smad stopped')).toBe(true);

    const second = new SmadProcess(['start'], env);
    processes.push(second);
    await second.started();
    const results = await Promise.all(jobs.map((job) => job.waitUntilFinished(smad!.events, 60_000)));
    expect(results.every((r) => r.status === 'completed')).toBe(true);
    await waitFor(() => delivered.size === 150, { timeoutMs: 90_000, what: 'a webhook for every job' });
    // The receiver answers before the worker records the delivery: wait for the ledger too.
    await waitFor(
      async () => {
        const records = await Promise.all(results.map((r) => smad!.runtime.ledger.get(r.inferenceId)));
        return records.every((r) => r?.status === 'completed' && r.webhook.state === 'delivered');
      },
      { what: 'every record completed with its webhook delivered' },
    );
  }, 120_000);
});
