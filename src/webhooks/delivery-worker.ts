/**
 * The delivery worker: a BullMQ worker on the delivery queue. Each pickup is one attempt:
 * resolve the signing secrets, sign (webhook-timestamp = now), POST through the SSRF guard,
 * and record the outcome in the ledger record. The schedule is smad's own: a failed attempt
 * parks the job with `moveToDelayed` until the next attempt is due (no BullMQ attempt is
 * spent; the count lives in the job data), so it is exact and independent of how the job
 * was added. A delivery that ends without success fails the job (UnrecoverableError): the
 * failed set of the delivery queue is the dead letter.
 */

import { DelayedError, type Job, UnrecoverableError, Worker } from 'bullmq';
import type { SmadConfig } from '../config/load.js';
import { isWebhookSecret } from '../contract/webhook-secret.js';
import type { Ledger, LedgerFields } from '../ledger/ledger.js';
import { inferenceLogger, type Logger } from '../observability/logger.js';
import { bullConnection, type RedisClient } from '../runtime/redis-connection.js';
import {
  type DeadLetterReason,
  type DeliveryJobData,
  type DeliveryResult,
  deliveryJobRetention,
  deliveryQueueName,
} from './delivery-queue.js';
import { HttpSender, type SendResult } from './http-sender.js';
import { nextRetryDelayMs, type RandomSource } from './schedule.js';
import { signHeaders } from './sign.js';
import { type Resolver, SsrfGuard } from './ssrf-guard.js';

/** What one pickup of a delivery did (for metrics and tests). */
export interface DeliveryAttemptOutcome {
  webhookId: string;
  inferenceId: string;
  /** The attempt number in the current schedule; 0 when no request was made (refused). */
  attempt: number;
  result: 'delivered' | 'retry' | DeadLetterReason;
  status?: number;
  error?: string;
  /** For 'retry': the wait before the next attempt. */
  delayMs?: number;
  /** How long the HTTP attempt took. */
  durationMs?: number;
  /** The event type and when the event happened (epoch ms), for resolution → webhook latency. */
  type?: string;
  eventAt?: number;
}

export interface DeliveryHooks {
  /** Called after every pickup with its outcome. */
  onAttempt?: (outcome: DeliveryAttemptOutcome) => void;
}

export interface DeliveryWorkerOptions {
  config: SmadConfig;
  /** Connection settings are copied from it and the worker owns its connections (a cluster: see bullConnection). */
  connection: RedisClient;
  ledger: Ledger;
  logger: Logger;
  /** Bound of one attempt; default webhooks.timeoutSeconds × 1000 (this option allows sub-second bounds). */
  timeoutMs?: number;
  random?: RandomSource;
  /** DNS for the SSRF guard (tests). */
  resolver?: Resolver;
  hooks?: DeliveryHooks;
}

/** Lengths kept in webhookLastError / the dead letter. */
const MAX_ERROR_CHARS = 500;

const NO_SECRET =
  "no signing secret configured (set webhooks.secret, or the job's webhook.secret): smad never delivers unsigned";

function errorOf(result: SendResult): string {
  switch (result.kind) {
    case 'refused':
      return `refused: ${result.reason}`;
    case 'error':
      return result.error;
    case 'response': {
      const where = result.location !== undefined ? ` (redirect to ${result.location} not followed)` : '';
      const snippet = result.bodySnippet.replace(/\s+/g, ' ').trim().slice(0, 200);
      return `HTTP ${result.status}${where}${snippet ? `: ${snippet}` : ''}`;
    }
  }
}

type Secrets = { secrets: string[] } | { refused: string };

export class DeliveryWorker {
  readonly worker: Worker<DeliveryJobData, DeliveryResult>;
  private readonly sender: HttpSender;
  private readonly timeoutMs: number;

  constructor(private readonly options: DeliveryWorkerOptions) {
    const { config, logger } = options;
    // timeoutSeconds is a 'nat' in the schema: 0 would time out every attempt, so it means the default.
    this.timeoutMs =
      options.timeoutMs ?? (config.webhooks.timeoutSeconds > 0 ? config.webhooks.timeoutSeconds : 15) * 1000;
    const concurrency = Math.max(1, config.webhooks.concurrency);
    this.sender = new HttpSender({
      guard: new SsrfGuard(config.webhooks, options.resolver),
      timeoutMs: this.timeoutMs,
      maxSockets: concurrency,
    });
    this.worker = new Worker<DeliveryJobData, DeliveryResult>(
      deliveryQueueName(config),
      (job, token) => this.process(job, token),
      {
        connection: bullConnection(options.connection),
        prefix: config.queue.prefix,
        concurrency,
        autorun: false,
        ...deliveryJobRetention(config),
        // A delivery interrupted by a crash is simply attempted again (receivers de-duplicate
        // on webhook-id); never fail a delivery for having stalled.
        maxStalledCount: 1_000_000,
        lockDuration: Math.max(30_000, this.timeoutMs + 15_000),
      },
    );
    this.worker.on('error', (err) => logger.error({ err }, 'webhook delivery worker error'));
  }

  start(): void {
    void this.worker.run();
  }

  async waitUntilReady(): Promise<void> {
    await this.worker.waitUntilReady();
  }

  /** Stops taking deliveries and waits for attempts in progress (each bounded by the timeout). */
  async close(force = false): Promise<void> {
    await this.worker.close(force);
    this.sender.close();
  }

  private async process(job: Job<DeliveryJobData, DeliveryResult>, token?: string): Promise<DeliveryResult> {
    try {
      return await this.attempt(job, token);
    } catch (err) {
      if (err instanceof DelayedError || err instanceof UnrecoverableError) throw err;
      // Redis trouble mid-pickup: try this attempt again shortly (at-least-once).
      const delay = Math.min(60_000, 1_000 * 2 ** Math.min(job.attemptsStarted, 6));
      this.options.logger.error(
        { err, webhookId: job.id, delay },
        'webhook pickup failed unexpectedly; parking it',
      );
      await job.moveToDelayed(Date.now() + delay, token);
      throw new DelayedError();
    }
  }

  private async attempt(job: Job<DeliveryJobData, DeliveryResult>, token?: string): Promise<DeliveryResult> {
    const { config, ledger } = this.options;
    const data = job.data;
    const log = inferenceLogger(this.options.logger, {
      inferenceId: data.inferenceId,
      jobId: data.jobId,
    }).child({
      webhookId: data.webhookId,
    });

    const secrets = await this.secretsFor(data);
    if ('refused' in secrets) {
      return this.deadLetter(
        job,
        'refused',
        { lastError: secrets.refused, lastAttemptAt: Date.now() },
        log,
        0,
      );
    }

    const attempt = data.attempts + 1;
    const started = Date.now();
    const headers = signHeaders({
      webhookId: data.webhookId,
      timestampSeconds: Math.floor(started / 1000),
      body: data.body,
      secrets: secrets.secrets,
    });
    const sent = await this.sender.send({ url: data.url, headers: { ...headers }, body: data.body });
    const now = Date.now();
    const durationMs = now - started;
    if (sent.kind === 'refused') {
      return this.deadLetter(job, 'refused', { lastError: sent.reason, lastAttemptAt: now }, log, 0);
    }

    const status = sent.kind === 'response' ? sent.status : null;
    const lastError =
      status !== null && status >= 200 && status < 300 ? null : errorOf(sent).slice(0, MAX_ERROR_CHARS);
    const progress = {
      attempts: attempt,
      totalAttempts: data.totalAttempts + 1,
      lastStatus: status,
      lastError,
      lastAttemptAt: now,
    };

    if (status !== null && status >= 200 && status < 300) {
      // Two independent writes, sent together: the slot is free one round trip sooner.
      await Promise.all([
        job.updateData({ ...data, ...progress }),
        ledger.setFields(data.inferenceId, {
          webhookState: 'delivered',
          webhookAttempts: progress.totalAttempts,
          webhookLastStatus: status,
          webhookLastError: '',
          webhookDeliveredAt: now,
        }),
      ]);
      log.info({ status, attempt, durationMs }, 'webhook delivered');
      this.options.hooks?.onAttempt?.({
        webhookId: data.webhookId,
        inferenceId: data.inferenceId,
        attempt,
        result: 'delivered',
        status,
        durationMs,
        type: data.type,
        eventAt: data.eventAt,
      });
      return { status, attempts: progress.totalAttempts, deliveredAt: now };
    }

    if (status === 410) return this.deadLetter(job, 'gone', progress, log, attempt, durationMs);

    const delayMs = nextRetryDelayMs({
      scheduleSeconds: config.webhooks.scheduleSeconds,
      attemptsMade: attempt,
      status: status ?? undefined,
      retryAfter: sent.kind === 'response' ? sent.retryAfter : undefined,
      nowMs: now,
      random: this.options.random,
    });
    if (delayMs === undefined) return this.deadLetter(job, 'exhausted', progress, log, attempt, durationMs);

    await job.updateData({ ...data, ...progress });
    await ledger.setFields(data.inferenceId, this.ledgerFields('pending', progress));
    log.warn(
      { status, error: lastError, attempt, delayMs, durationMs },
      'webhook attempt failed; will retry',
    );
    this.options.hooks?.onAttempt?.({
      webhookId: data.webhookId,
      inferenceId: data.inferenceId,
      attempt,
      result: 'retry',
      status: status ?? undefined,
      error: lastError ?? undefined,
      delayMs,
      durationMs,
    });
    await job.moveToDelayed(now + Math.max(1, delayMs), token);
    throw new DelayedError();
  }

  /** The job's own secret (from the ledger) if it named one, else every configured secret. */
  private async secretsFor(data: DeliveryJobData): Promise<Secrets> {
    // The relay recorded whether the record holds a secret of the job's own (it is written
    // once, at the first claim): only then is the ledger read, and only that field.
    const own = data.ownSecret ? await this.options.ledger.webhookSecret(data.inferenceId) : undefined;
    let secrets: string[];
    if (own) {
      secrets = [own];
    } else if (data.ownSecret) {
      return { refused: "the job's own signing secret is gone with its expired ledger record" };
    } else {
      secrets = this.options.config.webhooks.secret;
    }
    if (secrets.length === 0) return { refused: NO_SECRET };
    if (!secrets.every(isWebhookSecret))
      return { refused: 'invalid signing secret (a validation error upstream)' };
    return { secrets };
  }

  private ledgerFields(
    state: 'pending' | 'failed' | 'refused',
    progress: Pick<DeliveryJobData, 'totalAttempts' | 'lastStatus' | 'lastError'>,
  ): LedgerFields {
    return {
      webhookState: state,
      webhookAttempts: progress.totalAttempts,
      webhookLastStatus: progress.lastStatus ?? '',
      webhookLastError: progress.lastError ?? '',
    };
  }

  /** Ends the delivery without success: records it and fails the job (the dead letter). */
  private async deadLetter(
    job: Job<DeliveryJobData, DeliveryResult>,
    reason: DeadLetterReason,
    progress: Partial<DeliveryJobData>,
    log: Logger,
    attempt: number,
    durationMs?: number,
  ): Promise<never> {
    const data: DeliveryJobData = { ...job.data, ...progress, deadLetter: reason };
    await job.updateData(data);
    await this.options.ledger.setFields(
      data.inferenceId,
      this.ledgerFields(reason === 'refused' ? 'refused' : 'failed', data),
    );
    const message =
      reason === 'gone'
        ? 'gone: the receiver answered 410 Gone; not retried'
        : reason === 'exhausted'
          ? `exhausted: ${data.attempts} attempts failed; last: ${data.lastError ?? 'unknown'}`
          : `refused: ${data.lastError ?? 'unknown reason'}`;
    log.warn(
      { reason, attempts: data.totalAttempts, lastStatus: data.lastStatus },
      `webhook dead-lettered (${message})`,
    );
    this.options.hooks?.onAttempt?.({
      webhookId: data.webhookId,
      inferenceId: data.inferenceId,
      attempt,
      result: reason,
      status: data.lastStatus ?? undefined,
      error: data.lastError ?? undefined,
      durationMs,
    });
    throw new UnrecoverableError(message);
  }
}
