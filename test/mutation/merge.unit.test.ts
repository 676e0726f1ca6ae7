// A mutation run over some files of lib/ merged into the committed results
// (scripts/mutation-merge.mjs): the run's files replace their earlier results, the others are
// kept, and every mutant still names the tests that covered and killed it.
import { describe, expect, test } from 'vitest';

// @ts-expect-error -- a script of the repository, plain JavaScript without declarations
import { merge, serialize } from '../../scripts/mutation-merge.mjs';

interface Mutant {
  id: string;
  status: string;
  coveredBy?: string[];
  killedBy?: string[];
}
interface Report {
  files: Record<string, { source: string; mutants: Mutant[]; testsChanged?: string[] }>;
  testFiles?: Record<string, { source: string; tests: { id: string; name: string }[] }>;
}
const mergeReports = merge as (committed: Report, run: Report) => Report;

/** Each mutant's status with the names of the tests that killed and covered it. */
function named(r: Report): Record<string, string[]> {
  const names = new Map<string, string>();
  for (const [file, data] of Object.entries(r.testFiles ?? {})) {
    for (const t of data.tests) names.set(t.id, `${file}: ${t.name}`);
  }
  const out: Record<string, string[]> = {};
  for (const [file, data] of Object.entries(r.files)) {
    for (const m of data.mutants) {
      out[`${file}#${m.id}`] = [m.status, ...(m.killedBy ?? []).map((t) => `killed by ${names.get(t)}`),
        ...(m.coveredBy ?? []).map((t) => `covered by ${names.get(t)}`)];
    }
  }
  return out;
}

const committed: Report = {
  files: {
    'lib/a.ts': { source: 'a1', mutants: [{ id: '1', status: 'Killed', coveredBy: ['0', '1'], killedBy: ['1'] }] },
    'lib/b.ts': { source: 'b1', mutants: [{ id: '2', status: 'Killed', coveredBy: ['2'], killedBy: ['2'] }] },
    'lib/c.ts': { source: 'c1', mutants: [{ id: '3', status: 'Survived', coveredBy: ['0', '2'] }] },
  },
  testFiles: {
    'test/a.test.ts': { source: 'ta1', tests: [{ id: '0', name: 'a one' }, { id: '1', name: 'a two' }] },
    'test/b.test.ts': { source: 'tb1', tests: [{ id: '2', name: 'b one' }] },
  },
};
// A run over lib/b.ts only, after test/b.test.ts changed (its test renamed) and a test added to
// test/a.test.ts; the run numbers its tests from 0 again.
const run: Report = {
  files: {
    'lib/b.ts': { source: 'b2', mutants: [{ id: '1', status: 'Survived', coveredBy: ['0', '1'] }] },
  },
  testFiles: {
    'test/b.test.ts': { source: 'tb2', tests: [{ id: '0', name: 'b renamed' }] },
    'test/a.test.ts': { source: 'ta2', tests: [{ id: '1', name: 'a two' }, { id: '2', name: 'a three' }] },
  },
};

describe('mutation results merged', () => {
  test("the run's files replace their earlier results; the other files are kept with the tests they named", () => {
    const m = mergeReports(committed, run);
    expect(Object.keys(m.files)).toEqual(['lib/a.ts', 'lib/b.ts', 'lib/c.ts']);
    expect(m.files['lib/b.ts']!.source).toBe('b2');
    expect(named(m)).toEqual({
      // "a one" is no longer in test/a.test.ts as the run saw it: the next run re-tests this one.
      'lib/a.ts#1': ['Killed', 'killed by test/a.test.ts: a two', 'covered by test/a.test.ts: a two'],
      'lib/b.ts#1': ['Survived', 'covered by test/b.test.ts: b renamed', 'covered by test/a.test.ts: a two'],
      // "b one" was renamed: gone.
      'lib/c.ts#3': ['Survived'],
    });
    // Each test file as the run saw it, with each test once.
    expect(m.testFiles!['test/a.test.ts']!.source).toBe('ta2');
    expect(m.testFiles!['test/a.test.ts']!.tests.map((t) => t.name).sort()).toEqual(['a three', 'a two']);
    expect(m.testFiles!['test/b.test.ts']!.tests.map((t) => t.name)).toEqual(['b renamed']);
    const ids = Object.values(m.testFiles!).flatMap((f) => f.tests.map((t) => t.id));
    expect(new Set(ids).size).toBe(ids.length);
  });

  test('a kept file names the changed test files that covered or killed its mutants, until a run measures it', () => {
    const m = mergeReports(committed, run);
    // lib/a.ts: covered by test/a.test.ts, which changed; lib/c.ts: by both, both changed.
    expect(Object.fromEntries(Object.entries(m.files).map(([f, d]) => [f, d.testsChanged])))
      .toEqual({ 'lib/a.ts': ['test/a.test.ts'], 'lib/b.ts': undefined,
        'lib/c.ts': ['test/a.test.ts', 'test/b.test.ts'] });
    // A later run that changes no test keeps the names; one that measures the file clears them.
    const again = mergeReports(m, { files: {}, testFiles: m.testFiles });
    expect(again.files['lib/c.ts']!.testsChanged).toEqual(['test/a.test.ts', 'test/b.test.ts']);
    const measured = mergeReports(m, { files: { 'lib/c.ts': { source: 'c1', mutants: [] } }, testFiles: m.testFiles });
    expect(measured.files['lib/c.ts']!.testsChanged).toBeUndefined();
    // A test file the run saw unchanged names nothing.
    const same = mergeReports(committed, { files: { 'lib/b.ts': run.files['lib/b.ts']! },
      testFiles: committed.testFiles });
    expect(same.files['lib/a.ts']!.testsChanged).toBeUndefined();
  });

  test('written with one line per mutant and per test, read back as it was', () => {
    const m = mergeReports(committed, run);
    const text = (serialize as (r: Report) => string)(m);
    expect(JSON.parse(text)).toEqual(m);
    const lines = text.split('\n');
    expect(lines.filter((l) => l.startsWith('{"id":'))).toHaveLength(3 + 3);
  });

  test('into no earlier results: the run as it is', () => {
    expect(named(mergeReports({ files: {} }, run))).toEqual({
      'lib/b.ts#1': ['Survived', 'covered by test/b.test.ts: b renamed', 'covered by test/a.test.ts: a two'],
    });
  });
});
