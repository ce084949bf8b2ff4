import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { Queue } from 'bullmq';
import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import type { SmadConfig } from '../../config/load.js';
import { formatProblems } from '../../contract/validate-job.js';
import { checkJob, enqueueJobs } from '../../intake/enqueue.js';
import { createRedisConnection } from '../../runtime/redis-connection.js';
import { loadConfigOrExit, withConfigOption } from '../config-options.js';

interface EnqueueFlags {
  config?: string[];
  file?: string;
  endpoint?: string;
  inputLocation?: string;
  body?: string;
  bodyEncoding?: string;
  contentType?: string;
  accept?: string;
  customAttributes?: string;
  inferenceId?: string;
  ttl?: string;
  invocationTimeout?: string;
  filename?: string;
  s3OutputPathExtension?: string;
  webhookUrl?: string;
  webhookSecret?: string;
  metadata?: string;
  progress?: boolean;
}

/** Builds one job's data from flags; numbers stay numbers so validation sees their type. */
function jobFromFlags(flags: EnqueueFlags): { data?: Record<string, unknown>; problem?: string } {
  const data: Record<string, unknown> = {};
  const set = (field: string, value: unknown) => {
    if (value !== undefined) data[field] = value;
  };
  set('endpointName', flags.endpoint);
  set('inputLocation', flags.inputLocation);
  set('body', flags.body);
  set('bodyEncoding', flags.bodyEncoding);
  set('contentType', flags.contentType);
  set('accept', flags.accept);
  set('customAttributes', flags.customAttributes);
  set('inferenceId', flags.inferenceId);
  set('requestTTLSeconds', flags.ttl === undefined ? undefined : Number(flags.ttl));
  set(
    'invocationTimeoutSeconds',
    flags.invocationTimeout === undefined ? undefined : Number(flags.invocationTimeout),
  );
  set('filename', flags.filename);
  set('s3OutputPathExtension', flags.s3OutputPathExtension);
  if (flags.webhookUrl !== undefined || flags.webhookSecret !== undefined) {
    const webhook: Record<string, unknown> = {};
    if (flags.webhookUrl !== undefined) webhook.url = flags.webhookUrl;
    if (flags.webhookSecret !== undefined) webhook.secret = flags.webhookSecret;
    data.webhook = webhook;
  }
  if (flags.metadata !== undefined) {
    try {
      data.metadata = JSON.parse(flags.metadata);
    } catch (err) {
      return { problem: `--metadata is not JSON: ${(err as Error).message}` };
    }
  }
  return { data };
}

export interface JsonlLine {
  line: number;
  data?: unknown;
  problem?: string;
}

/** Reads a JSON Lines file: one job per non-blank line; each bad line reported with its number. */
export async function* readJobLines(file: string, config: SmadConfig): AsyncGenerator<JsonlLine> {
  const lines = createInterface({
    input: createReadStream(file, 'utf8'),
    crlfDelay: Number.POSITIVE_INFINITY,
  });
  let n = 0;
  for await (const text of lines) {
    n += 1;
    if (text.trim() === '') continue;
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (err) {
      yield { line: n, problem: `not JSON (${(err as Error).message})` };
      continue;
    }
    const check = checkJob(config, data);
    yield check.ok ? { line: n, data } : { line: n, problem: formatProblems(check.problems) };
  }
}

export function registerEnqueueCommand(program: Command): void {
  withConfigOption(
    program
      .command('enqueue')
      .description(
        'add one job from flags, or many from a JSON Lines file (--file); invalid jobs are reported (with line numbers) and not added',
      )
      .option('-f, --file <jobs.jsonl>', 'JSON Lines file, one job (the job contract) per line')
      .option('-e, --endpoint <name>', 'endpointName')
      .option('--input-location <uri>', 'inputLocation (s3:// or https://)')
      .option('--body <text>', 'inline body')
      .option('--body-encoding <utf8|base64>', 'bodyEncoding')
      .option('--content-type <type>', 'contentType')
      .option('--accept <type>', 'accept')
      .option('--custom-attributes <text>', 'customAttributes')
      .option('--inference-id <id>', 'inferenceId (unique)')
      .option('--ttl <seconds>', 'requestTTLSeconds (60-21600)')
      .option('--invocation-timeout <seconds>', 'invocationTimeoutSeconds (1-3600)')
      .option('--filename <name>', 'filename')
      .option('--s3-output-path-extension <path>', 's3OutputPathExtension')
      .option('--webhook-url <url>', 'webhook.url')
      .option('--webhook-secret <whsec_...>', 'webhook.secret')
      .option('--metadata <json>', 'metadata (a JSON object)')
      .option('--no-progress', 'no progress bar'),
  ).action(async (flags: EnqueueFlags) => {
    const config = loadConfigOrExit(flags.config);
    const connection = createRedisConnection(config.redis, 'smad-enqueue');
    const queue = new Queue(config.queue.name, { connection, prefix: config.queue.prefix });
    try {
      if (flags.file) await enqueueFile(flags, config, queue);
      else await enqueueOne(flags, config, queue);
    } finally {
      await queue.close();
      connection.disconnect();
    }
  });
}

async function enqueueOne(flags: EnqueueFlags, config: SmadConfig, queue: Queue): Promise<void> {
  const built = jobFromFlags(flags);
  if (!built.data) {
    process.stderr.write(`smad: ${built.problem}\n`);
    process.exitCode = 2;
    return;
  }
  const check = checkJob(config, built.data);
  if (!check.ok) {
    process.stderr.write(
      `smad: the job is invalid:\n${check.problems.map((p) => `  - ${p.field}: ${p.message}`).join('\n')}\n`,
    );
    process.exitCode = 2;
    return;
  }
  const [added] = await enqueueJobs(queue, [{ data: built.data }]);
  process.stdout.write(`${JSON.stringify({ jobId: added?.jobId })}\n`);
}

async function enqueueFile(flags: EnqueueFlags, config: SmadConfig, queue: Queue): Promise<void> {
  const file = flags.file as string;
  const rejected: { line: number; problem: string }[] = [];
  let accepted = 0;
  let batch: { data: unknown }[] = [];
  const showBar = flags.progress !== false && process.stderr.isTTY;
  const bar = showBar
    ? new SingleBar({
        format: 'enqueue [{bar}] {value} lines | {accepted} accepted | {rejected} rejected',
        stream: process.stderr,
      })
    : undefined;
  bar?.start(0, 0, { accepted: 0, rejected: 0 });
  let lines = 0;
  const flush = async () => {
    if (batch.length === 0) return;
    accepted += (await enqueueJobs(queue, batch)).length;
    batch = [];
  };
  for await (const entry of readJobLines(file, config)) {
    lines = entry.line;
    if (entry.problem !== undefined) rejected.push({ line: entry.line, problem: entry.problem });
    else batch.push({ data: entry.data });
    if (batch.length >= 500) await flush();
    bar?.setTotal(lines);
    bar?.update(lines, { accepted: accepted + batch.length, rejected: rejected.length });
  }
  await flush();
  bar?.update(lines, { accepted, rejected: rejected.length });
  bar?.stop();
  for (const r of rejected) process.stderr.write(`line ${r.line}: ${r.problem}\n`);
  process.stdout.write(
    `${JSON.stringify({ accepted, rejected: rejected.length, rejectedLines: rejected.map((r) => r.line) })}\n`,
  );
  if (rejected.length > 0) process.exitCode = 3;
}
