import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RequestRecord } from '../../src/emulator/index.js';
import type { EndpointFlowState } from '../../src/flow/redis-capacity.js';
import { ACQUIRE } from '../../src/flow/scripts.js';
import { CLAIM_AND_ACQUIRE } from '../../src/ledger/scripts.js';
import type { AwsStack } from '../support/emulator.js';
import type { PrivateRedis } from '../support/redis-server.js';
import { freshPrefix, type SmadHarness, startSmad } from '../support/smad.js';
import { SmadProcess, stackEnv } from '../support/smad-process.js';

/**
 * Flow control across processes: N smad dispatcher processes (the built CLI, `--roles
 * dispatcher`) sharing one private Redis and the emulator, plus completions and a producer
 * in the test process. Settings are dotted keys; the processes get them as a config file
 * (endpoint policies cannot be given by environment), the test process as overrides.
 */
export interface FlowRig {
  prefix: string;
  /** The test process's smad (completions role), its producer queue and capacity.inspect(). */
  smad: SmadHarness;
  processes: SmadProcess[];
  configFile: string;
  /** Flow-control state of one endpoint, read from Redis. */
  endpoint(name: string): Promise<EndpointFlowState>;
  /** Starts one more dispatcher process like the others (plus `env`); stopped with the rig. */
  addProcess(env?: Record<string, string>): Promise<SmadProcess>;
  stop(): Promise<void>;
}

export interface FlowRigOptions {
  /** Dotted settings, e.g. {'endpoints': {...}, 'limits.accountMaxTps': 15}. */
  settings: Record<string, unknown>;
  /** Dispatcher processes (default 3). */
  processes?: number;
  /** Extra environment for the dispatcher processes. */
  env?: Record<string, string>;
  /** Roles of the test process's runtime (default completions). */
  roles?: ('completions' | 'dispatcher')[];
}

/** {'a.b': 1} → {a: {b: 1}} */
function nest(dotted: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(dotted)) {
    const parts = key.split('.');
    let node = out;
    for (const part of parts.slice(0, -1)) {
      node[part] ??= {};
      node = node[part] as Record<string, unknown>;
    }
    node[parts[parts.length - 1] as string] = value;
  }
  return out;
}

export async function startFlowRig(
  redis: PrivateRedis,
  stack: AwsStack,
  options: FlowRigOptions,
): Promise<FlowRig> {
  const prefix = freshPrefix();
  const dir = mkdtempSync(join(tmpdir(), 'smad-flow-'));
  const configFile = join(dir, 'smad.json');
  writeFileSync(configFile, JSON.stringify(nest(options.settings), null, 2));
  const env = {
    ...stackEnv(stack, redis.url, prefix),
    SMAD_DISPATCH_BACKOFF_BASE_MS: '50',
    SMAD_DISPATCH_BACKOFF_MAX_MS: '500',
    ...options.env,
  };
  const processes: SmadProcess[] = [];
  for (let i = 0; i < (options.processes ?? 3); i++)
    processes.push(new SmadProcess(['start', '--roles', 'dispatcher', '--config', configFile], env));
  let smad: SmadHarness | undefined;
  try {
    await Promise.all(processes.map((p) => p.started()));
    smad = await startSmad(redis, stack, {
      prefix,
      roles: options.roles ?? ['completions'],
      overrides: {
        'dispatch.backoffBaseMs': 50,
        'dispatch.backoffMaxMs': 500,
        ...options.settings,
      },
    });
  } catch (err) {
    for (const p of processes) await p.stop();
    throw err;
  }
  const harness = smad;
  return {
    prefix,
    smad: harness,
    processes,
    configFile,
    async addProcess(extra = {}) {
      const added = new SmadProcess(['start', '--roles', 'dispatcher', '--config', configFile], {
        ...env,
        ...extra,
      });
      processes.push(added);
      await added.started();
      return added;
    },
    async endpoint(name) {
      const state = (await harness.runtime.capacity.inspect()).find((e) => e.endpointName === name);
      if (!state) throw new Error(`no flow state for endpoint ${name}`);
      return state;
    },
    async stop() {
      for (const p of processes) await p.stop();
      await harness.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Receive times of the calls an endpoint received, sorted. */
export function callTimes(stack: AwsStack, endpointName: string, status?: number): number[] {
  return stack.emulator.requests
    .filter(
      (r: RequestRecord) => r.endpointName === endpointName && (status === undefined || r.status === status),
    )
    .map((r) => r.receivedAt)
    .sort((a, b) => a - b);
}

/**
 * The most calls in any window [t_i, t_i + windowMs) that starts at a call (every window
 * holding the most calls can be slid right until it starts at one). Times sorted.
 */
export function worstWindow(times: readonly number[], windowMs = 1000): { calls: number; startsAt: number } {
  let worst = { calls: 0, startsAt: times[0] ?? 0 };
  let j = 0;
  for (let i = 0; i < times.length; i++) {
    const start = times[i] as number;
    if (j < i) j = i;
    while (j < times.length && (times[j] as number) < start + windowMs) j++;
    if (j - i > worst.calls) worst = { calls: j - i, startsAt: start };
  }
  return worst;
}

/** Calls per second from the first call to the last (n - 1 intervals). */
export function spanRate(times: readonly number[]): number {
  if (times.length < 2) return 0;
  const span = (times[times.length - 1] as number) - (times[0] as number);
  return span > 0 ? ((times.length - 1) * 1000) / span : Number.POSITIVE_INFINITY;
}

/** Calls received in [from, to). */
export function callsBetween(times: readonly number[], from: number, to: number): number {
  return times.filter((t) => t >= from && t < to).length;
}

/** The p-quantile (0..1) of some numbers, nearest rank. */
export function quantile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] as number;
}

/** ioredis runs defined commands by EVALSHA of the script's SHA1: the scripts that take a flow decision. */
const ACQUIRE_SHAS = new Set(
  [ACQUIRE, CLAIM_AND_ACQUIRE].map((lua) => createHash('sha1').update(lua).digest('hex')),
);

/**
 * Counts the commands a Redis server runs while it is on (MONITOR, on a raw socket):
 * `client` = commands sent by clients (round trips; a script call counts once), `lua` =
 * commands run inside scripts, `acquires` = flow-control decisions (the scripts that take one),
 * `byCommand` = client commands by name.
 */
export async function monitorCommands(redis: PrivateRedis): Promise<{
  stop(): Promise<{ client: number; lua: number; acquires: number; byCommand: Record<string, number> }>;
}> {
  const socket = connect(redis.port, '127.0.0.1');
  socket.setEncoding('latin1');
  let client = 0;
  let lua = 0;
  let acquires = 0;
  const byCommand: Record<string, number> = {};
  let buffer = '';
  let started: () => void = () => {};
  const ok = new Promise<void>((resolve, reject) => {
    started = resolve;
    socket.once('error', reject);
  });
  socket.on('data', (chunk: string) => {
    buffer += chunk;
    let end = buffer.indexOf('\r\n');
    while (end >= 0) {
      const line = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      end = buffer.indexOf('\r\n');
      if (line === '+OK') {
        started();
        continue;
      }
      // +1795773338.714769 [0 127.0.0.1:54772] "evalsha" "<sha>" ...
      const match = /^\+[\d.]+ \[\d+ ([^\]]+)\] "([^"]*)"(?: "([^"]*)")?/.exec(line);
      if (!match) continue;
      if (match[1] === 'lua') {
        lua++;
        continue;
      }
      client++;
      const name = (match[2] ?? '').toLowerCase();
      byCommand[name] = (byCommand[name] ?? 0) + 1;
      if (name === 'evalsha' && ACQUIRE_SHAS.has(match[3] ?? '')) acquires++;
    }
  });
  socket.write('MONITOR\r\n');
  await ok;
  return {
    async stop() {
      const counted = { client, lua, acquires, byCommand: { ...byCommand } };
      socket.destroy();
      return counted;
    },
  };
}
