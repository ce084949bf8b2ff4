import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { Redis } from 'ioredis';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client } from '../../src/aws/clients.js';
import type { WebhookPayload } from '../../src/contract/webhook-event.js';
import { type LocalAws, startLocalAws } from '../support/fauxqs.js';
import { PrivateRedis } from '../support/redis-server.js';
import { waitFor } from '../support/wait-for.js';
import { newSecret, Receiver, resolveInference, startHarness, testConfig } from './helpers.js';

describe('payload extras', () => {
  let redis: PrivateRedis;
  let connection: Redis;
  let receiver: Receiver;
  let aws: LocalAws;

  beforeAll(async () => {
    redis = await PrivateRedis.start();
    connection = redis.client();
    receiver = await Receiver.start();
    aws = await startLocalAws();
  });
  afterAll(async () => {
    await receiver?.stop();
    await aws?.stop();
    connection?.disconnect();
    await redis?.destroy();
  });

  it('carries presigned GET URLs that download the output object', async () => {
    aws.server.createBucket('results');
    const s3 = createS3Client(aws.settings);
    await s3.send(
      new PutObjectCommand({ Bucket: 'results', Key: 'out/abc.out', Body: '{"transcript":"hi"}' }),
    );
    s3.destroy();

    const secret = newSecret();
    const config = testConfig(redis.url, { 'webhooks.secret': [secret], 'webhooks.presignSeconds': 600 });
    const h = await startHarness(connection, config, {}, aws.settings);
    try {
      await resolveInference(h.ledger, {
        status: 'completed',
        webhookUrl: receiver.url('/presigned'),
        outputLocation: 's3://results/out/abc.out',
        failureLocation: 's3://results/failures/abc.err',
      });
      const [req] = await waitFor(() =>
        receiver.to('/presigned').length ? receiver.to('/presigned') : undefined,
      );
      if (!req) throw new Error('no request');
      const payload = new Webhook(secret).verify(req.body, {
        'webhook-id': String(req.headers['webhook-id']),
        'webhook-timestamp': String(req.headers['webhook-timestamp']),
        'webhook-signature': String(req.headers['webhook-signature']),
      }) as WebhookPayload;
      expect(payload.data.outputUrl).toMatch(/X-Amz-Signature=/);
      expect(payload.data.outputUrl).toMatch(/X-Amz-Expires=600/);
      expect(payload.data.failureUrl).toMatch(/\/results\/failures\/abc\.err\?/);
      const download = await fetch(payload.data.outputUrl as string);
      expect(download.status).toBe(200);
      expect(await download.text()).toBe('{"transcript":"hi"}');
    } finally {
      await h.close();
    }
  });

  it('inlines a small embedded response body when configured', async () => {
    const secret = newSecret();
    const config = testConfig(redis.url, {
      'webhooks.secret': [secret],
      'webhooks.inlineResponseMaxBytes': 64,
    });
    const h = await startHarness(connection, config);
    try {
      const content = Buffer.from('{"label":"cat"}').toString('base64');
      await resolveInference(h.ledger, {
        status: 'completed',
        webhookUrl: receiver.url('/inline'),
        responseContentType: 'application/json',
        responseBody: content,
      });
      await resolveInference(h.ledger, {
        status: 'completed',
        webhookUrl: receiver.url('/too-big'),
        responseBody: Buffer.alloc(65, 1).toString('base64'),
      });
      await waitFor(() => receiver.to('/inline').length === 1 && receiver.to('/too-big').length === 1);
      const inline = JSON.parse(receiver.to('/inline')[0]?.body ?? '{}') as WebhookPayload;
      expect(inline.data.response).toEqual({ contentType: 'application/json', encoding: 'base64', content });
      expect(inline.data.outputUrl).toBeUndefined();
      const big = JSON.parse(receiver.to('/too-big')[0]?.body ?? '{}') as WebhookPayload;
      expect(big.data.response).toBeUndefined();
    } finally {
      await h.close();
    }
  });
});
