import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { PublishCommand } from '@aws-sdk/client-sns';
import { DeleteMessageCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { type FauxqsServer, startFauxqs } from 'fauxqs';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AwsSettings, createSnsClient, createSqsClient } from '../../src/aws/clients.js';
import { freePort } from '../support/redis-server.js';
import { waitFor } from '../support/wait-for.js';
import {
  checkCompose,
  checkDockerfile,
  checkSystemd,
  cliFlags,
  composeServices,
  dockerfileFacts,
  type FauxqsInit,
  mountedFrom,
  REPO_ROOT,
} from './checks.js';

const read = (path: string) => readFileSync(join(REPO_ROOT, path), 'utf8');
const DOCKERFILE = read('Dockerfile');
const DOCKERIGNORE = read('.dockerignore');
const COMPOSE = read('docker-compose.yml');
const UNIT = read('deploy/smad.service');
const ENV_FILE = read('deploy/smad.env.example');

/** `text` with `from` replaced by `to`, failing if `from` is not there (so a mutation always bites). */
function mutate(text: string, from: string, to: string): string {
  expect(text, `the file contains ${JSON.stringify(from)}`).toContain(from);
  return text.replace(from, to);
}

describe('the smad CLI the files call', () => {
  it('has the sub-commands and flags they use', () => {
    expect(cliFlags(['start'])?.long.has('--roles')).toBe(true);
    expect(cliFlags(['start'])?.long.has('--config')).toBe(true);
    expect(cliFlags(['emulator'])?.long.has('--success-topic-arn')).toBe(true);
    expect(cliFlags(['config', 'check'])?.long.has('--config')).toBe(true);
    expect(cliFlags(['no-such-command'])).toBeUndefined();
  });
});

describe('Dockerfile', () => {
  it('is multi-stage on Node 24, installs production dependencies only, runs as non-root with a health check', () => {
    expect(checkDockerfile(DOCKERFILE, DOCKERIGNORE)).toEqual([]);
    const facts = dockerfileFacts(DOCKERFILE);
    expect(facts.stages.map((s) => s.name)).toEqual(['build', 'runtime']);
    expect(facts.entrypoint).toEqual(['node', 'dist/cli/main.js']);
    expect(facts.cmd).toEqual(['start']);
  });

  it('catches a root user, a full install, a wrong command or an old Node', () => {
    const cases: Array<[string, string, RegExp]> = [
      ['USER 10001:10001\n', '', /no USER/],
      ['--omit=dev --omit=optional', '--omit=dev', /lacks --omit=optional/],
      ['CMD ["start"]', 'CMD ["serve"]', /CMD is/],
      ['FROM node:24-slim AS runtime', 'FROM node:20-slim AS runtime', /not node:24/],
      ['COPY schema ./schema', 'COPY schemas ./schema', /COPY schemas: no such file/],
    ];
    for (const [from, to, expected] of cases)
      expect(checkDockerfile(mutate(DOCKERFILE, from, to), DOCKERIGNORE).join('\n')).toMatch(expected);
    expect(checkDockerfile(DOCKERFILE, `${DOCKERIGNORE}\nsrc\n`).join('\n')).toMatch(/COPY src is excluded/);
  });

  describe('HEALTHCHECK', () => {
    const command = dockerfileFacts(DOCKERFILE).healthcheck;
    let server: Server;
    let port: number;
    let status = 200;
    beforeAll(async () => {
      server = createServer((request, response) => {
        response.writeHead(request.url === '/healthz' ? status : 404).end();
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
      port = (server.address() as { port: number }).port;
    });
    afterAll(() => new Promise<void>((r) => server.close(() => r())));

    /** Runs the health check as Docker would, with `node` being this Node. */
    const probe = (env: Record<string, string>) =>
      new Promise<number | null>((resolve) => {
        expect(command[0]).toBe('node');
        const child = spawn(process.execPath, command.slice(1), {
          env: { PATH: process.env.PATH ?? '', ...env },
        });
        child.on('exit', (code) => resolve(code));
      });

    it('passes when /healthz on SMAD_HTTP_PORT answers 2xx, fails otherwise', async () => {
      status = 200;
      expect(await probe({ SMAD_HTTP_PORT: String(port) })).toBe(0);
      status = 503;
      expect(await probe({ SMAD_HTTP_PORT: String(port) })).toBe(1);
      expect(await probe({ SMAD_HTTP_PORT: String(await freePort()) })).toBe(1);
    });
  });
});

describe('docker-compose.yml', () => {
  it('runs Redis (AOF, noeviction), fauxqs, the emulator, smad and the receiver, with commands and variables smad accepts', () => {
    expect(checkCompose(COMPOSE, DOCKERFILE)).toEqual([]);
  });

  it('catches a value smad rejects, a flag the CLI lacks, an unknown variable or broken wiring', () => {
    const cases: Array<[string, string, RegExp]> = [
      ['SMAD_HTTP_PORT: "8080"', 'SMAD_HTTP_PORT: "99999"', /http\.port/],
      ['- "--latency-ms"', '- "--latency"', /unknown flag --latency/],
      ['- "200"', '- "soon"', /--latency-ms/],
      ['SMAD_REDIS_URL:', 'SMAD_REDIS_URI:', /SMAD_REDIS_URI is not a variable smad reads/],
      ['"dispatcher,completions,webhooks,http"', '"dispatcher,completion"', /unknown role "completion"/],
      ['- "noeviction"', '- "allkeys-lru"', /noeviction/],
      ['- "8085"', '- "8086"', /does not reach emulator:8086/],
      [
        'SMAD_STAGING_S3_URI: "s3://smad-emulator/staging"',
        'SMAD_STAGING_S3_URI: "s3://elsewhere/staging"',
        /no bucket/,
      ],
      ['stop_grace_period: "40s"', 'stop_grace_period: "10s"', /stop_grace_period/],
      [
        'SMAD_WEBHOOK_SECRET: "${SMAD_WEBHOOK_SECRET:-whsec_',
        'SMAD_WEBHOOK_SECRET: "${SMAD_WEBHOOK_SECRET:-whsec_x',
        /webhooks\.secret/,
      ],
    ];
    for (const [from, to, expected] of cases)
      expect(checkCompose(mutate(COMPOSE, from, to), DOCKERFILE).join('\n'), `${from} → ${to}`).toMatch(
        expected,
      );
  });

  it('stays in the YAML subset the checks read', () => {
    expect(() => checkCompose(`${COMPOSE}\nx-anchor: &smad\n`, DOCKERFILE)).not.toThrow();
    expect(checkCompose(`${COMPOSE}\nx-anchor: &smad\n`, DOCKERFILE).join('\n')).toMatch(
      /outside the supported YAML subset/,
    );
  });

  describe("fauxqs's init file", () => {
    let server: FauxqsServer;
    let settings: AwsSettings;
    const services = composeServices(COMPOSE);
    const fauxqs = services.get('fauxqs');
    const smad = services.get('smad');
    const emulator = services.get('emulator');
    beforeAll(async () => {
      const init = mountedFrom(fauxqs!, fauxqs!.env.FAUXQS_INIT ?? '');
      server = await startFauxqs({
        port: 0,
        logger: false,
        init,
        host: fauxqs!.env.FAUXQS_HOST,
        defaultRegion: fauxqs!.env.FAUXQS_DEFAULT_REGION,
      });
      settings = {
        region: 'us-east-1',
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
        endpoints: { sqs: server.address, sns: server.address, s3: server.address },
      };
    });
    afterAll(() => server?.stop());

    it('is accepted by fauxqs and fans both SageMaker topics out to the completions queue smad reads', async () => {
      const sns = createSnsClient(settings);
      const sqs = createSqsClient(settings);
      const queueUrl = smad!.env.SMAD_COMPLETIONS_QUEUE_URL as string;
      const args = emulator!.command ?? [];
      try {
        for (const flag of ['--success-topic-arn', '--error-topic-arn']) {
          const topicArn = args[args.indexOf(flag) + 1];
          await sns.send(new PublishCommand({ TopicArn: topicArn, Message: JSON.stringify({ flag }) }));
          const message = await waitFor(
            async () => {
              const out = await sqs.send(
                new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 1 }),
              );
              return out.Messages?.[0];
            },
            { timeoutMs: 10_000, what: `a message from ${topicArn}` },
          );
          const envelope = JSON.parse(message.Body ?? '{}') as {
            Type: string;
            TopicArn: string;
            Message: string;
          };
          expect(envelope).toMatchObject({ Type: 'Notification', TopicArn: topicArn });
          expect(JSON.parse(envelope.Message)).toEqual({ flag });
          await sqs.send(
            new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle }),
          );
        }
      } finally {
        sns.destroy();
        sqs.destroy();
      }
    });

    it('gives the completions queue a dead-letter queue, so retained messages do not loop forever', () => {
      const init = JSON.parse(read('deploy/fauxqs-init.json')) as FauxqsInit;
      const queue = init.queues?.find((q) => q.name === 'smad-completions');
      const redrive = JSON.parse(queue?.attributes?.RedrivePolicy ?? '{}') as {
        deadLetterTargetArn?: string;
      };
      const dlq = redrive.deadLetterTargetArn?.split(':').at(-1);
      expect(init.queues?.map((q) => q.name)).toContain(dlq);
    });
  });
});

describe('systemd', () => {
  it('smad.service with smad.env.example (placeholders filled, commented lines too) is accepted by smad', () => {
    expect(checkSystemd(UNIT, ENV_FILE)).toEqual([]);
  });

  it('catches an unknown flag, a bad value, a short stop timeout or a root user', () => {
    const unitCases: Array<[string, string, RegExp]> = [
      ['dist/cli/main.js start', 'dist/cli/main.js start --role all', /unknown flag --role/],
      ['dist/cli/main.js start', 'dist/cli/main.js run', /not "smad start"/],
      ['TimeoutStopSec=45', 'TimeoutStopSec=20', /TimeoutStopSec/],
      ['User=smad', 'User=root', /runs as root/],
      ['ProtectSystem=strict', 'ProtectSystem=full', /ProtectSystem=strict/],
    ];
    for (const [from, to, expected] of unitCases)
      expect(checkSystemd(mutate(UNIT, from, to), ENV_FILE).join('\n'), `${from} → ${to}`).toMatch(expected);
    const envCases: Array<[string, string, RegExp]> = [
      ['SMAD_HTTP_PORT=8080', 'SMAD_HTTP_PORT=http', /http\.port/],
      ['# SMAD_QUEUE_PREFIX={smad}', '# SMAD_QUEUE_PREFIX=smad:x', /queue\.prefix/],
      ['SMAD_LOG_LEVEL=info', 'SMAD_LOGLEVEL=info', /SMAD_LOGLEVEL is not a variable smad reads/],
      ['whsec_<base64-secret>', 'whsec_<secret>', /placeholder <secret>/],
      ['# SMAD_SHUTDOWN_TIMEOUT_SECONDS=30', '# SMAD_SHUTDOWN_TIMEOUT_SECONDS=60', /TimeoutStopSec/],
    ];
    for (const [from, to, expected] of envCases)
      expect(checkSystemd(UNIT, mutate(ENV_FILE, from, to)).join('\n'), `${from} → ${to}`).toMatch(expected);
  });

  const analyze = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
  it.skipIf(analyze.status !== 0)('systemd-analyze verify finds nothing to complain about', () => {
    const result = spawnSync('systemd-analyze', ['verify', join(REPO_ROOT, 'deploy', 'smad.service')], {
      encoding: 'utf8',
    });
    const complaints = result.stderr.split('\n').filter((l) => l.includes('smad.service'));
    expect(complaints).toEqual([]);
  });
});

describe('deploy/webhook-receiver.mjs', () => {
  const secret = `whsec_${Buffer.from('0123456789abcdef0123456789abcdef').toString('base64')}`;
  let child: ChildProcess;
  let port: number;
  const lines: Record<string, unknown>[] = [];

  beforeAll(async () => {
    port = await freePort();
    child = spawn(process.execPath, [join(REPO_ROOT, 'deploy', 'webhook-receiver.mjs')], {
      env: {
        PATH: process.env.PATH ?? '',
        PORT: String(port),
        HOST: '127.0.0.1',
        WEBHOOK_SECRET: `whsec_b2xkb2xkb2xkb2xkb2xkb2xkb2xkb2xk,${secret}`,
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let buffer = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
        lines.push(JSON.parse(buffer.slice(0, nl)) as Record<string, unknown>);
        buffer = buffer.slice(nl + 1);
      }
    });
    await waitFor(() => lines.some((l) => l.listening === port), { what: 'the receiver listening' });
  });
  afterAll(() => {
    child?.kill('SIGTERM');
  });

  const deliver = async (headers: Record<string, string>, body: string) =>
    fetch(`http://127.0.0.1:${port}/webhooks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body,
    });

  it('verifies Standard Webhooks signatures with any of its secrets, prints the event, flags duplicates', async () => {
    const body = JSON.stringify({
      type: 'inference.completed',
      data: { inferenceId: 'inf-1', status: 'completed' },
    });
    const id = 'msg_test1';
    const now = new Date();
    const signature = new Webhook(secret).sign(id, now, body);
    const headers = {
      'webhook-id': id,
      'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
      'webhook-signature': signature,
    };
    expect((await deliver(headers, body)).status).toBe(200);
    expect((await deliver(headers, body)).status).toBe(200);
    // The receiver prints after answering: wait for its lines rather than race its stdout.
    await waitFor(() => lines.filter((l) => l.webhookId === id).length >= 2, {
      what: 'both deliveries printed',
    });
    const printed = lines.filter((l) => l.webhookId === id);
    expect(printed).toHaveLength(2);
    expect(printed[0]).toMatchObject({
      verified: true,
      duplicate: false,
      type: 'inference.completed',
      inferenceId: 'inf-1',
    });
    expect(printed[1]).toMatchObject({ verified: true, duplicate: true });
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
  });

  it('answers 401 to a bad signature', async () => {
    const body = '{"type":"inference.failed"}';
    const response = await deliver(
      {
        'webhook-id': 'msg_bad',
        'webhook-timestamp': String(Math.floor(Date.now() / 1000)),
        'webhook-signature': 'v1,AAAA',
      },
      body,
    );
    expect(response.status).toBe(401);
    await waitFor(() => lines.some((l) => l.webhookId === 'msg_bad'), { what: 'the bad delivery printed' });
    expect(lines.find((l) => l.webhookId === 'msg_bad')).toMatchObject({ verified: false });
  });
});

describe('README', () => {
  const readme = read('README.md');
  it('has a Deployment section before Contributing that covers the deployment files and IAM', () => {
    const start = readme.indexOf('\n## Deployment\n');
    const end = readme.indexOf('\n## Contributing\n');
    expect(start).toBeGreaterThan(0);
    expect(end).toBeGreaterThan(start);
    const section = readme.slice(start, end);
    for (const needle of [
      'docker build',
      'docker compose up',
      'deploy/smad.service',
      'deploy/smad.env.example',
      'deploy/config.example.json',
      '{smad}',
      'sagemaker:InvokeEndpointAsync',
      'sqs:ReceiveMessage',
      'sqs:DeleteMessage',
      'sqs:ChangeMessageVisibility',
      'sqs:GetQueueAttributes',
      's3:PutObject',
      's3:GetObject',
      'noeviction',
      'appendonly',
    ])
      expect(section, needle).toContain(needle);
  });
});
