/**
 * Summarises a V8 CPU profile (.cpuprofile, from node --cpu-prof): self time by function and
 * by origin (smad's own code, bullmq, ioredis, the AWS SDK, pino, node internals, GC, idle).
 * Usage: node bench/lib/profile.js FILE.cpuprofile [--top 25]
 */
import { readFileSync } from 'node:fs';
import { isMain } from './proc.js';

export function origin(url) {
  if (!url) return 'native/vm';
  if (!url.includes('node_modules/') && url.includes('/dist/')) {
    const m = /\/dist\/([^/]+)\//.exec(url);
    return `smad:${m?.[1] ?? '?'}`;
  }
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (pkg) {
    const name = pkg[1];
    if (name.startsWith('@aws-sdk') || name.startsWith('@smithy') || name.startsWith('@aws-crypto'))
      return 'aws-sdk';
    return name;
  }
  if (url.startsWith('node:')) return 'node';
  return url;
}

export function summarise(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  const intervals = profile.timeDeltas;
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i];
    self.set(id, (self.get(id) ?? 0) + (intervals[i] ?? 0));
  }
  const byFunction = new Map();
  const byOrigin = new Map();
  let total = 0;
  let idle = 0;
  for (const [id, us] of self) {
    const node = byId.get(id);
    const cf = node.callFrame;
    if (cf.functionName === '(idle)') {
      idle += us;
      continue;
    }
    total += us;
    const where = cf.url ? `${cf.url.replace(/^.*\/(node_modules|dist)\//, '$1/')}:${cf.lineNumber + 1}` : '';
    const key = `${cf.functionName || '(anonymous)'} ${where}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + us);
    const o =
      cf.functionName === '(garbage collector)'
        ? 'gc'
        : cf.functionName === '(program)'
          ? 'program'
          : origin(cf.url);
    byOrigin.set(o, (byOrigin.get(o) ?? 0) + us);
  }
  const sort = (m) => [...m.entries()].sort((a, b) => b[1] - a[1]);
  return { total, idle, byFunction: sort(byFunction), byOrigin: sort(byOrigin) };
}

if (isMain(import.meta.url)) {
  const file = process.argv[2];
  const top = Number(process.argv[process.argv.indexOf('--top') + 1]) || 25;
  const s = summarise(JSON.parse(readFileSync(file, 'utf8')));
  const pct = (us) => `${((100 * us) / s.total).toFixed(1).padStart(5)}%`;
  process.stdout.write(
    `busy ${(s.total / 1000).toFixed(0)} ms, idle ${(s.idle / 1000).toFixed(0)} ms\n\nby origin:\n`,
  );
  for (const [o, us] of s.byOrigin.slice(0, 20)) process.stdout.write(`${pct(us)}  ${o}\n`);
  process.stdout.write('\nby function (self):\n');
  for (const [f, us] of s.byFunction.slice(0, top)) process.stdout.write(`${pct(us)}  ${f}\n`);
}
