import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { PublishCommand } from '@aws-sdk/client-sns';
import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client, createSnsClient, createSqsClient } from '../../src/aws/clients.js';
import { type LocalAws, startLocalAws } from './fauxqs.js';
import { PrivateRedis } from './redis-server.js';

describe('test rig', () => {
  let redis: PrivateRedis;
  let aws: LocalAws;
  beforeAll(async () => {
    redis = await PrivateRedis.start();
    aws = await startLocalAws();
  });
  afterAll(async () => {
    await redis?.destroy();
    await aws?.stop();
  });

  it('runs a private redis-server that keeps its data across a restart (AOF)', async () => {
    expect(redis.port).not.toBe(6379);
    const client = redis.client();
    await client.set('rig:key', 'kept');
    client.disconnect();
    await redis.restart();
    const again = redis.client();
    expect(await again.get('rig:key')).toBe('kept');
    expect(await again.config('GET', 'appendonly')).toEqual(['appendonly', 'yes']);
    again.disconnect();
  });

  it('runs fauxqs with SNS to SQS fan-out and S3, through the real SDK clients', async () => {
    const { queueUrl } = aws.server.createQueue('rig-queue');
    const { topicArn } = aws.server.createTopic('rig-topic');
    aws.server.subscribe({ topic: 'rig-topic', queue: 'rig-queue' });
    aws.server.createBucket('rig-bucket');
    const sns = createSnsClient(aws.settings);
    const sqs = createSqsClient(aws.settings);
    const s3 = createS3Client(aws.settings);
    await sns.send(new PublishCommand({ TopicArn: topicArn, Message: '{"hello":"world"}' }));
    const received = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 5 }));
    const envelope = JSON.parse(received.Messages?.[0]?.Body ?? '{}');
    expect(envelope.Type).toBe('Notification');
    expect(JSON.parse(envelope.Message)).toEqual({ hello: 'world' });
    await s3.send(new PutObjectCommand({ Bucket: 'rig-bucket', Key: 'a/b.txt', Body: 'payload' }));
    const got = await s3.send(new GetObjectCommand({ Bucket: 'rig-bucket', Key: 'a/b.txt' }));
    expect(await got.Body?.transformToString()).toBe('payload');
  });
});
