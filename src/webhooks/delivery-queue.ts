/**
 * The delivery queue: a BullMQ queue `${queue.name}-webhooks` (same prefix as the intake
 * queue), one job per webhook event, whose id is the event's `webhook-id`. The job carries
 * the body built once by the relay, so every attempt and replay sends the same bytes; the
 * signing secret is never stored in it (it is read from the ledger or the configuration at
 * send time). A delivery that ends without success (schedule exhausted, 410 Gone, refused)
 * is a failed job of this queue: that is the dead letter (see dead-letter.ts).
 */

import { type KeepJobs, Queue } from 'bullmq';
import type { SmadConfig } from '../config/load.js';
import type { WebhookEventType } from '../contract/webhook-event.js';
import { bullConnection, type RedisClient } from '../runtime/redis-connection.js';

/** Why a delivery was dead-lettered. */
export type DeadLetterReason = 'exhausted' | 'gone' | 'refused';

export interface DeliveryJobData {
  /** The Standard Webhooks `webhook-id` (also the BullMQ job id). */
  webhookId: string;
  type: WebhookEventType;
  inferenceId: string;
  /** The intake job's id (for logs). */
  jobId: string;
  url: string;
  /** The exact JSON body, built once by the relay. */
  body: string;
  /** Whether the inference's job named its own secret (kept in the ledger record, not here). */
  ownSecret: boolean;
  /** When the event happened (epoch ms). */
  eventAt: number;
  /** Attempts in the current schedule (reset by a replay). */
  attempts: number;
  /** Attempts over every schedule, replays included. */
  totalAttempts: number;
  /** How many times the delivery was replayed from the dead letter. */
  replays: number;
  lastStatus: number | null;
  lastError: string | null;
  /** When the last attempt ended (epoch ms). */
  lastAttemptAt: number | null;
  /** Set when the delivery is dead-lettered. */
  deadLetter: DeadLetterReason | null;
}

/** What a delivered job returns. */
export interface DeliveryResult {
  status: number;
  attempts: number;
  deliveredAt: number;
}

/** The delivery queue (jobs return DeliveryResult). */
export type DeliveryQueue = Queue<DeliveryJobData>;

/** `${queue.name}-webhooks`. */
export function deliveryQueueName(config: Pick<SmadConfig, 'queue'>): string {
  return `${config.queue.name}-webhooks`;
}

/**
 * The delivery queue, on its own connection to the same Redis as `connection` (closed with the
 * queue); on a cluster, on `connection` itself (closed by its owner).
 */
export function openDeliveryQueue(config: Pick<SmadConfig, 'queue'>, connection: RedisClient): DeliveryQueue {
  return new Queue<DeliveryJobData>(deliveryQueueName(config), {
    connection: bullConnection(connection),
    prefix: config.queue.prefix,
  });
}

/**
 * Retention of finished delivery jobs. Failed ones are the dead letter: kept as long as the
 * ledger keeps records (ledger.retentionDays; 0 = forever). Delivered ones are only kept
 * briefly (their outcome is in the ledger record; a re-relayed event is recognised from it).
 */
export function deliveryJobRetention(config: Pick<SmadConfig, 'ledger'>): {
  removeOnComplete: KeepJobs;
  removeOnFail?: KeepJobs;
} {
  const retentionSeconds = config.ledger.retentionDays * 86_400;
  return {
    removeOnComplete: { age: 3_600, count: 1_000 },
    ...(retentionSeconds > 0 ? { removeOnFail: { age: retentionSeconds } } : {}),
  };
}
