// A Stryker reporter ('checkpoint', stryker.config.mjs) that keeps a run's results as they come.
// Stryker writes its results (the incremental file) only when the whole run is over, and a run
// over a folder of lib/ takes hours: stopped before the end, every result it had made was lost.
// This reporter writes what is known so far to reports/mutation/checkpoint.json, in the format of
// the incremental file, at most every CHECKPOINT_EVERY_MS and at the end. When a run stops early,
// scripts/mutation.sh merges the checkpoint into the committed results; each file whose mutants
// were not all tested is marked `pending` (how many were not), is not scored
// (scripts/mutation-check.mjs), and its remaining mutants are the ones the next run tests (Stryker
// reuses a result it finds for a mutant and tests the mutants it does not find).
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve } from 'node:path';

import { commonTokens, declareClassPlugin, PluginKind, tokens } from '@stryker-mutator/api/plugin';

export const CHECKPOINT_FILE = 'reports/mutation/checkpoint.json';
const CHECKPOINT_EVERY_MS = 30_000;

/** A path as the results name it: relative to the project, outside Stryker's sandbox. */
export function reportPath(root, fileName) {
  const rel = isAbsolute(fileName) ? relative(root, fileName) : fileName;
  return rel.replace(/^\.stryker-tmp\/sandbox-[^/]+\//, '');
}

/**
 * The results so far, as the incremental file holds them. `tests`: the dry run's tests in its
 * order (their ids become that position, as in Stryker's own report); `planned`: mutants per
 * file; `results`: the mutants reported so far; `read`: a file's source.
 */
export function checkpointReport({ root, tests, planned, results, read }) {
  const ids = new Map(tests.map((t, i) => [t.id, String(i)]));
  const remap = (list) => list?.map((id) => ids.get(id) ?? id);
  const files = {};
  const entryOf = (file) => (files[file] ??= { language: 'typescript', source: read(file), mutants: [] });
  for (const file of planned.keys()) entryOf(file);
  for (const r of results) {
    const file = reportPath(root, r.fileName);
    // Only the files the run mutates: Stryker also reports the earlier results of the others
    // (from the incremental file), and a stop may come before all of them are reported.
    if (!planned.has(file)) continue;
    const mutant = { ...r, killedBy: remap(r.killedBy), coveredBy: remap(r.coveredBy) };
    delete mutant.fileName;
    entryOf(file).mutants.push(mutant);
  }
  for (const [file, entry] of Object.entries(files)) {
    const left = (planned.get(file) ?? 0) - entry.mutants.length;
    if (left > 0) entry.pending = left;
  }
  const testFiles = {};
  for (const t of tests) {
    const file = t.fileName ? reportPath(root, t.fileName) : '';
    const entry = (testFiles[file] ??= { tests: [], ...(file && { source: read(file) }) });
    entry.tests.push({
      id: ids.get(t.id),
      name: t.name,
      ...(t.startPosition && {
        location: { start: { line: t.startPosition.line + 1, column: t.startPosition.column + 1 } },
      }),
    });
  }
  return { schemaVersion: '1.0', files, testFiles };
}

class CheckpointReporter {
  static inject = tokens(commonTokens.logger);
  #log;
  #root = process.cwd();
  #tests = [];
  #planned = new Map();
  #results = [];
  #sources = new Map();
  #last = 0;

  constructor(log) {
    this.#log = log;
  }

  onDryRunCompleted(event) {
    this.#tests = event.result.tests;
  }

  onMutationTestingPlanReady(event) {
    for (const { mutant } of event.mutantPlans) {
      const file = reportPath(this.#root, mutant.fileName);
      this.#planned.set(file, (this.#planned.get(file) ?? 0) + 1);
    }
    // The sources as they were when the run began (scripts/mutation.sh copies them then): a file
    // edited since is not what was measured.
    for (const file of this.#planned.keys()) this.#read(file);
    for (const t of this.#tests) if (t.fileName) this.#read(reportPath(this.#root, t.fileName));
    this.#write();
  }

  onMutantTested(result) {
    this.#results.push(result);
    if (Date.now() - this.#last >= CHECKPOINT_EVERY_MS) this.#write();
  }

  wrapUp() {
    this.#write();
  }

  #read(file) {
    let source = this.#sources.get(file);
    if (source === undefined) {
      try {
        source = readFileSync(resolve(this.#root, process.env.NFCT_MUTATION_SOURCES ?? '.', file), 'utf8');
      } catch {
        source = '';
      }
      this.#sources.set(file, source);
    }
    return source;
  }

  #write() {
    this.#last = Date.now();
    const report = checkpointReport({ root: this.#root, tests: this.#tests, planned: this.#planned,
      results: this.#results, read: (f) => this.#read(f) });
    const file = resolve(this.#root, CHECKPOINT_FILE);
    try {
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(`${file}.tmp`, JSON.stringify(report));
      renameSync(`${file}.tmp`, file);
    } catch (e) {
      this.#log.warn(`mutation checkpoint not written: ${e.message}`);
    }
  }
}

export const strykerPlugins = [declareClassPlugin(PluginKind.Reporter, 'checkpoint', CheckpointReporter)];
