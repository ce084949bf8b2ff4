/**
 * The dead letter: deliveries that ended without success (schedule exhausted, 410 Gone, or
 * refused: SSRF guard, no signing secret) are the failed jobs of the delivery queue, kept as
 * long as ledger records (ledger.retentionDays). They can be listed, and replayed: the same
 * job (same webhook-id, same body) goes back to the queue with a fresh schedule. Used by
 * `smad webhooks failed|replay` and meant for the HTTP API as well.
 */

import type { Job } from 'bullmq';
import type { WebhookEventType } from '../contract/webhook-event.js';
import type { Ledger } from '../ledger/ledger.js';
import type { DeadLetterReason, DeliveryJobData, DeliveryQueue } from './delivery-queue.js';

export interface DeadLetter {
  webhookId: string;
  type: WebhookEventType;
  inferenceId: string;
  jobId: string;
  /** The webhook URL without credentials, query or fragment (those may hold tokens). */
  target: string;
  /** Why it was dead-lettered; 'error' for a delivery that failed for another reason. */
  reason: DeadLetterReason | 'error';
  /** The failure message (BullMQ's failedReason). */
  message: string;
  /** Attempts in the last schedule, and over every replay. */
  attempts: number;
  totalAttempts: number;
  replays: number;
  lastStatus: number | null;
  lastError: string | null;
  /** When the event happened and when the delivery was given up (ISO 8601). */
  eventAt: string;
  failedAt: string | null;
}

export interface DeadLetterPage {
  /** Dead letters in all. */
  total: number;
  /** Newest first. */
  items: DeadLetter[];
}

/** The URL without user info, query and fragment. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}${u.search || u.hash ? '?…' : ''}`;
  } catch {
    return '(invalid URL)';
  }
}

function toDeadLetter(job: Job<DeliveryJobData>): DeadLetter {
  const d = job.data;
  return {
    webhookId: d.webhookId ?? job.id ?? '',
    type: d.type,
    inferenceId: d.inferenceId,
    jobId: d.jobId,
    target: redactUrl(d.url),
    reason: d.deadLetter ?? 'error',
    message: job.failedReason ?? '',
    attempts: d.attempts ?? 0,
    totalAttempts: d.totalAttempts ?? 0,
    replays: d.replays ?? 0,
    lastStatus: d.lastStatus ?? null,
    lastError: d.lastError ?? null,
    eventAt: new Date(d.eventAt).toISOString(),
    failedAt: job.finishedOn ? new Date(job.finishedOn).toISOString() : null,
  };
}

/** Lists dead letters, newest first. */
export async function listDeadLetters(
  queue: DeliveryQueue,
  options: { offset?: number; limit?: number } = {},
): Promise<DeadLetterPage> {
  const offset = Math.max(0, options.offset ?? 0);
  const limit = Math.max(1, options.limit ?? 100);
  const [total, jobs] = await Promise.all([
    queue.getFailedCount(),
    queue.getFailed(offset, offset + limit - 1),
  ]);
  return { total, items: jobs.filter((j) => j?.data).map(toDeadLetter) };
}

/** One dead letter, or undefined when there is no failed delivery with that webhook-id. */
export async function getDeadLetter(
  queue: DeliveryQueue,
  webhookId: string,
): Promise<DeadLetter | undefined> {
  const job = await queue.getJob(webhookId);
  if (!job || (await job.getState()) !== 'failed') return undefined;
  return toDeadLetter(job);
}

export type ReplayResult =
  | { webhookId: string; replayed: true }
  | { webhookId: string; replayed: false; reason: string };

/**
 * Sends a dead-lettered delivery again: same webhook-id and body, a fresh schedule whose first
 * attempt is made right away. The ledger record's webhook state goes back to 'pending'.
 */
export async function replayDeadLetter(
  queue: DeliveryQueue,
  webhookId: string,
  options: { ledger?: Ledger } = {},
): Promise<ReplayResult> {
  const job = await queue.getJob(webhookId);
  if (!job)
    return { webhookId, replayed: false, reason: 'no such delivery (unknown webhook-id, or past retention)' };
  const state = await job.getState();
  if (state !== 'failed')
    return { webhookId, replayed: false, reason: `not dead-lettered (the delivery is ${state})` };
  const data = job.data;
  await job.updateData({ ...data, attempts: 0, replays: (data.replays ?? 0) + 1, deadLetter: null });
  // Before the job can run: the worker's outcome must not be overwritten by this.
  await options.ledger?.setFields(data.inferenceId, { webhookState: 'pending' });
  try {
    await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
  } catch (err) {
    await job.updateData(data).catch(() => {});
    await options.ledger
      ?.setFields(data.inferenceId, { webhookState: data.deadLetter === 'refused' ? 'refused' : 'failed' })
      .catch(() => {});
    return { webhookId, replayed: false, reason: `could not replay: ${(err as Error).message}` };
  }
  return { webhookId, replayed: true };
}

/** Replays every dead letter (those present when called). */
export async function replayAllDeadLetters(
  queue: DeliveryQueue,
  options: { ledger?: Ledger } = {},
): Promise<ReplayResult[]> {
  const ids: string[] = [];
  const pageSize = 500;
  for (let offset = 0; ; offset += pageSize) {
    const jobs = await queue.getFailed(offset, offset + pageSize - 1);
    for (const job of jobs) if (job?.id) ids.push(job.id);
    if (jobs.length < pageSize) break;
  }
  const results: ReplayResult[] = [];
  for (const id of ids) results.push(await replayDeadLetter(queue, id, options));
  return results;
}
