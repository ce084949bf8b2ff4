import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { type FauxqsServer, startFauxqs } from 'fauxqs';
import { type AwsSettings, awsSettingsFromEnv } from '../../aws/clients.js';
import {
  checkKnobs,
  EmulatorConfigError,
  type EmulatorConfigInput,
  EXPIRED_NOTIFICATION_MODES,
  type Knobs,
  parseEmulatorConfig,
  SageMakerEmulator,
} from '../../emulator/index.js';
import { parseS3Uri } from '../../emulator/locations.js';
import { createLogger, type Logger } from '../../observability/logger.js';

/** The options of `smad emulator`, as commander hands them over (strings until checked). */
export interface EmulatorCliOptions {
  port: string;
  host: string;
  config?: string;
  endpoint?: string[];
  withLocalAws?: boolean;
  awsPort: string;
  s3OutputPath: string;
  s3FailurePath: string;
  successTopicArn?: string;
  errorTopicArn?: string;
  region?: string;
  accountId?: string;
  logLevel: string;
  latencyMs?: string;
  failureRatio?: string;
  throttleRatio?: string;
  unavailableRatio?: string;
  internalFailureRatio?: string;
  duplicateNotificationRatio?: string;
  dropNotificationRatio?: string;
  notificationDelayMs?: string;
  expiredNotification?: string;
  timeScale?: string;
  seed?: string;
}

/** Knob flags, by knob. */
export const KNOB_FLAGS: Record<
  Exclude<keyof Knobs, 'expiredNotification'>,
  { flag: string; help: string }
> = {
  latencyMs: { flag: '--latency-ms <ms>', help: 'milliseconds added to every model invocation' },
  failureRatio: {
    flag: '--failure-ratio <0..1>',
    help: 'share of invocations whose model fails (500 from model)',
  },
  throttleRatio: {
    flag: '--throttle-ratio <0..1>',
    help: 'share of calls answered 400 ThrottlingException "Rate exceeded"',
  },
  unavailableRatio: {
    flag: '--unavailable-ratio <0..1>',
    help: 'share of calls answered 503 ServiceUnavailable',
  },
  internalFailureRatio: {
    flag: '--internal-failure-ratio <0..1>',
    help: 'share of calls answered 500 InternalFailure',
  },
  duplicateNotificationRatio: {
    flag: '--duplicate-notification-ratio <0..1>',
    help: 'share of notifications published twice',
  },
  dropNotificationRatio: {
    flag: '--drop-notification-ratio <0..1>',
    help: 'share of inferences whose object is written but whose notification is never published',
  },
  notificationDelayMs: {
    flag: '--notification-delay-ms <ms>',
    help: 'milliseconds between writing the object and publishing the notification',
  },
  timeScale: {
    flag: '--time-scale <factor>',
    help: 'real time per emulated second for RequestTTLSeconds and InvocationTimeoutSeconds (0.001: 60 s last 60 ms)',
  },
};

export const LOCAL_AWS = {
  bucket: 'smad-emulator',
  successTopic: 'smad-success',
  errorTopic: 'smad-error',
  completionsQueue: 'smad-completions',
  /** fauxqs's account id. */
  accountId: '000000000000',
} as const;

function optionName(flag: string): string {
  return flag.split(' ')[0] ?? flag;
}

function parseNumber(raw: string, flag: string, problems: string[]): number | undefined {
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(value)) {
    problems.push(`${flag}: must be a number (was ${JSON.stringify(raw)})`);
    return undefined;
  }
  return value;
}

function parsePort(raw: string, flag: string, problems: string[]): number {
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0 || value > 65_535) {
    problems.push(`${flag}: must be a TCP port from 0 to 65535 (was ${JSON.stringify(raw)})`);
    return 0;
  }
  return value;
}

function topicName(arn: string): { name: string; region: string } | undefined {
  const parts = arn.split(':');
  const name = parts[5];
  const region = parts[3];
  return name && region ? { name, region } : undefined;
}

/** What `smad emulator` will start, worked out from its flags and config file without any I/O but reading the file. */
export interface EmulatorCliPlan {
  host: string;
  port: number;
  awsPort: number;
  withLocalAws: boolean;
  region: string;
  config: EmulatorConfigInput;
}

/**
 * Turns the flags (and the --config file) into a checked plan; throws EmulatorConfigError
 * naming every problem. Endpoints from the file may leave out s3OutputPath, s3FailurePath
 * and the topics: the flags' defaults fill them in (`null` in the file means "none").
 */
export function planEmulator(
  options: EmulatorCliOptions,
  env: NodeJS.ProcessEnv = process.env,
): EmulatorCliPlan {
  const problems: string[] = [];
  let file: Record<string, unknown> = {};
  if (options.config) {
    try {
      const parsed: unknown = JSON.parse(readFileSync(options.config, 'utf8'));
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
        problems.push(`--config ${options.config}: must hold a JSON object with "endpoints" and "knobs"`);
      else file = parsed as Record<string, unknown>;
    } catch (err) {
      problems.push(`--config ${options.config}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  const withLocalAws = options.withLocalAws === true;
  const region =
    options.region ??
    (file.region as string | undefined) ??
    env.AWS_REGION ??
    env.AWS_DEFAULT_REGION ??
    'us-east-1';
  const port = parsePort(options.port, '--port', problems);
  const awsPort = parsePort(options.awsPort, '--aws-port', problems);
  for (const [flag, value] of [
    ['--s3-output-path', options.s3OutputPath],
    ['--s3-failure-path', options.s3FailurePath],
  ] as const) {
    if (!parseS3Uri(value))
      problems.push(`${flag}: must be an s3://bucket[/prefix] URI (was ${JSON.stringify(value)})`);
  }

  const localArn = (name: string) => `arn:aws:sns:${region}:${LOCAL_AWS.accountId}:${name}`;
  const defaultSuccessTopic =
    options.successTopicArn ?? (withLocalAws ? localArn(LOCAL_AWS.successTopic) : undefined);
  const defaultErrorTopic =
    options.errorTopicArn ?? (withLocalAws ? localArn(LOCAL_AWS.errorTopic) : undefined);

  const fileEndpoints = file.endpoints === undefined ? [] : file.endpoints;
  const quick = (options.endpoint ?? []).map((name) => ({ name, model: 'echo' }));
  let endpoints: unknown[] = [];
  if (!Array.isArray(fileEndpoints))
    problems.push(`--config ${options.config}: "endpoints" must be an array`);
  else endpoints = [...fileEndpoints, ...quick];
  if (endpoints.length === 0 && Array.isArray(fileEndpoints)) endpoints = [{ name: 'echo', model: 'echo' }];
  endpoints = endpoints.map((raw) => {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return raw;
    const e = { ...(raw as Record<string, unknown>) };
    const name = typeof e.name === 'string' ? e.name : 'endpoint';
    if (e.s3OutputPath === undefined) e.s3OutputPath = `${options.s3OutputPath.replace(/\/+$/, '')}/${name}`;
    if (e.s3FailurePath === undefined)
      e.s3FailurePath = `${options.s3FailurePath.replace(/\/+$/, '')}/${name}`;
    if (e.successTopicArn === undefined && defaultSuccessTopic) e.successTopicArn = defaultSuccessTopic;
    if (e.errorTopicArn === undefined && defaultErrorTopic) e.errorTopicArn = defaultErrorTopic;
    return e;
  });

  const knobs: Record<string, unknown> = {};
  if (typeof file.knobs === 'object' && file.knobs !== null && !Array.isArray(file.knobs))
    Object.assign(knobs, file.knobs);
  else if (file.knobs !== undefined) problems.push(`--config ${options.config}: "knobs" must be an object`);
  const flagged: Array<[keyof Knobs, string, unknown]> = [];
  for (const [knob, { flag }] of Object.entries(KNOB_FLAGS)) {
    const value = options[knob as keyof EmulatorCliOptions];
    if (typeof value !== 'string') continue;
    const number = parseNumber(value, optionName(flag), problems);
    if (number !== undefined) flagged.push([knob as keyof Knobs, optionName(flag), number]);
  }
  if (options.expiredNotification !== undefined)
    flagged.push(['expiredNotification', '--expired-notification', options.expiredNotification]);
  for (const [knob, flag, value] of flagged) {
    const checked = checkKnobs({ [knob]: value }, 'flag');
    for (const problem of checked.problems) problems.push(problem.replace(`flag.${knob}`, flag));
    if (checked.problems.length === 0) knobs[knob] = value;
  }

  const raw: Record<string, unknown> = { ...file, endpoints, knobs };
  raw.region = region;
  if (options.accountId !== undefined) raw.accountId = options.accountId;
  if (options.seed !== undefined) {
    const seed = parseNumber(options.seed, '--seed', problems);
    if (seed !== undefined) raw.seed = seed;
  }
  try {
    parseEmulatorConfig(raw);
  } catch (err) {
    if (!(err instanceof EmulatorConfigError)) throw err;
    problems.push(...err.problems);
  }
  if (problems.length > 0) throw new EmulatorConfigError(problems);
  return {
    host: options.host,
    port,
    awsPort,
    withLocalAws,
    region,
    config: raw as unknown as EmulatorConfigInput,
  };
}

/** A running `smad emulator`: the emulator, and fauxqs with --with-local-aws. */
export interface RunningEmulator {
  emulator: SageMakerEmulator;
  localAws?: FauxqsServer;
  /** The variables that point smad (and the AWS SDK) at these stand-ins. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

/** Starts fauxqs with the bucket(s), topics and the smad-completions queue the plan needs. */
async function startLocalAws(plan: EmulatorCliPlan): Promise<{ server: FauxqsServer; queueUrl: string }> {
  const server = await startFauxqs({
    port: plan.awsPort,
    host: plan.host,
    logger: false,
    defaultRegion: plan.region,
  });
  const buckets = new Set<string>([LOCAL_AWS.bucket]);
  const topics = new Map<string, string>([
    [LOCAL_AWS.successTopic, plan.region],
    [LOCAL_AWS.errorTopic, plan.region],
  ]);
  for (const e of plan.config.endpoints) {
    for (const path of [e.s3OutputPath, e.s3FailurePath, e.inlineInputPath]) {
      const parsed = typeof path === 'string' ? parseS3Uri(path) : undefined;
      if (parsed) buckets.add(parsed.bucket);
    }
    for (const arn of [e.successTopicArn, e.errorTopicArn]) {
      const topic = typeof arn === 'string' ? topicName(arn) : undefined;
      if (topic) topics.set(topic.name, topic.region);
    }
  }
  for (const bucket of buckets) server.createBucket(bucket);
  const { queueUrl } = server.createQueue(LOCAL_AWS.completionsQueue, { region: plan.region });
  for (const [name, region] of topics) {
    server.createTopic(name, { region });
    server.subscribe({ topic: name, queue: LOCAL_AWS.completionsQueue, region });
  }
  return { server, queueUrl };
}

/** Starts what the plan says. Used by the command, and by tests in-process. */
export async function startEmulatorFromPlan(
  plan: EmulatorCliPlan,
  logger: Logger,
  env: NodeJS.ProcessEnv = process.env,
): Promise<RunningEmulator> {
  let localAws: { server: FauxqsServer; queueUrl: string } | undefined;
  let aws: AwsSettings;
  if (plan.withLocalAws) {
    localAws = await startLocalAws(plan);
    aws = {
      region: plan.region,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      endpoints: { s3: localAws.server.address, sns: localAws.server.address, sqs: localAws.server.address },
    };
  } else {
    aws = awsSettingsFromEnv(env);
  }
  let emulator: SageMakerEmulator;
  try {
    emulator = await SageMakerEmulator.start({
      ...plan.config,
      aws,
      host: plan.host,
      port: plan.port,
      logger,
    });
  } catch (err) {
    await localAws?.server.stop();
    throw err;
  }
  const vars: Record<string, string> = { AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME: emulator.address };
  if (localAws) {
    vars.AWS_ENDPOINT_URL = localAws.server.address;
    vars.AWS_REGION = plan.region;
    vars.SMAD_COMPLETIONS_QUEUE_URL = localAws.queueUrl;
  }
  const running: RunningEmulator = {
    emulator,
    env: vars,
    stop: async () => {
      await emulator.stop();
      await localAws?.server.stop();
    },
  };
  if (localAws) running.localAws = localAws.server;
  return running;
}

/** `smad emulator` and every option, with help. */
export function emulatorCommand(): Command {
  const command = new Command('emulator')
    .description(
      'run a local SageMaker async endpoint (InvokeEndpointAsync over the real wire protocol): validates like AWS, ' +
        'runs the model, writes the output or failure object to S3 and publishes the notification to SNS; ' +
        'control routes under /_emulator/ (requests, stats, knobs, fail-next, reset). Bad configuration exits 2.',
    )
    .option('--port <port>', 'HTTP port of the emulator (0: any free port)', '8085')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('-c, --config <file>', 'JSON file with "endpoints" (array) and "knobs" (see the README)')
    .option(
      '--endpoint <name>',
      'add an echo endpoint with this name (repeatable); default: one endpoint named "echo" when no other is declared',
      (name: string, previous: string[] = []) => [...previous, name],
    )
    .option(
      '--with-local-aws',
      'also start an in-process fauxqs (S3, SNS, SQS) with the bucket, the smad-success and smad-error topics and an ' +
        'SQS queue smad-completions subscribed to both; prints the variables that point smad at them',
    )
    .option('--aws-port <port>', 'port of the fauxqs started by --with-local-aws', '4566')
    .option(
      '--s3-output-path <uri>',
      'S3OutputPath prefix for endpoints that name none (the endpoint name is appended)',
      `s3://${LOCAL_AWS.bucket}/output`,
    )
    .option(
      '--s3-failure-path <uri>',
      'S3FailurePath prefix for endpoints that name none (the endpoint name is appended)',
      `s3://${LOCAL_AWS.bucket}/failure`,
    )
    .option(
      '--success-topic-arn <arn>',
      'SuccessTopic for endpoints that name none (default with --with-local-aws: smad-success, else none)',
    )
    .option(
      '--error-topic-arn <arn>',
      'ErrorTopic for endpoints that name none (default with --with-local-aws: smad-error, else none)',
    )
    .option(
      '--region <region>',
      'awsRegion of notifications and region of the local AWS (default: AWS_REGION or us-east-1)',
    )
    .option(
      '--account-id <id>',
      'account id named in "Endpoint X of account N not found." (default 123456789012)',
    )
    .option('--log-level <level>', 'pino log level (trace, debug, info, warn, error, fatal, silent)', 'info');
  for (const { flag, help } of Object.values(KNOB_FLAGS)) command.option(flag, help);
  command
    .option(
      '--expired-notification <mode>',
      `what a request that outlives its RequestTTLSeconds in the queue produces: ${EXPIRED_NOTIFICATION_MODES.map((m) => `"${m}"`).join(' or ')} ("error": failure object and error notification; "none": nothing)`,
    )
    .option('--seed <n>', 'seed of the PRNG behind the ratio knobs (default: random)');
  return command;
}

export function registerEmulatorCommand(program: Command): void {
  program.addCommand(
    emulatorCommand().action(async (options: EmulatorCliOptions) => {
      let plan: EmulatorCliPlan;
      try {
        plan = planEmulator(options);
      } catch (err) {
        if (err instanceof EmulatorConfigError) {
          process.stderr.write(`smad emulator: ${err.message}\n`);
          process.exit(2);
        }
        throw err;
      }
      const logger = createLogger({ level: options.logLevel, name: 'smad-emulator' });
      const running = await startEmulatorFromPlan(plan, logger);
      const lines = Object.entries(running.env).map(([key, value]) => `export ${key}=${value}`);
      process.stdout.write(`# point smad (and the AWS SDK) at the emulator:\n${lines.join('\n')}\n`);
      logger.info({ env: running.env }, 'emulator ready');
      let stopping = false;
      const stop = (signal: NodeJS.Signals) => {
        if (stopping) process.exit(1);
        stopping = true;
        logger.info({ signal }, 'stopping the emulator');
        running.stop().then(
          () => {
            logger.flush();
            process.exit(0);
          },
          (err: unknown) => {
            logger.error({ error: err instanceof Error ? err.message : String(err) }, 'stop failed');
            logger.flush();
            process.exit(1);
          },
        );
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    }),
  );
}
