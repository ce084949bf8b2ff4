/**
 * Memory (issue #8, PRODUCT.md "Quality bars": daemon memory flat with backlog size; Redis
 * bytes per resolved inference reported).
 *
 * 1. Daemon RSS with a small and a large backlog (1,000 and 1,000,000 queued jobs, or the
 *    largest count that fits the time budget: enqueuing is measured first and the count is
 *    capped, which the output says). The jobs are added with addBulk in chunks straight
 *    into Redis, then `smad start --roles dispatcher` is started against an endpoint whose
 *    flow control makes it wait: at most one inference in flight ({maxInFlight: 1}), and
 *    the emulator's model never finishes, so every pickup after the first parks its job.
 *    RSS (VmRSS of the smad process) is sampled in two steady states:
 *      - paused: the queue is paused before smad starts (an idle daemon with a backlog);
 *      - waiting: the queue is resumed and the dispatcher works the backlog under flow
 *        control (with the large backlog it is busy for the whole window, parking jobs).
 *    The ratio RSS(large)/RSS(small) of each state is the figure (≈ 1 means flat).
 * 2. Redis bytes per resolved inference: the whole pipeline (dispatcher, completions,
 *    webhooks in one smad process; the emulator's echo model; a webhook receiver here) runs
 *    K jobs after a 1,000-job warm-up; used_memory after minus before, over K, leaving out
 *    the growth of BullMQ's event streams (capped at 10,000 entries, so not per inference).
 *    What stays per inference (ledger record, jobId index, the finished inference job) is
 *    kept for ledger.retentionDays; finished delivery jobs are kept 1 h / at most 1,000 (the
 *    warm-up fills that cap).
 *
 *   node bench/memory.bench.js [--small 1000] [--large 1000000] [--enqueue-budget 60]
 *        [--k 2000] [--window 8]
 * --enqueue-budget is in seconds: the large backlog is capped to what enqueues in it.
 */
import { parseArgs } from 'node:util';
import { Queue } from 'bullmq';
import { startAws } from './lib/aws.js';
import { runMain, sleep, waitFor } from './lib/proc.js';
import { newSecret, startReceiver } from './lib/receiver.js';
import { startRedis } from './lib/redis.js';
import { startSmadProcess } from './lib/smad.js';
import { fmt, machineLine, median, mib, say, table } from './lib/stats.js';

const QUEUE = 'inference';
const CHUNK = 5000;

function jobData(i) {
  return { endpointName: 'held', contentType: 'application/json', body: `{"input":${i}}` };
}

/** Adds n jobs in addBulk chunks (several chunks in flight); returns the seconds it took. */
async function enqueue(redis, prefix, n, { from = 0, stopAfterSeconds = Infinity } = {}) {
  const connection = redis.client();
  const queue = new Queue(QUEUE, { connection, prefix });
  const t0 = Date.now();
  let added = 0;
  const inFlight = new Set();
  for (let i = from; i < from + n; i += CHUNK) {
    const chunk = [];
    for (let j = i; j < Math.min(from + n, i + CHUNK); j++)
      chunk.push({ name: 'inference', data: jobData(j) });
    const p = queue.addBulk(chunk).then(() => {
      added += chunk.length;
      inFlight.delete(p);
    });
    inFlight.add(p);
    if (inFlight.size >= 4) await Promise.race(inFlight);
    if ((Date.now() - t0) / 1000 > stopAfterSeconds) break;
  }
  await Promise.all(inFlight);
  await queue.close();
  connection.disconnect();
  return { added, seconds: (Date.now() - t0) / 1000 };
}

async function sampleRss(smad, seconds) {
  const samples = [];
  const end = Date.now() + seconds * 1000;
  while (Date.now() < end) {
    const rss = smad.rss();
    if (rss !== undefined) samples.push(rss);
    await sleep(250);
  }
  return { median: median(samples), max: Math.max(...samples) };
}

/** One backlog size: enqueue, start smad paused, sample; resume, sample. */
async function rssWithBacklog({ redis, aws, count, prefix, windowSeconds }) {
  await redis.admin.flushall();
  const { seconds } = await enqueue(redis, prefix, count);
  const redisBytes = Number((await redis.info('memory')).used_memory);
  const connection = redis.client();
  const queue = new Queue(QUEUE, { connection, prefix });
  await queue.pause();
  const smad = await startSmadProcess({
    roles: ['dispatcher'],
    env: aws.env,
    settings: {
      'redis.url': redis.url,
      'queue.prefix': prefix,
      'queue.name': QUEUE,
      endpoints: { held: { maxTps: 0, maxInFlight: 1 } },
      'flow.waitFallbackSeconds': 1,
      'dispatch.concurrency': 16,
      'log.level': 'info',
    },
  });
  try {
    await sleep(2000);
    const paused = await sampleRss(smad, windowSeconds / 2);
    await queue.resume();
    await sleep(2000);
    const cpu0 = smad.cpuMs();
    const waiting = await sampleRss(smad, windowSeconds);
    const busy = (smad.cpuMs() - cpu0) / (windowSeconds * 1000);
    const parked = await queue.getDelayedCount();
    return { count, enqueueSeconds: seconds, redisBytes, paused, waiting, busy, parked };
  } finally {
    await smad.stop();
    await queue.close();
    connection.disconnect();
  }
}

/** Redis used_memory per resolved inference through the whole pipeline. */
async function bytesPerInference({ k, warmup }) {
  const redis = await startRedis();
  const aws = await startAws({
    endpoints: [{ name: 'echo', model: 'echo', instances: 4, maxConcurrentInvocationsPerInstance: 8 }],
  });
  const secret = await newSecret();
  const receiver = await startReceiver({ secret });
  const prefix = 'mem';
  const smad = await startSmadProcess({
    roles: ['dispatcher', 'completions', 'webhooks'],
    env: aws.env,
    settings: {
      'redis.url': redis.url,
      'queue.prefix': prefix,
      'queue.name': QUEUE,
      endpoints: { '*': { maxTps: 0, maxInFlight: 0 } },
      'dispatch.concurrency': 16,
      'completions.queueUrls': [aws.queueUrls.completions],
      'completions.waitTimeSeconds': 2,
      'webhooks.defaultUrl': receiver.url,
      'webhooks.secret': [secret],
      'webhooks.allowPrivateNetworks': true,
      'log.level': 'warn',
    },
    ready: async () => (await redis.admin.client('LIST')).includes(`name=${prefix}:`),
  });
  const connection = redis.client();
  const queue = new Queue(QUEUE, { connection, prefix });
  const deliveries = new Queue(`${QUEUE}-webhooks`, { connection, prefix });
  const run = async (from, n) => {
    for (let i = from; i < from + n; i += 500) {
      const chunk = [];
      for (let j = i; j < Math.min(from + n, i + 500); j++)
        chunk.push({
          name: 'inference',
          data: {
            endpointName: 'echo',
            contentType: 'application/json',
            body: `{"input":${j}}`,
            metadata: { n: j },
          },
        });
      await queue.addBulk(chunk);
    }
    let state = {};
    try {
      await waitFor(
        async () => {
          const [jobs, hooks] = await Promise.all([queue.getJobCounts(), deliveries.getJobCounts()]);
          state = { jobs, hooks, received: receiver.deliveries };
          // Finished deliveries are kept 1 h / at most 1,000: count arrivals instead.
          return (
            jobs.completed >= from + n &&
            receiver.deliveries >= from + n &&
            hooks.active + hooks.waiting + hooks.delayed === 0
          );
        },
        { timeoutMs: 120_000, intervalMs: 100, what: `${from + n} inferences resolved and delivered` },
      );
    } catch (err) {
      throw new Error(
        `${err.message}: ${JSON.stringify(state)}; smad: ${smad.problems.slice(0, 3).join(' | ')}`,
      );
    }
    // The outbox entries are acknowledged and deleted just after the deliveries are queued.
    await waitFor(async () => (await redis.admin.xlen(`${prefix}:ledger:outbox`)) === 0, {
      timeoutMs: 10_000,
      what: 'outbox drained',
    });
    await sleep(500);
  };
  // BullMQ's event streams are capped (10,000 entries each): they are not per inference.
  const eventStreams = async () =>
    (
      await Promise.all(
        [`${prefix}:${QUEUE}:events`, `${prefix}:${QUEUE}-webhooks:events`].map((key) =>
          redis.admin.memory('USAGE', key),
        ),
      )
    ).reduce((sum, bytes) => sum + Number(bytes ?? 0), 0);
  try {
    await run(0, warmup);
    const before = Number((await redis.info('memory')).used_memory);
    const eventsBefore = await eventStreams();
    const keysBefore = await redis.admin.dbsize();
    await run(warmup, k);
    const after = Number((await redis.info('memory')).used_memory);
    const eventsAfter = await eventStreams();
    const keysAfter = await redis.admin.dbsize();
    // Breakdown: MEMORY USAGE of a sample of each kind of key left per inference.
    const sample = async (pattern) => {
      const keys = [];
      let cursor = '0';
      do {
        const [next, found] = await redis.admin.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        cursor = next;
        keys.push(...found);
      } while (cursor !== '0' && keys.length < 200);
      const sizes = await Promise.all(keys.slice(0, 200).map((key) => redis.admin.memory('USAGE', key)));
      return median(sizes.map(Number));
    };
    const breakdown = {
      ledgerRecord: await sample(`${prefix}:ledger:inf:*`),
      jobIndex: await sample(`${prefix}:ledger:job:*`),
      inferenceJob: await sample(`${prefix}:${QUEUE}:[0-9]*`),
      deliveryJob: await sample(`${prefix}:${QUEUE}-webhooks:msg_*`),
    };
    const finishedDeliveries = await deliveries.getCompletedCount();
    const events = eventsAfter - eventsBefore;
    return {
      k,
      perInference: (after - before - events) / k,
      eventsPerInference: events / k,
      keysPerInference: (keysAfter - keysBefore) / k,
      breakdown,
      finishedDeliveries,
    };
  } finally {
    await deliveries.close();
    await queue.close();
    connection.disconnect();
    await smad.stop();
    await receiver.close();
    await aws.stop();
    await redis.stop();
  }
}

/** Part 1: daemon RSS with a small and a large backlog. */
async function backlogPart({ small, large: wanted, budget, windowSeconds }) {
  let large = wanted;
  const redis = await startRedis();
  const aws = await startAws({
    endpoints: [
      {
        name: 'held',
        model: { type: 'sleep', ms: 3_600_000 },
        instances: 1,
        maxConcurrentInvocationsPerInstance: 1,
      },
    ],
  });
  const results = [];
  try {
    // How fast does this machine enqueue? 50,000 jobs tell; the large backlog is capped to the budget.
    const probe = await enqueue(redis, 'probe', 50_000);
    const rate = probe.added / probe.seconds;
    await redis.admin.flushall();
    const fits = Math.floor((rate * budget) / 50_000) * 50_000;
    say(`  addBulk (chunks of ${CHUNK}, 4 in flight) enqueues ${fmt(rate, 0)} jobs/s here`);
    if (fits < large) {
      say(
        `  ${fmt(large, 0)} jobs would take ~${fmt(large / rate, 0)} s to enqueue: over the ${budget} s budget, so the large backlog is ${fmt(Math.max(fits, small * 10), 0)} jobs`,
      );
      large = Math.max(fits, small * 10);
    }
    for (const count of [small, large]) {
      const r = await rssWithBacklog({ redis, aws, count, prefix: `b${count}`, windowSeconds });
      results.push(r);
      say(
        `  ${fmt(count, 0)} queued (enqueued in ${fmt(r.enqueueSeconds, 1)} s, Redis ${mib(r.redisBytes)}): RSS paused ${mib(r.paused.median)}, waiting ${mib(r.waiting.median)} (max ${mib(r.waiting.max)}; smad CPU ${fmt(r.busy * 100, 0)} %, ${fmt(r.parked, 0)} jobs parked)`,
      );
    }
  } finally {
    await aws.stop();
    await redis.stop();
  }
  const [a, b] = results;
  say();
  say(
    table(
      ['smad RSS (median)', `${fmt(a.count, 0)} queued`, `${fmt(b.count, 0)} queued`, 'ratio'],
      [
        [
          'paused (idle daemon)',
          mib(a.paused.median),
          mib(b.paused.median),
          fmt(b.paused.median / a.paused.median, 2),
        ],
        [
          'waiting under flow control',
          mib(a.waiting.median),
          mib(b.waiting.median),
          fmt(b.waiting.median / a.waiting.median, 2),
        ],
      ],
    ),
  );
  say(
    `  Redis per queued job (before any pickup): ${fmt((b.redisBytes - a.redisBytes) / (b.count - a.count), 0)} bytes`,
  );
  return results;
}

/** Part 2: Redis bytes per resolved inference. */
async function bytesPart({ k }) {
  const bytes = await bytesPerInference({ k, warmup: 1000 });
  say(
    `  Redis bytes per resolved inference (K = ${fmt(k, 0)} after 1,000 warm-up): ${fmt(bytes.perInference, 0)} bytes (used_memory delta / K, without BullMQ's capped event streams, which grew ${fmt(bytes.eventsPerInference, 0)} B per inference until their cap), ${fmt(bytes.keysPerInference, 1)} keys per inference`,
  );
  say(
    `    MEMORY USAGE (median key): ledger record ${fmt(bytes.breakdown.ledgerRecord, 0)} B, jobId index ${fmt(bytes.breakdown.jobIndex, 0)} B, finished inference job ${fmt(bytes.breakdown.inferenceJob, 0)} B, finished delivery job ${fmt(bytes.breakdown.deliveryJob, 0)} B (kept 1 h, at most 1,000: ${fmt(bytes.finishedDeliveries, 0)} now, so not per inference)`,
  );
  return bytes;
}

export async function main(argv = []) {
  const { values } = parseArgs({
    args: argv,
    options: {
      small: { type: 'string', default: '1000' },
      large: { type: 'string', default: '1000000' },
      'enqueue-budget': { type: 'string', default: '60' },
      k: { type: 'string', default: '2000' },
      window: { type: 'string', default: '8' },
      only: { type: 'string' },
    },
  });
  say('# Memory: smad daemon RSS with a small and a large backlog; Redis bytes per resolved inference');
  say(await machineLine());
  if (values.only !== 'bytes')
    await backlogPart({
      small: Number(values.small),
      large: Number(values.large),
      budget: Number(values['enqueue-budget']),
      windowSeconds: Number(values.window),
    });
  if (values.only !== 'rss') {
    say();
    await bytesPart({ k: Number(values.k) });
  }
  return 0;
}

runMain(import.meta.url, main);
