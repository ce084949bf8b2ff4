/**
 * The delivery worker: a BullMQ worker on the delivery queue, which holds the deliveries whose
 * first attempt (made by the outbox relay) failed, or was scheduled later, and the replays.
 * Each pickup is one attempt (delivery-attempt.ts). The schedule is smad's own: a failed
 * attempt parks the job with `moveToDelayed` until the next attempt is due (no BullMQ attempt
 * is spent; the count lives in the job data), so it is exact and independent of how the job
 * was added. A delivery that ends without success fails the job (UnrecoverableError): the
 * failed set of the delivery queue is the dead letter. A job added already dead-lettered (the
 * relay's first attempt was refused or answered 410) fails at its pickup, without an attempt.
 */

import { DelayedError, type Job, UnrecoverableError, Worker } from 'bullmq';
import type { SmadConfig } from '../config/load.js';
import type { Logger } from '../observability/logger.js';
import { bullConnection, type RedisClient } from '../runtime/redis-connection.js';
import { type DeliveryAttempter, deadLetterMessage } from './delivery-attempt.js';
import {
  type DeliveryJobData,
  type DeliveryResult,
  deliveryJobRetention,
  deliveryQueueName,
} from './delivery-queue.js';

export interface DeliveryWorkerOptions {
  config: SmadConfig;
  /** Connection settings are copied from it and the worker owns its connections (a cluster: see bullConnection). */
  connection: RedisClient;
  attempter: DeliveryAttempter;
  logger: Logger;
}

export class DeliveryWorker {
  readonly worker: Worker<DeliveryJobData, DeliveryResult>;

  constructor(private readonly options: DeliveryWorkerOptions) {
    const { config, logger, attempter } = options;
    this.worker = new Worker<DeliveryJobData, DeliveryResult>(
      deliveryQueueName(config),
      (job, token) => this.process(job, token),
      {
        connection: bullConnection(options.connection),
        prefix: config.queue.prefix,
        concurrency: config.webhooks.concurrency,
        autorun: false,
        ...deliveryJobRetention(config),
        // A delivery interrupted by a crash is simply attempted again (receivers de-duplicate
        // on webhook-id); never fail a delivery for having stalled.
        maxStalledCount: 1_000_000,
        lockDuration: Math.max(30_000, attempter.timeoutMs + 15_000),
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
    if (job.data.deadLetter) throw new UnrecoverableError(deadLetterMessage(job.data));
    const outcome = await this.options.attempter.attempt(job.data);
    // The attempt is kept in the job too (Bull Board, `smad webhooks`): retries and replays are few.
    await job.updateData(outcome.data);
    switch (outcome.kind) {
      case 'delivered':
        return outcome.result;
      case 'retry':
        await job.moveToDelayed(Date.now() + Math.max(1, outcome.delayMs), token);
        throw new DelayedError();
      case 'dead':
        throw new UnrecoverableError(outcome.message);
    }
  }
}
