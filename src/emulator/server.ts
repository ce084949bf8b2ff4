/**
 * The emulator's HTTP face: `POST /endpoints/{EndpointName}/async-invocations` as the
 * real service serves it (any SigV4 signature accepted, not verified), and the control
 * routes under `/_emulator/` for tests that drive the emulator as a separate process.
 */
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import type { SageMakerEmulator } from './emulator.js';
import { unknownOperation } from './errors.js';
import { checkFailNext, checkKnobs, KnobError } from './knobs.js';

/** Payloads above this are refused before they are read (far above the 128,000-byte Body limit). */
export const HTTP_BODY_LIMIT = 64 * 1024 * 1024;

const INVOKE_PATH = /^\/endpoints\/([^/?]*)\/async-invocations(?:\?.*)?$/;

function send(
  reply: FastifyReply,
  answer: { statusCode: number; headers: Record<string, string>; body: string },
) {
  return reply.code(answer.statusCode).headers(answer.headers).send(answer.body);
}

function decodeLabel(label: string): string {
  try {
    return decodeURIComponent(label);
  } catch {
    return label;
  }
}

function jsonBody(body: unknown): unknown {
  if (!Buffer.isBuffer(body) || body.length === 0) return {};
  return JSON.parse(body.toString('utf8'));
}

function badRequest(reply: FastifyReply, problems: string[]) {
  return reply.code(400).send({ error: 'bad request', problems });
}

export function buildServer(emulator: SageMakerEmulator): FastifyInstance {
  const app = Fastify({
    logger: false,
    bodyLimit: HTTP_BODY_LIMIT,
    forceCloseConnections: true,
    // Long-running tests keep SDK connections alive between calls.
    keepAliveTimeout: 60_000,
  });

  // Every payload is bytes: the SageMaker payload is opaque, and control routes parse their own JSON.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  app.addHook('onRequest', async (req) => {
    if (!req.headers['content-type']) req.headers['content-type'] = 'application/octet-stream';
  });

  app.post('/endpoints/*', async (req, reply) => {
    const match = INVOKE_PATH.exec(req.url);
    if (!match) return send(reply, unknownOperation(req.method, req.url.split('?')[0] ?? req.url));
    const answer = emulator.handleInvoke({
      endpointName: decodeLabel(match[1] ?? ''),
      headers: req.headers,
      body: Buffer.isBuffer(req.body) ? req.body : undefined,
    });
    return send(reply, answer);
  });

  app.get('/_emulator/requests', async (req) => {
    const { endpoint } = req.query as { endpoint?: string };
    return endpoint ? emulator.requests.filter((r) => r.endpointName === endpoint) : emulator.requests;
  });
  app.get('/_emulator/inferences', async (req) => {
    const { endpoint } = req.query as { endpoint?: string };
    return endpoint ? emulator.inferences.filter((r) => r.endpointName === endpoint) : emulator.inferences;
  });
  app.get('/_emulator/notifications', async () => emulator.notifications);
  app.get('/_emulator/stats', async () => emulator.stats());
  app.get('/_emulator/knobs', async () => emulator.knobSnapshot());
  app.put('/_emulator/knobs', async (req, reply) => {
    const { endpoint } = req.query as { endpoint?: string };
    let body: unknown;
    try {
      body = jsonBody(req.body);
    } catch (err) {
      return badRequest(reply, [`body is not JSON: ${(err as Error).message}`]);
    }
    const { problems } = checkKnobs(body);
    if (problems.length > 0) return badRequest(reply, problems);
    try {
      emulator.setKnobs(body as Record<string, never>, endpoint);
    } catch (err) {
      return badRequest(reply, err instanceof KnobError ? err.problems : [(err as Error).message]);
    }
    return emulator.knobSnapshot();
  });
  app.post('/_emulator/fail-next', async (req, reply) => {
    let body: unknown;
    try {
      body = jsonBody(req.body);
    } catch (err) {
      return badRequest(reply, [`body is not JSON: ${(err as Error).message}`]);
    }
    const { value, problems } = checkFailNext(body);
    if (!value) return badRequest(reply, problems);
    emulator.failNext(value);
    return { ok: true };
  });
  app.post('/_emulator/reset', async () => {
    emulator.reset();
    return { ok: true };
  });
  app.get('/_emulator/health', async () => ({ ok: true, endpoints: emulator.endpointNames }));

  app.setNotFoundHandler((req, reply) =>
    send(reply, unknownOperation(req.method, req.url.split('?')[0] ?? req.url)),
  );

  app.setErrorHandler((err: { statusCode?: number; code?: string; message: string }, req, reply) => {
    const match = INVOKE_PATH.exec(req.url);
    if (match && err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      const bytes = Number(req.headers['content-length'] ?? HTTP_BODY_LIMIT + 1);
      return send(reply, emulator.rejectOversizedBody(decodeLabel(match[1] ?? ''), bytes));
    }
    const status = err.statusCode && err.statusCode >= 400 ? err.statusCode : 500;
    return reply.code(status).send({ error: err.message });
  });

  return app;
}
