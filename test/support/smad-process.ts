import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { AwsStack } from './emulator.js';
import { waitFor } from './wait-for.js';

export const CLI = resolve(import.meta.dirname, '..', '..', 'dist', 'cli', 'main.js');

/** Environment that points a smad process at a test stack, as a deployment would (AWS SDK conventions). */
export function stackEnv(stack: AwsStack, redisUrl: string, prefix: string): Record<string, string> {
  return {
    SMAD_REDIS_URL: redisUrl,
    SMAD_QUEUE_PREFIX: prefix,
    SMAD_COMPLETIONS_QUEUE_URL: stack.queues.envelope,
    SMAD_COMPLETIONS_WAIT_TIME_SECONDS: '1',
    SMAD_STAGING_S3_URI: `s3://${stack.bucket}/staging`,
    SMAD_LOG_LEVEL: 'info',
    SMAD_HTTP_PORT: '0',
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_ENDPOINT_URL: stack.aws.address,
    AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME: stack.emulator.address,
  };
}

/** A smad CLI process (built dist) whose JSON log lines are collected. */
export class SmadProcess {
  readonly child: ChildProcess;
  readonly lines: Record<string, unknown>[] = [];
  readonly stderr: string[] = [];
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(args: string[], env: Record<string, string>) {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" first (npm test does)`);
    this.child = spawn(process.execPath, [CLI, ...args], {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let buffer = '';
    this.child.stdout?.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      let newline = buffer.indexOf('\n');
      while (newline >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        try {
          this.lines.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          this.lines.push({ raw: line });
        }
        newline = buffer.indexOf('\n');
      }
    });
    this.child.stderr?.on('data', (chunk: Buffer) => this.stderr.push(chunk.toString('utf8')));
    // 'close', not 'exit': output may still arrive after 'exit'; 'close' follows the end of stdio.
    this.exit = new Promise((r) => this.child.once('close', (code, signal) => r({ code, signal })));
  }

  async waitForLog(match: (line: Record<string, unknown>) => boolean, what: string, timeoutMs = 20_000) {
    return waitFor(() => this.lines.find(match), { timeoutMs, what: `log line: ${what}` });
  }

  async started(): Promise<void> {
    await this.waitForLog((l) => l.msg === 'smad started', 'smad started');
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }

  async stop(): Promise<void> {
    this.kill('SIGKILL');
    await this.exit;
  }
}
