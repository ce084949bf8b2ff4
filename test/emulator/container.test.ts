import { InvokeEndpointAsyncCommand } from '@aws-sdk/client-sagemaker-runtime';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type InferenceRecord, modelErrorReason, SageMakerEmulator } from '../../src/emulator/index.js';
import { type AwsStack, startAwsStack } from '../support/emulator.js';
import { type LocalAws, startLocalAws } from '../support/fauxqs.js';
import { waitFor } from '../support/wait-for.js';
import { ModelContainer } from './model-container.js';

describe('an external model container (SageMaker model contract)', () => {
  let container: ModelContainer;
  let stack: AwsStack;

  beforeAll(async () => {
    container = await ModelContainer.start();
    container.ready = false;
    let started = false;
    const starting = startAwsStack({
      endpoints: [
        {
          name: 'model',
          model: { type: 'container', url: container.url },
          includeInferenceResponseIn: ['ERROR_NOTIFICATION_TOPIC'],
        },
      ],
    }).then((s) => {
      started = true;
      return s;
    });
    // The endpoint does not serve until GET /ping answers 200.
    await waitFor(() => container.pings >= 2, { what: 'the emulator pinging the container' });
    expect(started).toBe(false);
    container.ready = true;
    stack = await starting;
  });
  afterAll(async () => {
    await stack?.stop();
    await container?.stop();
  });
  beforeEach(async () => {
    await stack.reset();
    container.calls.length = 0;
  });

  function finished(inferenceId: string): Promise<InferenceRecord> {
    return waitFor(
      () => {
        const r = stack.emulator.inference(inferenceId);
        return r?.finishedAt !== undefined ? r : undefined;
      },
      { what: `inference ${inferenceId} finished` },
    );
  }

  it('POSTs the input to /invocations with Content-Type, Accept and CustomAttributes, and stores its answer', async () => {
    const out = await stack.sagemaker.send(
      new InvokeEndpointAsyncCommand({
        EndpointName: 'model',
        Body: Buffer.from('shout this'),
        ContentType: 'text/plain',
        Accept: 'text/plain',
        CustomAttributes: 'tenant=a',
      }),
    );
    const record = await finished(out.InferenceId ?? '');
    expect(record.status).toBe('completed');
    expect(container.calls).toHaveLength(1);
    const call = container.calls[0];
    expect(call?.body.toString()).toBe('shout this');
    expect(call?.headers['content-type']).toBe('text/plain');
    expect(call?.headers.accept).toBe('text/plain');
    expect(call?.headers['x-amzn-sagemaker-custom-attributes']).toBe('tenant=a');
    expect(await stack.readObject(out.OutputLocation ?? '')).toBe('SHOUT THIS');
    const [received] = await stack.receive(stack.queues.raw, 1);
    expect(received?.notification.responseParameters).toEqual({
      contentType: 'text/plain; charset=utf-8',
      outputLocation: out.OutputLocation,
    });
  });

  it('a 500 from the model fails the inference like AWS says it', async () => {
    const out = await stack.sagemaker.send(
      new InvokeEndpointAsyncCommand({ EndpointName: 'model', Body: Buffer.from('status:500') }),
    );
    const record = await finished(out.InferenceId ?? '');
    const reason =
      'ClientError: Received server error (500) from model. See the SageMaker Endpoint logs in your account for more information.';
    expect(modelErrorReason(500)).toBe(reason);
    expect(record).toMatchObject({ status: 'failed', failureReason: reason });
    expect(await stack.readObject(out.FailureLocation ?? '')).toBe(reason);
    const [received] = await stack.receive(stack.queues.envelope, 1);
    expect(received?.envelope?.TopicArn).toBe(stack.errorTopicArn);
    expect(received?.notification).toMatchObject({ invocationStatus: 'Failed', failureReason: reason });
    // IncludeInferenceResponseIn ERROR_NOTIFICATION_TOPIC: the model's error body is embedded.
    expect(Buffer.from(received?.notification.responseBody?.content ?? '', 'base64').toString()).toBe(
      'model says 500',
    );
  });

  it('a 4xx from the model is a client error', async () => {
    const out = await stack.sagemaker.send(
      new InvokeEndpointAsyncCommand({ EndpointName: 'model', Body: Buffer.from('status:422') }),
    );
    const record = await finished(out.InferenceId ?? '');
    expect(record.failureReason).toBe(modelErrorReason(422));
    expect(record.failureReason).toContain('Received client error (422) from model');
  });
});

describe('a model container that never becomes healthy', () => {
  let aws: LocalAws;
  let container: ModelContainer;

  beforeAll(async () => {
    aws = await startLocalAws();
    container = await ModelContainer.start();
    container.ready = false;
  });
  afterEach(() => {
    container.ready = false;
  });
  afterAll(async () => {
    await container?.stop();
    await aws?.stop();
  });

  it('fails start() after pingTimeoutMs, naming the container', async () => {
    await expect(
      SageMakerEmulator.start({
        endpoints: [
          {
            name: 'model',
            s3OutputPath: 's3://b/out',
            model: { type: 'container', url: container.url, pingTimeoutMs: 200 },
          },
        ],
        aws: aws.settings,
      }),
    ).rejects.toThrow(
      new RegExp(`model container ${container.url} not ready after 200 ms \\(GET /ping answered 503\\)`),
    );
  });
});
