import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Queue } from 'bullmq';
import type { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isConfigError } from '../../src/config/config-error.js';
import { loadConfig } from '../../src/config/load.js';
import { redactConfig } from '../../src/config/redact.js';
import { type AwsStack, startAwsStack } from '../support/emulator.js';
import { SmadFleet } from '../support/fault-fleet.js';
import { scanKeys } from '../support/fault-invariants.js';
import { addJobs, mixedLoad, type PlannedJob } from '../support/fault-load.js';
import { FaultReceiver } from '../support/fault-receiver.js';
import {
  ENDPOINT,
  faultEnv,
  faultStackOptions,
  JOB_SECRET,
  producerQueue,
  settle,
  settleAndCheck,
  TINY_ENDPOINT,
  UNKNOWN_ENDPOINT,
  writeFaultConfig,
} from '../support/fault-scenario.js';
import { PrivateRedisCluster } from '../support/redis-cluster.js';
import { freshPrefix } from '../support/smad.js';
import { CLI, SmadProcess } from '../support/smad-process.js';
import { waitFor } from '../support/wait-for.js';

const ALL_ROLES = 'dispatcher,completions,webhooks';

/** Runs the built CLI to its end (without blocking the event loop: the emulator runs in it). */
function runCli(args: string[], env: Record<string, string>) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function configProblems(env: Record<string, string>): string[] {
  try {
    loadConfig({ skipDefaultFile: true, env });
    return [];
  } catch (err) {
    if (isConfigError(err)) return err.problems;
    throw err;
  }
}

describe('redis.cluster configuration', () => {
  it('takes a comma-separated list of nodes with redis.cluster, and refuses it without', () => {
    const nodes = 'redis://10.0.0.1:7000,redis://10.0.0.2:7000';
    expect(
      configProblems({ SMAD_REDIS_URL: nodes, SMAD_REDIS_CLUSTER: 'true', SMAD_QUEUE_PREFIX: '{smad}' }),
    ).toEqual([]);
    expect(configProblems({ SMAD_REDIS_URL: nodes })).toEqual([
      expect.stringMatching(
        /^redis\.url: several URLs name the nodes of a Redis Cluster: set redis\.cluster/,
      ),
    ]);
    // Every node's password is hidden when the configuration is printed.
    const printed = redactConfig(
      loadConfig({
        skipDefaultFile: true,
        env: {
          SMAD_REDIS_URL: 'redis://:pw-one@10.0.0.1:7000,redis://:pw-two@10.0.0.2:7000',
          SMAD_REDIS_CLUSTER: 'true',
          SMAD_QUEUE_PREFIX: '{smad}',
        },
      }),
    );
    expect(printed.redis.url).not.toMatch(/pw-one|pw-two/);
    expect(printed.redis.url.split(',')).toHaveLength(2);
    expect(configProblems({ SMAD_REDIS_URL: 'redis://a:1,http://b:2', SMAD_REDIS_CLUSTER: 'true' })).toEqual(
      expect.arrayContaining([expect.stringMatching(/^redis\.url: must be a redis:\/\/ or rediss:\/\/ URL/)]),
    );
  });

  it('refuses a cluster whose prefix has no hash tag, or a database other than 0', () => {
    expect(configProblems({ SMAD_REDIS_CLUSTER: 'true' })).toEqual([
      'queue.prefix: with redis.cluster every key must share one hash slot, so the prefix needs a hash tag such as {smad} (was "smad")',
    ]);
    for (const prefix of ['smad{}', 'smad}{', 'sm{ad']) {
      expect(configProblems({ SMAD_REDIS_CLUSTER: 'yes', SMAD_QUEUE_PREFIX: prefix })).toHaveLength(1);
    }
    for (const prefix of ['{smad}', 'prod-{smad}', '{a}b', '{t1}x'])
      expect(configProblems({ SMAD_REDIS_CLUSTER: 'true', SMAD_QUEUE_PREFIX: prefix })).toEqual([]);
    expect(
      configProblems({
        SMAD_REDIS_CLUSTER: 'true',
        SMAD_QUEUE_PREFIX: '{smad}',
        SMAD_REDIS_URL: 'redis://:pw@10.0.0.1:7000/2',
      }),
    ).toEqual(['redis.url: a Redis Cluster has only database 0 (the URL of 10.0.0.1:7000 names database 2)']);
    // A hash tag on a single server is fine (and eases a later move to a cluster).
    expect(configProblems({ SMAD_QUEUE_PREFIX: '{smad}' })).toEqual([]);
  });
});

/**
 * Issue #8, item 3: smad on a Redis Cluster of three masters (AOF, noeviction), its keys under a
 * hash-tagged prefix, two processes with every role, the fault suite's mixed load with its
 * notification faults, a graceful restart under load; every invariant holds.
 */
describe('on a Redis Cluster', () => {
  let cluster: PrivateRedisCluster;
  let stack: AwsStack;
  let receiver: FaultReceiver;
  let client: Cluster;
  let queue: Queue | undefined;
  let fleet: SmadFleet | undefined;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'smad-cluster-run-'));
    [cluster, stack, receiver] = await Promise.all([
      PrivateRedisCluster.start(3),
      startAwsStack(faultStackOptions()),
      FaultReceiver.start(),
    ]);
    client = cluster.client();
  });
  afterAll(async () => {
    // SMAD_FAULT_DUMP=file.jsonl keeps every log line of every smad process of the run.
    if (process.env.SMAD_FAULT_DUMP) fleet?.dump(`${process.env.SMAD_FAULT_DUMP}.cluster`);
    await fleet?.stopAll();
    await queue?.close();
    client?.disconnect();
    await receiver?.stop();
    await stack?.stop();
    await cluster?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses to start against a cluster node without redis.cluster', async () => {
    const first = cluster.url.split(',')[0] ?? '';
    const smad = new SmadProcess(['start', '--roles', 'dispatcher'], {
      SMAD_REDIS_URL: first,
      SMAD_QUEUE_PREFIX: '{refused}',
      SMAD_HTTP_PORT: '0',
    });
    const exit = await smad.exit;
    expect(exit.code).toBe(1);
    expect(smad.stderr.join('')).toContain(
      'redis.url points at a node of a Redis Cluster: set redis.cluster to true (SMAD_REDIS_CLUSTER=true)',
    );
  });

  it('runs the mixed load with two processes: every invariant holds, every key in one slot', async () => {
    const prefix = `{${freshPrefix()}}`;
    queue = producerQueue(client, prefix);
    fleet = new SmadFleet({
      ...faultEnv(stack, cluster.url, prefix, receiver, writeFaultConfig(dir)),
      SMAD_REDIS_CLUSTER: 'true',
    });
    const f = fleet;
    const diagnose = () => `problems logged:\n${f.problems()}\n${cluster.logs(5)}`;
    await Promise.all([f.start('a', ALL_ROLES), f.start('b', ALL_ROLES)]);
    const jobs: PlannedJob[] = [];
    const add = async (batch: string, count: number, duplicatePair = false) => {
      const planned = mixedLoad({
        count,
        batch,
        endpoint: ENDPOINT,
        tinyEndpoint: TINY_ENDPOINT,
        unknownEndpoint: UNKNOWN_ENDPOINT,
        webhookUrl: receiver.url,
        jobSecret: JOB_SECRET,
        duplicatePair,
      });
      jobs.push(...(await addJobs(queue as Queue, planned)));
    };
    await add('c1', 120, true);
    // A graceful restart of one process under load: it hands its work back and comes back.
    const accepted = () => stack.emulator.requests.filter((r) => r.status === 202).length;
    await waitFor(() => accepted() >= 20, { timeoutMs: 30_000, what: 'calls under way' }).catch(
      (err: Error) => {
        throw new Error(`${err.message}\n${diagnose()}`);
      },
    );
    expect(await f.kill('b', 'SIGTERM'), diagnose()).toEqual({ code: 0, signal: null });
    await add('c2', 60);
    await f.start('b', ALL_ROLES);

    const { report } = await settleAndCheck({ redis: client, prefix, jobs, stack, receiver }, diagnose);
    const { byStatus } = report.summary;
    expect(byStatus.completed).toBeGreaterThan(50);
    expect(byStatus.failed).toBeGreaterThan(0);
    expect(byStatus.expired).toBeGreaterThan(0);
    expect(byStatus.rejected).toBeGreaterThan(0);
    expect(report.summary.duplicateIdRejections).toBe(1);

    // Every key of smad and BullMQ sits on the one master that serves the prefix's slot.
    const owner = await cluster.ownerOf(`${prefix}:inference:meta`);
    const keys = await scanKeys(client, `${prefix}*`);
    expect(keys.length).toBeGreaterThan(100);
    const perNode = await cluster.keysPerNode();
    expect([...perNode.entries()].filter(([, n]) => n > 0).map(([port]) => port)).toEqual([owner]);

    // Both processes worked (on a cluster, through a Cluster client each).
    for (const name of ['a', 'b'])
      expect(
        f.lines(
          (l) =>
            l.msg === 'submitted' || l.msg === 'resolved by notification' || l.msg === 'webhook delivered',
          name,
        ).length,
        name,
      ).toBeGreaterThan(0);

    // The command-line tools speak to the cluster too.
    const cliEnv = { SMAD_REDIS_URL: cluster.url, SMAD_REDIS_CLUSTER: 'true', SMAD_QUEUE_PREFIX: prefix };
    const someJob = jobs.find((j) => j.kind === 'model' && typeof j.data.inferenceId === 'string');
    const status = await runCli(['status', String(someJob?.data.inferenceId)], cliEnv);
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ jobId: someJob?.jobId });
    const endpoints = await runCli(['status', '--endpoints'], cliEnv);
    expect(endpoints.code, endpoints.stderr).toBe(0);
    expect(JSON.parse(endpoints.stdout)).toEqual(
      expect.arrayContaining([expect.objectContaining({ endpointName: ENDPOINT, inFlight: 0 })]),
    );
    const dead = await runCli(['webhooks', 'failed', '--json'], cliEnv);
    expect(dead.code, dead.stderr).toBe(0);
    expect(JSON.parse(dead.stdout)).toEqual({ total: 0, items: [] });
    const enqueued = await runCli(
      [
        'enqueue',
        '--endpoint',
        ENDPOINT,
        '--body',
        'from the CLI',
        '--ttl',
        '60',
        '--invocation-timeout',
        '60',
      ],
      cliEnv,
    );
    expect(enqueued.code, enqueued.stderr).toBe(0);
    const { jobId } = JSON.parse(enqueued.stdout) as { jobId: string };
    jobs.push({ label: 'cli', kind: 'model', data: { endpointName: ENDPOINT, body: 'from the CLI' }, jobId });
    await settle(client, prefix, jobs, 60_000, diagnose);

    const exits = await f.terminateAll();
    // Every process running was stopped, and each exited 0.
    expect(exits.map((e) => e.name).sort(), diagnose()).toEqual(['a', 'b']);
    expect(exits, diagnose()).toEqual(exits.map((e) => ({ name: e.name, code: 0, signal: null })));
    console.log(JSON.stringify({ cluster: report.summary }));
  }, 240_000);
});
