/**
 * The webhook body (PRODUCT.md, "Webhooks"): built once per event, from the ledger record,
 * and stored with the delivery job, so every retry and replay sends the identical bytes.
 * Pure: presigned URLs are computed by the caller and passed in.
 */

import type { JsonObject } from '../contract/job.js';
import { type FinalStatus, isFinalStatus } from '../contract/status.js';
import type {
  WebhookEventData,
  WebhookEventType,
  WebhookInlineResponse,
  WebhookPayload,
} from '../contract/webhook-event.js';
import type { LedgerPrivateFields, LedgerRecord } from '../ledger/record.js';

/** The largest body smad sends, in bytes of UTF-8 JSON. */
export const MAX_WEBHOOK_BODY_BYTES = 256 * 1024;

/** What a truncated failureReason ends with. */
export const TRUNCATION_MARK = '… [truncated]';

/** The inline response as smad sends it: the contract's fields plus the content type. */
export type InlineResponse = WebhookInlineResponse & { contentType: string | null };

export interface PayloadOptions {
  /** Include `data.response` when the record holds a response body of at most this many bytes; 0 = never. */
  inlineResponseMaxBytes: number;
  /** Presigned GET URLs (webhooks.presignSeconds > 0), computed by the caller. */
  outputUrl?: string;
  failureUrl?: string;
  /** Body size bound; MAX_WEBHOOK_BODY_BYTES by default. */
  maxBodyBytes?: number;
}

export interface BuiltPayload {
  payload: WebhookPayload;
  /** The exact JSON body to send and sign. */
  body: string;
  /** What was dropped or shortened to respect the size bound, in order ('response', 'failureReason', 'metadata'). */
  trimmed: string[];
}

type FullRecord = LedgerRecord & Partial<LedgerPrivateFields>;

const bytes = (text: string) => Buffer.byteLength(text, 'utf8');

/**
 * The payload of `type` for a resolved record; `eventAtMs` (the outbox event's time) is the
 * payload's `timestamp`.
 *
 * Size bound: when the JSON exceeds `maxBodyBytes`, the inline response is dropped first, then
 * failureReason is shortened (ending in TRUNCATION_MARK), and as a last resort metadata is
 * replaced by {}. Within the contract's limits (metadata ≤ 16 KiB) only the first two can happen.
 */
export function buildPayload(
  record: FullRecord,
  type: WebhookEventType,
  eventAtMs: number,
  options: PayloadOptions,
): BuiltPayload {
  if (!isFinalStatus(record.status))
    throw new Error(`inference ${record.inferenceId} is ${record.status}, not final: no webhook payload`);
  const timestamp = new Date(eventAtMs).toISOString();
  const data: WebhookEventData = {
    inferenceId: record.inferenceId,
    jobId: record.jobId,
    endpointName: record.endpointName === '' ? null : record.endpointName,
    status: record.status as FinalStatus,
    inputLocation: record.inputLocation,
    outputLocation: record.outputLocation,
    failureLocation: record.failureLocation,
    failureReason: record.failureReason,
    responseContentType: record.responseContentType,
    submittedAt: record.submittedAt,
    resolvedAt: record.resolvedAt ?? timestamp,
    metadata: (record.metadata ?? {}) as JsonObject,
  };
  if (options.outputUrl) data.outputUrl = options.outputUrl;
  if (options.failureUrl) data.failureUrl = options.failureUrl;
  const response = inlineResponse(record, options.inlineResponseMaxBytes);
  if (response) data.response = response;

  const payload: WebhookPayload = { type, timestamp, data };
  const max = options.maxBodyBytes ?? MAX_WEBHOOK_BODY_BYTES;
  const trimmed: string[] = [];
  let body = JSON.stringify(payload);
  if (bytes(body) > max && data.response) {
    delete data.response;
    trimmed.push('response');
    body = JSON.stringify(payload);
  }
  if (bytes(body) > max && data.failureReason) {
    // The longest prefix that fits (binary search: the reason may hold multi-byte characters).
    const original = data.failureReason;
    const fits = (keep: number) => {
      data.failureReason = original.slice(0, keep) + TRUNCATION_MARK;
      return bytes(JSON.stringify(payload)) <= max;
    };
    let lo = 0;
    let hi = original.length - 1;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (fits(mid)) lo = mid;
      else hi = mid - 1;
    }
    fits(lo);
    body = JSON.stringify(payload);
    trimmed.push('failureReason');
  }
  if (bytes(body) > max && Object.keys(data.metadata).length > 0) {
    data.metadata = {};
    trimmed.push('metadata');
    body = JSON.stringify(payload);
  }
  return { payload, body, trimmed };
}

function inlineResponse(record: FullRecord, maxBytes: number): InlineResponse | undefined {
  if (maxBytes <= 0 || !record.responseBody) return undefined;
  if (Buffer.byteLength(record.responseBody, 'base64') > maxBytes) return undefined;
  return { contentType: record.responseContentType, encoding: 'base64', content: record.responseBody };
}
