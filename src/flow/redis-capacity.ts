import { type EndpointPolicies, policyFor } from '../config/endpoint-policies.js';
import type { RedisClient } from '../runtime/redis-connection.js';
import type { AcceptPlan, AcquirePlan, Capacity, CapacityGrant, CapacityRefusal } from './capacity.js';
import { type FlowKeys, flowKeys } from './keys.js';
import { ACQUIRE, INSPECT, REFUSED, SLOW_DOWN, STILL_WAITING } from './scripts.js';

/** How far ahead an endpoint's reservations reach (at least two slots at very low rates). */
export const RESERVATION_HORIZON_MS = 1000;

/** How long an unanswered call counts in the windows when the request timeout is not known. */
const DEFAULT_CALL_HOLD_MS = 30_000;

/** Reserved slots this close are woken by a local timer (further ones by BullMQ's delay alone). */
const WAKE_TIMER_MAX_MS = 60_000;

/** Calls granted and not yet answered, remembered at most this many (answered() forgets them). */
const MAX_PENDING_CALLS = 10_000;

export interface RedisCapacityOptions {
  /**
   * Wake a job refused for `rate` at its slot with a local timer (default true). BullMQ's
   * delayed jobs wake with the Redis timer's resolution (100 ms at hz 10): too coarse for
   * a pace of one call every few tens of milliseconds.
   */
  wakeTimers?: boolean;
}

type FlowRedis = RedisClient & {
  smadFlowAcquire(...args: (string | number)[]): Promise<string[]>;
  smadFlowStillWaiting(...args: (string | number)[]): Promise<number>;
  smadFlowRefused(...args: (string | number)[]): Promise<string>;
  smadFlowSlowDown(...args: (string | number)[]): Promise<string>;
  smadFlowInspect(...args: (string | number)[]): Promise<[string, number, number, number]>;
};

/** The limits in force; read on every decision so a configuration reload applies at once. */
export interface FlowSettings {
  endpoints: EndpointPolicies;
  accountMaxTps: number;
  decreaseFactor: number;
  recoverySeconds: number;
  slowDownCooldownMs: number;
  windowMarginMs: number;
  waitFallbackSeconds: number;
  /** How far ahead reservations reach (default RESERVATION_HORIZON_MS; not a setting). */
  reservationHorizonMs?: number;
  /**
   * Jobs this process may hold waiting for a near slot (waitLocally) instead of parking them:
   * a quarter of dispatch.concurrency. Default 0.
   */
  localWaitSlots?: number;
  /**
   * How long a granted call counts in the hard windows while unanswered: the longest a call
   * can take (dispatch.requestTimeoutMs). Default 30 s.
   */
  callHoldMs?: number;
  /**
   * Added to an in-flight slot's lease (the inference's deadline). The slot is released by
   * the inference's terminal transition, which for an inference that never comes back is
   * its deadline check, a moment after the deadline (a crashed dispatcher's job is handed
   * over first); the lease only backs up an owner that is gone. Default 0.
   */
  leaseGraceMs?: number;
}

export interface EndpointFlowState {
  endpointName: string;
  maxTps: number;
  maxInFlight: number;
  effectiveRate: number;
  inFlight: number;
  waitingForSlot: number;
  waitingForRate: number;
}

/**
 * Flow control kept in Redis (see scripts.ts): rate limits per endpoint and for the
 * account, in-flight caps, and the adaptive rate, shared by every smad process.
 */
export class RedisCapacity implements Capacity {
  readonly keys: FlowKeys;
  private readonly redis: FlowRedis;
  /** Calls granted by this process and not answered yet: their window entry, and which logs hold it. */
  private readonly pendingCalls = new Map<string, { member: string; endpoint: boolean; account: boolean }>();
  private readonly wakeTimers = new Map<string, NodeJS.Timeout>();
  /** Jobs waiting in this process for a near slot (waitLocally). */
  private localWaits = 0;

  constructor(
    /** A single server, or a cluster when the prefix is hash-tagged (every key in one slot). */
    redis: RedisClient,
    prefix: string,
    private readonly settings: () => FlowSettings,
    /** Wakes a parked job whose turn came (a freed in-flight slot, or a reservation). */
    private readonly onSlotFreed?: (jobId: string) => Promise<unknown>,
    private readonly now: () => number = Date.now,
    private readonly options: RedisCapacityOptions = {},
  ) {
    this.keys = flowKeys(prefix);
    if (!('smadFlowAcquire' in redis)) {
      redis.defineCommand('smadFlowAcquire', { numberOfKeys: 11, lua: ACQUIRE });
      redis.defineCommand('smadFlowStillWaiting', { numberOfKeys: 1, lua: STILL_WAITING });
      redis.defineCommand('smadFlowRefused', { numberOfKeys: 4, lua: REFUSED });
      redis.defineCommand('smadFlowSlowDown', { numberOfKeys: 1, lua: SLOW_DOWN });
      redis.defineCommand('smadFlowInspect', { numberOfKeys: 5, lua: INSPECT });
    }
    this.redis = redis as FlowRedis;
  }

  private recoveryPerSec(maxTps: number): number {
    return maxTps / Math.max(1, this.settings().recoverySeconds);
  }

  async acquire(
    endpointName: string,
    inferenceId: string,
    leaseUntilMs: number,
    jobId = inferenceId,
  ): Promise<CapacityGrant> {
    const plan = this.planAcquire(endpointName, leaseUntilMs, jobId, inferenceId);
    return plan.settle(inferenceId, await this.redis.smadFlowAcquire(...plan.keys, ...plan.args));
  }

  /** `inferenceId`: when known; the ledger's claim fills it in when it decides it. */
  planAcquire(endpointName: string, leaseUntilMs: number, jobId: string, inferenceId = ''): AcquirePlan {
    const s = this.settings();
    const policy = policyFor(s.endpoints, endpointName);
    const k = this.keys;
    const now = this.now();
    return {
      keys: [
        k.inFlight(endpointName),
        k.waiting(endpointName),
        k.adaptive(endpointName),
        k.cursor(endpointName),
        k.calls(endpointName),
        k.reservations(endpointName),
        k.rateQueue(endpointName),
        k.accountCursor,
        k.accountCalls,
        k.accountReservations,
        k.endpoints,
      ],
      args: [
        now,
        inferenceId,
        jobId,
        leaseUntilMs + (s.leaseGraceMs ?? 0),
        policy.maxTps,
        policy.burst,
        policy.maxInFlight,
        s.accountMaxTps,
        this.recoveryPerSec(policy.maxTps),
        s.waitFallbackSeconds * 1000,
        1000 + s.windowMarginMs,
        endpointName,
        s.reservationHorizonMs ?? RESERVATION_HORIZON_MS,
        s.callHoldMs ?? DEFAULT_CALL_HOLD_MS,
      ],
      settle: (inferenceId, reply) =>
        this.settle(reply, inferenceId, jobId, now, policy.maxTps > 0, s.accountMaxTps > 0),
    };
  }

  /** Acts on an acquire decision: wakes the jobs it popped, remembers a granted call. */
  private settle(
    reply: string[],
    inferenceId: string,
    jobId: string,
    now: number,
    onEndpoint: boolean,
    onAccount: boolean,
  ): CapacityGrant {
    // Jobs this decision popped (a freed slot, or their turn for a reservation) are woken,
    // without holding up this call: a job that cannot be woken yet (still being parked)
    // wakes itself (missedWake).
    const wake = this.onSlotFreed;
    if (wake) for (const id of reply.slice(2)) if (id !== '' && id !== jobId) wake(id).catch(() => {});
    // A timer set for an earlier reservation of this job is obsolete now: fired later, it
    // would wake the job from its next park for nothing.
    this.clearWakeTimer(jobId);
    if (reply[0] === 'ok') {
      if (this.pendingCalls.size >= MAX_PENDING_CALLS) {
        const oldest = this.pendingCalls.keys().next().value;
        if (oldest !== undefined) this.pendingCalls.delete(oldest);
      }
      this.pendingCalls.set(inferenceId, {
        member: `${inferenceId}@${now}`,
        endpoint: onEndpoint,
        account: onAccount,
      });
      return { granted: true };
    }
    const refusal: CapacityRefusal = {
      granted: false,
      reason: reply[0] === 'in-flight' || reply[0] === 'rate-queue' ? reply[0] : 'rate',
      retryAtMs: Math.ceil(Number(reply[1])),
    };
    if (refusal.reason === 'rate') this.wakeAt(jobId, refusal.retryAtMs);
    return refusal;
  }

  private clearWakeTimer(jobId: string): void {
    const timer = this.wakeTimers.get(jobId);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.wakeTimers.delete(jobId);
  }

  /** Promotes the parked job at its slot (unless BullMQ's own delay got there first). */
  private wakeAt(jobId: string, atMs: number): void {
    const wake = this.onSlotFreed;
    const delay = atMs - this.now();
    if (!wake || this.options.wakeTimers === false || delay > WAKE_TIMER_MAX_MS) return;
    clearTimeout(this.wakeTimers.get(jobId));
    const timer = setTimeout(
      () => {
        this.wakeTimers.delete(jobId);
        wake(jobId).catch(() => {});
      },
      Math.max(0, delay),
    );
    timer.unref();
    this.wakeTimers.set(jobId, timer);
  }

  async waitLocally(jobId: string, refusal: CapacityRefusal): Promise<boolean> {
    const s = this.settings();
    const delay = refusal.retryAtMs - this.now();
    const horizon = s.reservationHorizonMs ?? RESERVATION_HORIZON_MS;
    if (refusal.reason !== 'rate' || delay > horizon + 100) return false;
    if (this.localWaits >= (s.localWaitSlots ?? 0)) return false;
    // Not parked, so nobody needs to promote it.
    this.clearWakeTimer(jobId);
    this.localWaits++;
    try {
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, delay)));
    } finally {
      this.localWaits--;
    }
    return true;
  }

  async missedWake(endpointName: string, jobId: string, refusal: CapacityRefusal): Promise<boolean> {
    // Its slot passed while it parked: the timer that should have woken it found it active.
    if (refusal.reason === 'rate') return this.now() >= refusal.retryAtMs;
    const set =
      refusal.reason === 'in-flight' ? this.keys.waiting(endpointName) : this.keys.rateQueue(endpointName);
    return (await this.redis.smadFlowStillWaiting(set, jobId)) === 0;
  }

  /**
   * The arguments that stamp a granted call's answer in the hard windows (see the answered
   * script), forgetting the call; flags '0' when this process granted no such call.
   */
  private answerArgs(inferenceId: string): (string | number)[] {
    const call = this.pendingCalls.get(inferenceId);
    this.pendingCalls.delete(inferenceId);
    const margin = this.settings().windowMarginMs;
    return [
      call?.member ?? '',
      this.now() - margin,
      2 * (1000 + margin),
      call?.endpoint ? 1 : 0,
      call?.account ? 1 : 0,
    ];
  }

  planAccepted(endpointName: string, inferenceId: string, leaseUntilMs: number): AcceptPlan {
    const grace = this.settings().leaseGraceMs ?? 0;
    return {
      keys: [this.keys.calls(endpointName), this.keys.accountCalls, this.keys.inFlight(endpointName)],
      args: [...this.answerArgs(inferenceId), inferenceId, leaseUntilMs + grace],
    };
  }

  async refused(endpointName: string, inferenceId: string): Promise<void> {
    const waiter = await this.redis.smadFlowRefused(
      this.keys.calls(endpointName),
      this.keys.accountCalls,
      this.keys.inFlight(endpointName),
      this.keys.waiting(endpointName),
      ...this.answerArgs(inferenceId),
      inferenceId,
    );
    if (waiter && this.onSlotFreed) await this.onSlotFreed(waiter);
  }

  async onSlowDown(endpointName: string): Promise<void> {
    const s = this.settings();
    const policy = policyFor(s.endpoints, endpointName);
    await this.redis.smadFlowSlowDown(
      this.keys.adaptive(endpointName),
      this.now(),
      policy.maxTps,
      s.decreaseFactor,
      Math.max(0.05, policy.maxTps * 0.02),
      this.recoveryPerSec(policy.maxTps),
      s.slowDownCooldownMs,
    );
  }

  /** State of every endpoint seen or configured (for `smad status --endpoints` and metrics). */
  async inspect(): Promise<EndpointFlowState[]> {
    const s = this.settings();
    const seen = await this.redis.smembers(this.keys.endpoints);
    const names = [...new Set([...Object.keys(s.endpoints).filter((n) => n !== '*'), ...seen])].sort();
    const out: EndpointFlowState[] = [];
    for (const endpointName of names) {
      const policy = policyFor(s.endpoints, endpointName);
      const [rate, inFlight, waitingForSlot, waitingForRate] = await this.redis.smadFlowInspect(
        this.keys.inFlight(endpointName),
        this.keys.waiting(endpointName),
        this.keys.adaptive(endpointName),
        this.keys.reservations(endpointName),
        this.keys.rateQueue(endpointName),
        this.now(),
        policy.maxTps,
        this.recoveryPerSec(policy.maxTps),
      );
      out.push({
        endpointName,
        maxTps: policy.maxTps,
        maxInFlight: policy.maxInFlight,
        effectiveRate: Number(rate),
        inFlight,
        waitingForSlot,
        waitingForRate,
      });
    }
    return out;
  }
}

export function flowSettingsFrom(config: {
  endpoints: EndpointPolicies;
  limits: { accountMaxTps: number };
  flow: Omit<
    FlowSettings,
    'endpoints' | 'accountMaxTps' | 'reservationHorizonMs' | 'leaseGraceMs' | 'callHoldMs' | 'localWaitSlots'
  >;
  dispatch?: {
    lockDurationMs: number;
    stalledIntervalMs: number;
    requestTimeoutMs: number;
    concurrency: number;
  };
}): FlowSettings {
  return {
    endpoints: config.endpoints,
    accountMaxTps: config.limits.accountMaxTps,
    ...config.flow,
    // A crashed dispatcher's jobs are handed over within lockDuration + stalledInterval.
    leaseGraceMs: config.dispatch ? config.dispatch.lockDurationMs + config.dispatch.stalledIntervalMs : 0,
    // A call is answered (or given up) within the request timeout.
    ...(config.dispatch
      ? {
          callHoldMs: config.dispatch.requestTimeoutMs,
          localWaitSlots: Math.ceil(config.dispatch.concurrency / 4),
        }
      : {}),
  };
}
