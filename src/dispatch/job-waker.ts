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
    const job = await Job.fromId(this.queue, jobId);
    if (!job) return false;
    try {
      await job.promote();
      return true;
    } catch {
      // Not delayed (active, waiting or finished): nothing to wake.
      return false;
    }
  }
}
