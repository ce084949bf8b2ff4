import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  API_LENGTHS,
  API_PATTERNS,
  INVOCATION_TIMEOUT_SECONDS,
  TTL_SECONDS,
} from '../../src/contract/api-constraints.js';
import {
  BODY_ENCODINGS,
  DEFAULT_BODY_ENCODING,
  JOB_FIELDS,
  MAX_WEBHOOK_URL_LENGTH,
  WEBHOOK_FIELDS,
} from '../../src/contract/job.js';
import {
  BASE64_PATTERN,
  formatProblems,
  validateJob,
  WEBHOOK_SECRET_PATTERN,
  WEBHOOK_URL_PATTERN,
} from '../../src/contract/validate-job.js';
import { BASE, INVALID, OPTIONS, SECRET_32 } from './job-fixtures.js';
import { isValid } from './mini-json-schema.js';

type Schema = Record<string, unknown> & {
  properties: Record<string, Record<string, unknown>>;
};

const text = readFileSync(new URL('../../schema/job.schema.json', import.meta.url), 'utf8');

function load(): Schema {
  return JSON.parse(text) as Schema;
}

describe('schema/job.schema.json', () => {
  it('is valid JSON, a draft 2020-12 schema of an object without extra properties', () => {
    const schema = load();
    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(schema.type).toBe('object');
    expect(schema.additionalProperties).toBe(false);
    expect(schema.required).toEqual(['endpointName']);
  });

  it('lists exactly the fields the validator accepts, each described', () => {
    const schema = load();
    expect(Object.keys(schema.properties)).toEqual([...JOB_FIELDS]);
    for (const [field, property] of Object.entries(schema.properties)) {
      expect(typeof property.description, field).toBe('string');
    }
    const webhook = schema.properties.webhook as Schema;
    expect(Object.keys(webhook.properties)).toEqual([...WEBHOOK_FIELDS]);
    expect(webhook.required).toEqual(['url']);
    expect(webhook.additionalProperties).toBe(false);
  });

  it('uses the patterns of api-constraints', () => {
    const schema = load();
    for (const [field, pattern] of Object.entries(API_PATTERNS)) {
      expect(schema.properties[field]?.pattern, field).toBe(pattern.source);
      expect(['', 'u'], field).toContain(pattern.flags);
      expect(schema.properties[field]?.type, field).toBe('string');
    }
  });

  it('uses the lengths of api-constraints', () => {
    const schema = load();
    for (const [field, { min, max }] of Object.entries(API_LENGTHS)) {
      expect(schema.properties[field]?.minLength ?? 0, field).toBe(min);
      expect(schema.properties[field]?.maxLength, field).toBe(max);
    }
  });

  it('uses the integer ranges of api-constraints', () => {
    const schema = load();
    for (const [field, range] of [
      ['requestTTLSeconds', TTL_SECONDS],
      ['invocationTimeoutSeconds', INVOCATION_TIMEOUT_SECONDS],
    ] as const) {
      expect(schema.properties[field]).toMatchObject({
        type: 'integer',
        minimum: range.min,
        maximum: range.max,
      });
    }
  });

  it('uses the validator body, webhook and metadata rules', () => {
    const schema = load();
    expect(schema.properties.body).toMatchObject({ type: 'string', minLength: 1 });
    expect(schema.properties.bodyEncoding?.enum).toEqual([...BODY_ENCODINGS]);
    expect(schema.properties.bodyEncoding?.default).toBe(DEFAULT_BODY_ENCODING);
    expect(schema.oneOf).toEqual([
      expect.objectContaining({ required: ['inputLocation'] }),
      expect.objectContaining({ required: ['body'] }),
    ]);
    expect(schema.dependentRequired).toEqual({ bodyEncoding: ['body'] });
    expect(schema.if).toEqual({
      required: ['bodyEncoding'],
      properties: { bodyEncoding: { const: 'base64' } },
    });
    expect(schema.then).toEqual({ properties: { body: { type: 'string', pattern: BASE64_PATTERN.source } } });
    const webhook = schema.properties.webhook as Schema;
    expect(webhook.properties.url).toMatchObject({
      type: 'string',
      maxLength: MAX_WEBHOOK_URL_LENGTH,
      pattern: WEBHOOK_URL_PATTERN.source,
    });
    expect(webhook.properties.secret).toMatchObject({
      type: 'string',
      pattern: WEBHOOK_SECRET_PATTERN.source,
    });
    expect(schema.properties.metadata?.type).toBe('object');
  });

  it('holds only patterns that compile as ECMA-262 Unicode regular expressions', () => {
    const patterns: string[] = [];
    JSON.parse(text, (key, value) => {
      if (key === 'pattern') patterns.push(value as string);
      return value;
    });
    expect(patterns.length).toBe(11);
    for (const pattern of patterns) expect(() => new RegExp(pattern, 'u'), pattern).not.toThrow();
  });
});

describe('schema and validator agree', () => {
  const schema = load();

  it('on the examples in the schema: both accept them', () => {
    for (const example of schema.examples as unknown[]) {
      expect(isValid(schema, example)).toBe(true);
      const result = validateJob(example, OPTIONS);
      expect(result.ok, result.ok ? '' : formatProblems(result.problems)).toBe(true);
    }
  });

  it('on valid jobs: the schema accepts what the validator accepts', () => {
    const valid: unknown[] = [
      BASE,
      { ...BASE, inputLocation: 'https://example.com/x' },
      { endpointName: 'e', body: 'hello' },
      { endpointName: 'e', body: 'hello', bodyEncoding: 'utf8' },
      { endpointName: 'e', body: 'aGVsbG8=', bodyEncoding: 'base64' },
      { endpointName: 'e', body: 'x'.repeat(200_000) },
      {
        endpointName: 'whisper-large-v3',
        body: 'UklGRg==',
        bodyEncoding: 'base64',
        contentType: 'audio/wav',
        accept: 'application/json',
        customAttributes: 'trace=abc',
        inferenceId: 'Order #42 (retry)',
        requestTTLSeconds: 60,
        invocationTimeoutSeconds: 3600,
        filename: 'out.json',
        s3OutputPathExtension: 'tenant/2026/',
        webhook: { url: 'https://hooks.example.com/x?y=1', secret: SECRET_32 },
        metadata: { a: [1, { b: null }] },
      },
    ];
    for (const data of valid) {
      expect(validateJob(data, OPTIONS).ok).toBe(true);
      expect(isValid(schema, data)).toBe(true);
    }
  });

  it.each(INVALID.filter((f) => f.schema !== 'skip').map((f) => [f.name, f] as const))(
    'on "%s": the schema rejects it too, unless the rule is beyond JSON Schema',
    (_name, fixture) => {
      const json = JSON.parse(JSON.stringify(fixture.data)) as unknown;
      expect(validateJob(json, fixture.options ?? OPTIONS).ok).toBe(false);
      expect(isValid(schema, json)).toBe(fixture.schema === 'accepts');
    },
  );
});
