#!/usr/bin/env node
// A tiny webhook receiver for the docker-compose demo: it prints every delivery it gets as
// one JSON line on stdout (`docker compose logs -f webhook-receiver`).
//
// Environment:
//   PORT             port to listen on (default 9000); HOST (default 0.0.0.0)
//   WEBHOOK_SECRET   whsec_... secret(s), comma-separated: signatures are checked with the
//                    `standardwebhooks` reference library and bad ones answered 401.
//                    Without it, deliveries are printed unverified.
//   RECEIVER_STATUS  answer every delivery with this status instead of 200, to watch smad's
//                    retries (e.g. 503) or its stop on 410.
//
// GET /healthz answers 200. Everything else is treated as a delivery.
import { createServer } from 'node:http';
import { Webhook } from 'standardwebhooks';

const port = Number(process.env.PORT ?? 9000);
const host = process.env.HOST ?? '0.0.0.0';
const secrets = (process.env.WEBHOOK_SECRET ?? '')
  .split(',')
  .map((s) => s.trim())
  .filter((s) => s.length > 0);
const verifiers = secrets.map((secret) => new Webhook(secret));
const forcedStatus = process.env.RECEIVER_STATUS ? Number(process.env.RECEIVER_STATUS) : undefined;
const MAX_BODY = 1024 * 1024;
/** webhook-ids seen, to show duplicates (a receiver de-duplicates on webhook-id). */
const seen = new Set();

function print(line) {
  process.stdout.write(`${JSON.stringify({ at: new Date().toISOString(), ...line })}\n`);
}

function header(request, name) {
  const value = request.headers[name];
  return Array.isArray(value) ? value.join(' ') : (value ?? '');
}

/** The event if one of the secrets verifies it; throws the last verification error otherwise. */
function verify(body, headers) {
  let lastError;
  for (const verifier of verifiers) {
    try {
      return verifier.verify(body, headers);
    } catch (err) {
      lastError = err;
    }
  }
  throw lastError ?? new Error('no secret');
}

const server = createServer((request, response) => {
  if (request.method === 'GET' && request.url === '/healthz') {
    response.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
    return;
  }
  const chunks = [];
  let size = 0;
  request.on('data', (chunk) => {
    size += chunk.length;
    if (size <= MAX_BODY) chunks.push(chunk);
  });
  request.on('end', () => {
    if (size > MAX_BODY) {
      response.writeHead(413).end();
      return;
    }
    const body = Buffer.concat(chunks).toString('utf8');
    const headers = {
      'webhook-id': header(request, 'webhook-id'),
      'webhook-timestamp': header(request, 'webhook-timestamp'),
      'webhook-signature': header(request, 'webhook-signature'),
    };
    const id = headers['webhook-id'];
    let event;
    let verified = null;
    if (verifiers.length > 0) {
      try {
        event = verify(body, headers);
        verified = true;
      } catch (err) {
        print({
          method: request.method,
          path: request.url,
          webhookId: id,
          verified: false,
          error: err.message,
        });
        response.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"bad signature"}');
        return;
      }
    } else {
      try {
        event = JSON.parse(body);
      } catch {
        event = body;
      }
    }
    const duplicate = id !== '' && seen.has(id);
    if (id !== '') seen.add(id);
    const status = forcedStatus ?? 200;
    print({
      method: request.method,
      path: request.url,
      webhookId: id,
      verified,
      duplicate,
      answered: status,
      type: event?.type,
      inferenceId: event?.data?.inferenceId,
      status: event?.data?.status,
      event,
    });
    response.writeHead(status, { 'content-type': 'application/json' }).end('{"received":true}');
  });
});

server.listen(port, host, () => {
  const address = server.address();
  print({
    listening: typeof address === 'object' && address ? address.port : port,
    verifying: verifiers.length > 0,
  });
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  });
}
