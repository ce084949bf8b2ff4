import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AwsStack, startAwsStack } from '../support/emulator.js';
import { PrivateRedis } from '../support/redis-server.js';
import { type SmadHarness, startSmad } from '../support/smad.js';
import { waitFor } from '../support/wait-for.js';
import { newSecret, Receiver } from './helpers.js';

describe('webhooks end to end', () => {
  let redis: PrivateRedis;
  let stack: AwsStack;
  let receiver: Receiver;
  let smad: SmadHarness;
  const defaultSecret = newSecret();
  const jobSecret = newSecret(24);

  beforeAll(async () => {
    redis = await PrivateRedis.start();
    stack = await startAwsStack({ endpoints: [{ name: 'echo' }, { name: 'broken', model: 'fail' }] });
    receiver = await Receiver.start();
    smad = await startSmad(redis, stack, {
      roles: ['dispatcher', 'completions', 'webhooks'],
      overrides: {
        'webhooks.defaultUrl': receiver.url('/default'),
        'webhooks.secret': [defaultSecret],
        'webhooks.allowPrivateNetworks': true,
        'webhooks.presignSeconds': 600,
      },
    });
  });
  afterAll(async () => {
    await smad?.stop();
    await receiver?.stop();
    await stack?.stop();
    await redis?.destroy();
  });

  it('a job through the emulator ends in a verified webhook whose presigned URL downloads the output', async () => {
    const job = await smad.queue.add('x', {
      endpointName: 'echo',
      body: 'the model output',
      contentType: 'text/plain',
      metadata: { order: 7 },
      webhook: { url: receiver.url('/mine'), secret: jobSecret },
    });
    const result = await job.waitUntilFinished(smad.events, 30_000);
    await waitFor(() => receiver.to('/mine').length === 1, { what: 'the webhook' });
    const [request] = receiver.to('/mine');
    const headers = {
      'webhook-id': String(request?.headers['webhook-id']),
      'webhook-timestamp': String(request?.headers['webhook-timestamp']),
      'webhook-signature': String(request?.headers['webhook-signature']),
    };
    const payload = new Webhook(jobSecret).verify(request!.body, headers) as {
      type: string;
      data: Record<string, unknown> & { outputUrl: string };
    };
    expect(() => new Webhook(defaultSecret).verify(request!.body, headers)).toThrow();
    expect(payload).toMatchObject({
      type: 'inference.completed',
      data: {
        inferenceId: result.inferenceId,
        jobId: job.id,
        endpointName: 'echo',
        status: 'completed',
        outputLocation: result.outputLocation,
        failureReason: null,
        responseContentType: 'text/plain',
        metadata: { order: 7 },
      },
    });
    const download = await fetch(payload.data.outputUrl);
    expect(download.status).toBe(200);
    expect(await download.text()).toBe('the model output');
    // The receiver got the request before smad read the answer and recorded it.
    const record = await waitFor(async () => {
      const r = await smad.runtime.ledger.get(result.inferenceId);
      return r?.webhook.state === 'delivered' ? r : undefined;
    });
    expect(record.webhook).toMatchObject({ state: 'delivered', attempts: 1, lastStatus: 200 });
  });

  it('a model failure ends in a verified inference.failed webhook signed with the default secret', async () => {
    const job = await smad.queue.add('x', { endpointName: 'broken', body: 'x' });
    await expect(job.waitUntilFinished(smad.events, 30_000)).rejects.toThrow(/^failed: /);
    await waitFor(() => receiver.to('/default').length === 1, { what: 'the webhook' });
    const [request] = receiver.to('/default');
    const payload = new Webhook(defaultSecret).verify(request!.body, {
      'webhook-id': String(request?.headers['webhook-id']),
      'webhook-timestamp': String(request?.headers['webhook-timestamp']),
      'webhook-signature': String(request?.headers['webhook-signature']),
    }) as {
      type: string;
      data: { status: string; failureReason: string; failureLocation: string | null; failureUrl?: string };
    };
    expect(payload.type).toBe('inference.failed');
    expect(payload.data.failureReason).toMatch(/Received server error/);
    expect(payload.data.failureLocation).toMatch(/^s3:\/\//);
    const failure = await fetch(payload.data.failureUrl ?? '');
    expect(await failure.text()).toContain('Received server error');
  });
});
