import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AwsStack, startAwsStack } from '../support/emulator.js';
import { PrivateRedis } from '../support/redis-server.js';
import { freshPrefix, type SmadHarness, startSmad } from '../support/smad.js';
import { SmadProcess, stackEnv } from '../support/smad-process.js';
import { waitFor } from '../support/wait-for.js';

describe('configuration reload', () => {
  let redis: PrivateRedis;
  let stack: AwsStack;
  let smad: SmadHarness | undefined;
  let process1: SmadProcess | undefined;

  beforeAll(async () => {
    redis = await PrivateRedis.start();
    stack = await startAwsStack({ endpoints: [{ name: 'echo', maxConcurrentInvocationsPerInstance: 10 }] });
  });
  afterAll(async () => {
    await process1?.stop();
    await smad?.stop();
    await stack?.stop();
    await redis?.destroy();
  });

  it('SIGHUP applies new endpoint limits without a restart, and refuses an invalid file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'smad-reload-'));
    const file = join(dir, 'smad.json');
    const write = (endpoints: unknown) => writeFileSync(file, JSON.stringify({ endpoints }));
    write({ '*': { maxTps: 0, maxInFlight: 1 } });
    const prefix = freshPrefix();
    process1 = new SmadProcess(['start', '--roles', 'dispatcher', '--config', file], {
      ...stackEnv(stack, redis.url, prefix),
      SMAD_FLOW_WAIT_FALLBACK_SECONDS: '1',
      SMAD_LOG_LEVEL: 'debug',
    });
    await process1.started();
    stack.emulator.setKnobs({ latencyMs: 120_000 });
    smad = await startSmad(redis, stack, { prefix, roles: [] });
    await smad.queue.addBulk(
      Array.from({ length: 5 }, (_, i) => ({ name: 'x', data: { endpointName: 'echo', body: `r${i}` } })),
    );
    await waitFor(() => process1!.lines.filter((l) => l.msg === 'waiting for capacity').length >= 4, {
      what: 'four jobs waiting for the single in-flight slot',
    });
    // The call holding the slot goes over HTTP, apart from the log lines: wait for it too.
    await waitFor(() => stack.emulator.requests.length >= 1, { what: 'the call holding the slot' });
    expect(stack.emulator.requests).toHaveLength(1);

    writeFileSync(file, '{"endpoints": {"*": {"maxInFlight": -3}}}');
    process1.kill('SIGHUP');
    await process1.waitForLog(
      (l) => l.msg === 'configuration reload refused; the limits in force stay',
      'refusal',
    );
    expect(process1.child.exitCode).toBeNull();

    write({ '*': { maxTps: 0, maxInFlight: 10 } });
    process1.kill('SIGHUP');
    await process1.waitForLog((l) => l.msg === 'limits reloaded', 'reload');
    await waitFor(() => stack.emulator.requests.length === 5, {
      what: 'the other four calls after the reload',
    });
    stack.emulator.setKnobs({ latencyMs: 0 });
  }, 60_000);
});
