// Mutants in code that runs while a module loads (a table of names, a Set of flags) are "static"
// to Stryker: with `ignoreStatic` it runs only the tests its coverage run saw executing them
// during a test, and left alone it would run none. Two things went wrong with that here:
// - a CLI child loads every module while a test runs, so a module's tables were counted as
//   covered by whichever tests spawn the CLI, and only those tests ran for them (a Set of TCP
//   flag names was run against `nfct -L` tests, never against the tests that parse TCP flags);
// - the tests that do use the table (call the functions that read it) were not counted at all.
// The fix, applied by test/mutation/setup.ts at the end of each test file's coverage run: a
// mutant executed while this file's modules loaded is counted as covered by every test of the
// file that executed code of the same source file. Stryker then runs those tests for it, with
// the mutant active from the module's load.
// A module of tables only (lib/conntrack/constants.ts: every mutant of it runs while it loads)
// has no code a test executes; the tests that use its tables run the code of the modules that
// import it, which in a run over some files only are not instrumented. Its mutants are counted
// as covered by every test of the file (each test file loads every module being mutated).

/** Coverage as Stryker's instrumented code counts it: mutant id to hits. */
export type Hits = Record<string, number>;
export interface MutantCoverage {
  static: Hits;
  perTest: Record<string, Hits>;
}

/** The marker calls of instrumented code, with the ids of the mutants they stand for. */
const MARKER = /stry(?:MutAct|Cov)_9fa48\(([^)]*)\)/g;

/**
 * Which source file each mutant id belongs to, from the instrumented sources: Stryker numbers
 * a run's mutants file by file.
 */
export function mutantFiles(sources: ReadonlyMap<string, string>): Map<string, string> {
  const files = new Map<string, string>();
  for (const [file, text] of sources) {
    for (const m of text.matchAll(MARKER)) {
      for (const id of m[1]!.matchAll(/"(\d+)"/g)) files.set(id[1]!, file);
    }
  }
  return files;
}

/**
 * Adds each mutant executed while modules loaded (`cov.static`) to every test that executed
 * code of its file (in place), and those of a file whose mutants all ran while it loaded to
 * every test in `tests` (this test file's). Returns how many test-mutant pairs were added.
 */
export function attributeStatic(cov: MutantCoverage, fileOf: ReadonlyMap<string, string>,
  tests: Iterable<string> = []): number
{
  const staticByFile = new Map<string, string[]>();
  for (const id of Object.keys(cov.static)) {
    const file = fileOf.get(id);
    if (file === undefined) continue;
    let ids = staticByFile.get(file);
    if (!ids) staticByFile.set(file, ids = []);
    ids.push(id);
  }
  let added = 0;
  if (staticByFile.size === 0) return added;
  /** Counts `ids` as run by the test of `hits`, those it has not run already. */
  const give = (hits: Hits, ids: readonly string[]): void => {
    for (const id of ids) {
      if (hits[id] !== undefined) continue;
      hits[id] = 1;
      added++;
    }
  };
  const mutants = new Map<string, number>();
  for (const file of fileOf.values()) mutants.set(file, (mutants.get(file) ?? 0) + 1);
  const tablesOnly = [...staticByFile].filter(([file, ids]) => ids.length === mutants.get(file));
  for (const test of tablesOnly.length > 0 ? tests : []) {
    for (const [, ids] of tablesOnly) give(cov.perTest[test] ??= {}, ids);
  }
  for (const hits of Object.values(cov.perTest)) {
    const touched = new Set<string>();
    for (const id of Object.keys(hits)) {
      const file = fileOf.get(id);
      if (file !== undefined) touched.add(file);
    }
    for (const file of touched) give(hits, staticByFile.get(file) ?? []);
  }
  return added;
}
