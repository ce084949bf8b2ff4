/**
 * The job validator: pure, synchronous, no I/O. It checks everything that can be known
 * before an AWS call and reports every problem of a job at once, each naming its field by
 * its JSON path (`endpointName`, `webhook.url`, ...). Messages never repeat the value of a
 * sensitive field (customAttributes, webhook.secret, webhook.url, body).
 */

import {
  checkAccept,
  checkContentType,
  checkCustomAttributes,
  checkEndpointName,
  checkFilename,
  checkInferenceId,
  checkInputLocation,
  checkInvocationTimeoutSeconds,
  checkRequestTTLSeconds,
  checkS3OutputPathExtension,
  INVOCATION_TIMEOUT_SECONDS,
  MAX_BODY_BYTES,
  TTL_SECONDS,
} from './api-constraints.js';
import {
  BODY_ENCODINGS,
  type BodyEncoding,
  DEFAULT_BODY_ENCODING,
  JOB_FIELDS,
  type JobWebhook,
  type JsonObject,
  MAX_METADATA_BYTES,
  MAX_WEBHOOK_URL_LENGTH,
  type ValidJob,
  type ValidJobCommon,
  WEBHOOK_FIELDS,
} from './job.js';
import { isWebhookSecret } from './webhook-secret.js';

/** One thing wrong with a job: `field` is its JSON path (`''` for the job data itself). */
export interface JobProblem {
  field: string;
  message: string;
}

export interface ValidateJobOptions {
  /** Largest decoded inline body accepted (`dispatch.maxInlineBytes`). */
  maxInlineBytes: number;
  /** Whether `staging.s3Uri` is configured, so bodies over 128,000 bytes can be staged. */
  stagingAvailable: boolean;
}

export type ValidateJobResult = { ok: true; job: ValidJob } | { ok: false; problems: JobProblem[] };

/**
 * Standard (RFC 4648 section 4) base64 as the validator accepts it for `bodyEncoding: "base64"`:
 * padded to a multiple of 4 characters, no white space, and canonical (the bits after the last
 * byte are zero, so every payload has exactly one encoding). Used by the JSON Schema; the
 * validator applies the same rule with a character loop that can say where a body goes wrong.
 * The quad is written as four atoms, not `[...]{4}`: V8 then runs the loop without a backtrack
 * entry per iteration, where the `{4}` form overflows the stack on bodies of a few megabytes.
 */
export const BASE64_PATTERN =
  /^(?:[A-Za-z0-9+/][A-Za-z0-9+/][A-Za-z0-9+/][A-Za-z0-9+/])*(?:[A-Za-z0-9+/][AQgw]==|[A-Za-z0-9+/][A-Za-z0-9+/][AEIMQUYcgkosw048]=)?$/;

/**
 * `webhook.url` as far as a pattern can say: lower-case `http://` or `https://`, a non-empty
 * authority without `@` (no user:password) or `\`, and no white space or control characters.
 * The validator also requires that the WHATWG URL parser accepts it.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it excludes.
export const WEBHOOK_URL_PATTERN = /^https?:\/\/[^\x00-\x20\x7f/?#@\\]+(?:[/?#][^\x00-\x20\x7f]*)?$/;

/**
 * `webhook.secret` as a pattern: `whsec_` + padded base64 of 24 to 64 bytes. Agrees with
 * `isWebhookSecret` (src/contract/webhook-secret.ts), which the validator calls.
 */
export const WEBHOOK_SECRET_PATTERN =
  /^whsec_(?:(?:[A-Za-z0-9+/]{4}){8,20}(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?|(?:[A-Za-z0-9+/]{4}){21}(?:[A-Za-z0-9+/]{2}==)?)$/;

/** At most this many unknown top-level fields are listed one by one. */
const MAX_UNKNOWN_FIELDS_LISTED = 20;

/**
 * Validates job data (as parsed from JSON) and returns the normalized job, or every problem.
 * A property whose value is `undefined` counts as absent, as JSON serialisation drops it;
 * `null` is not absent (it is reported as the wrong type).
 */
export function validateJob(data: unknown, options: ValidateJobOptions): ValidateJobResult {
  if (!isObject(data)) {
    return {
      ok: false,
      problems: [{ field: '', message: `job data must be a JSON object (was ${describe(data)})` }],
    };
  }
  const problems: JobProblem[] = [];
  const add = (field: string, message: string) => problems.push({ field, message });
  const get = (key: string): unknown => (Object.hasOwn(data, key) ? data[key] : undefined);

  const job: ValidJobCommon = { endpointName: '' };

  // endpointName: required.
  const endpointName = get('endpointName');
  if (endpointName === undefined) add('endpointName', 'is required (the SageMaker endpoint to invoke)');
  else if (typeof endpointName !== 'string') add('endpointName', mustBeString(endpointName));
  else {
    const problem = checkEndpointName(endpointName);
    if (problem) add('endpointName', problem);
    else job.endpointName = endpointName;
  }

  // The payload: exactly one of inputLocation and body.
  const inputLocation = get('inputLocation');
  const body = get('body');
  const bodyEncoding = get('bodyEncoding');
  if (inputLocation === undefined && body === undefined) {
    add(
      'inputLocation',
      'is required when body is absent: give exactly one of inputLocation (an s3:// or https:// URI) and body (an inline payload)',
    );
  }
  const location = stringField(inputLocation, 'inputLocation', checkInputLocation, add);

  let encoding: BodyEncoding | undefined;
  if (bodyEncoding !== undefined) {
    if (typeof bodyEncoding !== 'string' || !(BODY_ENCODINGS as readonly string[]).includes(bodyEncoding)) {
      add('bodyEncoding', `must be "utf8" or "base64" (was ${describe(bodyEncoding, true)})`);
    } else encoding = bodyEncoding as BodyEncoding;
  }

  let bodyBytes: Buffer | undefined;
  if (body !== undefined) {
    if (inputLocation !== undefined) {
      add(
        'body',
        'must not be given together with inputLocation: give exactly one of inputLocation and body',
      );
    }
    if (typeof body !== 'string') add('body', mustBeString(body));
    else if (bodyEncoding === undefined || encoding !== undefined) {
      bodyBytes = decodeBody(body, encoding ?? DEFAULT_BODY_ENCODING, options, add);
    }
  } else if (bodyEncoding !== undefined) {
    add('bodyEncoding', 'applies only to body; remove it (an inputLocation payload is not decoded)');
  }

  // Pass-through strings with API constraints.
  job.contentType = stringField(get('contentType'), 'contentType', checkContentType, add);
  job.accept = stringField(get('accept'), 'accept', checkAccept, add);
  job.customAttributes = stringField(get('customAttributes'), 'customAttributes', checkCustomAttributes, add);
  job.inferenceId = stringField(get('inferenceId'), 'inferenceId', checkInferenceId, add);
  job.requestTTLSeconds = integerField(
    get('requestTTLSeconds'),
    'requestTTLSeconds',
    TTL_SECONDS,
    checkRequestTTLSeconds,
    add,
  );
  job.invocationTimeoutSeconds = integerField(
    get('invocationTimeoutSeconds'),
    'invocationTimeoutSeconds',
    INVOCATION_TIMEOUT_SECONDS,
    checkInvocationTimeoutSeconds,
    add,
  );
  job.filename = stringField(get('filename'), 'filename', checkFilename, add);
  job.s3OutputPathExtension = stringField(
    get('s3OutputPathExtension'),
    's3OutputPathExtension',
    checkS3OutputPathExtension,
    add,
  );

  const webhook = get('webhook');
  if (webhook !== undefined) job.webhook = validateWebhook(webhook, add);

  const metadata = get('metadata');
  if (metadata !== undefined) job.metadata = validateMetadata(metadata, add);

  // Unknown fields last.
  const unknown = Object.keys(data).filter(
    (key) => data[key] !== undefined && !(JOB_FIELDS as readonly string[]).includes(key),
  );
  for (const key of unknown.slice(0, MAX_UNKNOWN_FIELDS_LISTED)) {
    add(childPath('', key), `is not a job field${suggestion(key, JOB_FIELDS)}`);
  }
  if (unknown.length > MAX_UNKNOWN_FIELDS_LISTED) {
    const rest = unknown.length - MAX_UNKNOWN_FIELDS_LISTED;
    add(
      '',
      `${rest} more unknown field${rest === 1 ? '' : 's'} not listed (job fields: ${JOB_FIELDS.join(', ')})`,
    );
  }

  if (problems.length > 0) return { ok: false, problems };
  const common = withoutUndefined(job);
  if (bodyBytes !== undefined) {
    return {
      ok: true,
      job: { ...common, body: body as string, bodyEncoding: encoding ?? DEFAULT_BODY_ENCODING, bodyBytes },
    };
  }
  return { ok: true, job: { ...common, inputLocation: location as string } };
}

/**
 * The job's webhook when that field alone is valid, else undefined: for a rejected job, which
 * fires `inference.rejected` to its own webhook only when the webhook itself passed validation.
 */
export function validWebhookOf(data: unknown): JobWebhook | undefined {
  if (!isObject(data) || !Object.hasOwn(data, 'webhook') || data['webhook'] === undefined) return undefined;
  return validateWebhook(data['webhook'], () => {});
}

/** The job's metadata (as a JSON copy) when that field alone is valid, else undefined. */
export function validMetadataOf(data: unknown): JsonObject | undefined {
  if (!isObject(data) || !Object.hasOwn(data, 'metadata') || data['metadata'] === undefined) return undefined;
  return validateMetadata(data['metadata'], () => {});
}

/** `field: message`, or the message alone for the job data itself. */
export function formatProblem(problem: JobProblem): string {
  return problem.field === '' ? problem.message : `${problem.field}: ${problem.message}`;
}

/** Every problem on one line, `; `-separated: the reason a rejected job fails with. */
export function formatProblems(problems: readonly JobProblem[]): string {
  return problems.map(formatProblem).join('; ');
}

type Add = (field: string, message: string) => void;

function stringField(
  value: unknown,
  field: string,
  check: (value: string) => string | undefined,
  add: Add,
): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') {
    add(field, mustBeString(value));
    return undefined;
  }
  const problem = check(value);
  if (problem) {
    add(field, problem);
    return undefined;
  }
  return value;
}

function integerField(
  value: unknown,
  field: string,
  range: { min: number; max: number },
  check: (value: number) => string | undefined,
  add: Add,
): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || check(value) !== undefined) {
    add(field, `must be an integer between ${range.min} and ${range.max} (was ${describe(value, true)})`);
    return undefined;
  }
  return value;
}

/** Decodes and size-checks an inline body; returns its bytes when it is acceptable. */
function decodeBody(
  body: string,
  encoding: BodyEncoding,
  options: ValidateJobOptions,
  add: Add,
): Buffer | undefined {
  if (body.length === 0) {
    add('body', 'must not be empty (a payload of 0 bytes); send at least one byte');
    return undefined;
  }
  let size: number;
  if (encoding === 'base64') {
    const problem = base64Problem(body);
    if (problem) {
      add('body', `is not valid base64 (bodyEncoding is "base64"): ${problem}`);
      return undefined;
    }
    size = (body.length / 4) * 3 - (body.endsWith('==') ? 2 : body.endsWith('=') ? 1 : 0);
  } else {
    if (!body.isWellFormed()) {
      add('body', 'is not well-formed Unicode (it holds a lone surrogate), so it has no UTF-8 encoding');
      return undefined;
    }
    size = Buffer.byteLength(body, 'utf8');
  }
  let fits = true;
  if (size > options.maxInlineBytes) {
    add(
      'body',
      `is ${size} bytes decoded, over the limit of ${options.maxInlineBytes} bytes for inline bodies (dispatch.maxInlineBytes); upload larger payloads to S3 and send inputLocation`,
    );
    fits = false;
  }
  if (size > MAX_BODY_BYTES && !options.stagingAvailable) {
    add(
      'body',
      `is ${size} bytes decoded; staging.s3Uri must be configured for bodies over ${MAX_BODY_BYTES.toLocaleString('en-US')} bytes (it is not), so send a smaller body or inputLocation`,
    );
    fits = false;
  }
  if (!fits) return undefined;
  return Buffer.from(body, encoding);
}

const B64_ALPHABET = new Uint8Array(128);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/')
  B64_ALPHABET[c.charCodeAt(0)] = 1;
const LAST_BEFORE_ONE_PAD = 'AEIMQUYcgkosw048';
const LAST_BEFORE_TWO_PADS = 'AQgw';

/**
 * Why `s` is not strict, canonical, padded base64 (the language of BASE64_PATTERN), or
 * undefined when it is. Names the first offending position.
 */
export function base64Problem(s: string): string | undefined {
  const pads = s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0;
  const end = s.length - pads;
  for (let i = 0; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c < 128 && B64_ALPHABET[c] === 1) continue;
    const ch = s[i];
    if (ch === '=') return `"=" padding before the end (position ${i})`;
    if (ch === '-' || ch === '_')
      return `"${ch}" at position ${i} is base64url; use standard base64 ("+" and "/")`;
    if (ch === ' ' || ch === '\n' || ch === '\r' || ch === '\t')
      return `white space at position ${i} (line breaks are not allowed)`;
    return `a character outside the base64 alphabet at position ${i}`;
  }
  if (s.length % 4 !== 0)
    return `its length (${s.length}) is not a multiple of 4: pad it with "=" to a multiple of 4 characters`;
  if (pads > 0) {
    const last = s[end - 1] ?? '';
    if (!(pads === 1 ? LAST_BEFORE_ONE_PAD : LAST_BEFORE_TWO_PADS).includes(last))
      return `not canonical: the unused bits of the character at position ${end - 1} must be zero`;
  }
  return undefined;
}

function validateWebhook(value: unknown, add: Add): JobWebhook | undefined {
  if (!isObject(value)) {
    add('webhook', `must be an object {"url": ..., "secret"?: ...} (was ${describe(value)})`);
    return undefined;
  }
  const url = Object.hasOwn(value, 'url') ? value['url'] : undefined;
  const secret = Object.hasOwn(value, 'secret') ? value['secret'] : undefined;
  let ok = true;
  if (url === undefined) {
    add('webhook.url', 'is required (the http:// or https:// URL to deliver to)');
    ok = false;
  } else if (typeof url !== 'string') {
    add('webhook.url', mustBeString(url));
    ok = false;
  } else {
    const problem = webhookUrlProblem(url);
    if (problem) {
      add('webhook.url', problem);
      ok = false;
    }
  }
  if (secret !== undefined) {
    if (typeof secret !== 'string') {
      add('webhook.secret', mustBeString(secret));
      ok = false;
    } else if (!isWebhookSecret(secret)) {
      add(
        'webhook.secret',
        'must be "whsec_" followed by base64 of 24 to 64 bytes (a Standard Webhooks secret)',
      );
      ok = false;
    }
  }
  for (const key of Object.keys(value)) {
    if (value[key] !== undefined && !(WEBHOOK_FIELDS as readonly string[]).includes(key)) {
      add(childPath('webhook', key), `is not a webhook field${suggestion(key, WEBHOOK_FIELDS)}`);
      ok = false;
    }
  }
  if (!ok) return undefined;
  return secret === undefined ? { url: url as string } : { url: url as string, secret: secret as string };
}

/** Why `url` is not acceptable as `webhook.url`, or undefined. Never repeats the URL. */
export function webhookUrlProblem(url: string): string | undefined {
  if (url.length > MAX_WEBHOOK_URL_LENGTH)
    return `must be at most ${MAX_WEBHOOK_URL_LENGTH} characters (was ${url.length})`;
  if (!WEBHOOK_URL_PATTERN.test(url)) {
    if (!/^https?:\/\//.test(url)) return 'must be an absolute URL starting with http:// or https://';
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it looks for.
    if (/[\x00-\x20\x7f]/.test(url)) return 'must not contain white space or control characters';
    const authority = url.slice(url.indexOf('//') + 2).split(/[/?#]/, 1)[0] ?? '';
    if (authority.includes('@'))
      return 'must not contain credentials (user:password@); use webhook.secret to authenticate deliveries';
    if (authority.includes('\\')) return 'must not contain "\\" in its host part';
    return 'must name a host after http:// or https://';
  }
  if (!URL.canParse(url)) return 'is not a valid URL';
  return undefined;
}

function validateMetadata(value: unknown, add: Add): JsonObject | undefined {
  if (!isObject(value)) {
    add('metadata', `must be a JSON object (was ${describe(value)})`);
    return undefined;
  }
  let json: string;
  try {
    json = JSON.stringify(value);
  } catch (error) {
    add('metadata', `must be serialisable as JSON (${(error as Error).message})`);
    return undefined;
  }
  const bytes = Buffer.byteLength(json, 'utf8');
  if (bytes > MAX_METADATA_BYTES) {
    add('metadata', `must be at most ${MAX_METADATA_BYTES} bytes as JSON (was ${bytes} bytes)`);
    return undefined;
  }
  return JSON.parse(json) as JsonObject;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function mustBeString(value: unknown): string {
  return `must be a string (was ${describe(value)})`;
}

/**
 * A value's kind for a message. Strings are shown (quoted, shortened) only when `showStrings`:
 * never for fields that may hold secrets.
 */
function describe(value: unknown, showStrings = false): string {
  if (value === undefined) return 'absent';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'string':
      return showStrings ? `the string ${JSON.stringify(shorten(value))}` : 'a string';
    case 'number':
    case 'boolean':
      return String(value);
    case 'object':
      return 'an object';
    default:
      return `a ${typeof value}`;
  }
}

function shorten(s: string): string {
  return s.length > 40 ? `${s.slice(0, 40)}...` : s;
}

/** `parent.key`, or `parent["key"]` when the key is not a plain identifier. */
function childPath(parent: string, key: string): string {
  const shown = key.length > 64 ? `${key.slice(0, 64)}...` : key;
  if (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key)) return parent === '' ? key : `${parent}.${key}`;
  return `${parent}[${JSON.stringify(shown)}]`;
}

function suggestion(key: string, known: readonly string[]): string {
  const match = known.find((k) => k.toLowerCase() === key.toLowerCase());
  return match ? ` (did you mean "${match}"?)` : ` (fields: ${known.join(', ')})`;
}

function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
