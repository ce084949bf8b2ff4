import { Job, type Queue } from 'bullmq';

/**
 * Wakes a parked inference job so a dispatcher picks it up now (to finish it from its
 * resolved ledger record, or to retry for capacity). Waking a job that is not parked is a
 * harmless no-op: an active job re-reads the ledger after parking itself.
 */
export class JobWaker {
  constructor(private readonly queue: Queue) {}

  async wake(jobId: string): Promise<boolean> {
    if (!jobId) return false;
    // Promoted by id: one round trip. Loading the job first (Job.fromId: HGETALL and
    // decoding its data, payload included) would only tell what promote's script checks
    // anyway: a missing job, or one that is not delayed, makes it refuse.
    const job = new Job(this.queue, '', null, {}, jobId);
    try {
      await job.promote();
      return true;
    } catch (err) {
      // The script's refusal (a numeric code): gone, or not delayed (active, waiting or
      // finished), so nothing to wake. Anything else (Redis trouble) is the caller's.
      if (typeof (err as { code?: unknown }).code === 'number') return false;
      throw err;
    }
  }
}
