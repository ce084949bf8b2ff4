/**
 * Counts the Redis commands clients send, with MONITOR: by connection (named from CLIENT
 * LIST) and by command, EVALSHA resolved to the Lua script's name (BullMQ's and smad's own).
 * Commands run inside Lua scripts are reported separately (Redis work, not round trips).
 * A MULTI…EXEC block is one round trip; so is a blocking read.
 */
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DIST } from './proc.js';

const require = createRequire(import.meta.url);
const bullScripts = require(
  resolve(import.meta.dirname, '..', '..', 'node_modules', 'bullmq', 'dist', 'cjs', 'scripts', 'index.js'),
);

const sha1 = (text) => createHash('sha1').update(text).digest('hex');

// The scripts of the build under test (SMAD_BENCH_DIST may name another build).
const flowScripts = await import(pathToFileURL(resolve(DIST, 'flow', 'scripts.js')).href);
const ledgerScripts = await import(pathToFileURL(resolve(DIST, 'ledger', 'scripts.js')).href);

/** sha1 → script name, for every Lua script smad or BullMQ defines. */
export function scriptNames() {
  const names = new Map();
  for (const script of Object.values(bullScripts)) {
    if (script && typeof script.content === 'string')
      names.set(sha1(script.content), `bullmq:${script.name}`);
  }
  for (const [name, lua] of Object.entries(ledgerScripts))
    if (typeof lua === 'string') names.set(sha1(lua), `ledger:${name}`);
  for (const [name, lua] of Object.entries(flowScripts))
    if (typeof lua === 'string') names.set(sha1(lua), `flow:${name}`);
  return names;
}

function clientNames(listing) {
  const out = new Map();
  for (const line of listing.split('\n')) {
    const addr = /\baddr=(\S+)/.exec(line)?.[1];
    const name = /\bname=(\S*)/.exec(line)?.[1];
    if (addr) out.set(addr, name || '(unnamed)');
  }
  return out;
}

/**
 * Starts counting. `redis` is a bench/lib/redis.js server; `ignoreNames` are client names
 * whose commands are not counted (the benchmark's own producer and probes). Returns
 * { stop(): Promise<Report> }.
 */
export async function startMonitor(redis, { ignoreNames = [] } = {}) {
  const names = scriptNames();
  const admin = redis.client({ connectionName: 'bench-monitor' });
  const monitor = await redis.client({ connectionName: 'bench-monitor' }).monitor();
  const addrNames = new Map();
  const refresh = async () => {
    for (const [addr, name] of clientNames(await admin.client('LIST'))) addrNames.set(addr, name);
  };
  await refresh();
  const timer = setInterval(() => refresh().catch(() => {}), 200);
  const events = [];
  monitor.on('monitor', (_time, args, source) => events.push([source, args[0], args[1]]));
  return {
    async stop() {
      clearInterval(timer);
      await refresh();
      monitor.disconnect();
      admin.disconnect();
      const ignored = new Set(
        [...addrNames].filter(([, name]) => ignoreNames.includes(name)).map(([addr]) => addr),
      );
      const byCommand = new Map();
      const byConnection = new Map();
      const inLua = new Map();
      const inMulti = new Set();
      let commands = 0;
      let roundTrips = 0;
      for (const [source, rawCmd, arg1] of events) {
        const cmd = String(rawCmd).toUpperCase();
        if (source === 'lua') {
          inLua.set(cmd, (inLua.get(cmd) ?? 0) + 1);
          continue;
        }
        if (ignored.has(source)) continue;
        if (cmd === 'MONITOR' || cmd === 'CLIENT') continue;
        const label =
          cmd === 'EVALSHA' || cmd === 'EVAL'
            ? (names.get(cmd === 'EVAL' ? sha1(String(arg1)) : String(arg1)) ?? `${cmd}?`)
            : cmd;
        commands += 1;
        if (cmd === 'MULTI') inMulti.add(source);
        if (!inMulti.has(source)) roundTrips += 1;
        if (cmd === 'EXEC' || cmd === 'DISCARD') inMulti.delete(source);
        byCommand.set(label, (byCommand.get(label) ?? 0) + 1);
        const conn = addrNames.get(source) ?? source;
        byConnection.set(conn, (byConnection.get(conn) ?? 0) + 1);
      }
      const sort = (m) => [...m.entries()].sort((a, b) => b[1] - a[1]);
      return {
        commands,
        roundTrips,
        byCommand: sort(byCommand),
        byConnection: sort(byConnection),
        inLua: sort(inLua),
      };
    },
  };
}
