import type { InferenceStatus } from '../contract/status.js';

/** Webhook delivery state of an inference's outcome event. */
export type WebhookDeliveryState = 'none' | 'pending' | 'delivered' | 'failed' | 'refused';

/** One inference in the ledger (PRODUCT.md, "Inference statuses"). Times are ISO strings. */
export interface LedgerRecord {
  inferenceId: string;
  jobId: string;
  endpointName: string;
  status: InferenceStatus;
  inputLocation: string | null;
  outputLocation: string | null;
  failureLocation: string | null;
  failureReason: string | null;
  responseContentType: string | null;
  attempts: number;
  createdAt: string;
  submittedAt: string | null;
  resolvedAt: string | null;
  /** When the inference is given up on: submission + TTL + invocation timeout + grace. */
  deadlineAt: string | null;
  /** When the job entered the queue (for end-to-end latency). */
  enqueuedAt: string | null;
  metadata: Record<string, unknown> | null;
  webhook: {
    url: string | null;
    state: WebhookDeliveryState;
    attempts: number;
    lastStatus: number | null;
    lastError: string | null;
    deliveredAt: string | null;
  };
}

/** Fields kept in the hash but not shown in the record (secrets, inline response). */
export interface LedgerPrivateFields {
  webhookSecret: string | null;
  /** Base64 response body embedded in the notification, when small. */
  responseBody: string | null;
}

const iso = (ms: string | undefined): string | null =>
  ms === undefined || ms === '' ? null : new Date(Number(ms)).toISOString();
const str = (v: string | undefined): string | null => (v === undefined || v === '' ? null : v);
const int = (v: string | undefined): number => (v === undefined || v === '' ? 0 : Number.parseInt(v, 10));

/** Parses the Redis hash of a record (times are stored as epoch milliseconds). */
/** A flat [field, value, ...] list (HGETALL's, a stream entry's) as an object. */
export function fromFlat(flat: readonly string[] | null | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; flat && i + 1 < flat.length; i += 2) out[flat[i] as string] = flat[i + 1] as string;
  return out;
}

export function parseRecord(hash: Record<string, string>): (LedgerRecord & LedgerPrivateFields) | undefined {
  if (!hash.inferenceId || !hash.status) return undefined;
  let metadata: Record<string, unknown> | null = null;
  if (hash.metadata) {
    try {
      metadata = JSON.parse(hash.metadata) as Record<string, unknown>;
    } catch {
      metadata = null;
    }
  }
  return {
    inferenceId: hash.inferenceId,
    jobId: hash.jobId ?? '',
    endpointName: hash.endpointName ?? '',
    status: hash.status as InferenceStatus,
    inputLocation: str(hash.inputLocation),
    outputLocation: str(hash.outputLocation),
    failureLocation: str(hash.failureLocation),
    failureReason: str(hash.failureReason),
    responseContentType: str(hash.responseContentType),
    attempts: int(hash.attempts),
    createdAt: iso(hash.createdAt) ?? new Date(0).toISOString(),
    submittedAt: iso(hash.submittedAt),
    resolvedAt: iso(hash.resolvedAt),
    deadlineAt: iso(hash.deadlineAt),
    enqueuedAt: iso(hash.enqueuedAt),
    metadata,
    webhook: {
      url: str(hash.webhookUrl),
      state: (str(hash.webhookState) ?? 'none') as WebhookDeliveryState,
      attempts: int(hash.webhookAttempts),
      lastStatus: hash.webhookLastStatus ? int(hash.webhookLastStatus) : null,
      lastError: str(hash.webhookLastError),
      deliveredAt: iso(hash.webhookDeliveredAt),
    },
    webhookSecret: str(hash.webhookSecret),
    responseBody: str(hash.responseBody),
  };
}

/** The record as shown to users (status API, CLI): no secret, no inline body. */
export function publicRecord(record: LedgerRecord & Partial<LedgerPrivateFields>): LedgerRecord {
  const { webhookSecret: _secret, responseBody: _body, ...rest } = record;
  return rest;
}
