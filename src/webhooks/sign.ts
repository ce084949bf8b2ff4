/**
 * Standard Webhooks v1 signing (https://www.standardwebhooks.com), on node:crypto only: the
 * tests check these signatures with the reference implementation (`standardwebhooks`), so the
 * two stay independent.
 */

import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import { isWebhookSecret } from '../contract/webhook-secret.js';

const SECRET_PREFIX = 'whsec_';

/** The headers of one signed delivery attempt. */
export interface SignedHeaders {
  'webhook-id': string;
  /** Unix seconds at send time. */
  'webhook-timestamp': string;
  /** Space-separated `v1,<base64>` entries, one per secret (rotation). */
  'webhook-signature': string;
}

/** Thrown for a secret that is not `whsec_` + base64 of 24 to 64 bytes. */
export class InvalidWebhookSecretError extends Error {
  override readonly name = 'InvalidWebhookSecretError';
  constructor() {
    super('invalid signing secret (must be "whsec_" followed by base64 of 24 to 64 bytes)');
  }
}

/** The HMAC key of a secret: the base64-decoded part after `whsec_`. Throws on a malformed secret. */
export function secretKey(secret: string): Buffer {
  if (!isWebhookSecret(secret)) throw new InvalidWebhookSecretError();
  return Buffer.from(secret.slice(SECRET_PREFIX.length), 'base64');
}

/** Prepared HMAC keys by secret: preparing the key costs several times the HMAC of a payload. */
const preparedKeys = new Map<string, KeyObject>();
const MAX_PREPARED_KEYS = 256;

function preparedKey(secret: string): KeyObject {
  let key = preparedKeys.get(secret);
  if (!key) {
    key = createSecretKey(secretKey(secret));
    // Bounded: jobs may each name their own secret. The oldest prepared key goes first.
    if (preparedKeys.size >= MAX_PREPARED_KEYS)
      preparedKeys.delete(preparedKeys.keys().next().value as string);
    preparedKeys.set(secret, key);
  }
  return key;
}

/** One `v1,<base64 HMAC-SHA256 of "${id}.${timestamp}.${body}">` signature. */
export function signature(secret: string, webhookId: string, timestampSeconds: number, body: string): string {
  const mac = createHmac('sha256', preparedKey(secret))
    .update(`${webhookId}.${timestampSeconds}.${body}`, 'utf8')
    .digest('base64');
  return `v1,${mac}`;
}

export interface SignInput {
  webhookId: string;
  /** Unix seconds; an integer (fractions are floored). */
  timestampSeconds: number;
  /** The exact request body. */
  body: string;
  /** Every active secret, primary first; at least one. */
  secrets: readonly string[];
}

/** The three Standard Webhooks headers, with one signature per secret. */
export function signHeaders(input: SignInput): SignedHeaders {
  if (input.secrets.length === 0) throw new Error('signHeaders needs at least one secret');
  const timestamp = Math.floor(input.timestampSeconds);
  return {
    'webhook-id': input.webhookId,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': input.secrets
      .map((secret) => signature(secret, input.webhookId, timestamp, input.body))
      .join(' '),
  };
}
