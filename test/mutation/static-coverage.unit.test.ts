// The coverage of mutants executed while modules load (test/mutation/static-coverage.ts), on
// instrumented text of the shape Stryker writes and coverage of the shape its runner collects.
import { describe, expect, test } from 'vitest';

import { attributeStatic, mutantFiles } from './static-coverage.js';

const FLAGS = [
  'const FLAGS = stryMutAct_9fa48("3") ? new Set([]) : (stryCov_9fa48("3"), new Set([stryMutAct_9fa48("4") ? "" : (stryCov_9fa48("4"), \'SYN\')]));',
  'export function isFlag(t) {',
  '  if (stryMutAct_9fa48("5")) { {} } else { stryCov_9fa48("5"); return FLAGS.has(t); }',
  '}',
].join('\n');
const OTHER = 'export const N = stryMutAct_9fa48("6") ? 0 : (stryCov_9fa48("6", "7"), 1);\nconst plain = 2;';

describe('mutantFiles', () => {
  test('each id of a marker call names its file; files without markers name none', () => {
    const files = mutantFiles(new Map([['nflog/parse.ts', FLAGS], ['core/n.ts', OTHER], ['core/plain.ts', 'x()']]));
    expect(Object.fromEntries(files)).toEqual({ 3: 'nflog/parse.ts', 4: 'nflog/parse.ts', 5: 'nflog/parse.ts',
      6: 'core/n.ts', 7: 'core/n.ts' });
  });
});

describe('attributeStatic', () => {
  const fileOf = new Map([['3', 'a.ts'], ['4', 'a.ts'], ['5', 'a.ts'], ['6', 'b.ts'], ['7', 'b.ts']]);

  test("a test that ran code of a file gets that file's load-time mutants, not another file's", () => {
    const cov = {
      static: { 3: 1, 4: 1, 6: 1 },
      perTest: { 'parses flags': { 5: 2 }, 'reads N': { 7: 1 }, 'does neither': { 99: 1 } },
    };
    expect(attributeStatic(cov, fileOf)).toBe(3);
    expect(cov.perTest).toEqual({
      'parses flags': { 5: 2, 3: 1, 4: 1 },
      'reads N': { 7: 1, 6: 1 },
      'does neither': { 99: 1 },
    });
  });

  test('hits a test already has are kept; nothing loaded statically adds nothing', () => {
    const cov = { static: { 3: 1 }, perTest: { t: { 3: 5, 5: 1 } } };
    expect(attributeStatic(cov, fileOf)).toBe(0);
    expect(cov.perTest.t).toEqual({ 3: 5, 5: 1 });
    const none = { static: {}, perTest: { t: { 5: 1 } } };
    expect(attributeStatic(none, fileOf)).toBe(0);
    expect(none.perTest.t).toEqual({ 5: 1 });
  });

  test('a load-time mutant of a file no test ran stays static only', () => {
    const cov = { static: { 6: 1 }, perTest: { t: { 5: 1 } } };
    expect(attributeStatic(cov, fileOf, ['t'])).toBe(0);
    expect(cov.perTest.t).toEqual({ 5: 1 });
  });

  test('a file of tables only (all its mutants ran while it loaded) goes to every test of the file, those that ran no mutated code too', () => {
    const cov = { static: { 3: 1, 6: 1, 7: 1 }, perTest: { 'parses flags': { 5: 2 }, 'reads N': { 7: 1 } } };
    expect(attributeStatic(cov, fileOf, ['parses flags', 'reads N', 'formats'])).toBe(6);
    expect(cov.perTest).toEqual({
      'parses flags': { 5: 2, 3: 1, 6: 1, 7: 1 },
      'reads N': { 7: 1, 6: 1 },
      formats: { 6: 1, 7: 1 },
    });
  });
});
