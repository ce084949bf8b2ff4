import { HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { InvokeEndpointAsyncCommand } from '@aws-sdk/client-sagemaker-runtime';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { InferenceRecord } from '../../src/emulator/index.js';
import { type AwsStack, type ReceivedNotification, startAwsStack } from '../support/emulator.js';
import { waitFor } from '../support/wait-for.js';

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const FAIL_REASON = 'ClientError: the model refused this input';

describe('InvokeEndpointAsync through the real SDK', () => {
  let stack: AwsStack;

  beforeAll(async () => {
    stack = await startAwsStack({
      endpoints: [
        { name: 'echo' },
        { name: 'fail', model: { type: 'fail', reason: FAIL_REASON } },
        {
          name: 'embed',
          includeInferenceResponseIn: ['SUCCESS_NOTIFICATION_TOPIC', 'ERROR_NOTIFICATION_TOPIC'],
        },
        { name: 'no-failure-path', s3FailurePath: null },
        { name: 'silent', successTopicArn: null, errorTopicArn: null },
      ],
    });
  });
  afterAll(async () => {
    await stack?.stop();
  });
  beforeEach(async () => {
    await stack.reset();
  });

  async function putInput(key: string, body: string | Buffer): Promise<string> {
    await stack.s3.send(new PutObjectCommand({ Bucket: stack.bucket, Key: key, Body: body }));
    return `s3://${stack.bucket}/${key}`;
  }

  function outcome(inferenceId: string, event: 'completed' | 'failed' | 'expired'): Promise<InferenceRecord> {
    return new Promise((resolve) => {
      const existing = stack.emulator.inference(inferenceId);
      if (existing?.status === event) return resolve(existing);
      const listener = (record: InferenceRecord) => {
        if (record.inferenceId !== inferenceId) return;
        stack.emulator.off(event, listener);
        resolve(record);
      };
      stack.emulator.on(event, listener);
    });
  }

  it('happy path: 202 with locations, output object, and the success notification with every field (envelope and raw)', async () => {
    const inputLocation = await putInput('in/happy.json', '{"text":"hello"}');
    const out = await stack.sagemaker.send(
      new InvokeEndpointAsyncCommand({
        EndpointName: 'echo',
        InputLocation: inputLocation,
        ContentType: 'application/json',
        Accept: 'application/json',
        CustomAttributes: 'trace=abc',
        InferenceId: 'happy-1',
        RequestTTLSeconds: 600,
        InvocationTimeoutSeconds: 60,
      }),
    );
    expect(out.$metadata.httpStatusCode).toBe(202);
    expect(out.InferenceId).toBe('happy-1');
    const output = new RegExp(`^s3://${stack.bucket}/output/echo/(${UUID})\\.out$`).exec(
      out.OutputLocation ?? '',
    );
    expect(output).not.toBeNull();
    expect(out.FailureLocation).toBe(`s3://${stack.bucket}/failure/echo/${output?.[1]}-error.out`);

    const [envelope] = await stack.receive(stack.queues.envelope, 1);
    const [raw] = await stack.receive(stack.queues.raw, 1);
    expect(envelope?.envelope?.Type).toBe('Notification');
    expect(envelope?.envelope?.TopicArn).toBe(stack.successTopicArn);
    expect(raw?.envelope).toBeUndefined();
    expect(raw?.body).toBe(envelope?.envelope?.Message);

    for (const received of [envelope, raw] as ReceivedNotification[]) {
      const n = received.notification;
      expect(Object.keys(n)).toEqual([
        'awsRegion',
        'eventTime',
        'receivedTime',
        'invocationStatus',
        'requestParameters',
        'responseParameters',
        'inferenceId',
        'eventVersion',
        'eventSource',
        'eventName',
      ]);
      expect(n).toEqual({
        awsRegion: 'us-east-1',
        eventTime: expect.stringMatching(ISO),
        receivedTime: expect.stringMatching(ISO),
        invocationStatus: 'Completed',
        requestParameters: {
          contentType: 'application/json',
          endpointName: 'echo',
          inputLocation,
          accept: 'application/json',
          customAttributes: 'trace=abc',
        },
        responseParameters: { contentType: 'application/json', outputLocation: out.OutputLocation },
        inferenceId: 'happy-1',
        eventVersion: '1.0',
        eventSource: 'aws:sagemaker',
        eventName: 'InferenceResult',
      });
      expect(Date.parse(n.receivedTime)).toBeLessThanOrEqual(Date.parse(n.eventTime));
    }

    expect(await stack.readObject(out.OutputLocation ?? '')).toBe('{"text":"hello"}');
    const head = await stack.s3.send(
      new HeadObjectCommand({
        Bucket: stack.bucket,
        Key: (out.OutputLocation ?? '').split('/').slice(3).join('/'),
      }),
    );
    expect(head.ContentType).toBe('application/json');
    expect(await stack.objectExists(out.FailureLocation ?? '')).toBe(false);

    const record = stack.emulator.inference('happy-1');
    expect(record).toMatchObject({
      status: 'completed',
      endpointName: 'echo',
      inputLocation,
      notificationsPublished: 1,
    });
    const request = stack.emulator.requests.at(-1);
    expect(request).toMatchObject({
      endpointName: 'echo',
      status: 202,
      inferenceId: 'happy-1',
      bodyBytes: 0,
      params: {
        endpointName: 'echo',
        contentType: 'application/json',
        accept: 'application/json',
        customAttributes: 'trace=abc',
        inferenceId: 'happy-1',
        inputLocation,
        requestTTLSeconds: 600,
        invocationTimeoutSeconds: 60,
      },
    });
    expect(stack.emulator.stats()).toMatchObject({
      received: 1,
      accepted: 1,
      completed: 1,
      notificationsPublished: 1,
    });
  });

  it('generates a UUID InferenceId and uuid.out name when none is given; defaults the contentType', async () => {
    const inputLocation = await putInput('in/plain.bin', 'bytes');
    const out = await stack.sagemaker.send(
      new InvokeEndpointAsyncCommand({ EndpointName: 'echo', InputLocation: inputLocation }),
    );
    expect(out.InferenceId).toMatch(new RegExp(`^${UUID}$`));
    const [received] = await stack.receive(stack.queues.raw, 1);
    expect(received?.notification.requestParameters).toEqual({
      contentType: 'application/octet-stream',
      endpointName: 'echo',
      inputLocation,
    });
    expect(received?.notification.responseParameters?.contentType).toBe('application/octet-stream');
    // The output's uuid is not the inference id.
    expect(out.OutputLocation).not.toContain(out.InferenceId);
  });

  it('names outputs with S3OutputPathExtension and Filename', async () => {
    const inputLocation = await putInput('in/named.txt', 'named');
    const out = await stack.sagemaker.send(
      new InvokeEndpointAsyncCommand({
        EndpointName: 'echo',
        InputLocation: inputLocation,
        S3OutputPathExtension: 'tenant-a/2026',
        Filename: 'result.txt',
      }),
    );
    expect(out.OutputLocation).toBe(`s3://${stack.bucket}/output/echo/tenant-a/2026/result.txt`);
    expect(out.FailureLocation).toMatch(
      new RegExp(`^s3://${stack.bucket}/failure/echo/tenant-a/2026/${UUID}-error\\.out$`),
    );
    await outcome(out.InferenceId ?? '', 'completed');
    expect(await stack.readObject(out.OutputLocation ?? '')).toBe('named');
  });

  it('omits X-Amzn-SageMaker-FailureLocation when the endpoint has no S3FailurePath', async () => {
    const inputLocation = await putInput('in/nofail.txt', 'x');
    const out = await stack.sagemaker.send(
      new InvokeEndpointAsyncCommand({ EndpointName: 'no-failure-path', InputLocation: inputLocation }),
    );
    expect(out.OutputLocation).toMatch(/\.out$/);
    expect(out.FailureLocation).toBeUndefined();
    await outcome(out.InferenceId ?? '', 'completed');
  });

  it('error path: failure object with the reason, error notification with failureReason and no responseParameters', async () => {
    const inputLocation = await putInput('in/fail.json', '{}');
    const out = await stack.sagemaker.send(
      new InvokeEndpointAsyncCommand({
        EndpointName: 'fail',
        InputLocation: inputLocation,
        ContentType: 'application/json',
        InferenceId: 'fail-1',
      }),
    );
    const [envelope] = await stack.receive(stack.queues.envelope, 1);
    expect(envelope?.envelope?.TopicArn).toBe(stack.errorTopicArn);
    const n = envelope?.notification;
    expect(n).toEqual({
      awsRegion: 'us-east-1',
      eventTime: expect.stringMatching(ISO),
      receivedTime: expect.stringMatching(ISO),
      invocationStatus: 'Failed',
      failureReason: FAIL_REASON,
      requestParameters: { contentType: 'application/json', endpointName: 'fail', inputLocation },
      inferenceId: 'fail-1',
      eventVersion: '1.0',
      eventSource: 'aws:sagemaker',
      eventName: 'InferenceResult',
    });
    const [raw] = await stack.receive(stack.queues.raw, 1);
    expect(raw?.notification).toEqual(n);
    expect(await stack.readObject(out.FailureLocation ?? '')).toBe(FAIL_REASON);
    expect(await stack.objectExists(out.OutputLocation ?? '')).toBe(false);
    expect(stack.emulator.inference('fail-1')).toMatchObject({
      status: 'failed',
      failureReason: FAIL_REASON,
    });
    expect(stack.emulator.stats()).toMatchObject({ failed: 1, completed: 0 });
  });

  it('the echo directive fails an inference with the given reason', async () => {
    const reason = 'ModelError: custom failure from the directive';
    const out = await stack.sagemaker.send(
      new InvokeEndpointAsyncCommand({
        EndpointName: 'echo',
        Body: Buffer.from(JSON.stringify({ emulator: { fail: reason } })),
        ContentType: 'application/json',
      }),
    );
    const record = await outcome(out.InferenceId ?? '', 'failed');
    expect(record.failureReason).toBe(reason);
    expect(await stack.readObject(out.FailureLocation ?? '')).toBe(reason);
    const [received] = await stack.receive(stack.queues.raw, 1);
    expect(received?.notification).toMatchObject({ invocationStatus: 'Failed', failureReason: reason });
  });

  it('a missing input object fails the inference', async () => {
    const out = await stack.sagemaker.send(
      new InvokeEndpointAsyncCommand({
        EndpointName: 'echo',
        InputLocation: `s3://${stack.bucket}/in/missing`,
      }),
    );
    const record = await outcome(out.InferenceId ?? '', 'failed');
    expect(record.failureReason).toMatch(
      /^ClientError: Failed to download the input from s3:\/\/.*\/in\/missing/,
    );
  });

  it('inline Body: stored beside the output prefix (async-inputs), echoed, and named as inputLocation', async () => {
    const body = Buffer.from('{"inline":true,"n":42}');
    const out = await stack.sagemaker.send(
      new InvokeEndpointAsyncCommand({ EndpointName: 'echo', Body: body, ContentType: 'application/json' }),
    );
    const [received] = await stack.receive(stack.queues.raw, 1);
    const inputLocation = received?.notification.requestParameters.inputLocation ?? '';
    expect(inputLocation).toMatch(new RegExp(`^s3://${stack.bucket}/output/async-inputs/${UUID}$`));
    expect(await stack.readObject(inputLocation)).toBe(body.toString());
    expect(await stack.readObject(out.OutputLocation ?? '')).toBe(body.toString());
    expect(stack.emulator.inference(out.InferenceId ?? '')).toMatchObject({
      inlineBody: true,
      inputLocation,
    });
    expect(stack.emulator.requests.at(-1)?.bodyBytes).toBe(body.length);
  });

  it('accepts a Body of exactly 128,000 bytes', async () => {
    const body = Buffer.alloc(128_000, 0x61);
    const out = await stack.sagemaker.send(
      new InvokeEndpointAsyncCommand({ EndpointName: 'echo', Body: body }),
    );
    await outcome(out.InferenceId ?? '', 'completed');
    expect((await stack.readObject(out.OutputLocation ?? '')).length).toBe(128_000);
  });

  it('IncludeInferenceResponseIn: the success notification embeds the output (base64) beside outputLocation', async () => {
    const out = await stack.sagemaker.send(
      new InvokeEndpointAsyncCommand({
        EndpointName: 'embed',
        Body: Buffer.from('embed me'),
        ContentType: 'text/plain',
      }),
    );
    const [envelope] = await stack.receive(stack.queues.envelope, 1);
    const n = envelope?.notification;
    expect(n?.responseParameters?.outputLocation).toBe(out.OutputLocation);
    expect(n?.responseBody).toEqual({
      content: Buffer.from('embed me').toString('base64'),
      encoding: 'BASE64',
    });
    expect(Buffer.from(n?.responseBody?.content ?? '', 'base64').toString()).toBe(
      await stack.readObject(out.OutputLocation ?? ''),
    );
  });

  it('IncludeInferenceResponseIn: the error notification embeds the model error response', async () => {
    const reason = 'ClientError: embedded failure';
    await stack.sagemaker.send(
      new InvokeEndpointAsyncCommand({
        EndpointName: 'embed',
        Body: Buffer.from(JSON.stringify({ emulator: { fail: reason } })),
      }),
    );
    const [received] = await stack.receive(stack.queues.raw, 1);
    expect(received?.notification.invocationStatus).toBe('Failed');
    expect(Buffer.from(received?.notification.responseBody?.content ?? '', 'base64').toString()).toBe(reason);
  });

  it('IncludeInferenceResponseIn: a response over 128 KB is not embedded', async () => {
    const inputLocation = await putInput('in/big.bin', Buffer.alloc(128 * 1024 + 1, 0x62));
    const out = await stack.sagemaker.send(
      new InvokeEndpointAsyncCommand({ EndpointName: 'embed', InputLocation: inputLocation }),
    );
    const [received] = await stack.receive(stack.queues.raw, 1);
    expect(received?.notification.responseParameters?.outputLocation).toBe(out.OutputLocation);
    expect(received?.notification.responseBody).toBeUndefined();
  });

  it('without IncludeInferenceResponseIn no responseBody is embedded', async () => {
    await stack.sagemaker.send(
      new InvokeEndpointAsyncCommand({ EndpointName: 'echo', Body: Buffer.from('x') }),
    );
    const [received] = await stack.receive(stack.queues.raw, 1);
    expect(received?.notification.responseBody).toBeUndefined();
  });

  it('an endpoint without topics writes the object and publishes nothing', async () => {
    const out = await stack.sagemaker.send(
      new InvokeEndpointAsyncCommand({ EndpointName: 'silent', Body: Buffer.from('quiet') }),
    );
    const record = await outcome(out.InferenceId ?? '', 'completed');
    expect(record.notificationsPublished).toBe(0);
    expect(await stack.readObject(out.OutputLocation ?? '')).toBe('quiet');
    expect(stack.emulator.notifications).toHaveLength(0);
    expect(
      stack.aws.server.inspectQueue(stack.queues.raw.split('/').at(-1) ?? '')?.messages.ready,
    ).toHaveLength(0);
  });

  it('emits request, started, completed and notification events', async () => {
    const seen: string[] = [];
    const listeners = {
      request: () => seen.push('request'),
      started: () => seen.push('started'),
      completed: () => seen.push('completed'),
      notification: () => seen.push('notification'),
    };
    for (const [event, listener] of Object.entries(listeners))
      stack.emulator.on(event as 'request', listener);
    try {
      const out = await stack.sagemaker.send(
        new InvokeEndpointAsyncCommand({ EndpointName: 'echo', Body: Buffer.from('events') }),
      );
      await outcome(out.InferenceId ?? '', 'completed');
      await waitFor(() => seen.includes('completed'), { what: 'completed event' });
      expect(seen).toEqual(['request', 'started', 'notification', 'completed']);
    } finally {
      for (const [event, listener] of Object.entries(listeners))
        stack.emulator.off(event as 'request', listener);
    }
  });
});
