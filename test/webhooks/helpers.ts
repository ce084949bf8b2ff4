import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Redis } from 'ioredis';
import pino from 'pino';
import type { AwsSettings } from '../../src/aws/clients.js';
import { loadConfig, type SmadConfig } from '../../src/config/load.js';
import type { FinalStatus } from '../../src/contract/status.js';
import { Ledger } from '../../src/ledger/ledger.js';
import type { DeliveryAttemptOutcome } from '../../src/webhooks/delivery-attempt.js';
import { WebhooksRole, type WebhooksRoleOptions } from '../../src/webhooks/webhooks-role.js';
import { freshPrefix } from '../support/smad.js';

export const silentLogger = pino({ level: process.env.SMAD_TEST_LOG ?? 'silent' });

export const newSecret = (bytes = 32) => `whsec_${randomBytes(bytes).toString('base64')}`;

export { freshPrefix } from '../support/smad.js';

/** A configuration for tests: no files, no environment; fast schedule unless overridden. */
export function testConfig(redisUrl: string, overrides: Record<string, unknown> = {}): SmadConfig {
  return loadConfig({
    skipDefaultFile: true,
    env: {},
    overrides: {
      'redis.url': redisUrl,
      'queue.prefix': freshPrefix(),
      'webhooks.scheduleSeconds': [0, 0.05, 0.05, 0.05, 0.05],
      'webhooks.allowPrivateNetworks': true,
      ...overrides,
    },
  });
}

export interface ReceivedRequest {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}

/** What the receiver does with a request: answer, or never answer ('hang'). */
export type Reply = { status: number; headers?: Record<string, string>; body?: string } | 'hang';

/** A webhook receiver on 127.0.0.1 that records every request and answers as told. */
export class Receiver {
  readonly requests: ReceivedRequest[] = [];
  /** Decides the reply; default 200. `n` counts the requests to that path so far (1-based). */
  reply: (req: ReceivedRequest, n: number) => Reply = () => ({ status: 200, body: 'ok' });
  /** Requests answered 'hang', still open (see answerHanging). */
  readonly hanging: ServerResponse[] = [];
  private constructor(private readonly server: Server) {}

  static async start(): Promise<Receiver> {
    const server = createServer();
    const receiver = new Receiver(server);
    server.on('request', (req, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const got: ReceivedRequest = {
          path: req.url ?? '/',
          headers: req.headers,
          body: Buffer.concat(chunks).toString('utf8'),
          at: Date.now(),
        };
        receiver.requests.push(got);
        const n = receiver.requests.filter((r) => r.path === got.path).length;
        const reply = receiver.reply(got, n);
        if (reply === 'hang') {
          receiver.hanging.push(res);
          return;
        }
        res.writeHead(reply.status, reply.headers ?? {});
        res.end(reply.body ?? '');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return receiver;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  /** Answers every request left hanging so far, with `status`. */
  answerHanging(status: number): void {
    for (const res of this.hanging.splice(0)) if (!res.writableEnded) res.writeHead(status).end();
  }

  /** Requests to a path (query ignored). */
  to(path: string): ReceivedRequest[] {
    return this.requests.filter((r) => r.path.split('?')[0] === path);
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

export interface Harness {
  config: SmadConfig;
  ledger: Ledger;
  role: WebhooksRole;
  outcomes: DeliveryAttemptOutcome[];
  close(): Promise<void>;
}

/** A started WebhooksRole on its own prefix, with a Ledger on the same Redis. */
export async function startHarness(
  connection: Redis,
  config: SmadConfig,
  extra: Partial<WebhooksRoleOptions> = {},
  aws: AwsSettings = { endpoints: {} },
): Promise<Harness> {
  const ledger = new Ledger(connection, config.queue.prefix, config.ledger.retentionDays * 86_400);
  const outcomes: DeliveryAttemptOutcome[] = [];
  const { relay, hooks, ...rest } = extra;
  const role = new WebhooksRole({
    config,
    aws,
    connection,
    ledger,
    logger: silentLogger,
    relay: { blockMs: 200, claimIntervalMs: 200, ...relay },
    hooks: {
      onAttempt: (o) => {
        outcomes.push(o);
        hooks?.onAttempt?.(o);
      },
    },
    ...rest,
  });
  await role.start();
  return { config, ledger, role, outcomes, close: () => role.close(true) };
}

export interface InferenceSpec {
  status: FinalStatus;
  webhookUrl?: string;
  webhookSecret?: string;
  metadata?: Record<string, unknown> | null;
  endpointName?: string;
  outputLocation?: string;
  failureLocation?: string;
  failureReason?: string;
  responseContentType?: string;
  responseBody?: string;
}

/**
 * Creates a record through the real Ledger and moves it to a final status, which appends the
 * real outbox event. Returns the inference id.
 */
export async function resolveInference(ledger: Ledger, spec: InferenceSpec): Promise<string> {
  const jobId = `job-${randomUUID()}`;
  const inferenceId = `inf-${randomUUID()}`;
  const endpointName = spec.endpointName ?? 'echo';
  if (spec.status === 'rejected') {
    await ledger.claim({
      jobId,
      jobTimestamp: Date.now(),
      newInferenceId: inferenceId,
      endpointName,
      initialStatus: 'rejected',
      failureReason: spec.failureReason ?? 'invalid job: endpointName: required',
      metadata: spec.metadata ?? null,
      webhookUrl: spec.webhookUrl,
      webhookSecret: spec.webhookSecret,
    });
    return inferenceId;
  }
  await ledger.claim({
    jobId,
    jobTimestamp: Date.now(),
    newInferenceId: inferenceId,
    endpointName,
    initialStatus: 'submitting',
    metadata: spec.metadata ?? null,
    webhookUrl: spec.webhookUrl,
    webhookSecret: spec.webhookSecret,
    inputLocation: 's3://input-bucket/payload.json',
  });
  if (spec.status === 'dispatch_failed') {
    await ledger.advance(inferenceId, 'dispatch_failed', {
      set: { failureReason: spec.failureReason ?? 'ServiceUnavailable (gave up after 8 attempts)' },
    });
    return inferenceId;
  }
  await ledger.advance(inferenceId, 'submitted', {
    set: {
      submittedAt: Date.now(),
      outputLocation: spec.outputLocation ?? `s3://output-bucket/${inferenceId}.out`,
      failureLocation: spec.failureLocation ?? `s3://failure-bucket/${inferenceId}-error.out`,
    },
  });
  const set: Record<string, string | undefined> = {
    responseContentType: spec.responseContentType,
    responseBody: spec.responseBody,
  };
  if (spec.status !== 'completed') set.failureReason = spec.failureReason ?? `${spec.status} for a reason`;
  await ledger.advance(inferenceId, spec.status, { set });
  return inferenceId;
}
