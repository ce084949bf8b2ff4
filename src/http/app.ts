import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { Queue } from 'bullmq';
import Fastify, { type FastifyInstance } from 'fastify';
import type { SmadConfig } from '../config/load.js';
import type { Ledger } from '../ledger/ledger.js';
import { publicRecord } from '../ledger/record.js';
import type { SmadMetrics } from '../observability/metrics.js';
import type { RedisClient } from '../runtime/redis-connection.js';
import { bearerAuth } from './auth.js';
import { sendError } from './errors.js';
import { acceptInference, intakeKey } from './intake.js';

export interface ReadinessCheck {
  name: string;
  check(): Promise<void>;
}

export interface HttpAppDeps {
  config: () => SmadConfig;
  queue: Queue;
  /** Queues shown in the admin UI (the intake queue and the webhook delivery queue). */
  adminQueues: Queue[];
  redis: RedisClient;
  ledger: Ledger;
  metrics: SmadMetrics;
  /** Dependencies that must answer for /readyz (Redis always; SQS and S3 per role). */
  readiness: ReadinessCheck[];
  /** False once shutdown began: /readyz fails and intake refuses. */
  accepting: () => boolean;
}

/**
 * The HTTP API: intake (`POST /v1/inferences`), status (`GET /v1/inferences/{id}`,
 * `GET /v1/jobs/{jobId}`), health (`/healthz`, `/readyz`), `/metrics`, and Bull Board at
 * `/admin`. Intake, status and admin need a bearer token unless auth is turned off.
 */
export async function buildHttpApp(deps: HttpAppDeps): Promise<FastifyInstance> {
  const config = deps.config();
  const app = Fastify({ logger: false, bodyLimit: config.http.bodyLimitBytes });
  const auth = bearerAuth({ enabled: config.http.auth, tokens: () => deps.config().http.authTokens });

  app.setErrorHandler((err: { statusCode?: number; code?: string; message: string }, _request, reply) => {
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
    if (status === 413)
      return sendError(
        reply,
        413,
        'body_too_large',
        `the request body is larger than ${config.http.bodyLimitBytes} bytes`,
      );
    if (status === 400) return sendError(reply, 400, 'bad_request', err.message);
    if (status === 415)
      return sendError(reply, 415, 'unsupported_media_type', 'send the job as application/json');
    return sendError(reply, status, 'internal', status === 500 ? 'internal error' : err.message);
  });
  app.setNotFoundHandler((request, reply) =>
    sendError(reply, 404, 'not_found', `no route ${request.method} ${request.url}`),
  );

  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_request, reply) => {
    const results: Record<string, string> = {};
    let ready = deps.accepting();
    if (!ready) results.process = 'stopping';
    await Promise.all(
      deps.readiness.map(async ({ name, check }) => {
        try {
          await check();
          results[name] = 'ok';
        } catch (err) {
          ready = false;
          results[name] = (err as Error).message || 'unreachable';
        }
      }),
    );
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready', checks: results });
  });

  app.get('/metrics', async (_request, reply) => {
    reply.type(deps.metrics.registry.contentType);
    return deps.metrics.render();
  });

  app.post('/v1/inferences', { preHandler: auth }, async (request, reply) => {
    if (!deps.accepting())
      return sendError(reply, 503, 'shutting_down', 'smad is stopping; send this request again');
    const key = request.headers['idempotency-key'];
    const idempotencyKey = typeof key === 'string' && key.length > 0 ? key : undefined;
    if (idempotencyKey && idempotencyKey.length > 255)
      return sendError(reply, 400, 'bad_request', 'Idempotency-Key must be at most 255 characters');
    const result = await acceptInference(
      { config: deps.config(), queue: deps.queue, redis: deps.redis },
      request.body,
      idempotencyKey,
    );
    if (result.kind === 'invalid')
      return sendError(
        reply,
        400,
        'invalid_job',
        `the job has ${result.problems.length} problem(s)`,
        result.problems,
      );
    if (result.kind === 'conflict') return sendError(reply, 409, 'idempotency_conflict', result.message);
    return reply.code(202).send({
      jobId: result.jobId,
      inferenceId: result.inferenceId,
      statusUrl: `/v1/inferences/${encodeURIComponent(result.inferenceId)}`,
    });
  });

  const queued = (jobId: string, inferenceId: string | undefined) => ({
    jobId,
    inferenceId: inferenceId ?? null,
    status: 'queued',
  });

  app.get<{ Params: { inferenceId: string } }>(
    '/v1/inferences/:inferenceId',
    { preHandler: auth },
    async (request, reply) => {
      const { inferenceId } = request.params;
      const record = await deps.ledger.get(inferenceId);
      if (record) return publicRecord(record);
      const jobId = await deps.redis.get(intakeKey(deps.config().queue.prefix, inferenceId));
      if (jobId && (await deps.queue.getJob(jobId))) return queued(jobId, inferenceId);
      return sendError(reply, 404, 'not_found', `no inference "${inferenceId}"`);
    },
  );

  app.get<{ Params: { jobId: string } }>('/v1/jobs/:jobId', { preHandler: auth }, async (request, reply) => {
    const { jobId } = request.params;
    const record = await deps.ledger.getByJobId(jobId);
    if (record) return publicRecord(record);
    const job = await deps.queue.getJob(jobId);
    if (job)
      return queued(jobId, typeof job.data?.inferenceId === 'string' ? job.data.inferenceId : undefined);
    return sendError(reply, 404, 'not_found', `no job "${jobId}"`);
  });

  const board = new FastifyAdapter();
  createBullBoard({ queues: deps.adminQueues.map((q) => new BullMQAdapter(q)), serverAdapter: board });
  board.setBasePath('/admin');
  await app.register(
    async (scope) => {
      scope.addHook('onRequest', auth);
      await scope.register(board.registerPlugin());
    },
    { prefix: '/admin' },
  );
  return app;
}
