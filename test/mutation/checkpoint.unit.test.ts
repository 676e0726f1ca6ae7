// The results a mutation run has made so far (scripts/mutation-checkpoint.mjs), as the
// incremental file holds them: what scripts/mutation.sh merges when a run stops before its end,
// and what the next run reads to test only the mutants left.
import { describe, expect, test } from 'vitest';

// @ts-expect-error -- a script of the repository, plain JavaScript without declarations
import { checkpointReport, reportPath } from '../../scripts/mutation-checkpoint.mjs';
// @ts-expect-error -- a script of the repository, plain JavaScript without declarations
import { merge } from '../../scripts/mutation-merge.mjs';

const ROOT = '/work/x';
const loc = (line: number) => ({ start: { line, column: 1 }, end: { line, column: 5 } });
const result = (id: string, file: string, status: string, extra: object = {}) => ({
  id,
  fileName: `${ROOT}/${file}`,
  mutatorName: 'BooleanLiteral',
  replacement: 'false',
  location: loc(Number(id) + 1),
  status,
  ...extra,
});
const tests = [
  { id: 'test/a.test.ts#one', name: 'one', fileName: `${ROOT}/.stryker-tmp/sandbox-AbC123/test/a.test.ts`,
    startPosition: { line: 4, column: 2 } },
  { id: 'test/b.test.ts#two', name: 'two', fileName: `${ROOT}/test/b.test.ts` },
];
const sources: Record<string, string> = { 'lib/a.ts': 'a source', 'lib/b.ts': 'b source', 'test/a.test.ts': 'test a',
  'test/b.test.ts': 'test b' };

describe('mutation checkpoint', () => {
  test('only the files the run mutates: earlier results Stryker reports for other files are left out', () => {
    const report = checkpointReport({
      root: ROOT,
      tests,
      planned: new Map([['lib/a.ts', 1]]),
      results: [result('0', 'lib/a.ts', 'Killed'), result('1', 'lib/b.ts', 'Survived')],
      read: (f: string) => sources[f],
    });
    expect(Object.keys(report.files)).toEqual(['lib/a.ts']);
  });

  test("paths are the project's, outside the sandbox", () => {
    expect(reportPath(ROOT, `${ROOT}/.stryker-tmp/sandbox-AbC123/test/a.test.ts`)).toBe('test/a.test.ts');
    expect(reportPath(ROOT, `${ROOT}/lib/a.ts`)).toBe('lib/a.ts');
    expect(reportPath(ROOT, 'lib/a.ts')).toBe('lib/a.ts');
  });

  test('tested mutants with their tests renumbered as Stryker numbers them; unfinished files say how many are left', () => {
    const report = checkpointReport({
      root: ROOT,
      tests,
      planned: new Map([['lib/a.ts', 3], ['lib/b.ts', 1]]),
      results: [
        result('0', 'lib/a.ts', 'Killed', { killedBy: ['test/b.test.ts#two'], coveredBy: tests.map((t) => t.id) }),
        result('1', 'lib/b.ts', 'Survived', { coveredBy: ['test/a.test.ts#one'] }),
      ],
      read: (f: string) => sources[f],
    });
    expect(report.files['lib/a.ts']).toEqual({
      language: 'typescript',
      source: 'a source',
      pending: 2,
      mutants: [{ id: '0', mutatorName: 'BooleanLiteral', replacement: 'false', location: loc(1), status: 'Killed',
        killedBy: ['1'], coveredBy: ['0', '1'] }],
    });
    // b.ts is finished: no pending count, scored like a file of a run that ended.
    expect(report.files['lib/b.ts'].pending).toBeUndefined();
    expect(report.files['lib/b.ts'].mutants[0]).toMatchObject({ status: 'Survived', coveredBy: ['0'] });
    expect(report.testFiles).toEqual({
      'test/a.test.ts': { source: 'test a',
        tests: [{ id: '0', name: 'one', location: { start: { line: 5, column: 3 } } }] },
      'test/b.test.ts': { source: 'test b', tests: [{ id: '1', name: 'two' }] },
    });
  });

  test("merged into the committed results: the stopped run's files replace theirs, the others are kept", () => {
    const committed = {
      files: {
        'lib/a.ts': { source: 'old a', mutants: [{ ...result('9', 'lib/a.ts', 'Survived'), fileName: undefined }] },
        'lib/c.ts': { source: 'c', mutants: [{ id: '5', status: 'Killed', killedBy: ['0'], coveredBy: ['0'] }] },
      },
      testFiles: { 'test/c.test.ts': { source: 'test c', tests: [{ id: '0', name: 'three' }] } },
    };
    const checkpoint = checkpointReport({
      root: ROOT,
      tests,
      planned: new Map([['lib/a.ts', 2]]),
      results: [
        result('0', 'lib/a.ts', 'Killed', { killedBy: ['test/a.test.ts#one'], coveredBy: ['test/a.test.ts#one'] }),
      ],
      read: (f: string) => sources[f],
    });
    const merged = merge(committed, checkpoint);
    expect(Object.keys(merged.files)).toEqual(['lib/a.ts', 'lib/c.ts']);
    expect(merged.files['lib/a.ts'].source).toBe('a source');
    expect(merged.files['lib/a.ts'].pending).toBe(1);
    expect(merged.files['lib/a.ts'].mutants).toHaveLength(1);
    const killer = merged.files['lib/a.ts'].mutants[0].killedBy[0];
    expect(merged.testFiles['test/a.test.ts'].tests.find((t: { id: string }) => t.id === killer).name).toBe('one');
    const cKiller = merged.files['lib/c.ts'].mutants[0].killedBy[0];
    expect(merged.testFiles['test/c.test.ts'].tests.find((t: { id: string }) => t.id === cKiller).name).toBe('three');
  });
});
