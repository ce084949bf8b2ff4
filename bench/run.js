/**
 * Runs every benchmark in bench/: each `bench/*.bench.js` file, in name order, as its own
 * `node` process (so one benchmark's processes and handles never affect the next), with
 * the output passed through. `npm run bench` builds first, then runs this.
 *
 *   node bench/run.js                 every benchmark
 *   node bench/run.js rate-limit ...  only those whose file name contains one of the words
 *
 * Exits 1 when a benchmark failed (exited non-zero), after running the rest.
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { checkPrerequisites, NODE } from './lib/proc.js';

const HERE = import.meta.dirname;

function runOne(file) {
  return new Promise((resolveRun) => {
    const started = Date.now();
    const child = spawn(NODE, [join(HERE, file)], { stdio: 'inherit' });
    child.once('exit', (code, signal) =>
      resolveRun({ file, code: code ?? (signal ? 128 : 1), signal, seconds: (Date.now() - started) / 1000 }),
    );
  });
}

checkPrerequisites();
const filters = process.argv.slice(2);
const files = readdirSync(HERE)
  .filter((name) => name.endsWith('.bench.js'))
  .filter((name) => filters.length === 0 || filters.some((word) => name.includes(word)))
  .sort();
if (files.length === 0) {
  process.stderr.write(`no benchmark matches ${filters.join(', ')}\n`);
  process.exit(2);
}
const results = [];
for (const file of files) {
  process.stdout.write(`\n=== ${file} ===\n`);
  results.push(await runOne(file));
}
process.stdout.write('\n=== summary ===\n');
for (const r of results)
  process.stdout.write(
    `${r.code === 0 ? 'ok    ' : 'FAILED'} ${r.file} (${r.seconds.toFixed(1)} s${r.code === 0 ? '' : `, exit ${r.signal ?? r.code}`})\n`,
  );
process.exit(results.some((r) => r.code !== 0) ? 1 : 0);
