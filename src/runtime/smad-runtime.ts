import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { type AwsSettings, awsSettingsFromEnv } from '../aws/clients.js';
import { CompletionsRole } from '../completions/completions-role.js';
import type { SmadConfig } from '../config/load.js';
import type { Role } from '../config/schema.js';
import { Dispatcher } from '../dispatch/dispatcher.js';
import { JobWaker } from '../dispatch/job-waker.js';
import type { DispatchHooks } from '../dispatch/processor.js';
import { flowSettingsFrom, RedisCapacity } from '../flow/redis-capacity.js';
import { Ledger } from '../ledger/ledger.js';
import { createLogger, type Logger } from '../observability/logger.js';
import { createRedisConnection } from './redis-connection.js';

export interface RuntimeOptions {
  config: SmadConfig;
  aws?: AwsSettings;
  logger?: Logger;
  hooks?: DispatchHooks;
  /** Roles to run; defaults to config.roles. */
  roles?: Role[];
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
  readonly redis: Redis;
  readonly ledger: Ledger;
  readonly queue: Queue;
  readonly waker: JobWaker;
  readonly capacity: RedisCapacity;
  /** The configuration in force; `reload()` replaces the reloadable parts (limits). */
  config: SmadConfig;
  readonly logger: Logger;
  readonly aws: AwsSettings;
  readonly roles: Role[];
  dispatcher: Dispatcher | undefined;
  completions: CompletionsRole | undefined;
  private readonly closables: Closable[] = [];
  private stopping: Promise<void> | undefined;

  private constructor(readonly options: RuntimeOptions) {
    const { config } = options;
    this.config = config;
    this.logger = options.logger ?? createLogger({ level: config.log.level });
    this.aws = options.aws ?? awsSettingsFromEnv();
    this.roles = options.roles ?? config.roles;
    this.redis = createRedisConnection(config.redis.url, 'smad');
    this.redis.on('error', (err) => this.logger.warn({ err: err.message }, 'redis connection error'));
    this.queue = new Queue(config.queue.name, { connection: this.redis, prefix: config.queue.prefix });
    this.queue.on('error', (err) => this.logger.warn({ err: err.message }, 'queue error'));
    this.waker = new JobWaker(this.queue);
    const wake = (jobId: string) => this.waker.wake(jobId);
    this.ledger = new Ledger(this.redis, config.queue.prefix, config.ledger.retentionDays * 86_400, wake);
    this.capacity = new RedisCapacity(this.redis, config.queue.prefix, () => flowSettingsFrom(this.config), wake);
  }

  static async start(options: RuntimeOptions): Promise<SmadRuntime> {
    const runtime = new SmadRuntime(options);
    await runtime.startRoles();
    return runtime;
  }

  private async startRoles(): Promise<void> {
    const { config } = this.options;
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
      });
      this.completions.start();
      this.closables.push(this.completions);
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
      });
      this.dispatcher.start();
      await this.dispatcher.waitUntilReady();
      this.closables.unshift(this.dispatcher);
    }
    this.logger.info(
      { roles: this.roles, queue: config.queue.name, prefix: config.queue.prefix },
      'smad started',
    );
  }

  /**
   * Applies a reloaded configuration's limits (endpoint policies, account limit, flow
   * tuning) without a restart; other settings need one.
   */
  reload(next: SmadConfig): void {
    this.config = { ...this.config, endpoints: next.endpoints, limits: next.limits, flow: next.flow };
    this.logger.info({ endpoints: Object.keys(next.endpoints), limits: next.limits }, 'limits reloaded');
  }

  /** Graceful stop: every role stops taking work and finishes or hands back what it holds. */
  stop(force = false): Promise<void> {
    this.stopping ??= (async () => {
      for (const closable of this.closables) {
        try {
          await closable.close(force);
        } catch (err) {
          this.logger.error({ err }, 'error while stopping a role');
        }
      }
      await this.queue.close();
      this.redis.disconnect();
      this.logger.info('smad stopped');
    })();
    return this.stopping;
  }
}
