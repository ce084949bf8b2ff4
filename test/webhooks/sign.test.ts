import { randomBytes } from 'node:crypto';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { InvalidWebhookSecretError, secretKey, signature, signHeaders } from '../../src/webhooks/sign.js';

const newSecret = (bytes = 32) => `whsec_${randomBytes(bytes).toString('base64')}`;
const now = () => Math.floor(Date.now() / 1000);

describe('Standard Webhooks signing', () => {
  it('produces the same signature as the reference implementation', () => {
    const secret = newSecret();
    const body = JSON.stringify({ type: 'inference.completed', data: { text: 'héllo ✓' } });
    const ts = now();
    expect(signature(secret, 'msg_abc', ts, body)).toBe(
      new Webhook(secret).sign('msg_abc', new Date(ts * 1000), body),
    );
  });

  it('signs headers that standardwebhooks verifies, and returns the parsed body', () => {
    const secret = newSecret(24);
    const body = '{"type":"inference.failed","data":{"n":1}}';
    const headers = signHeaders({ webhookId: 'msg_1', timestampSeconds: now(), body, secrets: [secret] });
    expect(headers['webhook-id']).toBe('msg_1');
    expect(headers['webhook-timestamp']).toMatch(/^\d+$/);
    expect(headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    expect(new Webhook(secret).verify(body, { ...headers })).toEqual(JSON.parse(body));
  });

  it('adds one v1 signature per secret, so either secret verifies during rotation', () => {
    const [a, b] = [newSecret(), newSecret(64)];
    const body = '{"x":true}';
    const headers = signHeaders({ webhookId: 'msg_2', timestampSeconds: now(), body, secrets: [a, b] });
    expect(headers['webhook-signature'].split(' ')).toHaveLength(2);
    expect(() => new Webhook(a).verify(body, { ...headers })).not.toThrow();
    expect(() => new Webhook(b).verify(body, { ...headers })).not.toThrow();
  });

  it('is rejected with a wrong secret, a changed body or a changed id', () => {
    const secret = newSecret();
    const body = '{"x":1}';
    const headers = {
      ...signHeaders({ webhookId: 'msg_3', timestampSeconds: now(), body, secrets: [secret] }),
    };
    expect(() => new Webhook(newSecret()).verify(body, headers)).toThrow(WebhookVerificationError);
    expect(() => new Webhook(secret).verify('{"x":2}', headers)).toThrow(WebhookVerificationError);
    expect(() => new Webhook(secret).verify(body, { ...headers, 'webhook-id': 'msg_4' })).toThrow(
      WebhookVerificationError,
    );
  });

  it('floors fractional timestamps (the header carries whole seconds)', () => {
    const secret = newSecret();
    const ts = now() + 0.75;
    const headers = signHeaders({ webhookId: 'msg_5', timestampSeconds: ts, body: '{}', secrets: [secret] });
    expect(headers['webhook-timestamp']).toBe(String(Math.floor(ts)));
    expect(() => new Webhook(secret).verify('{}', { ...headers })).not.toThrow();
  });

  it('refuses malformed secrets and an empty secret list (never signs with nothing)', () => {
    expect(() => secretKey('not-a-secret')).toThrow(InvalidWebhookSecretError);
    expect(() => secretKey(`whsec_${randomBytes(8).toString('base64')}`)).toThrow(InvalidWebhookSecretError);
    expect(secretKey(`whsec_${Buffer.alloc(24, 7).toString('base64')}`)).toEqual(Buffer.alloc(24, 7));
    expect(() =>
      signHeaders({ webhookId: 'msg_6', timestampSeconds: now(), body: '{}', secrets: [] }),
    ).toThrow();
  });
});
