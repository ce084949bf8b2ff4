import type { ConnectionOptions } from 'bullmq';
import { Cluster, type ClusterNode, Redis, type RedisOptions } from 'ioredis';
import { redisUrls } from '../config/load.js';

/**
 * A connection smad works with: one Redis server, or a Redis Cluster. On a cluster every key
 * smad and BullMQ use shares one hash slot (the queue prefix carries a hash tag such as
 * `{smad}`), so every Lua script runs on one node and the commands are the same.
 */
export type RedisClient = Redis | Cluster;

/** Where Redis is (the `redis` settings). */
export interface RedisSettings {
  /** One `redis://` or `rediss://` URL; with `cluster`, a comma-separated list of startup nodes. */
  url: string;
  /** Connect as a Redis Cluster client (the nodes in `url` are where discovery starts). */
  cluster: boolean;
}

/** For command-line tools: report an unreachable Redis instead of waiting for it. */
export interface ToolConnectionOptions {
  /** Connect on `connect()` only. */
  lazyConnect?: boolean;
  /** Give up reconnecting after this many attempts (and retry each command once); default: never. */
  giveUpAfter?: number;
}

const retryStrategy = (times: number): number => Math.min(2000, 50 * 2 ** Math.min(times, 6));

/**
 * A connection as BullMQ workers need it (no per-request retry limit: commands wait for a
 * reconnect instead of failing), with reconnects backing off up to 2 s. With
 * `settings.cluster`, an ioredis Cluster started from the listed nodes; credentials and TLS
 * come from the first URL and apply to every node.
 */
export function createRedisConnection(
  settings: RedisSettings,
  name: string,
  tool: ToolConnectionOptions = {},
): RedisClient {
  const { url, cluster } = settings;
  const giveUpAfter = tool.giveUpAfter;
  const retry =
    giveUpAfter === undefined ? retryStrategy : (times: number) => (times > giveUpAfter ? null : 200 * times);
  const maxRetriesPerRequest = giveUpAfter === undefined ? null : 1;
  const lazyConnect = tool.lazyConnect ?? false;
  if (!cluster) {
    return new Redis(url, {
      maxRetriesPerRequest,
      enableReadyCheck: true,
      connectionName: name,
      retryStrategy: retry,
      lazyConnect,
    });
  }
  const urls = redisUrls(url).map((u) => new URL(u));
  const first = urls[0];
  if (!first) throw new Error('redis.url names no Redis Cluster node');
  const nodes: ClusterNode[] = urls.map((u) => ({ host: u.hostname, port: Number(u.port || 6379) }));
  const tls = first.protocol === 'rediss:';
  const redisOptions: RedisOptions = {
    maxRetriesPerRequest,
    enableReadyCheck: true,
    connectionName: name,
    ...(first.username ? { username: decodeURIComponent(first.username) } : {}),
    ...(first.password ? { password: decodeURIComponent(first.password) } : {}),
    ...(tls ? { tls: {} } : {}),
  };
  return new Cluster(nodes, {
    redisOptions,
    enableReadyCheck: true,
    lazyConnect,
    clusterRetryStrategy: retry,
    retryDelayOnClusterDown: 200,
    retryDelayOnFailover: 200,
    retryDelayOnTryAgain: 200,
    slotsRefreshTimeout: 2000,
    // Managed clusters with TLS (ElastiCache) announce hostnames that must not be resolved
    // before the TLS handshake checks them.
    ...(tls
      ? {
          dnsLookup: (address: string, callback: (err: null, address: string) => void) =>
            callback(null, address),
        }
      : {}),
  });
}

export function isCluster(connection: RedisClient): connection is Cluster {
  return (connection as Cluster).isCluster === true;
}

/** A new connection to the same Redis (or cluster) with the same options; the caller closes it. */
export function duplicateConnection(connection: RedisClient): RedisClient {
  return isCluster(connection) ? connection.duplicate() : connection.duplicate();
}

/**
 * The `connection` for a BullMQ Worker or Queue made from an existing connection. For a
 * single server: options copied from it, so BullMQ owns the connections it makes and closes
 * them. For a cluster: the Cluster itself (options would make BullMQ connect a single-server
 * client); a Worker then duplicates it for its blocking connection, which it owns, and sends
 * its other commands through the given one, which the caller closes.
 */
export function bullConnection(connection: RedisClient): ConnectionOptions {
  if (isCluster(connection)) return connection as unknown as ConnectionOptions;
  return { ...connection.options, maxRetriesPerRequest: null } as ConnectionOptions;
}

/** Thrown when the server's mode disagrees with the configuration (see checkRedisTopology). */
export class RedisTopologyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RedisTopologyError';
  }
}

/**
 * Refuses a single-server client pointed at a cluster node: it would follow no MOVED
 * redirection, and only work while the node happens to own the prefix's slot. (A Cluster
 * client pointed at a single server never gets ready: ioredis logs why.)
 */
export async function checkRedisTopology(connection: RedisClient, settings: RedisSettings): Promise<void> {
  if (settings.cluster || isCluster(connection)) return;
  // A server that refuses INFO (some managed services restrict it) is taken at its word.
  const info = await connection.info('cluster').catch(() => '');
  if (/^cluster_enabled:1\s*$/m.test(info))
    throw new RedisTopologyError(
      'redis.url points at a node of a Redis Cluster: set redis.cluster to true (SMAD_REDIS_CLUSTER=true) and use a hash-tagged queue.prefix such as {smad}',
    );
}
