/**
 * Notification-to-webhook latency (issue #8, PRODUCT.md "Quality bars": p99 ≤ 25 ms at 500
 * completions/s on loopback).
 *
 * Submitted inferences are prepared directly in Redis (a parked BullMQ job and a ledger
 * record in `submitted`, through smad's own Ledger API), then SageMaker-format success
 * notifications, in the SNS envelope SQS delivers them in, are sent to the completions queue
 * (fauxqs, in its own process) at a fixed rate. Latency = arrival at a local webhook
 * receiver − send time. The SNS hop is AWS's side in production; `--via sns` includes it.
 *   - smad: `smad start --roles completions,webhooks` (the built CLI) with production
 *     defaults for the SQS consumer and the delivery worker, a webhook secret, private
 *     networks allowed. Each notification: SQS → ledger (completed, outbox event) → wake of
 *     the parked job → outbox relay → delivery job → signed POST.
 *   - baseline (the floor): a bare SQS long-poll → HTTP POST relay (lib/relay-baseline.js),
 *     same pollers and long-poll settings, no Redis, no signing.
 * Each rate runs `--seconds` after a one-second warm-up at the same rate (not counted).
 *
 *   node bench/latency.bench.js [--rates 100,500] [--seconds 8] [--pollers 2] [--via sqs|sns]
 *        [--profile DIR] [--compare DIST]
 * --via sqs (default) sends the SNS envelope straight to the queue over plain HTTP, so the load
 * generator stays light; --via sns publishes to the topic with the SDK (fauxqs fans out).
 * --profile DIR writes a V8 CPU profile of the smad process (node --cpu-prof) to DIR.
 * --compare DIST runs the smad phase again with another build's dist/ (e.g. before a change).
 * The smad process is preloaded with lib/loop-delay.js, which reports its event-loop delay.
 */
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { PublishCommand } from '@aws-sdk/client-sns';
import { Queue } from 'bullmq';
import { createSnsClient } from '../dist/aws/clients.js';
import { Ledger } from '../dist/ledger/ledger.js';
import { startAws } from './lib/aws.js';
import { cpuMs, NODE, runMain, sleep, spawnTracked, stopChild, waitFor } from './lib/proc.js';
import { newSecret, now, startReceiver } from './lib/receiver.js';
import { startRedis } from './lib/redis.js';
import { startSmadProcess } from './lib/smad.js';
import { fmt, machineLine, percentile, say, table } from './lib/stats.js';

const PREFIX = 'lat';
const QUEUE = 'inference';
const ENDPOINT = 'bench';
const POLLERS = 2; // completions.pollers default
const WAIT_TIME_SECONDS = 10; // completions.waitTimeSeconds default

function notification(inferenceId) {
  const at = new Date().toISOString();
  return JSON.stringify({
    awsRegion: 'us-east-1',
    eventTime: at,
    receivedTime: at,
    invocationStatus: 'Completed',
    requestParameters: { endpointName: ENDPOINT, inputLocation: `s3://bench/in/${inferenceId}` },
    responseParameters: {
      contentType: 'application/json',
      outputLocation: `s3://bench/output/${inferenceId}.out`,
    },
    inferenceId,
    eventVersion: '1.0',
    eventSource: 'aws:sagemaker',
    eventName: 'InferenceResult',
  });
}

/**
 * Prepares `count` submitted inferences: a delayed BullMQ job each (as the dispatcher parks
 * them) and its ledger record claimed and advanced to submitted. Returns their ids.
 */
async function prepareInferences(redis, count, webhookUrl, tag) {
  const connection = redis.client();
  const queue = new Queue(QUEUE, { connection, prefix: PREFIX });
  const ledger = new Ledger(connection, PREFIX, 7 * 86_400);
  const ids = [];
  for (let i = 0; i < count; i += 500) {
    const n = Math.min(500, count - i);
    const jobs = await queue.addBulk(
      Array.from({ length: n }, (_, j) => ({
        name: 'inference',
        data: { endpointName: ENDPOINT, contentType: 'application/json', body: `{"input":${i + j}}` },
        opts: { delay: 3_600_000 },
      })),
    );
    await Promise.all(
      jobs.map(async (job) => {
        const inferenceId = `${tag}-${job.id}`;
        await ledger.claim({
          jobId: job.id,
          jobTimestamp: job.timestamp,
          newInferenceId: inferenceId,
          endpointName: ENDPOINT,
          initialStatus: 'submitting',
          webhookUrl,
        });
        const submittedAt = Date.now();
        await ledger.advance(inferenceId, 'submitted', {
          set: {
            submittedAt,
            deadlineAt: submittedAt + 3_600_000,
            outputLocation: `s3://bench/output/${inferenceId}.out`,
          },
        });
        ids.push(inferenceId);
      }),
    );
  }
  await queue.close();
  connection.disconnect();
  return ids;
}

/** The SNS envelope SageMaker's notification arrives in, as an SQS message body. */
function envelope(topicArn, inferenceId) {
  return JSON.stringify({
    Type: 'Notification',
    MessageId: randomUUID(),
    TopicArn: topicArn,
    Message: notification(inferenceId),
    Timestamp: new Date().toISOString(),
    SignatureVersion: '1',
    Signature: 'bench',
    SigningCertURL: 'https://sns.us-east-1.amazonaws.com/bench.pem',
    UnsubscribeURL: 'https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe',
  });
}

/**
 * A light publisher, so that the load generator does not take the CPU the systems under
 * test need: `sqs` sends the SNS envelope straight to the queue (SendMessageBatch over
 * keep-alive HTTP, no SDK); `sns` publishes each notification to the topic with the SDK
 * (fauxqs then fans it out to the queue, as SNS does).
 */
function publisher(aws, via, target) {
  if (via === 'sns') {
    const sns = createSnsClient(aws.settings);
    return {
      send: (items) =>
        Promise.all(
          items.map(({ id }) =>
            sns.send(new PublishCommand({ TopicArn: target.topicArn, Message: notification(id) })),
          ),
        ),
      close: () => sns.destroy(),
    };
  }
  return {
    async send(items) {
      for (let i = 0; i < items.length; i += 10) {
        const res = await fetch(`${aws.awsAddress}/`, {
          method: 'POST',
          headers: {
            'content-type': 'application/x-amz-json-1.0',
            'x-amz-target': 'AmazonSQS.SendMessageBatch',
          },
          body: JSON.stringify({
            QueueUrl: target.queueUrl,
            Entries: items
              .slice(i, i + 10)
              .map(({ id }, j) => ({ Id: String(j), MessageBody: envelope(target.topicArn, id) })),
          }),
        });
        if (res.status !== 200) throw new Error(`SendMessageBatch: HTTP ${res.status}`);
        await res.arrayBuffer();
      }
    },
    close() {},
  };
}

/** Publishes one notification per id at `rate`/s; returns {publishedAt: Map}. */
async function publishAtRate(pub, ids, rate) {
  const publishedAt = new Map();
  const inFlight = new Set();
  const start = now();
  let sent = 0;
  let errors = 0;
  while (sent < ids.length) {
    const due = Math.min(ids.length, Math.floor(((now() - start) * rate) / 1000) + 1);
    const items = [];
    while (sent < due) {
      const id = ids[sent++];
      publishedAt.set(id, now());
      items.push({ id });
    }
    if (items.length > 0) {
      const p = pub
        .send(items)
        .catch(() => {
          errors += items.length;
        })
        .finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
    await sleep(1);
  }
  await Promise.all(inFlight);
  return { publishedAt, seconds: (now() - start) / 1000, errors };
}

async function measure({ pub, receiver, ids, rate, warmup, consumerPid, redis, loopDelays }) {
  // Warm-up at the same rate, not counted.
  await publishAtRate(pub, warmup, rate);
  await waitFor(() => warmup.every((id) => receiver.arrivals.has(id)), {
    timeoutMs: 30_000,
    what: 'warm-up deliveries',
  });
  const cpu0 = cpuMs(consumerPid);
  const windowStart = Date.now();
  const { publishedAt, seconds, errors } = await publishAtRate(pub, ids, rate);
  const windowEnd = Date.now();
  try {
    await waitFor(() => ids.every((id) => receiver.arrivals.has(id)), {
      timeoutMs: 30_000,
      what: 'deliveries',
    });
  } catch {
    // reported as missing below
  }
  const cpu = cpuMs(consumerPid) - cpu0;
  // smad's event-loop delay over the publishing window (one report a second).
  const loop = (loopDelays ?? []).filter((d) => d.at > windowStart + 1000 && d.at <= windowEnd + 1000);
  const loopDelay = loop.length
    ? {
        p99: percentile(
          loop.map((d) => d.p99),
          50,
        ),
        max: Math.max(...loop.map((d) => d.max)),
      }
    : undefined;
  // smad only: where the time goes, from the ledger's resolvedAt (same clock, ms).
  const toLedger = [];
  const fromLedger = [];
  if (redis) {
    const resolved = await Promise.all(
      ids.map((id) => redis.admin.hget(`${PREFIX}:ledger:inf:${id}`, 'resolvedAt')),
    );
    ids.forEach((id, i) => {
      const at = Number(resolved[i]);
      const arrival = receiver.arrivals.get(id);
      if (!resolved[i] || arrival === undefined) return;
      toLedger.push(at - publishedAt.get(id));
      fromLedger.push(arrival - at);
    });
  }
  const latencies = [];
  let missing = 0;
  for (const id of ids) {
    const at = receiver.arrivals.get(id);
    if (at === undefined) missing += 1;
    else latencies.push(at - publishedAt.get(id));
  }
  return {
    rate: ids.length / seconds,
    p50: percentile(latencies, 50),
    p90: percentile(latencies, 90),
    p99: percentile(latencies, 99),
    max: percentile(latencies, 100),
    missing,
    errors,
    cpuPerMessage: cpu / ids.length,
    loopDelay,
    toLedger: { p50: percentile(toLedger, 50), p99: percentile(toLedger, 99) },
    fromLedger: { p50: percentile(fromLedger, 50), p99: percentile(fromLedger, 99) },
  };
}

export async function main(argv = []) {
  const { values } = parseArgs({
    args: argv,
    options: {
      rates: { type: 'string', default: '100,500' },
      seconds: { type: 'string', default: '8' },
      pollers: { type: 'string', default: String(POLLERS) },
      profile: { type: 'string' },
      via: { type: 'string', default: 'sqs' },
      compare: { type: 'string' },
    },
  });
  const rates = values.rates.split(',').map(Number);
  const seconds = Number(values.seconds);
  const pollers = Number(values.pollers);
  say('# Notification-to-webhook latency: smad (completions + webhooks) vs a bare SQS → HTTP relay');
  say(await machineLine());
  say(
    `  rates ${rates.join(', ')} completions/s, ${seconds} s each after 1 s warm-up; ${pollers} SQS pollers, long poll ${WAIT_TIME_SECONDS} s`,
  );
  const redis = await startRedis();
  const aws = await startAws({
    queues: { completions: ['bench-success', 'bench-error'], relay: ['bench-relay'] },
  });
  const secret = await newSecret();
  const receiver = await startReceiver({ secret });
  const results = [];
  try {
    const smadPhase = async (label, cli, tag) => {
      const total = rates.reduce((a, r) => a + r * (seconds + 1), 0);
      const ids = await prepareInferences(redis, total, receiver.url, tag);
      const smad = await startSmadProcess({
        ...(cli ? { cli } : {}),
        roles: ['completions', 'webhooks'],
        env: aws.env,
        nodeArgs: [
          '--import',
          resolve(import.meta.dirname, 'lib', 'loop-delay.js'),
          ...(values.profile && !cli
            ? ['--cpu-prof', `--cpu-prof-dir=${values.profile}`, '--cpu-prof-name=smad-latency.cpuprofile']
            : []),
        ],
        settings: {
          'redis.url': redis.url,
          'queue.prefix': PREFIX,
          'queue.name': QUEUE,
          'completions.queueUrls': [aws.queueUrls.completions],
          'completions.pollers': pollers,
          'completions.waitTimeSeconds': WAIT_TIME_SECONDS,
          'webhooks.secret': [secret],
          'webhooks.allowPrivateNetworks': true,
          'log.level': 'info',
        },
      });
      let offset = 0;
      try {
        await sleep(500);
        for (const rate of rates) {
          const warmup = ids.slice(offset, offset + rate);
          const measured = ids.slice(offset + rate, offset + rate * (seconds + 1));
          offset += rate * (seconds + 1);
          const pub = publisher(aws, values.via, {
            topicArn: aws.topicArns['bench-success'],
            queueUrl: aws.queueUrls.completions,
          });
          const r = await measure({
            pub,
            receiver,
            ids: measured,
            rate,
            warmup,
            consumerPid: smad.pid,
            redis,
            loopDelays: smad.loopDelays,
          });
          pub.close();
          results.push({ system: label, target: rate, ...r });
          say(
            `  ${label.padEnd(8)} @ ${rate}/s: p50 ${fmt(r.p50, 1)} ms, p99 ${fmt(r.p99, 1)} ms (achieved ${fmt(r.rate, 0)}/s, ${r.missing} missing, smad CPU ${fmt(r.cpuPerMessage * 1000, 0)} µs/notification)`,
          );
          say(
            `             publish → ledger resolved p50 ${fmt(r.toLedger.p50, 1)} / p99 ${fmt(r.toLedger.p99, 1)} ms; resolved → webhook p50 ${fmt(r.fromLedger.p50, 1)} / p99 ${fmt(r.fromLedger.p99, 1)} ms`,
          );
          if (r.loopDelay)
            say(
              `             smad event-loop delay: p99 ${fmt(r.loopDelay.p99, 1)} ms (median of the per-second p99s), max ${fmt(r.loopDelay.max, 1)} ms`,
            );
        }
      } finally {
        await smad.stop();
      }
      if (smad.problems.length > 0) say(`  smad warnings:\n    ${smad.problems.slice(0, 5).join('\n    ')}`);
    };
    await smadPhase('smad', undefined, 'i');
    if (values.compare) await smadPhase('other', resolve(values.compare, 'cli', 'main.js'), 'o');
    if (receiver.badSignatures > 0)
      say(`  ${receiver.badSignatures} deliveries failed signature verification!`);

    // baseline
    const relay = spawnTracked(
      NODE,
      [
        resolve(import.meta.dirname, 'lib', 'relay-baseline.js'),
        JSON.stringify({
          aws: aws.settings,
          queueUrl: aws.queueUrls.relay,
          url: receiver.url,
          pollers,
          waitTimeSeconds: WAIT_TIME_SECONDS,
        }),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await new Promise((r) => relay.stdout.once('data', r));
    try {
      await sleep(500);
      let n = 0;
      for (const rate of rates) {
        const make = (k) => Array.from({ length: k }, () => `b-${++n}`);
        const pub = publisher(aws, values.via, {
          topicArn: aws.topicArns['bench-relay'],
          queueUrl: aws.queueUrls.relay,
        });
        const r = await measure({
          pub,
          receiver,
          ids: make(rate * seconds),
          rate,
          warmup: make(rate),
          consumerPid: relay.pid,
        });
        pub.close();
        results.push({ system: 'baseline', target: rate, ...r });
        say(
          `  baseline @ ${rate}/s: p50 ${fmt(r.p50, 1)} ms, p99 ${fmt(r.p99, 1)} ms (achieved ${fmt(r.rate, 0)}/s, ${r.missing} missing, relay CPU ${fmt(r.cpuPerMessage * 1000, 0)} µs/notification)`,
        );
      }
    } finally {
      await stopChild(relay);
    }
  } finally {
    await receiver.close();
    await aws.stop();
    await redis.stop();
  }
  say();
  const rows = [];
  for (const rate of rates) {
    const s = results.find((r) => r.system === 'smad' && r.target === rate);
    const b = results.find((r) => r.system === 'baseline' && r.target === rate);
    rows.push([
      `${rate}/s`,
      `${fmt(s.p50, 1)} / ${fmt(s.p99, 1)}`,
      `${fmt(b.p50, 1)} / ${fmt(b.p99, 1)}`,
      fmt(s.p99 / b.p99, 2),
      fmt(s.max, 1),
      s.p99 <= 25 ? 'met' : 'NOT met',
    ]);
  }
  say(
    table(
      ['rate', 'smad p50 / p99 ms', 'baseline p50 / p99 ms', 'p99 ratio', 'smad max ms', 'p99 ≤ 25 ms'],
      rows,
    ),
  );
  if (values.compare) {
    say();
    say(
      table(
        ['rate', 'other p50 / p99 ms', 'smad p50 / p99 ms', 'CPU µs/notification other / smad'],
        rates.map((rate) => {
          const o = results.find((r) => r.system === 'other' && r.target === rate);
          const s = results.find((r) => r.system === 'smad' && r.target === rate);
          return [
            `${rate}/s`,
            `${fmt(o.p50, 1)} / ${fmt(o.p99, 1)}`,
            `${fmt(s.p50, 1)} / ${fmt(s.p99, 1)}`,
            `${fmt(o.cpuPerMessage * 1000, 0)} / ${fmt(s.cpuPerMessage * 1000, 0)}`,
          ];
        }),
      ),
    );
  }
  return 0;
}

runMain(import.meta.url, main);
