import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // test/release/ needs the exporter image: scripts/release/ci.sh runs it (vitest.release.config.mts).
    exclude: [...configDefaults.exclude, 'test/release/**'],
    globalSetup: ['test/helpers/global-setup.ts'],
    // Integration tests make their own network namespaces; two workers match the two cores.
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1, execArgv: ['--expose-gc'] } },
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
