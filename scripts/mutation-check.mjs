#!/usr/bin/env node
// What CI does about mutation testing. A Stryker run over lib/ takes hours of both cores here,
// beyond CI's budget, so CI runs no mutant: it reads the committed results
// (test/mutation/stryker-incremental.json, made by `npm run test:mutation:refresh`), says for
// which files of lib/ they are current (the source they were measured on is the file's source
// now) and which test files changed since, and applies the targets (scripts/mutation-scores.mjs)
// to the files whose results are current. The last line printed is the summary.
//
//   node scripts/mutation-check.mjs [RESULTS] [EQUIVALENT]
//
// Exits 1 when a target is missed on current results; results missing or stale are reported,
// and fail only with NFCT_MUTATION_STRICT=1.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

import { Instrumenter } from '@stryker-mutator/instrumenter';

import { scores } from './mutation-scores.mjs';

const ROOT = resolve(new URL('..', import.meta.url).pathname);
const [resultsFile = 'test/mutation/stryker-incremental.json', equivalentFile = 'test/mutation/equivalent.json'] =
  process.argv.slice(2);
const strict = process.env.NFCT_MUTATION_STRICT === '1';

/** The files Stryker mutates (stryker.config.mjs: lib/**\/*.ts but the generated layout). */
function mutated(dir = join(ROOT, 'lib')) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return mutated(p);
    const rel = relative(ROOT, p);
    return rel.endsWith('.ts') && !rel.endsWith('.d.ts') && rel !== 'lib/core/layout.ts' ? [rel] : [];
  });
}

const instrumenter = new Instrumenter({
  debug() {},
  info() {},
  trace() {},
  warn: (...a) => console.warn(...a),
  error: (...a) => console.error(...a),
  isDebugEnabled: () => false,
  isTraceEnabled: () => false,
});
/** How many mutants Stryker makes of a source (its defaults: every mutator, nothing excluded). */
async function mutantCount(name, content) {
  const { mutants } = await instrumenter.instrument([{ name, mutate: true, content }], {
    plugins: null,
    excludedMutations: [],
    ignorers: [],
  });
  return mutants.length;
}

const rel = (f) => (f.startsWith('/') ? relative(ROOT, f) : f);
const now = (f) => (existsSync(join(ROOT, f)) ? readFileSync(join(ROOT, f), 'utf8') : undefined);
const done = (line, failed) => {
  console.log(line);
  process.exit(failed ? 1 : 0);
};

const lib = mutated();
if (!existsSync(resolve(ROOT, resultsFile))) {
  done(
    `mutation testing: not measured: no committed results (${resultsFile}; npm run test:mutation:refresh makes them, hours on two cores)`,
    strict,
  );
}
const results = JSON.parse(readFileSync(resolve(ROOT, resultsFile), 'utf8'));
const files = Object.fromEntries(Object.entries(results.files ?? {}).map(([f, d]) => [rel(f), d]));
// Results measured on the source lib/ has now are current once they hold every mutant Stryker
// makes of that source: counted by Stryker's own instrumenter (what a run plans), as a run
// stopped early may have left them short without saying so (`pending`,
// scripts/mutation-checkpoint.mjs). Other files are not scored until a run finishes them.
const current = {};
const unfinished = [];
const stale = [];
for (const [f, d] of Object.entries(files)) {
  if (d.source !== now(f)) {
    stale.push(f);
    continue;
  }
  const left = Math.max(d.pending ?? 0, (await mutantCount(f, d.source)) - d.mutants.length);
  if (left > 0) {
    d.pending = left;
    unfinished.push(f);
  } else current[f] = d;
}
const never = lib.filter((f) => !(f in files));
// Scored, but measured before test files that cover them changed (scripts/mutation-merge.mjs):
// a survivor there may be killed now, a kill may be gone.
const behind = Object.entries(current).filter(([, d]) => (d.testsChanged ?? []).length > 0);
const testsChanged = Object.entries(results.testFiles ?? {})
  .map(([f, d]) => [rel(f), d])
  .filter(([f, d]) => f !== '' && d.source !== undefined && d.source !== now(f))
  .map(([f]) => f);

const equivalent = existsSync(resolve(ROOT, equivalentFile))
  ? JSON.parse(readFileSync(resolve(ROOT, equivalentFile), 'utf8'))
  : [];
const { table } = scores({ files: current }, equivalent);
const pct = (x) => (Number.isNaN(x) ? '-' : `${x.toFixed(1)}%`);
console.log(
  `mutation scores from ${resultsFile}, over the ${
    Object.keys(current).length
  } files of lib/ whose results are current:`,
);
for (const r of table) {
  const valid = r.killed + r.timeout + r.survived + r.noCoverage;
  if (valid === 0 && r.target === undefined) continue;
  console.log(
    `  ${(r.name === 'all' ? 'lib/ overall' : r.name).padEnd(20)} ${pct(r.score).padStart(6)}${
      r.target === undefined ? '' : ` (target ${r.target}%)`
    }${r.ok ? '' : '  BELOW TARGET'}`,
  );
}
const list = (what, xs) =>
  xs.length > 0 && console.log(`${what} (${xs.length}): ${xs.slice(0, 12).join(', ')}${xs.length > 12 ? ', ...' : ''}`);
list('changed since their results were made (not counted)', stale);
list(
  'partly measured, a run stopped before their end (not counted)',
  unfinished.map((f) => `${f} (${files[f].pending} of ${files[f].pending + files[f].mutants.length} left)`),
);
list('never measured', never);
list('test files changed since (kills may differ)', testsChanged);
list(
  'scored, measured before test files covering them changed (a run over them refreshes)',
  behind.map(([f, d]) => `${f} (${d.testsChanged.join(', ')})`),
);

const missed = table.filter((r) => !r.ok).map((r) => (r.name === 'all' ? 'lib/ overall' : r.name));
const fresh = stale.length === 0 && never.length === 0 && unfinished.length === 0 && testsChanged.length === 0 &&
  behind.length === 0;
const summary = [
  `mutation testing: results current for ${Object.keys(current).length} of ${lib.length} files of lib/`,
  fresh
    ? 'tests unchanged'
    : `${
      stale.length + never.length + unfinished.length
    } not current, ${testsChanged.length} test files changed, ${behind.length} measured before their tests changed (npm run test:mutation:refresh)`,
  missed.length > 0 ? `below target: ${missed.join(', ')}` : 'targets met on current results',
].join('; ');
done(summary, missed.length > 0 || (strict && !fresh));
