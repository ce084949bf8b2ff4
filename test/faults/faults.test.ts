import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AwsStack, startAwsStack } from '../support/emulator.js';
import { SmadFleet } from '../support/fault-fleet.js';
import { addJobs, addJobsViaHttp, mixedLoad, type PlannedJob } from '../support/fault-load.js';
import { FaultReceiver } from '../support/fault-receiver.js';
import {
  ENDPOINT,
  faultEnv,
  faultStackOptions,
  JOB_SECRET,
  producerQueue,
  settleAndCheck,
  TINY_ENDPOINT,
  UNKNOWN_ENDPOINT,
  writeFaultConfig,
} from '../support/fault-scenario.js';
import { PrivateRedis } from '../support/redis-server.js';
import { freshPrefix } from '../support/smad.js';
import { waitFor } from '../support/wait-for.js';

const ALL_ROLES = 'dispatcher,completions,webhooks,http';
const TOKEN = 'fault-token';

/**
 * Issue #8: the reliability bar of PRODUCT.md under injected faults. Four smad processes (two
 * with every role, a dispatcher and a completions consumer that get killed) against the
 * emulator, fauxqs and a private Redis with AOF; a mixed load in waves while the faults happen
 * one after another; then every invariant of test/support/fault-invariants.ts.
 */
describe('fault injection', () => {
  let redis: PrivateRedis;
  let stack: AwsStack;
  let receiver: FaultReceiver;
  let client: Redis;
  let queue: Queue;
  let fleet: SmadFleet | undefined;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'smad-faults-'));
    [redis, stack, receiver] = await Promise.all([
      PrivateRedis.start(),
      startAwsStack(faultStackOptions()),
      FaultReceiver.start(),
    ]);
    client = redis.client();
    client.on('error', () => {});
  });
  afterAll(async () => {
    // SMAD_FAULT_DUMP=file.jsonl keeps every log line of every smad process of the run.
    if (process.env.SMAD_FAULT_DUMP) fleet?.dump(process.env.SMAD_FAULT_DUMP);
    await fleet?.stopAll();
    await queue?.close();
    client?.disconnect();
    await receiver?.stop();
    await stack?.stop();
    await redis?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('kill -9 of dispatchers and a consumer, a Redis restart, bad notifications, a failing then absent receiver, SIGTERM of all: every job ends right, once, and is told', async () => {
    const prefix = freshPrefix();
    queue = producerQueue(client, prefix);
    fleet = new SmadFleet({
      ...faultEnv(stack, redis.url, prefix, receiver, writeFaultConfig(dir)),
      SMAD_HTTP_AUTH_TOKENS: TOKEN,
    });
    const f = fleet;
    const jobs: PlannedJob[] = [];
    const plan = (batch: string, count: number, duplicatePair = false) =>
      mixedLoad({
        count,
        batch,
        endpoint: ENDPOINT,
        tinyEndpoint: TINY_ENDPOINT,
        unknownEndpoint: UNKNOWN_ENDPOINT,
        webhookUrl: receiver.url,
        jobSecret: JOB_SECRET,
        duplicatePair,
      });
    const add = async (batch: string, count: number, duplicatePair = false) => {
      jobs.push(...(await addJobs(queue, plan(batch, count, duplicatePair))));
    };
    const httpUrl = () => {
      const listening = f.get('a').lines.find((l) => l.msg === 'http listening');
      return `http://127.0.0.1:${String(listening?.port)}`;
    };
    const accepted = () => stack.emulator.requests.filter((r) => r.status === 202).length;
    const started = Date.now();
    const marks: Record<string, number> = {};
    const mark = (phase: string) => {
      marks[phase] = Math.round((Date.now() - started) / 100) / 10;
    };
    const diagnose = () => `phases (s): ${JSON.stringify(marks)}\nproblems logged:\n${f.problems()}`;

    await Promise.all([
      f.start('a', ALL_ROLES),
      f.start('b', ALL_ROLES),
      // Dies the hard way right after SageMaker accepted its 12th call, before the ledger knew.
      f.start('d', 'dispatcher', { SMAD_TEST_KILL_AFTER_INVOKE: '12' }),
      // Dies right after its 12th resolution, before deleting the batch's messages.
      f.start('c', 'completions', { SMAD_TEST_KILL_AFTER_RESOLUTIONS: '12' }),
    ]);

    // 1. A dispatcher killed between the API call and the ledger write; 2. the completions
    //    consumer killed mid-batch. Both restart.
    await add('w1', 120, true);
    // Each process gets only its share of the work (the others take the rest): feed more jobs
    // while the one told to kill itself after its 12th call or resolution has not done so.
    let feeds = 0;
    const untilKilled = (name: string, what: string) => {
      let fedAt = Date.now();
      return waitFor(
        async () => {
          const signal = f.get(name).child.signalCode;
          if (signal) return signal;
          if (Date.now() - fedAt > 5_000 && feeds < 8) {
            feeds += 1;
            await add(`w1more${feeds}`, 30);
            fedAt = Date.now();
          }
          return undefined;
        },
        { timeoutMs: 60_000, what },
      );
    };
    const killedAfterInvoke = await untilKilled('d', 'the dispatcher to kill itself after its 12th call');
    expect(killedAfterInvoke).toBe('SIGKILL');
    const killedMidBatch = await untilKilled('c', 'the consumer to kill itself after its 12th resolution');
    expect(killedMidBatch).toBe('SIGKILL');
    await f.start('c', 'completions');
    mark('killed after invoke, mid-batch');

    // 3. The dispatcher killed mid-flight from outside, twice more, each time under load.
    for (const round of [1, 2]) {
      const d = await f.start('d', 'dispatcher');
      await add(`k${round}`, 50);
      await d.waitForLog(
        (() => {
          let seen = 0;
          return (l: Record<string, unknown>) => l.msg === 'submitted' && ++seen >= 4;
        })(),
        'the restarted dispatcher submitting',
        30_000,
      );
      await f.kill('d');
    }
    await f.start('d', 'dispatcher');
    mark('killed mid-flight twice');

    // 4. Redis stops (SIGTERM: the AOF is flushed) under load, and comes back, while
    //    producers add jobs through BullMQ and through the HTTP API.
    await add('w2', 80);
    const before = accepted();
    await waitFor(() => accepted() >= before + 15, { timeoutMs: 30_000, what: 'calls of the second wave' });
    const viaHttp = plan('h2', 40).filter((j) => j.kind !== 'invalid');
    const errorsBefore = f.lines((l) => l.msg === 'redis connection error').length;
    await redis.stop();
    const submitted = addJobsViaHttp(httpUrl, TOKEN, viaHttp);
    await waitFor(() => f.lines((l) => l.msg === 'redis connection error').length > errorsBefore, {
      timeoutMs: 30_000,
      what: 'smad to notice Redis is gone',
    });
    await redis.start();
    jobs.push(...(await submitted));
    mark('redis restarted');

    // 5. The webhook receiver answers 500 for a while, then its port is closed for a while.
    await add('w3', 60);
    receiver.mode = 'fail';
    const refusedBefore = receiver.refused().length;
    await waitFor(() => receiver.refused().length >= refusedBefore + 20, {
      timeoutMs: 30_000,
      what: 'deliveries refused with 500',
    });
    await receiver.down();
    const unreachable = () =>
      f.lines((l) => l.msg === 'webhook attempt failed; will retry' && l.status === null).length;
    const unreachableBefore = unreachable();
    await waitFor(() => unreachable() >= unreachableBefore + 10, {
      timeoutMs: 30_000,
      what: 'deliveries failing on the closed port',
    });
    receiver.mode = 'ok';
    await receiver.up();
    mark('receiver failed and was down');

    // 6. SIGTERM of every process under load, then everything starts again.
    await add('w4', 80);
    const beforeStop = accepted();
    await waitFor(() => accepted() >= beforeStop + 15, { timeoutMs: 30_000, what: 'calls of the last wave' });
    const exits = await f.terminateAll();
    // Every process running was stopped, and each exited 0.
    expect(exits.map((e) => e.name).sort(), diagnose()).toEqual(['a', 'b', 'c', 'd']);
    expect(exits, diagnose()).toEqual(exits.map((e) => ({ name: e.name, code: 0, signal: null })));
    await f.restartAll();
    mark('terminated and restarted');

    const { report, settling } = await settleAndCheck(
      { redis: client, prefix, jobs, stack, receiver },
      diagnose,
    );
    mark('settled');

    // The run exercised what it claims to.
    const { byStatus } = report.summary;
    expect(byStatus.completed).toBeGreaterThan(100);
    expect(byStatus.failed).toBeGreaterThan(10);
    expect(byStatus.expired).toBeGreaterThan(0);
    expect(byStatus.rejected).toBeGreaterThan(10);
    expect(report.summary.duplicateIdRejections).toBe(1);
    expect(stack.emulator.notifications.some((n) => n.copy === 2)).toBe(true);
    expect(stack.emulator.stats().notificationsDropped).toBeGreaterThan(0);
    expect(receiver.refused().length).toBeGreaterThan(0);
    console.log(JSON.stringify({ faults: report.summary, phases: marks, settling }));
  }, 300_000);
});
