import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { CompletionNotification } from '../../src/completions/parse-notification.js';
import { resolveNotification } from '../../src/completions/resolve-notification.js';
import { JobWaker } from '../../src/dispatch/job-waker.js';
import { Ledger } from '../../src/ledger/ledger.js';
import { ParkingRig } from '../support/parking-worker.js';
import { waitFor } from '../support/wait-for.js';

describe('resolveNotification', () => {
  let rig: ParkingRig;
  let redis: Redis;
  let ledger: Ledger;
  let n = 0;

  beforeAll(async () => {
    rig = await ParkingRig.start('inference', 'r');
    redis = rig.server.client();
    ledger = new Ledger(redis, 'r', 3600);
  });
  afterEach(() => rig.closeWorker());
  afterAll(async () => {
    redis?.disconnect();
    await rig?.stop();
  });

  const notification = (inferenceId: string): CompletionNotification => ({
    kind: 'notification',
    inferenceId,
    status: 'completed',
    endpointName: 'ep',
    outputLocation: `s3://out/${inferenceId}.out`,
    responseContentType: 'application/json',
    failureReason: null,
    responseBody: null,
    eventTime: null,
    delivery: 'raw',
  });

  /** A submitted inference whose job the parking worker holds active. */
  async function submittedAndActive(): Promise<{ jobId: string; inferenceId: string }> {
    const jobId = `job-${++n}`;
    const inferenceId = `inf-${n}`;
    await rig.activeJob(jobId, async (job) => {
      await ledger.claim({
        jobId,
        jobTimestamp: job.timestamp,
        newInferenceId: inferenceId,
        endpointName: 'ep',
        initialStatus: 'submitting',
      });
      await ledger.advance(inferenceId, 'submitted');
    });
    return { jobId, inferenceId };
  }

  it("wakes a job resolved while its dispatcher was still parking it (the record was 'submitted')", async () => {
    const { jobId, inferenceId } = await submittedAndActive();
    let tries = 0;
    const waker = new JobWaker(rig.queue, async () => {
      if (++tries === 1) await rig.park(jobId);
    });
    expect(await resolveNotification(ledger, waker, notification(inferenceId))).toBe('resolved');
    expect(tries).toBe(1);
    const job = await rig.queue.getJob(jobId);
    expect(await job?.waitUntilFinished(rig.events, 15_000)).toBe('finished');
    expect((await ledger.get(inferenceId))?.status).toBe('completed');
  });

  it('a duplicate notification wakes the job once, without waiting', async () => {
    const { jobId, inferenceId } = await submittedAndActive();
    const never = new JobWaker(rig.queue, async () => {
      throw new Error('no retry expected');
    });
    // Its tries wait for the park (however slow the machine), not for fixed delays.
    const waker = new JobWaker(rig.queue, () =>
      waitFor(() => rig.parked(jobId), { what: 'the job parked' }).then(() => {}),
    );
    // Resolved while its job was active, then woken once parked; the duplicate only wakes once.
    const first = resolveNotification(ledger, waker, notification(inferenceId));
    await waitFor(async () => (await ledger.get(inferenceId))?.status === 'completed', {
      what: 'the record resolved',
    });
    rig.worker?.release(jobId);
    expect(await first).toBe('resolved');
    expect(await resolveNotification(ledger, never, notification(inferenceId))).toBe('duplicate');
    const job = await rig.queue.getJob(jobId);
    expect(await job?.waitUntilFinished(rig.events, 15_000)).toBe('finished');
  });
});
