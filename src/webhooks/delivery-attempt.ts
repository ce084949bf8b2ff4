/**
 * One delivery attempt of a webhook event: resolve the signing secrets, sign
 * (webhook-timestamp = now), POST through the SSRF guard, record the outcome in the ledger
 * record, log it, and say what comes next (delivered, retry after a delay, or dead letter).
 * It never touches a BullMQ job: the outbox relay makes the first attempt of an event this
 * way, and the delivery worker every later one (see delivery-worker.ts).
 */

import type { SmadConfig } from '../config/load.js';
import { isWebhookSecret } from '../contract/webhook-secret.js';
import type { Ledger, LedgerFields } from '../ledger/ledger.js';
import { inferenceLogger, type Logger } from '../observability/logger.js';
import type { DeadLetterReason, DeliveryJobData, DeliveryResult } from './delivery-queue.js';
import { HttpSender, type SendResult } from './http-sender.js';
import { nextRetryDelayMs, type RandomSource } from './schedule.js';
import { signHeaders } from './sign.js';
import { type Resolver, SsrfGuard } from './ssrf-guard.js';

/** What one attempt did (for metrics and tests). */
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
  /** Called after every attempt with its outcome. */
  onAttempt?: (outcome: DeliveryAttemptOutcome) => void;
}

/** What comes after an attempt; `data` is the delivery's data with the attempt counted. */
export type AttemptResult =
  | { kind: 'delivered'; data: DeliveryJobData; result: DeliveryResult }
  | { kind: 'retry'; data: DeliveryJobData; delayMs: number }
  | { kind: 'dead'; data: DeliveryJobData; message: string };

export interface DeliveryAttempterOptions {
  config: SmadConfig;
  ledger: Ledger;
  logger: Logger;
  /** Bound of one attempt; default webhooks.timeoutSeconds × 1000 (this option allows sub-second bounds). */
  timeoutMs?: number;
  random?: RandomSource;
  /** DNS for the SSRF guard (tests). */
  resolver?: Resolver;
  hooks?: DeliveryHooks;
  /** Keep-alive sockets to receivers; default webhooks.concurrency. */
  maxSockets?: number;
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

/** The dead letter's message (the failed delivery job's failedReason). */
export function deadLetterMessage(data: DeliveryJobData): string {
  switch (data.deadLetter) {
    case 'gone':
      return 'gone: the receiver answered 410 Gone; not retried';
    case 'exhausted':
      return `exhausted: ${data.attempts} attempts failed; last: ${data.lastError ?? 'unknown'}`;
    default:
      return `refused: ${data.lastError ?? 'unknown reason'}`;
  }
}

type Secrets = { secrets: string[] } | { refused: string };

/** Makes delivery attempts; shared by the relay (first attempts) and the worker (retries). */
export class DeliveryAttempter {
  readonly timeoutMs: number;
  private readonly sender: HttpSender;

  constructor(private readonly options: DeliveryAttempterOptions) {
    const { config } = options;
    this.timeoutMs = options.timeoutMs ?? config.webhooks.timeoutSeconds * 1000;
    this.sender = new HttpSender({
      guard: new SsrfGuard(config.webhooks, options.resolver),
      timeoutMs: this.timeoutMs,
      maxSockets: options.maxSockets ?? config.webhooks.concurrency,
    });
  }

  close(): void {
    this.sender.close();
  }

  /**
   * One attempt. `ownSecret`: the job's own secret when the caller has the record already
   * (the relay), so the ledger is not read for it again.
   */
  async attempt(data: DeliveryJobData, ownSecret?: string | null): Promise<AttemptResult> {
    const { config, ledger } = this.options;
    const log = inferenceLogger(this.options.logger, { inferenceId: data.inferenceId, jobId: data.jobId });

    const secrets = await this.secretsFor(data, ownSecret);
    if ('refused' in secrets)
      return this.deadLetter(
        data,
        'refused',
        { lastError: secrets.refused, lastAttemptAt: Date.now() },
        log,
        0,
      );

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
    if (sent.kind === 'refused')
      return this.deadLetter(data, 'refused', { lastError: sent.reason, lastAttemptAt: now }, log, 0);

    const status = sent.kind === 'response' ? sent.status : null;
    const ok = status !== null && status >= 200 && status < 300;
    const progress = {
      attempts: attempt,
      totalAttempts: data.totalAttempts + 1,
      lastStatus: status,
      lastError: ok ? null : errorOf(sent).slice(0, MAX_ERROR_CHARS),
      lastAttemptAt: now,
    };
    const counted: DeliveryJobData = { ...data, ...progress };

    if (ok) {
      await ledger.setFields(data.inferenceId, {
        ...this.ledgerFields('delivered', progress),
        webhookDeliveredAt: now,
      });
      log.info({ webhookId: data.webhookId, status, attempt, durationMs }, 'webhook delivered');
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
      return {
        kind: 'delivered',
        data: counted,
        result: { status, attempts: progress.totalAttempts, deliveredAt: now },
      };
    }

    if (status === 410) return this.deadLetter(data, 'gone', progress, log, attempt, durationMs);

    const delayMs = nextRetryDelayMs({
      scheduleSeconds: config.webhooks.scheduleSeconds,
      attemptsMade: attempt,
      status: status ?? undefined,
      retryAfter: sent.kind === 'response' ? sent.retryAfter : undefined,
      nowMs: now,
      random: this.options.random,
    });
    if (delayMs === undefined) return this.deadLetter(data, 'exhausted', progress, log, attempt, durationMs);

    await ledger.setFields(data.inferenceId, this.ledgerFields('pending', progress));
    log.warn(
      { webhookId: data.webhookId, status, error: progress.lastError, attempt, delayMs, durationMs },
      'webhook attempt failed; will retry',
    );
    this.options.hooks?.onAttempt?.({
      webhookId: data.webhookId,
      inferenceId: data.inferenceId,
      attempt,
      result: 'retry',
      status: status ?? undefined,
      error: progress.lastError ?? undefined,
      delayMs,
      durationMs,
    });
    return { kind: 'retry', data: counted, delayMs };
  }

  /** The job's own secret (from the ledger) if it named one, else every configured secret. */
  private async secretsFor(data: DeliveryJobData, known?: string | null): Promise<Secrets> {
    // The relay recorded whether the record holds a secret of the job's own (it is written
    // once, at the first claim): only then is the ledger read, and only that field.
    const own = data.ownSecret
      ? (known ?? (await this.options.ledger.webhookSecret(data.inferenceId)))
      : undefined;
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
    state: 'delivered' | 'pending' | 'failed' | 'refused',
    progress: Pick<DeliveryJobData, 'totalAttempts' | 'lastStatus' | 'lastError'>,
  ): LedgerFields {
    return {
      webhookState: state,
      webhookAttempts: progress.totalAttempts,
      webhookLastStatus: progress.lastStatus ?? '',
      webhookLastError: progress.lastError ?? '',
    };
  }

  /** Ends the delivery without success: records it in the ledger (the caller keeps the dead letter). */
  private async deadLetter(
    before: DeliveryJobData,
    reason: DeadLetterReason,
    progress: Partial<DeliveryJobData>,
    log: Logger,
    attempt: number,
    durationMs?: number,
  ): Promise<AttemptResult> {
    const data: DeliveryJobData = { ...before, ...progress, deadLetter: reason };
    await this.options.ledger.setFields(
      data.inferenceId,
      this.ledgerFields(reason === 'refused' ? 'refused' : 'failed', data),
    );
    const message = deadLetterMessage(data);
    log.warn(
      { webhookId: data.webhookId, reason, attempts: data.totalAttempts, lastStatus: data.lastStatus },
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
    return { kind: 'dead', data, message };
  }
}
