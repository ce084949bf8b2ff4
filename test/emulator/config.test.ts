import { describe, expect, it } from 'vitest';
import {
  DEFAULT_FAIL_REASON,
  EmulatorConfigError,
  ENDPOINT_DEFAULTS,
  parseEmulatorConfig,
} from '../../src/emulator/config.js';

function problems(raw: unknown): string[] {
  try {
    parseEmulatorConfig(raw);
  } catch (err) {
    expect(err).toBeInstanceOf(EmulatorConfigError);
    return (err as EmulatorConfigError).problems;
  }
  throw new Error('expected an EmulatorConfigError');
}

describe('emulator configuration', () => {
  it('fills defaults', () => {
    const config = parseEmulatorConfig({ endpoints: [{ name: 'ep', s3OutputPath: 's3://b/out/' }] });
    expect(config).toEqual({
      endpoints: [
        {
          name: 'ep',
          s3OutputPath: 's3://b/out',
          inlineInputPath: 's3://b/async-inputs',
          includeInferenceResponseIn: [],
          model: { type: 'echo' },
          instances: ENDPOINT_DEFAULTS.instances,
          maxConcurrentInvocationsPerInstance: ENDPOINT_DEFAULTS.maxConcurrentInvocationsPerInstance,
          knobs: {},
        },
      ],
      knobs: {},
    });
  });

  it('takes every field and each model form', () => {
    const config = parseEmulatorConfig({
      endpoints: [
        {
          name: 'full',
          s3OutputPath: 's3://b/out',
          s3FailurePath: 's3://b/fail',
          inlineInputPath: 's3://c/in',
          successTopicArn: 'arn:aws:sns:eu-west-1:123456789012:ok',
          errorTopicArn: 'arn:aws:sns:eu-west-1:123456789012:ko',
          includeInferenceResponseIn: ['SUCCESS_NOTIFICATION_TOPIC'],
          model: { type: 'container', url: 'http://127.0.0.1:8080/' },
          instances: 3,
          maxConcurrentInvocationsPerInstance: 5,
          knobs: { latencyMs: 5 },
        },
        { name: 'f', s3OutputPath: 's3://b/o', model: 'fail', successTopicArn: null },
        { name: 's', s3OutputPath: 's3://b/o', model: { type: 'sleep', ms: 7 } },
      ],
      knobs: { latencyMs: 1 },
      region: 'eu-west-1',
      accountId: '111122223333',
      seed: 9,
    });
    expect(config.endpoints[0]).toMatchObject({
      s3FailurePath: 's3://b/fail',
      inlineInputPath: 's3://c/in',
      model: { type: 'container', url: 'http://127.0.0.1:8080', pingTimeoutMs: 30_000 },
      instances: 3,
      maxConcurrentInvocationsPerInstance: 5,
      knobs: { latencyMs: 5 },
    });
    expect(config.endpoints[1]?.model).toEqual({ type: 'fail', reason: DEFAULT_FAIL_REASON });
    expect(config.endpoints[1]?.successTopicArn).toBeUndefined();
    expect(config.endpoints[2]?.model).toEqual({ type: 'sleep', ms: 7 });
    expect(config).toMatchObject({ region: 'eu-west-1', accountId: '111122223333', seed: 9 });
  });

  it('names every problem at once', () => {
    const found = problems({
      endpoints: [
        { name: 'ok', s3OutputPath: 's3://b/o' },
        {
          name: 'ok',
          s3OutputPath: 'b/o',
          s3FailurePath: 'http://x',
          successTopicArn: 'topic',
          includeInferenceResponseIn: ['BOTH'],
          model: { type: 'container' },
          maxConcurrentInvocationsPerInstance: 1001,
          knobs: { latencyMs: -1 },
          typo: 1,
        },
        'nope',
      ],
      accountId: '12',
      region: 'Mars',
      seed: -1,
      extra: true,
    });
    expect(found).toEqual(
      expect.arrayContaining([
        expect.stringContaining('config.extra: unknown key'),
        expect.stringContaining('endpoints[1].typo: unknown key'),
        'endpoints[ok].s3OutputPath: must be an s3://bucket[/prefix] URI (was "b/o")',
        'endpoints[ok].s3FailurePath: must be an s3://bucket[/prefix] URI (was "http://x")',
        expect.stringContaining('endpoints[ok].successTopicArn: must be an SNS topic ARN'),
        expect.stringContaining('endpoints[ok].includeInferenceResponseIn: must be an array of'),
        expect.stringContaining("endpoints[ok].model.url: must be the container's http(s):// base URL"),
        'endpoints[ok].maxConcurrentInvocationsPerInstance: must be an integer from 1 to 1000 (was 1001)',
        expect.stringContaining('endpoints[ok].knobs.latencyMs: must be a number of milliseconds'),
        'endpoints[1].name: duplicate endpoint name "ok"',
        'endpoints[2]: must be an object with at least name and s3OutputPath',
        'accountId: must be 12 digits (was "12")',
        expect.stringContaining('region: must be an AWS region name'),
        expect.stringContaining('seed: must be an integer'),
      ]),
    );
    expect(problems({})).toEqual(['endpoints: must be a non-empty array of endpoint objects']);
    expect(problems(null)).toEqual(['the configuration must be a JSON object with "endpoints"']);
    expect(problems({ endpoints: [{ name: 'x'.repeat(64), s3OutputPath: 's3://b' }] })[0]).toContain(
      'must be 1 to 63 characters long',
    );
  });

  it('has a readable error message', () => {
    expect(() => parseEmulatorConfig({ endpoints: [] })).toThrow(
      /invalid emulator configuration:\n {2}- endpoints: must be a non-empty array/,
    );
  });
});
