import type { Command } from 'commander';
import { flowSettingsFrom, RedisCapacity } from '../../flow/redis-capacity.js';
import { Ledger } from '../../ledger/ledger.js';
import { publicRecord } from '../../ledger/record.js';
import { createRedisConnection } from '../../runtime/redis-connection.js';
import { loadConfigOrExit, withConfigOption } from '../config-options.js';

export function registerStatusCommand(program: Command): void {
  withConfigOption(
    program
      .command('status')
      .argument('<id>', 'an inferenceId or a jobId')
      .description(
        'print the ledger record of an inference (by inferenceId or jobId) as JSON; exits 1 if none',
      ),
  ).action(async (id: string, options: { config?: string[] }) => {
    const config = loadConfigOrExit(options.config);
    const redis = createRedisConnection(config.redis.url, 'smad-status');
    try {
      const ledger = new Ledger(redis, config.queue.prefix, config.ledger.retentionDays * 86_400);
      const record = (await ledger.get(id)) ?? (await ledger.getByJobId(id));
      if (!record) {
        process.stderr.write(`smad: no inference with inferenceId or jobId "${id}"\n`);
        process.exitCode = 1;
        return;
      }
      process.stdout.write(`${JSON.stringify(publicRecord(record), null, 2)}\n`);
    } finally {
      redis.disconnect();
    }
  });
}
