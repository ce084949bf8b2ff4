import type { Message, SQSClient } from '@aws-sdk/client-sqs';
import { type AwsSettings, createSqsClient } from '../aws/clients.js';
import type { SmadConfig } from '../config/load.js';
import type { JobWaker } from '../dispatch/job-waker.js';
import type { Ledger } from '../ledger/ledger.js';
import { inferenceLogger, type Logger } from '../observability/logger.js';
import { parseNotification } from './parse-notification.js';
import { resolveNotification } from './resolve-notification.js';
import { type MessageDisposition, SqsPoller } from './sqs-poller.js';

/** Counts of what the consumer did with messages, by outcome. */
export interface CompletionCounts {
  resolved: number;
  duplicate: number;
  unknown: number;
  malformed: number;
}

export interface CompletionsRoleOptions {
  config: SmadConfig;
  aws: AwsSettings;
  ledger: Ledger;
  waker: JobWaker;
  logger: Logger;
  /** Observes each handled message (metrics). */
  onOutcome?: (outcome: keyof CompletionCounts) => void;
}

/**
 * The completions role: `completions.pollers` receive loops on each configured SQS queue,
 * each message parsed, applied to the ledger and the job, and then deleted — or, for
 * unknown inference ids and malformed messages, deleted or retained by the configured
 * policy (retained messages go to the queue's dead-letter queue through its redrive policy).
 */
export class CompletionsRole {
  readonly counts: CompletionCounts = { resolved: 0, duplicate: 0, unknown: 0, malformed: 0 };
  private readonly sqs: SQSClient;
  private readonly pollers: SqsPoller[] = [];

  constructor(private readonly options: CompletionsRoleOptions) {
    const { config, aws } = options;
    this.sqs = createSqsClient(aws);
    for (const queueUrl of config.completions.queueUrls) {
      for (let i = 0; i < Math.max(1, config.completions.pollers); i++) {
        this.pollers.push(
          new SqsPoller({
            sqs: this.sqs,
            queueUrl,
            waitTimeSeconds: Math.min(20, config.completions.waitTimeSeconds),
            visibilityTimeoutSeconds: config.completions.visibilityTimeoutSeconds,
            handle: (message) => this.handle(message),
            logger: options.logger,
          }),
        );
      }
    }
  }

  private count(outcome: keyof CompletionCounts): void {
    this.counts[outcome] += 1;
    this.options.onOutcome?.(outcome);
  }

  /** Handles one SQS message; exported behaviour for tests through the role. */
  async handle(message: Message): Promise<MessageDisposition> {
    const { config, logger } = this.options;
    const parsed = parseNotification(message.Body);
    if (parsed.kind === 'malformed') {
      this.count('malformed');
      logger.warn(
        { messageId: message.MessageId, reason: parsed.reason, policy: config.completions.malformedPolicy },
        'malformed completion message',
      );
      return config.completions.malformedPolicy;
    }
    const outcome = await resolveNotification(this.options.ledger, this.options.waker, parsed);
    const log = inferenceLogger(logger, { inferenceId: parsed.inferenceId });
    this.count(outcome);
    if (outcome === 'unknown') {
      log.warn(
        { messageId: message.MessageId, policy: config.completions.unknownPolicy },
        'notification for an inference id smad has no record of',
      );
      return config.completions.unknownPolicy;
    }
    if (outcome === 'duplicate')
      log.debug({ status: parsed.status }, 'duplicate or late notification: no change');
    else log.info({ status: parsed.status, delivery: parsed.delivery }, 'resolved by notification');
    return 'delete';
  }

  start(): void {
    for (const poller of this.pollers) poller.start();
  }

  /**
   * Stops polling: each poller finishes its long poll and handles what it got (so this takes
   * up to completions.waitTimeSeconds); `force` abandons the polls instead.
   */
  async close(force = false): Promise<void> {
    await Promise.all(this.pollers.map((p) => (force ? p.abortNow() : p.stop())));
    this.sqs.destroy();
  }
}
