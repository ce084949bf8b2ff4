/**
 * A smad daemon as production runs it: the built CLI (`smad start --config FILE --roles ...`)
 * in its own process, configured by a JSON file (endpoint policies cannot come from the
 * environment) and pointed at the local AWS stand-ins by the AWS SDK's variables. Its JSON
 * log lines are read until "smad started"; after that only warnings and errors are kept.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, cpuMs, NODE, rssBytes, spawnTracked, stopChild, waitFor } from './proc.js';

/** {'a.b': 1} → {a: {b: 1}} */
export function nest(dotted) {
  const out = {};
  for (const [key, value] of Object.entries(dotted)) {
    const parts = key.split('.');
    let node = out;
    for (const part of parts.slice(0, -1)) {
      node[part] ??= {};
      node = node[part];
    }
    node[parts[parts.length - 1]] = value;
  }
  return out;
}

/**
 * Starts `smad start`. settings: dotted keys (e.g. {'dispatch.concurrency': 8}); env: extra
 * environment (the AWS variables); nodeArgs: flags for node itself (e.g. --cpu-prof); ready:
 * an async probe replacing the "smad started" log line (needed below log level info); cli:
 * the smad CLI to run (default: the build under test).
 */
export async function startSmadProcess({
  roles,
  settings,
  env = {},
  nodeArgs = [],
  startTimeoutMs = 30_000,
  ready,
  cli = CLI,
}) {
  const dir = mkdtempSync(join(tmpdir(), 'smad-bench-'));
  const configFile = join(dir, 'config.json');
  writeFileSync(configFile, JSON.stringify(nest(settings), null, 2));
  const child = spawnTracked(
    NODE,
    [...nodeArgs, cli, 'start', '--config', configFile, '--roles', roles.join(',')],
    {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      cwd: dir,
    },
  );
  let started = false;
  let buffer = '';
  const problems = [];
  const stderr = [];
  let lines = 0;
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk) => {
    buffer += chunk;
    let newline = buffer.indexOf('\n');
    while (newline >= 0) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
      lines += 1;
      // Cheap filter: only lines that may matter are parsed.
      if (!started && line.includes('"smad started"')) started = true;
      else if (
        line.includes('"level":"warn"') ||
        line.includes('"level":"error"') ||
        line.includes('"level":"fatal"')
      ) {
        if (problems.length < 50) problems.push(line);
      }
      newline = buffer.indexOf('\n');
    }
  });
  // lib/loop-delay.js (when preloaded) reports the event-loop delay on stderr, once a second.
  const loopDelays = [];
  let errBuffer = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => {
    errBuffer += chunk;
    let newline = errBuffer.indexOf('\n');
    while (newline >= 0) {
      const line = errBuffer.slice(0, newline);
      errBuffer = errBuffer.slice(newline + 1);
      if (line.startsWith('{"loopDelayMs"'))
        loopDelays.push({ at: Date.now(), ...JSON.parse(line).loopDelayMs });
      else if (stderr.length < 50) stderr.push(line);
      newline = errBuffer.indexOf('\n');
    }
  });
  try {
    await waitFor(
      () => {
        if (child.exitCode !== null) throw new Error(`smad exited ${child.exitCode}: ${stderr.join('\n')}`);
        return ready ? ready() : started;
      },
      { timeoutMs: startTimeoutMs, what: 'smad started' },
    );
  } catch (err) {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    pid: child.pid,
    child,
    dir,
    problems,
    stderr,
    loopDelays,
    get logLines() {
      return lines;
    },
    rss: () => rssBytes(child.pid),
    cpuMs: () => cpuMs(child.pid),
    /** Graceful stop (SIGTERM), as a supervisor would; keeps `dir` when keepDir (profiles). */
    async stop({ keepDir = false } = {}) {
      await stopChild(child, 'SIGTERM', 20_000);
      if (!keepDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
