import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { JobWaker, RESOLVED_WAKE_RETRIES_MS } from '../../src/dispatch/job-waker.js';
import { ParkingRig } from '../support/parking-worker.js';

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

  /** A waker whose waits between tries are recorded, and run `onSleep` (default: return at once). */
  const recordingWaker = (onSleep: (sleeps: number[]) => Promise<void> = async () => {}) => {
    const sleeps: number[] = [];
    const waker = new JobWaker(rig.queue, async (ms) => {
      sleeps.push(ms);
      await onSleep(sleeps);
    });
    return { sleeps, waker };
  };

  it('wakes a job resolved while still active, once its dispatcher has parked it', async () => {
    const jobId = `job-${++n}`;
    const job = await rig.activeJob(jobId);
    // The dispatcher parks the job while the consumer waits before its next try.
    const { sleeps, waker } = recordingWaker(async (s) => {
      if (s.length === 1) await rig.park(jobId);
    });
    expect(await waker.wake(jobId)).toBe('not-parked');
    expect(await waker.wakeResolved(jobId)).toBe('promoted');
    expect(sleeps).toEqual([RESOLVED_WAKE_RETRIES_MS[0]]);
    expect(await job.waitUntilFinished(rig.events, 15_000)).toBe('finished');
  });

  it('promotes a parked job at the first try, without waiting', async () => {
    const jobId = `job-${++n}`;
    const job = await rig.activeJob(jobId);
    await rig.park(jobId);
    const { sleeps, waker } = recordingWaker();
    expect(await waker.wakeResolved(jobId)).toBe('promoted');
    expect(sleeps).toEqual([]);
    expect(await job.waitUntilFinished(rig.events, 15_000)).toBe('finished');
  });

  it('promotes at once a job parked between a failed try and the look at its state', async () => {
    const jobId = `job-${++n}`;
    const job = await rig.activeJob(jobId);
    const sleeps: number[] = [];
    class ParkingRightAfterFirstTry extends JobWaker {
      private tries = 0;
      override async wake(id: string) {
        const outcome = await super.wake(id);
        if (++this.tries === 1) await rig.park(jobId);
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
    const jobId = `job-${++n}`;
    await rig.activeJob(jobId);
    const { sleeps, waker } = recordingWaker();
    expect(await waker.wakeResolved(jobId)).toBe('not-parked');
    expect(sleeps).toEqual(RESOLVED_WAKE_RETRIES_MS);
    rig.worker?.release(jobId);
  });

  it('does not wait for a job that is not active: missing, waiting or finished', async () => {
    const { sleeps, waker } = recordingWaker();
    expect(await waker.wakeResolved('no-such-job')).toBe('not-parked');
    const waiting = await rig.queue.add('j', {}, { jobId: `job-${++n}` });
    expect(await waker.wakeResolved(waiting.id as string)).toBe('not-parked');
    await waiting.remove();
    const finishedId = `job-${++n}`;
    const finished = await rig.activeJob(finishedId);
    await rig.park(finishedId);
    expect(await waker.wake(finishedId)).toBe('promoted');
    expect(await finished.waitUntilFinished(rig.events, 15_000)).toBe('finished');
    expect(await waker.wakeResolved(finishedId)).toBe('not-parked');
    expect(sleeps).toEqual([]);
  });
});
