import { configDefaults, defineConfig } from 'vitest/config';

import FastFirstSequencer from './test/mutation/sequencer.mjs';

// Under Stryker (npm run test:mutation) children of a test run the mutated code too.
const mutation = process.env.STRYKER_MUTATOR_WORKER !== undefined;
// `scripts/mutation.sh --tests GLOBS`: a quick look with some test files only (a lower bound).
const only = mutation ? process.env.NFCT_MUTATION_TESTS : undefined;

export default defineConfig({
  test: {
    include: only ? only.split(',') : ['test/**/*.test.ts'],
    // test/release/ needs the exporter image: scripts/release/ci.sh runs it (vitest.release.config.mts).
    // Under Stryker, test/types/ is left out: the sandbox's declarations are built from the
    // instrumented sources, which Stryker marks @ts-nocheck, and a mutant changes no type.
    exclude: [...configDefaults.exclude, 'test/release/**', ...(mutation ? ['test/types/**'] : [])],
    globalSetup: ['test/helpers/global-setup.ts'],
    setupFiles: mutation ? ['test/mutation/setup.ts'] : [],
    // A mutation run is hours of tests on a shared machine: one flaky failure would stop it
    // (the first run must pass whole) or count as a kill; a mutant's failure fails twice.
    retry: mutation ? 1 : 0,
    // A mutant's run stops at its first failure: the fastest test files first.
    ...(mutation ? { sequence: { sequencer: FastFirstSequencer } } : {}),
    // Integration tests make their own network namespaces; two workers match the two cores.
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1, execArgv: ['--expose-gc'] } },
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
