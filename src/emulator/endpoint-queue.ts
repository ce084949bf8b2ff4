/**
 * One endpoint's internal queue: FIFO, a fixed number of slots (instances × max
 * concurrent invocations per instance), and a time-to-live per request. A request still
 * queued when its TTL elapses leaves the queue and is handed to `onExpire`.
 */

export interface EndpointQueueOptions<T> {
  concurrency: number;
  /** Processes one request; its slot is free again when the promise settles. */
  run: (item: T) => Promise<void>;
  /** A request whose TTL elapsed while queued. */
  onExpire: (item: T) => void;
  /** Called when a request leaves the queue for a slot (before `run`). */
  onStart?: (item: T) => void;
}

interface Entry<T> {
  item: T;
  state: 'queued' | 'started' | 'expired' | 'removed';
  timer?: NodeJS.Timeout;
}

export class EndpointQueue<T> {
  private readonly entries: Array<Entry<T>> = [];
  private head = 0;
  private waiting = 0;
  private active = 0;
  private peak = 0;
  private concurrency: number;
  private idleWaiters: Array<() => void> = [];

  constructor(private readonly options: EndpointQueueOptions<T>) {
    this.concurrency = options.concurrency;
  }

  /** Requests waiting for a slot. */
  get queued(): number {
    return this.waiting;
  }

  /** Requests holding a slot. */
  get inFlight(): number {
    return this.active;
  }

  /** The most requests ever in flight at once. */
  get peakInFlight(): number {
    return this.peak;
  }

  get slots(): number {
    return this.concurrency;
  }

  /** Adds a request; `ttlMs` is how long it may wait for a slot. */
  push(item: T, ttlMs: number): void {
    const entry: Entry<T> = { item, state: 'queued' };
    this.entries.push(entry);
    this.waiting += 1;
    if (Number.isFinite(ttlMs)) {
      entry.timer = setTimeout(() => this.expire(entry), Math.max(0, ttlMs));
    }
    this.pump();
  }

  setConcurrency(concurrency: number): void {
    this.concurrency = concurrency;
    this.pump();
  }

  /** Removes every queued request (their timers too) and returns them; running ones go on. */
  clear(): T[] {
    const removed: T[] = [];
    for (let i = this.head; i < this.entries.length; i++) {
      const entry = this.entries[i];
      if (entry?.state !== 'queued') continue;
      clearTimeout(entry.timer);
      entry.state = 'removed';
      removed.push(entry.item);
    }
    this.entries.length = 0;
    this.head = 0;
    this.waiting = 0;
    this.notifyIdle();
    return removed;
  }

  /** Resolves when nothing is queued or in flight. */
  whenIdle(): Promise<void> {
    if (this.waiting === 0 && this.active === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  resetPeak(): void {
    this.peak = this.active;
  }

  private expire(entry: Entry<T>): void {
    if (entry.state !== 'queued') return;
    entry.state = 'expired';
    entry.timer = undefined;
    this.waiting -= 1;
    this.compact();
    this.options.onExpire(entry.item);
    this.notifyIdle();
  }

  private next(): Entry<T> | undefined {
    while (this.head < this.entries.length) {
      const entry = this.entries[this.head];
      this.head += 1;
      if (entry?.state === 'queued') return entry;
    }
    return undefined;
  }

  private compact(): void {
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries.splice(0, this.head);
      this.head = 0;
    }
    if (this.waiting === 0) {
      this.entries.length = 0;
      this.head = 0;
    }
  }

  private pump(): void {
    while (this.active < this.concurrency && this.waiting > 0) {
      const entry = this.next();
      if (!entry) break;
      clearTimeout(entry.timer);
      entry.timer = undefined;
      entry.state = 'started';
      this.waiting -= 1;
      this.active += 1;
      this.peak = Math.max(this.peak, this.active);
      this.options.onStart?.(entry.item);
      let done: Promise<void>;
      try {
        done = this.options.run(entry.item);
      } catch (err) {
        done = Promise.reject(err);
      }
      done
        .catch(() => {
          // run() reports its own failures; a rejection only frees the slot.
        })
        .finally(() => {
          this.active -= 1;
          this.pump();
          this.notifyIdle();
        });
    }
    this.compact();
  }

  private notifyIdle(): void {
    if (this.waiting !== 0 || this.active !== 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
