import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import type { Cluster, Redis } from 'ioredis';
import { expect } from 'vitest';
import type { AwsStack, AwsStackOptions } from './emulator.js';
import { checkInvariants, type InvariantReport, restlessness } from './fault-invariants.js';
import type { PlannedJob } from './fault-load.js';
import type { FaultReceiver } from './fault-receiver.js';
import { stackEnv } from './smad-process.js';
import { waitFor } from './wait-for.js';

/** The configured signing secret, and the one jobs with their own webhook name. */
export const FAULT_SECRET = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
export const JOB_SECRET = `whsec_${Buffer.alloc(32, 3).toString('base64')}`;

/**
 * Emulated seconds per real second, for smad's deadlines (expiry.timeScale) and the emulator's
 * TTL and invocation timeout alike: a 60 s TTL lasts 0.6 s, a deadline (TTL 60 + invocation
 * 60 + grace 300) 4.2 s.
 */
export const TIME_SCALE = 0.01;

/** Webhook attempts in seconds: ~20 s in all, so a receiver down for a few seconds loses nothing. */
export const WEBHOOK_SCHEDULE = '0,0.2,0.5,1,1,1,1,1,1,1,1,1,2,2,2,2,2';

export const ENDPOINT = 'echo';
export const TINY_ENDPOINT = 'tiny';
export const UNKNOWN_ENDPOINT = 'ghost';

/**
 * The emulator for fault runs: `echo` (8 slots; the failureRatio fails some) and `tiny` (one
 * slot, a slow model, requests expire in its queue without any notification), with
 * duplicated, delayed and dropped notifications, a few 500s on the API, and the time scale.
 */
export function faultStackOptions(): AwsStackOptions {
  return {
    endpoints: [
      { name: ENDPOINT, maxConcurrentInvocationsPerInstance: 8 },
      {
        name: TINY_ENDPOINT,
        maxConcurrentInvocationsPerInstance: 1,
        knobs: { latencyMs: 700, expiredNotification: 'none', failureRatio: 0 },
      },
    ],
    knobs: {
      latencyMs: 15,
      failureRatio: 0.12,
      internalFailureRatio: 0.03,
      duplicateNotificationRatio: 0.2,
      dropNotificationRatio: 0.08,
      notificationDelayMs: 40,
      timeScale: TIME_SCALE,
    },
    seed: 8,
  };
}

/** Endpoint policies (config file only): fast enough for the test, with a real in-flight cap on echo. */
export function writeFaultConfig(dir: string): string {
  const file = join(dir, 'smad.json');
  writeFileSync(
    file,
    JSON.stringify({
      endpoints: {
        '*': { maxTps: 150, burst: 10, maxInFlight: 40 },
        [TINY_ENDPOINT]: { maxTps: 20, burst: 2, maxInFlight: 0 },
      },
    }),
  );
  return file;
}

/** The environment of every smad process of a fault run. */
export function faultEnv(
  stack: AwsStack,
  redisUrl: string,
  prefix: string,
  receiver: FaultReceiver,
  configFile: string,
): Record<string, string> {
  return {
    ...stackEnv(stack, redisUrl, prefix),
    SMAD_CONFIG: configFile,
    SMAD_LOG_LEVEL: process.env.SMAD_FAULT_LOG ?? 'info',
    SMAD_WEBHOOK_URL: receiver.url,
    SMAD_WEBHOOK_SECRET: FAULT_SECRET,
    SMAD_WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
    SMAD_WEBHOOK_SCHEDULE_SECONDS: WEBHOOK_SCHEDULE,
    SMAD_WEBHOOK_TIMEOUT_SECONDS: '5',
    SMAD_EXPIRY_TIME_SCALE: String(TIME_SCALE),
    // A killed dispatcher's jobs come back within ~2.5 s; unacknowledged SQS messages within 2 s.
    SMAD_DISPATCH_LOCK_DURATION_MS: '2000',
    SMAD_DISPATCH_STALLED_INTERVAL_MS: '500',
    SMAD_DISPATCH_BACKOFF_BASE_MS: '50',
    SMAD_DISPATCH_BACKOFF_MAX_MS: '500',
    SMAD_COMPLETIONS_VISIBILITY_TIMEOUT_SECONDS: '2',
    SMAD_FLOW_WAIT_FALLBACK_SECONDS: '2',
    SMAD_SHUTDOWN_TIMEOUT_SECONDS: '15',
  };
}

/** A producer's queue on the test's own client (any BullMQ producer would do the same). */
export function producerQueue(connection: Redis | Cluster, prefix: string): Queue {
  const queue = new Queue('inference', { connection, prefix });
  queue.on('error', () => {});
  return queue;
}

/**
 * Waits until every job is final and the pipeline is at rest: nothing waiting, active or
 * delayed in the intake or delivery queues, no record still in flight, the outbox drained.
 */
export async function settle(
  redis: Redis | Cluster,
  prefix: string,
  jobs: PlannedJob[],
  timeoutMs: number,
  diagnose: () => string = () => '',
): Promise<string[]> {
  const queue = producerQueue(redis, prefix);
  const started = Date.now();
  let last: string[] = [];
  // What was still busy, every 5 s: tells where a slow settle spent its time.
  const trace: string[] = [];
  let nextTrace = started + 5_000;
  try {
    await waitFor(
      async () => {
        const counts = await queue.getJobCounts('completed', 'failed');
        const finished = (counts.completed ?? 0) + (counts.failed ?? 0);
        last = await restlessness(redis, prefix);
        if (finished < jobs.length) last.unshift(`${finished} of ${jobs.length} jobs finished`);
        if (Date.now() >= nextTrace) {
          trace.push(`+${Math.round((Date.now() - started) / 1000)} s: ${last.slice(0, 6).join('; ')}`);
          nextTrace += 5_000;
        }
        return last.length === 0;
      },
      { timeoutMs, intervalMs: 250, what: 'every job final and the pipeline at rest' },
    );
    return trace;
  } catch (err) {
    throw new Error(
      `${(err as Error).message}\nstill busy:\n${last.slice(0, 20).join('\n')}\n${trace.join('\n')}\n${diagnose()}`,
    );
  } finally {
    await queue.close();
  }
}

/**
 * The end of a fault run: waits for the pipeline to settle, checks every invariant against
 * what the emulator did and the receiver got, and fails naming the violations. Returns the
 * report (for the run's own thresholds) and the settle trace.
 */
export async function settleAndCheck(
  run: {
    redis: Redis | Cluster;
    prefix: string;
    jobs: PlannedJob[];
    stack: AwsStack;
    receiver: FaultReceiver;
  },
  diagnose: () => string,
): Promise<{ report: InvariantReport; settling: string[] }> {
  const settling = await settle(run.redis, run.prefix, run.jobs, 120_000, diagnose);
  const report = await checkInvariants({
    redis: run.redis,
    prefix: run.prefix,
    jobs: run.jobs,
    emulatorInferences: run.stack.emulator.inferences,
    deliveries: run.receiver.deliveries,
    defaultSecret: FAULT_SECRET,
  });
  expect(report.violations, `${JSON.stringify(report.summary)}\n${diagnose()}`).toEqual([]);
  return { report, settling };
}
