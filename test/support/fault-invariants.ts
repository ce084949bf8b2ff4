import { Job, Queue } from 'bullmq';
import type { Cluster, Redis } from 'ioredis';
import { Webhook } from 'standardwebhooks';
import { type WebhookEventType, webhookIdFor } from '../../src/contract/webhook-event.js';
import type { InferenceRecord } from '../../src/emulator/records.js';
import { Ledger } from '../../src/ledger/ledger.js';
import type { LedgerPrivateFields, LedgerRecord } from '../../src/ledger/record.js';
import type { PlannedJob } from './fault-load.js';
import type { ReceivedDelivery } from './fault-receiver.js';

type Client = Redis | Cluster;
type FullRecord = LedgerRecord & LedgerPrivateFields;

export interface InvariantInput {
  /** A client on the Redis (or cluster) smad used. */
  redis: Client;
  prefix: string;
  /** The intake queue's name (default "inference"); the delivery queue is `${queueName}-webhooks`. */
  queueName?: string;
  /** Every job added, with its job id. */
  jobs: PlannedJob[];
  /** What the emulator did: every accepted request, per inferenceId (several after a re-sent call). */
  emulatorInferences: readonly InferenceRecord[];
  /** Every request the webhook receiver got. */
  deliveries: readonly ReceivedDelivery[];
  /** The configured signing secret (jobs without their own). */
  defaultSecret: string;
}

/** What the run came to, for the test's log and coverage assertions. */
export interface InvariantSummary {
  jobs: number;
  byStatus: Record<string, number>;
  duplicateIdRejections: number;
  deliveriesReceived: number;
  deliveriesAccepted: number;
  /** Events delivered more than once (allowed under faults). */
  redelivered: number;
  /** inferenceIds the emulator ran more than once (a call re-sent after a crash). */
  invokedTwice: number;
}

export interface InvariantReport {
  violations: string[];
  summary: InvariantSummary;
}

const FINAL = new Set(['completed', 'failed', 'expired', 'rejected', 'dispatch_failed']);

function isClusterClient(redis: Client): redis is Cluster {
  return (redis as Cluster).isCluster === true;
}

/** Keys matching a pattern, on every master of a cluster or on the one server. */
export async function scanKeys(redis: Client, pattern: string): Promise<string[]> {
  const nodes: Redis[] = isClusterClient(redis) ? redis.nodes('master') : [redis];
  const keys: string[] = [];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, batch] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
  }
  return keys;
}

/**
 * Whether the pipeline is at rest: no intake job waiting, active or delayed, no ledger record
 * still submitting or submitted, the outbox drained and no delivery waiting, active or
 * delayed. The test waits for this before checking the invariants.
 */
export async function isQuiescent(redis: Client, prefix: string, queueName = 'inference'): Promise<boolean> {
  return (await restlessness(redis, prefix, queueName)).length === 0;
}

/** What is not at rest (see isQuiescent), one line each. */
export async function restlessness(
  redis: Client,
  prefix: string,
  queueName = 'inference',
): Promise<string[]> {
  const out: string[] = [];
  for (const name of [queueName, `${queueName}-webhooks`]) {
    const queue = new Queue(name, { connection: redis, prefix });
    try {
      const counts = await queue.getJobCounts(
        'waiting',
        'active',
        'delayed',
        'prioritized',
        'waiting-children',
      );
      for (const [state, n] of Object.entries(counts)) if (n > 0) out.push(`${name}: ${n} job(s) ${state}`);
    } finally {
      await queue.close();
    }
  }
  const outbox = `${prefix}:ledger:outbox`;
  const length = await redis.xlen(outbox);
  if (length > 0) {
    // Pending (read, not acknowledged) entries name the relay consumer holding them.
    const pending = (await redis.xpending(outbox, 'webhook-relay').catch(() => [])) as unknown[];
    out.push(`outbox: ${length} entr(y/ies) not relayed (pending: ${JSON.stringify(pending)})`);
  }
  for (const key of await scanKeys(redis, `${prefix}:ledger:inf:*`)) {
    const status = await redis.hget(key, 'status');
    if (status === 'submitting' || status === 'submitted') out.push(`${key}: ${status}`);
  }
  return out;
}

function parse(body: string): { type?: string; data?: Record<string, unknown> } | undefined {
  try {
    return JSON.parse(body) as { type?: string; data?: Record<string, unknown> };
  } catch {
    return undefined;
  }
}

/**
 * The reliability invariants of PRODUCT.md ("Reliability"), checked after a run at rest:
 *
 * 1. Every accepted job has exactly one final status, consistent with what the emulator did
 *    (completed ⇔ it completed that inferenceId, output location equal; failed ⇔ it failed it,
 *    or expired it with an error notification, same reason; expired ⇔ it expired it or wrote
 *    nothing; rejected for invalid jobs, unknown endpoints and re-used inferenceIds, never run;
 *    dispatch_failed ⇔ never accepted), and the BullMQ job agrees (completed with the result,
 *    or failed with "<status>:" leading its reason).
 * 2. Every final status was delivered at least once (receiver side), every delivery of an
 *    event has its one webhook-id, signatures verify with the right secret (standardwebhooks),
 *    and no inferenceId gets two event types.
 * 3. Every in-flight slot came back and nobody still waits for one (or for a rate reservation).
 * 4. Nothing is left in a non-final state: intake and delivery queues idle, ledger records
 *    final, outbox drained, no dead-lettered delivery.
 */
export async function checkInvariants(input: InvariantInput): Promise<InvariantReport> {
  const { redis, prefix, jobs, defaultSecret } = input;
  const queueName = input.queueName ?? 'inference';
  const violations: string[] = [];
  const byStatus: Record<string, number> = {};
  const ledger = new Ledger(redis, prefix, 0);
  const queue = new Queue(queueName, { connection: redis, prefix });
  const emulatorById = new Map<string, InferenceRecord[]>();
  for (const inference of input.emulatorInferences) {
    const list = emulatorById.get(inference.inferenceId) ?? [];
    list.push(inference);
    emulatorById.set(inference.inferenceId, list);
  }
  const deliveriesById = new Map<string, ReceivedDelivery[]>();
  for (const d of input.deliveries) {
    const list = deliveriesById.get(d.webhookId) ?? [];
    list.push(d);
    deliveriesById.set(d.webhookId, list);
  }
  const expectedSecret = new Map<string, string>(); // inferenceId → secret
  const recordsByInference = new Map<string, FullRecord>();
  let duplicateIdRejections = 0;

  try {
    // ---- 1. one final status per job, agreeing with BullMQ and the emulator -------------
    const owners = new Map<string, string>(); // supplied inferenceId → owning job label
    for (const planned of jobs) {
      const where = `job ${planned.label} (${planned.jobId})`;
      if (!planned.jobId) {
        violations.push(`${where}: never added`);
        continue;
      }
      const job = await Job.fromId(queue, planned.jobId);
      if (!job) {
        violations.push(`${where}: the BullMQ job is gone`);
        continue;
      }
      const state = await job.getState();
      if (state !== 'completed' && state !== 'failed') {
        violations.push(`${where}: BullMQ state ${state}, not final`);
        continue;
      }
      const record = await ledger.getByJobId(planned.jobId);
      if (!record) {
        // Only a job re-using another's inferenceId has no record of its own.
        const supplied = planned.data.inferenceId;
        if (
          planned.kind === 'duplicate-id' &&
          state === 'failed' &&
          /^rejected: inferenceId ".*" is already used by another job/.test(job.failedReason ?? '')
        ) {
          duplicateIdRejections += 1;
          const owner = typeof supplied === 'string' ? await ledger.get(supplied) : undefined;
          if (!owner || owner.jobId === planned.jobId)
            violations.push(`${where}: rejected as a duplicate, but nobody else owns ${String(supplied)}`);
          byStatus.rejected = (byStatus.rejected ?? 0) + 1;
          continue;
        }
        violations.push(`${where}: no ledger record (state ${state}, reason ${job.failedReason ?? '-'})`);
        continue;
      }
      if (record.jobId !== planned.jobId) violations.push(`${where}: its record names job ${record.jobId}`);
      if (typeof planned.data.inferenceId === 'string') {
        if (record.inferenceId !== planned.data.inferenceId && planned.kind !== 'invalid')
          violations.push(
            `${where}: inferenceId ${record.inferenceId}, supplied ${planned.data.inferenceId}`,
          );
        if (planned.kind === 'duplicate-id') {
          const other = owners.get(record.inferenceId);
          if (other) violations.push(`${where}: ${record.inferenceId} owned by two jobs (${other} too)`);
          owners.set(record.inferenceId, planned.label);
        }
      }
      const status = record.status;
      byStatus[status] = (byStatus[status] ?? 0) + 1;
      recordsByInference.set(record.inferenceId, record);
      if (record.webhook.url) expectedSecret.set(record.inferenceId, planned.secret ?? defaultSecret);
      if (!FINAL.has(status)) {
        violations.push(`${where}: ledger status ${status}, not final`);
        continue;
      }

      // BullMQ agrees.
      if (status === 'completed') {
        const result = job.returnvalue as { inferenceId?: string; outputLocation?: string | null } | null;
        if (state !== 'completed') violations.push(`${where}: completed in the ledger, ${state} in BullMQ`);
        else if (
          result?.inferenceId !== record.inferenceId ||
          result?.outputLocation !== record.outputLocation
        )
          violations.push(`${where}: BullMQ result ${JSON.stringify(result)} disagrees with the record`);
      } else if (state !== 'failed' || !(job.failedReason ?? '').startsWith(`${status}:`)) {
        violations.push(`${where}: ${status} in the ledger, BullMQ ${state} "${job.failedReason ?? ''}"`);
      }

      // The emulator agrees.
      const ran = emulatorById.get(record.inferenceId) ?? [];
      const wrote = (i: InferenceRecord) => i.objectWrittenAt !== undefined;
      switch (status) {
        case 'completed':
          if (!ran.some((i) => i.status === 'completed' && i.outputLocation === record.outputLocation))
            violations.push(
              `${where}: completed at ${record.outputLocation}, but the emulator completed no such output (it did: ${describe(ran)})`,
            );
          if (planned.kind !== 'model' && planned.kind !== 'duplicate-id')
            violations.push(`${where}: a ${planned.kind} job completed`);
          break;
        case 'failed':
          if (
            !ran.some(
              (i) =>
                (i.status === 'failed' || (i.status === 'expired' && i.failureReason !== undefined)) &&
                i.failureReason === record.failureReason,
            )
          )
            violations.push(
              `${where}: failed with "${record.failureReason}", but the emulator failed no such request (it did: ${describe(ran)})`,
            );
          break;
        case 'expired': {
          // The call the record knows of produced nothing. A call sent before a crash, whose
          // answer the ledger never learned, may have produced something, but only a dropped
          // notification could then have kept it from resolving the record.
          const recorded = ran.filter((i) => i.outputLocation === record.outputLocation);
          const unknown = ran.filter((i) => i.outputLocation !== record.outputLocation);
          if (recorded.length === 0)
            violations.push(`${where}: expired, but the emulator has no call at ${record.outputLocation}`);
          else if (recorded.some(wrote) || unknown.some((i) => wrote(i) && !i.notificationDropped))
            violations.push(`${where}: expired, but the emulator produced an outcome (${describe(ran)})`);
          break;
        }
        case 'rejected':
          if (planned.kind !== 'invalid' && planned.kind !== 'unknown-endpoint')
            violations.push(`${where}: a ${planned.kind} job was rejected: ${record.failureReason}`);
          if (ran.length > 0)
            violations.push(`${where}: rejected, but the emulator ran it (${describe(ran)})`);
          break;
        case 'dispatch_failed':
          if (ran.length > 0)
            violations.push(`${where}: dispatch_failed, but the emulator accepted it (${describe(ran)})`);
          break;
      }
      if (planned.kind === 'invalid' && status !== 'rejected')
        violations.push(`${where}: an invalid job ended ${status}`);
      if (planned.kind === 'unknown-endpoint' && status !== 'rejected' && status !== 'dispatch_failed')
        violations.push(`${where}: a job to an unknown endpoint ended ${status}`);
    }

    // ---- 2. webhooks: delivered, one id per event, signed, never contradictory ----------
    const typesByInference = new Map<string, Set<string>>();
    const idsByEvent = new Map<string, Set<string>>();
    let redelivered = 0;
    for (const [webhookId, list] of deliveriesById) {
      const accepted = list.filter((d) => d.answered >= 200 && d.answered < 300);
      if (accepted.length > 1) redelivered += 1;
      const bodies = new Set(list.map((d) => d.body));
      if (bodies.size > 1)
        violations.push(`webhook ${webhookId}: ${bodies.size} different bodies under one id`);
      for (const d of list) {
        const payload = parse(d.body);
        const inferenceId = payload?.data?.inferenceId;
        if (!payload?.type || typeof inferenceId !== 'string') {
          violations.push(`webhook ${webhookId}: unreadable body ${d.body.slice(0, 200)}`);
          continue;
        }
        const types = typesByInference.get(inferenceId) ?? new Set<string>();
        types.add(payload.type);
        typesByInference.set(inferenceId, types);
        const event = `${inferenceId} ${payload.type}`;
        const ids = idsByEvent.get(event) ?? new Set<string>();
        ids.add(webhookId);
        idsByEvent.set(event, ids);
        if (webhookId !== webhookIdFor(inferenceId, payload.type as WebhookEventType))
          violations.push(`webhook ${webhookId}: not the webhook-id of ${event}`);
        const secret = expectedSecret.get(inferenceId) ?? defaultSecret;
        try {
          new Webhook(secret).verify(d.body, {
            'webhook-id': d.webhookId,
            'webhook-timestamp': d.timestamp,
            'webhook-signature': d.signature,
          });
        } catch (err) {
          violations.push(
            `webhook ${webhookId} (${event}): signature does not verify: ${(err as Error).message}`,
          );
        }
        const record = recordsByInference.get(inferenceId);
        if (record && payload.data?.jobId !== record.jobId)
          violations.push(
            `webhook ${webhookId}: names job ${String(payload.data?.jobId)}, the ledger ${record.jobId}`,
          );
        if (
          record &&
          (payload.data?.status !== record.status || payload.type !== `inference.${record.status}`)
        )
          violations.push(
            `webhook ${webhookId}: says ${payload.type}/${String(payload.data?.status)}, the ledger ${record.status}`,
          );
      }
    }
    for (const [inferenceId, types] of typesByInference)
      if (types.size > 1)
        violations.push(`inference ${inferenceId}: contradicting events ${[...types].join(', ')}`);
    for (const [event, ids] of idsByEvent)
      if (ids.size > 1) violations.push(`event ${event}: several webhook-ids ${[...ids].join(', ')}`);
    for (const [inferenceId, record] of recordsByInference) {
      if (!record.webhook.url) continue;
      const type = `inference.${record.status}` as WebhookEventType;
      const id = webhookIdFor(inferenceId, type);
      const accepted = (deliveriesById.get(id) ?? []).filter((d) => d.answered >= 200 && d.answered < 300);
      if (accepted.length === 0)
        violations.push(
          `inference ${inferenceId} (${record.status}): no delivered webhook (ledger webhook state ${record.webhook.state}, last error ${record.webhook.lastError ?? '-'})`,
        );
      if (record.webhook.state !== 'delivered')
        violations.push(`inference ${inferenceId}: webhook state ${record.webhook.state} in the ledger`);
    }

    // ---- 3. in-flight slots returned, nobody waiting ------------------------------------
    const endpoints = new Set<string>(await redis.smembers(`${prefix}:flow:endpoints`));
    for (const record of recordsByInference.values())
      if (record.endpointName) endpoints.add(record.endpointName);
    for (const endpoint of endpoints) {
      const inFlight = await redis.zcard(`${prefix}:flow:inflight:${endpoint}`);
      if (inFlight > 0) {
        const members = await redis.zrange(`${prefix}:flow:inflight:${endpoint}`, '0', '9');
        violations.push(
          `endpoint ${endpoint}: ${inFlight} in-flight slot(s) never returned (${members.join(', ')})`,
        );
      }
      const waiting = await redis.zcard(`${prefix}:flow:waiting:${endpoint}`);
      if (waiting > 0) violations.push(`endpoint ${endpoint}: ${waiting} job(s) still waiting for a slot`);
      const queued = await redis.zcard(`${prefix}:flow:ratequeue:${endpoint}`);
      if (queued > 0)
        violations.push(`endpoint ${endpoint}: ${queued} job(s) still queued for a rate reservation`);
    }

    // ---- 4. nothing left in a non-final state --------------------------------------------
    violations.push(...(await restlessness(redis, prefix, queueName)));
    const pending = (await redis
      .xpending(`${prefix}:ledger:outbox`, 'webhook-relay')
      .catch(() => ['0'])) as unknown[];
    if (Number(pending[0] ?? 0) > 0) violations.push(`outbox: ${String(pending[0])} entr(y/ies) pending`);
    const deliveryQueue = new Queue(`${queueName}-webhooks`, { connection: redis, prefix });
    try {
      const dead = await deliveryQueue.getFailed(0, 9);
      const deadCount = await deliveryQueue.getFailedCount();
      if (deadCount > 0)
        violations.push(
          `delivery queue: ${deadCount} dead-lettered (${dead.map((j) => `${j.id}: ${j.failedReason}`).join('; ')})`,
        );
    } finally {
      await deliveryQueue.close();
    }

    const accepted = input.deliveries.filter((d) => d.answered >= 200 && d.answered < 300).length;
    return {
      violations,
      summary: {
        jobs: jobs.length,
        byStatus,
        duplicateIdRejections,
        deliveriesReceived: input.deliveries.length,
        deliveriesAccepted: accepted,
        redelivered,
        invokedTwice: [...emulatorById.values()].filter((l) => l.length > 1).length,
      },
    };
  } finally {
    await queue.close();
  }
}

function describe(ran: InferenceRecord[]): string {
  if (ran.length === 0) return 'nothing';
  return ran
    .map((i) =>
      `${i.status}${i.objectWrittenAt !== undefined ? '' : ' (no object)'} ${i.outputLocation} ${i.failureReason ?? ''}`.trim(),
    )
    .join(' | ');
}
