import convict from 'convict';
import { isWebhookSecret } from '../contract/webhook-secret.js';

export { isWebhookSecret };

/** Roles a smad process can run; any subset runs in one process. */
export const ROLES = ['dispatcher', 'completions', 'webhooks', 'http'] as const;
export type Role = (typeof ROLES)[number];

const DEFAULT_WEBHOOK_SCHEDULE = [0, 5, 300, 1800, 7200, 18000, 36000, 36000];

/** The items of a comma-separated setting, trimmed, empty ones dropped. */
export function splitCommaList(text: string): string[] {
  return text
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v.length > 0);
}

function commaList(value: unknown): string[] {
  if (Array.isArray(value)) return value.map((v) => String(v).trim()).filter((v) => v.length > 0);
  if (typeof value === 'string') return splitCommaList(value);
  throw new Error('must be a list (JSON array, or a comma-separated string)');
}

const TRUE_WORDS = new Set(['true', '1', 'yes', 'on']);
const FALSE_WORDS = new Set(['false', '0', 'no', 'off']);

/** Booleans that refuse what they do not understand (convict's own reads any text but "false" as true). */
convict.addFormat({
  name: 'strict-boolean',
  coerce(value: unknown) {
    if (typeof value !== 'string') return value;
    const word = value.trim().toLowerCase();
    if (TRUE_WORDS.has(word)) return true;
    if (FALSE_WORDS.has(word)) return false;
    return value;
  },
  validate(value: unknown) {
    if (typeof value !== 'boolean')
      throw new Error('must be true or false (also accepted: 1/0, yes/no, on/off)');
  },
});

convict.addFormat({
  name: 'positive-int',
  coerce: (value: unknown) =>
    typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value) : value,
  validate(value: unknown) {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1)
      throw new Error('must be an integer >= 1');
  },
});

convict.addFormat({
  name: 'role-list',
  coerce: commaList,
  validate(value: unknown) {
    const list = commaList(value);
    if (list.length === 0) throw new Error(`must name at least one role of ${ROLES.join(', ')}`);
    for (const role of list) {
      if (!(ROLES as readonly string[]).includes(role))
        throw new Error(`unknown role "${role}" (roles: ${ROLES.join(', ')})`);
    }
  },
});

convict.addFormat({
  name: 'string-list',
  coerce: commaList,
  validate(value: unknown) {
    commaList(value);
  },
});

convict.addFormat({
  name: 'url-list',
  coerce: commaList,
  validate(value: unknown) {
    for (const item of commaList(value)) {
      if (!URL.canParse(item)) throw new Error(`"${item}" is not a URL`);
    }
  },
});

convict.addFormat({
  name: 'optional-url',
  validate(value: unknown) {
    if (value === '' || value === null || value === undefined) return;
    if (typeof value !== 'string' || !URL.canParse(value)) throw new Error('must be an http(s) URL or empty');
    const { protocol } = new URL(value);
    if (protocol !== 'http:' && protocol !== 'https:') throw new Error('must be an http(s) URL or empty');
  },
});

convict.addFormat({
  name: 'redis-url',
  validate(value: unknown) {
    // One URL; several, comma-separated, name the startup nodes of a cluster (redis.cluster).
    const urls = typeof value === 'string' ? splitCommaList(value) : [];
    if (urls.length === 0 || urls.some((u) => !URL.canParse(u)))
      throw new Error('must be a redis:// or rediss:// URL (or, for redis.cluster, a comma-separated list)');
    for (const u of urls) {
      const { protocol } = new URL(u);
      if (protocol !== 'redis:' && protocol !== 'rediss:')
        throw new Error(
          'must be a redis:// or rediss:// URL (or, for redis.cluster, a comma-separated list)',
        );
    }
  },
});

convict.addFormat({
  name: 's3-uri-or-empty',
  validate(value: unknown) {
    if (value === '') return;
    if (typeof value !== 'string' || !/^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/.*)?$/.test(value))
      throw new Error('must be an s3://bucket/prefix URI or empty');
  },
});

convict.addFormat({
  name: 'webhook-secrets',
  coerce: commaList,
  validate(value: unknown) {
    for (const secret of commaList(value)) {
      if (!isWebhookSecret(secret))
        throw new Error('each secret must be "whsec_" followed by base64 of 24-64 bytes');
    }
  },
});

convict.addFormat({
  name: 'seconds-list',
  coerce: (value: unknown) => commaList(value).map(Number),
  validate(value: unknown) {
    const list = commaList(value).map(Number);
    if (list.length === 0) throw new Error('must list at least one delay');
    for (const n of list) {
      if (!Number.isFinite(n) || n < 0) throw new Error('each delay must be a number of seconds >= 0');
    }
  },
});

convict.addFormat({
  name: 'policy',
  validate(value: unknown) {
    if (value !== 'delete' && value !== 'retain') throw new Error('must be "delete" or "retain"');
  },
});

/**
 * The single source of every setting. Each key documents itself; `npm run docs:config`
 * renders this into the README's configuration reference.
 */
export const schemaDefinition = {
  redis: {
    url: {
      doc: 'Redis connection URL; with redis.cluster, one or more nodes of the cluster, comma-separated. Redis must run with maxmemory-policy noeviction (and AOF in production).',
      format: 'redis-url',
      default: 'redis://127.0.0.1:6379',
      env: 'SMAD_REDIS_URL',
      sensitive: false,
    },
    cluster: {
      doc: 'Connect to a Redis Cluster: redis.url then lists one or more of its nodes, comma-separated (the rest are discovered), and queue.prefix must hold a hash tag such as {smad} so that every key lands in one slot.',
      format: 'strict-boolean',
      default: false,
      env: 'SMAD_REDIS_CLUSTER',
    },
  },
  queue: {
    name: {
      doc: 'BullMQ queue that producers add inference jobs to.',
      format: (v: unknown) => {
        if (typeof v !== 'string' || !/^[A-Za-z0-9_.-]{1,100}$/.test(v))
          throw new Error('must be 1-100 characters of letters, digits, "_", "." or "-"');
      },
      default: 'inference',
      env: 'SMAD_QUEUE_NAME',
    },
    prefix: {
      doc: 'BullMQ key prefix; smad keeps its own keys under it too. Use a hash tag such as {smad} on Redis Cluster.',
      format: (v: unknown) => {
        if (typeof v !== 'string' || v.length === 0 || v.length > 100 || /\s|:/.test(v))
          throw new Error('must be 1-100 characters without spaces or ":"');
      },
      default: 'smad',
      env: 'SMAD_QUEUE_PREFIX',
    },
  },
  roles: {
    doc: `Roles this process runs, any subset of ${ROLES.join(', ')}.`,
    format: 'role-list',
    default: [...ROLES] as string[],
    env: 'SMAD_ROLES',
  },
  dispatch: {
    concurrency: {
      doc: 'InvokeEndpointAsync calls in progress at once in this process.',
      format: 'positive-int',
      default: 16,
      env: 'SMAD_DISPATCH_CONCURRENCY',
    },
    maxAttempts: {
      doc: 'Attempts for retryable API errors (throttling, 5xx, network) before dispatch_failed.',
      format: 'positive-int',
      default: 8,
      env: 'SMAD_DISPATCH_MAX_ATTEMPTS',
    },
    backoffBaseMs: {
      doc: 'First retry delay; doubles per attempt, with full jitter.',
      format: 'nat',
      default: 1000,
      env: 'SMAD_DISPATCH_BACKOFF_BASE_MS',
    },
    backoffMaxMs: {
      doc: 'Upper bound of one retry delay.',
      format: 'nat',
      default: 60000,
      env: 'SMAD_DISPATCH_BACKOFF_MAX_MS',
    },
    maxInlineBytes: {
      doc: 'Largest decoded inline body accepted; larger jobs are rejected (bodies over 128,000 bytes are staged to S3).',
      format: 'nat',
      default: 10 * 1024 * 1024,
      env: 'SMAD_DISPATCH_MAX_INLINE_BYTES',
    },
    forceStaging: {
      doc: 'Stage every inline body to staging.s3Uri, even those small enough to send as Body.',
      format: 'strict-boolean',
      default: false,
      env: 'SMAD_DISPATCH_FORCE_STAGING',
    },
    lockDurationMs: {
      doc: "Lock on a job being dispatched (renewed while the call runs). A crashed process's jobs are picked up again at most this plus stalledIntervalMs later.",
      format: 'nat',
      default: 30000,
      env: 'SMAD_DISPATCH_LOCK_DURATION_MS',
    },
    stalledIntervalMs: {
      doc: 'How often each dispatcher looks for jobs whose process died mid-dispatch.',
      format: 'nat',
      default: 30000,
      env: 'SMAD_DISPATCH_STALLED_INTERVAL_MS',
    },
    requestTimeoutMs: {
      doc: 'Timeout of one InvokeEndpointAsync HTTP request; a timeout is retried.',
      format: 'nat',
      default: 30000,
      env: 'SMAD_DISPATCH_REQUEST_TIMEOUT_MS',
    },
  },
  endpoints: {
    doc: 'Per-endpoint policies keyed by endpoint name, "*" the default: maxTps, burst, maxInFlight, region, notifications.',
    // Convict only treats an object value as one setting when its format is Object;
    // loadConfig validates the entries with parseEndpointPolicies.
    format: Object,
    default: { '*': { maxTps: 20, maxInFlight: 500 } } as Record<string, unknown>,
  },
  limits: {
    accountMaxTps: {
      doc: 'Calls per second across every endpoint and process; 0 means no account-wide limit.',
      format: 'nat',
      default: 0,
      env: 'SMAD_LIMITS_ACCOUNT_MAX_TPS',
    },
  },
  flow: {
    decreaseFactor: {
      doc: 'Throttling or 503 from an endpoint multiplies its effective rate by this (shared by every process).',
      format: (v: unknown) => {
        if (typeof v !== 'number' || !(v > 0 && v < 1)) throw new Error('must be a number between 0 and 1');
      },
      default: 0.5,
      env: 'SMAD_FLOW_DECREASE_FACTOR',
    },
    recoverySeconds: {
      doc: 'Time for a throttled endpoint to grow back linearly from zero to its maxTps while answers are clean.',
      format: 'nat',
      default: 20,
      env: 'SMAD_FLOW_RECOVERY_SECONDS',
    },
    slowDownCooldownMs: {
      doc: 'At most one decrease per endpoint in this time, however many throttles arrive.',
      format: 'nat',
      default: 1000,
      env: 'SMAD_FLOW_SLOW_DOWN_COOLDOWN_MS',
    },
    windowMarginMs: {
      doc: 'Slack on the 1 s rate window: calls are spaced (1 s + margin) / maxTps apart, so latency jitter never crowds 1 s at the endpoint (achieved rate ≈ 1000 / (1000 + margin) of maxTps).',
      format: 'nat',
      default: 20,
      env: 'SMAD_FLOW_WINDOW_MARGIN_MS',
    },
    waitFallbackSeconds: {
      doc: 'A job waiting for an in-flight slot is woken when one frees; at the latest after this long times its place in the queue in rounds of maxInFlight (at most a day).',
      format: 'nat',
      default: 30,
      env: 'SMAD_FLOW_WAIT_FALLBACK_SECONDS',
    },
  },
  staging: {
    s3Uri: {
      doc: 'Where inline bodies over 128,000 bytes are uploaded (s3://bucket/prefix); empty disables staging.',
      format: 's3-uri-or-empty',
      default: '',
      env: 'SMAD_STAGING_S3_URI',
    },
  },
  expiry: {
    graceSeconds: {
      doc: 'Added to submission + RequestTTLSeconds + InvocationTimeoutSeconds to form the deadline of an inference.',
      format: 'nat',
      default: 300,
      env: 'SMAD_EXPIRY_GRACE_SECONDS',
    },
    timeScale: {
      doc: "Multiplies every expiry duration (TTL, invocation timeout, grace, S3 poll delays). 1 in production; with the emulator's matching timeScale, tests and the demo see deadlines in milliseconds.",
      format: (v: unknown) => {
        if (typeof v !== 'number' || !(v > 0 && v <= 1))
          throw new Error('must be a number greater than 0 and at most 1');
      },
      default: 1,
      env: 'SMAD_EXPIRY_TIME_SCALE',
    },
    pollFirstSeconds: {
      doc: 'For endpoints with notifications off: first S3 check this long after submission.',
      format: 'nat',
      default: 15,
      env: 'SMAD_EXPIRY_POLL_FIRST_SECONDS',
    },
    pollMaxSeconds: {
      doc: 'For endpoints with notifications off: the S3 check interval grows up to this.',
      format: 'nat',
      default: 300,
      env: 'SMAD_EXPIRY_POLL_MAX_SECONDS',
    },
    checkGiveUpSeconds: {
      doc: 'After the deadline, how long an S3 check that keeps failing (AccessDenied for a missing object without s3:ListBucket, a deleted bucket) is tried again before the inference expires with the S3 error as its reason.',
      format: 'nat',
      default: 3600,
      env: 'SMAD_EXPIRY_CHECK_GIVE_UP_SECONDS',
    },
  },
  completions: {
    queueUrls: {
      doc: 'SQS queues receiving SageMaker success/error notifications (SNS envelope or raw delivery).',
      format: 'url-list',
      default: [] as string[],
      env: 'SMAD_COMPLETIONS_QUEUE_URL',
    },
    pollers: {
      doc: 'Receive loops per queue, so that several batches are handled at once.',
      format: 'nat',
      default: 2,
      env: 'SMAD_COMPLETIONS_POLLERS',
    },
    waitTimeSeconds: {
      doc: 'SQS long-poll wait (0-20 s). A graceful stop lets the poll in progress finish, so this also bounds shutdown.',
      format: (v: unknown) => {
        if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 20)
          throw new Error('must be an integer from 0 to 20');
      },
      default: 10,
      env: 'SMAD_COMPLETIONS_WAIT_TIME_SECONDS',
    },
    visibilityTimeoutSeconds: {
      doc: 'Visibility timeout asked for on receive; extended while a message is being handled.',
      format: 'nat',
      default: 60,
      env: 'SMAD_COMPLETIONS_VISIBILITY_TIMEOUT_SECONDS',
    },
    unknownPolicy: {
      doc: 'Notifications for inference ids smad has no record of: "delete" (logged, counted) or "retain" (left for the redrive policy).',
      format: 'policy',
      default: 'delete',
      env: 'SMAD_COMPLETIONS_UNKNOWN_POLICY',
    },
    malformedPolicy: {
      doc: 'Messages that are not valid notifications: "delete" (logged, counted) or "retain" (left for the redrive policy).',
      format: 'policy',
      default: 'retain',
      env: 'SMAD_COMPLETIONS_MALFORMED_POLICY',
    },
  },
  webhooks: {
    defaultUrl: {
      doc: 'Webhook target for jobs that name none; empty means no delivery (events are still recorded).',
      format: 'optional-url',
      default: '',
      env: 'SMAD_WEBHOOK_URL',
    },
    secret: {
      doc: 'Signing secrets (whsec_...), comma-separated; each one adds a v1 signature, so secrets rotate without downtime.',
      format: 'webhook-secrets',
      default: [] as string[],
      env: 'SMAD_WEBHOOK_SECRET',
      sensitive: true,
    },
    allowPrivateNetworks: {
      doc: 'Allow delivery to loopback, link-local and private addresses (refused by default).',
      format: 'strict-boolean',
      default: false,
      env: 'SMAD_WEBHOOK_ALLOW_PRIVATE_NETWORKS',
    },
    allowList: {
      doc: 'Hosts or CIDRs allowed even though private (e.g. "10.1.0.0/16,hooks.internal").',
      format: 'string-list',
      default: [] as string[],
      env: 'SMAD_WEBHOOK_ALLOW_LIST',
    },
    scheduleSeconds: {
      doc: 'Delay before each delivery attempt, in seconds; its length is the number of attempts.',
      format: 'seconds-list',
      default: DEFAULT_WEBHOOK_SCHEDULE,
      env: 'SMAD_WEBHOOK_SCHEDULE_SECONDS',
    },
    timeoutSeconds: {
      doc: 'Time allowed for one delivery attempt.',
      format: 'positive-int',
      default: 15,
      env: 'SMAD_WEBHOOK_TIMEOUT_SECONDS',
    },
    concurrency: {
      doc: 'Delivery attempts in progress at once in this process, for first attempts (the outbox relay) and for retries (the delivery worker) each.',
      format: 'positive-int',
      default: 16,
      env: 'SMAD_WEBHOOK_CONCURRENCY',
    },
    presignSeconds: {
      doc: 'When > 0, payloads carry presigned GET URLs for the output and failure objects, valid this long.',
      format: 'nat',
      default: 0,
      env: 'SMAD_WEBHOOK_PRESIGN_SECONDS',
    },
    inlineResponseMaxBytes: {
      doc: 'When > 0, a response body embedded in the notification and at most this size is included in the payload.',
      format: 'nat',
      default: 0,
      env: 'SMAD_WEBHOOK_INLINE_RESPONSE_MAX_BYTES',
    },
  },
  http: {
    port: {
      doc: 'Port of the HTTP API (intake, status, health, metrics); 0 picks a free one.',
      format: 'port',
      default: 8080,
      env: 'SMAD_HTTP_PORT',
    },
    host: {
      doc: 'Address the HTTP API listens on.',
      format: String,
      default: '0.0.0.0',
      env: 'SMAD_HTTP_HOST',
    },
    auth: {
      doc: 'Require a bearer token from http.authTokens on intake and status routes. Turn off only behind your own auth.',
      format: 'strict-boolean',
      default: true,
      env: 'SMAD_HTTP_AUTH',
    },
    authTokens: {
      doc: 'Accepted bearer tokens, comma-separated.',
      format: 'string-list',
      default: [] as string[],
      env: 'SMAD_HTTP_AUTH_TOKENS',
      sensitive: true,
    },
    bodyLimitBytes: {
      doc: 'Largest request body accepted by the HTTP API.',
      format: 'nat',
      default: 16 * 1024 * 1024,
      env: 'SMAD_HTTP_BODY_LIMIT_BYTES',
    },
  },
  ledger: {
    retentionDays: {
      doc: 'How long resolved ledger records (and finished jobs) are kept.',
      format: 'nat',
      default: 7,
      env: 'SMAD_LEDGER_RETENTION_DAYS',
    },
  },
  shutdown: {
    timeoutSeconds: {
      doc: 'On SIGTERM/SIGINT, in-flight work has this long to finish or be handed back before exit.',
      format: 'positive-int',
      default: 30,
      env: 'SMAD_SHUTDOWN_TIMEOUT_SECONDS',
    },
  },
  log: {
    level: {
      doc: 'pino log level.',
      format: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
      default: 'info',
      env: 'SMAD_LOG_LEVEL',
    },
  },
};
