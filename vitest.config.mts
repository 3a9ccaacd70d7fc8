import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Real engines and s3rver start per file; two workers match the two cores CI has.
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 180_000,
    setupFiles: ['test/support/setup-env.ts'],
    reporters: ['default', './test/support/summary-reporter.ts'],
    // A passing run lists the files and the summary; per-test timings belong to npm run bench, not to the log.
    slowTestThreshold: 3_600_000,
  },
});
