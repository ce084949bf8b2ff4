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
      .argument('[id]', 'an inferenceId or a jobId')
      .option(
        '--endpoints',
        'print flow-control state per endpoint instead: effective rate, in flight, waiting',
      )
      .description(
        'print the ledger record of an inference (by inferenceId or jobId) as JSON, exiting 1 if none; or, with --endpoints, the flow-control state of every endpoint',
      ),
  ).action(async (id: string | undefined, options: { config?: string[]; endpoints?: boolean }) => {
    const config = loadConfigOrExit(options.config);
    const redis = createRedisConnection(config.redis, 'smad-status');
    try {
      if (options.endpoints) {
        const settings = flowSettingsFrom(config);
        const capacity = new RedisCapacity(redis, config.queue.prefix, () => settings);
        process.stdout.write(`${JSON.stringify(await capacity.inspect(), null, 2)}\n`);
        return;
      }
      if (!id) {
        process.stderr.write('smad: status needs an inferenceId or a jobId, or --endpoints\n');
        process.exitCode = 2;
        return;
      }
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
