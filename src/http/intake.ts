import { createHash } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { Job, type Queue } from 'bullmq';
import { v7 as uuidv7 } from 'uuid';
import type { SmadConfig } from '../config/load.js';
import { checkJob, INFERENCE_JOB_NAME } from '../intake/enqueue.js';
import type { RedisClient } from '../runtime/redis-connection.js';

export type IntakeResult =
  | { kind: 'accepted'; jobId: string; inferenceId: string; replayed: boolean }
  | { kind: 'invalid'; problems: { field: string; message: string }[] }
  | { kind: 'conflict'; message: string };

/** Key remembering which job an HTTP-accepted inferenceId belongs to until it is dispatched. */
export function intakeKey(prefix: string, inferenceId: string): string {
  return `${prefix}:http:inf:${inferenceId}`;
}

/**
 * Accepts one inference over HTTP: the same validation as a queued job; an inferenceId is
 * assigned now when the request has none (so the 202 can name it); an Idempotency-Key maps
 * to a deterministic job id, so a retried POST finds the job the first one created.
 */
export async function acceptInference(
  deps: { config: SmadConfig; queue: Queue; redis: RedisClient },
  body: unknown,
  idempotencyKey: string | undefined,
): Promise<IntakeResult> {
  const check = checkJob(deps.config, body);
  if (!check.ok) return { kind: 'invalid', problems: check.problems };
  const data = { ...(body as Record<string, unknown>) };
  const suppliedId = typeof data.inferenceId === 'string' ? data.inferenceId : undefined;
  const jobId = idempotencyKey
    ? `idem-${createHash('sha256').update(idempotencyKey).digest('hex').slice(0, 40)}`
    : undefined;

  if (jobId) {
    const existing = await Job.fromId(deps.queue, jobId);
    if (existing) {
      const { inferenceId: existingId, ...existingRest } = existing.data as Record<string, unknown>;
      const { inferenceId: _ignored, ...requestRest } = data;
      if (
        !isDeepStrictEqual(existingRest, requestRest) ||
        (suppliedId !== undefined && suppliedId !== existingId)
      )
        return { kind: 'conflict', message: 'this Idempotency-Key was used with a different request' };
      return { kind: 'accepted', jobId, inferenceId: String(existingId), replayed: true };
    }
  }
  const inferenceId = suppliedId ?? uuidv7();
  data.inferenceId = inferenceId;
  const job = await deps.queue.add(INFERENCE_JOB_NAME, data, jobId ? { jobId } : {});
  const actualId = job.id ?? '';
  if (jobId) {
    // Two POSTs with one key may have raced: BullMQ keeps the first job; answer with it.
    const stored = (await Job.fromId(deps.queue, jobId))?.data as Record<string, unknown> | undefined;
    if (stored && stored.inferenceId !== inferenceId)
      return { kind: 'accepted', jobId: actualId, inferenceId: String(stored.inferenceId), replayed: true };
  }
  await deps.redis.set(
    intakeKey(deps.config.queue.prefix, inferenceId),
    actualId,
    'EX',
    deps.config.ledger.retentionDays * 86_400 || 86_400,
  );
  return { kind: 'accepted', jobId: actualId, inferenceId, replayed: false };
}
