import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PublishCommand } from '@aws-sdk/client-sns';
import { Job } from 'bullmq';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type AwsStack, startAwsStack } from '../support/emulator.js';
import { PrivateRedis } from '../support/redis-server.js';
import { freshPrefix, type SmadHarness, startSmad } from '../support/smad.js';
import { CLI, SmadProcess, stackEnv } from '../support/smad-process.js';
import { waitFor } from '../support/wait-for.js';

/** Runs a command to completion, collecting its output. */
function run(args: string[], env: Record<string, string>, cwd?: string) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((done) => {
    const child = spawn(process.execPath, args, {
      cwd,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    child.once('close', (code) => done({ code, stdout, stderr }));
  });
}

describe('dispatcher across processes', () => {
  let redis: PrivateRedis;
  let stack: AwsStack;
  let smad: SmadHarness | undefined;
  const processes: SmadProcess[] = [];

  beforeAll(async () => {
    redis = await PrivateRedis.start();
    stack = await startAwsStack();
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

  it('a dispatcher killed with SIGKILL right after the API call: the job is retried with the same inferenceId and ends consistent', async () => {
    const prefix = freshPrefix();
    const doomed = new SmadProcess(['start', '--roles', 'dispatcher'], {
      ...stackEnv(stack, redis.url, prefix),
      SMAD_TEST_KILL_AFTER_INVOKE: '1',
      SMAD_DISPATCH_LOCK_DURATION_MS: '1000',
      SMAD_DISPATCH_STALLED_INTERVAL_MS: '500',
    });
    processes.push(doomed);
    await doomed.started();
    // No notification may resolve the record before the retry: the test sends it later.
    stack.emulator.setKnobs({ dropNotificationRatio: 1 });
    // A producer that is not smad: a plain BullMQ queue on the same Redis and prefix.
    smad = await startSmad(redis, stack, { prefix, roles: ['completions'] });
    // A webhook URL, so that the outcome event is appended (no webhooks role consumes it here).
    const job = await smad.queue.add('any-name', {
      endpointName: 'echo',
      body: 'survive',
      webhook: { url: 'https://hooks.example/outcomes' },
    });
    const exit = await doomed.exit;
    expect(exit.signal).toBe('SIGKILL');
    expect(stack.emulator.requests).toHaveLength(1);
    const first = stack.emulator.requests[0]!;
    expect(first.status).toBe(202);
    const before = await smad.runtime.ledger.getByJobId(job.id!);
    expect(before?.inferenceId).toBe(first.inferenceId);

    const survivor = new SmadProcess(['start', '--roles', 'dispatcher'], {
      ...stackEnv(stack, redis.url, prefix),
      // Stalled-job detection hands the dead worker's job over after its lock expires.
      SMAD_DISPATCH_STALLED_INTERVAL_MS: '500',
    });
    processes.push(survivor);
    await waitFor(() => stack.emulator.requests.length === 2, {
      timeoutMs: 30_000,
      what: 'the retried call',
    });
    const submitted = await waitFor(async () => {
      const r = await smad!.runtime.ledger.get(first.inferenceId!);
      return r?.status === 'submitted' ? r : undefined;
    });
    await stack.sns.send(
      new PublishCommand({
        TopicArn: stack.successTopicArn,
        Message: JSON.stringify({
          invocationStatus: 'Completed',
          inferenceId: first.inferenceId,
          requestParameters: { endpointName: 'echo' },
          responseParameters: { contentType: 'text/plain', outputLocation: submitted.outputLocation },
          eventSource: 'aws:sagemaker',
          eventName: 'InferenceResult',
        }),
      }),
    );
    const result = await job.waitUntilFinished(smad.events, 60_000);
    expect(result).toMatchObject({ status: 'completed', inferenceId: first.inferenceId });
    const ids = stack.emulator.requests.map((r) => r.params.inferenceId);
    expect(ids).toEqual([first.inferenceId, first.inferenceId]);
    const record = await smad.runtime.ledger.get(first.inferenceId!);
    expect(record).toMatchObject({ status: 'completed', jobId: job.id });
    expect(record?.outputLocation).toMatch(/^s3:\/\//);
    expect(await redis.client().xlen(smad.runtime.ledger.keys.outbox)).toBe(1);
    expect((await Job.fromId(smad.queue, job.id!))?.finishedOn).toBeGreaterThan(0);
  }, 90_000);

  it('dispatches jobs added by a separate plain BullMQ producer process', async () => {
    smad = await startSmad(redis, stack);
    const producer = `
      import { Queue } from 'bullmq';
      const queue = new Queue('inference', { connection: { host: '127.0.0.1', port: ${redis.port} }, prefix: '${smad.config.queue.prefix}' });
      for (let i = 0; i < 5; i++) await queue.add('from-python-or-anywhere', { endpointName: 'echo', body: 'job ' + i, metadata: { i } });
      await queue.close();
    `;
    const out = await run(
      ['--input-type=module', '-e', producer],
      {},
      resolve(import.meta.dirname, '..', '..'),
    );
    expect(out.code, out.stderr).toBe(0);
    await waitFor(async () => (await smad!.queue.getCompletedCount()) === 5, {
      timeoutMs: 30_000,
      what: '5 completed jobs',
    });
    expect(stack.emulator.requests.filter((r) => r.status === 202)).toHaveLength(5);
  });

  it('smad enqueue --file reports bad lines by number and enqueues the rest', async () => {
    smad = await startSmad(redis, stack);
    const dir = mkdtempSync(join(tmpdir(), 'smad-jsonl-'));
    const file = join(dir, 'jobs.jsonl');
    writeFileSync(
      file,
      [
        JSON.stringify({ endpointName: 'echo', body: 'one' }),
        '{not json',
        JSON.stringify({ endpointName: 'echo', body: 'two', requestTTLSeconds: 5 }),
        '',
        JSON.stringify({ endpointName: 'echo', inputLocation: `s3://${stack.bucket}/missing` }),
        JSON.stringify({ endpointName: 'bad name', body: 'x' }),
      ].join('\n'),
    );
    const env = { SMAD_REDIS_URL: redis.url, SMAD_QUEUE_PREFIX: smad.config.queue.prefix };
    const out = await run([CLI, 'enqueue', '--file', file, '--no-progress'], env);
    expect(out.code).toBe(3);
    expect(JSON.parse(out.stdout)).toEqual({ accepted: 2, rejected: 3, rejectedLines: [2, 3, 6] });
    expect(out.stderr).toContain('line 2: not JSON');
    expect(out.stderr).toContain(
      'line 3: requestTTLSeconds: must be an integer between 60 and 21600 (was 5)',
    );
    expect(out.stderr).toContain('line 6: endpointName:');
    await waitFor(
      async () => (await smad!.queue.getCompletedCount()) + (await smad!.queue.getFailedCount()) === 2,
      {
        what: 'both accepted jobs to finish',
      },
    );

    const one = await run(
      [CLI, 'enqueue', '--endpoint', 'echo', '--body', 'hi', '--metadata', '{"k":1}'],
      env,
    );
    expect(one.code, one.stderr).toBe(0);
    const { jobId } = JSON.parse(one.stdout) as { jobId: string };
    const job = await Job.fromId(smad.queue, jobId);
    expect(job?.data).toEqual({ endpointName: 'echo', body: 'hi', metadata: { k: 1 } });
    const bad = await run([CLI, 'enqueue', '--endpoint', 'echo', '--ttl', 'soon'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('requestTTLSeconds');
    expect(bad.stderr).toContain('inputLocation');

    await job?.waitUntilFinished(smad.events, 30_000);
    const status = await run([CLI, 'status', jobId], env);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ jobId, status: 'completed', metadata: { k: 1 } });
    const missing = await run([CLI, 'status', 'nope'], env);
    expect(missing.code).toBe(1);
  });
});
