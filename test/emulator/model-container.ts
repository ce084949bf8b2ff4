import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ContainerCall {
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/**
 * A model container for tests, speaking the SageMaker model contract. `GET /ping` answers
 * 503 until `ready` is set. `POST /invocations` answers the input upper-cased as
 * text/plain; an input of `status:NNN` answers NNN with the body `model says NNN`; with
 * `gated` set, each call waits until `release()` lets it go (so a test holds slots busy
 * for exactly as long as it wants).
 */
export class ModelContainer {
  ready = true;
  gated = false;
  readonly calls: ContainerCall[] = [];
  pings = 0;
  active = 0;
  peakActive = 0;
  private readonly waiting: Array<() => void> = [];
  private readonly server: Server;

  private constructor() {
    this.server = createServer((req, res) => {
      if (req.method === 'GET' && req.url === '/ping') {
        this.pings += 1;
        res.writeHead(this.ready ? 200 : 503).end();
        return;
      }
      if (req.method !== 'POST' || req.url !== '/invocations') {
        res.writeHead(404).end();
        return;
      }
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', async () => {
        const body = Buffer.concat(chunks);
        this.calls.push({ headers: req.headers, body });
        this.active += 1;
        this.peakActive = Math.max(this.peakActive, this.active);
        if (this.gated) await new Promise<void>((resolve) => this.waiting.push(resolve));
        this.active -= 1;
        const text = body.toString('utf8');
        const status = /^status:(\d{3})$/.exec(text)?.[1];
        if (status) {
          res.writeHead(Number(status), { 'content-type': 'text/plain' }).end(`model says ${status}`);
          return;
        }
        res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end(text.toUpperCase());
      });
    });
  }

  static async start(): Promise<ModelContainer> {
    const container = new ModelContainer();
    await new Promise<void>((resolve) => container.server.listen(0, '127.0.0.1', resolve));
    return container;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Calls waiting at the gate. */
  get held(): number {
    return this.waiting.length;
  }

  /** Lets `count` held calls (default: all) answer. */
  release(count = this.waiting.length): void {
    for (const resolve of this.waiting.splice(0, count)) resolve();
  }

  async stop(): Promise<void> {
    this.gated = false;
    this.release();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
