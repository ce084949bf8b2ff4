import {
  InvokeEndpointAsyncCommand,
  type InvokeEndpointAsyncCommandInput,
  ValidationError,
} from '@aws-sdk/client-sagemaker-runtime';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type AwsStack, startAwsStack } from '../support/emulator.js';

const LOCATION = 's3://bucket/input.json';
const body = (text = 'x') => Buffer.from(text);

/**
 * Each case is one invalid call and a fragment its message must hold (the member it names,
 * or the problem). Values that cannot cross HTTP as written are noted: a leading ASCII
 * space is stripped by every HTTP/1.1 parser (so a U+00A0 stands in for "leading space"),
 * and Node refuses header characters above U+00FF, so "non-ASCII" uses Latin-1 letters.
 */
const INVALID: Array<[string, Partial<InvokeEndpointAsyncCommandInput>, string | RegExp]> = [
  ['endpoint name with an underscore', { EndpointName: 'bad_name' }, "at 'endpointName'"],
  ['endpoint name with a dot', { EndpointName: 'bad.name' }, "at 'endpointName'"],
  ['endpoint name starting with a hyphen', { EndpointName: '-leading' }, "at 'endpointName'"],
  ['endpoint name ending with a hyphen', { EndpointName: 'trailing-' }, "at 'endpointName'"],
  ['endpoint name of 64 characters', { EndpointName: 'a'.repeat(64) }, /at 'endpointName'.*1 to 63/],
  ['empty endpoint name', { EndpointName: '' }, /at 'endpointName'.*1 to 63/],
  ['content type over 1024 characters', { ContentType: 'a'.repeat(1025) }, /at 'contentType'.*1024/],
  ['non-ASCII content type', { ContentType: 'text/plain; charset=café' }, /at 'contentType'.*ASCII/],
  ['content type with a control character', { ContentType: 'text/\tplain' }, /at 'contentType'.*ASCII/],
  ['accept over 1024 characters', { Accept: 'b'.repeat(1025) }, /at 'accept'.*1024/],
  ['non-ASCII accept', { Accept: 'application/jsön' }, /at 'accept'.*ASCII/],
  [
    'custom attributes over 1024 characters',
    { CustomAttributes: 'c'.repeat(1025) },
    /at 'customAttributes'.*1024/,
  ],
  ['non-ASCII custom attributes', { CustomAttributes: 'naïve=1' }, /at 'customAttributes'.*ASCII/],
  ['empty inference id', { InferenceId: '' }, /at 'inferenceId'.*1 to 64/],
  ['inference id of 65 characters', { InferenceId: 'i'.repeat(65) }, /at 'inferenceId'.*1 to 64/],
  ['inference id with a leading (no-break) space', { InferenceId: '\u00a0leading' }, "at 'inferenceId'"],
  ['inference id with a tab', { InferenceId: 'tab\there' }, /at 'inferenceId'.*printable/],
  [
    'inference id with a C1 control character',
    { InferenceId: 'c1\u0085char' },
    /at 'inferenceId'.*printable/,
  ],
  [
    'input location with an ftp scheme',
    { InputLocation: 'ftp://bucket/key' },
    /at 'inputLocation'.*s3:\/\/ or https/,
  ],
  ['input location without a scheme', { InputLocation: 'bucket/key' }, "at 'inputLocation'"],
  [
    'input location over 1024 characters',
    { InputLocation: `s3://b/${'k'.repeat(1020)}` },
    /at 'inputLocation'.*1024/,
  ],
  ['both Body and InputLocation', { InputLocation: LOCATION, Body: body() }, /Body and InputLocation.*both/],
  ['neither Body nor InputLocation', { InputLocation: undefined }, /Body and InputLocation.*neither/],
  [
    'Body of 128,001 bytes',
    { InputLocation: undefined, Body: Buffer.alloc(128_001) },
    /at 'body'.*128000 bytes/,
  ],
  ['RequestTTLSeconds below 60', { RequestTTLSeconds: 59 }, /at 'requestTTLSeconds'.*60 and 21600/],
  ['RequestTTLSeconds above 21600', { RequestTTLSeconds: 21_601 }, /at 'requestTTLSeconds'.*60 and 21600/],
  ['non-integer RequestTTLSeconds', { RequestTTLSeconds: 90.5 }, /at 'requestTTLSeconds'.*integer/],
  [
    'InvocationTimeoutSeconds of 0',
    { InvocationTimeoutSeconds: 0 },
    /at 'invocationTimeoutSeconds'.*1 and 3600/,
  ],
  [
    'InvocationTimeoutSeconds of 3601',
    { InvocationTimeoutSeconds: 3601 },
    /at 'invocationTimeoutSeconds'.*1 and 3600/,
  ],
  [
    'non-integer InvocationTimeoutSeconds',
    { InvocationTimeoutSeconds: 1.5 },
    /at 'invocationTimeoutSeconds'.*integer/,
  ],
  ['Filename with two dots', { Filename: 'out.tar.gz' }, /at 'filename'.*at most one "\."/],
  ['Filename starting with a dot', { Filename: '.hidden' }, /at 'filename'.*start with a letter or digit/],
  ['Filename starting with a hyphen', { Filename: '-out' }, /at 'filename'.*start with a letter or digit/],
  ['Filename of 33 characters', { Filename: 'f'.repeat(33) }, /at 'filename'.*1 to 32/],
  ['Filename with a slash', { Filename: 'a/b' }, "at 'filename'"],
  [
    'S3OutputPathExtension starting with s3:',
    { S3OutputPathExtension: 's3://bucket/x' },
    "at 's3OutputPathExtension'",
  ],
  [
    'S3OutputPathExtension starting with https:',
    { S3OutputPathExtension: 'https:x' },
    "at 's3OutputPathExtension'",
  ],
  [
    'S3OutputPathExtension with a space',
    { S3OutputPathExtension: 'a b' },
    /at 's3OutputPathExtension'.*only letters/,
  ],
  [
    'S3OutputPathExtension with a question mark',
    { S3OutputPathExtension: 'a?b' },
    "at 's3OutputPathExtension'",
  ],
  [
    'S3OutputPathExtension of 513 characters',
    { S3OutputPathExtension: 'e'.repeat(513) },
    /at 's3OutputPathExtension'.*1 to 512/,
  ],
  ['empty S3OutputPathExtension', { S3OutputPathExtension: '' }, /at 's3OutputPathExtension'.*1 to 512/],
];

describe('validation like AWS: ValidationError through the SDK', () => {
  let stack: AwsStack;

  beforeAll(async () => {
    stack = await startAwsStack({ endpoints: [{ name: 'echo' }] });
  });
  afterAll(async () => {
    await stack?.stop();
  });
  beforeEach(async () => {
    await stack.reset();
  });

  async function rejection(input: Partial<InvokeEndpointAsyncCommandInput>): Promise<ValidationError> {
    const command = new InvokeEndpointAsyncCommand({
      EndpointName: 'echo',
      InputLocation: LOCATION,
      ...input,
    } as InvokeEndpointAsyncCommandInput);
    const err = await stack.sagemaker.send(command).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err, 'the call should have been rejected').toBeDefined();
    return err as ValidationError;
  }

  it('has at least 25 invalid cases', () => {
    expect(INVALID.length).toBeGreaterThanOrEqual(25);
  });

  it.each(INVALID)('rejects %s', async (_name, input, fragment) => {
    const err = await rejection(input);
    expect(err.name).toBe('ValidationError');
    expect(err).toBeInstanceOf(ValidationError);
    expect(err.$metadata.httpStatusCode).toBe(400);
    expect(err.message).toMatch(/^1 validation error detected: /);
    if (typeof fragment === 'string') expect(err.message).toContain(fragment);
    else expect(err.message).toMatch(fragment);
    // Nothing was accepted, and the call is on record with its answer.
    expect(stack.emulator.stats().accepted).toBe(0);
    expect(stack.emulator.requests.at(-1)).toMatchObject({
      status: 400,
      error: { type: 'ValidationError', message: err.message },
    });
  });

  it('never shows CustomAttributes (sensitive) in the message', async () => {
    const err = await rejection({ CustomAttributes: `secret-token-${'x'.repeat(1020)}` });
    expect(err.message).toContain("Value at 'customAttributes'");
    expect(err.message).not.toContain('secret-token');
  });

  it('answers an unknown endpoint as AWS does', async () => {
    const err = await rejection({ EndpointName: 'no-such-endpoint' });
    expect(err.name).toBe('ValidationError');
    expect(err.$metadata.httpStatusCode).toBe(400);
    expect(err.message).toBe('Endpoint no-such-endpoint of account 123456789012 not found.');
  });

  it('reports every problem of a request at once', async () => {
    const err = await rejection({
      InferenceId: 'i'.repeat(65),
      RequestTTLSeconds: 10,
      Filename: 'a.b.c',
      Body: body(),
    });
    expect(err.name).toBe('ValidationError');
    expect(err.message).toMatch(/^4 validation errors detected: /);
    for (const member of ['inferenceId', 'requestTTLSeconds', 'filename'])
      expect(err.message).toContain(`'${member}'`);
    expect(err.message).toContain('Body and InputLocation');
  });

  it('constraint problems come before the unknown-endpoint check', async () => {
    const err = await rejection({ EndpointName: 'unknown', InferenceId: '' });
    expect(err.message).toMatch(/^1 validation error detected: .*'inferenceId'/);
  });

  it('accepts every boundary value', async () => {
    const out = await stack.sagemaker.send(
      new InvokeEndpointAsyncCommand({
        EndpointName: 'echo',
        InputLocation: `s3://${stack.bucket}/${'k'.repeat(1024 - `s3://${stack.bucket}/`.length)}`,
        ContentType: 'c'.repeat(1024),
        Accept: 'a'.repeat(1024),
        CustomAttributes: 'x'.repeat(1024),
        InferenceId: 'i'.repeat(64),
        RequestTTLSeconds: 60,
        InvocationTimeoutSeconds: 3600,
        Filename: `${'f'.repeat(30)}.o`,
        S3OutputPathExtension: `${"!_.*'()/-"}${'e'.repeat(503)}`,
      }),
    );
    expect(out.$metadata.httpStatusCode).toBe(202);
    const again = await stack.sagemaker
      .send(
        new InvokeEndpointAsyncCommand({
          EndpointName: 'a'.repeat(63),
          Body: Buffer.alloc(1),
          RequestTTLSeconds: 21_600,
          InvocationTimeoutSeconds: 1,
          InferenceId: 'x',
        }),
      )
      .catch((e: Error) => e);
    // A valid 63-character name that no endpoint has: only the unknown-endpoint error remains.
    expect((again as Error).message).toBe(`Endpoint ${'a'.repeat(63)} of account 123456789012 not found.`);
  });
});
