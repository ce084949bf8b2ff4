import { describe, expect, it } from 'vitest';
import { isWebhookSecret } from '../../src/config/schema.js';
import {
  API_LENGTHS,
  checkAccept,
  checkContentType,
  checkCustomAttributes,
  checkEndpointName,
  checkFilename,
  checkInferenceId,
  checkInputLocation,
  checkS3OutputPathExtension,
} from '../../src/contract/api-constraints.js';
import type { ValidJob } from '../../src/contract/job.js';
import {
  BASE64_PATTERN,
  base64Problem,
  formatProblem,
  formatProblems,
  validateJob,
  validMetadataOf,
  validWebhookOf,
  WEBHOOK_SECRET_PATTERN,
  WEBHOOK_URL_PATTERN,
  webhookUrlProblem,
} from '../../src/contract/validate-job.js';
import { BASE, BODY_BASE, INVALID, NO_STAGING, OPTIONS, SECRET_32 } from './job-fixtures.js';

function accept(data: unknown, options = OPTIONS): ValidJob {
  const result = validateJob(data, options);
  if (!result.ok) throw new Error(`expected a valid job, got ${formatProblems(result.problems)}`);
  return result.job;
}

/** A small deterministic PRNG (mulberry32), so the property tests are reproducible. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('validateJob: invalid jobs, one rule each', () => {
  it('has at least 30 of them', () => {
    expect(INVALID.length).toBeGreaterThanOrEqual(30);
  });

  it.each(INVALID.map((f) => [f.name, f] as const))('%s', (_name, fixture) => {
    const result = validateJob(fixture.data, fixture.options ?? OPTIONS);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problems).toHaveLength(1);
    const [problem] = result.problems;
    expect(problem?.field).toBe(fixture.field);
    expect(problem?.message).toMatch(fixture.message);
  });
});

describe('validateJob: several problems at once', () => {
  it('reports all five problems of a job, each naming its field', () => {
    const result = validateJob(
      {
        inputLocation: 's3://bucket/key',
        requestTTLSeconds: 30,
        webhook: { url: 'ftp://hooks.example.com/x' },
        metadata: ['not', 'an', 'object'],
        colour: 'blue',
      },
      OPTIONS,
    );
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problems.map((p) => p.field)).toEqual([
      'endpointName',
      'requestTTLSeconds',
      'webhook.url',
      'metadata',
      'colour',
    ]);
    expect(formatProblems(result.problems)).toBe(
      [
        'endpointName: is required (the SageMaker endpoint to invoke)',
        'requestTTLSeconds: must be an integer between 60 and 21600 (was 30)',
        'webhook.url: must be an absolute URL starting with http:// or https://',
        'metadata: must be a JSON object (was an array)',
        'colour: is not a job field (fields: endpointName, inputLocation, body, bodyEncoding, contentType, accept, customAttributes, inferenceId, requestTTLSeconds, invocationTimeoutSeconds, filename, s3OutputPathExtension, webhook, metadata)',
      ].join('; '),
    );
  });

  it('reports both an inline payload conflict and the problems of each payload field', () => {
    const result = validateJob({ ...BASE, inputLocation: 'ftp://x', body: '', bodyEncoding: 'hex' }, OPTIONS);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problems.map((p) => p.field)).toEqual(['inputLocation', 'bodyEncoding', 'body']);
  });

  it('reports a body over both the inline limit and the staging threshold twice, once per rule', () => {
    const result = validateJob(
      { ...BODY_BASE, body: 'x'.repeat(200_000) },
      { maxInlineBytes: 150_000, stagingAvailable: false },
    );
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problems).toHaveLength(2);
    expect(result.problems[0]?.message).toMatch(/over the limit of 150000 bytes/);
    expect(result.problems[1]?.message).toMatch(/staging\.s3Uri must be configured/);
  });

  it('lists at most 20 unknown fields and counts the rest', () => {
    const data: Record<string, unknown> = { ...BASE };
    for (let i = 0; i < 25; i++) data[`extra${i}`] = i;
    const result = validateJob(data, OPTIONS);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problems).toHaveLength(21);
    expect(result.problems[19]?.field).toBe('extra19');
    expect(result.problems[20]).toEqual({
      field: '',
      message: expect.stringMatching(/^5 more unknown fields not listed/),
    });
  });

  it('never repeats the value of a sensitive field in a message', () => {
    const secretish = 'hunter2-ü-very-secret';
    const result = validateJob(
      {
        ...BASE,
        customAttributes: secretish,
        webhook: { url: `https://user:${secretish}@hooks.example.com/`, secret: `whsec_${secretish}` },
      },
      OPTIONS,
    );
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problems).toHaveLength(3);
    expect(JSON.stringify(result.problems)).not.toContain('hunter2');
  });
});

describe('validateJob: valid jobs', () => {
  it('accepts an S3 input', () => {
    const job = accept(BASE);
    expect(job).toEqual({ endpointName: 'my-endpoint', inputLocation: 's3://bucket/in/payload.json' });
    expect(job.bodyBytes).toBeUndefined();
  });

  it('accepts an https input', () => {
    expect(accept({ ...BASE, inputLocation: 'https://example.com/payload.json' }).inputLocation).toBe(
      'https://example.com/payload.json',
    );
  });

  it('accepts a utf8 body, resolving the default encoding', () => {
    const job = accept({ endpointName: 'e', body: '{"text":"héllo"}' });
    expect(job.bodyEncoding).toBe('utf8');
    expect(job.body).toBe('{"text":"héllo"}');
    expect(job.bodyBytes).toEqual(Buffer.from('{"text":"héllo"}', 'utf8'));
    expect(job.inputLocation).toBeUndefined();
  });

  it('accepts an explicit utf8 encoding', () => {
    expect(accept({ endpointName: 'e', body: 'x', bodyEncoding: 'utf8' }).bodyBytes).toEqual(
      Buffer.from('x'),
    );
  });

  it('accepts a base64 body and decodes it', () => {
    const bytes = Buffer.from([0, 1, 2, 253, 254, 255, 10]);
    const job = accept({ endpointName: 'e', body: bytes.toString('base64'), bodyEncoding: 'base64' });
    expect(job.bodyEncoding).toBe('base64');
    expect(job.bodyBytes).toEqual(bytes);
  });

  it('accepts base64 bodies of every padding', () => {
    for (const n of [1, 2, 3, 4, 5, 6]) {
      const bytes = Buffer.alloc(n, 0xff);
      expect(
        accept({ endpointName: 'e', body: bytes.toString('base64'), bodyEncoding: 'base64' }).bodyBytes,
      ).toEqual(bytes);
    }
  });

  it('accepts a 200,000-byte body when staging is available', () => {
    const job = accept({ endpointName: 'e', body: 'x'.repeat(200_000) });
    expect(job.bodyBytes?.length).toBe(200_000);
  });

  it('accepts a base64 body of 200,000 decoded bytes when staging is available', () => {
    const bytes = Buffer.alloc(200_000, 0x5a);
    const job = accept({ endpointName: 'e', body: bytes.toString('base64'), bodyEncoding: 'base64' });
    expect(job.bodyBytes?.length).toBe(200_000);
  });

  it('accepts exactly 128,000 bytes without staging, and a base64 string longer than that', () => {
    expect(accept({ endpointName: 'e', body: 'x'.repeat(128_000) }, NO_STAGING).bodyBytes?.length).toBe(
      128_000,
    );
    const encoded = Buffer.alloc(128_000).toString('base64');
    expect(encoded.length).toBeGreaterThan(128_000);
    expect(
      accept({ endpointName: 'e', body: encoded, bodyEncoding: 'base64' }, NO_STAGING).bodyBytes?.length,
    ).toBe(128_000);
  });

  it('accepts a body of exactly maxInlineBytes', () => {
    expect(
      accept({ endpointName: 'e', body: 'x'.repeat(1000) }, { maxInlineBytes: 1000, stagingAvailable: true })
        .bodyBytes?.length,
    ).toBe(1000);
  });

  it('accepts every optional field set', () => {
    const data = {
      endpointName: 'whisper-large-v3',
      body: Buffer.from('RIFF....WAVE').toString('base64'),
      bodyEncoding: 'base64',
      contentType: 'audio/wav',
      accept: 'application/json',
      customAttributes: 'trace=abc; tenant=42',
      inferenceId: 'order-7f3a/b-1',
      requestTTLSeconds: 21_600,
      invocationTimeoutSeconds: 3600,
      filename: 'meeting-42.json',
      s3OutputPathExtension: 'tenant-42/2026/11/',
      webhook: { url: 'https://hooks.example.com/smad?tenant=42#x', secret: SECRET_32 },
      metadata: { meeting: 42, tags: ['a', 'b'], nested: { ok: true, none: null } },
    };
    const job = accept(data);
    const { bodyEncoding: _encoding, ...rest } = data;
    expect(job).toEqual({ ...rest, bodyEncoding: 'base64', bodyBytes: Buffer.from('RIFF....WAVE') });
  });

  it('accepts the boundaries of every range and length', () => {
    accept({
      ...BASE,
      endpointName: `a${'-b'.repeat(31)}`,
      inferenceId: 'i'.repeat(64),
      requestTTLSeconds: 60,
      invocationTimeoutSeconds: 1,
      filename: 'f'.repeat(32),
      s3OutputPathExtension: 's'.repeat(512),
      contentType: 'c'.repeat(1024),
      accept: '',
      customAttributes: 'a'.repeat(1024),
      webhook: { url: `https://h.example/${'p'.repeat(2048 - 18)}` },
      metadata: { k: 'v'.repeat(16_384 - 8) },
    });
  });

  it('treats undefined properties as absent, as JSON serialisation would', () => {
    const job = accept({
      ...BASE,
      body: undefined,
      inferenceId: undefined,
      webhook: { url: 'http://h.example/', secret: undefined },
      extra: undefined,
    });
    expect(job).toEqual({ ...BASE, webhook: { url: 'http://h.example/' } });
    expect(Object.keys(job)).not.toContain('inferenceId');
  });

  it('returns metadata as a JSON copy', () => {
    const metadata = { when: new Date(0), n: 1 };
    const job = accept({ ...BASE, metadata });
    expect(job.metadata).toEqual({ when: '1970-01-01T00:00:00.000Z', n: 1 });
    expect(job.metadata).not.toBe(metadata);
  });

  it('accepts an inferenceId of printable ASCII with inner spaces, and the smallest and largest webhook secrets', () => {
    accept({ ...BASE, inferenceId: 'Order #42 (retry) ~ok' });
    for (const bytes of [24, 64]) {
      accept({
        ...BASE,
        webhook: { url: 'https://h.example/', secret: `whsec_${Buffer.alloc(bytes, 1).toString('base64')}` },
      });
    }
  });
});

describe('validWebhookOf and validMetadataOf (for rejected jobs)', () => {
  it('return a field that is valid on its own, even when the job is not', () => {
    const data = { endpointName: 'bad_name', webhook: { url: 'https://h.example/x' }, metadata: { a: 1 } };
    expect(validateJob(data, OPTIONS).ok).toBe(false);
    expect(validWebhookOf(data)).toEqual({ url: 'https://h.example/x' });
    expect(validMetadataOf(data)).toEqual({ a: 1 });
  });

  it('return undefined for an invalid or absent field', () => {
    expect(validWebhookOf({ webhook: { url: 'https://user:pw@h.example/' } })).toBeUndefined();
    expect(validWebhookOf({ webhook: { url: 'https://h.example/', secret: 'nope' } })).toBeUndefined();
    expect(validWebhookOf({})).toBeUndefined();
    expect(validWebhookOf('not a job')).toBeUndefined();
    expect(validMetadataOf({ metadata: [1] })).toBeUndefined();
    expect(validMetadataOf(null)).toBeUndefined();
  });
});

describe('formatProblem', () => {
  it('prefixes the field, except for the job data itself', () => {
    expect(formatProblem({ field: 'webhook.url', message: 'is required' })).toBe('webhook.url: is required');
    expect(formatProblem({ field: '', message: 'job data must be a JSON object (was null)' })).toBe(
      'job data must be a JSON object (was null)',
    );
  });
});

describe('shared patterns agree with the checks that use them', () => {
  it('base64Problem accepts exactly the language of BASE64_PATTERN, and that language round-trips', () => {
    const random = rng(1);
    const alphabet = 'ABCDQRgwxyz01489+/=-_ \n*';
    let valid = 0;
    for (let i = 0; i < 20_000; i++) {
      const length = Math.floor(random() * 13);
      let s = '';
      for (let j = 0; j < length; j++) s += alphabet[Math.floor(random() * alphabet.length)];
      const ok = base64Problem(s) === undefined;
      expect(ok, JSON.stringify(s)).toBe(BASE64_PATTERN.test(s));
      if (ok) {
        valid++;
        expect(Buffer.from(s, 'base64').toString('base64')).toBe(s);
      }
    }
    expect(valid).toBeGreaterThan(100);
    for (let n = 0; n < 50; n++) {
      const encoded = Buffer.alloc(n, n * 37).toString('base64');
      expect(base64Problem(encoded)).toBeUndefined();
      expect(BASE64_PATTERN.test(encoded)).toBe(true);
    }
  });

  it('BASE64_PATTERN handles a body of the default inline limit without overflowing the regex stack', () => {
    // 10 MiB decoded is 13,981,016 characters; the `[...]{4}` form of the quad throws a RangeError here.
    const encoded = Buffer.alloc(10 * 1024 * 1024, 0x41).toString('base64');
    expect(BASE64_PATTERN.test(encoded)).toBe(true);
    expect(new RegExp(BASE64_PATTERN.source, 'u').test(`${encoded}A`)).toBe(false);
    expect(accept({ endpointName: 'e', body: encoded, bodyEncoding: 'base64' }).bodyBytes?.length).toBe(
      10 * 1024 * 1024,
    );
  });

  it('WEBHOOK_SECRET_PATTERN agrees with isWebhookSecret', () => {
    const samples = new Set<string>();
    for (let n = 0; n <= 70; n++) {
      const b64 = Buffer.alloc(n, n).toString('base64');
      for (const s of [
        `whsec_${b64}`,
        `whsec_${b64.replace(/=+$/, '')}`,
        `whsec_${b64}=`,
        b64,
        `whsec_ ${b64}`,
      ])
        samples.add(s);
      samples.add(`whsec_${Buffer.alloc(n, 0xfb).toString('base64url')}`);
    }
    let accepted = 0;
    for (const s of samples) {
      expect(WEBHOOK_SECRET_PATTERN.test(s), s).toBe(isWebhookSecret(s));
      if (isWebhookSecret(s)) accepted++;
    }
    expect(accepted).toBe(41);
  });

  it('webhookUrlProblem accepts only URLs WEBHOOK_URL_PATTERN matches', () => {
    const urls = [
      'https://hooks.example.com/x',
      'http://h:8080',
      'http://h:8080?x=1',
      'https://h#frag',
      'https://xn--bcher-kva.example/ü',
      'https://bücher.example/',
      'https://[::1]:8443/x',
      'https://[::1/x',
      'https://h/a@b',
      'https://u@h/',
      'https://h\\x/',
      'https:/h/x',
      'https:h/x',
      'HTTPS://h/x',
      ' https://h/x',
      'https://h/x\t',
      'https://h/\u0000',
      'https://h/\u007f',
      'https://',
      'http://?',
      'javascript:alert(1)',
      'mailto:a@b.example',
    ];
    for (const url of urls) {
      if (webhookUrlProblem(url) === undefined) expect(WEBHOOK_URL_PATTERN.test(url), url).toBe(true);
      if (!WEBHOOK_URL_PATTERN.test(url)) expect(webhookUrlProblem(url), url).toBeDefined();
    }
    expect(urls.filter((u) => webhookUrlProblem(u) === undefined)).toEqual([
      'https://hooks.example.com/x',
      'http://h:8080',
      'http://h:8080?x=1',
      'https://h#frag',
      'https://xn--bcher-kva.example/ü',
      'https://bücher.example/',
      'https://[::1]:8443/x',
      'https://h/a@b',
    ]);
  });

  it('API_LENGTHS are the limits the check functions apply', () => {
    const checks = {
      endpointName: [checkEndpointName, (n: number) => 'a'.repeat(n)],
      contentType: [checkContentType, (n: number) => 'a'.repeat(n)],
      accept: [checkAccept, (n: number) => 'a'.repeat(n)],
      customAttributes: [checkCustomAttributes, (n: number) => 'a'.repeat(n)],
      inferenceId: [checkInferenceId, (n: number) => 'a'.repeat(n)],
      inputLocation: [checkInputLocation, (n: number) => `s3://${'b'.repeat(n - 5)}`],
      s3OutputPathExtension: [checkS3OutputPathExtension, (n: number) => 'a'.repeat(n)],
      filename: [checkFilename, (n: number) => 'a'.repeat(n)],
    } as const;
    for (const [field, { min, max }] of Object.entries(API_LENGTHS)) {
      const [check, make] = checks[field as keyof typeof checks];
      expect(check(make(max)), field).toBeUndefined();
      expect(check(make(max + 1)), field).toBeDefined();
      if (min > 0) expect(check(''), field).toBeDefined();
      else expect(check(''), field).toBeUndefined();
    }
  });
});
