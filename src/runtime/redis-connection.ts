import type { ConnectionOptions } from 'bullmq';
import { Redis } from 'ioredis';

/**
 * A connection as BullMQ workers need it (no per-request retry limit: commands wait for a
 * reconnect instead of failing), with reconnects backing off up to 2 s.
 */
export function createRedisConnection(url: string, name: string): Redis {
  return new Redis(url, {
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    connectionName: name,
    retryStrategy: (times) => Math.min(2000, 50 * 2 ** Math.min(times, 6)),
  });
}

/**
 * Connection options for a BullMQ Worker or Queue copied from an existing connection. Given
 * options rather than an instance, BullMQ owns the connections it makes and closes them.
 */
export function bullConnection(connection: Redis): ConnectionOptions {
  return { ...connection.options, maxRetriesPerRequest: null } as ConnectionOptions;
}
