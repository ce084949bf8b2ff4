import type { Logger } from '../observability/logger.js';

export interface SignalHandlerOptions {
  logger: Logger;
  /** Graceful stop of everything the process runs. */
  stop(): Promise<void>;
  /** Bound on the graceful stop; past it the process exits non-zero. */
  timeoutMs: number;
}

/** Exits once the logger's buffered lines are written (bounded, so a stuck stream cannot hold the exit). */
export function flushAndExit(logger: Logger, code: number): void {
  const fallback = setTimeout(() => process.exit(code), 1000);
  fallback.unref();
  logger.flush(() => process.exit(code));
}

/**
 * SIGTERM / SIGINT: stop taking work, finish or hand back what is in hand, exit 0 within
 * the bound. A second signal exits at once. SIGHUP is left to the caller (config reload).
 */
export function installSignalHandlers(options: SignalHandlerOptions): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      options.logger.warn({ signal }, 'second signal: exiting now');
      flushAndExit(options.logger, 130);
      return;
    }
    stopping = true;
    options.logger.info({ signal, timeoutMs: options.timeoutMs }, 'stopping gracefully');
    const timer = setTimeout(() => {
      options.logger.error({ timeoutMs: options.timeoutMs }, 'graceful stop took too long: exiting');
      flushAndExit(options.logger, 1);
    }, options.timeoutMs);
    timer.unref();
    options
      .stop()
      .then(() => flushAndExit(options.logger, 0))
      .catch((err: unknown) => {
        options.logger.error({ err }, 'error while stopping');
        flushAndExit(options.logger, 1);
      });
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
