import type { Command } from 'commander';
import { unknownSmadVariables } from '../../config/load.js';
import { redactConfig } from '../../config/redact.js';
import { loadConfigOrExit, withConfigOption } from '../config-options.js';

export function registerConfigCommand(program: Command): void {
  const config = program.command('config').description('inspect the configuration');
  withConfigOption(
    config
      .command('check')
      .description(
        'validate the configuration (defaults, config/default.json, --config / SMAD_CONFIG files, SMAD_* variables) and print it with secrets redacted; exits 2 naming every bad key',
      ),
  ).action((options: { config?: string[] }) => {
    const effective = loadConfigOrExit(options.config);
    for (const name of unknownSmadVariables())
      process.stderr.write(`smad: warning: ${name} is not a smad setting (misspelt?); it is ignored\n`);
    process.stdout.write(`${JSON.stringify(redactConfig(effective), null, 2)}\n`);
  });
}
