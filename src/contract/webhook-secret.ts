/** Standard Webhooks secret: `whsec_` + base64 of 24..64 random bytes. */
export function isWebhookSecret(secret: string): boolean {
  if (!secret.startsWith('whsec_')) return false;
  const b64 = secret.slice('whsec_'.length);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || b64.length % 4 !== 0) return false;
  const bytes = Buffer.from(b64, 'base64').length;
  return bytes >= 24 && bytes <= 64;
}
