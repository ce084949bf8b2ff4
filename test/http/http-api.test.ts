import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../../src/config/schema.js';
import { type AwsStack, startAwsStack } from '../support/emulator.js';
import { PrivateRedis } from '../support/redis-server.js';
import { type SmadHarness, startSmad } from '../support/smad.js';
import { waitFor } from '../support/wait-for.js';

const TOKEN = 'test-token-0123456789';

/** Parses Prometheus text format into sample name+labels → value; throws on a malformed line. */
function parsePrometheus(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (-?[0-9.eE+-]+|NaN|\+Inf|-Inf)$/.exec(line);
    if (!match) throw new Error(`not Prometheus text: ${line}`);
    samples.set(`${match[1]}${match[2] ?? ''}`, Number(match[3]));
  }
  return samples;
}

describe('HTTP API', () => {
  let redis: PrivateRedis;
  let stack: AwsStack;
  let smad: SmadHarness | undefined;
  let base = '';

  const start = async (
    overrides: Record<string, unknown> = {},
    roles: Role[] = ['http', 'dispatcher', 'completions'],
    prefix?: string,
  ) => {
    smad = await startSmad(redis, stack, {
      roles,
      prefix,
      overrides: { 'http.port': 0, 'http.host': '127.0.0.1', 'http.authTokens': [TOKEN], ...overrides },
    });
    base = `http://127.0.0.1:${smad.runtime.httpPort}`;
  };
  const call = (path: string, init: RequestInit & { token?: string | null } = {}) => {
    const headers = new Headers(init.headers);
    const token = init.token === undefined ? TOKEN : init.token;
    if (token !== null) headers.set('authorization', `Bearer ${token}`);
    if (init.body !== undefined) headers.set('content-type', 'application/json');
    return fetch(`${base}${path}`, { ...init, headers });
  };

  beforeAll(async () => {
    redis = await PrivateRedis.start();
    stack = await startAwsStack();
  });
  afterEach(async () => {
    await smad?.stop();
    smad = undefined;
    await stack.reset();
  });
  afterAll(async () => {
    await stack?.stop();
    await redis?.destroy();
  });

  it('requires a bearer token on intake, status and admin, but not on health and metrics', async () => {
    await start();
    const job = JSON.stringify({ endpointName: 'echo', body: 'x' });
    const none = await call('/v1/inferences', { method: 'POST', body: job, token: null });
    expect(none.status).toBe(401);
    expect(await none.json()).toEqual({
      error: { code: 'unauthorized', message: expect.stringContaining('Bearer') },
    });
    expect((await call('/v1/inferences', { method: 'POST', body: job, token: 'wrong' })).status).toBe(403);
    expect((await call('/v1/jobs/1', { token: null })).status).toBe(401);
    expect((await call('/v1/inferences/x', { token: 'wrong' })).status).toBe(403);
    expect((await call('/admin', { token: null })).status).toBe(401);
    expect((await call('/admin')).status).toBe(200);
    expect((await call('/healthz', { token: null })).status).toBe(200);
    expect((await call('/metrics', { token: null })).status).toBe(200);
    expect((await call('/v1/inferences', { method: 'POST', body: job })).status).toBe(202);
  });

  it('lets everyone in when auth is turned off', async () => {
    await start({ 'http.auth': false, 'http.authTokens': [] });
    expect(
      (
        await call('/v1/inferences', {
          method: 'POST',
          body: JSON.stringify({ endpointName: 'echo', body: 'x' }),
          token: null,
        })
      ).status,
    ).toBe(202);
  });

  it('lists every problem of an invalid job, and answers bad JSON and unknown routes in the same shape', async () => {
    await start();
    const res = await call('/v1/inferences', {
      method: 'POST',
      body: JSON.stringify({ endpointName: 'no_underscores', requestTTLSeconds: 1, metadata: [], extra: 1 }),
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: string; problems: { field: string }[] } };
    expect(body.error.code).toBe('invalid_job');
    expect(body.error.problems.map((p) => p.field).sort()).toEqual([
      'endpointName',
      'extra',
      'inputLocation',
      'metadata',
      'requestTTLSeconds',
    ]);
    const broken = await call('/v1/inferences', { method: 'POST', body: '{"endpointName":' });
    expect(broken.status).toBe(400);
    expect(await broken.json()).toMatchObject({ error: { code: 'bad_request' } });
    const missing = await call('/v2/nothing');
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: { code: 'not_found' } });
    expect(await smad!.queue.count()).toBe(0);
  });

  it('refuses a body over the limit with 413', async () => {
    await start({ 'http.bodyLimitBytes': 1024 });
    const res = await call('/v1/inferences', {
      method: 'POST',
      body: JSON.stringify({ endpointName: 'echo', body: 'x'.repeat(2000) }),
    });
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ error: { code: 'body_too_large' } });
  });

  it('honours Idempotency-Key: a retried POST creates one job, a different body with the same key conflicts', async () => {
    await start({}, ['http']);
    const body = JSON.stringify({ endpointName: 'echo', body: 'once', metadata: { order: 7 } });
    const first = await call('/v1/inferences', {
      method: 'POST',
      body,
      headers: { 'idempotency-key': 'order-7' },
    });
    const second = await call('/v1/inferences', {
      method: 'POST',
      body,
      headers: { 'idempotency-key': 'order-7' },
    });
    expect(first.status).toBe(202);
    expect(second.status).toBe(202);
    const a = (await first.json()) as { jobId: string; inferenceId: string; statusUrl: string };
    expect(await second.json()).toEqual(a);
    expect(a.statusUrl).toBe(`/v1/inferences/${a.inferenceId}`);
    expect(await smad!.queue.count()).toBe(1);
    const other = await call('/v1/inferences', {
      method: 'POST',
      body: JSON.stringify({ endpointName: 'echo', body: 'different' }),
      headers: { 'idempotency-key': 'order-7' },
    });
    expect(other.status).toBe(409);
    expect(await other.json()).toMatchObject({ error: { code: 'idempotency_conflict' } });
    const unkeyed = await call('/v1/inferences', { method: 'POST', body });
    expect(((await unkeyed.json()) as { jobId: string }).jobId).not.toBe(a.jobId);
  });

  it('looks inferences up by inferenceId and jobId, queued and then resolved, with 404s for unknown ids', async () => {
    await start({}, ['http']);
    const res = await call('/v1/inferences', {
      method: 'POST',
      body: JSON.stringify({
        endpointName: 'echo',
        body: 'lookup',
        metadata: { k: 'v' },
        webhook: {
          url: 'https://hooks.example/x',
          secret: `whsec_${Buffer.alloc(32, 1).toString('base64')}`,
        },
      }),
    });
    const { jobId, inferenceId, statusUrl } = (await res.json()) as {
      jobId: string;
      inferenceId: string;
      statusUrl: string;
    };
    expect(await (await call(statusUrl)).json()).toEqual({ jobId, inferenceId, status: 'queued' });
    expect(await (await call(`/v1/jobs/${jobId}`)).json()).toEqual({ jobId, inferenceId, status: 'queued' });
    const prefix = smad!.config.queue.prefix;
    await smad!.stop();
    await start({}, ['http', 'dispatcher', 'completions'], prefix);
    await waitFor(
      async () => ((await (await call(statusUrl)).json()) as { status: string }).status === 'completed',
      {
        what: 'the inference to complete',
      },
    );
    const record = (await (await call(statusUrl)).json()) as Record<string, unknown>;
    expect(record).toMatchObject({
      inferenceId,
      jobId,
      endpointName: 'echo',
      status: 'completed',
      metadata: { k: 'v' },
    });
    expect(JSON.stringify(record)).not.toContain('whsec_');
    expect(await (await call(`/v1/jobs/${jobId}`)).json()).toEqual(record);
    const unknown = await call('/v1/inferences/nope');
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ error: { code: 'not_found' } });
    expect((await call('/v1/jobs/nope')).status).toBe(404);
  });

  it('serves Prometheus metrics that move when jobs run', async () => {
    await start();
    const before = parsePrometheus(await (await call('/metrics')).text());
    expect(before.has('smad_process_resident_memory_bytes')).toBe(true);
    const completed = 'smad_inferences_total{outcome="completed"}';
    expect(before.get(completed) ?? 0).toBe(0);
    for (let i = 0; i < 3; i++)
      await call('/v1/inferences', {
        method: 'POST',
        body: JSON.stringify({ endpointName: 'echo', body: `m${i}` }),
      });
    await waitFor(async () => (await smad!.queue.getCompletedCount()) === 3, { what: '3 completed jobs' });
    const after = parsePrometheus(await (await call('/metrics')).text());
    expect(after.get(completed)).toBe(3);
    expect(after.get('smad_api_calls_total{endpoint="echo",outcome="accepted"}')).toBe(3);
    expect(after.get('smad_notifications_total{outcome="resolved"}')).toBe(3);
    expect(after.get('smad_queue_jobs{queue="inference",state="completed"}')).toBe(3);
    expect(after.get('smad_end_to_end_seconds_count{outcome="completed"}')).toBe(3);
    expect(after.get('smad_endpoint_in_flight{endpoint="echo"}')).toBe(0);
  });

  it('is not ready while Redis is stopped, and ready again when it is back', async () => {
    await start({}, ['http']);
    expect((await call('/readyz', { token: null })).status).toBe(200);
    await redis.stop();
    try {
      const res = await call('/readyz', { token: null });
      expect(res.status).toBe(503);
      expect(await res.json()).toMatchObject({ status: 'not_ready', checks: { redis: expect.any(String) } });
      expect((await call('/healthz', { token: null })).status).toBe(200);
    } finally {
      await redis.start();
    }
    await waitFor(async () => (await call('/readyz', { token: null })).status === 200, {
      what: 'ready again',
    });
  });
});
