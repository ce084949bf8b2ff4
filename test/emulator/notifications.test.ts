import { describe, expect, it } from 'vitest';
import { parseDirective } from '../../src/emulator/models/echo.js';
import {
  buildErrorNotification,
  buildSuccessNotification,
  embeddedResponse,
  MAX_EMBEDDED_RESPONSE_BYTES,
  type NotificationFacts,
} from '../../src/emulator/notifications.js';

const facts: NotificationFacts = {
  region: 'us-east-1',
  receivedAt: Date.parse('2022-01-25T22:46:00.455Z'),
  finishedAt: Date.parse('2022-01-25T22:46:00.608Z'),
  endpointName: 'my-endpoint',
  inferenceId: '11111111-2222-3333-4444-555555555555',
  contentType: 'text/csv',
  inputLocation: 's3://bucket/in/input-data.csv',
};

describe('notification JSON (pure)', () => {
  it('builds the success message exactly as the reference shows it', () => {
    const message = buildSuccessNotification(facts, {
      contentType: 'text/csv; charset=utf-8',
      outputLocation: 's3://bucket/out/prediction.out',
    });
    expect(JSON.stringify(message)).toBe(
      '{"awsRegion":"us-east-1","eventTime":"2022-01-25T22:46:00.608Z","receivedTime":"2022-01-25T22:46:00.455Z",' +
        '"invocationStatus":"Completed",' +
        '"requestParameters":{"contentType":"text/csv","endpointName":"my-endpoint","inputLocation":"s3://bucket/in/input-data.csv"},' +
        '"responseParameters":{"contentType":"text/csv; charset=utf-8","outputLocation":"s3://bucket/out/prediction.out"},' +
        '"inferenceId":"11111111-2222-3333-4444-555555555555","eventVersion":"1.0","eventSource":"aws:sagemaker","eventName":"InferenceResult"}',
    );
  });

  it('adds accept and customAttributes to requestParameters when the request had them', () => {
    const message = buildSuccessNotification(
      { ...facts, accept: 'application/json', customAttributes: 'a=b' },
      { contentType: 'x', outputLocation: 's3://b/o' },
    );
    expect(message.requestParameters).toEqual({
      contentType: 'text/csv',
      endpointName: 'my-endpoint',
      inputLocation: 's3://bucket/in/input-data.csv',
      accept: 'application/json',
      customAttributes: 'a=b',
    });
  });

  it('builds the error message with failureReason and without responseParameters', () => {
    const message = buildErrorNotification(facts, {
      failureReason: 'ClientError: boom',
      embed: Buffer.from('err'),
    });
    expect(message).toEqual({
      awsRegion: 'us-east-1',
      eventTime: '2022-01-25T22:46:00.608Z',
      receivedTime: '2022-01-25T22:46:00.455Z',
      invocationStatus: 'Failed',
      failureReason: 'ClientError: boom',
      requestParameters: {
        contentType: 'text/csv',
        endpointName: 'my-endpoint',
        inputLocation: 's3://bucket/in/input-data.csv',
      },
      inferenceId: facts.inferenceId,
      eventVersion: '1.0',
      eventSource: 'aws:sagemaker',
      eventName: 'InferenceResult',
      responseBody: { content: Buffer.from('err').toString('base64'), encoding: 'BASE64' },
    });
  });

  it('embeds responses of at most 128 KB', () => {
    expect(embeddedResponse(Buffer.alloc(MAX_EMBEDDED_RESPONSE_BYTES))?.encoding).toBe('BASE64');
    expect(embeddedResponse(Buffer.alloc(MAX_EMBEDDED_RESPONSE_BYTES + 1))).toBeUndefined();
    expect(embeddedResponse(undefined)).toBeUndefined();
  });
});

describe('the echo directive (pure)', () => {
  it('reads {"emulator": {...}} from a JSON object input', () => {
    const body = Buffer.from(
      JSON.stringify({
        emulator: { sleepMs: 200, fail: 'why', dropNotification: true, duplicateNotification: true },
      }),
    );
    expect(parseDirective(body)).toEqual({
      sleepMs: 200,
      fail: 'why',
      dropNotification: true,
      duplicateNotification: true,
    });
    expect(parseDirective(Buffer.from('  {"emulator": {"sleepMs": -1, "fail": ""}, "other": 1}'))).toEqual(
      {},
    );
  });

  it('ignores anything else', () => {
    for (const text of ['', 'plain', '[1]', '{"emulator": 1}', '{"emulator": [1]}', '{broken', '{"x": 1}'])
      expect(parseDirective(Buffer.from(text)), text).toBeUndefined();
  });
});
