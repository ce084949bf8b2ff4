import { Job, type Queue } from 'bullmq';

/**
 * How long after a failed wake of a just-resolved inference's job the completion consumer
 * tries again (ms, one try each): enough for a dispatcher that is parking the job (one
 * round trip) even on a loaded machine.
 */
export const RESOLVED_WAKE_RETRIES_MS = [2, 10, 50, 250, 1000, 3000];

export type WakeOutcome = 'promoted' | 'not-parked';

/**
 * Wakes a parked inference job so a dispatcher picks it up now (to finish it from its
 * resolved ledger record, or to retry for capacity). Waking a job that is not parked is a
 * harmless no-op.
 */
export class JobWaker {
  constructor(
    private readonly queue: Queue,
    private readonly sleep: (ms: number) => Promise<void> = (ms) =>
      new Promise((resolve) => setTimeout(resolve, ms)),
  ) {}

  async wake(jobId: string): Promise<WakeOutcome> {
    if (!jobId) return 'not-parked';
    // Promoted by id: one round trip. Loading the job first (Job.fromId: HGETALL and
    // decoding its data, payload included) would only tell what promote's script checks
    // anyway: a missing job, or one that is not delayed, makes it refuse.
    const job = new Job(this.queue, '', null, {}, jobId);
    try {
      await job.promote();
      return 'promoted';
    } catch (err) {
      // The script's refusal (a numeric code): gone, or not delayed (active, waiting or
      // finished), so nothing to wake. Anything else (Redis trouble) is the caller's.
      if (typeof (err as { code?: unknown }).code === 'number') return 'not-parked';
      throw err;
    }
  }

  /**
   * Wakes the job of an inference this process just moved from `submitted` to a final
   * status. The dispatcher parks a job in the same round trip as its `submitted` write, so
   * a resolution can land while the job is still active, when it cannot be promoted: it is
   * tried again a few times while the job is active, until the park happened. Returns once
   * it is promoted, is not active (waiting, finished or gone), or the tries are spent.
   */
  async wakeResolved(jobId: string): Promise<WakeOutcome> {
    let outcome = await this.wake(jobId);
    for (const delay of RESOLVED_WAKE_RETRIES_MS) {
      if (outcome === 'promoted') break;
      const state = await this.queue.getJobState(jobId);
      // Parked since the failed try: promote it now.
      if (state === 'delayed') {
        outcome = await this.wake(jobId);
        continue;
      }
      // Only an active job is worth waiting for: one waiting or finished is past its park
      // (a pickup will read the final record, or did), and a missing one is gone.
      if (state !== 'active') break;
      await this.sleep(delay);
      outcome = await this.wake(jobId);
    }
    return outcome;
  }
}
