import type { Cluster, Redis } from 'ioredis';
import { type InferenceStatus, isFinalStatus } from '../contract/status.js';
import type { AcceptPlan, AcquirePlan, CapacityGrant } from '../flow/capacity.js';
import { type LedgerKeys, ledgerKeys } from './keys.js';
import { fromFlat, type LedgerPrivateFields, type LedgerRecord, parseRecord } from './record.js';
import { ADVANCE, ADVANCE_AND_ACCEPT, CLAIM, CLAIM_AND_ACQUIRE, NOTE_RETRY, SET_FIELDS } from './scripts.js';

type LedgerRedis = (Redis | Cluster) & {
  smadLedgerClaim(...args: (string | number)[]): Promise<string[]>;
  smadLedgerClaimAndAcquire(...args: (string | number)[]): Promise<string[]>;
  smadLedgerAdvance(...args: (string | number)[]): Promise<string[]>;
  smadLedgerAdvanceAndAccept(...args: (string | number)[]): Promise<string[]>;
  smadLedgerNoteRetry(...args: (string | number)[]): Promise<number>;
  smadLedgerSetFields(...args: (string | number)[]): Promise<number>;
};

export interface ClaimInput {
  jobId: string;
  /** The BullMQ job's creation timestamp: tells a retry of this job from a new job reusing its id. */
  jobTimestamp: number;
  suppliedInferenceId?: string;
  /** Used when the job supplies none and has not been claimed before. */
  newInferenceId: string;
  endpointName: string;
  initialStatus: 'submitting' | 'rejected';
  failureReason?: string;
  metadata?: Record<string, unknown> | null;
  webhookUrl?: string;
  webhookSecret?: string;
  inputLocation?: string;
}

export type ClaimResult =
  | {
      kind: 'created' | 'existing';
      inferenceId: string;
      status: InferenceStatus;
      /** The whole record, on an 'existing' claim of a record past 'submitting'. */
      record?: LedgerRecord & LedgerPrivateFields;
      /** Flow control's decision, when the claim took one (a record being submitted). */
      grant?: CapacityGrant;
    }
  | { kind: 'duplicate'; inferenceId: string; status: InferenceStatus };

export type AdvanceResult =
  | { kind: 'ok'; previous: InferenceStatus; jobId: string }
  | { kind: 'stale'; current: InferenceStatus; jobId: string }
  | { kind: 'missing' };

export interface LedgerHooks {
  /**
   * Called with the job id of an inference that waited for the in-flight slot a terminal
   * transition freed, so it can be woken (see src/flow/scripts.ts).
   */
  onSlotFreed?: (jobId: string) => Promise<unknown>;
  /** Called when this process moved a record to a final status (metrics). */
  onFinal?: (status: InferenceStatus) => void;
}

/** Ledger field values, written as strings; times as epoch milliseconds. */
export type LedgerFields = Record<string, string | number | null | undefined>;

function encodeFields(fields: LedgerFields | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(fields ?? {})) {
    if (v === undefined || v === null) continue;
    out[k] = String(v);
  }
  return out;
}

/**
 * The inference ledger in Redis: one hash per inferenceId, a jobId index, forward-only
 * transitions, and the outbox of outcome events. See scripts.ts for the atomic steps.
 */
export class Ledger {
  readonly keys: LedgerKeys;
  private readonly redis: LedgerRedis;
  private readonly ledgerBase: string;
  private readonly flowBase: string;

  constructor(
    /** A single server, or a cluster when the prefix is hash-tagged (every key in one slot). */
    redis: Redis | Cluster,
    readonly prefix: string,
    private readonly retentionSeconds: number,
    private readonly hooks: LedgerHooks = {},
  ) {
    this.keys = ledgerKeys(prefix);
    this.ledgerBase = `${prefix}:ledger`;
    this.flowBase = `${prefix}:flow`;
    if (!('smadLedgerClaim' in redis)) {
      redis.defineCommand('smadLedgerClaim', { numberOfKeys: 2, lua: CLAIM });
      redis.defineCommand('smadLedgerClaimAndAcquire', { numberOfKeys: 13, lua: CLAIM_AND_ACQUIRE });
      redis.defineCommand('smadLedgerAdvance', { numberOfKeys: 2, lua: ADVANCE });
      redis.defineCommand('smadLedgerAdvanceAndAccept', { numberOfKeys: 5, lua: ADVANCE_AND_ACCEPT });
      redis.defineCommand('smadLedgerNoteRetry', { numberOfKeys: 1, lua: NOTE_RETRY });
      redis.defineCommand('smadLedgerSetFields', { numberOfKeys: 1, lua: SET_FIELDS });
    }
    this.redis = redis as LedgerRedis;
  }

  /**
   * First step of every pickup: finds this job's record, or writes it (write-ahead). With an
   * acquire plan, a record being submitted also gets flow control's decision for its call in
   * the same round trip (`grant`).
   */
  async claim(input: ClaimInput, now = Date.now(), acquire?: AcquirePlan): Promise<ClaimResult> {
    const claimArgs = [
      this.ledgerBase,
      this.flowBase,
      input.jobId,
      String(input.jobTimestamp),
      input.suppliedInferenceId ?? '',
      input.newInferenceId,
      input.endpointName,
      now,
      input.initialStatus,
      input.failureReason ?? '',
      input.metadata ? JSON.stringify(input.metadata) : '',
      input.webhookUrl ?? '',
      input.webhookSecret ?? '',
      input.inputLocation ?? '',
      this.retentionSeconds,
      input.jobTimestamp,
    ];
    const claimKeys = [this.keys.job(input.jobId), this.keys.outbox];
    const [kind, inferenceId, status, ...rest] = acquire
      ? await this.redis.smadLedgerClaimAndAcquire(
          ...claimKeys,
          ...acquire.keys,
          ...claimArgs,
          ...acquire.args,
        )
      : await this.redis.smadLedgerClaim(...claimKeys, ...claimArgs);
    if (kind === 'created' && input.initialStatus === 'rejected') this.hooks.onFinal?.('rejected');
    const result = { kind, inferenceId, status: status as InferenceStatus } as ClaimResult;
    if (result.kind === 'duplicate') return result;
    if (status === 'submitting') {
      if (acquire) result.grant = acquire.settle(inferenceId as string, rest);
    } else if (kind === 'existing' && rest.length > 0) {
      const record = parseRecord(fromFlat(rest));
      if (record) result.record = record;
    }
    return result;
  }

  /**
   * Moves a record forward to `to`, writing `set` fields if it moves and `fill` fields
   * wherever still empty. A late or duplicate write returns 'stale' and changes nothing else.
   * With an accept plan (to 'submitted'), flow control's bookkeeping of the accepted call runs
   * in the same round trip, whatever the transition found.
   */
  async advance(
    inferenceId: string,
    to: InferenceStatus,
    fields: { set?: LedgerFields; fill?: LedgerFields } = {},
    now = Date.now(),
    accept?: AcceptPlan,
  ): Promise<AdvanceResult> {
    const payload = JSON.stringify({ set: encodeFields(fields.set), fill: encodeFields(fields.fill) });
    const keys = [this.keys.inference(inferenceId), this.keys.outbox];
    // cjson turns {} into an array-less empty table either way; both are handled.
    const args = [this.ledgerBase, this.flowBase, inferenceId, to, now, this.retentionSeconds, payload];
    const reply = accept
      ? await this.redis.smadLedgerAdvanceAndAccept(...keys, ...accept.keys, ...args, ...accept.args)
      : await this.redis.smadLedgerAdvance(...keys, ...args);
    if (reply[0] === 'ok') {
      const waiter = reply[3];
      if (isFinalStatus(to)) this.hooks.onFinal?.(to);
      if (waiter && this.hooks.onSlotFreed) await this.hooks.onSlotFreed(waiter);
      return { kind: 'ok', previous: reply[1] as InferenceStatus, jobId: reply[2] ?? '' };
    }
    if (reply[0] === 'stale')
      return { kind: 'stale', current: reply[1] as InferenceStatus, jobId: reply[2] ?? '' };
    return { kind: 'missing' };
  }

  /** Counts a failed, retryable API attempt; -1 when the record already moved on. */
  async noteRetry(inferenceId: string, error: string): Promise<number> {
    return this.redis.smadLedgerNoteRetry(this.keys.inference(inferenceId), error.slice(0, 2000));
  }

  /** Updates bookkeeping fields (e.g. webhook delivery state); false when the record is gone. */
  async setFields(inferenceId: string, fields: LedgerFields): Promise<boolean> {
    const flat = Object.entries(encodeFields(fields)).flat();
    if (flat.length === 0) return true;
    return (await this.redis.smadLedgerSetFields(this.keys.inference(inferenceId), ...flat)) === 1;
  }

  async get(inferenceId: string): Promise<(LedgerRecord & LedgerPrivateFields) | undefined> {
    return parseRecord(await this.redis.hgetall(this.keys.inference(inferenceId)));
  }

  /** The job's own signing secret, if it named one (one field, not the whole record). */
  async webhookSecret(inferenceId: string): Promise<string | undefined> {
    return (await this.redis.hget(this.keys.inference(inferenceId), 'webhookSecret')) || undefined;
  }

  async getByJobId(jobId: string): Promise<(LedgerRecord & LedgerPrivateFields) | undefined> {
    const inferenceId = await this.redis.get(this.keys.job(jobId));
    return inferenceId ? this.get(inferenceId) : undefined;
  }
}
