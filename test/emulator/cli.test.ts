import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvokeEndpointAsyncCommand } from '@aws-sdk/client-sagemaker-runtime';
import { DeleteMessageCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { Command } from 'commander';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awsSettingsFromEnv, createSageMakerRuntimeClient, createSqsClient } from '../../src/aws/clients.js';
import {
  type EmulatorCliOptions,
  emulatorCommand,
  planEmulator,
  registerEmulatorCommand,
  startEmulatorFromPlan,
} from '../../src/cli/commands/emulator.js';
import { EmulatorConfigError } from '../../src/emulator/index.js';
import { waitFor } from '../support/wait-for.js';

const EVERY_OPTION = [
  '--port',
  '--host',
  '--config',
  '--endpoint',
  '--with-local-aws',
  '--aws-port',
  '--s3-output-path',
  '--s3-failure-path',
  '--success-topic-arn',
  '--error-topic-arn',
  '--region',
  '--account-id',
  '--log-level',
  '--latency-ms',
  '--failure-ratio',
  '--throttle-ratio',
  '--unavailable-ratio',
  '--internal-failure-ratio',
  '--duplicate-notification-ratio',
  '--drop-notification-ratio',
  '--notification-delay-ms',
  '--expired-notification',
  '--time-scale',
  '--seed',
];

/** The options commander hands the action for these arguments (defaults included). */
function options(...args: string[]): EmulatorCliOptions {
  return emulatorCommand().exitOverride().parse(args, { from: 'user' }).opts<EmulatorCliOptions>();
}

function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(EmulatorConfigError);
    return (err as EmulatorConfigError).problems;
  }
  throw new Error('expected an EmulatorConfigError');
}

describe('smad emulator (command line)', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'smad-emulator-cli-'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('--help documents every option', () => {
    const program = new Command('smad');
    registerEmulatorCommand(program);
    const help = program.commands.find((c) => c.name() === 'emulator')?.helpInformation() ?? '';
    for (const flag of EVERY_OPTION) expect(help, `help lists ${flag}`).toContain(flag);
    expect(help).toContain('"error" or "none"');
  });

  it('plans quick echo endpoints with the default paths; one "echo" endpoint when none is declared', () => {
    const plan = planEmulator(
      options('--endpoint', 'a', '--endpoint', 'b', '--failure-ratio', '0.5', '--seed', '3'),
      {},
    );
    expect(plan.config.endpoints).toEqual([
      {
        name: 'a',
        model: 'echo',
        s3OutputPath: 's3://smad-emulator/output/a',
        s3FailurePath: 's3://smad-emulator/failure/a',
      },
      {
        name: 'b',
        model: 'echo',
        s3OutputPath: 's3://smad-emulator/output/b',
        s3FailurePath: 's3://smad-emulator/failure/b',
      },
    ]);
    expect(plan.config.knobs).toEqual({ failureRatio: 0.5 });
    expect(plan.config.seed).toBe(3);
    expect(plan).toMatchObject({
      host: '127.0.0.1',
      port: 8085,
      awsPort: 4566,
      withLocalAws: false,
      region: 'us-east-1',
    });
    expect(planEmulator(options(), {}).config.endpoints.map((e) => e.name)).toEqual(['echo']);
  });

  it('reads --config (endpoints and knobs); flags win over file knobs; null means "none"', () => {
    const file = join(dir, 'good.json');
    writeFileSync(
      file,
      JSON.stringify({
        endpoints: [
          { name: 'whisper', model: { type: 'sleep', ms: 5 }, instances: 2, s3FailurePath: null },
          { name: 'custom', s3OutputPath: 's3://other/out', successTopicArn: null },
        ],
        knobs: { latencyMs: 10, throttleRatio: 0.1 },
      }),
    );
    const plan = planEmulator(options('--config', file, '--latency-ms', '20', '--with-local-aws'), {});
    expect(plan.config.knobs).toEqual({ latencyMs: 20, throttleRatio: 0.1 });
    expect(plan.config.endpoints[0]).toMatchObject({
      name: 'whisper',
      s3OutputPath: 's3://smad-emulator/output/whisper',
      s3FailurePath: null,
      successTopicArn: 'arn:aws:sns:us-east-1:000000000000:smad-success',
      errorTopicArn: 'arn:aws:sns:us-east-1:000000000000:smad-error',
    });
    expect(plan.config.endpoints[1]).toMatchObject({ s3OutputPath: 's3://other/out', successTopicArn: null });
  });

  it("the README's example configuration file is valid", () => {
    const readme = readFileSync(join(process.cwd(), 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('### Configuration file'));
    const json = /```json\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
    const file = join(dir, 'readme.json');
    writeFileSync(file, json);
    const plan = planEmulator(options('--config', file), {});
    expect(plan.config.endpoints.map((e) => e.name)).toEqual(['whisper', 'ocr']);
  });

  it('names every problem of a bad configuration', () => {
    const file = join(dir, 'bad.json');
    writeFileSync(
      file,
      JSON.stringify({
        endpoints: [{ name: 'bad_name', model: { type: 'gpu' }, instances: 0 }],
        knobs: { dropNotificationRatio: 3, mystery: 1 },
      }),
    );
    const found = problems(() =>
      planEmulator(
        options(
          '--config',
          file,
          '--failure-ratio',
          '2',
          '--latency-ms',
          'soon',
          '--expired-notification',
          'maybe',
          '--port',
          'http',
        ),
        {},
      ),
    );
    const text = found.join('\n');
    expect(text).toContain('--port: must be a TCP port');
    expect(text).toContain('--failure-ratio: must be a number from 0 to 1 (was 2)');
    expect(text).toContain('--latency-ms: must be a number (was "soon")');
    expect(text).toContain('--expired-notification: must be "error" or "none" (was "maybe")');
    expect(text).toContain('endpoints[0].name: "bad_name"');
    expect(text).toContain('model.type: must be "echo", "fail", "sleep" or "container" (was "gpu")');
    expect(text).toContain('.instances: must be an integer from 1 to 1000 (was 0)');
    expect(text).toContain('knobs.dropNotificationRatio: must be a number from 0 to 1');
    expect(text).toContain('knobs.mystery: unknown knob');

    expect(problems(() => planEmulator(options('--config', join(dir, 'missing.json')), {}))[0]).toMatch(
      /--config .*missing\.json: ENOENT/,
    );
    writeFileSync(join(dir, 'broken.json'), '{"endpoints": [');
    expect(problems(() => planEmulator(options('--config', join(dir, 'broken.json')), {}))[0]).toMatch(
      /--config .*broken\.json: .*JSON/,
    );
  });

  it('--with-local-aws: starts fauxqs with the bucket, topics and smad-completions, and prints the variables for smad', async () => {
    const plan = planEmulator(
      options('--port', '0', '--aws-port', '0', '--with-local-aws', '--endpoint', 'demo'),
      {},
    );
    const running = await startEmulatorFromPlan(plan, pino({ level: 'silent' }), {});
    const settings = awsSettingsFromEnv(running.env);
    const sagemaker = createSageMakerRuntimeClient(settings);
    const sqs = createSqsClient(settings);
    try {
      expect(Object.keys(running.env).sort()).toEqual([
        'AWS_ENDPOINT_URL',
        'AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME',
        'AWS_REGION',
        'SMAD_COMPLETIONS_QUEUE_URL',
      ]);
      expect(running.env.AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME).toBe(running.emulator.address);
      const out = await sagemaker.send(
        new InvokeEndpointAsyncCommand({ EndpointName: 'demo', Body: Buffer.from('hi') }),
      );
      expect(out.OutputLocation).toMatch(/^s3:\/\/smad-emulator\/output\/demo\//);
      const queueUrl = running.env.SMAD_COMPLETIONS_QUEUE_URL ?? '';
      const body = await waitFor(
        async () => {
          const got = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 1 }));
          const message = got.Messages?.[0];
          if (!message) return undefined;
          await sqs.send(
            new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle }),
          );
          return message.Body;
        },
        { what: 'a completion on smad-completions' },
      );
      const envelope = JSON.parse(body) as { TopicArn: string; Message: string };
      expect(envelope.TopicArn).toMatch(/:smad-success$/);
      expect(JSON.parse(envelope.Message)).toMatchObject({
        inferenceId: out.InferenceId,
        invocationStatus: 'Completed',
      });
    } finally {
      sagemaker.destroy();
      sqs.destroy();
      await running.stop();
    }
  });
});

const MAIN = join(process.cwd(), 'dist/cli/main.js');
const built = existsSync(join(process.cwd(), 'dist/cli/commands/emulator.js'));

// `npm test` builds first; run alone, these need `npx tsc -p tsconfig.build.json`.
describe.skipIf(!built)('smad emulator (built binary)', () => {
  it('node dist/cli/main.js emulator --help lists every option', () => {
    const result = spawnSync(process.execPath, [MAIN, 'emulator', '--help'], { encoding: 'utf8' });
    expect(result.status).toBe(0);
    for (const flag of EVERY_OPTION) expect(result.stdout, `help lists ${flag}`).toContain(flag);
  });

  it('exits 2 naming the problem on bad configuration', () => {
    const result = spawnSync(process.execPath, [MAIN, 'emulator', '--failure-ratio', '9', '--port', '0'], {
      encoding: 'utf8',
    });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('--failure-ratio: must be a number from 0 to 1 (was 9)');
  });

  it('starts, prints the variables, and stops cleanly on SIGTERM', async () => {
    const child = spawn(
      process.execPath,
      [MAIN, 'emulator', '--port', '0', '--with-local-aws', '--aws-port', '0', '--log-level', 'info'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    try {
      await waitFor(() => stdout.includes('export SMAD_COMPLETIONS_QUEUE_URL='), {
        what: 'the exported variables',
      });
      const address = /export AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME=(\S+)/.exec(stdout)?.[1] ?? '';
      const health = await fetch(`${address}/_emulator/health`);
      expect(await health.json()).toEqual({ ok: true, endpoints: ['echo'] });
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      const logs = stdout
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as { msg: string });
      expect(logs.map((l) => l.msg)).toEqual(
        expect.arrayContaining(['emulator ready', 'SageMaker async emulator stopped']),
      );
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
