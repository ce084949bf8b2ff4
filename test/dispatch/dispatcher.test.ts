import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { Job } from 'bullmq';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { INVALID } from '../contract/job-fixtures.js';
import { type AwsStack, startAwsStack } from '../support/emulator.js';
import { PrivateRedis } from '../support/redis-server.js';
import { type SmadHarness, startSmad } from '../support/smad.js';
import { waitFor } from '../support/wait-for.js';

describe('dispatcher', () => {
  let redis: PrivateRedis;
  let stack: AwsStack;
  let smad: SmadHarness | undefined;

  beforeAll(async () => {
    redis = await PrivateRedis.start();
    stack = await startAwsStack({ endpoints: [{ name: 'echo' }, { name: 'my-endpoint' }] });
  });
  afterEach(async () => {
    await smad?.stop();
    smad = undefined;
    await stack.reset();
  });
  afterAll(async () => {
    await stack?.stop();
    await redis?.destroy();
  });

  const finished = async (job: Job) => {
    try {
      return { result: await job.waitUntilFinished(smad!.events, 30_000) };
    } catch (err) {
      return { error: (err as Error).message };
    }
  };

  it('passes every parameter through, for S3 input, inline Body and a staged large body', async () => {
    smad = await startSmad(redis, stack);
    await stack.s3.send(new PutObjectCommand({ Bucket: stack.bucket, Key: 'in/one.json', Body: '{"in":1}' }));
    const common = {
      endpointName: 'echo',
      contentType: 'application/json',
      accept: 'application/json',
      customAttributes: 'trace=abc',
      requestTTLSeconds: 120,
      invocationTimeoutSeconds: 30,
      s3OutputPathExtension: 'runs/7',
    };
    const large = 'y'.repeat(200_000);
    const jobs = await Promise.all([
      smad.queue.add('x', {
        ...common,
        inputLocation: `s3://${stack.bucket}/in/one.json`,
        inferenceId: 'p-s3',
        filename: 'one.out',
      }),
      smad.queue.add('x', {
        ...common,
        body: '{"inline":true}',
        inferenceId: 'p-inline',
        filename: 'two.out',
      }),
      smad.queue.add('x', { ...common, body: large, inferenceId: 'p-staged' }),
    ]);
    const results = await Promise.all(jobs.map(finished));
    for (const r of results) expect(r).toMatchObject({ result: { status: 'completed' } });
    const byId = new Map(stack.emulator.requests.map((r) => [r.params.inferenceId, r]));
    expect(byId.get('p-s3')?.params).toEqual({
      endpointName: 'echo',
      contentType: 'application/json',
      accept: 'application/json',
      customAttributes: 'trace=abc',
      inferenceId: 'p-s3',
      inputLocation: `s3://${stack.bucket}/in/one.json`,
      s3OutputPathExtension: 'runs/7',
      filename: 'one.out',
      requestTTLSeconds: 120,
      invocationTimeoutSeconds: 30,
    });
    expect(byId.get('p-inline')?.params.inputLocation).toBeUndefined();
    expect(byId.get('p-inline')?.bodyBytes).toBe(Buffer.byteLength('{"inline":true}'));
    const staged = byId.get('p-staged');
    expect(staged?.bodyBytes).toBe(0);
    expect(staged?.params.inputLocation).toBe(`s3://${stack.bucket}/staging/p-staged.in`);
    expect(await stack.readObject(`s3://${stack.bucket}/staging/p-staged.in`)).toBe(large);
    // Outputs are what the model produced, at the locations the 202 named.
    const inline = await smad.runtime.ledger.get('p-inline');
    expect(inline?.outputLocation).toBe(`s3://${stack.bucket}/output/echo/runs/7/two.out`);
    expect(await stack.readObject(inline!.outputLocation!)).toBe('{"inline":true}');
    expect(results[0]?.result).toMatchObject({
      inferenceId: 'p-s3',
      outputLocation: `s3://${stack.bucket}/output/echo/runs/7/one.out`,
    });
  });

  it('fails every invalid job, one per rule, naming the field, without any API call', async () => {
    smad = await startSmad(redis, stack);
    const cases = INVALID.filter((f) => f.options === undefined && f.schema !== 'skip');
    expect(cases.length).toBeGreaterThanOrEqual(30);
    const jobs = await Promise.all(cases.map((c) => smad!.queue.add('bad', c.data)));
    const outcomes = await Promise.all(jobs.map(finished));
    cases.forEach((c, i) => {
      const error = outcomes[i]?.error ?? '';
      expect(error, c.name).toMatch(/^rejected: invalid job: /);
      expect(error, c.name).toContain(c.field === '' ? 'must be' : `${c.field}:`);
    });
    expect(stack.emulator.requests).toHaveLength(0);
    const record = await smad.runtime.ledger.getByJobId(jobs[0]!.id!);
    expect(record).toMatchObject({ status: 'rejected' });
  });

  it('retries 500, 503 and throttling with the same inferenceId, then succeeds', async () => {
    smad = await startSmad(redis, stack);
    stack.emulator.failNext({ status: 500, count: 1 });
    stack.emulator.failNext({ status: 503, count: 1 });
    stack.emulator.failNext({ status: 'throttle', count: 1 });
    const job = await smad.queue.add('x', { endpointName: 'echo', body: 'hello' });
    const outcome = await finished(job);
    expect(outcome).toMatchObject({ result: { status: 'completed' } });
    const calls = stack.emulator.requests;
    expect(calls.map((c) => c.status)).toEqual([500, 503, 400, 202]);
    const ids = new Set(calls.map((c) => c.params.inferenceId));
    expect(ids.size).toBe(1);
    const record = await smad.runtime.ledger.getByJobId(job.id!);
    expect(record).toMatchObject({ status: 'completed', attempts: 4, inferenceId: [...ids][0] });
  });

  it('does not retry a ValidationError, and gives up with dispatch_failed when attempts run out', async () => {
    smad = await startSmad(redis, stack, { overrides: { 'dispatch.maxAttempts': 3 } });
    const unknown = await smad.queue.add('x', { endpointName: 'no-such-endpoint', body: 'x' });
    expect(await finished(unknown)).toEqual({
      error: expect.stringMatching(
        /^rejected: ValidationError: Endpoint no-such-endpoint of account \d+ not found/,
      ),
    });
    expect(stack.emulator.requests).toHaveLength(1);
    stack.emulator.failNext({ status: 503, count: 3 });
    const doomed = await smad.queue.add('x', { endpointName: 'echo', body: 'x' });
    expect(await finished(doomed)).toEqual({
      error: expect.stringMatching(/^dispatch_failed: ServiceUnavailable: .*gave up after 3 attempts/),
    });
    expect(stack.emulator.requests).toHaveLength(4);
    const record = await smad.runtime.ledger.getByJobId(doomed.id!);
    expect(record).toMatchObject({ status: 'dispatch_failed', attempts: 3 });
  });

  it('rejects a second job with a producer-supplied inferenceId already in use, without calling', async () => {
    smad = await startSmad(redis, stack);
    const first = await smad.queue.add('x', { endpointName: 'echo', body: 'one', inferenceId: 'unique-1' });
    expect(await finished(first)).toMatchObject({ result: { inferenceId: 'unique-1' } });
    const second = await smad.queue.add('x', { endpointName: 'echo', body: 'two', inferenceId: 'unique-1' });
    expect(await finished(second)).toEqual({
      error: expect.stringContaining('inferenceId "unique-1" is already used by another job'),
    });
    expect(stack.emulator.requests).toHaveLength(1);
    expect(await smad.runtime.ledger.get('unique-1')).toMatchObject({ jobId: first.id, status: 'completed' });
  });

  it('keeps a record resolved by a notification that beat the dispatcher to the ledger', async () => {
    let raced = '';
    const hooks = {
      afterInvoke: async (inferenceId: string) => {
        // Hold the dispatcher between the 202 and its ledger write until the completion
        // consumer has resolved the record from the notification.
        await waitFor(async () => (await smad?.runtime.ledger.get(inferenceId))?.status === 'completed', {
          what: 'the notification to resolve the record first',
        });
        raced = inferenceId;
      },
    };
    smad = await startSmad(redis, stack, { hooks });
    const job = await smad.queue.add('x', { endpointName: 'echo', body: 'race' });
    const outcome = await finished(job);
    expect(raced).not.toBe('');
    expect(outcome).toMatchObject({ result: { status: 'completed', inferenceId: raced } });
    const record = await smad.runtime.ledger.get(raced);
    expect(record?.status).toBe('completed');
    expect(record?.submittedAt).toBeNull();
    expect(record?.failureLocation).toBe(stack.emulator.requests[0]?.failureLocation);
  });

  it('stages a large body only once its call may go: not while the job waits for capacity', async () => {
    smad = await startSmad(redis, stack, {
      overrides: { endpoints: { '*': { maxTps: 0, maxInFlight: 0 }, echo: { maxTps: 0, maxInFlight: 1 } } },
    });
    stack.emulator.setKnobs({ latencyMs: 1_500 });
    try {
      const holder = await smad.queue.add('x', { endpointName: 'echo', body: 'holds the slot' });
      await waitFor(() => stack.emulator.requests.length === 1, { what: 'the slot taken' });
      const large = await smad.queue.add('x', {
        endpointName: 'echo',
        body: 'z'.repeat(200_000),
        inferenceId: 'staged-later',
      });
      const staged = `s3://${stack.bucket}/staging/staged-later.in`;
      // Refused for the in-flight cap (written ahead, then parked): nothing uploaded.
      await waitFor(
        async () => (await smad!.runtime.capacity.inspect()).some((e) => e.waitingForSlot === 1),
        {
          what: 'the large job waiting for the slot',
        },
      );
      expect(await stack.objectExists(staged)).toBe(false);
      expect(await finished(holder)).toMatchObject({ result: { status: 'completed' } });
      expect(await finished(large)).toMatchObject({ result: { status: 'completed' } });
      expect(stack.emulator.requests[1]?.params).toMatchObject({ inputLocation: staged });
      expect(await stack.objectExists(staged)).toBe(true);
    } finally {
      stack.emulator.setKnobs({ latencyMs: 0 });
    }
  });

  it('resolves by the S3 check at the deadline when the notification is dropped, and expires when nothing came', async () => {
    smad = await startSmad(redis, stack, {
      overrides: { 'expiry.timeScale': 0.002, 'expiry.graceSeconds': 0 },
    });
    stack.emulator.setKnobs({ dropNotificationRatio: 1 });
    // Deadline 1.2 s after the call (scaled): the output object is in S3 long before.
    const dropped = await smad.queue.add('x', {
      endpointName: 'echo',
      body: 'quiet',
      requestTTLSeconds: 600,
      invocationTimeoutSeconds: 1,
    });
    expect(await finished(dropped)).toMatchObject({ result: { status: 'completed' } });
    stack.emulator.setKnobs({ dropNotificationRatio: 0, latencyMs: 5_000 });
    const lost = await smad.queue.add('x', {
      endpointName: 'echo',
      body: 'lost',
      requestTTLSeconds: 60,
      invocationTimeoutSeconds: 60,
    });
    const outcome = await finished(lost);
    expect(outcome.error).toMatch(/^expired: no notification and no output or failure object in S3/);
    expect(await smad.runtime.ledger.getByJobId(lost.id!)).toMatchObject({ status: 'expired' });
    stack.emulator.setKnobs({ latencyMs: 0 });
  });

  it('expires with the S3 error as the reason when the check after the deadline keeps failing (no s3:ListBucket)', async () => {
    // S3 as a caller without s3:ListBucket sees it for a missing object: 403 AccessDenied.
    const requests: string[] = [];
    const forbidden = createServer((req, res) => {
      requests.push(`${req.method} ${req.url}`);
      res.writeHead(403, { 'content-type': 'application/xml' });
      res.end(
        req.method === 'HEAD'
          ? undefined
          : '<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>',
      );
    });
    await new Promise<void>((resolve) => forbidden.listen(0, '127.0.0.1', resolve));
    try {
      smad = await startSmad(redis, stack, {
        // Give-up 2 s after the deadline (scaled): several checks fit whatever the pickup delays.
        overrides: { 'expiry.timeScale': 0.002, 'expiry.graceSeconds': 0, 'expiry.checkGiveUpSeconds': 1000 },
        s3Endpoint: `http://127.0.0.1:${(forbidden.address() as AddressInfo).port}`,
      });
      stack.emulator.setKnobs({ dropNotificationRatio: 1 });
      const job = await smad.queue.add('x', {
        endpointName: 'echo',
        body: 'unknowable',
        requestTTLSeconds: 60,
        invocationTimeoutSeconds: 1,
      });
      const outcome = await finished(job);
      expect(outcome.error).toMatch(
        /^expired: no notification by the deadline .*, and S3 could not be checked .*s3:ListBucket/,
      );
      const record = await smad.runtime.ledger.getByJobId(job.id as string);
      expect(record).toMatchObject({ status: 'expired' });
      expect(record?.failureReason).toMatch(/403|Forbidden|AccessDenied/);
      // Checked more than once before giving up (the wait grows, bounded by the give-up time).
      expect(requests.filter((r) => r.startsWith('HEAD')).length).toBeGreaterThan(1);
    } finally {
      stack.emulator.setKnobs({ dropNotificationRatio: 0 });
      forbidden.closeAllConnections();
      await new Promise<void>((resolve) => forbidden.close(() => resolve()));
    }
  });
});
