/**
 * Diagnostic preload for a smad process (`node --import bench/lib/loop-delay.js ...`):
 * samples its event-loop delay and writes one JSON line a second to stderr,
 * {"loopDelayMs": {p50, p99, max}}, for the second just past (beyond the 10 ms sampling
 * interval). The latency benchmark uses it
 * to tell time spent waiting for the loop (CPU contention, long synchronous work) from time
 * spent waiting for I/O.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';

const RESOLUTION_MS = 10;
const histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
histogram.enable();
// The histogram records each interval between the sampling timer's ticks, resolution
// included: the delay is what exceeds the resolution.
const ms = (ns) => Math.max(0, Math.round(ns / 1e4) / 100 - RESOLUTION_MS);
setInterval(() => {
  process.stderr.write(
    `${JSON.stringify({ loopDelayMs: { p50: ms(histogram.percentile(50)), p99: ms(histogram.percentile(99)), max: ms(histogram.max) } })}\n`,
  );
  histogram.reset();
}, 1000).unref();
