import { defineConfig } from 'vitest/config';

/**
 * Tests that measure a rate at the emulator (the property itself is a rate) run after the
 * rest, one file at a time, so that other suites competing for the two cores do not skew
 * what they measure. Everything else runs two files at a time: suites start their own
 * redis-server, fauxqs and emulator.
 */
const MEASURING = [
  'test/flow/rate-limits.test.ts',
  'test/flow/in-flight.test.ts',
  'test/flow/isolation.test.ts',
];

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    maxWorkers: 2,
    reporters: ['default', ['json', { outputFile: 'test-results/vitest.json' }]],
    projects: [
      {
        extends: true,
        test: {
          name: 'main',
          include: ['test/**/*.test.ts'],
          exclude: MEASURING,
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: { name: 'measuring', include: MEASURING, fileParallelism: false, sequence: { groupOrder: 1 } },
      },
    ],
  },
});
