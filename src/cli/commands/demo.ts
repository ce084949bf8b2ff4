import type { Command } from 'commander';
import { runDemo } from '../../demo/run-demo.js';
import { createLogger } from '../../observability/logger.js';

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description(
      'run the whole pipeline on one machine: fauxqs and the emulator in-process, Redis from SMAD_REDIS_URL, 127.0.0.1:6379 or redis-server on PATH, every role, a verifying webhook receiver, and sample jobs; exits 0 only if every outcome is as expected',
    )
    .option('--jobs <n>', 'how many plain successful jobs to send', '12')
    .option('--timeout <seconds>', 'give up after this long', '60')
    .action(async (options: { jobs: string; timeout: string }) => {
      const successes = Number(options.jobs);
      const timeout = Number(options.timeout);
      if (!Number.isInteger(successes) || successes < 0 || successes > 10_000) {
        process.stderr.write('smad: --jobs must be an integer from 0 to 10000\n');
        process.exit(2);
      }
      if (!Number.isFinite(timeout) || timeout <= 0) {
        process.stderr.write('smad: --timeout must be a number of seconds > 0\n');
        process.exit(2);
      }
      const result = await runDemo({
        successes,
        timeoutMs: timeout * 1000,
        out: (line) => process.stdout.write(`${line}\n`),
        logger: createLogger({
          level: process.env.SMAD_LOG_LEVEL ?? 'silent',
          destination: process.stderr as never,
        }),
      });
      process.exit(result.ok ? 0 : 1);
    });
}
