// Loaded only under Stryker (vitest.config.mts adds it when STRYKER_MUTATOR_WORKER is set).
// Many tests run the CLI or the library in a child process (`node dist/cli/main.js`, the shell
// lines of the differential corpus, bundles run by other users). In the sandbox dist/ and the
// bundles are built from the instrumented lib/, so children can take part:
// - the active mutant goes to them in __STRYKER_ACTIVE_MUTANT__, which instrumented code reads;
// - what they executed during the coverage run (written at exit by child-coverage.cjs, loaded
//   through NODE_OPTIONS) is added to the coverage of the test that started them, so Stryker
//   runs that test for those mutants;
// - what this file's modules executed while they loaded is added to the coverage of the tests
//   that used those modules (test/mutation/static-coverage.ts).
import { chmodSync, copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, afterEach, beforeAll, beforeEach, inject } from 'vitest';

import { attributeStatic, type Hits, mutantFiles } from './static-coverage.js';

interface StrykerNs {
  activeMutant?: string;
  currentTestId?: string;
  mutantCoverage?: { static: Hits; perTest: Record<string, Hits> };
}
const g = globalThis as { __stryker__?: StrykerNs };
const ns = (g.__stryker__ ??= {});

// A mutant runs with the test file from its start: active before the file imports lib/, so that
// a mutant in code that runs while a module loads takes effect. Stryker makes a mutant active
// only in a beforeAll hook when it runs some tests only (as it does for every mutant here), which
// is after the imports: such a mutant would survive every test in this process. Each test file
// runs in a fresh worker (vitest's isolation), so its modules load with the mutant active.
const provided = inject as unknown as (key: string) => unknown;
if (provided('mode') === 'mutant') ns.activeMutant = provided('activeMutant') as string;

// World-readable (unprivileged children load the preload from here), writable by all.
const dir = mkdtempSync(join(tmpdir(), 'nfct-mutation-'));
chmodSync(dir, 0o1777);
const preload = join(dir, 'child-coverage.cjs');
copyFileSync(join(__dirname, 'child-coverage.cjs'), preload);
chmodSync(preload, 0o644);
process.env.NFCT_MUTATION_COVERAGE_DIR = dir;
process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --require ${preload}`.trim();

function mergeChildren(): void {
  if (ns.activeMutant !== undefined) return;
  const cov = (ns.mutantCoverage ??= { static: {}, perTest: {} });
  for (const name of readdirSync(dir)) {
    if (!name.endsWith('.json')) continue;
    const file = join(dir, name);
    let data: { test?: string; hits: Hits };
    try {
      data = JSON.parse(readFileSync(file, 'utf8')) as { test?: string; hits: Hits };
    } catch {
      continue; // still being written: the next merge takes it
    }
    rmSync(file, { force: true });
    // A child started outside any test (a server a beforeAll starts for the whole file): every
    // test of the file may depend on it, so what it ran goes to all of them (in afterAll).
    addHits(data.test ? (cov.perTest[data.test] ??= {}) : fileWide, data.hits);
  }
}

function addHits(into: Hits, hits: Hits): void {
  for (const [id, n] of Object.entries(hits)) into[id] = (into[id] ?? 0) + n;
}

/** What children started outside any test executed, and the tests of this file so far. */
const fileWide: Hits = {};
const fileTests = new Set<string>();

function attributeFileWide(cov: { perTest: Record<string, Hits> }): void {
  for (const test of fileTests) addHits(cov.perTest[test] ??= {}, fileWide);
}

beforeAll(() => {
  if (ns.activeMutant !== undefined) process.env.__STRYKER_ACTIVE_MUTANT__ = ns.activeMutant;
  else delete process.env.__STRYKER_ACTIVE_MUTANT__;
});

// The coverage run loads the files being mutated before any test: what runs while a module
// loads is then counted as loading (static), given to every test of this file that uses the
// module (attributeStatic, in afterAll). A module a test loads lazily (nfct's commands, run in
// this process by test/support/run-nfct.ts) would otherwise count its tables for that one test
// only, and a mutant in them would run against it alone. lib/cli/bin.ts runs the CLI as it loads.
if (ns.activeMutant === undefined) {
  beforeAll(async () => {
    const lib = join(__dirname, '..', '..', 'lib');
    for (const name of instrumentedSources().keys()) {
      if (name === join('cli', 'bin.ts')) continue;
      await import(join(lib, name));
    }
  });
}
beforeEach(() => {
  if (!ns.currentTestId) return;
  process.env.NFCT_MUTATION_TEST = ns.currentTestId;
  fileTests.add(ns.currentTestId);
});
afterEach(() => {
  mergeChildren();
  delete process.env.NFCT_MUTATION_TEST;
});

let instrumented: Map<string, string> | undefined;

/** The instrumented files of lib/ in the sandbox (the files being mutated), by path; read once. */
function instrumentedSources(): Map<string, string> {
  if (instrumented) return instrumented;
  const sources = (instrumented = new Map<string, string>());
  const lib = join(__dirname, '..', '..', 'lib');
  for (const name of readdirSync(lib, { recursive: true, encoding: 'utf8' })) {
    if (!name.endsWith('.ts')) continue;
    const text = readFileSync(join(lib, name), 'utf8');
    if (text.includes('stryMutAct_9fa48(')) sources.set(name, text);
  }
  return sources;
}

afterAll(() => {
  mergeChildren();
  if (ns.activeMutant === undefined && ns.mutantCoverage) {
    attributeFileWide(ns.mutantCoverage);
    attributeStatic(ns.mutantCoverage, mutantFiles(instrumentedSources()), fileTests);
  }
  rmSync(dir, { recursive: true, force: true });
});
