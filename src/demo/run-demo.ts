import { randomBytes } from 'node:crypto';
import { Job, type Queue, QueueEvents } from 'bullmq';
import { startFauxqs } from 'fauxqs';
import { Redis } from 'ioredis';
import type { AwsSettings } from '../aws/clients.js';
import { loadConfig } from '../config/load.js';
import { SageMakerEmulator } from '../emulator/index.js';
import { enqueueJobs } from '../intake/enqueue.js';
import type { Ledger } from '../ledger/ledger.js';
import type { Logger } from '../observability/logger.js';
import { SmadRuntime } from '../runtime/smad-runtime.js';
import { findOrStartRedis } from './local-redis.js';
import { DEMO_ENDPOINTS, type SampleJob, sampleJobs } from './sample-jobs.js';
import { DemoWebhookReceiver } from './webhook-receiver.js';

export interface DemoOptions {
  /** How many plain successful jobs (besides the failure, invalid, expiring and staged ones). */
  successes: number;
  /** Gives up after this long. */
  timeoutMs: number;
  /** Where progress and the table go. */
  out: (line: string) => void;
  logger: Logger;
  env?: NodeJS.ProcessEnv;
}

export interface DemoRow {
  label: string;
  expected: string;
  actual: string;
  latencyMs: number | null;
  webhook: string;
  ok: boolean;
}

export interface DemoResult {
  ok: boolean;
  rows: DemoRow[];
}

/** Time scale shared by the emulator and smad: an emulated minute lasts 200 ms. */
const TIME_SCALE = 0.00333;

/** Removes what the demo wrote to a Redis it did not start (everything under its prefix). */
async function removeKeys(url: string, prefix: string): Promise<void> {
  const client = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) await client.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    client.disconnect();
  }
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

/**
 * `smad demo`: the whole pipeline on one machine. fauxqs (SNS, SQS, S3) and the emulator
 * run in-process, Redis is found or started, every role runs, a local receiver verifies
 * webhooks with the standardwebhooks package, and a set of sample jobs shows each outcome.
 */
export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const { out } = options;
  const cleanups: (() => Promise<unknown>)[] = [];
  try {
    const redis = await findOrStartRedis(options.env);
    cleanups.push(() => redis.stop());
    out(
      `redis      ${redis.url} (${redis.source === 'started' ? 'started from PATH for the demo' : redis.source})`,
    );

    const fauxqs = await startFauxqs({ port: 0, logger: false });
    cleanups.push(() => fauxqs.stop());
    const bucket = 'smad-demo';
    fauxqs.createBucket(bucket);
    const { topicArn: successTopicArn } = fauxqs.createTopic('sagemaker-success');
    const { topicArn: errorTopicArn } = fauxqs.createTopic('sagemaker-error');
    const { queueUrl } = fauxqs.createQueue('smad-completions');
    fauxqs.subscribe({ topic: 'sagemaker-success', queue: 'smad-completions' });
    fauxqs.subscribe({ topic: 'sagemaker-error', queue: 'smad-completions' });
    const local: AwsSettings = {
      region: 'us-east-1',
      credentials: { accessKeyId: 'demo', secretAccessKey: 'demo' },
      endpoints: { s3: fauxqs.address, sqs: fauxqs.address, sns: fauxqs.address },
    };
    out(`aws        fauxqs (SNS, SQS, S3) at ${fauxqs.address}`);

    const emulator = await SageMakerEmulator.start({
      aws: local,
      knobs: { timeScale: TIME_SCALE, expiredNotification: 'none' },
      endpoints: DEMO_ENDPOINTS.map((e) => ({
        ...e,
        s3OutputPath: `s3://${bucket}/output/${e.name}`,
        s3FailurePath: `s3://${bucket}/failure/${e.name}`,
        successTopicArn,
        errorTopicArn,
      })),
    });
    cleanups.push(() => emulator.stop());
    out(`sagemaker  emulator at ${emulator.address} (endpoints: ${emulator.endpointNames.join(', ')})`);

    const secret = `whsec_${randomBytes(32).toString('base64')}`;
    const receiver = new DemoWebhookReceiver(secret);
    const webhookUrl = await receiver.listen();
    cleanups.push(() => receiver.close());
    out(`webhooks   receiver at ${webhookUrl}, verifying with the standardwebhooks package`);

    const prefix = `smad-demo-${randomBytes(4).toString('hex')}`;
    if (redis.source !== 'started') cleanups.push(() => removeKeys(redis.url, prefix));
    const config = loadConfig({
      skipDefaultFile: true,
      env: {},
      overrides: {
        'redis.url': redis.url,
        'queue.prefix': prefix,
        roles: ['dispatcher', 'completions', 'webhooks'],
        'completions.queueUrls': [queueUrl],
        'completions.waitTimeSeconds': 1,
        'staging.s3Uri': `s3://${bucket}/staging`,
        'webhooks.defaultUrl': webhookUrl,
        'webhooks.secret': [secret],
        'webhooks.allowPrivateNetworks': true,
        'expiry.timeScale': TIME_SCALE,
        'expiry.graceSeconds': 0,
        'dispatch.backoffBaseMs': 50,
        endpoints: { '*': { maxTps: 50, maxInFlight: 100 } },
        'log.level': 'silent',
      },
    });
    const runtime = await SmadRuntime.start({
      config,
      aws: { ...local, endpoints: { ...local.endpoints, sagemakerRuntime: emulator.address } },
      logger: options.logger,
    });
    cleanups.push(() => runtime.stop());
    out(`smad       roles ${runtime.roles.join(', ')} on queue "${config.queue.name}" (prefix ${prefix})`);

    const connection = { url: redis.url, maxRetriesPerRequest: null } as const;
    // The runtime's own queue: producers and smad share it.
    const queue = runtime.queue;
    const events = new QueueEvents(config.queue.name, { connection, prefix });
    cleanups.push(() => Promise.race([events.close(), new Promise((r) => setTimeout(r, 2000).unref())]));
    await events.waitUntilReady();

    const samples = sampleJobs(options.successes);
    const jobIds = await enqueueSamples(samples, queue, runtime.ledger, Date.now() + options.timeoutMs);
    out(`\nenqueued ${samples.length} jobs; outcomes as they arrive:`);

    const rows = await Promise.all(
      samples.map((sample, i) => followJob(sample, jobIds[i] ?? '', queue, events, options.timeoutMs, out)),
    );
    // Every outcome must also reach the receiver, verified.
    const deadline = Date.now() + options.timeoutMs;
    while (receiver.received.length < samples.length && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 25));
    }
    for (const row of rows) {
      const record = await runtime.ledger.getByJobId(row.jobId);
      const hook = record ? receiver.received.find((h) => h.inferenceId === record.inferenceId) : undefined;
      row.webhook = hook
        ? `${hook.type}${hook.verified ? ' ✓ verified' : ' ✗ NOT VERIFIED'}`
        : 'none received';
      const expectedType = `inference.${row.expected}`;
      row.ok = row.actual === row.expected && hook?.verified === true && hook.type === expectedType;
      if (record?.resolvedAt && record.enqueuedAt)
        row.latencyMs = Date.parse(record.resolvedAt) - Date.parse(record.enqueuedAt);
    }
    printTable(rows, out);
    const ok = rows.every((r) => r.ok);
    out(
      ok
        ? '\nevery outcome as expected: the pipeline works end to end.'
        : '\nsome outcomes were not as expected (marked ✗).',
    );
    return { ok, rows };
  } finally {
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup();
      } catch {
        // best effort: the demo is ending
      }
    }
  }
}

/**
 * Enqueues the samples; one that must come after another (`after`) is enqueued once the other's
 * call was accepted (its ledger record left 'submitting'). Returns the job ids, in order.
 */
async function enqueueSamples(
  samples: readonly SampleJob[],
  queue: Queue,
  ledger: Ledger,
  deadline: number,
): Promise<string[]> {
  const jobIds: string[] = [];
  const now = samples.flatMap((sample, i) => (sample.after ? [] : [i]));
  const added = await enqueueJobs(
    queue,
    now.map((i) => ({ data: samples[i]?.data })),
  );
  now.forEach((i, k) => {
    jobIds[i] = added[k]?.jobId ?? '';
  });
  for (const [i, sample] of samples.entries()) {
    if (!sample.after) continue;
    const before = jobIds[samples.findIndex((s) => s.label === sample.after)] ?? '';
    for (;;) {
      const record = await ledger.getByJobId(before);
      if (record && record.status !== 'submitting') break;
      if (Date.now() > deadline) throw new Error(`demo: "${sample.after}" was never submitted`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const [job] = await enqueueJobs(queue, [{ data: sample.data }]);
    jobIds[i] = job?.jobId ?? '';
  }
  return jobIds;
}

async function followJob(
  sample: SampleJob,
  jobId: string,
  queue: Queue,
  events: QueueEvents,
  timeoutMs: number,
  out: (line: string) => void,
): Promise<DemoRow & { jobId: string }> {
  const job = await Job.fromId(queue, jobId);
  let actual: string;
  try {
    await job?.waitUntilFinished(events, timeoutMs);
    actual = 'completed';
  } catch (err) {
    const message = (err as Error).message;
    const status = /^(failed|expired|rejected|dispatch_failed):/.exec(message)?.[1];
    actual = status ?? `error: ${message}`;
  }
  out(`  ${actual === sample.expected ? '✓' : '✗'} ${pad(sample.label, 34)} ${actual}`);
  return {
    label: sample.label,
    expected: sample.expected,
    actual,
    latencyMs: null,
    webhook: '',
    ok: false,
    jobId,
  };
}

function printTable(rows: DemoRow[], out: (line: string) => void): void {
  const header = ['', 'job', 'expected', 'outcome', 'latency', 'webhook'];
  const lines = rows.map((r) => [
    r.ok ? '✓' : '✗',
    r.label,
    r.expected,
    r.actual,
    r.latencyMs === null ? '-' : `${r.latencyMs} ms`,
    r.webhook,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] ?? '').length)));
  const fmt = (cols: string[]) =>
    cols
      .map((c, i) => pad(c, widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  out('');
  out(fmt(header));
  out(fmt(widths.map((w) => '-'.repeat(w))));
  for (const l of lines) out(fmt(l));
}
