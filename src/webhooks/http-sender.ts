/**
 * One HTTP POST of a webhook delivery, through the SSRF guard: redirects are never followed,
 * the whole attempt (connect, response headers and body) is bounded by a timeout, and the
 * response body is read only far enough to report it.
 */

import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { isSsrfRefusedError, type SsrfGuard } from './ssrf-guard.js';

export interface SendRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
}

export type SendResult =
  /** The receiver answered (any status; redirects are not followed). */
  | { kind: 'response'; status: number; retryAfter?: string; location?: string; bodySnippet: string }
  /** The SSRF guard refused the target before connecting. */
  | { kind: 'refused'; reason: string }
  /** No answer: connection error, TLS error, timeout. */
  | { kind: 'error'; error: string; timedOut: boolean };

export interface HttpSenderOptions {
  guard: SsrfGuard;
  /** Bound of one attempt, from the request until the response body is read. */
  timeoutMs: number;
  /** Sockets per host kept by the keep-alive agents. */
  maxSockets?: number;
  userAgent?: string;
}

/** Response bytes kept for the delivery record (the rest is drained, up to DRAIN_LIMIT). */
const SNIPPET_BYTES = 512;
/** A response body larger than this is not drained: the socket is dropped instead. */
const DRAIN_LIMIT = 64 * 1024;

interface AttemptResult {
  result: SendResult;
  /** The request failed on a reused keep-alive socket before any response. */
  staleSocket: boolean;
}

class AttemptTimeoutError extends Error {
  override readonly name = 'AttemptTimeoutError';
}

function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    // Connecting to several addresses (happy eyeballs) fails with an AggregateError without a message.
    const inner = err instanceof AggregateError ? err.errors.map((e) => (e as Error).message).join('; ') : '';
    const message = err.message || inner || err.name;
    return code && !message.includes(code) ? `${code}: ${message}` : message;
  }
  return String(err);
}

/** Sends webhook requests with keep-alive agents whose connections go through the guard's lookup. */
export class HttpSender {
  private readonly http: HttpAgent;
  private readonly https: HttpsAgent;

  constructor(private readonly options: HttpSenderOptions) {
    const agentOptions = {
      keepAlive: true,
      maxSockets: options.maxSockets ?? 64,
      maxFreeSockets: 16,
      lookup: options.guard.lookup,
      // An idle keep-alive socket is closed after this long, before most servers close it.
      timeout: 4_000,
    };
    this.http = new HttpAgent(agentOptions);
    this.https = new HttpsAgent(agentOptions);
  }

  async send(req: SendRequest): Promise<SendResult> {
    let url: URL;
    try {
      url = new URL(req.url);
    } catch {
      return { kind: 'refused', reason: `not a valid URL: ${req.url}` };
    }
    const refusal = this.options.guard.checkUrl(url);
    if (refusal !== undefined) return { kind: 'refused', reason: refusal };
    const first = await this.attempt(url, req, false);
    // A keep-alive socket that the server closed just as it was reused: the request never
    // reached the receiver, so try once more on a fresh connection (as node's docs advise).
    if (first.staleSocket) return (await this.attempt(url, req, true)).result;
    return first.result;
  }

  private attempt(url: URL, req: SendRequest, fresh: boolean): Promise<AttemptResult> {
    return new Promise((resolve) => {
      const body = Buffer.from(req.body, 'utf8');
      const isHttps = url.protocol === 'https:';
      const request = (isHttps ? httpsRequest : httpRequest)(url, {
        method: 'POST',
        agent: fresh ? false : isHttps ? this.https : this.http,
        lookup: this.options.guard.lookup,
        headers: {
          ...req.headers,
          'content-type': 'application/json',
          'content-length': String(body.length),
          'user-agent': this.options.userAgent ?? 'smad-webhooks',
        },
      });
      let settled = false;
      const finish = (result: SendResult, staleSocket = false) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve({ result, staleSocket });
      };
      const timer = setTimeout(() => {
        request.destroy(new AttemptTimeoutError(`no response within ${this.options.timeoutMs} ms`));
      }, this.options.timeoutMs);
      request.on('error', (err) => {
        if (isSsrfRefusedError(err)) return finish({ kind: 'refused', reason: err.message });
        const timedOut = err instanceof AttemptTimeoutError;
        const stale = !fresh && request.reusedSocket && (err as NodeJS.ErrnoException).code === 'ECONNRESET';
        finish(
          { kind: 'error', error: timedOut ? `timed out: ${err.message}` : describeError(err), timedOut },
          stale,
        );
      });
      request.on('response', (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        let kept = 0;
        let seen = 0;
        // The status decides the outcome; the body is only read (within the timeout) to report it.
        const done = () => {
          const { 'retry-after': retryAfter, location } = res.headers;
          finish({
            kind: 'response',
            status: res.statusCode ?? 0,
            ...(typeof retryAfter === 'string' ? { retryAfter } : {}),
            ...(typeof location === 'string' ? { location } : {}),
            bodySnippet: Buffer.concat(chunks).toString('utf8'),
          });
        };
        res.on('data', (chunk: Buffer) => {
          seen += chunk.length;
          if (kept < SNIPPET_BYTES) {
            const part = chunk.subarray(0, SNIPPET_BYTES - kept);
            chunks.push(part);
            kept += part.length;
          }
          if (seen > DRAIN_LIMIT) {
            done();
            res.destroy();
          }
        });
        res.on('end', done);
        res.on('error', done);
        res.on('close', done);
      });
      request.end(body);
    });
  }

  close(): void {
    this.http.destroy();
    this.https.destroy();
  }
}
