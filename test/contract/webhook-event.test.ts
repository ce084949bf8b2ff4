import { describe, expect, it } from 'vitest';
import { FINAL_STATUSES, type FinalStatus } from '../../src/contract/status.js';
import {
  eventTypeForStatus,
  WEBHOOK_EVENT_TYPES,
  type WebhookEventData,
  type WebhookPayload,
  webhookIdFor,
} from '../../src/contract/webhook-event.js';

describe('webhook event types', () => {
  it('are the five of the contract', () => {
    expect([...WEBHOOK_EVENT_TYPES]).toEqual([
      'inference.completed',
      'inference.failed',
      'inference.expired',
      'inference.rejected',
      'inference.dispatch_failed',
    ]);
  });

  it('map one to one from the final statuses', () => {
    for (const status of FINAL_STATUSES) expect(eventTypeForStatus(status)).toBe(`inference.${status}`);
    expect(new Set(FINAL_STATUSES.map(eventTypeForStatus)).size).toBe(WEBHOOK_EVENT_TYPES.length);
  });

  it('refuses a status that is not final', () => {
    expect(() => eventTypeForStatus('submitted' as FinalStatus)).toThrow(/no webhook event/);
  });
});

describe('webhookIdFor', () => {
  it('is msg_ and 32 base64url characters', () => {
    expect(webhookIdFor('abc', 'inference.completed')).toMatch(/^msg_[A-Za-z0-9_-]{32}$/);
  });

  it('is stable: the same inference and type always give the same id (golden value)', () => {
    expect(webhookIdFor('11111111-2222-3333-4444-555555555555', 'inference.completed')).toBe(
      webhookIdFor('11111111-2222-3333-4444-555555555555', 'inference.completed'),
    );
    expect(webhookIdFor('11111111-2222-3333-4444-555555555555', 'inference.completed')).toBe(GOLDEN);
  });

  it('differs across inferences and across event types', () => {
    const ids = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      for (const type of WEBHOOK_EVENT_TYPES) ids.add(webhookIdFor(`inference-${i}`, type));
    }
    expect(ids.size).toBe(1000 * WEBHOOK_EVENT_TYPES.length);
  });

  it('separates the inference id from the type', () => {
    expect(webhookIdFor('a\ninference.failed', 'inference.completed')).not.toBe(
      webhookIdFor('a', 'inference.completed'),
    );
  });
});

describe('WebhookPayload', () => {
  it('has the fields of the PRODUCT.md body, extras optional', () => {
    const data: WebhookEventData = {
      inferenceId: 'i-1',
      jobId: '42',
      endpointName: 'my-endpoint',
      status: 'completed',
      inputLocation: 's3://bucket/in',
      outputLocation: 's3://bucket/out/x.out',
      failureLocation: 's3://bucket/failures/x.out',
      failureReason: null,
      responseContentType: 'application/json',
      submittedAt: '2026-11-27T09:59:58.000Z',
      resolvedAt: '2026-11-27T10:00:00.000Z',
      metadata: {},
    };
    const payload = {
      type: 'inference.completed',
      timestamp: '2026-11-27T10:00:00.000Z',
      data,
    } satisfies WebhookPayload;
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
    const withExtras: WebhookPayload = {
      ...payload,
      data: {
        ...data,
        outputUrl: 'https://bucket.s3.amazonaws.com/out/x.out?X-Amz-Signature=...',
        failureUrl: 'https://bucket.s3.amazonaws.com/failures/x.out?X-Amz-Signature=...',
        response: { content: 'eyJ4IjoxfQ==', encoding: 'base64' },
      },
    };
    expect(withExtras.data.response?.encoding).toBe('base64');
  });
});

// Computed independently: python3 -c "import hashlib,base64; print('msg_'+base64.urlsafe_b64encode(hashlib.sha256(b'11111111-2222-3333-4444-555555555555\ninference.completed').digest()).decode()[:32])"
const GOLDEN = 'msg_85btWkpoYMMVbj9FNV6X9XbnptOEt1sY';
