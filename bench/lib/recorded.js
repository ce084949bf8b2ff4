/**
 * Figures measured before the hot-path fixes made with these benchmarks (issue #8), printed
 * next to the current ones. Measured with `node bench/roundtrips.bench.js` (500 jobs,
 * dispatch concurrency 16) on the tree of that day without those fixes, twice (19.8 and 19.6
 * round trips, 20.4 and 20.1 commands per job). To measure another build the same way:
 * `SMAD_BENCH_DIST=/path/to/other/dist node bench/roundtrips.bench.js`.
 */
export const ROUND_TRIPS_BEFORE = {
  roundTrips: 19.7,
  commands: 20.25,
  /** Per job, by command or script. */
  byCommand: {
    HGETALL: 5,
    'ledger:CLAIM': 2,
    'ledger:ADVANCE': 2,
    'bullmq:moveToFinished': 2,
    'bullmq:moveToActive': 1.4,
    'bullmq:promote': 1,
    'flow:ACQUIRE': 1,
    'flow:EXTEND': 1,
    'bullmq:moveToDelayed': 1,
    'bullmq:addStandardJob': 1,
    'bullmq:updateData': 1,
    'ledger:SET_FIELDS': 1,
    HGET: 0,
  },
};
