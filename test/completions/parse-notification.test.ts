import { describe, expect, it } from 'vitest';
import { MAX_MESSAGE_BYTES, parseNotification } from '../../src/completions/parse-notification.js';

const success = {
  awsRegion: 'us-east-1',
  eventTime: '2022-01-25T22:46:00.608Z',
  receivedTime: '2022-01-25T22:46:00.455Z',
  invocationStatus: 'Completed',
  requestParameters: {
    contentType: 'text/csv',
    endpointName: 'my-endpoint',
    inputLocation: 's3://bucket/in/input-data.csv',
  },
  responseParameters: {
    contentType: 'text/csv; charset=utf-8',
    outputLocation: 's3://bucket/out/prediction.out',
  },
  inferenceId: '11111111-2222-3333-4444-555555555555',
  eventVersion: '1.0',
  eventSource: 'aws:sagemaker',
  eventName: 'InferenceResult',
};
const failure = {
  ...success,
  invocationStatus: 'Failed',
  failureReason: 'ClientError: Received server error (500) from model.',
  responseParameters: undefined,
};
const envelope = (message: string) =>
  JSON.stringify({
    Type: 'Notification',
    MessageId: 'm-1',
    TopicArn: 'arn:aws:sns:us-east-1:123456789012:success',
    Message: message,
    Timestamp: '2022-01-25T22:46:00.700Z',
    SignatureVersion: '1',
    Signature: 'x',
    SigningCertURL: 'https://example/cert.pem',
    UnsubscribeURL: 'https://example/unsub',
  });

describe('parseNotification', () => {
  it('reads a success notification inside an SNS envelope', () => {
    expect(parseNotification(envelope(JSON.stringify(success)))).toEqual({
      kind: 'notification',
      inferenceId: success.inferenceId,
      status: 'completed',
      endpointName: 'my-endpoint',
      outputLocation: 's3://bucket/out/prediction.out',
      responseContentType: 'text/csv; charset=utf-8',
      failureReason: null,
      responseBody: null,
      eventTime: success.eventTime,
      delivery: 'sns',
    });
  });

  it('reads raw delivery, error messages without responseParameters, and embedded bodies', () => {
    const parsed = parseNotification(JSON.stringify(failure));
    expect(parsed).toMatchObject({
      kind: 'notification',
      status: 'failed',
      delivery: 'raw',
      outputLocation: null,
    });
    expect(parsed).toMatchObject({ failureReason: failure.failureReason });
    const withBody = parseNotification(
      JSON.stringify({
        ...success,
        responseBody: { content: Buffer.from('hi').toString('base64'), encoding: 'BASE64' },
      }),
    );
    expect(withBody).toMatchObject({ kind: 'notification', responseBody: 'aGk=' });
    const noReason = parseNotification(JSON.stringify({ ...failure, failureReason: undefined }));
    expect(noReason).toMatchObject({ failureReason: 'the endpoint reported a failure without a reason' });
  });

  it.each([
    ['an empty body', '', /empty/],
    ['a body that is not JSON', 'hello', /not JSON/],
    ['a JSON array', '[1,2]', /not a JSON object/],
    [
      'JSON without inferenceId',
      JSON.stringify({ ...success, inferenceId: undefined }),
      /inferenceId is missing/,
    ],
    [
      'an inferenceId of the wrong type',
      JSON.stringify({ ...success, inferenceId: 42 }),
      /inferenceId must be a non-empty string/,
    ],
    [
      'an unknown invocationStatus',
      JSON.stringify({ ...success, invocationStatus: 'Done' }),
      /invocationStatus "Done"/,
    ],
    [
      'a missing invocationStatus',
      JSON.stringify({ ...success, invocationStatus: undefined }),
      /invocationStatus is missing/,
    ],
    [
      'responseParameters of the wrong type',
      JSON.stringify({ ...success, responseParameters: 'x' }),
      /responseParameters must be an object/,
    ],
    [
      'an outputLocation of the wrong type',
      JSON.stringify({ ...success, responseParameters: { outputLocation: 1 } }),
      /outputLocation must be a string/,
    ],
    ['a truncated SNS envelope', envelope(JSON.stringify(success)).slice(0, 80), /not JSON/],
    ['an envelope whose Message is not JSON', envelope('{"inferenceId":'), /SNS Message is not JSON/],
    [
      'an envelope without Message',
      JSON.stringify({ Type: 'Notification', TopicArn: 'arn' }),
      /without a string Message/,
    ],
    [
      'a subscription confirmation',
      JSON.stringify({ Type: 'SubscriptionConfirmation', Message: 'x' }),
      /SubscriptionConfirmation/,
    ],
    ['a huge message', JSON.stringify({ ...success, pad: 'x'.repeat(MAX_MESSAGE_BYTES) }), /larger than/],
    [
      'a responseBody that is not base64',
      JSON.stringify({ ...success, responseBody: { content: '***', encoding: 'BASE64' } }),
      /not valid base64/,
    ],
    [
      'a failureReason of the wrong type',
      JSON.stringify({ ...failure, failureReason: { a: 1 } }),
      /failureReason must be a string/,
    ],
  ])('reports %s as malformed', (_what, body, reason) => {
    const parsed = parseNotification(body);
    expect(parsed.kind).toBe('malformed');
    expect(parsed.kind === 'malformed' && parsed.reason).toMatch(reason);
  });
});
