import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { JobWaker, RESOLVED_WAKE_RETRIES_MS } from '../../src/dispatch/job-waker.js';
import { ParkingRig } from '../support/parking-worker.js';
import { waitFor } from '../support/wait-for.js';

/**
 * The completion consumer's side of the park race: a notification that resolves an inference
 * while its job is still active (the dispatcher parks it in the same round trip as its
 * `submitted` write) cannot promote it; wakeResolved tries again until the job is parked.
 */
describe('JobWaker', () => {
  let rig: ParkingRig;
  let n = 0;

  beforeAll(async () => {
    rig = await ParkingRig.start('wake', 'w');
  });
  afterEach(() => rig.closeWorker());
  afterAll(() => rig?.stop());

  const parkingWorker = () => rig.startWorker();
  const state = (jobId: string) => rig.queue.getJobState(jobId);

  it('wakes a job resolved while still active, once its dispatcher has parked it', async () => {
    const worker = parkingWorker();
    const job = await rig.queue.add('j', {}, { jobId: `job-${++n}` });
    const jobId = job.id as string;
    await waitFor(() => worker.active.has(jobId), { what: 'the job active' });
    const sleeps: number[] = [];
    const waker = new JobWaker(rig.queue, async (ms) => {
      sleeps.push(ms);
      // The dispatcher parks the job while the consumer waits before its next try.
      if (sleeps.length === 1) {
        worker.release(jobId);
        await waitFor(async () => (await state(jobId)) === 'delayed', { what: 'the job parked' });
      }
    });
    expect(await waker.wake(jobId)).toBe('not-parked');
    expect(await waker.wakeResolved(jobId)).toBe('promoted');
    expect(sleeps).toEqual([RESOLVED_WAKE_RETRIES_MS[0]]);
    expect(await job.waitUntilFinished(rig.events, 15_000)).toBe('finished');
  });

  it('promotes a parked job at the first try, without waiting', async () => {
    const worker = parkingWorker();
    const job = await rig.queue.add('j', {}, { jobId: `job-${++n}` });
    const jobId = job.id as string;
    await waitFor(() => worker.active.has(jobId), { what: 'the job active' });
    worker.release(jobId);
    await waitFor(async () => (await state(jobId)) === 'delayed', { what: 'the job parked' });
    const sleeps: number[] = [];
    const waker = new JobWaker(rig.queue, async (ms) => {
      sleeps.push(ms);
    });
    expect(await waker.wakeResolved(jobId)).toBe('promoted');
    expect(sleeps).toEqual([]);
    expect(await job.waitUntilFinished(rig.events, 15_000)).toBe('finished');
  });

  it('promotes at once a job parked between a failed try and the look at its state', async () => {
    const worker = parkingWorker();
    const job = await rig.queue.add('j', {}, { jobId: `job-${++n}` });
    const jobId = job.id as string;
    await waitFor(() => worker.active.has(jobId), { what: 'the job active' });
    const sleeps: number[] = [];
    class ParkingRightAfterFirstTry extends JobWaker {
      private tries = 0;
      override async wake(id: string) {
        const outcome = await super.wake(id);
        if (++this.tries === 1) {
          worker.release(jobId);
          await waitFor(() => rig.parked(jobId), { what: 'the job parked' });
        }
        return outcome;
      }
    }
    const waker = new ParkingRightAfterFirstTry(rig.queue, async (ms) => {
      sleeps.push(ms);
    });
    expect(await waker.wakeResolved(jobId)).toBe('promoted');
    expect(sleeps).toEqual([]);
    expect(await job.waitUntilFinished(rig.events, 15_000)).toBe('finished');
  });

  it('keeps trying while the job stays active, and gives up after its tries', async () => {
    const worker = parkingWorker();
    const job = await rig.queue.add('j', {}, { jobId: `job-${++n}` });
    const jobId = job.id as string;
    await waitFor(() => worker.active.has(jobId), { what: 'the job active' });
    const sleeps: number[] = [];
    const waker = new JobWaker(rig.queue, async (ms) => {
      sleeps.push(ms);
    });
    expect(await waker.wakeResolved(jobId)).toBe('not-parked');
    expect(sleeps).toEqual(RESOLVED_WAKE_RETRIES_MS);
    worker.release(jobId);
  });

  it('does not wait for a job that is not active: missing, waiting or finished', async () => {
    const sleeps: number[] = [];
    const waker = new JobWaker(rig.queue, async (ms) => {
      sleeps.push(ms);
    });
    expect(await waker.wakeResolved('no-such-job')).toBe('not-parked');
    const waiting = await rig.queue.add('j', {}, { jobId: `job-${++n}` });
    expect(await waker.wakeResolved(waiting.id as string)).toBe('not-parked');
    expect(sleeps).toEqual([]);
    await waiting.remove();
  });
});
