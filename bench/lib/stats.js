/** Small numeric and formatting helpers for benchmark output. */

/** The p-th percentile (0..100) of numbers, nearest-rank on a sorted copy. */
export function percentile(values, p) {
  if (values.length === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

/** The median: the middle value, or the mean of the two middle ones. */
export function median(values) {
  if (values.length === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort();
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function fmt(value, digits = 1) {
  if (value === undefined || Number.isNaN(value)) return 'n/a';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function mib(bytes) {
  return `${fmt(bytes / 1024 / 1024, 1)} MiB`;
}

/** Prints rows (arrays of cells) as an aligned text table with a header. */
export function table(header, rows) {
  const all = [header, ...rows].map((row) => row.map((cell) => String(cell)));
  const widths = header.map((_, i) => Math.max(...all.map((row) => row[i]?.length ?? 0)));
  const line = (row) =>
    row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ');
  return [line(all[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...all.slice(1).map(line)].join('\n');
}

/** Writes a line to stdout (benchmarks print as they go). */
export function say(text = '') {
  process.stdout.write(`${text}\n`);
}

/**
 * One line describing the machine and how busy it is: benchmarks on a shared 2-core
 * machine are only as good as its quiet; a load average above the core count is flagged.
 */
export async function machineLine() {
  const os = await import('node:os');
  const { redisVersion } = await import('./redis.js');
  const cores = os.cpus().length;
  const load = os.loadavg();
  const busy = load[0] > cores * 0.75 ? '  [machine busy: figures are unreliable]' : '';
  return `  machine: ${cores} cores (${os.cpus()[0]?.model ?? 'cpu'}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, Redis ${redisVersion()}; load average ${load.map((l) => l.toFixed(2)).join(' ')}${busy}`;
}
