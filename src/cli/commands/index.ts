import type { Command } from 'commander';
import { registerConfigCommand } from './config.js';

/** Every `smad` sub-command, one file each. */
export function registerCommands(program: Command): void {
  registerConfigCommand(program);
}
