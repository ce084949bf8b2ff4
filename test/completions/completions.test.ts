import { PublishCommand } from '@aws-sdk/client-sns';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import type { Job } from 'bullmq';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type AwsStack, startAwsStack } from '../support/emulator.js';
import { PrivateRedis } from '../support/redis-server.js';
import { freshPrefix, type SmadHarness, startSmad } from '../support/smad.js';
import { SmadProcess, stackEnv } from '../support/smad-process.js';
import { waitFor } from '../support/wait-for.js';

const MALFORMED_BODIES: [string, string][] = [
  ['not JSON', 'definitely not json'],
  ['a JSON array', '[1,2,3]'],
  ['JSON without inferenceId', JSON.stringify({ invocationStatus: 'Completed' })],
  ['inferenceId of the wrong type', JSON.stringify({ inferenceId: 7, invocationStatus: 'Completed' })],
  ['an unknown invocationStatus', JSON.stringify({ inferenceId: 'x', invocationStatus: 'Maybe' })],
  [
    'responseParameters of the wrong type',
    JSON.stringify({ inferenceId: 'x', invocationStatus: 'Completed', responseParameters: [] }),
  ],
  ['a truncated envelope', '{"Type":"Notification","MessageId":"1","Message":"{\\"inferenceId'],
  [
    'an envelope whose Message is not JSON',
    JSON.stringify({ Type: 'Notification', TopicArn: 'arn', Message: 'nope' }),
  ],
  [
    'a subscription confirmation',
    JSON.stringify({ Type: 'SubscriptionConfirmation', TopicArn: 'arn', Message: 'confirm' }),
  ],
  [
    'a huge message',
    JSON.stringify({ inferenceId: 'x', invocationStatus: 'Completed', pad: 'p'.repeat(600 * 1024) }),
  ],
  [
    'bad base64 in responseBody',
    JSON.stringify({ inferenceId: 'x', invocationStatus: 'Completed', responseBody: { content: '!!' } }),
  ],
];

describe('completions', () => {
  let redis: PrivateRedis;
  let stack: AwsStack;
  let smad: SmadHarness | undefined;
  const processes: SmadProcess[] = [];

  beforeAll(async () => {
    redis = await PrivateRedis.start();
    stack = await startAwsStack({
      endpoints: [
        { name: 'echo' },
        {
          name: 'inline',
          includeInferenceResponseIn: ['SUCCESS_NOTIFICATION_TOPIC', 'ERROR_NOTIFICATION_TOPIC'],
        },
        { name: 'quiet', successTopicArn: null, errorTopicArn: null },
        { name: 'broken', model: 'fail' },
      ],
    });
  });
  afterEach(async () => {
    for (const p of processes.splice(0)) await p.stop();
    await smad?.stop();
    smad = undefined;
    await stack.reset();
  });
  afterAll(async () => {
    await stack?.stop();
    await redis?.destroy();
  });

  const outcome = async (job: Job) => {
    try {
      return { result: await job.waitUntilFinished(smad!.events, 30_000) };
    } catch (err) {
      return { error: (err as Error).message };
    }
  };

  for (const delivery of ['envelope', 'raw'] as const) {
    it(`resolves success and failure end to end (${delivery === 'raw' ? 'raw delivery' : 'SNS envelope'})`, async () => {
      smad = await startSmad(redis, stack, {
        overrides: { 'completions.queueUrls': [stack.queues[delivery]] },
      });
      const ok = await smad.queue.add('x', { endpointName: 'echo', body: 'fine', contentType: 'text/plain' });
      const bad = await smad.queue.add('x', { endpointName: 'broken', body: 'doomed' });
      const [good, failed] = await Promise.all([outcome(ok), outcome(bad)]);
      const okRecord = await smad.runtime.ledger.getByJobId(ok.id!);
      expect(good).toEqual({
        result: expect.objectContaining({
          status: 'completed',
          outputLocation: okRecord?.outputLocation,
          responseContentType: 'text/plain',
        }),
      });
      expect(await stack.readObject(okRecord!.outputLocation!)).toBe('fine');
      expect(failed.error).toMatch(/^failed: /);
      const badRecord = await smad.runtime.ledger.getByJobId(bad.id!);
      expect(badRecord).toMatchObject({ status: 'failed' });
      expect(failed.error).toBe(`failed: ${badRecord?.failureReason}`);
      expect(badRecord?.failureReason).toBe(stack.emulator.inference(badRecord!.inferenceId)?.failureReason);
      expect(smad.runtime.completions?.counts).toMatchObject({ resolved: 2, malformed: 0, unknown: 0 });
    });
  }

  it('keeps an embedded response body for the webhook', async () => {
    smad = await startSmad(redis, stack);
    const job = await smad.queue.add('x', { endpointName: 'inline', body: 'embed me' });
    await outcome(job);
    const record = await smad.runtime.ledger.getByJobId(job.id!);
    expect(record?.status).toBe('completed');
    expect(Buffer.from(record?.responseBody ?? '', 'base64').toString()).toBe('embed me');
  });

  it('applies a notification once: three copies and a late contradicting failure change nothing', async () => {
    smad = await startSmad(redis, stack);
    stack.emulator.setKnobs({ dropNotificationRatio: 1 });
    // A webhook URL, so that the outcome event is appended (no webhooks role consumes it here).
    const job = await smad.queue.add('x', {
      endpointName: 'echo',
      body: 'once',
      webhook: { url: 'https://hooks.example/outcomes' },
    });
    const record = await waitFor(async () => {
      const r = await smad!.runtime.ledger.getByJobId(job.id!);
      return r?.status === 'submitted' ? r : undefined;
    });
    const message = JSON.stringify({
      awsRegion: 'us-east-1',
      eventTime: new Date().toISOString(),
      receivedTime: new Date().toISOString(),
      invocationStatus: 'Completed',
      requestParameters: { endpointName: 'echo', inputLocation: 's3://x/y' },
      responseParameters: { contentType: 'text/plain', outputLocation: record.outputLocation },
      inferenceId: record.inferenceId,
      eventVersion: '1.0',
      eventSource: 'aws:sagemaker',
      eventName: 'InferenceResult',
    });
    for (let i = 0; i < 3; i++)
      await stack.sns.send(new PublishCommand({ TopicArn: stack.successTopicArn, Message: message }));
    expect(await outcome(job)).toMatchObject({ result: { status: 'completed' } });
    const late = JSON.stringify({
      ...JSON.parse(message),
      invocationStatus: 'Failed',
      failureReason: 'late',
      responseParameters: undefined,
    });
    await stack.sns.send(new PublishCommand({ TopicArn: stack.errorTopicArn, Message: late }));
    await waitFor(() => (smad!.runtime.completions?.counts.duplicate ?? 0) >= 3, {
      what: 'duplicates counted',
    });
    expect(smad.runtime.completions?.counts).toMatchObject({ resolved: 1, duplicate: 3 });
    expect(await smad.runtime.ledger.get(record.inferenceId)).toMatchObject({
      status: 'completed',
      failureReason: null,
    });
    expect(await smad.redis.xlen(smad.runtime.ledger.keys.outbox)).toBe(1);
    expect(await job.getState()).toBe('completed');
  });

  it('resolves an endpoint without notifications by polling S3', async () => {
    smad = await startSmad(redis, stack, {
      overrides: {
        endpoints: { '*': { maxTps: 0 }, quiet: { notifications: false, maxTps: 0 } },
        'expiry.timeScale': 0.001,
        'expiry.pollFirstSeconds': 15,
      },
    });
    const ok = await smad.queue.add('x', { endpointName: 'quiet', body: 'polled', requestTTLSeconds: 3600 });
    expect(await outcome(ok)).toMatchObject({ result: { status: 'completed' } });
    expect(stack.emulator.notifications).toHaveLength(0);
  });

  for (const policy of ['delete', 'retain'] as const) {
    it(`handles unknown ids and ${MALFORMED_BODIES.length} kinds of malformed messages with policy ${policy}`, async () => {
      const dlq = stack.aws.server.createQueue(`bad-${policy}-dlq`);
      const queue = stack.aws.server.createQueue(`bad-${policy}`, {
        attributes: {
          VisibilityTimeout: '1',
          RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlq.queueArn, maxReceiveCount: 2 }),
        },
      });
      smad = await startSmad(redis, stack, {
        overrides: {
          'completions.queueUrls': [queue.queueUrl],
          'completions.unknownPolicy': policy,
          'completions.malformedPolicy': policy,
          'completions.visibilityTimeoutSeconds': 1,
        },
      });
      const unknown = JSON.stringify({
        inferenceId: 'nobody-knows-me',
        invocationStatus: 'Completed',
        responseParameters: {},
      });
      const bodies = [...MALFORMED_BODIES.map(([, body]) => body), unknown];
      for (const body of bodies)
        await stack.sqs.send(new SendMessageCommand({ QueueUrl: queue.queueUrl, MessageBody: body }));
      await waitFor(
        () => {
          const counts = smad!.runtime.completions!.counts;
          return counts.malformed >= MALFORMED_BODIES.length && counts.unknown >= 1;
        },
        { what: 'every message handled' },
      );
      if (policy === 'delete') {
        await waitFor(
          () => {
            const state = stack.aws.server.inspectQueue(`bad-${policy}`);
            return state && state.messages.ready.length + state.messages.inflight.length === 0;
          },
          { what: 'the queue to be empty' },
        );
        expect(stack.aws.server.inspectQueue(`bad-${policy}-dlq`)?.messages.ready).toHaveLength(0);
      } else {
        await waitFor(
          () => stack.aws.server.inspectQueue(`bad-${policy}-dlq`)?.messages.ready.length === bodies.length,
          {
            timeoutMs: 30_000,
            what: 'every retained message in the dead-letter queue',
          },
        );
      }
      expect(smad.runtime.completions?.counts.resolved).toBe(0);
    });
  }

  it('a consumer killed with SIGKILL mid-batch: after restart every inference is resolved exactly once', async () => {
    const prefix = freshPrefix();
    smad = await startSmad(redis, stack, { prefix, roles: ['dispatcher'] });
    const env = { ...stackEnv(stack, redis.url, prefix), SMAD_COMPLETIONS_VISIBILITY_TIMEOUT_SECONDS: '1' };
    const first = new SmadProcess(['start', '--roles', 'completions'], env);
    processes.push(first);
    await first.started();
    const jobs = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        smad!.queue.add('x', {
          endpointName: 'echo',
          body: `n${i}`,
          webhook: { url: 'https://hooks.example/outcomes' },
        }),
      ),
    );
    await first.waitForLog((l) => l.msg === 'resolved by notification', 'a first resolution');
    first.kill('SIGKILL');
    await first.exit;
    const second = new SmadProcess(['start', '--roles', 'completions'], env);
    processes.push(second);
    const results = await Promise.all(jobs.map((job) => job.waitUntilFinished(smad!.events, 60_000)));
    expect(results.every((r) => r.status === 'completed')).toBe(true);
    const ids = results.map((r) => r.inferenceId as string);
    const events = await smad.redis.xrange(smad.runtime.ledger.keys.outbox, '-', '+');
    const perInference = new Map<string, number>();
    for (const [, fields] of events) perInference.set(fields[3]!, (perInference.get(fields[3]!) ?? 0) + 1);
    expect(ids.every((id) => perInference.get(id) === 1)).toBe(true);
    expect(events).toHaveLength(40);
  }, 90_000);
});
