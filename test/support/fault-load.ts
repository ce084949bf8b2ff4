import type { Queue } from 'bullmq';

/** What a planned job is meant to exercise, and so which final statuses are consistent for it. */
export type PlannedKind =
  /** A valid job to a working endpoint: completed, failed or expired, as the emulator decides. */
  | 'model'
  /** A valid job whose input tells the echo model to fail. */
  | 'fail-directive'
  /** A job smad's validation rejects: never sent. */
  | 'invalid'
  /** A valid job to an endpoint the emulator does not know: SageMaker's ValidationError, rejected. */
  | 'unknown-endpoint'
  /** One of several jobs with the same producer-supplied inferenceId: one owns it, the others are rejected. */
  | 'duplicate-id';

export interface PlannedJob {
  label: string;
  kind: PlannedKind;
  data: Record<string, unknown>;
  /** The job's own webhook secret (deliveries must be signed with it), if it names one. */
  secret?: string;
  /** The BullMQ job id, once added. */
  jobId?: string;
}

export interface MixedLoadOptions {
  /** How many jobs. */
  count: number;
  /** Distinguishes this batch's supplied inferenceIds and labels. */
  batch: string;
  /** The main endpoint (several slots). */
  endpoint: string;
  /** An endpoint with one slot and a slow model, where queued requests expire. */
  tinyEndpoint: string;
  /** An endpoint name the emulator does not serve. */
  unknownEndpoint: string;
  /** A per-job webhook URL for the jobs that name their own (the receiver's). */
  webhookUrl: string;
  /** The secret jobs with their own webhook sign with. */
  jobSecret: string;
  /** requestTTLSeconds and invocationTimeoutSeconds of valid jobs (short, with the time scale). */
  ttlSeconds?: number;
  invocationTimeoutSeconds?: number;
  /** Adds a pair of jobs sharing one supplied inferenceId. */
  duplicatePair?: boolean;
}

/** Ways a job fails smad's validation, one per rule family. */
const INVALID: ((i: number) => Record<string, unknown>)[] = [
  () => ({ body: 'no endpoint' }),
  (i) => ({ endpointName: 'echo', body: `both ${i}`, inputLocation: 's3://bucket/key' }),
  (i) => ({ endpointName: 'echo', body: `ttl ${i}`, requestTTLSeconds: 5 }),
  (i) => ({ endpointName: 'echo', body: `meta ${i}`, metadata: 'not an object' }),
  (i) => ({ endpointName: 'bad name!', body: `name ${i}` }),
];

/**
 * A deterministic mix of jobs: most go to the main endpoint (the emulator's failureRatio
 * decides completed or failed), some tell the model to fail, some go to the tiny endpoint
 * (requests queued behind a slow one expire), some are invalid, some name an unknown endpoint,
 * some supply their own inferenceId, a few carry bodies over 128,000 bytes (staged to S3), a
 * few name their own webhook and secret, and optionally two share one supplied inferenceId.
 */
export function mixedLoad(options: MixedLoadOptions): PlannedJob[] {
  const ttl = options.ttlSeconds ?? 60;
  const invocation = options.invocationTimeoutSeconds ?? 60;
  const jobs: PlannedJob[] = [];
  for (let i = 0; i < options.count; i++) {
    const label = `${options.batch}-${i}`;
    const metadata = { batch: options.batch, i };
    const base = { requestTTLSeconds: ttl, invocationTimeoutSeconds: invocation, metadata };
    if (i % 17 === 5) {
      const make = INVALID[i % INVALID.length] as (i: number) => Record<string, unknown>;
      jobs.push({ label, kind: 'invalid', data: { metadata, ...make(i) } });
      continue;
    }
    if (i % 23 === 7) {
      jobs.push({
        label,
        kind: 'unknown-endpoint',
        data: { ...base, endpointName: options.unknownEndpoint, body: `lost ${i}` },
      });
      continue;
    }
    const job: PlannedJob = { label, kind: 'model', data: { ...base, endpointName: options.endpoint } };
    if (i % 7 === 3) {
      // Queued behind slow requests on one slot: the first runs, the others may expire.
      job.data.endpointName = options.tinyEndpoint;
      job.data.invocationTimeoutSeconds = Math.max(invocation, 300);
      job.data.body = `tiny ${i}`;
    } else if (i % 11 === 4) {
      job.kind = 'fail-directive';
      job.data.body = JSON.stringify({ emulator: { fail: `input ${i} is unusable` } });
      job.data.contentType = 'application/json';
    } else if (i % 29 === 9) {
      job.data.body = `${'x'.repeat(130_000)} ${i}`;
    } else {
      job.data.body = `job ${i}`;
    }
    if (i % 5 === 2) job.data.inferenceId = `${options.batch}-supplied-${i}`;
    if (i % 9 === 6) {
      job.data.webhook = { url: options.webhookUrl, secret: options.jobSecret };
      job.secret = options.jobSecret;
    }
    jobs.push(job);
  }
  if (options.duplicatePair) {
    const inferenceId = `${options.batch}-twice`;
    for (const n of [1, 2])
      jobs.push({
        label: `${options.batch}-twice-${n}`,
        kind: 'duplicate-id',
        data: {
          endpointName: options.endpoint,
          body: `twice ${n}`,
          inferenceId,
          requestTTLSeconds: ttl,
          invocationTimeoutSeconds: invocation,
        },
      });
  }
  return jobs;
}

/** Adds the jobs (any BullMQ producer would) and records their job ids. */
export async function addJobs(queue: Queue, jobs: PlannedJob[]): Promise<PlannedJob[]> {
  const added = await queue.addBulk(jobs.map((job) => ({ name: job.label, data: job.data })));
  added.forEach((job, i) => {
    const planned = jobs[i];
    if (planned) planned.jobId = job.id;
  });
  return jobs;
}

/**
 * Submits jobs through smad's HTTP API (POST /v1/inferences) with an Idempotency-Key per job,
 * sending a request again (same key) when smad is unreachable or answers 5xx, and records the
 * job ids it answers. `baseUrl()` is asked again on each try (a restarted process listens on
 * a new port). Only jobs smad's validation accepts belong here.
 */
export async function addJobsViaHttp(
  baseUrl: () => string,
  token: string,
  jobs: PlannedJob[],
  isGivingUp: () => boolean = () => false,
): Promise<PlannedJob[]> {
  await Promise.all(
    jobs.map(async (job) => {
      for (let attempt = 1; ; attempt++) {
        try {
          const response = await fetch(`${baseUrl()}/v1/inferences`, {
            method: 'POST',
            headers: {
              authorization: `Bearer ${token}`,
              'content-type': 'application/json',
              'idempotency-key': job.label,
            },
            body: JSON.stringify(job.data),
          });
          const answer = (await response.json()) as { jobId?: string; inferenceId?: string };
          if (response.status === 202 && answer.jobId) {
            job.jobId = answer.jobId;
            // The API assigns the inferenceId now when the job has none: it is the supplied one.
            if (answer.inferenceId) job.data.inferenceId = answer.inferenceId;
            return;
          }
          if (response.status < 500) throw new Error(`HTTP ${response.status}: ${JSON.stringify(answer)}`);
        } catch (err) {
          if ((err as Error).message.startsWith('HTTP 4')) throw err;
        }
        if (isGivingUp() || attempt >= 200) throw new Error(`could not submit ${job.label} over HTTP`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }),
  );
  return jobs;
}
