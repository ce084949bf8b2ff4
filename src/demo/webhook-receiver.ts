import { createServer, type Server } from 'node:http';
import { Webhook } from 'standardwebhooks';

export interface ReceivedWebhook {
  webhookId: string;
  verified: boolean;
  type: string;
  inferenceId: string;
  status: string;
  receivedAt: number;
  body: Record<string, unknown>;
}

/** A local receiver that verifies every delivery with the standardwebhooks package, as a user's service would. */
export class DemoWebhookReceiver {
  readonly received: ReceivedWebhook[] = [];
  private readonly server: Server;
  private readonly verifier: Webhook;

  constructor(secret: string) {
    this.verifier = new Webhook(secret);
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const headers = {
          'webhook-id': String(req.headers['webhook-id'] ?? ''),
          'webhook-timestamp': String(req.headers['webhook-timestamp'] ?? ''),
          'webhook-signature': String(req.headers['webhook-signature'] ?? ''),
        };
        let verified = false;
        try {
          this.verifier.verify(raw, headers);
          verified = true;
        } catch {
          verified = false;
        }
        const body = JSON.parse(raw) as { type: string; data: { inferenceId: string; status: string } };
        const hook: ReceivedWebhook = {
          webhookId: headers['webhook-id'],
          verified,
          type: body.type,
          inferenceId: body.data.inferenceId,
          status: body.data.status,
          receivedAt: Date.now(),
          body: body as unknown as Record<string, unknown>,
        };
        // De-duplicate on webhook-id, as receivers should.
        if (!this.received.some((r) => r.webhookId === hook.webhookId)) {
          this.received.push(hook);
        }
        res.writeHead(verified ? 204 : 401).end();
      });
    });
  }

  listen(): Promise<string> {
    return new Promise((resolve) => {
      this.server.listen(0, '127.0.0.1', () => {
        const address = this.server.address();
        resolve(`http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/hooks`);
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.closeAllConnections();
      this.server.close(() => resolve());
    });
  }
}
