import {
  InvokeEndpointAsyncCommand,
  type InvokeEndpointAsyncCommandOutput,
} from '@aws-sdk/client-sagemaker-runtime';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { EXPIRED_REASON, type InferenceRecord, invocationTimeoutReason } from '../../src/emulator/index.js';
import { type AwsStack, startAwsStack } from '../support/emulator.js';
import { waitFor } from '../support/wait-for.js';
import { ModelContainer } from './model-container.js';

describe('endpoint queue: TTL expiry, invocation timeout, concurrency', () => {
  let stack: AwsStack;
  let container: ModelContainer;
  const rawQueueName = () => stack.queues.raw.split('/').at(-1) ?? '';

  beforeAll(async () => {
    container = await ModelContainer.start();
    stack = await startAwsStack({
      endpoints: [
        // One slot; "60 s" of TTL last 60 ms, the 3,600 s invocation timeout 3.6 s.
        {
          name: 'single',
          model: { type: 'container', url: container.url },
          instances: 1,
          maxConcurrentInvocationsPerInstance: 1,
          knobs: { timeScale: 0.001 },
        },
        // Two instances × one invocation each: two slots.
        {
          name: 'pair',
          model: { type: 'container', url: container.url },
          instances: 2,
          maxConcurrentInvocationsPerInstance: 1,
        },
        { name: 'echo', knobs: { timeScale: 0.01 } },
      ],
    });
  });
  afterAll(async () => {
    await container?.stop();
    await stack?.stop();
  });
  beforeEach(async () => {
    container.gated = false;
    container.release();
    await stack.reset();
    container.calls.length = 0;
    container.peakActive = 0;
  });

  function invoke(endpointName: string, text: string, extra: Record<string, unknown> = {}) {
    return stack.sagemaker.send(
      new InvokeEndpointAsyncCommand({ EndpointName: endpointName, Body: Buffer.from(text), ...extra }),
    );
  }

  function event(name: 'expired' | 'completed' | 'failed', inferenceId: string): Promise<InferenceRecord> {
    return waitFor(
      () => {
        const record = stack.emulator.inference(inferenceId);
        return record?.status === name && record.finishedAt !== undefined ? record : undefined;
      },
      { what: `inference ${inferenceId} ${name}` },
    );
  }

  /** Holds the only slot of `single` with a call the container keeps until released. */
  async function occupySingle(): Promise<InvokeEndpointAsyncCommandOutput> {
    container.gated = true;
    const holder = await invoke('single', 'holder', { InvocationTimeoutSeconds: 3600 });
    await waitFor(() => container.held === 1, { what: 'the holder at the container' });
    return holder;
  }

  it('expiredNotification "error": a request still queued after its TTL fails with an error notification and a failure object', async () => {
    const holder = await occupySingle();
    const late = await invoke('single', 'late', { RequestTTLSeconds: 60 });
    const expired = await event('expired', late.InferenceId ?? '');
    expect(expired.failureReason).toBe(EXPIRED_REASON);
    expect(expired.startedAt).toBeUndefined();

    const [received] = await stack.receive(stack.queues.raw, 1);
    expect(received?.notification).toMatchObject({
      invocationStatus: 'Failed',
      failureReason: EXPIRED_REASON,
      inferenceId: late.InferenceId,
      requestParameters: { endpointName: 'single' },
    });
    expect(received?.notification.responseParameters).toBeUndefined();
    expect(await stack.readObject(late.FailureLocation ?? '')).toBe(EXPIRED_REASON);
    expect(await stack.objectExists(late.OutputLocation ?? '')).toBe(false);
    expect(container.calls.map((c) => c.body.toString())).toEqual(['holder']);
    expect(stack.emulator.stats().endpoints.single).toMatchObject({ expired: 1, queued: 0, inFlight: 1 });

    container.release();
    await event('completed', holder.InferenceId ?? '');
  });

  it('expiredNotification "none": an expired request publishes nothing and writes no object', async () => {
    stack.emulator.setKnobs({ expiredNotification: 'none' }, 'single');
    const holder = await occupySingle();
    const late = await invoke('single', 'late', { RequestTTLSeconds: 60 });
    const expired = await event('expired', late.InferenceId ?? '');
    expect(expired.notificationsPublished).toBe(0);
    expect(stack.emulator.notifications).toHaveLength(0);
    expect(await stack.objectExists(late.FailureLocation ?? '')).toBe(false);
    expect(await stack.objectExists(late.OutputLocation ?? '')).toBe(false);
    expect(stack.emulator.stats()).toMatchObject({ expired: 1, notificationsPublished: 0 });

    container.release();
    await event('completed', holder.InferenceId ?? '');
    const [received] = await stack.receive(stack.queues.raw, 1);
    expect(received?.notification.inferenceId).toBe(holder.InferenceId);
    expect(stack.aws.server.inspectQueue(rawQueueName())?.messages.ready).toHaveLength(0);
  });

  it('a request that gets a slot before its TTL is processed normally', async () => {
    const out = await invoke('single', 'prompt', { RequestTTLSeconds: 60 });
    const record = await event('completed', out.InferenceId ?? '');
    expect(record.status).toBe('completed');
    expect(await stack.readObject(out.OutputLocation ?? '')).toBe('PROMPT');
  });

  it('InvocationTimeoutSeconds: a model slower than the timeout fails with a timeout reason', async () => {
    const out = await invoke('echo', JSON.stringify({ emulator: { sleepMs: 60_000 } }), {
      InvocationTimeoutSeconds: 1, // 10 ms at timeScale 0.01
    });
    const record = await event('failed', out.InferenceId ?? '');
    expect(record.failureReason).toBe(invocationTimeoutReason(1));
    expect(record.failureReason).toBe('ModelError: Invocation timed out after 1 seconds.');
    const [received] = await stack.receive(stack.queues.raw, 1);
    expect(received?.notification).toMatchObject({
      invocationStatus: 'Failed',
      failureReason: record.failureReason,
    });
    expect(await stack.readObject(out.FailureLocation ?? '')).toBe(record.failureReason);
    expect(await stack.objectExists(out.OutputLocation ?? '')).toBe(false);
  });

  it('InvocationTimeoutSeconds applies to a model container too, and frees the slot', async () => {
    container.gated = true;
    const out = await invoke('single', 'too slow', { InvocationTimeoutSeconds: 5 }); // 5 ms at timeScale 0.001
    const record = await event('failed', out.InferenceId ?? '');
    expect(record.failureReason).toBe(invocationTimeoutReason(5));
    expect(stack.emulator.inFlight('single')).toBe(0);
    container.release();
  });

  it('instances × maxConcurrentInvocationsPerInstance caps the invocations in flight, FIFO', async () => {
    container.gated = true;
    const inFlightAtStart: number[] = [];
    const onStarted = (record: InferenceRecord) => {
      if (record.endpointName === 'pair') inFlightAtStart.push(stack.emulator.inFlight('pair'));
    };
    stack.emulator.on('started', onStarted);
    try {
      const sent: string[] = [];
      for (let i = 0; i < 6; i++) {
        await invoke('pair', `job-${i}`);
        sent.push(`job-${i}`);
      }
      await waitFor(() => container.held === 2, { what: 'two calls at the container' });
      expect(stack.emulator.inFlight('pair')).toBe(2);
      expect(stack.emulator.queued('pair')).toBe(4);

      for (let done = 1; done <= 6; done++) {
        container.release(1);
        await waitFor(() => stack.emulator.stats().endpoints.pair?.completed === done, {
          what: `${done} completed`,
        });
        expect(stack.emulator.inFlight('pair')).toBeLessThanOrEqual(2);
        const remaining = 6 - done;
        await waitFor(() => container.held === Math.min(2, remaining), {
          what: 'the next call at the container',
        });
      }
      expect(inFlightAtStart).toHaveLength(6);
      expect(Math.max(...inFlightAtStart)).toBe(2);
      expect(container.peakActive).toBe(2);
      expect(container.calls.map((c) => c.body.toString())).toEqual(sent);
      expect(stack.emulator.stats().endpoints.pair).toMatchObject({
        slots: 2,
        peakInFlight: 2,
        completed: 6,
      });
    } finally {
      stack.emulator.off('started', onStarted);
    }
  });

  it('with a slow built-in model and 2 slots, never more than 2 in flight', async () => {
    const local = await startAwsStack({
      endpoints: [
        {
          name: 'slow',
          model: { type: 'sleep', ms: 20 },
          instances: 1,
          maxConcurrentInvocationsPerInstance: 2,
        },
      ],
    });
    try {
      const seen: number[] = [];
      local.emulator.on('started', () => seen.push(local.emulator.inFlight('slow')));
      await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          local.sagemaker.send(
            new InvokeEndpointAsyncCommand({ EndpointName: 'slow', Body: Buffer.from(`n${i}`) }),
          ),
        ),
      );
      await waitFor(() => local.emulator.stats().completed === 8, { what: '8 completed' });
      expect(seen).toHaveLength(8);
      expect(Math.max(...seen)).toBeLessThanOrEqual(2);
      expect(local.emulator.stats().endpoints.slow?.peakInFlight).toBeLessThanOrEqual(2);
    } finally {
      await local.stop();
    }
  });
});
