import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { Logger } from '../observability/logger.js';

/** What the handler decided for one message. */
export type MessageDisposition = 'delete' | 'retain';

export interface SqsPollerOptions {
  sqs: SQSClient;
  queueUrl: string;
  /** Long-poll wait, 0..20 s. */
  waitTimeSeconds: number;
  visibilityTimeoutSeconds: number;
  /** Handles one message; throwing leaves the message to reappear (and counts as retain). */
  handle(message: Message): Promise<MessageDisposition>;
  logger: Logger;
  /** Called after every batch with how many messages it held (metrics, tests). */
  onBatch?: (size: number) => void;
}

/**
 * One receive loop on one SQS queue: long-polls batches of up to 10, handles the messages
 * of a batch concurrently, extends their visibility while they are being handled, and
 * deletes those the handler is done with — only after the handler returned, so a crash
 * leaves the message to be delivered again. Run several per queue to have more than one
 * batch in flight. `stop()` lets the current long poll finish (at most waitTimeSeconds) and
 * handles what it returned: aborting it would lose messages SQS already handed out, which
 * would stay invisible until their visibility timeout.
 */
export class SqsPoller {
  private running = false;
  private loop: Promise<void> | undefined;
  private abort: AbortController | undefined;

  constructor(private readonly options: SqsPollerOptions) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  /** Stops at once, abandoning a long poll in progress (its messages reappear after their visibility timeout). */
  async abortNow(): Promise<void> {
    this.running = false;
    this.abort?.abort();
    await this.loop;
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (this.running) {
      let messages: Message[];
      try {
        this.abort = new AbortController();
        const received = await this.options.sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: this.options.queueUrl,
            MaxNumberOfMessages: 10,
            WaitTimeSeconds: this.options.waitTimeSeconds,
            VisibilityTimeout: this.options.visibilityTimeoutSeconds,
            MessageSystemAttributeNames: ['ApproximateReceiveCount'],
          }),
          { abortSignal: this.abort.signal },
        );
        messages = received.Messages ?? [];
        failures = 0;
      } catch (err) {
        if (!this.running) break;
        failures += 1;
        const delay = Math.min(30_000, 250 * 2 ** Math.min(failures, 7));
        this.options.logger.error(
          { err, queueUrl: this.options.queueUrl, retryInMs: delay },
          'SQS receive failed',
        );
        await new Promise((r) => setTimeout(r, delay));
        continue;
      }
      if (messages.length === 0) continue;
      // Handled even when stopping: these messages are ours until their visibility ends.
      await this.handleBatch(messages);
      this.options.onBatch?.(messages.length);
    }
  }

  private async handleBatch(messages: Message[]): Promise<void> {
    const { sqs, queueUrl, visibilityTimeoutSeconds, logger } = this.options;
    const pending = new Set(messages);
    // Heartbeat: keep unfinished messages invisible while their handling takes long.
    const heartbeat = setInterval(
      () => {
        const entries = [...pending]
          .filter((m) => m.ReceiptHandle)
          .map((m, i) => ({
            Id: String(i),
            ReceiptHandle: m.ReceiptHandle,
            VisibilityTimeout: visibilityTimeoutSeconds,
          }));
        if (entries.length === 0) return;
        sqs
          .send(new ChangeMessageVisibilityBatchCommand({ QueueUrl: queueUrl, Entries: entries }))
          .catch((err: unknown) => logger.warn({ err }, 'could not extend message visibility'));
      },
      Math.max(1000, (visibilityTimeoutSeconds * 1000) / 2),
    );
    const toDelete: Message[] = [];
    try {
      await Promise.all(
        messages.map(async (message) => {
          try {
            const disposition = await this.options.handle(message);
            if (disposition === 'delete') toDelete.push(message);
          } catch (err) {
            logger.error(
              { err, messageId: message.MessageId },
              'handling a notification failed; it will be redelivered',
            );
          } finally {
            pending.delete(message);
          }
        }),
      );
    } finally {
      clearInterval(heartbeat);
    }
    if (toDelete.length === 0) return;
    try {
      const result = await sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: toDelete.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })),
        }),
      );
      for (const failed of result.Failed ?? []) {
        logger.warn(
          { code: failed.Code, reason: failed.Message },
          'could not delete a handled message; its redelivery will be a duplicate',
        );
      }
    } catch (err) {
      logger.warn({ err }, 'could not delete handled messages; their redelivery will be duplicates');
    }
  }
}
