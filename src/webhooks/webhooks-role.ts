/**
 * The webhooks role: the outbox relay (first attempts) and the delivery worker (retries,
 * replays), started and stopped together (`smad start --roles webhooks`). Any number of
 * processes may run it.
 */

import type { AwsSettings } from '../aws/clients.js';
import type { SmadConfig } from '../config/load.js';
import type { Ledger } from '../ledger/ledger.js';
import type { Logger } from '../observability/logger.js';
import type { RedisClient } from '../runtime/redis-connection.js';
import { DeliveryAttempter, type DeliveryHooks } from './delivery-attempt.js';
import { type DeliveryQueue, openDeliveryQueue } from './delivery-queue.js';
import { DeliveryWorker } from './delivery-worker.js';
import { OutboxRelay, type OutboxRelayHooks } from './outbox-relay.js';
import { S3Presigner } from './presign.js';
import type { RandomSource } from './schedule.js';
import type { Resolver } from './ssrf-guard.js';

export interface WebhooksRoleOptions {
  config: SmadConfig;
  aws: AwsSettings;
  /** A command connection (the relay's commands); BullMQ and the relay's blocking read use their own. */
  connection: RedisClient;
  ledger: Ledger;
  logger: Logger;
  /** Bound of one delivery attempt; default webhooks.timeoutSeconds. */
  timeoutMs?: number;
  random?: RandomSource;
  /** DNS for the SSRF guard (tests). */
  resolver?: Resolver;
  /** Relay tuning (tests): see OutboxRelayOptions. */
  relay?: {
    blockMs?: number;
    claimIdleMs?: number;
    claimIntervalMs?: number;
    consumer?: string;
    hooks?: OutboxRelayHooks;
  };
  hooks?: DeliveryHooks;
}

export class WebhooksRole {
  readonly queue: DeliveryQueue;
  readonly attempter: DeliveryAttempter;
  readonly relay: OutboxRelay;
  readonly delivery: DeliveryWorker;
  private readonly presigner: S3Presigner | undefined;
  private started = false;

  constructor(options: WebhooksRoleOptions) {
    const { config, logger } = options;
    this.queue = openDeliveryQueue(config, options.connection);
    this.presigner = config.webhooks.presignSeconds > 0 ? new S3Presigner(config, options.aws) : undefined;
    this.attempter = new DeliveryAttempter({
      config,
      ledger: options.ledger,
      logger: logger.child({ component: 'webhook-delivery' }),
      timeoutMs: options.timeoutMs,
      random: options.random,
      resolver: options.resolver,
      hooks: options.hooks,
      // First attempts (the relay) and retries (the worker) each run up to webhooks.concurrency.
      maxSockets: 2 * config.webhooks.concurrency,
    });
    this.relay = new OutboxRelay({
      config,
      connection: options.connection,
      ledger: options.ledger,
      queue: this.queue,
      attempter: this.attempter,
      logger: logger.child({ component: 'webhook-relay' }),
      presigner: this.presigner?.presign,
      random: options.random,
      ...options.relay,
    });
    this.delivery = new DeliveryWorker({
      config,
      connection: options.connection,
      attempter: this.attempter,
      logger: logger.child({ component: 'webhook-delivery' }),
    });
  }

  /** Starts the delivery worker, then the relay; resolves once both are running. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.delivery.start();
    await this.delivery.waitUntilReady();
    await this.relay.start();
  }

  /**
   * Stops the relay (entries being relayed finish, first attempts included, each bounded by
   * the timeout; unacknowledged ones are picked up by another process later), then the worker (attempts in progress finish, each bounded by the
   * timeout; `force` abandons them to be retried), then closes the queue.
   */
  async close(force = false): Promise<void> {
    await this.relay.close();
    await this.delivery.close(force);
    this.attempter.close();
    await this.queue.close();
    this.presigner?.close();
    this.started = false;
  }
}
