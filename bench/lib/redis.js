/**
 * A private redis-server per benchmark: a free port on 127.0.0.1, its own directory, AOF on
 * (appendfsync everysec, as production), no RDB snapshots, noeviction. Never the machine's
 * Redis on 6379.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort, redisAnswers, redisServerArgs } from '../../dist/runtime/local-probes.js';
import { spawnTracked, stopChild, waitFor } from './proc.js';

export { freePort };

export function redisVersion() {
  try {
    const out = execFileSync('redis-server', ['--version'], { encoding: 'utf8' });
    return /v=([\d.]+)/.exec(out)?.[1] ?? out.trim();
  } catch {
    return 'unknown';
  }
}

const ping = (port) => redisAnswers(`redis://127.0.0.1:${port}`);

/** Parses an INFO reply into {field: value}. */
export function parseInfo(text) {
  const out = {};
  for (const line of text.split('\r\n')) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

/**
 * Starts redis-server. `extraArgs` are appended to the command line. Returns
 * {port, url, dir, pid, client(), info(section), stop()}.
 */
export async function startRedis(extraArgs = []) {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'smad-bench-redis-'));
  const child = spawnTracked('redis-server', [...redisServerArgs(port, dir), ...extraArgs], {
    stdio: 'ignore',
  });
  await waitFor(() => ping(port), { timeoutMs: 10_000, what: `redis-server on port ${port}` });
  const admin = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: null });
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    pid: child.pid,
    admin,
    /** A new client (the caller disconnects it). */
    client(options = {}) {
      return new Redis(port, '127.0.0.1', { maxRetriesPerRequest: null, ...options });
    },
    async info(section) {
      return parseInfo(await admin.info(section));
    },
    async stop() {
      admin.disconnect();
      await stopChild(child, 'SIGTERM', 10_000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * INFO commandstats as {command: calls}. Commands run inside Lua scripts are counted too
 * (Redis counts every call), so this is work done, not round trips.
 */
export async function commandStats(redis) {
  const info = parseInfo(await redis.info('commandstats'));
  const out = {};
  for (const [key, value] of Object.entries(info)) {
    if (!key.startsWith('cmdstat_')) continue;
    const calls = /calls=(\d+)/.exec(value);
    out[key.slice('cmdstat_'.length)] = Number(calls?.[1] ?? 0);
  }
  return out;
}
