/** What every model runner looks like to the emulator. */

export interface ModelInput {
  body: Buffer;
  /** The request's ContentType, or application/octet-stream. */
  contentType: string;
  accept?: string;
  customAttributes?: string;
}

/** What a `{"emulator": {...}}` directive asked of the notification. */
export interface NotificationDirective {
  drop?: boolean;
  duplicate?: boolean;
}

export type ModelOutcome =
  | { ok: true; body: Buffer; contentType: string; notification?: NotificationDirective }
  | {
      ok: false;
      failureReason: string;
      /** The model's own error response, embedded in error notifications when asked for. */
      body?: Buffer;
      notification?: NotificationDirective;
    };

export interface Model {
  /** Resolves once the model answers its health check (`GET /ping` for containers). */
  ready(signal: AbortSignal): Promise<void>;
  /** Runs one inference; rejects only when `signal` aborts (timeout, shutdown). */
  invoke(input: ModelInput, signal: AbortSignal): Promise<ModelOutcome>;
  close(): void;
}
