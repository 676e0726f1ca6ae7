#!/usr/bin/env node
// Hand-picked mutations of native/ (test/mutation/native-mutants.json: filters, counters,
// flags), each built and run against the test files that should catch it. Stryker mutates
// TypeScript only; this is the native side's smaller counterpart.
//
//   node scripts/native-mutations.mjs [ID...]      (npm run test:mutation:native)
//
// Works in a copy of the checkout (node_modules linked, build/ copied so that only the mutated
// file is recompiled); the checkout itself is never changed. Writes reports/mutation/native.md
// and exits 1 when a mutation is not caught or does not build.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

const ROOT = resolve(dirname(new URL(import.meta.url).pathname), '..');
const list = JSON.parse(readFileSync(join(ROOT, 'test/mutation/native-mutants.json'), 'utf8'));
const wanted = process.argv.slice(2);
const mutants = wanted.length > 0 ? list.filter((m) => wanted.includes(m.id)) : list;

const work = mkdtempSync(join(tmpdir(), 'nfct-native-mutants-'));
const run = (cmd, args, opts = {}) =>
  spawnSync('nice', ['-n', '19', cmd, ...args], { cwd: work, encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
const results = [];
try {
  const files = spawnSync('git', ['ls-files', '-z'], { cwd: ROOT, encoding: 'utf8' }).stdout.split('\0').filter(
    Boolean,
  );
  for (const f of files) {
    mkdirSync(dirname(join(work, f)), { recursive: true });
    cpSync(join(ROOT, f), join(work, f), { preserveTimestamps: true });
  }
  for (const d of ['build', 'dist']) {
    cpSync(join(ROOT, d), join(work, d), { recursive: true, preserveTimestamps: true });
  }
  symlinkSync(join(ROOT, 'node_modules'), join(work, 'node_modules'), 'dir');

  for (const m of mutants) {
    const file = join(work, m.file);
    const original = readFileSync(file, 'utf8');
    if (original.split(m.from).length !== 2) {
      results.push({ ...m, result: 'stale', detail: 'the text to change is not in the file once' });
      continue;
    }
    process.stderr.write(`[native mutation] ${m.id}: ${m.what}\n`);
    writeFileSync(file, original.replace(m.from, m.to));
    try {
      const build = run('npx', ['--no-install', 'node-gyp', 'build', '-j', '2', '--loglevel=error']);
      if (build.status !== 0) {
        results.push({ ...m, result: 'no build',
          detail: build.stderr.split('\n').filter((l) => l.includes('error')).slice(0, 3).join(' ') });
        continue;
      }
      const out = join(work, 'vitest-report.json');
      rmSync(out, { force: true });
      const t = run('npx', ['--no-install', 'vitest', 'run', '--reporter=json', `--outputFile.json=${out}`, ...m.tests],
        { env: { ...process.env, CI: '1' } });
      let failed = [];
      try {
        const report = JSON.parse(readFileSync(out, 'utf8'));
        failed = report.testResults.flatMap((f) =>
          f.assertionResults.filter((a) => a.status === 'failed').map((a) =>
            `${f.name.replace(`${work}/`, '')} > ${a.title}`
          )
        );
        if (failed.length === 0 && report.numFailedTestSuites > 0) failed = ['a test file failed to run'];
      } catch {
        // No report: say why (a crash of the test process is a catch too, but it must be seen).
        const why = `${t.stdout}\n${t.stderr}`.split('\n').filter((l) =>
          /Error|error:|FAIL|Abort|Segmentation|signal/.test(l)
        ).slice(0, 2).map((l) => l.trim()).join(' / ');
        failed = t.status === 0 ? [] : [`vitest exited with ${t.status ?? t.signal}${why ? `: ${why}` : ''}`];
      }
      const detail = failed.slice(0, 3).join('; ') + (failed.length > 3 ? `; and ${failed.length - 3} more` : '');
      // A mutation listed as equivalent (with the reason) is expected to survive.
      results.push({ ...m, result: failed.length > 0 ? 'caught' : m.equivalent ? 'equivalent' : 'survived',
        detail: failed.length > 0 ? detail : (m.equivalent ?? '') });
    } finally {
      writeFileSync(file, original);
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

const md = [
  '| mutation | file | what | result | failing tests |',
  '|---|---|---|---|---|',
  ...results.map((r) => `| ${r.id} | ${r.file} | ${r.what} | ${r.result} | ${r.detail.replaceAll('|', '\\|')} |`),
].join('\n');
mkdirSync(join(ROOT, 'reports/mutation'), { recursive: true });
writeFileSync(join(ROOT, 'reports/mutation/native.md'), `${md}\n`);
console.log(md);
const missed = results.filter((r) => r.result !== 'caught' && r.result !== 'equivalent');
const equivalent = results.filter((r) => r.result === 'equivalent').length;
console.log(
  `\n${results.length - missed.length - equivalent} of ${results.length} native mutations caught${
    equivalent ? `, ${equivalent} equivalent` : ''
  }`,
);
process.exit(missed.length > 0 ? 1 : 0);
