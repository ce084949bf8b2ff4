/**
 * The emulator's configuration: endpoints (as AsyncInferenceConfig would declare them),
 * global knobs, region and account. `parseEmulatorConfig` checks a raw JSON value and
 * names every problem at once.
 */
import { checkEndpointName } from '../contract/api-constraints.js';
import { checkKnobs, type Knobs } from './knobs.js';
import { defaultInlineInputPath, parseS3Uri } from './locations.js';

export const NOTIFICATION_TOPICS = ['SUCCESS_NOTIFICATION_TOPIC', 'ERROR_NOTIFICATION_TOPIC'] as const;
export type NotificationTopic = (typeof NOTIFICATION_TOPICS)[number];

export const DEFAULT_FAIL_REASON =
  'ClientError: Received server error (500) from model. See the SageMaker Endpoint logs in your account for more information.';

/** The model behind an endpoint. */
export type ModelConfig =
  /** Returns the input; honours the `{"emulator": {...}}` directive. */
  | { type: 'echo' }
  /** Always fails with `reason`. */
  | { type: 'fail'; reason: string }
  /** Waits `ms`, then echoes (directive honoured too). */
  | { type: 'sleep'; ms: number }
  /** A container speaking the SageMaker model contract (`GET /ping`, `POST /invocations`) at `url`. */
  | { type: 'container'; url: string; pingTimeoutMs: number };

export interface EndpointConfig {
  name: string;
  /** `s3://bucket/prefix` for outputs. */
  s3OutputPath: string;
  /** `s3://bucket/prefix` for failure objects; none written when absent. */
  s3FailurePath?: string;
  /** Where inline Body payloads are stored (default: `async-inputs` beside the output prefix). */
  inlineInputPath: string;
  successTopicArn?: string;
  errorTopicArn?: string;
  includeInferenceResponseIn: NotificationTopic[];
  model: ModelConfig;
  instances: number;
  maxConcurrentInvocationsPerInstance: number;
  /** Knob overrides for this endpoint. */
  knobs: Partial<Knobs>;
}

/** What a config file or caller may write for an endpoint: defaults fill the rest. */
export interface EndpointInput {
  name: string;
  s3OutputPath: string;
  s3FailurePath?: string | null;
  inlineInputPath?: string | null;
  successTopicArn?: string | null;
  errorTopicArn?: string | null;
  includeInferenceResponseIn?: NotificationTopic[];
  /** `'echo'`, `'fail'`, `'sleep'` or a full ModelConfig (defaults: reason, ms 1000, pingTimeoutMs 30000). */
  model?: 'echo' | 'fail' | 'sleep' | Partial<ModelConfig>;
  instances?: number;
  maxConcurrentInvocationsPerInstance?: number;
  knobs?: Partial<Knobs>;
}

export interface EmulatorConfig {
  endpoints: EndpointConfig[];
  knobs: Partial<Knobs>;
  /** `awsRegion` in notifications (default us-east-1). */
  region?: string;
  /** The account named in "Endpoint X of account N not found." (default 123456789012). */
  accountId?: string;
  /** PRNG seed for the ratio knobs. */
  seed?: number;
}

export interface EmulatorConfigInput {
  endpoints: EndpointInput[];
  knobs?: Partial<Knobs>;
  region?: string;
  accountId?: string;
  seed?: number;
}

export const ENDPOINT_DEFAULTS = { instances: 1, maxConcurrentInvocationsPerInstance: 4 } as const;

export class EmulatorConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid emulator configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'EmulatorConfigError';
  }
}

const TOPIC_ARN = /^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_.-]{1,256}$/;
const ENDPOINT_KEYS = [
  'name',
  's3OutputPath',
  's3FailurePath',
  'inlineInputPath',
  'successTopicArn',
  'errorTopicArn',
  'includeInferenceResponseIn',
  'model',
  'instances',
  'maxConcurrentInvocationsPerInstance',
  'knobs',
];
const TOP_KEYS = ['endpoints', 'knobs', 'region', 'accountId', 'seed'];

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function unknownKeys(
  value: Record<string, unknown>,
  known: string[],
  path: string,
  problems: string[],
): void {
  for (const key of Object.keys(value))
    if (!known.includes(key)) problems.push(`${path}.${key}: unknown key (known: ${known.join(', ')})`);
}

function s3Path(value: unknown, path: string, problems: string[]): string | undefined {
  if (typeof value !== 'string' || !parseS3Uri(value)) {
    problems.push(`${path}: must be an s3://bucket[/prefix] URI (was ${JSON.stringify(value)})`);
    return undefined;
  }
  return value.replace(/\/+$/, '');
}

function integer(
  value: unknown,
  fallback: number,
  min: number,
  max: number,
  path: string,
  problems: string[],
) {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    problems.push(`${path}: must be an integer from ${min} to ${max} (was ${JSON.stringify(value)})`);
    return fallback;
  }
  return value;
}

function parseModel(raw: unknown, path: string, problems: string[]): ModelConfig {
  const value = typeof raw === 'string' ? { type: raw } : (raw ?? { type: 'echo' });
  if (!isObject(value)) {
    problems.push(`${path}: must be "echo", "fail", "sleep" or an object with a type`);
    return { type: 'echo' };
  }
  switch (value.type) {
    case 'echo':
      unknownKeys(value, ['type'], path, problems);
      return { type: 'echo' };
    case 'fail': {
      unknownKeys(value, ['type', 'reason'], path, problems);
      if (value.reason !== undefined && (typeof value.reason !== 'string' || value.reason === ''))
        problems.push(`${path}.reason: must be a non-empty string`);
      return {
        type: 'fail',
        reason: typeof value.reason === 'string' && value.reason ? value.reason : DEFAULT_FAIL_REASON,
      };
    }
    case 'sleep':
      unknownKeys(value, ['type', 'ms'], path, problems);
      return { type: 'sleep', ms: integer(value.ms, 1000, 0, 3_600_000, `${path}.ms`, problems) };
    case 'container': {
      unknownKeys(value, ['type', 'url', 'pingTimeoutMs'], path, problems);
      let url = '';
      if (typeof value.url !== 'string' || !/^https?:\/\/[^/]+/.test(value.url))
        problems.push(
          `${path}.url: must be the container's http(s):// base URL (was ${JSON.stringify(value.url)})`,
        );
      else url = value.url.replace(/\/+$/, '');
      const pingTimeoutMs = integer(
        value.pingTimeoutMs,
        30_000,
        0,
        3_600_000,
        `${path}.pingTimeoutMs`,
        problems,
      );
      return { type: 'container', url, pingTimeoutMs };
    }
    default:
      problems.push(
        `${path}.type: must be "echo", "fail", "sleep" or "container" (was ${JSON.stringify(value.type)})`,
      );
      return { type: 'echo' };
  }
}

function topicArn(value: unknown, path: string, problems: string[]): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || !TOPIC_ARN.test(value)) {
    problems.push(
      `${path}: must be an SNS topic ARN arn:aws:sns:REGION:ACCOUNT:NAME (was ${JSON.stringify(value)})`,
    );
    return undefined;
  }
  return value;
}

function parseEndpoint(raw: unknown, path: string, problems: string[]): EndpointConfig | undefined {
  if (!isObject(raw)) {
    problems.push(`${path}: must be an object with at least name and s3OutputPath`);
    return undefined;
  }
  unknownKeys(raw, ENDPOINT_KEYS, path, problems);
  let name = '';
  if (typeof raw.name !== 'string') problems.push(`${path}.name: required string`);
  else {
    const problem = checkEndpointName(raw.name);
    if (problem) problems.push(`${path}.name: ${JSON.stringify(raw.name)} ${problem}`);
    name = raw.name;
  }
  const label = name ? `endpoints[${name}]` : path;
  const s3OutputPath = s3Path(raw.s3OutputPath, `${label}.s3OutputPath`, problems) ?? '';
  const endpoint: EndpointConfig = {
    name,
    s3OutputPath,
    inlineInputPath: '',
    includeInferenceResponseIn: [],
    model: parseModel(raw.model, `${label}.model`, problems),
    instances: integer(raw.instances, ENDPOINT_DEFAULTS.instances, 1, 1000, `${label}.instances`, problems),
    maxConcurrentInvocationsPerInstance: integer(
      raw.maxConcurrentInvocationsPerInstance,
      ENDPOINT_DEFAULTS.maxConcurrentInvocationsPerInstance,
      1,
      1000,
      `${label}.maxConcurrentInvocationsPerInstance`,
      problems,
    ),
    knobs: {},
  };
  if (raw.s3FailurePath !== undefined && raw.s3FailurePath !== null) {
    const failure = s3Path(raw.s3FailurePath, `${label}.s3FailurePath`, problems);
    if (failure) endpoint.s3FailurePath = failure;
  }
  if (raw.inlineInputPath !== undefined && raw.inlineInputPath !== null) {
    endpoint.inlineInputPath = s3Path(raw.inlineInputPath, `${label}.inlineInputPath`, problems) ?? '';
  } else if (s3OutputPath) {
    endpoint.inlineInputPath = defaultInlineInputPath(s3OutputPath);
  }
  const success = topicArn(raw.successTopicArn, `${label}.successTopicArn`, problems);
  if (success) endpoint.successTopicArn = success;
  const error = topicArn(raw.errorTopicArn, `${label}.errorTopicArn`, problems);
  if (error) endpoint.errorTopicArn = error;
  if (raw.includeInferenceResponseIn !== undefined && raw.includeInferenceResponseIn !== null) {
    const list = raw.includeInferenceResponseIn;
    if (!Array.isArray(list) || list.some((v) => !NOTIFICATION_TOPICS.includes(v as NotificationTopic)))
      problems.push(
        `${label}.includeInferenceResponseIn: must be an array of ${NOTIFICATION_TOPICS.join(' / ')} (was ${JSON.stringify(list)})`,
      );
    else endpoint.includeInferenceResponseIn = [...new Set(list as NotificationTopic[])];
  }
  const knobs = checkKnobs(raw.knobs, `${label}.knobs`);
  problems.push(...knobs.problems);
  endpoint.knobs = knobs.knobs;
  return endpoint;
}

/** Checks a configuration (a parsed JSON file or an object from a test); throws EmulatorConfigError naming every problem. */
export function parseEmulatorConfig(raw: unknown): EmulatorConfig {
  const problems: string[] = [];
  if (!isObject(raw))
    throw new EmulatorConfigError(['the configuration must be a JSON object with "endpoints"']);
  unknownKeys(raw, TOP_KEYS, 'config', problems);
  const endpoints: EndpointConfig[] = [];
  if (!Array.isArray(raw.endpoints) || raw.endpoints.length === 0) {
    problems.push('endpoints: must be a non-empty array of endpoint objects');
  } else {
    const seen = new Set<string>();
    raw.endpoints.forEach((item, index) => {
      const endpoint = parseEndpoint(item, `endpoints[${index}]`, problems);
      if (!endpoint) return;
      if (endpoint.name && seen.has(endpoint.name))
        problems.push(`endpoints[${index}].name: duplicate endpoint name ${JSON.stringify(endpoint.name)}`);
      seen.add(endpoint.name);
      endpoints.push(endpoint);
    });
  }
  const knobs = checkKnobs(raw.knobs, 'knobs');
  problems.push(...knobs.problems);
  const config: EmulatorConfig = { endpoints, knobs: knobs.knobs };
  if (raw.region !== undefined) {
    if (typeof raw.region !== 'string' || !/^[a-z]{2}(-[a-z]+)+-\d+$/.test(raw.region))
      problems.push(
        `region: must be an AWS region name such as us-east-1 (was ${JSON.stringify(raw.region)})`,
      );
    else config.region = raw.region;
  }
  if (raw.accountId !== undefined) {
    if (typeof raw.accountId !== 'string' || !/^\d{12}$/.test(raw.accountId))
      problems.push(`accountId: must be 12 digits (was ${JSON.stringify(raw.accountId)})`);
    else config.accountId = raw.accountId;
  }
  if (raw.seed !== undefined) {
    if (typeof raw.seed !== 'number' || !Number.isInteger(raw.seed) || raw.seed < 0 || raw.seed >= 2 ** 32)
      problems.push(`seed: must be an integer from 0 to 2^32-1 (was ${JSON.stringify(raw.seed)})`);
    else config.seed = raw.seed;
  }
  if (problems.length > 0) throw new EmulatorConfigError(problems);
  return config;
}
