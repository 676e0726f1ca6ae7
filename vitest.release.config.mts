// The release checks: those that need what scripts/release/ made (the exporter image), and those
// that must run alone (a table filled to 90% of nf_conntrack_max slows conntrack's garbage
// collection machine-wide). Run by scripts/release/ci.sh, one file at a time, not by
// `npx vitest run`.
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
