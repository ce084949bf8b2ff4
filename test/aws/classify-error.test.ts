import { describe, expect, it } from 'vitest';
import { classifyAwsError } from '../../src/aws/classify-error.js';

const service = (name: string, status?: number) =>
  Object.assign(new Error(`${name} happened`), {
    name,
    $metadata: status === undefined ? {} : { httpStatusCode: status },
  });

describe('classifyAwsError', () => {
  it.each([
    ['ValidationError', 400, 'validation', false],
    ['ThrottlingException', 400, 'throttling', true],
    ['SomethingNew', 429, 'throttling', true],
    ['ServiceUnavailable', 503, 'unavailable', true],
    ['InternalFailure', 500, 'internal', true],
    ['BadGateway', 502, 'internal', true],
    ['AccessDeniedException', 403, 'access', false],
    ['ExpiredTokenException', 400, 'access', false],
    ['UnrecognizedClientException', 400, 'access', false],
    ['ModelNotReadyException', 424, 'client', false],
  ] as const)('%s (%s) is %s, retryable=%s', (name, status, cls, retryable) => {
    const result = classifyAwsError(service(name, status));
    expect(result.class).toBe(cls);
    expect(result.retryable).toBe(retryable);
    expect(result.httpStatus).toBe(status);
    expect(result.message).toBe(`${name} happened`);
  });

  it('marks throttling and 503 as slow-down signals, and nothing else', () => {
    expect(classifyAwsError(service('ThrottlingException', 400)).slowDown).toBe(true);
    expect(classifyAwsError(service('ServiceUnavailable', 503)).slowDown).toBe(true);
    expect(classifyAwsError(service('InternalFailure', 500)).slowDown).toBe(false);
  });

  it('retries network failures and timeouts that never got an HTTP answer', () => {
    expect(
      classifyAwsError(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }))
        .class,
    ).toBe('network');
    expect(
      classifyAwsError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })).retryable,
    ).toBe(true);
    const timeout = classifyAwsError(
      Object.assign(new Error('Connection timed out after 30000 ms'), { name: 'TimeoutError' }),
    );
    expect(timeout).toMatchObject({ class: 'timeout', retryable: true });
    expect(classifyAwsError('a string').retryable).toBe(true);
  });
});
