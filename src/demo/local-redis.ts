import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, redisAnswers, redisServerArgs } from '../runtime/local-probes.js';

/** A Redis for the demo and where it came from; `stop()` ends one the demo started. */
export interface DemoRedis {
  url: string;
  source: 'SMAD_REDIS_URL' | 'local' | 'started';
  stop(): Promise<void>;
}

/**
 * SMAD_REDIS_URL if set (it must answer), else a Redis on 127.0.0.1:6379 if one answers,
 * else a `redis-server` from PATH on a free port in a temporary directory.
 */
export async function findOrStartRedis(env: NodeJS.ProcessEnv = process.env): Promise<DemoRedis> {
  const given = env.SMAD_REDIS_URL;
  if (given) {
    if (!(await redisAnswers(given))) throw new Error(`SMAD_REDIS_URL (${given}) does not answer PING`);
    return { url: given, source: 'SMAD_REDIS_URL', stop: async () => {} };
  }
  const local = 'redis://127.0.0.1:6379';
  if (await redisAnswers(local)) return { url: local, source: 'local', stop: async () => {} };
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'smad-demo-redis-'));
  let child: ChildProcess;
  try {
    child = spawn('redis-server', redisServerArgs(port, dir), { stdio: 'ignore' });
  } catch (err) {
    throw new Error(
      `no Redis: set SMAD_REDIS_URL, run one on 127.0.0.1:6379, or put redis-server on PATH (${(err as Error).message})`,
    );
  }
  const failed = new Promise<never>((_, reject) => {
    child.once('error', (err) =>
      reject(
        new Error(
          `no Redis: set SMAD_REDIS_URL, run one on 127.0.0.1:6379, or put redis-server on PATH (${err.message})`,
        ),
      ),
    );
    child.once('exit', (code) => reject(new Error(`redis-server exited with code ${code}`)));
  });
  const url = `redis://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  const up = (async () => {
    while (Date.now() < deadline) {
      if (await redisAnswers(url)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('redis-server did not answer within 10 s');
  })();
  await Promise.race([up, failed]);
  return {
    url,
    source: 'started',
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
