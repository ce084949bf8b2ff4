/**
 * The outbox relay: turns the ledger's outcome events into webhook deliveries. Every terminal
 * transition appends `{type, inferenceId, at}` to the outbox stream in the same Lua script;
 * the relay reads the stream through a consumer group (any number of smad processes may run
 * it), builds the payload once from the ledger record, and makes the delivery's first attempt
 * itself (up to webhooks.concurrency at once). Only a delivery that needs more (a retry, a
 * first attempt scheduled later, a dead letter) becomes a job of the delivery queue, whose id
 * is the event's webhook-id. An entry is acknowledged (XACK + XDEL) only after its attempt was
 * recorded in the ledger and its job, if any, added: a crash in between relays the entry again
 * (a delivery already recorded is recognised; at worst one attempt is made twice, with the
 * same webhook-id), and adding a job whose id already exists is a no-op. Entries left pending
 * by a dead consumer are claimed with XAUTOCLAIM; entries Redis handed to a read whose reply a
 * dropped connection lost are read again after the reconnect.
 */

import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { SmadConfig } from '../config/load.js';
import { isFinalStatus } from '../contract/status.js';
import {
  eventTypeForStatus,
  WEBHOOK_EVENT_TYPES,
  type WebhookEventType,
  webhookIdFor,
} from '../contract/webhook-event.js';
import type { Ledger } from '../ledger/ledger.js';
import { fromFlat, type LedgerPrivateFields, type LedgerRecord } from '../ledger/record.js';
import { inferenceLogger, type Logger } from '../observability/logger.js';
import { duplicateConnection, type RedisClient } from '../runtime/redis-connection.js';
import type { DeliveryAttempter } from './delivery-attempt.js';
import type { DeliveryJobData, DeliveryQueue } from './delivery-queue.js';
import { buildPayload } from './payload.js';
import { type RandomSource, scheduledDelayMs } from './schedule.js';

/** One outbox stream entry. */
export interface OutboxEntry {
  /** The stream entry id. */
  id: string;
  type: string;
  inferenceId: string;
  /** When the transition happened (epoch ms). */
  at: number;
}

/** What relaying an entry did. All of them end with the entry acknowledged. */
export type RelayOutcome =
  /** The first attempt delivered the event. */
  | 'delivered'
  /** A delivery job exists for the event (added now, or already there): a retry, or a later first attempt. */
  | 'queued'
  /** The first attempt ended the delivery without success (refused, 410): a failed job keeps it. */
  | 'dead-lettered'
  /** The record has no webhook URL: nothing to deliver, `webhookState` is 'none'. */
  | 'no-url'
  /** The record shows the event was delivered or dead-lettered already (a re-relay). */
  | 'handled-before'
  /** No such record (expired, or never existed). */
  | 'missing'
  /** The entry lacks its fields. */
  | 'malformed';

/** Presigned GET URL of an s3:// location for an inference (see presign.ts). */
export type Presigner = (s3Uri: string, record: LedgerRecord) => Promise<string>;

export interface OutboxRelayHooks {
  /** Test hook: runs after the entry was relayed (attempted, job added), before it is acknowledged. */
  beforeAck?: (entry: OutboxEntry, outcome: RelayOutcome) => void | Promise<void>;
}

export interface OutboxRelayOptions {
  config: SmadConfig;
  /** For commands; the relay makes (and closes) its own duplicate for the blocking read. */
  connection: RedisClient;
  ledger: Ledger;
  queue: DeliveryQueue;
  /** Makes the first attempts; without it every delivery goes through the delivery queue. */
  attempter?: DeliveryAttempter;
  logger: Logger;
  /** Adds data.outputUrl / data.failureUrl when set (webhooks.presignSeconds > 0). */
  presigner?: Presigner;
  random?: RandomSource;
  /** This consumer's name; default host-pid-random (unique per relay). */
  consumer?: string;
  /** XREADGROUP BLOCK time; default 2000 ms. */
  blockMs?: number;
  /**
   * Pending entries idle this long belong to a dead (or stuck) consumer and are claimed;
   * default 60 s, or more with a long webhook timeout: a live relay's entry stays pending for
   * its whole first attempt, which another relay must not repeat.
   */
  claimIdleMs?: number;
  /** How often pending entries are looked at; default 15 s. */
  claimIntervalMs?: number;
  hooks?: OutboxRelayHooks;
}

type StreamEntry = [id: string, fields: string[] | null];

function parseEntry(raw: StreamEntry): OutboxEntry | { id: string; malformed: true } {
  const [id, flat] = raw;
  const fields = fromFlat(flat);
  const at = Number(fields.at);
  if (!fields.type || !fields.inferenceId || !Number.isFinite(at)) return { id, malformed: true };
  return { id, type: fields.type, inferenceId: fields.inferenceId, at };
}

/**
 * The entries of a one-stream XREADGROUP reply: RESP2 gives [[key, entries]], RESP3 (a map,
 * flattened by ioredis) gives [key, entries].
 */
function streamEntries(reply: unknown[] | null): StreamEntry[] {
  if (!reply || reply.length === 0) return [];
  const pair = Array.isArray(reply[0]) ? (reply[0] as unknown[]) : reply;
  return (pair[1] as StreamEntry[] | undefined) ?? [];
}

const HANDLED_STATES = new Set(['delivered', 'failed', 'refused']);

/** The relays' consumer group on the outbox stream. */
const RELAY_GROUP = 'webhook-relay';
/** Entries per read at most (fewer when fewer relay slots are free). */
const BATCH_SIZE = 100;

type AckingRedis = RedisClient & { smadOutboxAck(...args: string[]): Promise<number> };

/** XACK + XDEL of relayed entries. KEYS: stream. ARGV: group, id... */
const ACK_AND_DELETE = `
local ids = {unpack(ARGV, 2)}
redis.call('XACK', KEYS[1], ARGV[1], unpack(ids))
return redis.call('XDEL', KEYS[1], unpack(ids))
`;

/** How long an entry may stay pending before another relay takes it over (see claimIdleMs). */
export function defaultClaimIdleMs(attemptTimeoutMs: number): number {
  return Math.max(60_000, 2 * attemptTimeoutMs + 15_000);
}

export class OutboxRelay {
  readonly group: string;
  readonly consumer: string;
  private readonly stream: string;
  private readonly blockMs: number;
  private readonly batchSize: number;
  private readonly claimIdleMs: number;
  private readonly claimIntervalMs: number;
  private readonly concurrency: number;
  /** Entries being relayed, by stream id (never started twice at once). */
  private readonly inFlight = new Set<string>();
  /** Resolvers of waits for a free relay slot. */
  private slotWaiters: (() => void)[] = [];
  /** Relayed entries to acknowledge, sent together once per turn of the event loop. */
  private acks: string[] = [];
  private ackFlush: Promise<void> | undefined;
  private blocking: RedisClient | undefined;
  private loop: Promise<void> | undefined;
  private stopping = false;
  private wake: (() => void) | undefined;
  /**
   * Where a pass over this consumer's own pending entries goes on from, while one is due:
   * after every (re)connect of the blocking connection, because Redis may have handed entries
   * to a read whose reply a dropped connection lost (they would otherwise wait claimIdleMs
   * for another process to claim them).
   */
  private recoverFrom: string | undefined = '0';

  constructor(private readonly options: OutboxRelayOptions) {
    this.stream = options.ledger.keys.outbox;
    this.group = RELAY_GROUP;
    this.consumer = options.consumer ?? `${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`;
    this.blockMs = options.blockMs ?? 2_000;
    this.batchSize = BATCH_SIZE;
    this.claimIdleMs = options.claimIdleMs ?? defaultClaimIdleMs(options.attempter?.timeoutMs ?? 0);
    this.claimIntervalMs = options.claimIntervalMs ?? 15_000;
    this.concurrency = options.config.webhooks.concurrency;
    if (!('smadOutboxAck' in options.connection))
      options.connection.defineCommand('smadOutboxAck', { numberOfKeys: 1, lua: ACK_AND_DELETE });
  }

  /** Creates the consumer group (from the start of the stream) if needed, and starts reading. */
  async start(): Promise<void> {
    if (this.loop) return;
    await this.ensureGroup();
    this.stopping = false;
    this.blocking = duplicateConnection(this.options.connection);
    this.blocking.on('error', (err) => this.options.logger.debug({ err }, 'outbox relay connection error'));
    this.blocking.on('ready', () => {
      this.recoverFrom = '0';
    });
    this.loop = this.run();
  }

  /**
   * Stops reading. The blocking read is not cut short: entries Redis hands over are already
   * this consumer's, and a reply lost to a disconnect would leave them pending until another
   * process claims them (claimIdleMs). So close waits for the read (at most blockMs) and
   * relays what it returned.
   */
  async close(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    await this.loop;
    // Relays in progress finish (each attempt is bounded by the webhook timeout).
    while (this.inFlight.size > 0) await this.slotFreed();
    await this.flushAcks();
    this.blocking?.disconnect();
    this.loop = undefined;
    this.blocking = undefined;
  }

  async ensureGroup(): Promise<void> {
    try {
      await this.options.connection.call('XGROUP', 'CREATE', this.stream, this.group, '0', 'MKSTREAM');
    } catch (err) {
      if (!String((err as Error).message).includes('BUSYGROUP')) throw err;
    }
  }

  private async run(): Promise<void> {
    const { logger } = this.options;
    let nextClaimAt = 0;
    let failures = 0;
    while (!this.stopping) {
      try {
        if (Date.now() >= nextClaimAt) {
          await this.claimStale();
          nextClaimAt = Date.now() + this.claimIntervalMs;
        }
        // Read only as many entries as can be relayed now: the rest wait in the stream.
        while (this.inFlight.size >= this.concurrency && !this.stopping) await this.slotFreed();
        if (this.stopping) break;
        // Entries already this consumer's (from recoverFrom on; no blocking), else new ones.
        const recovering = this.recoverFrom;
        const reply = (await (this.blocking as RedisClient).call(
          'XREADGROUP',
          'GROUP',
          this.group,
          this.consumer,
          'COUNT',
          Math.min(this.batchSize, this.concurrency - this.inFlight.size),
          ...(recovering === undefined
            ? ['BLOCK', Math.min(this.blockMs, Math.max(1, nextClaimAt - Date.now()))]
            : []),
          'STREAMS',
          this.stream,
          recovering ?? '>',
        )) as unknown[] | null;
        const entries = streamEntries(reply);
        if (recovering !== undefined && this.recoverFrom === recovering)
          this.recoverFrom = entries.length > 0 ? entries[entries.length - 1]?.[0] : undefined;
        if (entries.length > 0) {
          if (recovering !== undefined)
            logger.info({ count: entries.length }, 'relaying outbox entries read before a reconnect');
          await this.relayAll(entries);
        }
        failures = 0;
      } catch (err) {
        if (this.stopping) break;
        if (String((err as Error).message).includes('NOGROUP')) {
          // The stream (and its group) vanished, e.g. a flushed Redis: create them again.
          await this.ensureGroup().catch(() => {});
        }
        failures += 1;
        const waitMs = Math.min(5_000, 100 * 2 ** Math.min(failures, 6));
        logger.error({ err, waitMs }, 'outbox relay failed to read; trying again');
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, waitMs);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wake = undefined;
      }
    }
  }

  /**
   * Claims entries pending longer than claimIdleMs (their consumer died or is stuck) and
   * relays them; forgets idle consumers that hold nothing. Returns how many were claimed.
   */
  async claimStale(): Promise<number> {
    const redis = this.options.connection;
    let cursor = '0-0';
    let claimed = 0;
    for (let round = 0; round < 100; round += 1) {
      const reply = (await redis.call(
        'XAUTOCLAIM',
        this.stream,
        this.group,
        this.consumer,
        this.claimIdleMs,
        cursor,
        'COUNT',
        this.batchSize,
      )) as [string, (StreamEntry | null)[], string[]?];
      cursor = reply[0];
      const entries = reply[1].filter((e): e is StreamEntry => Array.isArray(e));
      claimed += entries.length;
      if (entries.length > 0) {
        this.options.logger.info({ count: entries.length }, 'claimed outbox entries of a stalled relay');
        await this.relayAll(entries);
      }
      if (cursor === '0-0' || this.stopping) break;
    }
    await this.forgetIdleConsumers();
    return claimed;
  }

  private async forgetIdleConsumers(): Promise<void> {
    const redis = this.options.connection;
    const consumers = (await redis.call('XINFO', 'CONSUMERS', this.stream, this.group)) as unknown[][];
    for (const flat of consumers) {
      const info: Record<string, unknown> = {};
      for (let i = 0; i + 1 < flat.length; i += 2) info[String(flat[i])] = flat[i + 1];
      const idle = Number(info.inactive ?? info.idle ?? 0);
      if (info.name !== this.consumer && Number(info.pending) === 0 && idle > 3_600_000) {
        await redis.call('XGROUP', 'DELCONSUMER', this.stream, this.group, String(info.name));
      }
    }
  }

  /** Resolves when a relay slot frees (an entry's relay ended). */
  private slotFreed(): Promise<void> {
    return new Promise((resolve) => this.slotWaiters.push(resolve));
  }

  /**
   * Starts relaying entries, each as soon as a slot is free; returns once all are started.
   * An entry already being relayed here (read again after a reconnect) is not started twice.
   */
  private async relayAll(raw: StreamEntry[]): Promise<void> {
    for (const item of raw) {
      if (this.inFlight.has(item[0])) continue;
      while (this.inFlight.size >= this.concurrency) await this.slotFreed();
      this.inFlight.add(item[0]);
      void this.relayEntry(item).finally(() => {
        this.inFlight.delete(item[0]);
        const waiters = this.slotWaiters;
        this.slotWaiters = [];
        for (const resolve of waiters) resolve();
      });
    }
  }

  /** Relays one entry and queues its acknowledgement; a failure leaves it pending. */
  private async relayEntry(item: StreamEntry): Promise<void> {
    const { logger, hooks } = this.options;
    const parsed = parseEntry(item);
    try {
      if ('malformed' in parsed) {
        logger.warn({ entryId: parsed.id }, 'outbox entry without type, inferenceId or at; dropped');
        await hooks?.beforeAck?.({ id: parsed.id, type: '', inferenceId: '', at: 0 }, 'malformed');
      } else {
        const outcome = await this.relay(parsed);
        await hooks?.beforeAck?.(parsed, outcome);
      }
      this.acks.push(parsed.id);
      this.ackFlush ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.flushAcks());
      await this.ackFlush;
    } catch (err) {
      logger.error({ err, entryId: parsed.id }, 'could not relay outbox entry; it stays pending');
    }
  }

  /**
   * Acknowledges the relayed entries (XACK + XDEL, together). If that fails they stay pending,
   * are relayed again after claimIdleMs, and found handled.
   */
  private async flushAcks(): Promise<void> {
    this.ackFlush = undefined;
    const ids = this.acks;
    this.acks = [];
    if (ids.length === 0) return;
    try {
      // One script rather than MULTI/XACK/XDEL/EXEC: one command, same atomicity.
      await (this.options.connection as AckingRedis).smadOutboxAck(this.stream, this.group, ...ids);
    } catch (err) {
      this.options.logger.warn(
        { err, count: ids.length },
        'could not acknowledge outbox entries; they stay pending',
      );
    }
  }

  /**
   * Relays one event: reads the record, and either makes the delivery's first attempt (adding
   * a delivery job when more is needed), adds the delivery job (a first attempt scheduled
   * later; idempotent: its id is the webhook-id), or records that there is nothing to
   * deliver. Does not acknowledge.
   */
  async relay(entry: OutboxEntry): Promise<RelayOutcome> {
    const { ledger, config, queue } = this.options;
    const record = await ledger.get(entry.inferenceId);
    const log = inferenceLogger(this.options.logger, {
      inferenceId: entry.inferenceId,
      jobId: record?.jobId,
    });
    if (!record) {
      log.warn(
        { type: entry.type },
        'outcome event for an inference the ledger no longer holds; not delivered',
      );
      return 'missing';
    }
    if (!isFinalStatus(record.status)) {
      log.warn(
        { type: entry.type, status: record.status },
        'outcome event for an unresolved record; dropped',
      );
      return 'malformed';
    }
    if (!record.webhook.url) {
      await ledger.setFields(entry.inferenceId, { webhookState: 'none' });
      return 'no-url';
    }
    if (HANDLED_STATES.has(record.webhook.state)) return 'handled-before';
    const type = this.eventType(entry, record);
    const webhookId = webhookIdFor(record.inferenceId, type);
    // Attempts recorded already: this entry was relayed before (its acknowledgement was lost)
    // and the delivery went on as a job; make sure that job exists, and attempt nothing here.
    const earlier = record.webhook.attempts;
    const data: DeliveryJobData = {
      webhookId,
      type,
      inferenceId: record.inferenceId,
      jobId: record.jobId,
      url: record.webhook.url,
      body: await this.body(record, type, entry.at, log),
      ownSecret: record.webhookSecret !== null,
      eventAt: entry.at,
      attempts: earlier,
      totalAttempts: earlier,
      replays: 0,
      lastStatus: record.webhook.lastStatus,
      lastError: record.webhook.lastError,
      lastAttemptAt: null,
      deadLetter: null,
    };
    const delay = scheduledDelayMs(config.webhooks.scheduleSeconds, earlier + 1, this.options.random);
    if (delay === undefined) {
      await queue.add(type, { ...data, deadLetter: 'exhausted' }, { jobId: webhookId });
      return 'dead-lettered';
    }
    const { attempter } = this.options;
    if (attempter && earlier === 0 && delay === 0) {
      const attempted = await attempter.attempt(data, record.webhookSecret);
      if (attempted.kind === 'delivered') return 'delivered';
      if (attempted.kind === 'dead') {
        // A failed job is the dead letter: the worker fails it at its pickup.
        await queue.add(type, attempted.data, { jobId: webhookId });
        return 'dead-lettered';
      }
      await queue.add(type, attempted.data, { jobId: webhookId, delay: Math.max(1, attempted.delayMs) });
      log.debug({ webhookId, type, delay: attempted.delayMs }, 'webhook retry queued');
      return 'queued';
    }
    await queue.add(type, data, { jobId: webhookId, ...(delay > 0 ? { delay } : {}) });
    log.debug({ webhookId, type, delay }, 'webhook delivery queued');
    return 'queued';
  }

  private eventType(entry: OutboxEntry, record: LedgerRecord): WebhookEventType {
    const fromRecord = eventTypeForStatus(record.status as Parameters<typeof eventTypeForStatus>[0]);
    if ((WEBHOOK_EVENT_TYPES as readonly string[]).includes(entry.type) && entry.type === fromRecord)
      return fromRecord;
    this.options.logger.warn(
      { inferenceId: entry.inferenceId, entryType: entry.type, status: record.status },
      'outbox event type disagrees with the record; using the record status',
    );
    return fromRecord;
  }

  private async body(
    record: LedgerRecord & LedgerPrivateFields,
    type: WebhookEventType,
    at: number,
    log: Logger,
  ): Promise<string> {
    const { presigner, config } = this.options;
    let outputUrl: string | undefined;
    let failureUrl: string | undefined;
    if (presigner) {
      try {
        if (record.outputLocation) outputUrl = await presigner(record.outputLocation, record);
        if (record.failureLocation) failureUrl = await presigner(record.failureLocation, record);
      } catch (err) {
        log.warn({ err }, 'could not presign the output/failure location; sending the payload without URLs');
      }
    }
    const built = buildPayload(record, type, at, {
      inlineResponseMaxBytes: config.webhooks.inlineResponseMaxBytes,
      outputUrl,
      failureUrl,
    });
    if (built.trimmed.length > 0)
      log.warn({ trimmed: built.trimmed }, 'webhook payload trimmed to its size bound');
    return built.body;
  }
}
