/**
 * Redis round trips per job through the whole pipeline (issue #8, item 4): dispatch →
 * submitted → notification → resolution → job finish → webhook.
 *
 * One smad process (`smad start --roles dispatcher,completions,webhooks`), the emulator (echo
 * model, notifications through fauxqs SNS → SQS) in a separate process, a webhook receiver
 * here. smad is started idle, then MONITOR is switched on and N jobs are queued; the count
 * stops when every job is completed and every webhook delivered. Every command a smad
 * connection sent is counted (the producer's are not), by command and Lua script, and by
 * connection. MULTI…EXEC counts as one round trip. Commands run inside Lua scripts are
 * shown apart: they are Redis work, not round trips.
 *
 * The figures measured before the hot-path fixes of this change are printed next to the
 * current ones (bench/lib/recorded.js).
 *
 *   node bench/roundtrips.bench.js [--n 500] [--concurrency 16]
 */
import { parseArgs } from 'node:util';
import { Queue } from 'bullmq';
import { startAws } from './lib/aws.js';
import { startMonitor } from './lib/monitor.js';
import { runMain, sleep, waitFor } from './lib/proc.js';
import { newSecret, startReceiver } from './lib/receiver.js';
import { ROUND_TRIPS_BEFORE } from './lib/recorded.js';
import { startRedis } from './lib/redis.js';
import { startSmadProcess } from './lib/smad.js';
import { fmt, machineLine, say, table } from './lib/stats.js';

const PREFIX = 'rt';
const QUEUE = 'inference';

/** Runs the pipeline once under MONITOR; returns the monitor's report and timings. */
export async function measureRoundTrips({ n, concurrency, redis, aws, receiver, secret }) {
  const smad = await startSmadProcess({
    roles: ['dispatcher', 'completions', 'webhooks'],
    env: aws.env,
    settings: {
      'redis.url': redis.url,
      'queue.prefix': PREFIX,
      'queue.name': QUEUE,
      endpoints: { '*': { maxTps: 0, maxInFlight: 0 } },
      'dispatch.concurrency': concurrency,
      'completions.queueUrls': [aws.queueUrls.completions],
      'completions.waitTimeSeconds': 2,
      'webhooks.defaultUrl': receiver.url,
      'webhooks.secret': [secret],
      'webhooks.allowPrivateNetworks': true,
      'log.level': 'info',
    },
  });
  const producerConnection = redis.client({ connectionName: 'bench-producer' });
  const queue = new Queue(QUEUE, { connection: producerConnection, prefix: PREFIX });
  await queue.waitUntilReady();
  await sleep(500);
  const monitor = await startMonitor(redis, { ignoreNames: ['bench-producer', 'bench-monitor'] });
  const t0 = Date.now();
  for (let i = 0; i < n; i += 500) {
    const chunk = [];
    for (let j = i; j < Math.min(n, i + 500); j++)
      chunk.push({
        name: 'inference',
        data: { endpointName: 'echo', contentType: 'application/json', body: `{"input":${j}}` },
      });
    await queue.addBulk(chunk);
  }
  // Deliveries that succeed at once leave no delivery job: the receiver counts them.
  await waitFor(async () => receiver.deliveries >= n && (await queue.getCompletedCount()) >= n, {
    timeoutMs: 120_000,
    intervalMs: 50,
    what: `${n} jobs completed and ${n} webhooks delivered`,
  });
  const seconds = (Date.now() - t0) / 1000;
  const report = await monitor.stop();
  await queue.close();
  producerConnection.disconnect();
  await smad.stop();
  return { report, seconds, problems: smad.problems };
}

export async function main(argv = []) {
  const { values } = parseArgs({
    args: argv,
    options: {
      n: { type: 'string', default: '500' },
      concurrency: { type: 'string', default: '16' },
      verbose: { type: 'boolean', default: false },
    },
  });
  const n = Number(values.n);
  const concurrency = Number(values.concurrency);
  say(
    '# Redis round trips per job, whole pipeline (dispatch → submitted → notification → resolution → job finish → webhook)',
  );
  say(await machineLine());
  const redis = await startRedis();
  const aws = await startAws({
    endpoints: [{ name: 'echo', model: 'echo', instances: 4, maxConcurrentInvocationsPerInstance: 8 }],
  });
  const secret = await newSecret();
  const receiver = await startReceiver({ secret });
  let result;
  try {
    result = await measureRoundTrips({ n, concurrency, redis, aws, receiver, secret });
  } finally {
    await receiver.close();
    await aws.stop();
    await redis.stop();
  }
  const { report, seconds } = result;
  say(
    `  ${n} jobs in ${fmt(seconds, 1)} s (dispatch concurrency ${concurrency}); ${receiver.badSignatures} bad signatures`,
  );
  if (result.problems.length > 0) say(`  smad warnings:\n    ${result.problems.slice(0, 5).join('\n    ')}`);
  say();
  say(
    table(
      ['per job', 'now', 'before fixes', 'change'],
      [
        [
          'round trips',
          fmt(report.roundTrips / n, 1),
          fmt(ROUND_TRIPS_BEFORE.roundTrips, 1),
          `${fmt((100 * (report.roundTrips / n - ROUND_TRIPS_BEFORE.roundTrips)) / ROUND_TRIPS_BEFORE.roundTrips, 0)} %`,
        ],
        [
          'commands (MULTI/EXEC bodies counted)',
          fmt(report.commands / n, 1),
          fmt(ROUND_TRIPS_BEFORE.commands, 1),
          `${fmt((100 * (report.commands / n - ROUND_TRIPS_BEFORE.commands)) / ROUND_TRIPS_BEFORE.commands, 0)} %`,
        ],
      ],
    ),
  );
  say();
  say('by command or script (per job):');
  const before = ROUND_TRIPS_BEFORE.byCommand;
  const names = [...new Set([...report.byCommand.map(([c]) => c), ...Object.keys(before)])];
  const now = new Map(report.byCommand);
  say(
    table(
      ['command', 'per job', 'before fixes'],
      names.map((c) => [c, fmt((now.get(c) ?? 0) / n, 2), before[c] === undefined ? '' : fmt(before[c], 2)]),
    ),
  );
  say();
  say('by connection (per job):');
  say(
    table(
      ['connection', 'per job'],
      report.byConnection.map(([c, k]) => [c, fmt(k / n, 2)]),
    ),
  );
  say();
  say(
    `inside Lua scripts (Redis work, not round trips): ${fmt(report.inLua.reduce((a, [, k]) => a + k, 0) / n, 1)} commands per job`,
  );
  if (values.verbose)
    say(
      table(
        ['command in Lua', 'per job'],
        report.inLua.map(([c, k]) => [c, fmt(k / n, 2)]),
      ),
    );
  return 0;
}

runMain(import.meta.url, main);
