// What CI says about mutation testing (scripts/mutation-check.mjs): the committed results scored
// only where lib/ still has the source they were measured on, the rest named as stale, and a
// missing results file said, never taken for a pass of the targets.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, test } from 'vitest';

const ROOT = join(__dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'nfct-mutation-check-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const FILE = 'lib/nflog/types.ts';
const source = readFileSync(join(ROOT, FILE), 'utf8');

/** A mutant of line 1 of FILE with this status. */
const mutant = (id: number, status: string) => ({ id: String(id), mutatorName: 'StringLiteral', replacement: `"m${id}"`,
  location: { start: { line: 1, column: 1 }, end: { line: 1, column: 3 } }, status });

function check(results: object | undefined,
  env: Record<string, string> = {}): { code: number | null; out: string; last: string }
{
  const file = join(dir, `results-${Math.random().toString(16).slice(2)}.json`);
  if (results) writeFileSync(file, JSON.stringify(results));
  const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'mutation-check.mjs'), file, join(dir, 'none.json')], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });
  const lines = r.stdout.trim().split('\n');
  return { code: r.status, out: r.stdout, last: lines[lines.length - 1]! };
}

describe('mutation results in CI', () => {
  test('no results: said as not measured; a failure only when strict', () => {
    const r = check(undefined);
    expect(r.last).toMatch(/^mutation testing: not measured: no committed results/);
    expect(r.code).toBe(0);
    expect(check(undefined, { NFCT_MUTATION_STRICT: '1' }).code).toBe(1);
  });

  test('results for a file whose source is unchanged are scored; other files are named as not current', () => {
    const r = check({
      files: {
        [FILE]: { source, mutants: [1, 2, 3, 4].map((i) => mutant(i, 'Killed')).concat(mutant(5, 'Survived')) },
      },
    });
    expect(r.out).toMatch(/lib\/nflog +80\.0% \(target 80%\)\n/);
    expect(r.out).toContain('never measured');
    expect(r.last).toMatch(/^mutation testing: results current for 1 of \d+ files of lib\/; \d+ not current/);
    expect(r.last).toContain('targets met on current results');
    expect(r.code).toBe(0);
    expect(check({ files: { [FILE]: { source, mutants: [mutant(1, 'Killed')] } } }, { NFCT_MUTATION_STRICT: '1' }).code)
      .toBe(1);
  });

  test('below a target on current results: named, exit status 1', () => {
    const r = check({
      files: { [FILE]: { source, mutants: [mutant(1, 'Killed'), mutant(2, 'Survived'), mutant(3, 'NoCoverage')] } },
    });
    expect(r.out).toMatch(/lib\/nflog +33\.3% \(target 80%\) +BELOW TARGET/);
    expect(r.last).toContain('below target: lib/nflog, lib/ overall');
    expect(r.code).toBe(1);
  });

  test('results measured on another source are not counted, however good; changed test files are named', () => {
    const r = check({
      files: { [FILE]: { source: `${source}// changed\n`, mutants: [mutant(1, 'Killed')] } },
      testFiles: { 'test/nflog/nflog.test.ts': { source: 'an older version', tests: [] } },
    });
    expect(r.out).toMatch(/changed since their results were made \(not counted\) \(1\): lib\/nflog\/types\.ts/);
    expect(r.out).toMatch(/test files changed since \(kills may differ\) \(1\): test\/nflog\/nflog\.test\.ts/);
    expect(r.out).toMatch(/lib\/nflog +- \(target 80%\)/);
    expect(r.last).toMatch(/^mutation testing: results current for 0 of \d+ files/);
  });
  test('results measured before test files covering them changed: scored, and named with those test files', () => {
    const r = check({
      files: {
        [FILE]: { source, testsChanged: ['test/nflog/nflog.test.ts'],
          mutants: [1, 2, 3, 4].map((i) => mutant(i, 'Killed')).concat(mutant(5, 'Survived')) },
      },
    });
    expect(r.out).toMatch(/lib\/nflog +80\.0% \(target 80%\)\n/);
    expect(r.out).toMatch(
      /scored, measured before test files covering them changed \(a run over them refreshes\) \(1\): lib\/nflog\/types\.ts \(test\/nflog\/nflog\.test\.ts\)/,
    );
    expect(r.last).toMatch(/, 1 measured before their tests changed /);
    expect(r.code).toBe(0);
    expect(
      check({ files: { [FILE]: { source, testsChanged: ['test/x.test.ts'], mutants: [mutant(1, 'Killed')] } } }, {
        NFCT_MUTATION_STRICT: '1',
      }).code,
    ).toBe(1);
  });

  test('a file a stopped run did not finish is not scored, however its tested mutants went; said with what is left', () => {
    const r = check({
      files: { [FILE]: { source, pending: 7, mutants: [mutant(1, 'Survived'), mutant(2, 'Survived')] } },
    });
    expect(r.out).toMatch(
      /partly measured, a run stopped before their end \(not counted\) \(1\): lib\/nflog\/types\.ts \(7 of 9 left\)/,
    );
    expect(r.out).toMatch(/lib\/nflog +- \(target 80%\)/);
    expect(r.last).toMatch(/^mutation testing: results current for 0 of \d+ files/);
    expect(r.code).toBe(0);
    expect(
      check({ files: { [FILE]: { source, pending: 1, mutants: [mutant(1, 'Killed')] } } }, {
        NFCT_MUTATION_STRICT: '1',
      }).code,
    )
      .toBe(1);
  });

  test('results short of the mutants Stryker makes of the source are partly measured, whatever `pending` says', async () => {
    // Counted by Stryker's own instrumenter, as a run plans them.
    const file = 'lib/nflog/logline-format.ts';
    const text = readFileSync(join(ROOT, file), 'utf8');
    const quiet = () => undefined;
    const { Instrumenter } = await import('@stryker-mutator/instrumenter');
    const { mutants } = await new Instrumenter(
      { debug: quiet, info: quiet, trace: quiet, warn: quiet, error: quiet, isDebugEnabled: () => false,
        isTraceEnabled: () => false } as never,
    ).instrument(
      [{ name: file, mutate: true, content: text }],
      { plugins: null, excludedMutations: [], ignorers: [] },
    );
    expect(mutants.length).toBeGreaterThan(10);
    const all = mutants.map((_, i) => mutant(i, 'Killed'));
    const short = check({ files: { [file]: { source: text, mutants: all.slice(3) } } });
    expect(short.out).toContain(`${file} (3 of ${mutants.length} left)`);
    expect(short.out).toMatch(/lib\/nflog +- \(target 80%\)/);
    const whole = check({ files: { [file]: { source: text, mutants: all } } });
    expect(whole.out).toMatch(/lib\/nflog +100\.0% \(target 80%\)/);
    expect(whole.out).not.toContain('partly measured');
  });
});
