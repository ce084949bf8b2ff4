import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CONFIG_REFERENCE_END,
  CONFIG_REFERENCE_START,
  extractConfigReference,
  listSettings,
  renderConfigReference,
  replaceConfigReference,
} from '../../src/config/reference.js';
import { schemaDefinition } from '../../src/config/schema.js';
import { REPO_ROOT } from './run-cli.js';

const README = join(REPO_ROOT, 'README.md');
const SCRIPT = join(REPO_ROOT, 'scripts', 'config-reference.mjs');

describe('the README configuration reference', () => {
  // This is the CI check: change the schema, run `npm run docs:config`, commit the README.
  it('matches the schema (run "npm run docs:config" if this fails)', () => {
    const readme = readFileSync(README, 'utf8');
    expect(extractConfigReference(readme)).toBe(renderConfigReference());
  });
});

describe('renderConfigReference', () => {
  const reference = renderConfigReference();
  const rows = reference.split('\n').filter((line) => line.startsWith('| `'));

  it('has one row per setting, with its environment variable and JSON default', () => {
    const settings = listSettings();
    expect(settings.length).toBeGreaterThan(40);
    for (const setting of settings) {
      const row = rows.find((r) => r.startsWith(`| \`${setting.key}\` |`));
      expect(row, setting.key).toBeDefined();
      if (setting.env) expect(row).toContain(`| \`${setting.env}\` |`);
      else expect(row).toContain('config file only');
      expect(row).toContain(`\`${JSON.stringify(setting.default)}\``);
    }
  });

  it('covers the keys the product contract fixes, and marks secrets', () => {
    const keys = listSettings().map((s) => s.key);
    for (const key of [
      'redis.url',
      'queue.name',
      'queue.prefix',
      'roles',
      'dispatch.concurrency',
      'endpoints',
      'limits.accountMaxTps',
      'staging.s3Uri',
      'completions.queueUrls',
      'webhooks.defaultUrl',
      'webhooks.secret',
      'webhooks.allowPrivateNetworks',
      'http.port',
      'http.authTokens',
      'ledger.retentionDays',
      'log.level',
    ])
      expect(keys).toContain(key);
    const secretRows = rows.filter((r) => r.includes('**Secret:**'));
    expect(secretRows.map((r) => r.split('|')[1]?.trim())).toEqual([
      '`webhooks.secret`',
      '`http.authTokens`',
    ]);
  });

  it('says which variables take comma-separated lists', () => {
    for (const key of ['roles', 'completions.queueUrls', 'webhooks.secret', 'http.authTokens'])
      expect(rows.find((r) => r.startsWith(`| \`${key}\` |`))).toContain('comma-separated');
    expect(rows.find((r) => r.startsWith('| `http.port` |'))).not.toContain('comma-separated');
  });

  it('explains every field of an endpoint policy', () => {
    const section = reference.slice(reference.indexOf('### Endpoint policies'));
    for (const field of ['maxTps', 'burst', 'maxInFlight', 'region', 'notifications'])
      expect(section).toContain(`| \`${field}\` |`);
  });

  it('keeps every row a well-formed table row', () => {
    for (const row of rows) {
      const cells = row.replace(/\\\|/g, '').split('|').length - 2;
      expect([4, 5], row).toContain(cells);
    }
  });

  it('lists nested and top-level settings of any schema', () => {
    const settings = listSettings({
      a: { b: { doc: 'deep', format: 'nat', default: 1, env: 'X_B' } },
      top: { doc: 'top', format: ['x', 'y'], default: 'x' },
      secret: { doc: 's', format: 'string-list', default: [], env: 'X_S', sensitive: true },
    });
    expect(settings).toEqual([
      { key: 'a.b', env: 'X_B', default: 1, doc: 'deep', type: 'integer ≥ 0', sensitive: false, list: false },
      {
        key: 'top',
        env: undefined,
        default: 'x',
        doc: 'top',
        type: 'one of `x`, `y`',
        sensitive: false,
        list: false,
      },
      {
        key: 'secret',
        env: 'X_S',
        default: [],
        doc: 's',
        type: 'list of strings',
        sensitive: true,
        list: true,
      },
    ]);
    expect(schemaDefinition.redis.url.env).toBe('SMAD_REDIS_URL');
  });
});

describe('README block helpers', () => {
  const readme = `# x\n\nbefore\n\n${CONFIG_REFERENCE_START}\nold\n${CONFIG_REFERENCE_END}\n\nafter\n`;

  it('replace then extract round-trips, leaving the rest alone', () => {
    const next = replaceConfigReference(readme, 'new table\n');
    expect(next).toBe(
      `# x\n\nbefore\n\n${CONFIG_REFERENCE_START}\nnew table\n${CONFIG_REFERENCE_END}\n\nafter\n`,
    );
    expect(extractConfigReference(next)).toBe('new table\n');
    expect(replaceConfigReference(next, 'new table\n')).toBe(next);
  });

  it('refuses a README without markers, or with two blocks', () => {
    expect(() => extractConfigReference('# nothing')).toThrow(/no .*config-reference:start/);
    expect(() => extractConfigReference(readme + readme)).toThrow(/more than one/);
  });
});

describe('scripts/config-reference.mjs', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'smad-readme-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const run = (...args: string[]) => {
    const result = spawnSync(process.execPath, [SCRIPT, ...args], { encoding: 'utf8', cwd: REPO_ROOT });
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
  };

  it('--check fails on a stale block, --write fixes it, then --check passes', () => {
    expect(existsSync(join(REPO_ROOT, 'dist', 'config', 'reference.js')), 'npm run build first').toBe(true);
    const path = join(dir, 'README.md');
    const stale = `# t\n\n${CONFIG_REFERENCE_START}\n| stale |\n${CONFIG_REFERENCE_END}\n\n## Next\n`;
    writeFileSync(path, stale);
    const check = run('--check', '--readme', path);
    expect(check.status).toBe(1);
    expect(check.stderr).toContain('differs from src/config/schema.ts');
    expect(check.stderr).toContain('npm run docs:config');
    expect(readFileSync(path, 'utf8')).toBe(stale);

    const write = run('--write', '--readme', path);
    expect(write.status, write.stderr).toBe(0);
    const written = readFileSync(path, 'utf8');
    expect(extractConfigReference(written)).toBe(renderConfigReference());
    expect(written.startsWith('# t\n\n')).toBe(true);
    expect(written.endsWith(`${CONFIG_REFERENCE_END}\n\n## Next\n`)).toBe(true);

    expect(run('--check', '--readme', path).status).toBe(0);
  });

  it('exits 2 on bad usage or a README without the markers', () => {
    expect(run().status).toBe(2);
    expect(run('--bogus').status).toBe(2);
    const path = join(dir, 'no-markers.md');
    writeFileSync(path, '# nothing here\n');
    const result = run('--check', '--readme', path);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('config-reference:start');
  });
});
