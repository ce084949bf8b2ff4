/**
 * A webhook receiver on 127.0.0.1: answers 204 at once and records, per delivery, the arrival
 * time (ms since the epoch, sub-millisecond) and the body's data.inferenceId. Every
 * `verifyEvery`-th delivery's signature is checked with the reference implementation
 * (standardwebhooks) when a secret is given.
 */
import { createServer } from 'node:http';
import { performance } from 'node:perf_hooks';
import { Webhook } from 'standardwebhooks';

export const now = () => performance.timeOrigin + performance.now();

export async function startReceiver({ secret, verifyEvery = 50, onDelivery } = {}) {
  const verifier = secret ? new Webhook(secret) : undefined;
  const arrivals = new Map();
  let deliveries = 0;
  let badSignatures = 0;
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const at = now();
      res.writeHead(204).end();
      const body = Buffer.concat(chunks).toString('utf8');
      deliveries += 1;
      let id;
      try {
        const parsed = JSON.parse(body);
        id = parsed?.data?.inferenceId ?? parsed?.inferenceId;
      } catch {
        id = undefined;
      }
      if (verifier && deliveries % verifyEvery === 1) {
        try {
          verifier.verify(body, {
            'webhook-id': req.headers['webhook-id'],
            'webhook-timestamp': req.headers['webhook-timestamp'],
            'webhook-signature': req.headers['webhook-signature'],
          });
        } catch {
          badSignatures += 1;
        }
      }
      if (id !== undefined && !arrivals.has(id)) arrivals.set(id, at);
      onDelivery?.(id, at);
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}/hook`,
    arrivals,
    get deliveries() {
      return deliveries;
    },
    get badSignatures() {
      return badSignatures;
    },
    reset() {
      arrivals.clear();
      deliveries = 0;
      badSignatures = 0;
    },
    close: () =>
      new Promise((r) => {
        server.closeAllConnections?.();
        server.close(() => r());
      }),
  };
}

/** A fresh Standard Webhooks secret (whsec_ + base64 of 32 random bytes). */
export async function newSecret() {
  const { randomBytes } = await import('node:crypto');
  return `whsec_${randomBytes(32).toString('base64')}`;
}
