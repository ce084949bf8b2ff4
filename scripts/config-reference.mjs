#!/usr/bin/env node
// Renders the configuration reference from the convict schema into README.md, between
// <!-- config-reference:start --> and <!-- config-reference:end -->.
//
//   node scripts/config-reference.mjs --write   rewrite the block (npm run docs:config)
//   node scripts/config-reference.mjs --check   exit 1 if the block is out of date (npm run docs:check)
//   --readme FILE                               another file than README.md (tests)
//
// Reads the compiled schema from dist/: run `npm run build` first (the npm scripts do).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const usage = 'usage: node scripts/config-reference.mjs --write | --check [--readme FILE]';

function fail(message, code = 2) {
  process.stderr.write(`config-reference: ${message}\n`);
  process.exit(code);
}

const args = process.argv.slice(2);
let mode;
let readmePath = resolve(root, 'README.md');
for (let i = 0; i < args.length; i++) {
  const arg = args[i];
  if (arg === '--write' || arg === '--check') {
    if (mode && mode !== arg) fail(`give one of --write and --check\n${usage}`);
    mode = arg;
  } else if (arg === '--readme') {
    const file = args[++i];
    if (!file) fail(`--readme needs a file\n${usage}`);
    readmePath = resolve(file);
  } else {
    fail(`unknown argument ${JSON.stringify(arg)}\n${usage}`);
  }
}
if (!mode) fail(usage);

const compiled = resolve(root, 'dist', 'config', 'reference.js');
if (!existsSync(compiled)) fail(`${compiled} is missing: run "npm run build" first`);
const { renderConfigReference, extractConfigReference, replaceConfigReference } = await import(
  pathToFileURL(compiled).href
);

let readme;
try {
  readme = readFileSync(readmePath, 'utf8');
} catch (err) {
  fail(`cannot read ${readmePath}: ${err.message}`);
}

const reference = renderConfigReference();
let current;
try {
  current = extractConfigReference(readme);
} catch (err) {
  fail(`${readmePath}: ${err.message}`);
}

if (mode === '--check') {
  if (current === reference) {
    process.stdout.write(`${readmePath}: the configuration reference is up to date\n`);
    process.exit(0);
  }
  const want = reference.split('\n');
  const have = current.split('\n');
  let line = 0;
  while (line < want.length && want[line] === have[line]) line++;
  process.stderr.write(
    `${readmePath}: the configuration reference differs from src/config/schema.ts ` +
      `(first difference at line ${line + 1} of the block).\n` +
      `  README:    ${JSON.stringify(have[line] ?? '(end of block)')}\n` +
      `  generated: ${JSON.stringify(want[line] ?? '(end of block)')}\n` +
      'Run "npm run docs:config" and commit README.md.\n',
  );
  process.exit(1);
}

if (current === reference) {
  process.stdout.write(`${readmePath}: the configuration reference was already up to date\n`);
} else {
  // Read again right before writing: others may be editing the README.
  const latest = readFileSync(readmePath, 'utf8');
  writeFileSync(readmePath, replaceConfigReference(latest, reference));
  process.stdout.write(`${readmePath}: configuration reference written\n`);
}
