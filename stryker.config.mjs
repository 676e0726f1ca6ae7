// Mutation testing of lib/ (`npm run test:mutation`; docs/development.md, "Writing a test").
// Stryker changes one expression at a time ("a mutant") and runs the tests that reached it;
// a mutant no test fails on is a place where the suite would not notice a bug.
//
// The suite talks to the kernel: a mutant runs only the tests that executed its line in the
// first (coverage) run. A mutant executed while a module loads (a table, a Set of names) runs the
// tests that used that module (test/mutation/static-coverage.ts); one no test used is left out
// (`ignoreStatic`: every test would have to run for it). Results are kept in the committed
// incremental file, so a run re-tests only the mutants whose code or covering tests changed.
const scope = process.env.NFCT_MUTATE;
// Some test files only (scripts/mutation.sh --tests): results kept apart from the committed ones,
// which are always the whole suite's.
const partial = process.env.NFCT_MUTATION_TESTS !== undefined;

export default {
  $schema: './node_modules/@stryker-mutator/core/schema/stryker-schema.json',
  packageManager: 'npm',
  testRunner: 'vitest',
  // Every test file in the first run, not only those that import the mutated files: most CLI
  // tests reach lib/ only through the `nfct` processes they start (test/cli/expect.test.ts
  // imports no command module, yet is the one that checks `-S expect`).
  vitest: { configFile: 'vitest.config.mts', related: false },
  checkers: ['typescript'],
  tsconfigFile: 'tsconfig.json',
  typescriptChecker: { prioritizePerformanceOverAccuracy: true },
  // lib/core/layout.ts is generated from native/layout (its own test compares it with the addon).
  mutate: scope ? scope.split(',') : ['lib/**/*.ts', '!lib/core/layout.ts'],
  // Children that run the CLI (`node dist/cli/main.js`, shell lines of the differential corpus)
  // run the mutated code too: dist/ is rebuilt from the instrumented lib/ in the sandbox, and
  // test/mutation/setup.ts hands the active mutant and the current test to them.
  buildCommand: 'npm run --silent build:ts',
  coverageAnalysis: 'perTest',
  // Some lifecycle tests count what a garbage collection releases.
  testRunnerNodeArgs: ['--expose-gc'],
  ignoreStatic: true,
  // Two cores; the kernel-bound tests mostly wait, one runner per core keeps both busy.
  concurrency: Number(process.env.NFCT_MUTATION_CONCURRENCY ?? 2),
  // Tests that wait for the kernel vary with the machine's load: generous bounds.
  timeoutMS: 30_000,
  timeoutFactor: 2,
  dryRunTimeoutMinutes: 60,
  incremental: true,
  // scripts/mutation.sh hands Stryker a copy of the committed results
  // (test/mutation/stryker-incremental.json) and merges what the run wrote back into them:
  // Stryker's own file would hold the files of the last run only.
  incrementalFile: partial
    ? 'reports/mutation/stryker-incremental-partial.json'
    : 'reports/mutation/stryker-incremental-run.json',
  // 'checkpoint' (scripts/mutation-checkpoint.mjs) keeps the results of a run stopped early.
  plugins: ['@stryker-mutator/*', './scripts/mutation-checkpoint.mjs'],
  reporters: ['html', 'json', 'clear-text', 'progress', 'checkpoint'],
  htmlReporter: { fileName: 'reports/mutation/index.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  clearTextReporter: { allowColor: false, logTests: false, reportScoreTable: true, reportMutants: false },
  // scripts/mutation-scores.mjs applies the per-folder targets (and fails below them).
  thresholds: { high: 80, low: 70, break: null },
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
  ignorePatterns: ['reports', 'docs/api', 'bench/c/out', 'build-memcheck', '.stryker-tmp',
    'test/mutation/stryker-incremental.json'],
};
