/**
 * Fault knobs: global values, overridable per endpoint, changeable at run time; plus
 * deterministic forcing of the next N answers (`failNext`).
 */

export const EXPIRED_NOTIFICATION_MODES = ['error', 'none'] as const;
export type ExpiredNotificationMode = (typeof EXPIRED_NOTIFICATION_MODES)[number];

export interface Knobs {
  /** Milliseconds added before the model runs (inside the invocation timeout). */
  latencyMs: number;
  /** Share of invocations whose model fails ("Received server error (500) from model"). */
  failureRatio: number;
  /** Share of calls answered 400 ThrottlingException "Rate exceeded". */
  throttleRatio: number;
  /** Share of calls answered 503 ServiceUnavailable. */
  unavailableRatio: number;
  /** Share of calls answered 500 InternalFailure. */
  internalFailureRatio: number;
  /** Share of notifications published twice. */
  duplicateNotificationRatio: number;
  /** Share of inferences whose object is written but whose notification is never published. */
  dropNotificationRatio: number;
  /** Milliseconds between writing the object and publishing the notification. */
  notificationDelayMs: number;
  /** What an expired request (RequestTTLSeconds elapsed in the queue) produces. */
  expiredNotification: ExpiredNotificationMode;
  /**
   * Real milliseconds per emulated millisecond for RequestTTLSeconds and
   * InvocationTimeoutSeconds: 1 is real time, 0.001 makes "60 seconds" last 60 ms.
   */
  timeScale: number;
}

export const DEFAULT_KNOBS: Readonly<Knobs> = Object.freeze({
  latencyMs: 0,
  failureRatio: 0,
  throttleRatio: 0,
  unavailableRatio: 0,
  internalFailureRatio: 0,
  duplicateNotificationRatio: 0,
  dropNotificationRatio: 0,
  notificationDelayMs: 0,
  expiredNotification: 'error',
  timeScale: 1,
});

export const KNOB_NAMES = Object.keys(DEFAULT_KNOBS) as Array<keyof Knobs>;

const RATIOS: ReadonlyArray<keyof Knobs> = [
  'failureRatio',
  'throttleRatio',
  'unavailableRatio',
  'internalFailureRatio',
  'duplicateNotificationRatio',
  'dropNotificationRatio',
];
const DURATIONS: ReadonlyArray<keyof Knobs> = ['latencyMs', 'notificationDelayMs'];

/**
 * Checks a partial knob object (from a config file, a flag, or `PUT /_emulator/knobs`).
 * Returns the knobs it holds and a problem per bad or unknown key, named by `path`.
 */
export function checkKnobs(raw: unknown, path = 'knobs'): { knobs: Partial<Knobs>; problems: string[] } {
  const problems: string[] = [];
  const knobs: Partial<Knobs> = {};
  if (raw === undefined || raw === null) return { knobs, problems };
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    return { knobs, problems: [`${path}: must be an object of knob values`] };
  }
  const record = raw as Record<string, unknown>;
  const out = knobs as Record<string, unknown>;
  for (const [key, value] of Object.entries(record)) {
    const name = `${path}.${key}`;
    if (!(KNOB_NAMES as string[]).includes(key)) {
      problems.push(`${name}: unknown knob (known: ${KNOB_NAMES.join(', ')})`);
    } else if (value === undefined) {
      // absent
    } else if ((RATIOS as string[]).includes(key)) {
      if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 1)
        problems.push(`${name}: must be a number from 0 to 1 (was ${JSON.stringify(value)})`);
      else out[key] = value;
    } else if ((DURATIONS as string[]).includes(key)) {
      if (typeof value !== 'number' || !Number.isFinite(value) || value < 0)
        problems.push(`${name}: must be a number of milliseconds ≥ 0 (was ${JSON.stringify(value)})`);
      else out[key] = value;
    } else if (key === 'expiredNotification') {
      if (!EXPIRED_NOTIFICATION_MODES.includes(value as ExpiredNotificationMode))
        problems.push(`${name}: must be "error" or "none" (was ${JSON.stringify(value)})`);
      else out[key] = value;
    } else if (key === 'timeScale') {
      if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0)
        problems.push(`${name}: must be a number > 0 (was ${JSON.stringify(value)})`);
      else out[key] = value;
    }
  }
  return { knobs, problems };
}

export class KnobError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid knobs: ${problems.join('; ')}`);
    this.name = 'KnobError';
  }
}

/** The knobs in force: global values plus per-endpoint overrides, with their starting values kept for reset. */
export class KnobSet {
  private global: Knobs;
  private readonly perEndpoint = new Map<string, Partial<Knobs>>();

  constructor(
    private readonly initialGlobal: Partial<Knobs> = {},
    private readonly initialPerEndpoint: ReadonlyMap<string, Partial<Knobs>> = new Map(),
  ) {
    this.global = { ...DEFAULT_KNOBS, ...initialGlobal };
    this.reset();
  }

  /** The knobs for one endpoint (global values with its overrides), or the global ones. */
  effective(endpointName?: string): Knobs {
    const override = endpointName === undefined ? undefined : this.perEndpoint.get(endpointName);
    return override ? { ...this.global, ...override } : { ...this.global };
  }

  /** Changes some knobs, globally or for one endpoint; throws KnobError naming bad values. */
  set(partial: unknown, endpointName?: string): void {
    const { knobs, problems } = checkKnobs(partial, endpointName ? `knobs[${endpointName}]` : 'knobs');
    if (problems.length > 0) throw new KnobError(problems);
    if (endpointName === undefined) this.global = { ...this.global, ...knobs };
    else this.perEndpoint.set(endpointName, { ...this.perEndpoint.get(endpointName), ...knobs });
  }

  snapshot(): { global: Knobs; endpoints: Record<string, Partial<Knobs>> } {
    return { global: { ...this.global }, endpoints: Object.fromEntries(this.perEndpoint) };
  }

  /** Back to the values the emulator started with. */
  reset(): void {
    this.global = { ...DEFAULT_KNOBS, ...this.initialGlobal };
    this.perEndpoint.clear();
    for (const [name, knobs] of this.initialPerEndpoint) this.perEndpoint.set(name, { ...knobs });
  }
}

/** A forced answer for the next calls: 503 ServiceUnavailable, 500 InternalFailure, or throttling. */
export type ForcedStatus = 503 | 500 | 'throttle';

export interface FailNextOptions {
  status: ForcedStatus;
  /** How many calls get it (default 1). */
  count?: number;
  /** Only calls to this endpoint (default: any). */
  endpoint?: string;
}

export function checkFailNext(raw: unknown): { value?: FailNextOptions; problems: string[] } {
  if (typeof raw !== 'object' || raw === null)
    return { problems: ['body must be {status, count?, endpoint?}'] };
  const { status, count, endpoint } = raw as Record<string, unknown>;
  const problems: string[] = [];
  if (status !== 503 && status !== 500 && status !== 'throttle')
    problems.push(`status: must be 503, 500 or "throttle" (was ${JSON.stringify(status)})`);
  if (count !== undefined && (typeof count !== 'number' || !Number.isInteger(count) || count < 1))
    problems.push(`count: must be an integer ≥ 1 (was ${JSON.stringify(count)})`);
  if (endpoint !== undefined && typeof endpoint !== 'string') problems.push('endpoint: must be a string');
  if (problems.length > 0) return { problems };
  const value: FailNextOptions = { status: status as ForcedStatus };
  if (count !== undefined) value.count = count as number;
  if (endpoint !== undefined) value.endpoint = endpoint as string;
  return { value, problems };
}

/** Forced answers, consumed in the order they were asked for. */
export class FaultPlan {
  private readonly plans: Array<{ status: ForcedStatus; remaining: number; endpoint?: string }> = [];

  failNext(options: FailNextOptions): void {
    const count = options.count ?? 1;
    if (!Number.isInteger(count) || count < 1) throw new KnobError([`count: must be an integer ≥ 1`]);
    const plan: { status: ForcedStatus; remaining: number; endpoint?: string } = {
      status: options.status,
      remaining: count,
    };
    if (options.endpoint !== undefined) plan.endpoint = options.endpoint;
    this.plans.push(plan);
  }

  /** The forced answer for this call, if one is planned. */
  take(endpointName: string): ForcedStatus | undefined {
    const index = this.plans.findIndex((p) => p.endpoint === undefined || p.endpoint === endpointName);
    const plan = this.plans[index];
    if (!plan) return undefined;
    plan.remaining -= 1;
    if (plan.remaining <= 0) this.plans.splice(index, 1);
    return plan.status;
  }

  get pending(): number {
    return this.plans.reduce((sum, p) => sum + p.remaining, 0);
  }

  clear(): void {
    this.plans.length = 0;
  }
}
