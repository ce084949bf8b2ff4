#!/usr/bin/env node
import { Command } from 'commander';
import { registerCommands } from './commands/index.js';

const program = new Command('smad')
  .description('smad: the SageMaker asynchronous inference dispatcher')
  .version('0.1.0')
  .showHelpAfterError();

registerCommands(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`smad: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
