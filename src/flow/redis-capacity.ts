import type { Redis } from 'ioredis';
import { type EndpointPolicies, policyFor } from '../config/endpoint-policies.js';
import type { Capacity, CapacityGrant } from './capacity.js';
import { type FlowKeys, flowKeys } from './keys.js';
import { ACQUIRE, EXTEND, INSPECT, RELEASE, SLOW_DOWN } from './scripts.js';

type FlowRedis = Redis & {
  smadFlowAcquire(...args: (string | number)[]): Promise<string[]>;
  smadFlowRelease(...args: (string | number)[]): Promise<string>;
  smadFlowExtend(...args: (string | number)[]): Promise<number>;
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

  constructor(
    redis: Redis,
    prefix: string,
    private readonly settings: () => FlowSettings,
    /** Wakes a job that waited for an in-flight slot. */
    private readonly onSlotFreed?: (jobId: string) => Promise<unknown>,
    private readonly now: () => number = Date.now,
  ) {
    this.keys = flowKeys(prefix);
    if (!('smadFlowAcquire' in redis)) {
      redis.defineCommand('smadFlowAcquire', { numberOfKeys: 9, lua: ACQUIRE });
      redis.defineCommand('smadFlowRelease', { numberOfKeys: 2, lua: RELEASE });
      redis.defineCommand('smadFlowExtend', { numberOfKeys: 1, lua: EXTEND });
      redis.defineCommand('smadFlowSlowDown', { numberOfKeys: 1, lua: SLOW_DOWN });
      redis.defineCommand('smadFlowInspect', { numberOfKeys: 4, lua: INSPECT });
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
    const s = this.settings();
    const policy = policyFor(s.endpoints, endpointName);
    const k = this.keys;
    const reply = await this.redis.smadFlowAcquire(
      k.inFlight(endpointName),
      k.waiting(endpointName),
      k.adaptive(endpointName),
      k.cursor(endpointName),
      k.calls(endpointName),
      k.reservations(endpointName),
      k.accountCursor,
      k.accountCalls,
      k.endpoints,
      this.now(),
      inferenceId,
      jobId,
      leaseUntilMs,
      policy.maxTps,
      policy.burst,
      policy.maxInFlight,
      s.accountMaxTps,
      this.recoveryPerSec(policy.maxTps),
      s.waitFallbackSeconds * 1000,
      1000 + s.windowMarginMs,
      endpointName,
    );
    if (reply[0] === 'ok') return { granted: true };
    return {
      granted: false,
      reason: reply[0] === 'in-flight' ? 'in-flight' : 'rate',
      retryAtMs: Math.ceil(Number(reply[1])),
    };
  }

  async release(endpointName: string, inferenceId: string): Promise<void> {
    const waiter = await this.redis.smadFlowRelease(
      this.keys.inFlight(endpointName),
      this.keys.waiting(endpointName),
      inferenceId,
    );
    if (waiter && this.onSlotFreed) await this.onSlotFreed(waiter);
  }

  async extend(endpointName: string, inferenceId: string, leaseUntilMs: number): Promise<void> {
    await this.redis.smadFlowExtend(this.keys.inFlight(endpointName), inferenceId, leaseUntilMs);
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

  async onAccepted(): Promise<void> {
    // Recovery is computed from the time since the last decrease: nothing to write.
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
  flow: Omit<FlowSettings, 'endpoints' | 'accountMaxTps'>;
}): FlowSettings {
  return { endpoints: config.endpoints, accountMaxTps: config.limits.accountMaxTps, ...config.flow };
}
