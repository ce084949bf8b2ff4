import { InvokeEndpointAsyncCommand } from '@aws-sdk/client-sagemaker-runtime';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { EmulatorStats, InferenceRecord, RequestRecord } from '../../src/emulator/index.js';
import { type AwsStack, startAwsStack } from '../support/emulator.js';
import { waitFor } from '../support/wait-for.js';

describe('control routes under /_emulator/', () => {
  let stack: AwsStack;

  beforeAll(async () => {
    stack = await startAwsStack({ endpoints: [{ name: 'echo' }, { name: 'other' }] });
  });
  afterAll(async () => {
    await stack?.stop();
  });
  beforeEach(async () => {
    await stack.reset();
  });

  async function call(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; json: unknown }> {
    const init: RequestInit = { method };
    if (body !== undefined) {
      init.body = typeof body === 'string' ? body : JSON.stringify(body);
      init.headers = { 'content-type': 'application/json' };
    }
    const res = await fetch(`${stack.emulator.address}${path}`, init);
    return { status: res.status, json: await res.json() };
  }

  const invoke = (name = 'echo') =>
    stack.sagemaker.send(
      new InvokeEndpointAsyncCommand({ EndpointName: name, Body: Buffer.from('x'), CustomAttributes: 'k=v' }),
    );

  it('GET /_emulator/requests lists the calls with their parameters and answers (filter by endpoint)', async () => {
    const out = await invoke();
    await invoke('other');
    await invoke('missing').catch(() => undefined);
    const { status, json } = await call('GET', '/_emulator/requests');
    expect(status).toBe(200);
    const requests = json as RequestRecord[];
    expect(requests.map((r) => [r.endpointName, r.status])).toEqual([
      ['echo', 202],
      ['other', 202],
      ['missing', 400],
    ]);
    expect(requests[0]).toMatchObject({
      inferenceId: out.InferenceId,
      bodyBytes: 1,
      params: { customAttributes: 'k=v' },
      outputLocation: out.OutputLocation,
    });
    expect(typeof requests[0]?.receivedAt).toBe('number');
    expect(requests[2]?.error?.type).toBe('ValidationError');
    const filtered = (await call('GET', '/_emulator/requests?endpoint=other')).json as RequestRecord[];
    expect(filtered.map((r) => r.endpointName)).toEqual(['other']);
  });

  it('GET /_emulator/stats, /inferences and /notifications report the outcomes', async () => {
    const out = await invoke();
    await waitFor(
      async () => ((await call('GET', '/_emulator/stats')).json as EmulatorStats).completed === 1,
      {
        what: 'completed in stats',
      },
    );
    const stats = (await call('GET', '/_emulator/stats')).json as EmulatorStats;
    expect(stats).toMatchObject({
      received: 1,
      accepted: 1,
      rejected: 0,
      completed: 1,
      notificationsPublished: 1,
    });
    expect(stats.endpoints.echo).toMatchObject({ queued: 0, inFlight: 0, slots: 4, completed: 1 });
    const inferences = (await call('GET', '/_emulator/inferences')).json as InferenceRecord[];
    expect(inferences).toEqual([
      expect.objectContaining({ inferenceId: out.InferenceId, status: 'completed' }),
    ]);
    const notifications = (await call('GET', '/_emulator/notifications')).json as Array<{ message: unknown }>;
    expect(notifications).toEqual([
      expect.objectContaining({
        kind: 'success',
        inferenceId: out.InferenceId,
        topicArn: stack.successTopicArn,
      }),
    ]);
  });

  it('PUT /_emulator/knobs changes knobs globally or per endpoint, and refuses bad values', async () => {
    const global = await call('PUT', '/_emulator/knobs', { throttleRatio: 1 });
    expect(global.status).toBe(200);
    expect((global.json as { global: { throttleRatio: number } }).global.throttleRatio).toBe(1);
    expect((await invoke().catch((e: Error) => e)) as Error).toMatchObject({ name: 'ThrottlingException' });

    const perEndpoint = await call('PUT', '/_emulator/knobs?endpoint=other', { throttleRatio: 0 });
    expect((perEndpoint.json as { endpoints: Record<string, unknown> }).endpoints.other).toEqual({
      throttleRatio: 0,
    });
    expect((await invoke('other')).$metadata.httpStatusCode).toBe(202);

    const bad = await call('PUT', '/_emulator/knobs', { failureRatio: 7, nope: true });
    expect(bad.status).toBe(400);
    expect((bad.json as { problems: string[] }).problems).toEqual([
      expect.stringContaining('knobs.failureRatio: must be a number from 0 to 1'),
      expect.stringContaining('knobs.nope: unknown knob'),
    ]);
    expect((await call('PUT', '/_emulator/knobs', '{not json')).status).toBe(400);
    expect((await call('PUT', '/_emulator/knobs?endpoint=ghost', { latencyMs: 1 })).status).toBe(400);
    expect(
      ((await call('GET', '/_emulator/knobs')).json as { global: { throttleRatio: number } }).global,
    ).toMatchObject({ throttleRatio: 1 });
  });

  it('POST /_emulator/fail-next forces the next answers', async () => {
    expect((await call('POST', '/_emulator/fail-next', { status: 503, count: 2 })).status).toBe(200);
    expect(await invoke().catch((e: Error) => e.name)).toBe('ServiceUnavailable');
    expect(await invoke().catch((e: Error) => e.name)).toBe('ServiceUnavailable');
    expect((await invoke()).$metadata.httpStatusCode).toBe(202);
    expect((await call('POST', '/_emulator/fail-next', { status: 'throttle' })).status).toBe(200);
    expect(await invoke().catch((e: Error) => e.name)).toBe('ThrottlingException');
    const bad = await call('POST', '/_emulator/fail-next', { status: 404, count: 0 });
    expect(bad.status).toBe(400);
    expect((bad.json as { problems: string[] }).problems).toHaveLength(2);
  });

  it('POST /_emulator/reset forgets records and counters and restores the knobs', async () => {
    await invoke();
    await call('PUT', '/_emulator/knobs', { unavailableRatio: 1 });
    await stack.emulator.whenIdle();
    expect((await call('POST', '/_emulator/reset')).status).toBe(200);
    expect((await call('GET', '/_emulator/requests')).json).toEqual([]);
    expect(((await call('GET', '/_emulator/stats')).json as EmulatorStats).received).toBe(0);
    expect((await invoke()).$metadata.httpStatusCode).toBe(202);
  });

  it('answers other paths as an unknown operation', async () => {
    const res = await fetch(`${stack.emulator.address}/endpoints/echo/invocations`, {
      method: 'POST',
      body: 'x',
    });
    expect(res.status).toBe(404);
    expect(res.headers.get('x-amzn-errortype')).toBe('UnknownOperationException');
    await res.text();
  });
});
