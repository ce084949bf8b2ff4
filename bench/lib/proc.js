/**
 * Process plumbing shared by the benchmark scripts: the repository root, the Node binary,
 * child processes that are always cleaned up (even when a benchmark throws or is
 * interrupted), /proc readings (RSS, CPU time), and small waiting helpers.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

export const ROOT = resolve(import.meta.dirname, '..', '..');
/**
 * The build under test: dist/, or the one SMAD_BENCH_DIST names (to compare two builds, e.g.
 * before and after a change, with the same benchmark code). The smad processes run from it.
 */
export const DIST = process.env.SMAD_BENCH_DIST
  ? resolve(process.env.SMAD_BENCH_DIST)
  : resolve(ROOT, 'dist');
export const CLI = resolve(DIST, 'cli', 'main.js');
/** The Node running the benchmark (Node 24 under `npm run bench`); children use the same. */
export const NODE = process.execPath;

const children = new Set();
let handlersInstalled = false;

function killAll() {
  for (const child of children) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
}

function installHandlers() {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.once('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.once(signal, () => {
      killAll();
      process.exit(130);
    });
  }
}

/** Registers a child process: it is SIGKILLed if the benchmark exits without stopping it. */
export function track(child) {
  installHandlers();
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** Spawns and tracks a child process. */
export function spawnTracked(command, args, options = {}) {
  return track(spawn(command, args, options));
}

/** Resolves when the child exited (at once if it already has). */
export function exited(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((r) => child.once('exit', () => r()));
}

/** Sends `signal`, waits up to `graceMs`, then SIGKILLs. */
export async function stopChild(child, signal = 'SIGTERM', graceMs = 15_000) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited(child);
  clearTimeout(timer);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns a truthy value; throws after timeoutMs naming `what`. */
export async function waitFor(fn, { timeoutMs = 60_000, intervalMs = 50, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/** Resident set size of a process in bytes (VmRSS), or undefined when it is gone. */
export function rssBytes(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

const TICKS_PER_SECOND = 100;

/** CPU time (user + system) a process used so far, in milliseconds. */
export function cpuMs(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[11] = utime, fields[12] = stime (0-based after the comm field)
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

/** Fails early with a clear message when dist/ is missing or Node is too old. */
export function checkPrerequisites() {
  const major = Number(process.versions.node.split('.')[0]);
  if (major < 22) {
    process.stderr.write(
      `benchmarks need Node >= 22 (this is ${process.version}); run them with node_modules/.bin/node or npm run bench\n`,
    );
    process.exit(2);
  }
  if (!existsSync(CLI)) {
    process.stderr.write(`${CLI} is missing: run "npm run build" first (npm run bench does)\n`);
    process.exit(2);
  }
}

/** True when the module at `metaUrl` is the script node was started with. */
export function isMain(metaUrl) {
  return process.argv[1] !== undefined && metaUrl === pathToFileURL(resolve(process.argv[1])).href;
}

/**
 * Runs a benchmark's main function when the script is run directly: prints any error and
 * exits (non-zero on failure), so stray handles never keep it alive.
 */
export function runMain(metaUrl, main) {
  if (!isMain(metaUrl)) return;
  checkPrerequisites();
  main(process.argv.slice(2)).then(
    (code) => process.exit(typeof code === 'number' ? code : 0),
    (err) => {
      process.stderr.write(`${err?.stack ?? err}\n`);
      process.exit(1);
    },
  );
}

/** CPU time by thread name (main thread, V8 workers, libuv pool…) of a process, in ms. */
export function threadCpuMs(pid) {
  const out = {};
  let tids = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ms = ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
      out[name] = (out[name] ?? 0) + ms;
    } catch {
      // the thread ended
    }
  }
  return out;
}
