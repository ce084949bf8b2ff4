/**
 * Job data fixtures shared by the validator tests and the schema agreement tests. Each
 * invalid fixture breaks exactly one rule. `schema` says whether JSON Schema can express the
 * rule: 'rejects' (schema/job.schema.json must reject it too), 'accepts' (the rule is beyond
 * JSON Schema: the schema accepts it), or 'skip' (not JSON: a value JSON cannot carry).
 */
import type { ValidateJobOptions } from '../../src/contract/validate-job.js';

export const OPTIONS: ValidateJobOptions = { maxInlineBytes: 10 * 1024 * 1024, stagingAvailable: true };
export const NO_STAGING: ValidateJobOptions = { maxInlineBytes: 10 * 1024 * 1024, stagingAvailable: false };

export const SECRET_32 = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;

/** The smallest valid job: every invalid fixture starts from it (or from BODY_BASE). */
export const BASE = { endpointName: 'my-endpoint', inputLocation: 's3://bucket/in/payload.json' } as const;
export const BODY_BASE = { endpointName: 'my-endpoint', body: '{"x":1}' } as const;

export interface InvalidFixture {
  name: string;
  data: unknown;
  options?: ValidateJobOptions;
  field: string;
  message: RegExp;
  schema: 'rejects' | 'accepts' | 'skip';
}

const without = <T extends object, K extends keyof T>(value: T, key: K): Omit<T, K> => {
  const copy = { ...value };
  delete copy[key];
  return copy;
};

const base64Of = (bytes: number) => Buffer.alloc(bytes, 0xab).toString('base64');

export const INVALID: InvalidFixture[] = [
  // The data itself.
  {
    name: 'an array',
    data: [BASE],
    field: '',
    message: /must be a JSON object \(was an array\)/,
    schema: 'rejects',
  },
  { name: 'null', data: null, field: '', message: /must be a JSON object \(was null\)/, schema: 'rejects' },
  {
    name: 'a string',
    data: 'hello',
    field: '',
    message: /must be a JSON object \(was a string\)/,
    schema: 'rejects',
  },
  {
    name: 'an unknown field',
    data: { ...BASE, priority: 5 },
    field: 'priority',
    message: /is not a job field \(fields: endpointName, /,
    schema: 'rejects',
  },
  {
    name: 'a field in the API casing',
    data: { ...BASE, InferenceId: 'abc' },
    field: 'InferenceId',
    message: /is not a job field \(did you mean "inferenceId"\?\)/,
    schema: 'rejects',
  },
  {
    name: 'an unknown field that is not an identifier',
    data: { ...BASE, 'end point': 'x' },
    field: '["end point"]',
    message: /is not a job field/,
    schema: 'rejects',
  },
  {
    name: 'a __proto__ field from JSON.parse',
    data: JSON.parse('{"endpointName":"e","inputLocation":"s3://b/k","__proto__":{"x":1}}'),
    field: '__proto__',
    message: /is not a job field/,
    schema: 'rejects',
  },
  // endpointName.
  {
    name: 'no endpointName',
    data: without(BASE, 'endpointName'),
    field: 'endpointName',
    message: /is required/,
    schema: 'rejects',
  },
  {
    name: 'endpointName a number',
    data: { ...BASE, endpointName: 42 },
    field: 'endpointName',
    message: /must be a string \(was 42\)/,
    schema: 'rejects',
  },
  {
    name: 'endpointName empty',
    data: { ...BASE, endpointName: '' },
    field: 'endpointName',
    message: /1 to 63 characters/,
    schema: 'rejects',
  },
  {
    name: 'endpointName 64 characters',
    data: { ...BASE, endpointName: 'a'.repeat(64) },
    field: 'endpointName',
    message: /1 to 63 characters/,
    schema: 'rejects',
  },
  {
    name: 'endpointName with an underscore',
    data: { ...BASE, endpointName: 'my_endpoint' },
    field: 'endpointName',
    message: /must match/,
    schema: 'rejects',
  },
  {
    name: 'endpointName ending in a hyphen',
    data: { ...BASE, endpointName: 'endpoint-' },
    field: 'endpointName',
    message: /must match/,
    schema: 'rejects',
  },
  // Payload: exactly one of inputLocation and body.
  {
    name: 'neither inputLocation nor body',
    data: { endpointName: 'my-endpoint' },
    field: 'inputLocation',
    message: /exactly one of inputLocation .* and body/,
    schema: 'rejects',
  },
  {
    name: 'both inputLocation and body',
    data: { ...BASE, body: 'x' },
    field: 'body',
    message: /must not be given together with inputLocation/,
    schema: 'rejects',
  },
  // inputLocation.
  {
    name: 'inputLocation http://',
    data: { ...BASE, inputLocation: 'http://bucket/key' },
    field: 'inputLocation',
    message: /s3:\/\/ or https:\/\/ URI/,
    schema: 'rejects',
  },
  {
    name: 'inputLocation a bare key',
    data: { ...BASE, inputLocation: 'bucket/key' },
    field: 'inputLocation',
    message: /s3:\/\/ or https:\/\/ URI/,
    schema: 'rejects',
  },
  {
    name: 'inputLocation over 1024 characters',
    data: { ...BASE, inputLocation: `s3://bucket/${'k'.repeat(1013)}` },
    field: 'inputLocation',
    message: /1 to 1024 characters/,
    schema: 'rejects',
  },
  {
    name: 'inputLocation an object',
    data: { ...BASE, inputLocation: { bucket: 'b', key: 'k' } },
    field: 'inputLocation',
    message: /must be a string \(was an object\)/,
    schema: 'rejects',
  },
  // body and bodyEncoding.
  {
    name: 'body an object',
    data: { ...BODY_BASE, body: { x: 1 } },
    field: 'body',
    message: /must be a string \(was an object\)/,
    schema: 'rejects',
  },
  {
    name: 'body empty',
    data: { ...BODY_BASE, body: '' },
    field: 'body',
    message: /must not be empty/,
    schema: 'rejects',
  },
  {
    name: 'body empty in base64',
    data: { ...BODY_BASE, body: '', bodyEncoding: 'base64' },
    field: 'body',
    message: /must not be empty/,
    schema: 'rejects',
  },
  {
    name: 'bodyEncoding hex',
    data: { ...BODY_BASE, bodyEncoding: 'hex' },
    field: 'bodyEncoding',
    message: /must be "utf8" or "base64" \(was the string "hex"\)/,
    schema: 'rejects',
  },
  {
    name: 'bodyEncoding upper case',
    data: { ...BODY_BASE, bodyEncoding: 'BASE64' },
    field: 'bodyEncoding',
    message: /must be "utf8" or "base64"/,
    schema: 'rejects',
  },
  {
    name: 'bodyEncoding with inputLocation',
    data: { ...BASE, bodyEncoding: 'utf8' },
    field: 'bodyEncoding',
    message: /applies only to body/,
    schema: 'rejects',
  },
  {
    name: 'base64 body with a character outside the alphabet',
    data: { ...BODY_BASE, body: 'ab*d', bodyEncoding: 'base64' },
    field: 'body',
    message: /not valid base64.*outside the base64 alphabet at position 2/,
    schema: 'rejects',
  },
  {
    name: 'base64url body',
    data: { ...BODY_BASE, body: 'ab-_', bodyEncoding: 'base64' },
    field: 'body',
    message: /not valid base64.*"-" at position 2 is base64url/,
    schema: 'rejects',
  },
  {
    name: 'base64 body without padding',
    data: { ...BODY_BASE, body: 'aGk', bodyEncoding: 'base64' },
    field: 'body',
    message: /not valid base64.*length \(3\) is not a multiple of 4/,
    schema: 'rejects',
  },
  {
    name: 'base64 body with padding in the middle',
    data: { ...BODY_BASE, body: 'aGk=aGk=', bodyEncoding: 'base64' },
    field: 'body',
    message: /not valid base64.*"=" padding before the end \(position 3\)/,
    schema: 'rejects',
  },
  {
    name: 'base64 body with three padding characters',
    data: { ...BODY_BASE, body: 'aG===', bodyEncoding: 'base64' },
    field: 'body',
    message: /not valid base64.*padding before the end/,
    schema: 'rejects',
  },
  {
    name: 'base64 body with line breaks (MIME style)',
    data: { ...BODY_BASE, body: 'aGVs\nbG8=', bodyEncoding: 'base64' },
    field: 'body',
    message: /not valid base64.*white space at position 4/,
    schema: 'rejects',
  },
  {
    name: 'base64 body not canonical',
    data: { ...BODY_BASE, body: 'QR==', bodyEncoding: 'base64' },
    field: 'body',
    message: /not valid base64.*not canonical/,
    schema: 'rejects',
  },
  {
    name: 'utf8 body with a lone surrogate',
    data: { ...BODY_BASE, body: 'abc\ud800def' },
    field: 'body',
    message: /not well-formed Unicode/,
    schema: 'accepts',
  },
  {
    name: 'body over maxInlineBytes',
    data: { ...BODY_BASE, body: 'x'.repeat(1001) },
    options: { maxInlineBytes: 1000, stagingAvailable: true },
    field: 'body',
    message: /is 1001 bytes decoded, over the limit of 1000 bytes .*dispatch\.maxInlineBytes/,
    schema: 'accepts',
  },
  {
    name: 'base64 body decoding to more than maxInlineBytes',
    data: { ...BODY_BASE, body: base64Of(1001), bodyEncoding: 'base64' },
    options: { maxInlineBytes: 1000, stagingAvailable: true },
    field: 'body',
    message: /is 1001 bytes decoded, over the limit of 1000 bytes/,
    schema: 'accepts',
  },
  {
    name: 'body over 128,000 bytes without staging',
    data: { ...BODY_BASE, body: 'x'.repeat(128_001) },
    options: NO_STAGING,
    field: 'body',
    message: /is 128001 bytes decoded; staging\.s3Uri must be configured for bodies over 128,000 bytes/,
    schema: 'accepts',
  },
  {
    name: 'multi-byte utf8 body over 128,000 bytes (64,001 characters) without staging',
    data: { ...BODY_BASE, body: 'é'.repeat(64_001) },
    options: NO_STAGING,
    field: 'body',
    message: /is 128002 bytes decoded; staging\.s3Uri must be configured/,
    schema: 'accepts',
  },
  {
    name: 'base64 body decoding to 128,001 bytes without staging',
    data: { ...BODY_BASE, body: base64Of(128_001), bodyEncoding: 'base64' },
    options: NO_STAGING,
    field: 'body',
    message: /is 128001 bytes decoded; staging\.s3Uri must be configured/,
    schema: 'accepts',
  },
  // contentType, accept, customAttributes.
  {
    name: 'contentType not ASCII',
    data: { ...BASE, contentType: 'text/plain; charset=ünicode' },
    field: 'contentType',
    message: /printable ASCII/,
    schema: 'rejects',
  },
  {
    name: 'contentType over 1024 characters',
    data: { ...BASE, contentType: `text/${'x'.repeat(1020)}` },
    field: 'contentType',
    message: /at most 1024 characters/,
    schema: 'rejects',
  },
  {
    name: 'accept a number',
    data: { ...BASE, accept: 1 },
    field: 'accept',
    message: /must be a string \(was 1\)/,
    schema: 'rejects',
  },
  {
    name: 'accept with a line break (header injection)',
    data: { ...BASE, accept: 'application/json\r\nX-Evil: 1' },
    field: 'accept',
    message: /printable ASCII/,
    schema: 'rejects',
  },
  {
    name: 'customAttributes not ASCII',
    data: { ...BASE, customAttributes: 'token=sécret' },
    field: 'customAttributes',
    message: /visible ASCII/,
    schema: 'rejects',
  },
  {
    name: 'customAttributes over 1024 characters',
    data: { ...BASE, customAttributes: 'a'.repeat(1025) },
    field: 'customAttributes',
    message: /at most 1024 characters/,
    schema: 'rejects',
  },
  {
    name: 'customAttributes an array',
    data: { ...BASE, customAttributes: ['a=b'] },
    field: 'customAttributes',
    message: /must be a string \(was an array\)/,
    schema: 'rejects',
  },
  // inferenceId.
  {
    name: 'inferenceId empty',
    data: { ...BASE, inferenceId: '' },
    field: 'inferenceId',
    message: /1 to 64 characters/,
    schema: 'rejects',
  },
  {
    name: 'inferenceId 65 characters',
    data: { ...BASE, inferenceId: 'i'.repeat(65) },
    field: 'inferenceId',
    message: /1 to 64 characters/,
    schema: 'rejects',
  },
  {
    name: 'inferenceId starting with a space',
    data: { ...BASE, inferenceId: ' abc' },
    field: 'inferenceId',
    message: /must start with a non-space character/,
    schema: 'rejects',
  },
  {
    name: 'inferenceId with a control character',
    data: { ...BASE, inferenceId: 'abc\u0007def' },
    field: 'inferenceId',
    message: /printable ASCII characters/,
    schema: 'rejects',
  },
  {
    name: 'inferenceId with a non-ASCII character (the HTTP header could not carry it)',
    data: { ...BASE, inferenceId: 'Überweisung-42' },
    field: 'inferenceId',
    message: /printable ASCII characters/,
    schema: 'rejects',
  },
  {
    name: 'inferenceId a number',
    data: { ...BASE, inferenceId: 12345 },
    field: 'inferenceId',
    message: /must be a string \(was 12345\)/,
    schema: 'rejects',
  },
  // requestTTLSeconds, invocationTimeoutSeconds.
  {
    name: 'requestTTLSeconds 30',
    data: { ...BASE, requestTTLSeconds: 30 },
    field: 'requestTTLSeconds',
    message: /^must be an integer between 60 and 21600 \(was 30\)$/,
    schema: 'rejects',
  },
  {
    name: 'requestTTLSeconds 21601',
    data: { ...BASE, requestTTLSeconds: 21_601 },
    field: 'requestTTLSeconds',
    message: /^must be an integer between 60 and 21600 \(was 21601\)$/,
    schema: 'rejects',
  },
  {
    name: 'requestTTLSeconds a numeric string',
    data: { ...BASE, requestTTLSeconds: '3600' },
    field: 'requestTTLSeconds',
    message: /^must be an integer between 60 and 21600 \(was the string "3600"\)$/,
    schema: 'rejects',
  },
  {
    name: 'requestTTLSeconds a fraction',
    data: { ...BASE, requestTTLSeconds: 600.5 },
    field: 'requestTTLSeconds',
    message: /^must be an integer between 60 and 21600 \(was 600.5\)$/,
    schema: 'rejects',
  },
  {
    name: 'invocationTimeoutSeconds 0',
    data: { ...BASE, invocationTimeoutSeconds: 0 },
    field: 'invocationTimeoutSeconds',
    message: /^must be an integer between 1 and 3600 \(was 0\)$/,
    schema: 'rejects',
  },
  {
    name: 'invocationTimeoutSeconds 3601',
    data: { ...BASE, invocationTimeoutSeconds: 3601 },
    field: 'invocationTimeoutSeconds',
    message: /^must be an integer between 1 and 3600 \(was 3601\)$/,
    schema: 'rejects',
  },
  {
    name: 'invocationTimeoutSeconds null',
    data: { ...BASE, invocationTimeoutSeconds: null },
    field: 'invocationTimeoutSeconds',
    message: /^must be an integer between 1 and 3600 \(was null\)$/,
    schema: 'rejects',
  },
  {
    name: 'invocationTimeoutSeconds true',
    data: { ...BASE, invocationTimeoutSeconds: true },
    field: 'invocationTimeoutSeconds',
    message: /^must be an integer between 1 and 3600 \(was true\)$/,
    schema: 'rejects',
  },
  // filename, s3OutputPathExtension.
  {
    name: 'filename with two dots',
    data: { ...BASE, filename: 'out.tar.gz' },
    field: 'filename',
    message: /at most one "\."/,
    schema: 'rejects',
  },
  {
    name: 'filename starting with a dot',
    data: { ...BASE, filename: '.hidden' },
    field: 'filename',
    message: /must start with a letter or digit/,
    schema: 'rejects',
  },
  {
    name: 'filename 33 characters',
    data: { ...BASE, filename: 'f'.repeat(33) },
    field: 'filename',
    message: /1 to 32 characters/,
    schema: 'rejects',
  },
  {
    name: 'filename with a slash',
    data: { ...BASE, filename: 'a/b' },
    field: 'filename',
    message: /hold only letters, digits/,
    schema: 'rejects',
  },
  {
    name: 's3OutputPathExtension starting with s3:',
    data: { ...BASE, s3OutputPathExtension: 's3://other-bucket/x' },
    field: 's3OutputPathExtension',
    message: /must not start with s3: or https:/,
    schema: 'rejects',
  },
  {
    name: 's3OutputPathExtension with a space',
    data: { ...BASE, s3OutputPathExtension: 'a b' },
    field: 's3OutputPathExtension',
    message: /hold only letters, digits/,
    schema: 'rejects',
  },
  {
    name: 's3OutputPathExtension empty',
    data: { ...BASE, s3OutputPathExtension: '' },
    field: 's3OutputPathExtension',
    message: /1 to 512 characters/,
    schema: 'rejects',
  },
  // webhook.
  {
    name: 'webhook a string',
    data: { ...BASE, webhook: 'https://hooks.example.com/x' },
    field: 'webhook',
    message: /must be an object \{"url": \.\.\., "secret"\?: \.\.\.\} \(was a string\)/,
    schema: 'rejects',
  },
  {
    name: 'webhook null',
    data: { ...BASE, webhook: null },
    field: 'webhook',
    message: /must be an object .*\(was null\)/,
    schema: 'rejects',
  },
  {
    name: 'webhook without url',
    data: { ...BASE, webhook: { secret: SECRET_32 } },
    field: 'webhook.url',
    message: /is required/,
    schema: 'rejects',
  },
  {
    name: 'webhook.url a number',
    data: { ...BASE, webhook: { url: 8080 } },
    field: 'webhook.url',
    message: /must be a string \(was 8080\)/,
    schema: 'rejects',
  },
  {
    name: 'webhook.url ftp',
    data: { ...BASE, webhook: { url: 'ftp://hooks.example.com/x' } },
    field: 'webhook.url',
    message: /must be an absolute URL starting with http:\/\/ or https:\/\//,
    schema: 'rejects',
  },
  {
    name: 'webhook.url relative',
    data: { ...BASE, webhook: { url: '/hooks/x' } },
    field: 'webhook.url',
    message: /must be an absolute URL/,
    schema: 'rejects',
  },
  {
    name: 'webhook.url with credentials',
    data: { ...BASE, webhook: { url: 'https://user:hunter2@hooks.example.com/x' } },
    field: 'webhook.url',
    message: /must not contain credentials/,
    schema: 'rejects',
  },
  {
    name: 'webhook.url with a backslash in the host part',
    data: { ...BASE, webhook: { url: 'https://evil.example\\@hooks.example.com/' } },
    field: 'webhook.url',
    message: /must not contain credentials|"\\\\"/,
    schema: 'rejects',
  },
  {
    name: 'webhook.url with a space',
    data: { ...BASE, webhook: { url: 'https://hooks.example.com/a b' } },
    field: 'webhook.url',
    message: /white space or control characters/,
    schema: 'rejects',
  },
  {
    name: 'webhook.url without a host',
    data: { ...BASE, webhook: { url: 'https:///x' } },
    field: 'webhook.url',
    message: /must name a host/,
    schema: 'rejects',
  },
  {
    name: 'webhook.url that no URL parser accepts',
    data: { ...BASE, webhook: { url: 'https://[::1/x' } },
    field: 'webhook.url',
    message: /is not a valid URL/,
    schema: 'accepts',
  },
  {
    name: 'webhook.url over 2048 characters',
    data: { ...BASE, webhook: { url: `https://hooks.example.com/${'p'.repeat(2030)}` } },
    field: 'webhook.url',
    message: /at most 2048 characters \(was 2056\)/,
    schema: 'rejects',
  },
  {
    name: 'webhook.secret without whsec_',
    data: {
      ...BASE,
      webhook: { url: 'https://hooks.example.com/x', secret: Buffer.alloc(32).toString('base64') },
    },
    field: 'webhook.secret',
    message: /must be "whsec_" followed by base64 of 24 to 64 bytes/,
    schema: 'rejects',
  },
  {
    name: 'webhook.secret of 16 bytes',
    data: {
      ...BASE,
      webhook: { url: 'https://hooks.example.com/x', secret: `whsec_${Buffer.alloc(16).toString('base64')}` },
    },
    field: 'webhook.secret',
    message: /24 to 64 bytes/,
    schema: 'rejects',
  },
  {
    name: 'webhook.secret of 65 bytes',
    data: {
      ...BASE,
      webhook: { url: 'https://hooks.example.com/x', secret: `whsec_${Buffer.alloc(65).toString('base64')}` },
    },
    field: 'webhook.secret',
    message: /24 to 64 bytes/,
    schema: 'rejects',
  },
  {
    name: 'webhook.secret a number',
    data: { ...BASE, webhook: { url: 'https://hooks.example.com/x', secret: 12 } },
    field: 'webhook.secret',
    message: /must be a string \(was 12\)/,
    schema: 'rejects',
  },
  {
    name: 'webhook with an unknown field',
    data: { ...BASE, webhook: { url: 'https://hooks.example.com/x', headers: { a: 'b' } } },
    field: 'webhook.headers',
    message: /is not a webhook field \(fields: url, secret\)/,
    schema: 'rejects',
  },
  // metadata.
  {
    name: 'metadata an array',
    data: { ...BASE, metadata: [1, 2] },
    field: 'metadata',
    message: /must be a JSON object \(was an array\)/,
    schema: 'rejects',
  },
  {
    name: 'metadata null',
    data: { ...BASE, metadata: null },
    field: 'metadata',
    message: /must be a JSON object \(was null\)/,
    schema: 'rejects',
  },
  {
    name: 'metadata a string',
    data: { ...BASE, metadata: '{"a":1}' },
    field: 'metadata',
    message: /must be a JSON object \(was a string\)/,
    schema: 'rejects',
  },
  {
    name: 'metadata of 16,385 bytes as JSON',
    // {"k":"…"} is 8 bytes around the string.
    data: { ...BASE, metadata: { k: 'v'.repeat(16_385 - 8) } },
    field: 'metadata',
    message: /must be at most 16384 bytes as JSON \(was 16385 bytes\)/,
    schema: 'accepts',
  },
  {
    name: 'metadata holding a BigInt',
    data: { ...BASE, metadata: { n: 10n } },
    field: 'metadata',
    message: /must be serialisable as JSON/,
    schema: 'skip',
  },
];
