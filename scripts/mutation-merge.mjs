#!/usr/bin/env node
// Stryker writes its incremental file with the mutants of the run it just made only: a run over
// some files of lib/ would drop the results of all the others. scripts/mutation.sh therefore lets
// Stryker read the committed results and write a file of its own, and this script puts the run's
// files into the committed results in place of their earlier ones, keeping every other file's.
//
//   node scripts/mutation-merge.mjs COMMITTED RUN
//
// Tests are named by numbers that each report assigns afresh (mutants list the tests that
// covered and killed them by those numbers), so the merged file numbers them again, a test being
// its file and its name. A test file the run saw replaces the earlier copy of that file; a file
// of lib/ the run did not measure keeps, in `testsChanged`, the test files covering its mutants
// that changed since it was measured.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';

/** The merged report: `run`'s files and test files over `committed`'s. */
export function merge(committed, run) {
  const ids = new Map();
  const tests = {};
  const idOf = (file, test) => {
    const key = JSON.stringify([file, test.name]);
    let id = ids.get(key);
    if (id === undefined) {
      id = String(ids.size);
      ids.set(key, id);
      tests[file] ??= [];
      tests[file].push({ ...test, id });
    }
    return id;
  };
  /** A report's test ids, as the merged report numbers them. */
  const renumber = (report, keep) => {
    const map = new Map();
    for (const [file, data] of Object.entries(report.testFiles ?? {})) {
      if (!keep(file)) continue;
      for (const t of data.tests) map.set(t.id, idOf(file, t));
    }
    return map;
  };
  const runTestFiles = run.testFiles ?? {};
  const fromRun = renumber(run, () => true);
  // The earlier report's tests in a file the run saw again: the same test if the run still has
  // one of that name, else gone (a mutant it killed is re-tested by the next run).
  const fromCommitted = renumber(committed, (f) => !(f in runTestFiles));
  for (const [file, data] of Object.entries(committed.testFiles ?? {})) {
    if (!(file in runTestFiles)) continue;
    for (const t of data.tests) {
      const id = ids.get(JSON.stringify([file, t.name]));
      if (id !== undefined) fromCommitted.set(t.id, id);
    }
  }
  const mutantsWith = (data, map) => ({
    ...data,
    mutants: data.mutants.map((m) => ({
      ...m,
      ...(m.coveredBy && { coveredBy: m.coveredBy.map((t) => map.get(t)).filter((t) => t !== undefined) }),
      ...(m.killedBy && { killedBy: m.killedBy.map((t) => map.get(t)).filter((t) => t !== undefined) }),
    })),
  });
  // A kept file was measured against the earlier copy of each test file the run saw changed:
  // the test files among those that cover or killed its mutants are named on it (the check says
  // so) until a run measures the file again.
  const fileOfTest = new Map();
  for (const [file, data] of Object.entries(committed.testFiles ?? {})) {
    for (const t of data.tests) fileOfTest.set(t.id, file);
  }
  const changedTests = new Set(
    Object.entries(runTestFiles)
      .filter(([f, data]) => committed.testFiles?.[f] !== undefined && committed.testFiles[f].source !== data.source)
      .map(([f]) => f),
  );
  const testsChangedOf = (data) => {
    const names = new Set(data.testsChanged ?? []);
    for (const m of data.mutants) {
      for (const t of [...(m.coveredBy ?? []), ...(m.killedBy ?? [])]) {
        const file = fileOfTest.get(t);
        if (changedTests.has(file)) names.add(file);
      }
    }
    return [...names].sort();
  };
  const files = {};
  for (const [f, data] of Object.entries(committed.files ?? {})) {
    if (f in run.files) continue;
    const testsChanged = testsChangedOf(data);
    files[f] = mutantsWith(testsChanged.length > 0 ? { ...data, testsChanged } : data, fromCommitted);
  }
  for (const [f, data] of Object.entries(run.files)) files[f] = mutantsWith(data, fromRun);
  const testFiles = {};
  for (const [f, data] of Object.entries({ ...committed.testFiles, ...runTestFiles })) {
    testFiles[f] = { ...data, tests: tests[f] ?? [] };
  }
  const sorted = (o) => Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));
  return { ...run, files: sorted(files), testFiles: sorted(testFiles) };
}

/** JSON with one line per mutant and per test, so that a change to the results reads as a diff. */
export function serialize(report) {
  const j = JSON.stringify;
  const entries = (o, each) => Object.entries(o).map(([k, v]) => `${j(k)}: ${each(v)}`).join(',\n');
  const list = (items) => `[\n${items.map((x) => j(x)).join(',\n')}\n]`;
  const { files, testFiles = {}, ...rest } = report;
  const file = ({ mutants, ...f }) => `{${entries(f, j)},\n"mutants": ${list(mutants)}}`;
  const testFile = ({ tests, ...f }) => `{${entries(f, j)},\n"tests": ${list(tests)}}`;
  const head = Object.keys(rest).length === 0 ? '' : `${entries(rest, j)},\n`;
  return `{${head}"files": {\n${entries(files, file)}\n},\n"testFiles": {\n${entries(testFiles, testFile)}\n}}\n`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [committedFile, runFile] = process.argv.slice(2);
  if (!committedFile || !runFile) {
    console.error('usage: node scripts/mutation-merge.mjs COMMITTED RUN');
    process.exit(2);
  }
  const committed = existsSync(committedFile) ? JSON.parse(readFileSync(committedFile, 'utf8')) : { files: {} };
  const run = JSON.parse(readFileSync(runFile, 'utf8'));
  const merged = merge(committed, run);
  // Only what a check needs: the configuration and environment of the last run say nothing of
  // the others' and would change with every run.
  delete merged.config;
  delete merged.projectRoot;
  delete merged.framework;
  writeFileSync(`${committedFile}.tmp`, serialize(merged));
  renameSync(`${committedFile}.tmp`, committedFile);
  const count = Object.values(merged.files).reduce((n, f) => n + f.mutants.length, 0);
  console.log(
    `mutation results: ${Object.keys(run.files).length} file(s) of this run merged into ${committedFile} (${
      Object.keys(merged.files).length
    } files, ${count} mutants)`,
  );
}
