// The release checks that need what scripts/release/ made (the exporter image): run by
// scripts/release/ci.sh, not by `npx vitest run`.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/release/**/*.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    pool: 'forks',
    poolOptions: { forks: { maxForks: 1, minForks: 1 } },
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
