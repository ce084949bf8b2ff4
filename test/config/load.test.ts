import { randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/config-error.js';
import {
  DEFAULT_CONFIG_FILE,
  type LoadOptions,
  loadConfig,
  type SmadConfig,
  unknownSmadVariables,
} from '../../src/config/load.js';
import { REPO_ROOT, runCli } from './run-cli.js';

const secret = () => `whsec_${randomBytes(32).toString('base64')}`;

let dir: string;
let n = 0;

/** Writes a JSON (or raw text) config file into the suite's directory. */
function file(content: unknown, name = `config-${++n}.json`): string {
  const path = join(dir, name);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

function load(options: LoadOptions): SmadConfig {
  return loadConfig({ skipDefaultFile: true, env: {}, ...options });
}

/** The problems a configuration has (fails the test if it loads). */
function problems(options: LoadOptions): string[] {
  try {
    load(options);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

function errorText(options: LoadOptions): string {
  try {
    load(options);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).message;
  }
  throw new Error('expected a ConfigError');
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'smad-config-'));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('precedence', () => {
  it('schema defaults < --config file < SMAD_* variables < flags', () => {
    const fromFile = file({
      dispatch: { concurrency: 4, maxAttempts: 3 },
      log: { level: 'debug' },
      queue: { name: 'from-file' },
      roles: ['dispatcher'],
      http: { port: 9001 },
    });
    const config = load({
      files: [fromFile],
      env: { SMAD_DISPATCH_CONCURRENCY: '8', SMAD_LOG_LEVEL: 'warn', SMAD_ROLES: 'dispatcher,completions' },
      overrides: { roles: 'http,webhooks', 'dispatch.concurrency': 12 },
    });
    expect(config.dispatch.concurrency).toBe(12); // flag beats env and file
    expect(config.roles).toEqual(['http', 'webhooks']); // flag beats env and file
    expect(config.log.level).toBe('warn'); // env beats file
    expect(config.queue.name).toBe('from-file'); // file beats default
    expect(config.dispatch.maxAttempts).toBe(3);
    expect(config.http.port).toBe(9001);
    expect(config.webhooks.timeoutSeconds).toBe(15); // schema default
    expect(config.queue.prefix).toBe('smad');
  });

  it('an undefined flag value leaves the lower sources in force', () => {
    const config = load({ env: { SMAD_ROLES: 'completions' }, overrides: { roles: undefined } });
    expect(config.roles).toEqual(['completions']);
  });

  it('a later --config file wins over an earlier one, key by key', () => {
    const first = file({ queue: { name: 'first', prefix: 'p1' }, log: { level: 'debug' } });
    const second = file({ queue: { name: 'second' } });
    const config = load({ files: [first, second] });
    expect(config.queue.name).toBe('second');
    expect(config.queue.prefix).toBe('p1');
    expect(config.log.level).toBe('debug');
  });

  it('SMAD_CONFIG names several files, comma-separated; --config files come after them', () => {
    const a = file({ queue: { name: 'a' }, ledger: { retentionDays: 3 }, log: { level: 'error' } });
    const b = file({ queue: { name: 'b' }, limits: { accountMaxTps: 40 } });
    const c = file({ log: { level: 'trace' } });
    const config = load({ env: { SMAD_CONFIG: ` ${a} , ${b} ` } });
    expect(config.queue.name).toBe('b');
    expect(config.ledger.retentionDays).toBe(3);
    expect(config.limits.accountMaxTps).toBe(40);
    expect(config.log.level).toBe('error');
    const withFlag = load({ env: { SMAD_CONFIG: `${a},${b}` }, files: [c] });
    expect(withFlag.log.level).toBe('trace');
    expect(withFlag.queue.name).toBe('b');
  });

  it('endpoint entries from files merge, a named endpoint inheriting from "*"', () => {
    const base = file({ endpoints: { '*': { maxTps: 10, maxInFlight: 100 } } });
    const named = file({
      endpoints: { '*': { maxTps: 10, maxInFlight: 100 }, whisper: { maxTps: 2, region: 'eu-west-1' } },
    });
    const config = load({ files: [base, named] });
    expect(config.endpoints['*']).toMatchObject({
      maxTps: 10,
      maxInFlight: 100,
      burst: 1,
      notifications: true,
    });
    expect(config.endpoints.whisper).toEqual({
      maxTps: 2,
      maxInFlight: 100,
      burst: 1,
      region: 'eu-west-1',
      notifications: true,
    });
  });

  it('the packaged config/default.json is read unless skipped, and is valid', () => {
    expect(DEFAULT_CONFIG_FILE).toBe(join(REPO_ROOT, 'config', 'default.json'));
    expect(loadConfig({ env: {} })).toEqual(load({ files: [DEFAULT_CONFIG_FILE] }));
  });

  describe('through the CLI, with config/default.json in play', () => {
    // A copy of the built package whose config/default.json sets values of its own, so each
    // layer is visible: schema default < config/default.json < SMAD_CONFIG < --config < SMAD_*.
    let pkg: string;
    beforeAll(() => {
      pkg = mkdtempSync(join(tmpdir(), 'smad-package-'));
      cpSync(join(REPO_ROOT, 'dist'), join(pkg, 'dist'), { recursive: true });
      cpSync(join(REPO_ROOT, 'package.json'), join(pkg, 'package.json'));
      symlinkSync(join(REPO_ROOT, 'node_modules'), join(pkg, 'node_modules'), 'dir');
      mkdirSync(join(pkg, 'config'));
      writeFileSync(
        join(pkg, 'config', 'default.json'),
        JSON.stringify({
          queue: { name: 'from-default-json', prefix: 'default-json' },
          log: { level: 'error' },
          ledger: { retentionDays: 2 },
          dispatch: { concurrency: 2 },
          webhooks: { timeoutSeconds: 5 },
        }),
      );
    });
    afterAll(() => rmSync(pkg, { recursive: true, force: true }));

    it('each layer overrides the one before it', () => {
      const viaEnvVar = file({
        ledger: { retentionDays: 4 },
        log: { level: 'warn' },
        dispatch: { concurrency: 3 },
      });
      const viaFlag = file({ log: { level: 'debug' }, dispatch: { concurrency: 5 } });
      const result = runCli(
        ['config', 'check', '--config', viaFlag],
        { SMAD_CONFIG: viaEnvVar, SMAD_DISPATCH_CONCURRENCY: '9' },
        { cli: join(pkg, 'dist', 'cli', 'main.js') },
      );
      expect(result.stderr).toBe('');
      expect(result.status).toBe(0);
      const config = JSON.parse(result.stdout) as SmadConfig;
      expect(config.http.port).toBe(8080); // schema default
      expect(config.queue.prefix).toBe('default-json'); // config/default.json
      expect(config.webhooks.timeoutSeconds).toBe(5); // config/default.json
      expect(config.ledger.retentionDays).toBe(4); // SMAD_CONFIG file beats default.json
      expect(config.log.level).toBe('debug'); // --config file beats SMAD_CONFIG file
      expect(config.dispatch.concurrency).toBe(9); // SMAD_* beats every file
      expect(config.queue.name).toBe('from-default-json');
    });
  });
});

describe('problems', () => {
  it('names every bad key at once: variables, file keys, unknown keys and endpoint entries', () => {
    const bad = file({
      queue: { prefix: 'a:b' },
      unknownKey: 1,
      webhooks: { bogus: true },
      completions: { unknownPolicy: 'shred' },
      endpoints: {
        '*': { maxTps: -1 },
        'bad_name!': {},
        whisper: { region: 'mars', foo: 1, burst: 0.5, notifications: 'yes' },
      },
    });
    const found = problems({
      files: [bad],
      env: {
        SMAD_DISPATCH_CONCURRENCY: 'abc',
        SMAD_HTTP_PORT: '99999',
        SMAD_ROLES: 'dispatcher,bogus',
        SMAD_COMPLETIONS_QUEUE_URL: 'https://sqs.eu-west-1.amazonaws.com/1/q,notaurl',
        SMAD_LOG_LEVEL: 'loud',
        SMAD_REDIS_URL: 'http://redis:6379',
        SMAD_STAGING_S3_URI: 'https://bucket/prefix',
        SMAD_WEBHOOK_URL: 'ftp://hooks.example.com',
        SMAD_WEBHOOK_SCHEDULE_SECONDS: '0,5,-1',
        SMAD_FLOW_DECREASE_FACTOR: '2',
      },
    });
    const text = found.join('\n');
    for (const key of [
      'dispatch.concurrency',
      'http.port',
      'roles',
      'completions.queueUrls',
      'log.level',
      'redis.url',
      'staging.s3Uri',
      'webhooks.defaultUrl',
      'webhooks.scheduleSeconds',
      'flow.decreaseFactor',
      'queue.prefix',
      'completions.unknownPolicy',
    ]) {
      expect(
        found.some((p) => p.startsWith(`${key}:`)),
        `a problem naming ${key} in:\n${text}`,
      ).toBe(true);
    }
    expect(text).toContain("'unknownKey' not declared");
    expect(text).toContain("'webhooks.bogus' not declared");
    expect(text).toContain('endpoints["bad_name!"]');
    expect(text).toContain('endpoints.*.maxTps');
    expect(text).toContain('endpoints.whisper.region');
    expect(text).toContain('endpoints.whisper.foo');
    expect(text).toContain('endpoints.whisper.burst');
    expect(text).toContain('endpoints.whisper.notifications');
    expect(text).toContain('"bogus"');
    expect(text).toContain('"notaurl"');
  });

  it('names a file that is not valid JSON and a file that does not exist, with the others', () => {
    const broken = file('{"queue": {"name": "x",}}', 'broken.json');
    const notObject = file('[1, 2]', 'array.json');
    const missing = join(dir, 'missing.json');
    const found = problems({ files: [broken, missing, notObject], env: { SMAD_HTTP_PORT: 'x' } });
    expect(found).toContainEqual(expect.stringMatching(new RegExp(`^config file ${broken}: not valid JSON`)));
    expect(found).toContain(`config file ${missing}: not found`);
    expect(found).toContain(`config file ${notObject}: must hold a JSON object`);
    expect(found.some((p) => p.startsWith('http.port:'))).toBe(true);
  });

  it('a missing file named by SMAD_CONFIG is named too', () => {
    const missing = join(dir, 'nowhere.json');
    expect(problems({ env: { SMAD_CONFIG: missing } })).toEqual([`config file ${missing}: not found`]);
  });

  it('the CLI prints every problem and exits 2', () => {
    const bad = file({ queue: { prefix: 'a b' }, nope: true });
    const result = runCli(['config', 'check', '--config', bad], {
      SMAD_ROLES: 'dispatcher,nope',
      SMAD_HTTP_PORT: '-1',
    });
    expect(result.status).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('invalid configuration');
    for (const needle of ['queue.prefix', "'nope' not declared", 'roles:', 'http.port:'])
      expect(result.stderr).toContain(needle);
  });
});

describe('secrets', () => {
  it('a bad webhook secret or auth token is never echoed in a configuration error', () => {
    const envSecret = 'ENV-SECRET-4f1c9a';
    const fileSecret = 'whsec_FILE-SECRET-77ad';
    const token = 'TOKEN-SECRET-d2e8';
    const fromFile = file({ webhooks: { secret: [fileSecret] }, http: { authTokens: [token] } });
    const message = errorText({ env: { SMAD_WEBHOOK_SECRET: envSecret, SMAD_HTTP_PORT: 'no' } });
    expect(message).toContain('webhooks.secret');
    expect(message).not.toContain(envSecret);
    const fromFileMessage = errorText({ files: [fromFile], env: { SMAD_LOG_LEVEL: 'nope' } });
    expect(fromFileMessage).toContain('webhooks.secret');
    expect(fromFileMessage).not.toContain('FILE-SECRET');
    expect(fromFileMessage).not.toContain(token);
  });

  it('smad config check prints secrets, tokens and the redis password redacted', () => {
    const webhookSecrets = [secret(), secret()];
    const tokens = ['tok-alpha-93c1', 'tok-beta-0b7e'];
    const redisPassword = 'redis-pw-5a9d';
    const result = runCli(['config', 'check'], {
      SMAD_WEBHOOK_SECRET: webhookSecrets.join(','),
      SMAD_HTTP_AUTH_TOKENS: tokens.join(','),
      SMAD_REDIS_URL: `rediss://default:${redisPassword}@redis.internal:6380/0`,
    });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    for (const hidden of [
      ...webhookSecrets,
      ...tokens,
      redisPassword,
      ...webhookSecrets.map((s) => s.slice(6)),
    ])
      expect(result.stdout).not.toContain(hidden);
    const printed = JSON.parse(result.stdout) as SmadConfig;
    expect(printed.webhooks.secret).toEqual(['[redacted]', '[redacted]']);
    expect(printed.http.authTokens).toEqual(['[redacted]', '[redacted]']);
    expect(printed.redis.url).toMatch(/^rediss:\/\/default:.*redacted.*@redis\.internal:6380\/0$/);
  });

  it('smad config check with a bad secret exits 2 without echoing it', () => {
    const badSecret = 'whsec_tooshort';
    const token = 'tok-gamma-11aa';
    const result = runCli(['config', 'check'], {
      SMAD_WEBHOOK_SECRET: badSecret,
      SMAD_HTTP_AUTH_TOKENS: token,
      SMAD_HTTP_PORT: '70000',
    });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('webhooks.secret');
    expect(`${result.stdout}${result.stderr}`).not.toContain('tooshort');
    expect(`${result.stdout}${result.stderr}`).not.toContain(token);
  });

  // V8's JSON.parse message quotes a snippet of the file: only the position may be reported.
  it('a config file that is not valid JSON does not echo the secret next to the error', () => {
    const broken = file('{"webhooks": {"secret": whsec_TOPSECRETVALUE}}', 'leaky.json');
    expect(errorText({ files: [broken] })).not.toContain('TOPS');
  });

  it('an invalid redis URL is not echoed with its password', () => {
    expect(errorText({ env: { SMAD_REDIS_URL: 'http://user:hunter2@redis:6379' } })).not.toContain('hunter2');
  });
});

describe('environment variables', () => {
  it('comma-separated lists: SMAD_COMPLETIONS_QUEUE_URL, SMAD_ROLES and the other list settings', () => {
    const [a, b] = [secret(), secret()];
    const config = load({
      env: {
        SMAD_COMPLETIONS_QUEUE_URL:
          'https://sqs.eu-west-1.amazonaws.com/123456789012/smad-a, https://sqs.us-east-1.amazonaws.com/123456789012/smad-b',
        SMAD_ROLES: 'dispatcher, webhooks',
        SMAD_WEBHOOK_SECRET: `${a},${b}`,
        SMAD_HTTP_AUTH_TOKENS: 't1,t2,t3',
        SMAD_WEBHOOK_ALLOW_LIST: '10.1.0.0/16, hooks.internal',
        SMAD_WEBHOOK_SCHEDULE_SECONDS: '0,1.5,10',
      },
    });
    expect(config.completions.queueUrls).toEqual([
      'https://sqs.eu-west-1.amazonaws.com/123456789012/smad-a',
      'https://sqs.us-east-1.amazonaws.com/123456789012/smad-b',
    ]);
    expect(config.roles).toEqual(['dispatcher', 'webhooks']);
    expect(config.webhooks.secret).toEqual([a, b]);
    expect(config.http.authTokens).toEqual(['t1', 't2', 't3']);
    expect(config.webhooks.allowList).toEqual(['10.1.0.0/16', 'hooks.internal']);
    expect(config.webhooks.scheduleSeconds).toEqual([0, 1.5, 10]);
  });

  it('one URL in SMAD_COMPLETIONS_QUEUE_URL is a list of one; an empty variable an empty list', () => {
    const url = 'https://sqs.eu-west-1.amazonaws.com/123456789012/smad-completions';
    expect(load({ env: { SMAD_COMPLETIONS_QUEUE_URL: url } }).completions.queueUrls).toEqual([url]);
    expect(load({ env: { SMAD_COMPLETIONS_QUEUE_URL: '' } }).completions.queueUrls).toEqual([]);
  });

  it('SMAD_ROLES with no role at all is refused', () => {
    expect(problems({ env: { SMAD_ROLES: ' , ' } }).join('\n')).toContain('roles:');
  });

  it('numbers and booleans are coerced from their text', () => {
    const config = load({
      env: {
        SMAD_HTTP_PORT: '8081',
        SMAD_WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
        SMAD_HTTP_AUTH: 'false',
        SMAD_FLOW_DECREASE_FACTOR: '0.25',
      },
    });
    expect(config.http.port).toBe(8081);
    expect(config.webhooks.allowPrivateNetworks).toBe(true);
    expect(config.http.auth).toBe(false);
    expect(config.flow.decreaseFactor).toBe(0.25);
  });

  // convict's own Boolean reads every text but "false" as true; smad's booleans are strict.
  it('SMAD_WEBHOOK_ALLOW_PRIVATE_NETWORKS=0 does not allow private networks', () => {
    let allowed: boolean | undefined;
    try {
      allowed = load({ env: { SMAD_WEBHOOK_ALLOW_PRIVATE_NETWORKS: '0' } }).webhooks.allowPrivateNetworks;
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError); // refusing the value is fine too
      return;
    }
    expect(allowed).toBe(false);
  });

  it('variables smad does not know are ignored, not errors', () => {
    expect(() => load({ env: { SMAD_NOT_A_SETTING: '1', AWS_REGION: 'eu-west-1' } })).not.toThrow();
  });
});

describe('strict settings', () => {
  it('refuses a boolean it does not understand, naming the key', () => {
    let message = '';
    try {
      loadConfig({ skipDefaultFile: true, env: { SMAD_WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'ture' } });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain('webhooks.allowPrivateNetworks: must be true or false');
    expect(loadConfig({ skipDefaultFile: true, env: { SMAD_HTTP_AUTH: 'off' } }).http.auth).toBe(false);
    expect(loadConfig({ skipDefaultFile: true, env: { SMAD_HTTP_AUTH: 'Yes' } }).http.auth).toBe(true);
  });

  it('refuses a dispatch concurrency of 0', () => {
    expect(() => loadConfig({ skipDefaultFile: true, env: { SMAD_DISPATCH_CONCURRENCY: '0' } })).toThrow(
      /dispatch\.concurrency: must be an integer >= 1/,
    );
  });

  it('names SMAD_* variables that no setting reads', () => {
    expect(
      unknownSmadVariables({ SMAD_REDIS_URI: 'x', SMAD_REDIS_URL: 'redis://h', SMAD_CONFIG: 'f', PATH: '/' }),
    ).toEqual(['SMAD_REDIS_URI']);
  });
});
