import { createServer } from 'node:net';
import { Redis } from 'ioredis';

/** A free TCP port on loopback, as the OS hands it out (demo, tests, benchmarks). */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (typeof address !== 'object' || address === null) return reject(new Error('no port'));
      const port = address.port;
      server.close(() => resolvePort(port));
    });
  });
}

/** Whether a Redis at `url` answers PING now (one attempt, no retries, no queueing). */
export async function redisAnswers(url: string): Promise<boolean> {
  const client = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
    connectTimeout: 1000,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

/**
 * Arguments for a private `redis-server` on loopback as smad expects Redis in production:
 * AOF on (fsync every second), no RDB snapshots, no eviction, in the foreground, logging to
 * `dir` (demo, tests, benchmarks).
 */
export function redisServerArgs(port: number, dir: string): string[] {
  return [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'yes',
    '--appendfsync',
    'everysec',
    '--dir',
    dir,
    '--maxmemory-policy',
    'noeviction',
    '--daemonize',
    'no',
    '--logfile',
    `${dir}/redis.log`,
  ];
}
