import type { Logger } from '../observability/logger.js';

export interface SignalHandlerOptions {
  logger: Logger;
  /** Graceful stop of everything the process runs. */
  stop(): Promise<void>;
  /** Bound on the graceful stop; past it the process exits non-zero. */
  timeoutMs: number;
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
      options.logger.flush();
      process.exit(130);
    }
    stopping = true;
    options.logger.info({ signal, timeoutMs: options.timeoutMs }, 'stopping gracefully');
    const timer = setTimeout(() => {
      options.logger.error({ timeoutMs: options.timeoutMs }, 'graceful stop took too long: exiting');
      options.logger.flush();
      process.exit(1);
    }, options.timeoutMs);
    timer.unref();
    options
      .stop()
      .then(() => {
        options.logger.flush();
        process.exit(0);
      })
      .catch((err: unknown) => {
        options.logger.error({ err }, 'error while stopping');
        options.logger.flush();
        process.exit(1);
      });
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
