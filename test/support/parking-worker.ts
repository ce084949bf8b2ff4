import { DelayedError, type Job, Queue, QueueEvents, Worker } from 'bullmq';
import { PrivateRedis } from './redis-server.js';
import { waitFor } from './wait-for.js';

/**
 * A BullMQ worker that parks jobs the way smad's dispatcher does, at a moment the test
 * chooses: the first pickup of each job holds it active until `release(jobId)`, then parks
 * it (delayed for an hour) and throws DelayedError; the next pickup completes it with
 * 'finished'. For tests of what happens to a job resolved while still active.
 */
export class ParkingWorker {
  readonly worker: Worker;
  /** Jobs whose first pickup is holding them active. */
  readonly active = new Set<string>();
  private readonly gates = new Map<string, () => void>();

  constructor(queueName: string, options: { port: number; prefix: string }) {
    this.worker = new Worker(
      queueName,
      async (job: Job, token?: string) => {
        if (job.attemptsStarted > 1) return 'finished';
        this.active.add(job.id as string);
        await new Promise<void>((resolve) => this.gates.set(job.id as string, resolve));
        await job.moveToDelayed(Date.now() + 3_600_000, token);
        throw new DelayedError();
      },
      { connection: { host: '127.0.0.1', port: options.port }, prefix: options.prefix, concurrency: 4 },
    );
  }

  /** Lets the held job be parked. */
  release(jobId: string): void {
    this.gates.get(jobId)?.();
  }

  close(): Promise<void> {
    return this.worker.close(true);
  }
}

/**
 * A private Redis with one BullMQ queue, its events, and parking workers made on demand (each
 * closed by `closeWorker`), for tests of the park race.
 */
export class ParkingRig {
  worker: ParkingWorker | undefined;

  private constructor(
    readonly server: PrivateRedis,
    readonly queue: Queue,
    readonly events: QueueEvents,
    private readonly prefix: string,
  ) {}

  static async start(queueName: string, prefix: string): Promise<ParkingRig> {
    const server = await PrivateRedis.start();
    const connection = { host: '127.0.0.1', port: server.port };
    const queue = new Queue(queueName, { connection, prefix });
    const events = new QueueEvents(queueName, { connection, prefix });
    await events.waitUntilReady();
    return new ParkingRig(server, queue, events, prefix);
  }

  startWorker(): ParkingWorker {
    this.worker = new ParkingWorker(this.queue.name, { port: this.server.port, prefix: this.prefix });
    return this.worker;
  }

  async closeWorker(): Promise<void> {
    await this.worker?.close();
    this.worker = undefined;
  }

  /**
   * Adds a job and returns once a parking worker (started if none runs) holds it active;
   * `prepare` runs after the add, before the worker's pickup matters (e.g. ledger records).
   */
  async activeJob(jobId: string, prepare?: (job: Job) => Promise<unknown>): Promise<Job> {
    const worker = this.worker ?? this.startWorker();
    const job = await this.queue.add('j', {}, { jobId });
    await prepare?.(job);
    await waitFor(() => worker.active.has(jobId), { what: `${jobId} active` });
    return job;
  }

  /** Lets the worker park the held job, and returns once BullMQ has it delayed. */
  async park(jobId: string): Promise<void> {
    this.worker?.release(jobId);
    await waitFor(() => this.parked(jobId), { what: `${jobId} parked` });
  }

  /** Whether BullMQ has the job in its delayed set (parked). */
  async parked(jobId: string): Promise<boolean> {
    return (await this.queue.getJobState(jobId)) === 'delayed';
  }

  async stop(): Promise<void> {
    await this.closeWorker();
    await this.events.close();
    await this.queue.close();
    await this.server.destroy();
  }
}
