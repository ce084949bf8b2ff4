/**
 * Checks that the deployment files (Dockerfile, docker-compose.yml, the systemd unit and its
 * environment file) only use what smad accepts: real sub-commands and flags, variables smad
 * knows, and values its configuration loader and `smad config check` take. Each check
 * returns the problems it found (empty when all is well), so the tests can also show that a
 * broken file is caught.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { CommanderError } from 'commander';
import { type EmulatorCliOptions, emulatorCommand, planEmulator } from '../../src/cli/commands/emulator.js';
import { isConfigError } from '../../src/config/config-error.js';
import { loadConfig } from '../../src/config/load.js';
import { listSettings } from '../../src/config/reference.js';
import { EmulatorConfigError } from '../../src/emulator/index.js';
import { REPO_ROOT, runCli } from '../config/run-cli.js';
import {
  type DockerStage,
  execForm,
  interpolate,
  readDockerfile,
  readEnvFile,
  readUnitFile,
  readYamlSubset,
  type YamlMap,
  type YamlValue,
} from './readers.js';

export { REPO_ROOT };

/** Variables smad reads: every `env` of the schema, and SMAD_CONFIG. */
export const SMAD_VARIABLES = new Set([
  'SMAD_CONFIG',
  ...listSettings().flatMap((s) => (s.env ? [s.env] : [])),
]);

/** AWS SDK variables a deployment may set. */
export const AWS_VARIABLES = new Set([
  'AWS_REGION',
  'AWS_DEFAULT_REGION',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_PROFILE',
  'AWS_ROLE_ARN',
  'AWS_WEB_IDENTITY_TOKEN_FILE',
  'AWS_STS_REGIONAL_ENDPOINTS',
  'AWS_ENDPOINT_URL',
  'AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME',
  'AWS_ENDPOINT_URL_SQS',
  'AWS_ENDPOINT_URL_S3',
  'AWS_ENDPOINT_URL_SNS',
]);

/** Files the deployment installs elsewhere, by their installed path. */
export const INSTALLED_FILES: Record<string, string> = {
  '/etc/smad/config.json': join(REPO_ROOT, 'deploy', 'config.example.json'),
};

// ---------------------------------------------------------------- the CLI's own help

interface Flags {
  /** Long flag → whether it takes a value. */
  long: Map<string, boolean>;
  /** Short flag → long flag. */
  short: Map<string, string>;
}

const helpCache = new Map<string, Flags | undefined>();

/** The flags `smad <command...> --help` lists, or undefined if there is no such command. */
export function cliFlags(command: string[]): Flags | undefined {
  const key = command.join(' ');
  if (helpCache.has(key)) return helpCache.get(key);
  const result = runCli([...command, '--help']);
  let flags: Flags | undefined;
  if (result.status === 0 && result.stdout.startsWith(`Usage: smad ${key} `)) {
    flags = { long: new Map(), short: new Map() };
    for (const line of result.stdout.split('\n')) {
      const match = /^ {2}(?:(-[A-Za-z]), )?(--[a-z0-9-]+)(\s+[<[])?/.exec(line);
      if (!match?.[2]) continue;
      flags.long.set(match[2], match[3] !== undefined);
      if (match[1]) flags.short.set(match[1], match[2]);
    }
  }
  helpCache.set(key, flags);
  return flags;
}

/** Splits arguments against the flags: values by long flag, and problems for unknown flags. */
export function parseArgs(
  args: string[],
  flags: Flags,
  where: string,
): { values: Map<string, string[]>; positionals: string[]; problems: string[] } {
  const values = new Map<string, string[]>();
  const positionals: string[] = [];
  const problems: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (!arg.startsWith('-') || arg === '-') {
      positionals.push(arg);
      continue;
    }
    const [rawName, inline] = arg.includes('=')
      ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)]
      : [arg];
    const name = flags.short.get(rawName as string) ?? (rawName as string);
    if (!flags.long.has(name)) {
      problems.push(`${where}: unknown flag ${rawName} (smad's --help does not list it)`);
      continue;
    }
    let value = 'true';
    if (flags.long.get(name)) {
      if (inline !== undefined) value = inline;
      else if (i + 1 < args.length) value = args[++i] as string;
      else problems.push(`${where}: ${name} needs a value`);
    }
    values.set(name, [...(values.get(name) ?? []), value]);
  }
  return { values, positionals, problems };
}

/** Variables a smad process is given that smad or the AWS SDK do not know. */
export function unknownVariables(env: Record<string, string>, where: string): string[] {
  return Object.keys(env)
    .filter((name) => !SMAD_VARIABLES.has(name) && !AWS_VARIABLES.has(name) && name !== 'NODE_ENV')
    .map((name) =>
      name.startsWith('SMAD_')
        ? `${where}: ${name} is not a variable smad reads (a typo is silently ignored)`
        : `${where}: ${name} is neither a smad nor an AWS SDK variable`,
    );
}

/**
 * `smad start ...` with this environment: the flags exist, `smad config check` accepts the
 * configuration (exit 0), and so does the loader with the flags' values applied.
 */
export function checkStartCommand(args: string[], env: Record<string, string>, where: string): string[] {
  if (args[0] !== 'start') return [`${where}: runs "${args.join(' ')}", not "smad start"`];
  const flags = cliFlags(['start']);
  if (!flags) return [`${where}: "smad start --help" failed`];
  const parsed = parseArgs(args.slice(1), flags, where);
  const problems = [...parsed.problems, ...unknownVariables(env, where)];
  if (parsed.positionals.length > 0)
    problems.push(`${where}: unexpected arguments ${parsed.positionals.join(' ')}`);
  const files = parsed.values.get('--config') ?? [];
  const check = runCli(['config', 'check', ...files.flatMap((f) => ['--config', f])], env);
  if (check.status !== 0)
    problems.push(
      `${where}: smad config check exited ${check.status}: ${check.stderr.trim() || check.stdout.trim()}`,
    );
  try {
    loadConfig({ env, files, overrides: { roles: parsed.values.get('--roles')?.at(-1) } });
  } catch (err) {
    if (!isConfigError(err)) throw err;
    problems.push(...err.problems.map((p) => `${where}: ${p}`));
  }
  return problems;
}

/** `smad emulator ...`: the flags exist (in --help) and the emulator accepts their values. */
export function checkEmulatorCommand(args: string[], env: Record<string, string>, where: string): string[] {
  if (args[0] !== 'emulator') return [`${where}: runs "${args.join(' ')}", not "smad emulator"`];
  const flags = cliFlags(['emulator']);
  if (!flags) return [`${where}: "smad emulator --help" failed`];
  const parsed = parseArgs(args.slice(1), flags, where);
  const problems = [...parsed.problems, ...unknownVariables(env, where)];
  try {
    const options = emulatorCommand()
      .exitOverride()
      .configureOutput({ writeErr: () => {}, writeOut: () => {} })
      .parse(args.slice(1), { from: 'user' })
      .opts<EmulatorCliOptions>();
    planEmulator(options, env);
  } catch (err) {
    if (err instanceof EmulatorConfigError) problems.push(...err.problems.map((p) => `${where}: ${p}`));
    else if (err instanceof CommanderError) problems.push(`${where}: ${err.message}`);
    else throw err;
  }
  return problems;
}

// ---------------------------------------------------------------- Dockerfile

export interface DockerfileFacts {
  stages: DockerStage[];
  final: DockerStage;
  workdir: string;
  entrypoint: string[];
  cmd: string[];
  healthcheck: string[];
}

function instructions(stage: DockerStage, name: string) {
  return stage.instructions.filter((i) => i.instruction === name);
}

export function dockerfileFacts(text: string): DockerfileFacts {
  const stages = readDockerfile(text);
  const final = stages.at(-1);
  if (!final) throw new Error('Dockerfile: no FROM');
  const last = (name: string) => instructions(final, name).at(-1)?.args;
  const health = last('HEALTHCHECK') ?? '';
  const cmdAt = health.indexOf('CMD ');
  return {
    stages,
    final,
    workdir: last('WORKDIR') ?? '/',
    entrypoint: last('ENTRYPOINT') ? execForm(last('ENTRYPOINT') as string) : [],
    cmd: last('CMD') ? execForm(last('CMD') as string) : [],
    healthcheck: cmdAt >= 0 ? execForm(health.slice(cmdAt + 4)) : [],
  };
}

/** Paths .dockerignore keeps out of the build context (its simple, one-name-per-line form). */
export function dockerignored(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

export function checkDockerfile(text: string, dockerignore: string): string[] {
  const problems: string[] = [];
  let facts: DockerfileFacts;
  try {
    facts = dockerfileFacts(text);
  } catch (err) {
    return [`Dockerfile: ${(err as Error).message}`];
  }
  const { stages, final } = facts;
  if (stages.length < 2) problems.push('Dockerfile: not multi-stage');
  for (const stage of stages)
    if (!/^node:24(\.|-|$)/.test(stage.from))
      problems.push(`Dockerfile: stage ${stage.name} is not node:24 (${stage.from})`);
  const build = stages.find((s) => s.name === 'build');
  if (!build) problems.push('Dockerfile: no stage named "build"');
  else {
    const runs = instructions(build, 'RUN').map((i) => i.args);
    if (!runs.some((r) => /\bnpm ci\b/.test(r)))
      problems.push('Dockerfile: the build stage does not run npm ci');
    if (!runs.some((r) => /\bnpm run build\b/.test(r)))
      problems.push('Dockerfile: the build stage does not run npm run build');
  }
  const finalRuns = instructions(final, 'RUN').map((i) => i.args);
  const install = finalRuns.find((r) => /\bnpm ci\b/.test(r));
  if (!install) problems.push('Dockerfile: the runtime stage does not npm ci its dependencies');
  else
    for (const flag of ['--omit=dev', '--omit=optional'])
      if (!install.includes(flag)) problems.push(`Dockerfile: the runtime npm ci lacks ${flag}`);
  const user = instructions(final, 'USER').at(-1)?.args;
  if (!user) problems.push('Dockerfile: the runtime stage has no USER (it would run as root)');
  else if (/^(root|0)(:|$)/.test(user)) problems.push(`Dockerfile: USER ${user} is root`);
  if (!instructions(final, 'ENV').some((i) => /\bNODE_ENV=production\b/.test(i.args)))
    problems.push('Dockerfile: no ENV NODE_ENV=production');
  if (!instructions(final, 'EXPOSE').some((i) => i.args.split(/\s+/).includes('8080')))
    problems.push('Dockerfile: no EXPOSE 8080');
  const health = facts.healthcheck.join(' ');
  if (!health.includes('/healthz') || !health.includes('SMAD_HTTP_PORT'))
    problems.push('Dockerfile: no HEALTHCHECK calling /healthz on SMAD_HTTP_PORT');
  if (facts.entrypoint.join(' ') !== 'node dist/cli/main.js')
    problems.push(
      `Dockerfile: ENTRYPOINT is ${JSON.stringify(facts.entrypoint)}, not ["node", "dist/cli/main.js"]`,
    );
  if (facts.cmd.join(' ') !== 'start')
    problems.push(`Dockerfile: CMD is ${JSON.stringify(facts.cmd)}, not ["start"]`);
  // What the runtime image holds: dist from the build stage, config and schema from the context.
  const copies = instructions(final, 'COPY').map((i) => i.args);
  if (!copies.some((c) => /^--from=build\s+\S*dist\s/.test(c)))
    problems.push('Dockerfile: dist is not copied from the build stage');
  for (const dir of ['config', 'schema'])
    if (!copies.some((c) => c.split(/\s+/)[0] === dir)) problems.push(`Dockerfile: ${dir}/ is not copied`);
  // Every source copied from the build context exists and is not excluded by .dockerignore.
  const ignored = dockerignored(dockerignore);
  for (const stage of stages) {
    for (const copy of instructions(stage, 'COPY')) {
      if (copy.args.startsWith('--from=')) continue;
      const parts = copy.args.split(/\s+/).filter((p) => !p.startsWith('--'));
      for (const source of parts.slice(0, -1)) {
        if (!existsSync(join(REPO_ROOT, source)))
          problems.push(`Dockerfile:${copy.line}: COPY ${source}: no such file`);
        if (ignored.some((pattern) => pattern === source || pattern === source.split('/')[0]))
          problems.push(`Dockerfile:${copy.line}: COPY ${source} is excluded by .dockerignore`);
      }
    }
  }
  for (const needed of ['node_modules', 'dist', '.git'])
    if (!ignored.includes(needed)) problems.push(`.dockerignore: does not exclude ${needed}`);
  // The image runs `node dist/cli/main.js start`: a real command.
  const args = [...facts.entrypoint.slice(2), ...facts.cmd];
  if (args[0] !== 'start' || !cliFlags(['start']))
    problems.push(`Dockerfile: "${args.join(' ')}" is not smad start`);
  return problems;
}

// ---------------------------------------------------------------- docker-compose.yml

function asMap(value: YamlValue | undefined): YamlMap {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? value : {};
}

function asStrings(value: YamlValue | undefined): string[] | undefined {
  return Array.isArray(value) && value.every((v) => typeof v === 'string') ? (value as string[]) : undefined;
}

export interface ComposeService {
  name: string;
  raw: YamlMap;
  image: string | undefined;
  build: string | undefined;
  command: string[] | undefined;
  entrypoint: string[] | undefined;
  /** `environment`, interpolated with `interpolationEnv`. */
  env: Record<string, string>;
  /** `volumes` as [source, target]. */
  volumes: Array<[string, string]>;
}

export function composeServices(
  text: string,
  interpolationEnv: Record<string, string> = {},
): Map<string, ComposeService> {
  const doc = readYamlSubset(text, 'docker-compose.yml');
  const services = new Map<string, ComposeService>();
  for (const [name, value] of Object.entries(asMap(doc.services))) {
    const raw = asMap(value);
    const env: Record<string, string> = {};
    for (const [key, v] of Object.entries(asMap(raw.environment))) {
      if (typeof v !== 'string')
        throw new Error(`docker-compose.yml: ${name}.environment.${key} must be a quoted string`);
      env[key] = interpolate(v, interpolationEnv);
    }
    const volumes = (asStrings(raw.volumes) ?? []).map((v) => {
      const [source = '', target = ''] = v.split(':');
      return [source, target] as [string, string];
    });
    services.set(name, {
      name,
      raw,
      image: typeof raw.image === 'string' ? raw.image : undefined,
      build: typeof raw.build === 'string' ? raw.build : undefined,
      command: asStrings(raw.command),
      entrypoint: asStrings(raw.entrypoint),
      env,
      volumes,
    });
  }
  return services;
}

/** A duration such as "40s", "1m30s" or a number of seconds. */
export function seconds(value: YamlValue | undefined): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value !== 'string') return undefined;
  const match = /^(?:(\d+)m)?(?:(\d+)s)?$/.exec(value);
  if (!match || value === '') return undefined;
  return Number(match[1] ?? 0) * 60 + Number(match[2] ?? 0);
}

function flagValue(args: string[] | undefined, flag: string): string | undefined {
  if (!args) return undefined;
  const at = args.lastIndexOf(flag);
  return at >= 0 ? args[at + 1] : undefined;
}

/** The host file a container path comes from, through the service's bind mounts. */
export function mountedFrom(service: ComposeService, containerPath: string): string | undefined {
  for (const [source, target] of service.volumes) {
    if (!source.startsWith('.')) continue;
    if (containerPath === target) return join(REPO_ROOT, source);
    if (containerPath.startsWith(`${target}/`))
      return join(REPO_ROOT, source, containerPath.slice(target.length + 1));
  }
  return undefined;
}

export interface FauxqsInit {
  queues?: Array<{ name: string; region?: string; attributes?: Record<string, string> }>;
  topics?: Array<{ name: string; region?: string }>;
  subscriptions?: Array<{ topic: string; queue: string; region?: string }>;
  buckets?: Array<string | { name: string }>;
}

export function checkCompose(text: string, dockerfile: string): string[] {
  const problems: string[] = [];
  let services: Map<string, ComposeService>;
  try {
    services = composeServices(text);
  } catch (err) {
    return [(err as Error).message];
  }
  const get = (name: string) => {
    const service = services.get(name);
    if (!service) problems.push(`docker-compose.yml: no service "${name}"`);
    return service;
  };
  const redis = get('redis');
  const fauxqs = get('fauxqs');
  const emulator = get('emulator');
  const smad = get('smad');
  const receiver = get('webhook-receiver');
  if (!redis || !fauxqs || !emulator || !smad || !receiver) return problems;
  const workdir = dockerfileFacts(dockerfile).workdir;

  // Redis: AOF and noeviction.
  if (!redis.image?.startsWith('redis:')) problems.push('compose redis: not a redis image');
  const redisArgs = (redis.command ?? []).join(' ');
  if (!/--appendonly yes\b/.test(redisArgs)) problems.push('compose redis: AOF is not on (--appendonly yes)');
  if (!/--maxmemory-policy noeviction\b/.test(redisArgs))
    problems.push('compose redis: not --maxmemory-policy noeviction');

  // The smad image: the three smad services build it from this directory.
  for (const service of [emulator, smad, receiver]) {
    if (service.build !== '.')
      problems.push(`compose ${service.name}: does not build the smad image (build: ".")`);
    if (service.image !== smad.image)
      problems.push(`compose ${service.name}: image ${service.image} is not ${smad.image}`);
  }

  // Commands and environments, checked by smad itself.
  if (!emulator.command) problems.push('compose emulator: no command');
  else problems.push(...checkEmulatorCommand(emulator.command, emulator.env, 'compose emulator'));
  if (!smad.command) problems.push('compose smad: no command');
  else problems.push(...checkStartCommand(smad.command, smad.env, 'compose smad'));

  // Where each URL points: the service, on the port it listens on.
  const ports: Record<string, string | undefined> = {
    redis: '6379',
    fauxqs: fauxqs.env.FAUXQS_PORT ?? '4566',
    emulator: flagValue(emulator.command, '--port') ?? '8085',
    'webhook-receiver': receiver.env.PORT ?? '9000',
    smad: smad.env.SMAD_HTTP_PORT ?? '8080',
  };
  const expectTarget = (service: ComposeService, variable: string, target: string) => {
    const value = service.env[variable];
    if (!value) return problems.push(`compose ${service.name}: ${variable} is not set`);
    const url = URL.canParse(value) ? new URL(value) : undefined;
    const port = url?.port || (url?.protocol === 'redis:' ? '6379' : '80');
    if (url?.hostname !== target || port !== ports[target])
      problems.push(
        `compose ${service.name}: ${variable}=${value} does not reach ${target}:${ports[target]}`,
      );
  };
  expectTarget(smad, 'SMAD_REDIS_URL', 'redis');
  expectTarget(smad, 'AWS_ENDPOINT_URL', 'fauxqs');
  expectTarget(smad, 'AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME', 'emulator');
  expectTarget(smad, 'SMAD_WEBHOOK_URL', 'webhook-receiver');
  expectTarget(emulator, 'AWS_ENDPOINT_URL', 'fauxqs');
  if (flagValue(emulator.command, '--host') !== '0.0.0.0')
    problems.push('compose emulator: must listen on 0.0.0.0 (--host) to be reachable from smad');
  if (smad.env.SMAD_WEBHOOK_ALLOW_PRIVATE_NETWORKS !== 'true' && !smad.env.SMAD_WEBHOOK_ALLOW_LIST)
    problems.push('compose smad: the receiver is on a private network; allow it');

  // Graceful stop: compose waits longer than smad's own bound.
  const shutdown = Number(smad.env.SMAD_SHUTDOWN_TIMEOUT_SECONDS ?? 30);
  const grace = seconds(smad.raw.stop_grace_period);
  if (grace === undefined || grace <= shutdown)
    problems.push(`compose smad: stop_grace_period must exceed the shutdown timeout (${shutdown} s)`);
  const dependsOn = Object.keys(asMap(smad.raw.depends_on));
  for (const needed of ['redis', 'fauxqs', 'emulator'])
    if (!dependsOn.includes(needed)) problems.push(`compose smad: does not depend on ${needed}`);

  // The webhook receiver: its script is mounted where the entrypoint looks, and it checks
  // signatures with the secret smad signs with.
  const [program, script] = receiver.entrypoint ?? [];
  if (program !== 'node' || !script)
    problems.push('compose webhook-receiver: entrypoint is not ["node", SCRIPT]');
  else {
    const source = mountedFrom(receiver, posix.resolve(workdir, script));
    if (!source || !existsSync(source))
      problems.push(`compose webhook-receiver: ${script} is not mounted from a repo file`);
  }
  if (receiver.env.WEBHOOK_SECRET !== smad.env.SMAD_WEBHOOK_SECRET)
    problems.push('compose webhook-receiver: WEBHOOK_SECRET differs from smad SMAD_WEBHOOK_SECRET');

  // fauxqs: the init file creates what smad and the emulator use.
  if (!fauxqs.image?.startsWith('kibertoad/fauxqs'))
    problems.push('compose fauxqs: not the kibertoad/fauxqs image');
  const initPath = fauxqs.env.FAUXQS_INIT ? mountedFrom(fauxqs, fauxqs.env.FAUXQS_INIT) : undefined;
  if (!initPath || !existsSync(initPath)) {
    problems.push('compose fauxqs: FAUXQS_INIT is not mounted from a repo file');
    return problems;
  }
  const init = JSON.parse(readFileSync(initPath, 'utf8')) as FauxqsInit;
  const region = fauxqs.env.FAUXQS_DEFAULT_REGION ?? 'us-east-1';
  const queueUrl = smad.env.SMAD_COMPLETIONS_QUEUE_URL ?? '';
  const queueName = queueUrl.split('/').at(-1) ?? '';
  const queueRegion = /^https?:\/\/sqs\.([^.]+)\./.exec(queueUrl)?.[1] ?? region;
  if (!init.queues?.some((q) => q.name === queueName && (q.region ?? region) === queueRegion))
    problems.push(`fauxqs init: no queue ${queueName} in ${queueRegion} (SMAD_COMPLETIONS_QUEUE_URL)`);
  for (const flag of ['--success-topic-arn', '--error-topic-arn']) {
    const arn = flagValue(emulator.command, flag);
    const [, , , arnRegion, account, topic] = (arn ?? '').split(':');
    if (!arn || !topic) {
      problems.push(`compose emulator: no ${flag}`);
      continue;
    }
    if (account !== '000000000000')
      problems.push(`compose emulator: ${flag} ${arn} is not in fauxqs's account`);
    if (!init.topics?.some((t) => t.name === topic && (t.region ?? region) === arnRegion))
      problems.push(`fauxqs init: no topic ${topic} in ${arnRegion} (${flag})`);
    if (!init.subscriptions?.some((s) => s.topic === topic && s.queue === queueName))
      problems.push(`fauxqs init: topic ${topic} is not subscribed to ${queueName}`);
  }
  const buckets = new Set((init.buckets ?? []).map((b) => (typeof b === 'string' ? b : b.name)));
  const bucketOf = (uri: string | undefined) => /^s3:\/\/([^/]+)/.exec(uri ?? '')?.[1];
  for (const [what, uri] of [
    ['SMAD_STAGING_S3_URI', smad.env.SMAD_STAGING_S3_URI],
    ['--s3-output-path', flagValue(emulator.command, '--s3-output-path') ?? 's3://smad-emulator/output'],
    ['--s3-failure-path', flagValue(emulator.command, '--s3-failure-path') ?? 's3://smad-emulator/failure'],
  ] as const) {
    const bucket = bucketOf(uri);
    if (!bucket || !buckets.has(bucket)) problems.push(`fauxqs init: no bucket for ${what} (${uri})`);
  }
  return problems;
}

// ---------------------------------------------------------------- systemd

/** Example values for the env file's <placeholders>. */
export const PLACEHOLDERS: Record<string, string> = {
  'redis-password': 'example-redis-password',
  'redis-host': 'redis.internal.example.com',
  region: 'eu-west-1',
  'account-id': '123456789012',
  'access-key-id': 'AKIAIOSFODNN7EXAMPLE',
  'secret-access-key': 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  'staging-bucket': 'example-smad-staging',
  'receiver-host': 'hooks.example.com',
  'base64-secret': 'MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw/CZc+HSH0Vk=',
  'api-token': 'example-api-token',
};

/** Fills <placeholders> and maps installed paths to the repo's files; names what is unknown. */
export function fillEnv(
  raw: Record<string, string>,
  where: string,
): { env: Record<string, string>; problems: string[] } {
  const problems: string[] = [];
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(raw)) {
    let filled = value.replace(/<([a-z0-9-]+)>/g, (whole, key: string) => {
      const example = PLACEHOLDERS[key];
      if (example === undefined)
        problems.push(`${where}: ${name} has a placeholder ${whole} the test does not know`);
      return example ?? whole;
    });
    filled = filled
      .split(',')
      .map((part) => INSTALLED_FILES[part] ?? part)
      .join(',');
    env[name] = filled;
  }
  return { env, problems };
}

const HARDENING: Record<string, string> = {
  NoNewPrivileges: 'yes',
  ProtectSystem: 'strict',
  ProtectHome: 'yes',
  PrivateTmp: 'yes',
};

export function checkSystemd(unitText: string, envText: string): string[] {
  const problems: string[] = [];
  const unit = readUnitFile(unitText);
  const service = unit.Service ?? {};
  const one = (key: string) => service[key]?.at(-1);
  if (one('Type') !== 'simple') problems.push('smad.service: Type is not simple');
  const user = one('User');
  if (!user || user === 'root' || user === '0') problems.push('smad.service: runs as root (set User=)');
  if (one('Restart') !== 'on-failure') problems.push('smad.service: Restart is not on-failure');
  if (one('RestartSec') !== '5') problems.push('smad.service: RestartSec is not 5');
  if (one('KillSignal') !== 'SIGTERM') problems.push('smad.service: KillSignal is not SIGTERM');
  for (const [key, value] of Object.entries(HARDENING))
    if (one(key) !== value) problems.push(`smad.service: ${key}=${value} missing`);
  if (one('MemoryDenyWriteExecute') === 'yes' || one('MemoryDenyWriteExecute') === 'true')
    problems.push("smad.service: MemoryDenyWriteExecute breaks V8's JIT");
  if (!unit.Install?.WantedBy?.includes('multi-user.target'))
    problems.push('smad.service: not WantedBy=multi-user.target');
  const envFile = one('EnvironmentFile')?.replace(/^-/, '');
  if (envFile !== '/etc/smad/smad.env')
    problems.push(`smad.service: EnvironmentFile is ${envFile}, not /etc/smad/smad.env`);

  let parsedEnv: ReturnType<typeof readEnvFile>;
  try {
    parsedEnv = readEnvFile(envText);
  } catch (err) {
    return [...problems, `smad.env.example: ${(err as Error).message}`];
  }
  const active = fillEnv(parsedEnv.active, 'smad.env.example');
  const all = fillEnv({ ...parsedEnv.active, ...parsedEnv.commented }, 'smad.env.example (commented lines)');
  problems.push(...active.problems, ...all.problems);
  for (const name of [
    'SMAD_REDIS_URL',
    'SMAD_COMPLETIONS_QUEUE_URL',
    'SMAD_WEBHOOK_SECRET',
    'AWS_REGION',
    'SMAD_CONFIG',
  ])
    if (!(name in parsedEnv.active)) problems.push(`smad.env.example: ${name} is not set`);

  const shutdown = Number(all.env.SMAD_SHUTDOWN_TIMEOUT_SECONDS ?? 30);
  const stop = Number(one('TimeoutStopSec'));
  if (!(stop > shutdown))
    problems.push(`smad.service: TimeoutStopSec (${one('TimeoutStopSec')}) must exceed ${shutdown} s`);

  const exec = (one('ExecStart') ?? '').split(/\s+/);
  const main = exec.findIndex((part) => part.endsWith('dist/cli/main.js'));
  if (exec[0] !== '/usr/bin/env' || exec[1] !== 'node' || main < 0)
    problems.push(
      `smad.service: ExecStart is not "/usr/bin/env node .../dist/cli/main.js ...": ${exec.join(' ')}`,
    );
  else {
    const args = exec.slice(main + 1);
    problems.push(...checkStartCommand(args, active.env, 'smad.service + smad.env.example'));
    problems.push(
      ...checkStartCommand(args, all.env, 'smad.service + smad.env.example (commented lines enabled)'),
    );
  }
  return problems;
}
