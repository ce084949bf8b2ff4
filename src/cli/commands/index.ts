import type { Command } from 'commander';
import { registerConfigCommand } from './config.js';
import { registerDemoCommand } from './demo.js';
import { registerEmulatorCommand } from './emulator.js';
import { registerEnqueueCommand } from './enqueue.js';
import { registerStartCommand } from './start.js';
import { registerStatusCommand } from './status.js';
import { registerWebhooksCommand } from './webhooks.js';

/** Every `smad` sub-command, one file each. */
export function registerCommands(program: Command): void {
  registerStartCommand(program);
  registerEnqueueCommand(program);
  registerStatusCommand(program);
  registerDemoCommand(program);
  registerConfigCommand(program);
  registerEmulatorCommand(program);
  registerWebhooksCommand(program);
}
