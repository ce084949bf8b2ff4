import { describe, expect, it } from 'vitest';
import type { LedgerPrivateFields, LedgerRecord } from '../../src/ledger/record.js';
import { buildPayload, MAX_WEBHOOK_BODY_BYTES, TRUNCATION_MARK } from '../../src/webhooks/payload.js';

const AT = Date.parse('2026-11-27T10:00:00.000Z');

function record(
  overrides: Partial<LedgerRecord & LedgerPrivateFields> = {},
): LedgerRecord & LedgerPrivateFields {
  return {
    inferenceId: 'inf-1',
    jobId: 'job-1',
    endpointName: 'whisper-large',
    status: 'completed',
    inputLocation: 's3://in/a.wav',
    outputLocation: 's3://out/inf-1.out',
    failureLocation: 's3://fail/inf-1.err',
    failureReason: null,
    responseContentType: 'application/json',
    attempts: 1,
    createdAt: '2026-11-27T09:59:00.000Z',
    submittedAt: '2026-11-27T09:59:01.000Z',
    resolvedAt: '2026-11-27T09:59:59.000Z',
    deadlineAt: null,
    enqueuedAt: null,
    metadata: { tenant: 'acme', tags: ['a', 'b'], nested: { n: 1 } },
    webhook: {
      url: 'https://h/x',
      state: 'pending',
      attempts: 0,
      lastStatus: null,
      lastError: null,
      deliveredAt: null,
    },
    webhookSecret: 'whsec_private',
    responseBody: null,
    ...overrides,
  };
}

describe('webhook payload', () => {
  it('has exactly the contract shape, in order, and never leaks private fields', () => {
    const { payload, body, trimmed } = buildPayload(record(), 'inference.completed', AT, {
      inlineResponseMaxBytes: 0,
    });
    expect(trimmed).toEqual([]);
    expect(JSON.parse(body)).toEqual(payload);
    expect(payload).toEqual({
      type: 'inference.completed',
      timestamp: '2026-11-27T10:00:00.000Z',
      data: {
        inferenceId: 'inf-1',
        jobId: 'job-1',
        endpointName: 'whisper-large',
        status: 'completed',
        inputLocation: 's3://in/a.wav',
        outputLocation: 's3://out/inf-1.out',
        failureLocation: 's3://fail/inf-1.err',
        failureReason: null,
        responseContentType: 'application/json',
        submittedAt: '2026-11-27T09:59:01.000Z',
        resolvedAt: '2026-11-27T09:59:59.000Z',
        metadata: { tenant: 'acme', tags: ['a', 'b'], nested: { n: 1 } },
      },
    });
    expect(Object.keys(payload)).toEqual(['type', 'timestamp', 'data']);
    expect(Object.keys(payload.data)).toEqual([
      'inferenceId',
      'jobId',
      'endpointName',
      'status',
      'inputLocation',
      'outputLocation',
      'failureLocation',
      'failureReason',
      'responseContentType',
      'submittedAt',
      'resolvedAt',
      'metadata',
    ]);
    expect(body).not.toContain('whsec_');
    expect(body).not.toContain('webhook');
  });

  it('is deterministic: the same record and event give the same bytes', () => {
    const a = buildPayload(record(), 'inference.completed', AT, { inlineResponseMaxBytes: 0 }).body;
    const b = buildPayload(record(), 'inference.completed', AT, { inlineResponseMaxBytes: 0 }).body;
    expect(a).toBe(b);
  });

  it('uses {} for missing metadata and null for a missing endpoint name', () => {
    const { payload } = buildPayload(
      record({ status: 'rejected', metadata: null, endpointName: '', failureReason: 'invalid job: x' }),
      'inference.rejected',
      AT,
      { inlineResponseMaxBytes: 0 },
    );
    expect(payload.data.metadata).toEqual({});
    expect(payload.data.endpointName).toBeNull();
    expect(payload.data.status).toBe('rejected');
    expect(payload.data.failureReason).toBe('invalid job: x');
  });

  it('falls back to the event time when the record has no resolvedAt', () => {
    const { payload } = buildPayload(record({ resolvedAt: null }), 'inference.completed', AT, {
      inlineResponseMaxBytes: 0,
    });
    expect(payload.data.resolvedAt).toBe('2026-11-27T10:00:00.000Z');
  });

  it('refuses a record that is not resolved', () => {
    expect(() =>
      buildPayload(record({ status: 'submitted' }), 'inference.completed', AT, { inlineResponseMaxBytes: 0 }),
    ).toThrow(/not final/);
  });

  it('adds presigned URLs when given', () => {
    const { payload } = buildPayload(record(), 'inference.completed', AT, {
      inlineResponseMaxBytes: 0,
      outputUrl: 'https://s3/out?sig',
      failureUrl: 'https://s3/fail?sig',
    });
    expect(payload.data.outputUrl).toBe('https://s3/out?sig');
    expect(payload.data.failureUrl).toBe('https://s3/fail?sig');
  });

  it('inlines a small response body, and only when configured and small enough', () => {
    const content = Buffer.from('{"text":"hello"}').toString('base64');
    const withBody = record({ responseBody: content });
    const on = buildPayload(withBody, 'inference.completed', AT, { inlineResponseMaxBytes: 16 }).payload;
    expect(on.data.response).toEqual({ contentType: 'application/json', encoding: 'base64', content });
    expect(
      buildPayload(withBody, 'inference.completed', AT, { inlineResponseMaxBytes: 15 }).payload.data.response,
    ).toBeUndefined();
    expect(
      buildPayload(withBody, 'inference.completed', AT, { inlineResponseMaxBytes: 0 }).payload.data.response,
    ).toBeUndefined();
    expect(
      buildPayload(record(), 'inference.completed', AT, { inlineResponseMaxBytes: 1000 }).payload.data
        .response,
    ).toBeUndefined();
  });

  it('keeps the body within its bound: drops the inline response first, then shortens failureReason', () => {
    const big = Buffer.alloc(300 * 1024, 1).toString('base64');
    const dropped = buildPayload(record({ responseBody: big }), 'inference.completed', AT, {
      inlineResponseMaxBytes: 10 * 1024 * 1024,
    });
    expect(dropped.trimmed).toEqual(['response']);
    expect(dropped.payload.data.response).toBeUndefined();
    expect(Buffer.byteLength(dropped.body)).toBeLessThanOrEqual(MAX_WEBHOOK_BODY_BYTES);

    const reason = 'é'.repeat(200 * 1024); // 400 KiB of UTF-8
    const cut = buildPayload(record({ status: 'failed', failureReason: reason }), 'inference.failed', AT, {
      inlineResponseMaxBytes: 0,
    });
    expect(cut.trimmed).toEqual(['failureReason']);
    expect(cut.payload.data.failureReason?.endsWith(TRUNCATION_MARK)).toBe(true);
    expect(Buffer.byteLength(cut.body)).toBeLessThanOrEqual(MAX_WEBHOOK_BODY_BYTES);
    expect(Buffer.byteLength(cut.body)).toBeGreaterThan(MAX_WEBHOOK_BODY_BYTES - 1024);
    expect(cut.payload.data.metadata).toEqual(record().metadata);
  });

  it('drops metadata only as a last resort', () => {
    const { trimmed, payload, body } = buildPayload(
      record({ metadata: { blob: 'x'.repeat(2048) } }),
      'inference.completed',
      AT,
      { inlineResponseMaxBytes: 0, maxBodyBytes: 1024 },
    );
    expect(trimmed).toEqual(['metadata']);
    expect(payload.data.metadata).toEqual({});
    expect(Buffer.byteLength(body)).toBeLessThanOrEqual(1024);
  });
});
