/**
 * The webhook event: its types, its payload (the JSON body smad POSTs, per PRODUCT.md
 * "Webhooks") and its stable `webhook-id`.
 */

import { createHash } from 'node:crypto';
import type { JsonObject } from './job.js';
import type { FinalStatus } from './status.js';

export const WEBHOOK_EVENT_TYPES = [
  'inference.completed',
  'inference.failed',
  'inference.expired',
  'inference.rejected',
  'inference.dispatch_failed',
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** The event a final status fires: `inference.<status>`. */
export function eventTypeForStatus(status: FinalStatus): WebhookEventType {
  switch (status) {
    case 'completed':
      return 'inference.completed';
    case 'failed':
      return 'inference.failed';
    case 'expired':
      return 'inference.expired';
    case 'rejected':
      return 'inference.rejected';
    case 'dispatch_failed':
      return 'inference.dispatch_failed';
    default:
      throw new Error(`no webhook event for status ${JSON.stringify(status)}`);
  }
}

/** A response body SageMaker embedded in its notification (IncludeInferenceResponseIn). */
export interface WebhookInlineResponse {
  /** The response bytes, base64-encoded (standard alphabet, padded). */
  content: string;
  encoding: 'base64';
}

/** `data` of a webhook payload: the ledger record's outcome. Timestamps are ISO 8601 UTC. */
export interface WebhookEventData {
  inferenceId: string;
  /** The BullMQ job id. */
  jobId: string;
  /** Null only for a rejected job whose endpointName was missing or not a string. */
  endpointName: string | null;
  status: FinalStatus;
  /** Where the payload is (the producer's, or the staged copy); null when never stored. */
  inputLocation: string | null;
  /** As returned by InvokeEndpointAsync; null when the call never succeeded. */
  outputLocation: string | null;
  /** As returned by InvokeEndpointAsync; null when the endpoint has no S3FailurePath. */
  failureLocation: string | null;
  /** Why it failed, expired, was rejected (every problem) or was not dispatched; null when completed. */
  failureReason: string | null;
  /** The response content type from the success notification; null when unknown. */
  responseContentType: string | null;
  /** When SageMaker accepted the call; null when it never did. */
  submittedAt: string | null;
  /** When the final status was recorded. */
  resolvedAt: string;
  /** The job's metadata, `{}` when it had none. */
  metadata: JsonObject;
  /**
   * Optional extra (`webhooks.presignSeconds` > 0): a presigned GET URL of the output object,
   * when there is one.
   */
  outputUrl?: string;
  /** Optional extra (`webhooks.presignSeconds` > 0): a presigned GET URL of the failure object. */
  failureUrl?: string;
  /**
   * Optional extra (`webhooks.inlineResponseMaxBytes` > 0): the response body embedded in the
   * notification, when there was one of at most that size.
   */
  response?: WebhookInlineResponse;
}

/** The JSON body of a webhook delivery (Standard Webhooks shape). */
export interface WebhookPayload {
  type: WebhookEventType;
  /** When the event happened (ISO 8601 UTC); the same on every retry. */
  timestamp: string;
  data: WebhookEventData;
}

/**
 * The `webhook-id` of an event: `msg_` + the first 32 characters of
 * base64url(sha256(`${inferenceId}\n${type}`)), 36 characters in all. A pure function of the
 * inference and the event type, so every retry and replay of an event carries the same id and
 * receivers can de-duplicate on it.
 */
export function webhookIdFor(inferenceId: string, type: WebhookEventType): string {
  const digest = createHash('sha256').update(`${inferenceId}\n${type}`, 'utf8').digest('base64url');
  return `msg_${digest.slice(0, 32)}`;
}
