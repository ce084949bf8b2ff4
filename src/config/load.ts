import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import convict from 'convict';
import { ConfigError } from './config-error.js';
import { type EndpointPolicies, parseEndpointPolicies } from './endpoint-policies.js';
import { type Role, schemaDefinition, splitCommaList } from './schema.js';

/** The effective configuration, typed. Every key is documented in `schema.ts`. */
export interface SmadConfig {
  redis: { url: string; cluster: boolean };
  queue: { name: string; prefix: string };
  roles: Role[];
  dispatch: {
    concurrency: number;
    maxAttempts: number;
    backoffBaseMs: number;
    backoffMaxMs: number;
    maxInlineBytes: number;
    forceStaging: boolean;
    requestTimeoutMs: number;
    lockDurationMs: number;
    stalledIntervalMs: number;
  };
  endpoints: EndpointPolicies;
  limits: { accountMaxTps: number };
  flow: {
    decreaseFactor: number;
    recoverySeconds: number;
    slowDownCooldownMs: number;
    windowMarginMs: number;
    waitFallbackSeconds: number;
  };
  staging: { s3Uri: string };
  expiry: {
    graceSeconds: number;
    timeScale: number;
    pollFirstSeconds: number;
    pollMaxSeconds: number;
    checkGiveUpSeconds: number;
  };
  completions: {
    queueUrls: string[];
    pollers: number;
    waitTimeSeconds: number;
    visibilityTimeoutSeconds: number;
    unknownPolicy: 'delete' | 'retain';
    malformedPolicy: 'delete' | 'retain';
  };
  webhooks: {
    defaultUrl: string;
    secret: string[];
    allowPrivateNetworks: boolean;
    allowList: string[];
    scheduleSeconds: number[];
    timeoutSeconds: number;
    concurrency: number;
    presignSeconds: number;
    inlineResponseMaxBytes: number;
  };
  http: { port: number; host: string; auth: boolean; authTokens: string[]; bodyLimitBytes: number };
  ledger: { retentionDays: number };
  shutdown: { timeoutSeconds: number };
  log: { level: string };
}

export interface LoadOptions {
  /** Files given by --config (in order); SMAD_CONFIG (comma-separated) is read from env as well. */
  files?: string[];
  /** Environment to read SMAD_* variables from; defaults to process.env. */
  env?: NodeJS.ProcessEnv;
  /** Values from command-line flags, by dotted key (highest precedence). */
  overrides?: Record<string, unknown>;
  /** Skip the packaged config/default.json (tests). */
  skipDefaultFile?: boolean;
}

const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DEFAULT_CONFIG_FILE = resolve(PACKAGE_ROOT, 'config', 'default.json');

function readJsonFile(file: string, problems: string[]): Record<string, unknown> | undefined {
  if (!existsSync(file)) {
    problems.push(`config file ${file}: not found`);
    return undefined;
  }
  try {
    const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      problems.push(`config file ${file}: must hold a JSON object`);
      return undefined;
    }
    return parsed as Record<string, unknown>;
  } catch (err) {
    // V8's message quotes the text around the error, which may be a secret: keep only where.
    const position = /position (\d+)/.exec((err as Error).message)?.[1];
    let where = '';
    if (position !== undefined) {
      const before = readFileSync(file, 'utf8').slice(0, Number(position));
      const line = before.split('\n').length;
      const column = Number(position) - before.lastIndexOf('\n');
      where = ` at line ${line}, column ${column}`;
    }
    problems.push(`config file ${file}: not valid JSON${where}`);
    return undefined;
  }
}

/** Convict's messages include the offending value; never echo a secret or a password back. */
function redactProblem(line: string, sensitiveKeys: string[]): string {
  for (const key of sensitiveKeys) {
    if (line.startsWith(`${key}:`)) return line.replace(/: value was .*$/s, ': value was [redacted]');
  }
  // Any URL with credentials (redis.url, a webhook URL...) loses its password.
  return line.replace(/([a-z][a-z0-9+.-]*:\/\/[^\s:/@"]*):[^\s@/"]*@/gi, '$1:[redacted]@');
}

export const SENSITIVE_KEYS = ['webhooks.secret', 'http.authTokens'];

/**
 * Loads the configuration: defaults, config/default.json, --config / SMAD_CONFIG files,
 * SMAD_* environment variables, then flags. Throws ConfigError naming every bad key.
 */
export function loadConfig(options: LoadOptions = {}): SmadConfig {
  const env = options.env ?? process.env;
  const problems: string[] = [];
  const config = convict(schemaDefinition, { env, args: [] });
  const files: string[] = [];
  if (!options.skipDefaultFile && existsSync(DEFAULT_CONFIG_FILE)) files.push(DEFAULT_CONFIG_FILE);
  const fromEnv = splitCommaList(env.SMAD_CONFIG ?? '');
  files.push(...fromEnv, ...(options.files ?? []));
  for (const file of files) {
    const data = readJsonFile(resolve(file), problems);
    if (data) {
      try {
        config.load(data);
      } catch (err) {
        problems.push(`config file ${file}: ${(err as Error).message}`);
      }
    }
  }
  // Environment variables outrank files: convict applied them at construction, so re-apply.
  for (const [key, value] of Object.entries(envOverrides(env))) {
    try {
      config.set(key, value);
    } catch (err) {
      problems.push(`${key}: ${(err as Error).message}`);
    }
  }
  for (const [key, value] of Object.entries(options.overrides ?? {})) {
    if (value === undefined) continue;
    try {
      config.set(key, value);
    } catch (err) {
      problems.push(`${key}: ${(err as Error).message}`);
    }
  }
  try {
    config.validate({ allowed: 'strict' });
  } catch (err) {
    for (const line of (err as Error).message.split('\n')) {
      if (line.trim().length > 0) problems.push(redactProblem(line.trim(), SENSITIVE_KEYS));
    }
  }
  const value = config.getProperties() as unknown as SmadConfig;
  let endpoints: EndpointPolicies = {};
  try {
    endpoints = parseEndpointPolicies(value.endpoints);
  } catch (err) {
    problems.push(`endpoints: ${(err as Error).message}`);
  }
  problems.push(...redisTopologyProblems(value));
  if (problems.length > 0) throw new ConfigError(problems);
  return { ...value, endpoints };
}

/** The URLs in a `redis.url` setting (one, or several comma-separated for a cluster). */
export function redisUrls(url: string): string[] {
  return splitCommaList(url);
}

/**
 * The hash tag of a key prefix: what Redis Cluster hashes instead of the whole key (the text
 * between the first `{` and the next `}`, when not empty); undefined when it has none.
 */
export function hashTagOf(prefix: string): string | undefined {
  const open = prefix.indexOf('{');
  if (open < 0) return undefined;
  const close = prefix.indexOf('}', open + 1);
  if (close <= open + 1) return undefined;
  return prefix.slice(open + 1, close);
}

/**
 * redis.url, redis.cluster and queue.prefix together: several URLs name a cluster's nodes,
 * and on a cluster every key must share one hash slot (the Lua scripts of smad and BullMQ
 * touch several keys at once), which only a hash tag in the prefix guarantees.
 */
function redisTopologyProblems(value: Pick<SmadConfig, 'redis' | 'queue'>): string[] {
  const { url, cluster } = value.redis ?? {};
  if (typeof url !== 'string' || typeof cluster !== 'boolean') return [];
  const urls = redisUrls(url);
  if (!cluster) {
    return urls.length > 1
      ? [
          'redis.url: several URLs name the nodes of a Redis Cluster: set redis.cluster to true (SMAD_REDIS_CLUSTER=true), or give one URL',
        ]
      : [];
  }
  const problems: string[] = [];
  const prefix = value.queue?.prefix;
  if (typeof prefix === 'string' && prefix !== '' && hashTagOf(prefix) === undefined)
    problems.push(
      `queue.prefix: with redis.cluster every key must share one hash slot, so the prefix needs a hash tag such as {${prefix}} (was "${prefix}")`,
    );
  for (const u of urls) {
    if (!URL.canParse(u)) continue;
    const { host, pathname } = new URL(u);
    const db = pathname.replace(/^\//, '');
    if (db !== '' && db !== '0')
      problems.push(
        `redis.url: a Redis Cluster has only database 0 (the URL of ${host} names database ${db})`,
      );
  }
  return problems;
}

/** Maps SMAD_* variables present in env to their dotted keys, as the schema declares them. */
function envOverrides(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (node: Record<string, unknown>, path: string[]) => {
    for (const [name, child] of Object.entries(node)) {
      if (typeof child !== 'object' || child === null) continue;
      const spec = child as Record<string, unknown>;
      if ('doc' in spec && 'default' in spec) {
        const variable = spec.env;
        if (typeof variable === 'string' && env[variable] !== undefined)
          out[[...path, name].join('.')] = env[variable] as string;
      } else {
        walk(spec, [...path, name]);
      }
    }
  };
  walk(schemaDefinition as unknown as Record<string, unknown>, []);
  return out;
}

/** SMAD_* variables in env that no setting reads (a misspelling is otherwise silently ignored). */
export function unknownSmadVariables(env: NodeJS.ProcessEnv = process.env): string[] {
  const known = new Set<string>([
    'SMAD_CONFIG',
    'SMAD_TEST_KILL_AFTER_INVOKE',
    'SMAD_TEST_KILL_AFTER_RESOLUTIONS',
    'SMAD_TEST_LOG',
  ]);
  const walk = (node: Record<string, unknown>) => {
    for (const child of Object.values(node)) {
      if (typeof child !== 'object' || child === null) continue;
      const spec = child as Record<string, unknown>;
      if ('doc' in spec && 'default' in spec) {
        if (typeof spec.env === 'string') known.add(spec.env);
      } else walk(spec);
    }
  };
  walk(schemaDefinition as unknown as Record<string, unknown>);
  return Object.keys(env)
    .filter((name) => name.startsWith('SMAD_') && !known.has(name))
    .sort();
}
