/**
 * Rate limits (PRODUCT.md "Quality bars": no 1-second window above the limit; ≥ 97 % of the
 * limit achieved under backlog, with three processes sharing it).
 *
 * An endpoint limited to --limit calls/s (maxTps, burst 1, no in-flight cap) gets --jobs
 * jobs queued up front, dispatched by 1 and by 3 `smad start --roles dispatcher` processes
 * (the built CLI) sharing a private Redis. Every figure is measured at the endpoint: the
 * emulator (in its own process, lib/request-log-child.js) keeps the receive time of every
 * call. Per run:
 *   - achieved rate = (calls - 1) / (last call - first call), and its ratio to the limit;
 *   - worst 1-second window = for every call i, the calls received in [t_i, t_i + 1000 ms).
 * The achieved rate includes the start-up of each run: the first reserved jobs wait behind
 * the initial pickup of the whole backlog (about a quarter of a second, once).
 * Baselines measured in the same run: the configured limit itself, and the same processes
 * with the endpoint unlimited (maxTps 0), whose rate shows that the limiter is the bound.
 *
 *   node bench/rate-limit.bench.js [--limit 20] [--jobs 300] [--processes 1,3]
 *
 * Plain node after `npm run build`: it imports only dist/ and the other bench/lib helpers.
 */
import { parseArgs } from 'node:util';
import { Queue } from 'bullmq';
import { runMain, sleep, waitFor } from './lib/proc.js';
import { startRedis } from './lib/redis.js';
import { startRequestLog } from './lib/request-log.js';
import { startSmadProcess } from './lib/smad.js';
import { fmt, say, table } from './lib/stats.js';

const ENDPOINT = 'limited';
const QUEUE = 'inference';

/** The most calls in any window [t_i, t_i + windowMs) starting at a call; times sorted. */
export function worstWindow(times, windowMs = 1000) {
  let worst = 0;
  let j = 0;
  for (let i = 0; i < times.length; i++) {
    if (j < i) j = i;
    while (j < times.length && times[j] < times[i] + windowMs) j++;
    worst = Math.max(worst, j - i);
  }
  return worst;
}

function spanRate(times) {
  if (times.length < 2) return Number.NaN;
  return ((times.length - 1) * 1000) / (times[times.length - 1] - times[0]);
}

/** The rate once past the start-up: from the first call 1 s after the first one, to the last. */
function steadyRate(times) {
  return spanRate(times.filter((t) => t >= times[0] + 1000));
}

async function run(ctx, { label, processes, maxTps, jobs }) {
  const prefix = `rate${++ctx.runs}`;
  await ctx.redis.admin.flushall();
  await ctx.aws.reset();
  const settings = {
    'redis.url': ctx.redis.url,
    'queue.prefix': prefix,
    'queue.name': QUEUE,
    endpoints: { '*': { maxTps: 0, maxInFlight: 0 }, [ENDPOINT]: { maxTps, burst: 1, maxInFlight: 0 } },
    'log.level': 'info',
  };
  const smads = await Promise.all(
    Array.from({ length: processes }, () =>
      startSmadProcess({ roles: ['dispatcher'], env: ctx.aws.env, settings }),
    ),
  );
  try {
    const connection = ctx.redis.client();
    const queue = new Queue(QUEUE, { connection, prefix });
    await queue.addBulk(
      Array.from({ length: jobs }, (_, i) => ({
        name: 'bench',
        data: { endpointName: ENDPOINT, body: `{"i":${i}}` },
      })),
    );
    await queue.close();
    connection.disconnect();
    await waitFor(
      async () => {
        for (const smad of smads)
          if (smad.child.exitCode !== null) throw new Error(`a smad process exited (${smad.child.exitCode})`);
        return (await ctx.aws.count(ENDPOINT)) >= jobs;
      },
      {
        timeoutMs: Math.max(60_000, (jobs / Math.max(maxTps, 1)) * 3000),
        intervalMs: 100,
        what: `${jobs} calls`,
      },
    );
  } finally {
    await Promise.all(smads.map((smad) => smad.stop()));
  }
  const { times, statuses } = await ctx.aws.times(ENDPOINT);
  const sorted = [...times].sort((a, b) => a - b);
  const result = {
    label,
    processes,
    maxTps,
    calls: sorted.length,
    rate: spanRate(sorted),
    steady: steadyRate(sorted),
    worst: worstWindow(sorted),
    refused: Object.entries(statuses)
      .filter(([status]) => status !== '202')
      .reduce((sum, [, n]) => sum + n, 0),
  };
  say(
    `  ${label}: ${result.calls} calls, ${fmt(result.rate, 2)} calls/s (${fmt(result.steady, 2)} after the first second), worst 1 s window ${result.worst}` +
      (result.refused > 0 ? `, ${result.refused} refused by the emulator` : ''),
  );
  return result;
}

export async function main(argv = []) {
  const { values } = parseArgs({
    args: argv,
    options: {
      limit: { type: 'string', default: '20' },
      jobs: { type: 'string', default: '300' },
      processes: { type: 'string', default: '1,3' },
    },
  });
  const limit = Number(values.limit);
  const jobs = Number(values.jobs);
  const processCounts = values.processes.split(',').map(Number);
  say('# Rate limits: calls received by an endpoint limited to maxTps, 1 and 3 dispatcher processes');
  say(`  limit ${limit} calls/s (burst 1), ${jobs} jobs queued up front per run; measured at the emulator`);

  const started = Date.now();
  const redis = await startRedis();
  const aws = await startRequestLog({
    // Answers every call at once and never finishes a model run: only the calls matter.
    endpoints: [
      { name: ENDPOINT, model: { type: 'sleep', ms: 3_600_000 }, maxConcurrentInvocationsPerInstance: 1 },
    ],
  });
  const ctx = { redis, aws, runs: 0 };
  const results = [];
  try {
    // Baseline: the same processes with the endpoint unlimited.
    const unlimited = await run(ctx, {
      label: `unlimited, ${Math.max(...processCounts)} processes`,
      processes: Math.max(...processCounts),
      maxTps: 0,
      jobs,
    });
    for (const processes of processCounts) {
      await sleep(200);
      results.push(
        await run(ctx, {
          label: `limit ${limit}/s, ${processes} process(es)`,
          processes,
          maxTps: limit,
          jobs,
        }),
      );
    }
    say();
    const rows = results.map((r) => [
      `${r.processes} process${r.processes === 1 ? '' : 'es'}`,
      fmt(r.rate, 2),
      fmt(r.rate / limit, 3),
      `${r.worst} / ${limit}`,
      r.worst <= limit ? 'met' : 'NOT met',
      r.processes === 3 ? (r.rate >= 0.97 * limit ? 'met' : 'NOT met') : '-',
    ]);
    say(
      table(
        [
          `limit ${limit}/s`,
          'achieved calls/s',
          'achieved / limit',
          'worst 1 s window',
          'no window above limit',
          '≥ 0.97 × limit (3 processes)',
        ],
        rows,
      ),
    );
    say();
    say(
      `  baseline: the limit, ${limit} calls/s; unlimited (same processes, maxTps 0): ${fmt(unlimited.rate, 0)} calls/s` +
        ` = ${fmt(unlimited.rate / limit, 1)} × the limit (worst 1 s window ${unlimited.worst}): the limiter is the bound`,
    );
    say(`  ${fmt((Date.now() - started) / 1000, 1)} s in all`);
  } finally {
    await aws.stop();
    await redis.stop();
  }
  const failed = results.some((r) => r.worst > limit);
  return failed ? 1 : 0;
}

runMain(import.meta.url, main);
