/**
 * docker-compose.yml, run without Docker: the same commands and environment, each service a
 * local process (fauxqs in-process with the compose init file, a private redis-server), the
 * service host names mapped to 127.0.0.1 and free ports. An inference posted to smad's HTTP
 * API must reach the webhook receiver, signed and verified; the image's health checks must
 * pass; SIGTERM must stop smad cleanly.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type FauxqsServer, startFauxqs } from 'fauxqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, PrivateRedis } from '../support/redis-server.js';
import { SmadProcess } from '../support/smad-process.js';
import { waitFor } from '../support/wait-for.js';
import {
  type ComposeService,
  composeServices,
  dockerfileFacts,
  mountedFrom,
  REPO_ROOT,
  seconds,
} from './checks.js';

const COMPOSE = readFileSync(join(REPO_ROOT, 'docker-compose.yml'), 'utf8');
const DOCKERFILE = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8');
const services = composeServices(COMPOSE);
const service = (name: string): ComposeService => {
  const found = services.get(name);
  if (!found) throw new Error(`no compose service ${name}`);
  return found;
};

/** Runs a compose/Docker health check command (exec form, "CMD" first or not) with this Node. */
function healthcheck(command: string[], env: Record<string, string> = {}): Promise<number | null> {
  const args = command[0] === 'CMD' ? command.slice(1) : command;
  expect(args[0]).toBe('node');
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args.slice(1), { env: { PATH: process.env.PATH ?? '', ...env } });
    child.on('exit', (code) => resolve(code));
  });
}

describe('docker-compose.yml, run as local processes', () => {
  let redis: PrivateRedis;
  let fauxqs: FauxqsServer;
  let receiver: ChildProcess;
  let emulator: SmadProcess;
  let smad: SmadProcess;
  const received: Record<string, unknown>[] = [];
  const ports: Record<string, number> = {};
  let smadPort: number;
  let token: string;

  /** The compose value with service host names pointing at the local processes. */
  function local(value: string): string {
    if (!URL.canParse(value)) return value;
    const url = new URL(value);
    const port = ports[url.hostname];
    if (port === undefined) return value;
    url.hostname = '127.0.0.1';
    url.port = String(port);
    const mapped = url.toString();
    return value.endsWith('/') || !mapped.endsWith('/') ? mapped : mapped.slice(0, -1);
  }

  const localEnv = (env: Record<string, string>) =>
    Object.fromEntries(Object.entries(env).map(([k, v]) => [k, local(v)]));

  /** The command with --port/--host values replaced. */
  const withFlag = (args: string[], flag: string, value: string) =>
    args.map((arg, i) => (i > 0 && args[i - 1] === flag ? value : arg));

  beforeAll(async () => {
    redis = await PrivateRedis.start();
    const faux = service('fauxqs');
    fauxqs = await startFauxqs({
      port: 0,
      logger: false,
      init: mountedFrom(faux, faux.env.FAUXQS_INIT ?? ''),
      host: faux.env.FAUXQS_HOST,
      defaultRegion: faux.env.FAUXQS_DEFAULT_REGION,
    });
    ports.redis = redis.port;
    ports.fauxqs = fauxqs.port;
    ports.emulator = await freePort();
    ports['webhook-receiver'] = await freePort();
    smadPort = await freePort();

    // webhook-receiver: its entrypoint, from the repo (compose mounts it into the image).
    const hook = service('webhook-receiver');
    const [, script] = hook.entrypoint ?? [];
    receiver = spawn(process.execPath, [join(REPO_ROOT, script ?? '')], {
      env: {
        PATH: process.env.PATH ?? '',
        ...localEnv(hook.env),
        PORT: String(ports['webhook-receiver']),
        HOST: '127.0.0.1',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let buffer = '';
    receiver.stdout?.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
        received.push(JSON.parse(buffer.slice(0, nl)) as Record<string, unknown>);
        buffer = buffer.slice(nl + 1);
      }
    });

    // emulator: its compose command, on a free port and loopback.
    const emu = service('emulator');
    let emulatorArgs = withFlag(emu.command ?? [], '--port', String(ports.emulator));
    emulatorArgs = withFlag(emulatorArgs, '--host', '127.0.0.1');
    emulator = new SmadProcess(emulatorArgs, localEnv(emu.env));
    await emulator.waitForLog((l) => l.msg === 'emulator ready', 'emulator ready');
    await waitFor(() => received.some((l) => l.listening !== undefined), { what: 'the receiver listening' });

    // smad: its compose command and environment.
    const main = service('smad');
    token = (main.env.SMAD_HTTP_AUTH_TOKENS ?? '').split(',')[0] ?? '';
    smad = new SmadProcess(main.command ?? [], { ...localEnv(main.env), SMAD_HTTP_PORT: String(smadPort) });
    await smad.started();
  });

  afterAll(async () => {
    await smad?.stop();
    await emulator?.stop();
    receiver?.kill('SIGKILL');
    await fauxqs?.stop();
    await redis?.destroy();
  });

  const post = (job: Record<string, unknown>) =>
    fetch(`http://127.0.0.1:${smadPort}/v1/inferences`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(job),
    });

  it('takes an inference over HTTP and delivers its signed webhook to the receiver', async () => {
    const small = await post({
      endpointName: 'demo-echo',
      body: '{"hello": "world"}',
      contentType: 'application/json',
    });
    expect(small.status).toBe(202);
    // Larger than the API's inline limit: staged to SMAD_STAGING_S3_URI's bucket first.
    const large = await post({
      endpointName: 'demo-echo',
      body: 'x'.repeat(130_000),
      contentType: 'text/plain',
    });
    expect(large.status).toBe(202);
    const ids: string[] = [];
    for (const response of [small, large]) {
      const { inferenceId } = (await response.json()) as { inferenceId: string };
      ids.push(inferenceId);
      const delivery = await waitFor(() => received.find((l) => l.inferenceId === inferenceId), {
        timeoutMs: 30_000,
        what: `the webhook of ${inferenceId}`,
      });
      expect(delivery).toMatchObject({ verified: true, type: 'inference.completed', status: 'completed' });
    }
    // The emulator saw the large one as an InputLocation under the staging URI.
    const calls = (await (
      await fetch(`http://127.0.0.1:${ports.emulator}/_emulator/requests`)
    ).json()) as Array<{
      inferenceId?: string;
      params: { inputLocation?: string };
    }>;
    const staging = service('smad').env.SMAD_STAGING_S3_URI ?? '';
    expect(calls.find((c) => c.inferenceId === ids[1])?.params.inputLocation).toMatch(
      new RegExp(`^${staging}/`),
    );
    expect(calls.find((c) => c.inferenceId === ids[0])?.params.inputLocation).toBeUndefined();
  });

  it("passes the image's health check and reports ready", async () => {
    expect(
      await healthcheck(dockerfileFacts(DOCKERFILE).healthcheck, { SMAD_HTTP_PORT: String(smadPort) }),
    ).toBe(0);
    const ready = await fetch(`http://127.0.0.1:${smadPort}/readyz`);
    expect(await ready.json()).toMatchObject({
      status: 'ready',
      checks: { redis: 'ok', sqs: 'ok', s3: 'ok' },
    });
  });

  it("the emulator's and the receiver's compose health checks pass", async () => {
    for (const name of ['emulator', 'webhook-receiver']) {
      const test = (service(name).raw.healthcheck as { test?: string[] } | undefined)?.test ?? [];
      const composePort = name === 'emulator' ? ':8085/' : ':9000/';
      const command = test.map((part) => part.replace(composePort, `:${ports[name]}/`));
      expect(await healthcheck(command), name).toBe(0);
    }
  });

  it('stops on SIGTERM, cleanly, within the compose stop grace period', async () => {
    const grace = seconds(service('smad').raw.stop_grace_period) ?? 10;
    const started = Date.now();
    smad.kill('SIGTERM');
    const exit = await smad.exit;
    expect(exit).toEqual({ code: 0, signal: null });
    expect(Date.now() - started).toBeLessThan(grace * 1000);
    expect(smad.lines.some((l) => l.msg === 'smad stopped')).toBe(true);
  });
});
