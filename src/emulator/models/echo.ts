/**
 * The built-in models: `echo` (returns the input), `fail` (always fails), `sleep` (waits,
 * then echoes). Echo and sleep honour a directive in the input: a JSON object with an
 * `"emulator"` key, `{"emulator": {"sleepMs": 200, "fail": "reason", "dropNotification": true}}`.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { Model, ModelInput, ModelOutcome, NotificationDirective } from './model.js';

export interface Directive {
  sleepMs?: number;
  fail?: string;
  dropNotification?: boolean;
  duplicateNotification?: boolean;
}

const MAX_DIRECTIVE_INPUT = 1_000_000;

/** The directive in an input, if it is a JSON object with an `"emulator"` object. Pure. */
export function parseDirective(body: Buffer): Directive | undefined {
  if (body.length === 0 || body.length > MAX_DIRECTIVE_INPUT) return undefined;
  // Cheap test before parsing: the first non-blank byte must open an object.
  const first = body.toString('latin1', 0, Math.min(body.length, 64)).trimStart()[0];
  if (first !== '{') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  const raw = (parsed as Record<string, unknown>).emulator;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return undefined;
  const { sleepMs, fail, dropNotification, duplicateNotification } = raw as Record<string, unknown>;
  const directive: Directive = {};
  if (typeof sleepMs === 'number' && Number.isFinite(sleepMs) && sleepMs > 0) directive.sleepMs = sleepMs;
  if (typeof fail === 'string' && fail !== '') directive.fail = fail;
  if (dropNotification === true) directive.dropNotification = true;
  if (duplicateNotification === true) directive.duplicateNotification = true;
  return directive;
}

function notificationOf(directive: Directive | undefined): NotificationDirective | undefined {
  if (!directive?.dropNotification && !directive?.duplicateNotification) return undefined;
  const out: NotificationDirective = {};
  if (directive.dropNotification) out.drop = true;
  if (directive.duplicateNotification) out.duplicate = true;
  return out;
}

/** Returns the input, content type = the request's ContentType (or application/octet-stream). */
export class EchoModel implements Model {
  constructor(private readonly baseSleepMs = 0) {}

  async ready(): Promise<void> {}

  async invoke(input: ModelInput, signal: AbortSignal): Promise<ModelOutcome> {
    const directive = parseDirective(input.body);
    const sleepMs = this.baseSleepMs + (directive?.sleepMs ?? 0);
    if (sleepMs > 0) await delay(sleepMs, undefined, { signal });
    signal.throwIfAborted();
    const notification = notificationOf(directive);
    if (directive?.fail !== undefined) {
      const failed: ModelOutcome = {
        ok: false,
        failureReason: directive.fail,
        body: Buffer.from(directive.fail, 'utf8'),
      };
      if (notification) failed.notification = notification;
      return failed;
    }
    const outcome: ModelOutcome = { ok: true, body: input.body, contentType: input.contentType };
    if (notification) outcome.notification = notification;
    return outcome;
  }

  close(): void {}
}

/** Waits a fixed time, then echoes. */
export class SleepModel extends EchoModel {}

/** Always fails with the configured reason. */
export class FailModel implements Model {
  constructor(private readonly reason: string) {}

  async ready(): Promise<void> {}

  async invoke(_input: ModelInput, signal: AbortSignal): Promise<ModelOutcome> {
    signal.throwIfAborted();
    return { ok: false, failureReason: this.reason, body: Buffer.from(this.reason, 'utf8') };
  }

  close(): void {}
}
