import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort, redisAnswers, redisServerArgs } from '../../src/runtime/local-probes.js';
import { waitFor } from './wait-for.js';

export { freePort };

/**
 * A private redis-server for one suite: its own port and directory, AOF on, noeviction.
 * `stop()` and `start()` again inject a Redis restart (the AOF brings the data back).
 */
export class PrivateRedis {
  private process: ChildProcess | undefined;
  readonly dir = mkdtempSync(join(tmpdir(), 'smad-redis-'));
  private constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<PrivateRedis> {
    const redis = new PrivateRedis(await freePort());
    await redis.start();
    return redis;
  }

  async start(): Promise<void> {
    if (this.process) return;
    const child = spawn('redis-server', redisServerArgs(this.port, this.dir), { stdio: 'ignore' });
    this.process = child;
    child.once('exit', () => {
      if (this.process === child) this.process = undefined;
    });
    await waitFor(() => this.ping(), { timeoutMs: 10_000, what: `redis-server on port ${this.port}` });
  }

  ping(): Promise<boolean> {
    return redisAnswers(this.url);
  }

  /** Stops the server (SIGTERM: it flushes the AOF), waiting for the process to exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.process;
    if (!child) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill(signal);
    await exited;
    this.process = undefined;
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** A fresh client; the caller disconnects it. */
  client(): Redis {
    return new Redis(this.port, '127.0.0.1', { maxRetriesPerRequest: null });
  }

  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
