// grouped() writes numbers as toLocaleString('en-US') does (nfct top's and its messages' counts).
import fc from 'fast-check';
import { expect, test } from 'vitest';

import { grouped } from '../../lib/cli/numbers.js';

const locale = (n: number): string => Math.round(n).toLocaleString('en-US');

test('the same text as toLocaleString("en-US") for the edges', () => {
  for (
    const n of [0, -0, 0.5, -0.5, 1, 9, 10, 99, 100, 999, 999.5, 1000, 1001, 12_345, 123_456, 1_234_567, -1, -999,
      -1000, -1_234_567, 2 ** 31, 2 ** 53, 1e20, 1e21, 1e300, NaN, Infinity, -Infinity]
  ) {
    expect(grouped(n), String(n)).toBe(locale(n));
  }
});

test('the same text as toLocaleString("en-US") for any number', () => {
  fc.assert(fc.property(fc.double(), (n) => grouped(n) === locale(n)), { numRuns: 5000 });
  fc.assert(fc.property(fc.integer({ min: -1e9, max: 1e12 }), (n) => grouped(n) === locale(n)), { numRuns: 5000 });
});
