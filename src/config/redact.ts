import { redisUrls, type SmadConfig } from './load.js';

const REDACTED = '[redacted]';

/** Hides a password in a connection URL, keeping the rest readable. */
export function redactUrlPassword(url: string): string {
  if (!URL.canParse(url)) return url;
  const parsed = new URL(url);
  if (parsed.password === '') return url;
  parsed.password = REDACTED;
  return parsed.toString();
}

/** The configuration as it may be printed or logged: secrets, tokens and passwords hidden. */
export function redactConfig(config: SmadConfig): SmadConfig {
  return {
    ...config,
    redis: {
      ...config.redis,
      // A cluster's nodes are a comma-separated list of URLs.
      url: redisUrls(config.redis.url).map(redactUrlPassword).join(','),
    },
    webhooks: { ...config.webhooks, secret: config.webhooks.secret.map(() => REDACTED) },
    http: { ...config.http, authTokens: config.http.authTokens.map(() => REDACTED) },
  };
}
