import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request the receiver got, and what it answered. */
export interface ReceivedDelivery {
  webhookId: string;
  timestamp: string;
  signature: string;
  /** The raw body, as signed. */
  body: string;
  /** The status answered (2xx means delivered). */
  answered: number;
  at: number;
}

export type ReceiverMode = 'ok' | 'fail';

/**
 * A webhook receiver for fault tests: it records every request with its Standard Webhooks
 * headers and raw body, answers 204, or 500 while `mode` is 'fail', and can go down (its port
 * closed, open connections cut) and come back on the same port. Signatures are checked by
 * the invariant checker, with the `standardwebhooks` package.
 */
export class FaultReceiver {
  readonly deliveries: ReceivedDelivery[] = [];
  mode: ReceiverMode = 'ok';
  private server: Server;
  private portValue = 0;

  private constructor() {
    this.server = this.createServer();
  }

  static async start(): Promise<FaultReceiver> {
    const receiver = new FaultReceiver();
    await receiver.listen(0);
    return receiver;
  }

  get port(): number {
    return this.portValue;
  }

  get url(): string {
    return `http://127.0.0.1:${this.portValue}/hooks`;
  }

  get isUp(): boolean {
    return this.server.listening;
  }

  /** Requests answered 2xx. */
  delivered(): ReceivedDelivery[] {
    return this.deliveries.filter((d) => d.answered >= 200 && d.answered < 300);
  }

  /** Requests answered with a failure. */
  refused(): ReceivedDelivery[] {
    return this.deliveries.filter((d) => d.answered >= 300);
  }

  private createServer(): Server {
    return createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const answered = this.mode === 'fail' ? 500 : 204;
        this.deliveries.push({
          webhookId: header(req.headers, 'webhook-id'),
          timestamp: header(req.headers, 'webhook-timestamp'),
          signature: header(req.headers, 'webhook-signature'),
          body: Buffer.concat(chunks).toString('utf8'),
          answered,
          at: Date.now(),
        });
        res
          .writeHead(answered, { 'content-type': 'text/plain' })
          .end(answered === 500 ? 'injected failure' : '');
      });
    });
  }

  private listen(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => {
        this.server.off('error', reject);
        this.portValue = (this.server.address() as AddressInfo).port;
        resolve();
      });
    });
  }

  /** Closes the port and cuts every open connection: deliveries meet ECONNREFUSED. */
  async down(): Promise<void> {
    if (!this.server.listening) return;
    const closed = new Promise<void>((r) => this.server.close(() => r()));
    this.server.closeAllConnections();
    await closed;
  }

  /** Listens again on the same port. */
  async up(): Promise<void> {
    if (this.server.listening) return;
    this.server = this.createServer();
    await this.listen(this.portValue);
  }

  async stop(): Promise<void> {
    await this.down();
  }
}

function header(headers: IncomingHttpHeaders, name: string): string {
  const value = headers[name];
  return Array.isArray(value) ? value.join(',') : (value ?? '');
}
