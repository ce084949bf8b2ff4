import { Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import pino from 'pino';
import { loadConfig, type SmadConfig } from '../../src/config/load.js';
import type { Role } from '../../src/config/schema.js';
import type { DispatchHooks } from '../../src/dispatch/processor.js';
import { SmadRuntime } from '../../src/runtime/smad-runtime.js';
import type { AwsStack } from './emulator.js';
import type { PrivateRedis } from './redis-server.js';

let prefixCounter = 0;

/** A configuration for tests: no default file, no environment, the given overrides. */
export function testConfig(overrides: Record<string, unknown>): SmadConfig {
  return loadConfig({ skipDefaultFile: true, env: {}, overrides });
}

/** A fresh queue prefix, so suites sharing one Redis never see each other's keys. */
export function freshPrefix(): string {
  return `t${process.pid}x${++prefixCounter}`;
}

export interface SmadHarness {
  runtime: SmadRuntime;
  config: SmadConfig;
  /** A producer queue and events on the same Redis and prefix. */
  queue: Queue;
  events: QueueEvents;
  redis: Redis;
  stop(): Promise<void>;
}

/**
 * smad in-process against a private Redis and the AWS stack (emulator + fauxqs): the given
 * roles, a fresh prefix, completions reading the stack's envelope queue.
 */
export async function startSmad(
  redis: PrivateRedis,
  stack: AwsStack,
  options: {
    roles?: Role[];
    overrides?: Record<string, unknown>;
    hooks?: DispatchHooks;
    prefix?: string;
    /** Where smad's S3 client goes instead of the stack's (e.g. a server refusing everything). */
    s3Endpoint?: string;
  } = {},
): Promise<SmadHarness> {
  const prefix = options.prefix ?? freshPrefix();
  const config = testConfig({
    'redis.url': redis.url,
    'queue.prefix': prefix,
    'completions.queueUrls': [stack.queues.envelope],
    'completions.waitTimeSeconds': 1,
    'staging.s3Uri': `s3://${stack.bucket}/staging`,
    'dispatch.backoffBaseMs': 20,
    'dispatch.backoffMaxMs': 200,
    'log.level': 'silent',
    ...options.overrides,
  });
  const runtime = await SmadRuntime.start({
    config,
    aws: options.s3Endpoint
      ? { ...stack.settings, endpoints: { ...stack.settings.endpoints, s3: options.s3Endpoint } }
      : stack.settings,
    logger: pino({ level: process.env.SMAD_TEST_LOG ?? 'silent' }),
    roles: options.roles ?? ['dispatcher', 'completions'],
    hooks: options.hooks,
  });
  const client = redis.client();
  const queue = new Queue(config.queue.name, { connection: client, prefix });
  // Connection options, not an instance: QueueEvents then owns (and on close ends) its
  // blocking connection, even after a Redis restart.
  const events = new QueueEvents(config.queue.name, {
    connection: { host: '127.0.0.1', port: redis.port, maxRetriesPerRequest: null },
    prefix,
  });
  // Tests stop and restart Redis: these connections reconnect; their errors are expected.
  client.on('error', () => {});
  queue.on('error', () => {});
  events.on('error', () => {});
  await events.waitUntilReady();
  return {
    runtime,
    config,
    queue,
    events,
    redis: client,
    async stop() {
      await runtime.stop();
      // BullMQ 6.7's QueueEvents.close() can hang after a Redis restart (its disconnect
      // waits for an 'end' that never comes); bound it: the test process ends the socket.
      await Promise.race([events.close(), new Promise((r) => setTimeout(r, 2000).unref())]);
      await queue.close();
      client.disconnect();
    },
  };
}
