/**
 * Dispatch throughput (issue #8, PRODUCT.md "Quality bars": ≥ 0.9 × a bare BullMQ worker).
 *
 * For each concurrency (1, 8, 32): N jobs are queued in a private Redis, then a consumer
 * process is started and the jobs/s it achieves at the emulator is measured from the first
 * to the last 202 the emulator answered (counted in the emulator's own process).
 *   - smad: `smad start --roles dispatcher` (the built CLI), endpoints unlimited
 *     ({"*": {maxTps: 0, maxInFlight: 0}}), dispatch.concurrency = c, log level info (the
 *     default). Each job goes all the way to its parked state (submitted, job delayed until
 *     its notification).
 *   - baseline: a bare BullMQ Worker (lib/baseline-worker.js), same concurrency, same SDK
 *     client settings, that only calls the emulator and completes.
 * Same emulator process (endpoint "bench": the model sleeps, so the emulator only answers
 * 202s), same Redis, same N, same job data. Each pairing is run `--rounds` times, order
 * alternating, and the median of the rounds is reported.
 *
 *   node bench/throughput.bench.js [--n 1500,4000,4000] [--concurrency 1,8,32] [--rounds 2]
 *        [--payload body|location] [--log-level info] [--profile DIR] [--compare DIST]
 * --n gives N per concurrency (the last one for the rest). --profile DIR writes a V8 CPU
 * profile of every smad and baseline process (node --cpu-prof) to DIR. --compare DIST adds a third
 * system, smad run from another build's dist/ (e.g. before a change), in the same rounds.
 */
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Queue } from 'bullmq';
import { startAws } from './lib/aws.js';
import { cpuMs, NODE, runMain, sleep, spawnTracked, stopChild, waitFor } from './lib/proc.js';
import { startRedis } from './lib/redis.js';
import { startSmadProcess } from './lib/smad.js';
import { fmt, machineLine, median, say, table } from './lib/stats.js';

const ENDPOINT = 'bench';
const QUEUE = 'inference';

function jobData(payload, i) {
  return payload === 'location'
    ? {
        endpointName: ENDPOINT,
        contentType: 'application/json',
        inputLocation: `s3://bench/inputs/${i}.json`,
      }
    : { endpointName: ENDPOINT, contentType: 'application/json', body: `{"input":${i}}` };
}

async function enqueue(redis, prefix, n, payload) {
  const connection = redis.client();
  const queue = new Queue(QUEUE, { connection, prefix });
  for (let i = 0; i < n; i += 1000) {
    const chunk = [];
    for (let j = i; j < Math.min(n, i + 1000); j++)
      chunk.push({ name: 'inference', data: jobData(payload, j) });
    await queue.addBulk(chunk);
  }
  await queue.close();
  connection.disconnect();
}

/** Waits until the emulator accepted n calls; returns the 202 counts. */
async function untilAccepted(aws, n, consumer) {
  return waitFor(
    async () => {
      if (consumer.exitCode !== null) throw new Error(`consumer exited early (${consumer.exitCode})`);
      const counts = await aws.counts();
      if (counts.rejected > 0) throw new Error(`the emulator rejected ${counts.rejected} calls`);
      return counts.accepted >= n ? counts : undefined;
    },
    { timeoutMs: Math.max(60_000, n * 20), intervalMs: 25, what: `${n} accepted calls` },
  );
}

function rateOf(counts, n) {
  const seconds = (counts.last - counts.first) / 1000;
  return seconds > 0 ? (n - 1) / seconds : Number.NaN;
}

async function runBaseline(ctx, c, n) {
  const prefix = `base${c}x${ctx.round}`;
  await ctx.redis.admin.flushall();
  await enqueue(ctx.redis, prefix, n, ctx.payload);
  await ctx.aws.resetCounts();
  const awsCpu0 = ctx.aws.cpuMs();
  // Profiled like smad with --profile, so that the two profiles compare.
  const nodeArgs = ctx.profile
    ? ['--cpu-prof', `--cpu-prof-dir=${ctx.profile}`, `--cpu-prof-name=base-c${c}-r${ctx.round}.cpuprofile`]
    : [];
  const child = spawnTracked(
    NODE,
    [
      ...nodeArgs,
      resolve(import.meta.dirname, 'lib', 'baseline-worker.js'),
      JSON.stringify({
        aws: ctx.aws.settings,
        redisPort: ctx.redis.port,
        prefix,
        queueName: QUEUE,
        concurrency: c,
      }),
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const counts = await untilAccepted(ctx.aws, n, child);
  const cpu = cpuMs(child.pid);
  await stopChild(child);
  return { rate: rateOf(counts, n), cpuPerJob: cpu / n, emuCpuPerJob: (ctx.aws.cpuMs() - awsCpu0) / n };
}

async function runSmad(ctx, c, n, cli) {
  const prefix = `smad${c}x${ctx.round}${cli ? 'o' : ''}`;
  await ctx.redis.admin.flushall();
  await enqueue(ctx.redis, prefix, n, ctx.payload);
  await ctx.aws.resetCounts();
  const awsCpu0 = ctx.aws.cpuMs();
  const nodeArgs = ctx.profile
    ? ['--cpu-prof', `--cpu-prof-dir=${ctx.profile}`, `--cpu-prof-name=smad-c${c}-r${ctx.round}.cpuprofile`]
    : [];
  const smad = await startSmadProcess({
    ...(cli ? { cli } : {}),
    roles: ['dispatcher'],
    env: ctx.aws.env,
    nodeArgs,
    settings: {
      'redis.url': ctx.redis.url,
      'queue.prefix': prefix,
      'queue.name': QUEUE,
      endpoints: { '*': { maxTps: 0, maxInFlight: 0 } },
      'dispatch.concurrency': c,
      'log.level': ctx.logLevel,
    },
    // Below level info there is no "smad started" line: the worker's blocking connection tells.
    ready: async () => {
      const clients = await ctx.redis.admin.client('LIST');
      return clients.includes(`name=${prefix}:${Buffer.from(QUEUE).toString('base64')}`);
    },
  });
  const counts = await untilAccepted(ctx.aws, n, smad.child);
  const cpu = smad.cpuMs();
  // Every job reaches its parked state (submitted, delayed until the notification).
  const probe = ctx.redis.client();
  await waitFor(async () => (await probe.zcard(`${prefix}:${QUEUE}:delayed`)) >= n, {
    timeoutMs: 30_000,
    what: 'every job parked',
  });
  probe.disconnect();
  await smad.stop();
  if (smad.problems.length > 0) say(`  smad warnings: ${smad.problems.slice(0, 3).join('\n')}`);
  return { rate: rateOf(counts, n), cpuPerJob: cpu / n, emuCpuPerJob: (ctx.aws.cpuMs() - awsCpu0) / n };
}

export async function main(argv = []) {
  const { values } = parseArgs({
    args: argv,
    options: {
      n: { type: 'string', default: '1500,4000,4000' },
      concurrency: { type: 'string', default: '1,8,32' },
      rounds: { type: 'string', default: '2' },
      payload: { type: 'string', default: 'body' },
      'log-level': { type: 'string', default: 'info' },
      profile: { type: 'string' },
      compare: { type: 'string' },
    },
  });
  const counts = values.n.split(',').map(Number);
  const rounds = Number(values.rounds);
  const concurrencies = values.concurrency.split(',').map(Number);
  if (values.profile) mkdirSync(values.profile, { recursive: true });

  say('# Dispatch throughput: smad dispatcher vs a bare BullMQ worker calling the emulator');
  say(await machineLine());
  say(
    `  N = ${counts.join(', ')} jobs per run (by concurrency), payload ${values.payload}, smad log level ${values['log-level']}, ${rounds} round(s), median reported${values.compare ? `; "other" = smad from ${values.compare}` : ''}`,
  );
  const redis = await startRedis();
  const aws = await startAws({
    endpoints: [
      {
        name: ENDPOINT,
        model: { type: 'sleep', ms: 3_600_000 },
        instances: 1,
        maxConcurrentInvocationsPerInstance: 1,
      },
    ],
  });
  const ctx = {
    redis,
    aws,
    payload: values.payload,
    logLevel: values['log-level'],
    profile: values.profile,
    round: 0,
  };
  const rows = [];
  const compareRows = [];
  const results = [];
  try {
    for (const [ci, c] of concurrencies.entries()) {
      const n = counts[Math.min(ci, counts.length - 1)];
      const rates = { base: [], smad: [], other: [] };
      const cpu = { base: [], smad: [], other: [] };
      const systems = ['base', 'smad', ...(values.compare ? ['other'] : [])];
      for (let r = 0; r < rounds; r++) {
        ctx.round = r;
        // Each round starts with a different system, so that drift in the machine's load
        // does not always favour the same one.
        const order = systems.map((_, k) => systems[(k + r) % systems.length]);
        for (const which of order) {
          const res =
            which === 'base'
              ? await runBaseline(ctx, c, n)
              : await runSmad(
                  ctx,
                  c,
                  n,
                  which === 'other' ? resolve(values.compare, 'cli', 'main.js') : undefined,
                );
          rates[which].push(res.rate);
          cpu[which].push(res.cpuPerJob);
          say(
            `  c=${c} round ${r + 1} ${which.padEnd(5)}: ${fmt(res.rate, 0)} jobs/s  (consumer CPU ${fmt(res.cpuPerJob * 1000, 0)} µs/job, emulator+fauxqs ${fmt(res.emuCpuPerJob * 1000, 0)} µs/job)`,
          );
          await sleep(200);
        }
      }
      const smadRate = median(rates.smad);
      const baseRate = median(rates.base);
      const ratio = smadRate / baseRate;
      results.push({ concurrency: c, smad: smadRate, baseline: baseRate, ratio });
      rows.push([
        `c=${c} (N=${n})`,
        fmt(smadRate, 0),
        fmt(baseRate, 0),
        fmt(ratio, 2),
        ratio >= 0.9 ? 'met' : 'NOT met',
        `${fmt(median(cpu.smad) * 1000, 0)} / ${fmt(median(cpu.base) * 1000, 0)}`,
      ]);
      if (values.compare)
        compareRows.push([
          `c=${c}`,
          fmt(median(rates.other), 0),
          fmt(smadRate, 0),
          `${fmt(median(cpu.other) * 1000, 0)} / ${fmt(median(cpu.smad) * 1000, 0)}`,
        ]);
    }
  } finally {
    await aws.stop();
    await redis.stop();
  }
  say();
  say(
    table(
      ['concurrency', 'smad jobs/s', 'baseline jobs/s', 'ratio', 'target ≥ 0.9', 'CPU µs/job smad / base'],
      rows,
    ),
  );
  if (values.compare) {
    say();
    say(table(['concurrency', 'other jobs/s', 'smad jobs/s', 'CPU µs/job other / smad'], compareRows));
  }
  if (values.profile) say(`CPU profiles of the smad and baseline processes: ${values.profile}`);
  return 0;
}

runMain(import.meta.url, main);
