import { describe, expect, it } from 'vitest';
import { EndpointQueue } from '../../src/emulator/endpoint-queue.js';
import { waitFor } from '../support/wait-for.js';

/** A queue whose runs wait until the test resolves them. */
function gatedQueue(concurrency: number) {
  const started: string[] = [];
  const expired: string[] = [];
  const gates = new Map<string, () => void>();
  const queue = new EndpointQueue<string>({
    concurrency,
    run: (item) => new Promise<void>((resolve) => gates.set(item, resolve)),
    onStart: (item) => started.push(item),
    onExpire: (item) => expired.push(item),
  });
  const finish = (item: string) => {
    gates.get(item)?.();
    gates.delete(item);
  };
  return { queue, started, expired, finish };
}

describe('EndpointQueue', () => {
  it('runs FIFO with at most `concurrency` in flight', async () => {
    const { queue, started, finish } = gatedQueue(2);
    for (const item of ['a', 'b', 'c', 'd']) queue.push(item, Number.POSITIVE_INFINITY);
    expect(started).toEqual(['a', 'b']);
    expect([queue.inFlight, queue.queued]).toEqual([2, 2]);
    finish('b');
    await waitFor(() => started.length === 3, { what: 'c started' });
    expect(started).toEqual(['a', 'b', 'c']);
    finish('a');
    finish('c');
    await waitFor(() => started.length === 4, { what: 'd started' });
    finish('d');
    await queue.whenIdle();
    expect(queue.peakInFlight).toBe(2);
    expect([queue.inFlight, queue.queued]).toEqual([0, 0]);
  });

  it('expires requests still queued when their TTL elapses; started ones never expire', async () => {
    const { queue, started, expired, finish } = gatedQueue(1);
    queue.push('running', 0);
    queue.push('short', 5);
    queue.push('long', 60_000);
    await waitFor(() => expired.length === 1, { what: 'short expired' });
    expect(expired).toEqual(['short']);
    expect(queue.queued).toBe(1);
    finish('running');
    await waitFor(() => started.includes('long'), { what: 'long started' });
    expect(started).toEqual(['running', 'long']);
    finish('long');
    await queue.whenIdle();
    expect(expired).toEqual(['short']);
  });

  it('clear() drops the queued requests and their timers', async () => {
    const { queue, expired, finish } = gatedQueue(1);
    queue.push('running', Number.POSITIVE_INFINITY);
    queue.push('queued-1', 10);
    queue.push('queued-2', 10);
    expect(queue.clear()).toEqual(['queued-1', 'queued-2']);
    finish('running');
    await queue.whenIdle();
    expect(expired).toEqual([]);
  });

  it('a run that throws or rejects only frees its slot', async () => {
    let calls = 0;
    const queue = new EndpointQueue<number>({
      concurrency: 1,
      run: (n) => {
        calls += 1;
        if (n === 0) throw new Error('sync');
        return Promise.reject(new Error('async'));
      },
      onExpire: () => {},
    });
    queue.push(0, Number.POSITIVE_INFINITY);
    queue.push(1, Number.POSITIVE_INFINITY);
    await queue.whenIdle();
    expect(calls).toBe(2);
  });
});
