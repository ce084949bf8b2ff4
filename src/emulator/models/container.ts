/**
 * A model container over the SageMaker model contract: `GET /ping` answers 200 when the
 * model is ready; `POST /invocations` takes the input with Content-Type, Accept and
 * X-Amzn-SageMaker-Custom-Attributes and answers the output (any 2xx) or an error.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { HttpClient } from '../http-client.js';
import type { Model, ModelInput, ModelOutcome } from './model.js';

/** The failure reason AWS reports for a non-2xx answer from the model. */
export function modelErrorReason(status: number): string {
  const kind = status >= 500 ? 'server' : 'client';
  return `ClientError: Received ${kind} error (${status}) from model. See the SageMaker Endpoint logs in your account for more information.`;
}

export class ContainerModel implements Model {
  private readonly http = new HttpClient();

  constructor(
    private readonly url: string,
    private readonly pingTimeoutMs: number,
  ) {}

  /** Polls `GET /ping` until it answers 200, or throws after the ping timeout. */
  async ready(signal: AbortSignal): Promise<void> {
    const deadline = Date.now() + this.pingTimeoutMs;
    let last = 'no answer yet';
    for (;;) {
      signal.throwIfAborted();
      try {
        const res = await this.http.request(`${this.url}/ping`, { signal, maxBytes: 1024 * 1024 });
        if (res.status === 200) return;
        last = `GET /ping answered ${res.status}`;
      } catch (err) {
        signal.throwIfAborted();
        last = err instanceof Error ? err.message : String(err);
      }
      if (Date.now() >= deadline)
        throw new Error(`model container ${this.url} not ready after ${this.pingTimeoutMs} ms (${last})`);
      await delay(100, undefined, { signal });
    }
  }

  async invoke(input: ModelInput, signal: AbortSignal): Promise<ModelOutcome> {
    const headers: Record<string, string> = { 'content-type': input.contentType };
    if (input.accept !== undefined) headers.accept = input.accept;
    if (input.customAttributes !== undefined)
      headers['x-amzn-sagemaker-custom-attributes'] = input.customAttributes;
    let res: Awaited<ReturnType<HttpClient['request']>>;
    try {
      res = await this.http.request(`${this.url}/invocations`, {
        method: 'POST',
        headers,
        body: input.body,
        signal,
      });
    } catch (err) {
      signal.throwIfAborted();
      const detail = err instanceof Error ? err.message : String(err);
      return {
        ok: false,
        failureReason: `ClientError: An error occurred while sending the request to the model: ${detail}`,
      };
    }
    if (res.status < 200 || res.status > 299) {
      return { ok: false, failureReason: modelErrorReason(res.status), body: res.body };
    }
    const contentType = res.headers['content-type'] ?? 'application/octet-stream';
    return { ok: true, body: res.body, contentType };
  }

  close(): void {
    this.http.close();
  }
}
