import type { Queue } from 'bullmq';
import type { SmadConfig } from '../config/load.js';
import { type JobProblem, validateJob } from '../contract/validate-job.js';

/** The BullMQ job name smad's own producers use; any name is accepted by the dispatcher. */
export const INFERENCE_JOB_NAME = 'inference';

export type EnqueueCheck = { ok: true } | { ok: false; problems: JobProblem[] };

/**
 * Checks a job the way the dispatcher will, so a producer of smad's own (CLI, HTTP API)
 * hears of every problem at once instead of from a rejected job.
 */
export function checkJob(config: SmadConfig, data: unknown): EnqueueCheck {
  const result = validateJob(data, {
    maxInlineBytes: config.dispatch.maxInlineBytes,
    stagingAvailable: config.staging.s3Uri !== '',
  });
  return result.ok ? { ok: true } : { ok: false, problems: result.problems };
}

export interface EnqueuedJob {
  jobId: string;
}

/** Adds jobs in bulk, in chunks, preserving order; returns their job ids. */
export async function enqueueJobs(
  queue: Queue,
  jobs: readonly { data: unknown; jobId?: string }[],
  chunkSize = 500,
): Promise<EnqueuedJob[]> {
  const out: EnqueuedJob[] = [];
  for (let i = 0; i < jobs.length; i += chunkSize) {
    const chunk = jobs.slice(i, i + chunkSize);
    const added = await queue.addBulk(
      chunk.map((job) => ({
        name: INFERENCE_JOB_NAME,
        data: job.data,
        opts: job.jobId ? { jobId: job.jobId } : {},
      })),
    );
    for (const job of added) out.push({ jobId: job.id ?? '' });
  }
  return out;
}
