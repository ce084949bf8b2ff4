import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, inferenceLogger } from '../../src/observability/logger.js';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) lines.push(JSON.parse(line));
      done();
    },
  });
  return { lines, logger: createLogger({ level: 'info', destination }) };
}

describe('logger', () => {
  it('writes JSON lines carrying inferenceId and jobId', () => {
    const { lines, logger } = capture();
    inferenceLogger(logger, { inferenceId: 'inf-1', jobId: '42' }).info({ endpointName: 'e' }, 'submitted');
    expect(lines[0]).toMatchObject({
      level: 'info',
      msg: 'submitted',
      inferenceId: 'inf-1',
      jobId: '42',
      endpointName: 'e',
    });
    expect(typeof lines[0]?.time).toBe('string');
  });

  it('redacts secrets, bearer tokens and CustomAttributes wherever they appear', () => {
    const { lines, logger } = capture();
    logger.info(
      {
        webhook: { url: 'https://h.example', secret: 'whsec_abc' },
        customAttributes: 'user=alice',
        params: { CustomAttributes: 'user=bob', customAttributes: 'user=carol' },
        headers: { authorization: 'Bearer t0ken', 'x-amzn-sagemaker-custom-attributes': 'user=dave' },
        token: 'tok',
        config: { http: { authTokens: ['tokzz'] } },
      },
      'sensitive',
    );
    const text = JSON.stringify(lines[0]);
    for (const secret of ['whsec_abc', 'alice', 'bob', 'carol', 'dave', 't0ken', '"tok"', 'tokzz'])
      expect(text).not.toContain(secret);
    expect(lines[0]).toMatchObject({
      webhook: { url: 'https://h.example', secret: '[redacted]' },
      customAttributes: '[redacted]',
    });
  });
});
