import type { Command } from 'commander';
import { redisUrls, type SmadConfig } from '../../config/load.js';
import { Ledger } from '../../ledger/ledger.js';
import { createRedisConnection } from '../../runtime/redis-connection.js';
import {
  type DeadLetter,
  listDeadLetters,
  type ReplayResult,
  replayAllDeadLetters,
  replayDeadLetter,
} from '../../webhooks/dead-letter.js';
import { type DeliveryQueue, openDeliveryQueue } from '../../webhooks/delivery-queue.js';
import { loadConfigOrExit, withConfigOption } from '../config-options.js';

/** Renders dead letters as a fixed-width table (one line each). */
export function deadLetterTable(items: DeadLetter[]): string {
  const header = [
    'WEBHOOK ID',
    'TYPE',
    'INFERENCE ID',
    'REASON',
    'ATTEMPTS',
    'LAST STATUS',
    'FAILED AT',
    'LAST ERROR',
  ];
  const rows = items.map((d) => [
    d.webhookId,
    d.type,
    d.inferenceId,
    d.reason,
    String(d.totalAttempts),
    d.lastStatus === null ? '-' : String(d.lastStatus),
    d.failedAt ?? '-',
    (d.lastError ?? d.message).replace(/\s+/g, ' ').slice(0, 80),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

async function withQueue<T>(
  config: SmadConfig,
  run: (queue: DeliveryQueue, ledger: Ledger) => Promise<T>,
): Promise<T> {
  const redis = createRedisConnection(config.redis, 'smad-webhooks', { lazyConnect: true, giveUpAfter: 3 });
  let lastError: Error | undefined;
  redis.on('error', (err: Error) => {
    lastError = err;
  });
  try {
    await redis.connect();
  } catch (err) {
    const cause = lastError?.message || (err as Error).message;
    const hosts = redisUrls(config.redis.url)
      .map((u) => (URL.canParse(u) ? new URL(u).host : u))
      .join(',');
    throw new Error(`cannot reach Redis at ${hosts}: ${cause}`);
  }
  const queue = openDeliveryQueue(config, redis);
  queue.on('error', () => {});
  try {
    const ledger = new Ledger(redis, config.queue.prefix, config.ledger.retentionDays * 86_400);
    return await run(queue, ledger);
  } finally {
    await queue.close().catch(() => {});
    redis.disconnect();
  }
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`not a non-negative integer: ${value}`);
  return n;
}

/** `smad webhooks failed` and `smad webhooks replay`: the dead letter of webhook deliveries. */
export function registerWebhooksCommand(program: Command): void {
  const webhooks = program.command('webhooks').description('webhook deliveries: the dead letter and replays');

  withConfigOption(
    webhooks
      .command('failed')
      .description(
        'list dead-lettered deliveries (schedule exhausted, 410 Gone, or refused), newest first, with their last status and error',
      )
      .option('--json', 'print JSON ({total, items}) instead of a table')
      .option('--limit <n>', 'how many to list', positiveInt, 100)
      .option('--offset <n>', 'skip this many (newest first)', positiveInt, 0),
  ).action(async (options: { config?: string[]; json?: boolean; limit: number; offset: number }) => {
    const config = loadConfigOrExit(options.config);
    const page = await withQueue(config, (queue) =>
      listDeadLetters(queue, { limit: options.limit, offset: options.offset }),
    );
    if (options.json) {
      process.stdout.write(`${JSON.stringify(page, null, 2)}\n`);
      return;
    }
    if (page.total === 0) {
      process.stdout.write('no dead-lettered webhook deliveries\n');
      return;
    }
    process.stdout.write(`${deadLetterTable(page.items)}\n`);
    const shown = page.items.length;
    if (shown < page.total)
      process.stdout.write(`(${shown} of ${page.total}; use --offset/--limit for more)\n`);
  });

  withConfigOption(
    webhooks
      .command('replay')
      .description(
        'send dead-lettered deliveries again, with the same webhook-id and body and a fresh schedule (first attempt now)',
      )
      .argument('[webhookIds...]', 'webhook-ids (msg_...) to replay')
      .option('--all', 'replay every dead-lettered delivery')
      .option('--json', 'print the results as JSON'),
  ).action(async (ids: string[], options: { config?: string[]; all?: boolean; json?: boolean }) => {
    if (!options.all && ids.length === 0) {
      process.stderr.write('smad: name at least one webhook-id, or use --all\n');
      process.exit(2);
    }
    if (options.all && ids.length > 0) {
      process.stderr.write('smad: give webhook-ids or --all, not both\n');
      process.exit(2);
    }
    const config = loadConfigOrExit(options.config);
    const results = await withQueue(config, async (queue, ledger): Promise<ReplayResult[]> => {
      if (options.all) return replayAllDeadLetters(queue, { ledger });
      const out: ReplayResult[] = [];
      for (const id of ids) out.push(await replayDeadLetter(queue, id, { ledger }));
      return out;
    });
    if (options.json) {
      process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
    } else {
      for (const r of results)
        process.stdout.write(
          r.replayed ? `replayed ${r.webhookId}\n` : `not replayed ${r.webhookId}: ${r.reason}\n`,
        );
      if (results.length === 0) process.stdout.write('no dead-lettered webhook deliveries\n');
    }
    if (results.some((r) => !r.replayed)) process.exitCode = 1;
  });
}
