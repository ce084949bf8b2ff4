import type { Command } from 'commander';
import { loadConfig, unknownSmadVariables } from '../../config/load.js';
import type { Role } from '../../config/schema.js';
import { createLogger } from '../../observability/logger.js';
import { flushAndExit, installSignalHandlers } from '../../runtime/signals.js';
import { SmadRuntime } from '../../runtime/smad-runtime.js';
import { loadConfigOrExit, withConfigOption } from '../config-options.js';

export function registerStartCommand(program: Command): void {
  withConfigOption(
    program
      .command('start')
      .description('run smad: the roles given by --roles (or the roles setting), until SIGTERM or SIGINT')
      .option('-r, --roles <roles>', 'comma-separated roles: dispatcher, completions, webhooks, http'),
  ).action(async (options: { config?: string[]; roles?: string }) => {
    const config = loadConfigOrExit(options.config, { roles: options.roles });
    const logger = createLogger({ level: config.log.level });
    for (const name of unknownSmadVariables())
      logger.warn(
        { variable: name },
        'environment variable is not a smad setting (misspelt?); it is ignored',
      );
    process.on('uncaughtException', (err) => {
      logger.fatal({ err }, 'uncaught exception; exiting so the supervisor restarts smad');
      flushAndExit(logger, 1);
    });
    process.on('unhandledRejection', (err) => {
      logger.fatal({ err }, 'unhandled rejection; exiting so the supervisor restarts smad');
      flushAndExit(logger, 1);
    });
    // Test hooks: die the hardest way right after SageMaker accepted the Nth call (before the
    // ledger records it), or right after the Nth notification resolved a record (before its
    // SQS message is deleted: mid-batch). "1" is the first.
    const killAfterInvoke = testCount(process.env.SMAD_TEST_KILL_AFTER_INVOKE);
    const killAfterResolutions = testCount(process.env.SMAD_TEST_KILL_AFTER_RESOLUTIONS);
    let invokes = 0;
    let resolutions = 0;
    const runtime = await SmadRuntime.start({
      config,
      logger,
      roles: config.roles as Role[],
      hooks: killAfterInvoke
        ? {
            afterInvoke: () => {
              if (++invokes >= killAfterInvoke) process.kill(process.pid, 'SIGKILL');
            },
          }
        : undefined,
      onNotification: killAfterResolutions
        ? (outcome) => {
            if (outcome === 'resolved' && ++resolutions >= killAfterResolutions)
              process.kill(process.pid, 'SIGKILL');
          }
        : undefined,
    });
    process.on('SIGHUP', () => {
      try {
        runtime.reload(loadConfig({ files: options.config ?? [] }));
      } catch (err) {
        logger.error(
          { err: (err as Error).message },
          'configuration reload refused; the limits in force stay',
        );
      }
    });
    installSignalHandlers({
      logger,
      timeoutMs: config.shutdown.timeoutSeconds * 1000,
      stop: () => runtime.stop(),
    });
  });
}

/** A positive count from a test variable; 0 (off) when unset or not a positive integer. */
function testCount(value: string | undefined): number {
  const n = Number(value);
  return Number.isInteger(n) && n > 0 ? n : 0;
}
