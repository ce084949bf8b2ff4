import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PrivateRedis } from '../support/redis-server.js';
import { CLI } from '../support/smad-process.js';

describe('smad demo', () => {
  let redis: PrivateRedis;
  beforeAll(async () => {
    redis = await PrivateRedis.start();
  });
  afterAll(async () => {
    await redis?.destroy();
  });

  it('runs the whole pipeline in a short mode, every outcome as expected, exit 0, and cleans up its keys', async () => {
    const child = spawn(process.execPath, [CLI, 'demo', '--jobs', '2', '--timeout', '45'], {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', SMAD_REDIS_URL: redis.url },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    const code = await new Promise<number | null>((r) => child.once('close', r));
    expect(code, stdout).toBe(0);
    expect(stdout).toContain('every outcome as expected');
    for (const outcome of ['completed', 'failed', 'rejected', 'expired'])
      expect(stdout).toMatch(new RegExp(`✓ .* ${outcome} +[0-9]+ ms +inference\\.${outcome} ✓ verified`));
    expect(stdout).not.toContain('✗');
    const client = redis.client();
    expect(await client.dbsize()).toBe(0);
    client.disconnect();
  }, 90_000);
});
