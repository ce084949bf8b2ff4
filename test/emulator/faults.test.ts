import {
  InternalFailure,
  InvokeEndpointAsyncCommand,
  SageMakerRuntimeServiceException,
  ServiceUnavailable,
  ValidationError,
} from '@aws-sdk/client-sagemaker-runtime';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_FAIL_REASON, type InferenceRecord } from '../../src/emulator/index.js';
import { type AwsStack, startAwsStack } from '../support/emulator.js';
import { waitFor } from '../support/wait-for.js';

type ServiceError = SageMakerRuntimeServiceException;

describe('fault knobs', () => {
  let stack: AwsStack;

  beforeAll(async () => {
    stack = await startAwsStack({ endpoints: [{ name: 'echo' }, { name: 'other' }], seed: 7 });
  });
  afterAll(async () => {
    await stack?.stop();
  });
  beforeEach(async () => {
    await stack.reset();
  });

  function invoke(endpointName = 'echo', text = 'payload') {
    return stack.sagemaker.send(
      new InvokeEndpointAsyncCommand({ EndpointName: endpointName, Body: Buffer.from(text) }),
    );
  }

  async function failure(endpointName = 'echo'): Promise<ServiceError> {
    const err = await invoke(endpointName).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err, 'the call should have failed').toBeDefined();
    return err as ServiceError;
  }

  function finished(inferenceId: string): Promise<InferenceRecord> {
    return waitFor(
      () => {
        const record = stack.emulator.inference(inferenceId);
        return record && (record.status === 'completed' || record.status === 'failed') ? record : undefined;
      },
      { what: `inference ${inferenceId} finished` },
    );
  }

  it('failNext throttle: ThrottlingException (400, "Rate exceeded"), a generic service exception', async () => {
    stack.emulator.failNext({ status: 'throttle' });
    const err = await failure();
    expect(err.name).toBe('ThrottlingException');
    expect(err.$metadata.httpStatusCode).toBe(400);
    expect(err.message).toBe('Rate exceeded');
    expect(err).toBeInstanceOf(SageMakerRuntimeServiceException);
    expect(err).not.toBeInstanceOf(ValidationError);
    expect((await invoke()).$metadata.httpStatusCode).toBe(202);
    expect(stack.emulator.requests.map((r) => r.status)).toEqual([400, 202]);
    expect(stack.emulator.requests[0]).toMatchObject({
      injected: true,
      error: { type: 'ThrottlingException' },
    });
  });

  it('failNext 503 for exactly the next N calls: ServiceUnavailable', async () => {
    stack.emulator.failNext({ status: 503, count: 2 });
    for (let i = 0; i < 2; i++) {
      const err = await failure();
      expect(err.name).toBe('ServiceUnavailable');
      expect(err).toBeInstanceOf(ServiceUnavailable);
      expect(err.$metadata.httpStatusCode).toBe(503);
    }
    expect((await invoke()).$metadata.httpStatusCode).toBe(202);
  });

  it('failNext 500: InternalFailure', async () => {
    stack.emulator.failNext({ status: 500 });
    const err = await failure();
    expect(err.name).toBe('InternalFailure');
    expect(err).toBeInstanceOf(InternalFailure);
    expect(err.$metadata.httpStatusCode).toBe(500);
  });

  it('failNext can target one endpoint', async () => {
    stack.emulator.failNext({ status: 503, endpoint: 'other' });
    expect((await invoke('echo')).$metadata.httpStatusCode).toBe(202);
    expect((await failure('other')).name).toBe('ServiceUnavailable');
    expect((await invoke('other')).$metadata.httpStatusCode).toBe(202);
  });

  it('ratio knobs at 1 answer every call; per-endpoint overrides win over global values', async () => {
    stack.emulator.setKnobs({ throttleRatio: 1 });
    expect((await failure()).name).toBe('ThrottlingException');
    stack.emulator.setKnobs({ throttleRatio: 0, unavailableRatio: 1 });
    expect((await failure()).name).toBe('ServiceUnavailable');
    stack.emulator.setKnobs({ unavailableRatio: 0, internalFailureRatio: 1 });
    expect((await failure()).name).toBe('InternalFailure');
    stack.emulator.setKnobs({ internalFailureRatio: 0 }, 'other');
    expect((await invoke('other')).$metadata.httpStatusCode).toBe(202);
    expect((await failure('echo')).name).toBe('InternalFailure');
  });

  it('ratio knobs are reproducible with a seed', async () => {
    async function run(): Promise<number[]> {
      stack.emulator.setKnobs({ unavailableRatio: 0.5 });
      const statuses: number[] = [];
      for (let i = 0; i < 16; i++)
        statuses.push(
          await invoke().then(
            () => 202,
            (e: ServiceError) => e.$metadata.httpStatusCode ?? 0,
          ),
        );
      return statuses;
    }
    const first = await run();
    await stack.reset(); // restarts the seeded sequence
    const second = await run();
    expect(second).toEqual(first);
    expect(first).toContain(202);
    expect(first).toContain(503);
  });

  it('failureRatio fails the model with the server-error reason', async () => {
    stack.emulator.setKnobs({ failureRatio: 1 });
    const out = await invoke();
    const record = await finished(out.InferenceId ?? '');
    expect(record.status).toBe('failed');
    expect(record.failureReason).toBe(DEFAULT_FAIL_REASON);
    expect(await stack.readObject(out.FailureLocation ?? '')).toBe(DEFAULT_FAIL_REASON);
    const [received] = await stack.receive(stack.queues.raw, 1);
    expect(received?.notification.failureReason).toBe(DEFAULT_FAIL_REASON);
  });

  it('duplicateNotificationRatio publishes every notification twice', async () => {
    stack.emulator.setKnobs({ duplicateNotificationRatio: 1 });
    const out = await invoke();
    const messages = await stack.receive(stack.queues.envelope, 2);
    expect(messages.map((m) => m.notification.inferenceId)).toEqual([out.InferenceId, out.InferenceId]);
    expect(messages[0]?.envelope?.MessageId).not.toBe(messages[1]?.envelope?.MessageId);
    expect(messages[1]?.notification).toEqual(messages[0]?.notification);
    expect(stack.emulator.notifications.map((n) => n.copy)).toEqual([1, 2]);
    expect((await finished(out.InferenceId ?? '')).notificationsPublished).toBe(2);
  });

  it('the duplicateNotification directive duplicates one notification', async () => {
    const out = await invoke('echo', JSON.stringify({ emulator: { duplicateNotification: true } }));
    const messages = await stack.receive(stack.queues.raw, 2);
    expect(messages.every((m) => m.notification.inferenceId === out.InferenceId)).toBe(true);
  });

  it('dropNotificationRatio writes the object and publishes nothing', async () => {
    stack.emulator.setKnobs({ dropNotificationRatio: 1 });
    const out = await invoke('echo', 'dropped');
    const record = await finished(out.InferenceId ?? '');
    expect(record).toMatchObject({
      status: 'completed',
      notificationDropped: true,
      notificationsPublished: 0,
    });
    expect(await stack.readObject(out.OutputLocation ?? '')).toBe('dropped');
    expect(stack.emulator.notifications).toHaveLength(0);
    expect(stack.emulator.stats()).toMatchObject({
      completed: 1,
      notificationsDropped: 1,
      notificationsPublished: 0,
    });
  });

  it('the dropNotification directive drops one notification and not the next', async () => {
    const dropped = await invoke('echo', JSON.stringify({ emulator: { dropNotification: true } }));
    const kept = await invoke('echo', 'kept');
    const [received] = await stack.receive(stack.queues.raw, 1);
    expect(received?.notification.inferenceId).toBe(kept.InferenceId);
    expect((await finished(dropped.InferenceId ?? '')).notificationDropped).toBe(true);
    await stack.emulator.whenIdle();
    expect(stack.emulator.notifications.map((n) => n.inferenceId)).toEqual([kept.InferenceId]);
  });

  it('notificationDelayMs publishes the notification no sooner than the delay after the object is written', async () => {
    stack.emulator.setKnobs({ notificationDelayMs: 150 });
    const out = await invoke('echo', 'delayed');
    const [received] = await stack.receive(stack.queues.raw, 1);
    expect(received?.notification.inferenceId).toBe(out.InferenceId);
    const record = await finished(out.InferenceId ?? '');
    const published = stack.emulator.notifications[0]?.publishedAt ?? 0;
    expect(record.objectWrittenAt).toBeDefined();
    expect(published - (record.objectWrittenAt ?? 0)).toBeGreaterThanOrEqual(150);
  });

  it('latencyMs delays the model by at least the latency', async () => {
    stack.emulator.setKnobs({ latencyMs: 100 });
    const out = await invoke();
    const record = await finished(out.InferenceId ?? '');
    expect((record.finishedAt ?? 0) - (record.startedAt ?? 0)).toBeGreaterThanOrEqual(100);
  });

  it('rejects bad knob values naming them', () => {
    expect(() => stack.emulator.setKnobs({ failureRatio: 2 })).toThrow(
      /knobs.failureRatio: must be a number from 0 to 1/,
    );
    expect(() => stack.emulator.setKnobs({ latencyMs: 1 }, 'nope')).toThrow(/no endpoint named nope/);
    expect(() => stack.emulator.setKnobs({ bogus: 1 } as never)).toThrow(/knobs.bogus: unknown knob/);
  });
});
