import type { Command } from 'commander';
import { isConfigError } from '../config/config-error.js';
import { loadConfig, type SmadConfig } from '../config/load.js';

/** Adds `--config FILE` (repeatable) to a command. */
export function withConfigOption(command: Command): Command {
  return command.option(
    '-c, --config <file>',
    'configuration file (JSON); repeat for several, later ones win',
    (file: string, previous: string[] = []) => [...previous, file],
  );
}

/**
 * Loads the configuration for a command, or prints every problem and exits 2.
 * `overrides` are flag values by dotted key.
 */
export function loadConfigOrExit(
  files: string[] | undefined,
  overrides: Record<string, unknown> = {},
): SmadConfig {
  try {
    return loadConfig({ files: files ?? [], overrides });
  } catch (err) {
    if (isConfigError(err)) {
      process.stderr.write(`smad: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}
