import { HeadBucketCommand } from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import { type AwsSettings, awsSettingsFromEnv, createS3Client, createSqsClient } from '../aws/clients.js';
import { parseS3Uri } from '../aws/s3-uri.js';
import { type CompletionCounts, CompletionsRole } from '../completions/completions-role.js';
import type { SmadConfig } from '../config/load.js';
import type { Role } from '../config/schema.js';
import { Dispatcher } from '../dispatch/dispatcher.js';
import { JobWaker } from '../dispatch/job-waker.js';
import type { DispatchHooks } from '../dispatch/processor.js';
import { type FlowSettings, flowSettingsFrom, RedisCapacity } from '../flow/redis-capacity.js';
import { buildHttpApp, type ReadinessCheck } from '../http/app.js';
import { Ledger } from '../ledger/ledger.js';
import { createLogger, type Logger } from '../observability/logger.js';
import { SmadMetrics } from '../observability/metrics.js';
import { WebhooksRole, type WebhooksRoleOptions } from '../webhooks/webhooks-role.js';
import { checkRedisTopology, createRedisConnection, type RedisClient } from './redis-connection.js';

export interface RuntimeOptions {
  config: SmadConfig;
  aws?: AwsSettings;
  logger?: Logger;
  hooks?: DispatchHooks;
  /** A metrics registry to count into (default: a new one). */
  metrics?: SmadMetrics;
  /** Webhook role tuning for tests (attempt bound, DNS resolver). */
  webhooks?: Pick<WebhooksRoleOptions, 'timeoutMs' | 'resolver'>;
  /** Roles to run; defaults to config.roles. */
  roles?: Role[];
  /** Observes what the completions role did with each notification (test hooks). */
  onNotification?: (outcome: keyof CompletionCounts) => void;
}

/** Something a role started that must be closed on shutdown. */
interface Closable {
  close(force?: boolean): Promise<void>;
}

/**
 * One smad process: the shared Redis connection, ledger and intake queue, and the roles it
 * was asked to run. Every role keeps its state in Redis and SQS, so any number of processes
 * cooperate. `stop()` closes roles in flow order: intake first, then dispatch, completions
 * and webhooks, so nothing accepted is left half-done.
 */
export class SmadRuntime {
  /** One Redis server, or a cluster (redis.cluster): every key shares the prefix's hash slot. */
  readonly redis: RedisClient;
  readonly ledger: Ledger;
  readonly queue: Queue;
  readonly waker: JobWaker;
  readonly capacity: RedisCapacity;
  readonly metrics: SmadMetrics;
  /** The configuration in force; `reload()` replaces the reloadable parts (limits). */
  config: SmadConfig;
  /** Flow control's settings, derived from `config` once (per load and reload), not per decision. */
  private flowSettings: FlowSettings;
  readonly logger: Logger;
  readonly aws: AwsSettings;
  readonly roles: Role[];
  dispatcher: Dispatcher | undefined;
  completions: CompletionsRole | undefined;
  webhooks: WebhooksRole | undefined;
  http: FastifyInstance | undefined;
  /** False once a graceful stop began (readiness fails, intake refuses). */
  accepting = true;
  private readonly closables: Closable[] = [];
  private readonly onStop: (() => Promise<void>)[] = [];
  /** The port the HTTP API listens on (resolved when http.port is 0). */
  httpPort: number | undefined;
  private stopping: Promise<void> | undefined;

  private constructor(readonly options: RuntimeOptions) {
    const { config } = options;
    this.config = config;
    this.flowSettings = flowSettingsFrom(config);
    this.logger = options.logger ?? createLogger({ level: config.log.level });
    this.aws = options.aws ?? awsSettingsFromEnv();
    this.roles = options.roles ?? config.roles;
    this.redis = createRedisConnection(config.redis, 'smad');
    this.redis.on('error', (err) => this.logger.warn({ err: err.message }, 'redis connection error'));
    this.queue = new Queue(config.queue.name, { connection: this.redis, prefix: config.queue.prefix });
    this.queue.on('error', (err) => this.logger.warn({ err: err.message }, 'queue error'));
    this.waker = new JobWaker(this.queue);
    const wake = (jobId: string) => this.waker.wake(jobId);
    this.metrics = options.metrics ?? new SmadMetrics();
    this.ledger = new Ledger(this.redis, config.queue.prefix, config.ledger.retentionDays * 86_400, {
      onSlotFreed: wake,
      onFinal: (status) => this.metrics.jobs.inc({ outcome: status }),
    });
    this.capacity = new RedisCapacity(this.redis, config.queue.prefix, () => this.flowSettings, wake);
  }

  static async start(options: RuntimeOptions): Promise<SmadRuntime> {
    const runtime = new SmadRuntime(options);
    try {
      await checkRedisTopology(runtime.redis, options.config.redis);
    } catch (err) {
      await runtime.stop(true);
      throw err;
    }
    await runtime.startRoles();
    return runtime;
  }

  private async startRoles(): Promise<void> {
    const { config } = this.options;
    this.metrics.setSources({
      queueCounts: async () => ({ [config.queue.name]: await this.queue.getJobCounts() }),
      endpoints: () => this.capacity.inspect(),
    });
    if (this.roles.includes('completions')) {
      if (config.completions.queueUrls.length === 0)
        this.logger.warn(
          'completions role without completions.queueUrls: inferences resolve only by S3 checks',
        );
      this.completions = new CompletionsRole({
        config,
        aws: this.aws,
        ledger: this.ledger,
        waker: this.waker,
        logger: this.logger.child({ role: 'completions' }),
        onOutcome: (outcome) => {
          this.metrics.notifications.inc({ outcome });
          this.options.onNotification?.(outcome);
        },
      });
      this.completions.start();
      this.closables.push(this.completions);
    }
    if (this.roles.includes('webhooks')) {
      this.webhooks = new WebhooksRole({
        config,
        aws: this.aws,
        connection: this.redis,
        ledger: this.ledger,
        logger: this.logger.child({ role: 'webhooks' }),
        ...this.options.webhooks,
        hooks: {
          onAttempt: (outcome) => {
            this.metrics.webhookAttempts.inc({ outcome: outcome.result });
            if (outcome.result !== 'delivered' && outcome.result !== 'retry')
              this.metrics.webhookDeadLettered.inc({ reason: outcome.result });
            if (outcome.result === 'delivered' && outcome.eventAt !== undefined)
              this.metrics.webhookLatency.observe(
                { type: outcome.type ?? 'unknown' },
                Math.max(0, Date.now() - outcome.eventAt) / 1000,
              );
          },
        },
      });
      await this.webhooks.start();
      this.closables.push(this.webhooks);
    }
    if (this.roles.includes('dispatcher')) {
      this.dispatcher = new Dispatcher({
        config,
        aws: this.aws,
        connection: this.redis,
        ledger: this.ledger,
        capacity: this.capacity,
        logger: this.logger.child({ role: 'dispatcher' }),
        hooks: this.options.hooks,
        metrics: this.metrics,
      });
      this.dispatcher.start();
      await this.dispatcher.waitUntilReady();
      this.closables.unshift(this.dispatcher);
    }
    if (this.roles.includes('http')) await this.startHttp();
    this.logger.info(
      { roles: this.roles, queue: config.queue.name, prefix: config.queue.prefix },
      'smad started',
    );
  }

  private async startHttp(): Promise<void> {
    const { config } = this.options;
    const readiness: ReadinessCheck[] = [
      {
        name: 'redis',
        check: async () => {
          if (this.redis.status !== 'ready') throw new Error(`redis connection ${this.redis.status}`);
          await withTimeout(this.redis.ping(), 2000, 'redis did not answer PING');
        },
      },
    ];
    if (this.roles.includes('completions') && config.completions.queueUrls.length > 0) {
      const sqs = createSqsClient(this.aws);
      readiness.push({
        name: 'sqs',
        check: async () => {
          await withTimeout(
            sqs.send(
              new GetQueueAttributesCommand({
                QueueUrl: config.completions.queueUrls[0],
                AttributeNames: ['QueueArn'],
              }),
            ),
            3000,
            'SQS did not answer',
          );
        },
      });
      this.onStop.push(async () => sqs.destroy());
    }
    if (this.roles.includes('dispatcher') && config.staging.s3Uri !== '') {
      const s3 = createS3Client(this.aws);
      const { bucket } = parseS3Uri(config.staging.s3Uri);
      readiness.push({
        name: 's3',
        check: async () => {
          await withTimeout(s3.send(new HeadBucketCommand({ Bucket: bucket })), 3000, 'S3 did not answer');
        },
      });
      this.onStop.push(async () => s3.destroy());
    }
    const adminQueues: Queue[] = [this.queue];
    if (this.webhooks) adminQueues.push(this.webhooks.queue as unknown as Queue);
    this.http = await buildHttpApp({
      config: () => this.config,
      queue: this.queue,
      adminQueues,
      // The API only sends commands, which a Cluster runs alike.
      redis: this.redis,
      ledger: this.ledger,
      metrics: this.metrics,
      readiness,
      accepting: () => this.accepting,
    });
    await this.http.listen({ port: config.http.port, host: config.http.host });
    const address = this.http.server.address();
    this.httpPort = typeof address === 'object' && address ? address.port : config.http.port;
    this.logger.info({ port: this.httpPort, host: config.http.host }, 'http listening');
  }

  /**
   * Applies a reloaded configuration's limits (endpoint policies, account limit, flow
   * tuning) without a restart; other settings need one.
   */
  reload(next: SmadConfig): void {
    this.config = { ...this.config, endpoints: next.endpoints, limits: next.limits, flow: next.flow };
    this.flowSettings = flowSettingsFrom(this.config);
    this.logger.info({ endpoints: Object.keys(next.endpoints), limits: next.limits }, 'limits reloaded');
  }

  /** Graceful stop: every role stops taking work and finishes or hands back what it holds. */
  stop(force = false): Promise<void> {
    this.stopping ??= (async () => {
      this.accepting = false;
      if (this.http) await this.http.close();
      for (const closable of this.closables) {
        try {
          await closable.close(force);
        } catch (err) {
          this.logger.error({ err }, 'error while stopping a role');
        }
      }
      for (const fn of this.onStop) await fn();
      await this.queue.close();
      this.redis.disconnect();
      this.logger.info('smad stopped');
    })();
    return this.stopping;
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
