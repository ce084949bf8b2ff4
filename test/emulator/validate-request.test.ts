import { describe, expect, it } from 'vitest';
import {
  constraintProblem,
  displayValue,
  parseInvokeRequest,
  validationMessage,
} from '../../src/emulator/validate-request.js';

const ok = { 'x-amzn-sagemaker-inputlocation': 's3://b/k' };

describe('parseInvokeRequest (pure)', () => {
  it('parses every header into parameters', () => {
    const result = parseInvokeRequest({
      endpointName: 'ep',
      headers: {
        'x-amzn-sagemaker-content-type': 'text/csv',
        'x-amzn-sagemaker-accept': 'application/json',
        'x-amzn-sagemaker-custom-attributes': 'a=b',
        'x-amzn-sagemaker-inference-id': 'id-1',
        'x-amzn-sagemaker-inputlocation': 's3://b/k',
        'x-amzn-sagemaker-s3outputpathextension': 'ext',
        'x-amzn-sagemaker-filename': 'f.csv',
        'x-amzn-sagemaker-requestttlseconds': '120',
        'x-amzn-sagemaker-invocationtimeoutseconds': '30',
      },
    });
    expect(result).toEqual({
      ok: true,
      params: {
        endpointName: 'ep',
        contentType: 'text/csv',
        accept: 'application/json',
        customAttributes: 'a=b',
        inferenceId: 'id-1',
        inputLocation: 's3://b/k',
        s3OutputPathExtension: 'ext',
        filename: 'f.csv',
        requestTTLSeconds: 120,
        invocationTimeoutSeconds: 30,
      },
    });
  });

  it('takes a non-empty payload as Body; an empty payload is no Body', () => {
    const withBody = parseInvokeRequest({ endpointName: 'ep', headers: {}, body: Buffer.from('x') });
    expect(withBody.ok && withBody.body?.toString()).toBe('x');
    const empty = parseInvokeRequest({ endpointName: 'ep', headers: {}, body: Buffer.alloc(0) });
    expect(empty.ok).toBe(false);
    expect(!empty.ok && empty.problems[0]).toContain('neither');
  });

  it('rejects an inference id with a leading ASCII space (which HTTP itself would strip)', () => {
    const result = parseInvokeRequest({
      endpointName: 'ep',
      headers: { ...ok, 'x-amzn-sagemaker-inference-id': ' leading' },
    });
    expect(result.ok).toBe(false);
    expect(!result.ok && result.problems).toHaveLength(1);
    expect(!result.ok && result.problems[0]).toMatch(
      /^Value ' leading' at 'inferenceId' failed to satisfy constraint: Member must start with a non-space character/,
    );
  });

  it('rejects integers that are not decimal integers', () => {
    for (const raw of ['abc', '1e3', '', '60.5']) {
      const result = parseInvokeRequest({
        endpointName: 'ep',
        headers: { ...ok, 'x-amzn-sagemaker-requestttlseconds': raw },
      });
      expect(!result.ok && result.problems[0], raw).toContain("at 'requestTTLSeconds'");
    }
  });

  it('lists every problem, AWS style', () => {
    const result = parseInvokeRequest({
      endpointName: 'bad_name',
      headers: { 'x-amzn-sagemaker-filename': '..', 'x-amzn-sagemaker-invocationtimeoutseconds': '0' },
    });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problems).toHaveLength(4);
    expect(validationMessage(result.problems)).toMatch(
      /^4 validation errors detected: Value 'bad_name' at 'endpointName'/,
    );
    expect(validationMessage(['one'])).toBe('1 validation error detected: one');
  });

  it('escapes control characters and shortens long values; hides sensitive ones', () => {
    expect(displayValue('a\tb\u0085')).toBe('a\\u0009b\\u0085');
    expect(displayValue('x'.repeat(200))).toHaveLength(80);
    expect(constraintProblem('customAttributes', 'secret', 'must be short')).toBe(
      "Value at 'customAttributes' failed to satisfy constraint: Member must be short",
    );
  });
});
