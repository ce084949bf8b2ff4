/**
 * Diagnostic preload for a smad process (`node --import bench/lib/loop-delay.js ...`):
 * samples its event-loop delay and writes one JSON line a second to stderr,
 * {"loopDelayMs": {p50, p99, max}}, for the second just past. The latency benchmark uses it
 * to tell time spent waiting for the loop (CPU contention, long synchronous work) from time
 * spent waiting for I/O.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';

const histogram = monitorEventLoopDelay({ resolution: 10 });
histogram.enable();
const ms = (ns) => Math.round(ns / 1e4) / 100;
setInterval(() => {
  process.stderr.write(
    `${JSON.stringify({ loopDelayMs: { p50: ms(histogram.percentile(50)), p99: ms(histogram.percentile(99)), max: ms(histogram.max) } })}\n`,
  );
  histogram.reset();
}, 1000).unref();
