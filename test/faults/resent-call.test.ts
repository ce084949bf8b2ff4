import type { Job } from 'bullmq';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type AwsStack, startAwsStack } from '../support/emulator.js';
import { PrivateRedis } from '../support/redis-server.js';
import { freshPrefix, type SmadHarness, startSmad } from '../support/smad.js';
import { waitFor } from '../support/wait-for.js';

/**
 * A dispatcher that dies between SageMaker's 202 and its ledger write leaves a call the
 * ledger never heard of; the job's next pickup sends the call again with the same
 * inferenceId, and SageMaker runs both. Found by the fault suite: the notification of the
 * first call must decide the output location, not the second call's 202.
 */
describe('a call sent again after a crash', () => {
  let redis: PrivateRedis;
  let stack: AwsStack;
  const harnesses: SmadHarness[] = [];

  beforeAll(async () => {
    redis = await PrivateRedis.start();
    stack = await startAwsStack({
      // One slot and a slow model: the second call waits behind the first and expires.
      endpoints: [{ name: 'one', maxConcurrentInvocationsPerInstance: 1 }],
      knobs: { latencyMs: 3000, expiredNotification: 'none', timeScale: 0.001 },
    });
  });
  afterEach(async () => {
    for (const h of harnesses.splice(0)) await h.stop();
    await stack.reset();
  });
  afterAll(async () => {
    await stack?.stop();
    await redis?.destroy();
  });

  it('completes at the output the notification reports, when the call the ledger recorded produced nothing', async () => {
    const prefix = freshPrefix();
    let calls = 0;
    const dispatcher = await startSmad(redis, stack, {
      prefix,
      roles: ['dispatcher'],
      // Deadlines far away: only the notification resolves the record.
      overrides: { 'expiry.timeScale': 0.001, 'expiry.graceSeconds': 1_000_000 },
      hooks: {
        afterInvoke: () => {
          // The first call "crashes" the pickup after the 202: the job is picked up again.
          if (++calls === 1) throw new Error('simulated crash between the 202 and the ledger write');
        },
      },
    });
    harnesses.push(dispatcher);
    const job: Job = await dispatcher.queue.add('x', {
      endpointName: 'one',
      body: 'twice',
      inferenceId: 'resent-1',
      requestTTLSeconds: 60,
      invocationTimeoutSeconds: 3600,
    });
    await waitFor(async () => (await dispatcher.runtime.ledger.get('resent-1'))?.status === 'submitted', {
      what: 'the second call recorded',
    });
    const [first, second] = stack.emulator.requests;
    expect(stack.emulator.requests.map((r) => [r.status, r.params.inferenceId])).toEqual([
      [202, 'resent-1'],
      [202, 'resent-1'],
    ]);
    // Two calls, two output locations: which one the record ends with is the point.
    expect(first?.outputLocation).not.toBe(second?.outputLocation);
    expect((await dispatcher.runtime.ledger.get('resent-1'))?.outputLocation).toBe(second?.outputLocation);
    // SageMaker ran the first call; the second expired in the endpoint's queue, silently.
    await waitFor(
      () =>
        stack.emulator.inferences.map((i) => i.status).join() === 'completed,expired' &&
        stack.emulator.notifications.length === 1,
      { timeoutMs: 20_000, what: 'the first call to complete and the second to expire' },
    );

    const consumer = await startSmad(redis, stack, { prefix, roles: ['completions'] });
    harnesses.push(consumer);
    const result = await job.waitUntilFinished(consumer.events, 30_000);
    expect(result).toMatchObject({ status: 'completed', outputLocation: first?.outputLocation });
    const record = await consumer.runtime.ledger.get('resent-1');
    expect(record).toMatchObject({ status: 'completed', outputLocation: first?.outputLocation });
    expect(await stack.objectExists(record?.outputLocation ?? '')).toBe(true);
  }, 60_000);
});
