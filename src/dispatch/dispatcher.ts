import type { S3Client } from '@aws-sdk/client-s3';
import type { SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { DelayedError, type Job, UnrecoverableError, Worker } from 'bullmq';
import { type AwsSettings, createS3Client, createSageMakerRuntimeClient } from '../aws/clients.js';
import type { SmadConfig } from '../config/load.js';
import type { Capacity } from '../flow/capacity.js';
import type { Ledger } from '../ledger/ledger.js';
import type { Logger } from '../observability/logger.js';
import type { SmadMetrics } from '../observability/metrics.js';
import { bullConnection, type RedisClient } from '../runtime/redis-connection.js';
import { backoffDelayMs } from './backoff.js';
import type { DispatchResult } from './job-result.js';
import { type DispatchHooks, DispatchProcessor } from './processor.js';

export interface DispatcherOptions {
  config: SmadConfig;
  aws: AwsSettings;
  /** Where the BullMQ worker connects: its settings are copied (a cluster: see bullConnection). */
  connection: RedisClient;
  ledger: Ledger;
  capacity: Capacity;
  logger: Logger;
  hooks?: DispatchHooks;
  metrics?: SmadMetrics;
}

/**
 * The dispatcher role: a BullMQ worker on the intake queue running DispatchProcessor with
 * the configured concurrency. Unexpected errors (Redis or S3 trouble mid-pickup) park the
 * job for a short backoff rather than failing it, so that an accepted job always ends in
 * its inference's final status.
 */
export class Dispatcher {
  readonly worker: Worker<unknown, DispatchResult>;
  private readonly clients = new Map<string, SageMakerRuntimeClient>();
  private readonly s3: S3Client;

  constructor(private readonly options: DispatcherOptions) {
    const { config, aws, logger } = options;
    this.s3 = createS3Client(aws);
    const processor = new DispatchProcessor({
      config,
      ledger: options.ledger,
      capacity: options.capacity,
      s3: this.s3,
      sagemaker: (region) => this.client(region),
      logger,
      hooks: options.hooks,
      metrics: options.metrics,
    });
    const retentionSeconds = config.ledger.retentionDays * 86_400;
    // Finished jobs are kept as long as ledger records; retentionDays 0 keeps them forever,
    // BullMQ's default (no trim on each finish).
    const keepFinished =
      retentionSeconds > 0
        ? { removeOnComplete: { age: retentionSeconds }, removeOnFail: { age: retentionSeconds } }
        : {};
    this.worker = new Worker(
      config.queue.name,
      async (job: Job, token?: string) => {
        try {
          return await processor.process(job, token);
        } catch (err) {
          if (err instanceof DelayedError || err instanceof UnrecoverableError) throw err;
          const delay = backoffDelayMs(Math.min(job.attemptsStarted, 10), 500, 30_000);
          logger.error({ jobId: job.id, err }, 'pickup failed unexpectedly; parking the job to try again');
          await job.moveToDelayed(Date.now() + delay, token);
          throw new DelayedError();
        }
      },
      {
        // Connection options (not an instance): BullMQ then owns its connections and closes them.
        connection: bullConnection(options.connection),
        prefix: config.queue.prefix,
        concurrency: config.dispatch.concurrency,
        autorun: false,
        ...keepFinished,
        // Pickups are idempotent (the ledger decides), so a job stalled by a crash is simply
        // picked up again; never fail a job for having stalled.
        maxStalledCount: 1_000_000,
        lockDuration: config.dispatch.lockDurationMs,
        stalledInterval: config.dispatch.stalledIntervalMs,
      },
    );
    this.worker.on('error', (err) => logger.error({ err }, 'dispatch worker error'));
  }

  private client(region: string): SageMakerRuntimeClient {
    let client = this.clients.get(region);
    if (!client) {
      client = createSageMakerRuntimeClient(this.options.aws, {
        region: region || undefined,
        requestTimeoutMs: this.options.config.dispatch.requestTimeoutMs,
        maxSockets: Math.max(16, this.options.config.dispatch.concurrency * 2),
      });
      this.clients.set(region, client);
    }
    return client;
  }

  start(): void {
    void this.worker.run();
  }

  async waitUntilReady(): Promise<void> {
    await this.worker.waitUntilReady();
  }

  /** Stops taking jobs and waits for pickups in progress (each is short: one API call). */
  async close(force = false): Promise<void> {
    await this.worker.close(force);
    for (const client of this.clients.values()) client.destroy();
    this.s3.destroy();
  }
}
