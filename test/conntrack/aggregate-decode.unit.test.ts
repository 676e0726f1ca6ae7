/**
 * The final batch of an aggregation decoded (decodeGroups()) from words laid out as
 * lib/core/layout.ts (generated from native/layout) says: 64-bit sums as two 32-bit words, low
 * first, which a test cannot make the kernel reach (over 4 Gi packets or 4 GiB);
 * test/conntrack/aggregate-counters.test.ts checks the sums below that against conntrack -L.
 */
import { describe, expect, test } from 'vitest';

import { decodeGroups, normalizeAggregate } from '../../lib/conntrack/aggregate.js';
import { AggGroupFlags, AggGroupWord, AggKeyWord } from '../../lib/core/layout.js';

const { AGG_GROUP_COUNT, AGG_GROUP_COUNTERS, AGG_GROUP_FLAGS, AGG_GROUP_TAIL } = AggGroupWord;
const { AGG_KEY_META, AGG_KEY_VALUE, AGG_KEY_WORDS, AGG_KEY_META_PRESENT } = AggKeyWord;

const HI = 2 ** 32;

/** One row: a dstPort key, its count and, when given, its four sums (packets, bytes each way). */
function row(port: number, count: number, sums?: [number, number, number, number]): number[] {
  const w = new Array<number>(AGG_KEY_WORDS + AGG_GROUP_TAIL).fill(0);
  w[AGG_KEY_META] = AGG_KEY_META_PRESENT | (2 << 8);
  w[AGG_KEY_VALUE] = port;
  const tail = AGG_KEY_WORDS;
  w[tail + AGG_GROUP_COUNT] = count;
  if (sums) {
    sums.forEach((v, i) => {
      w[tail + AGG_GROUP_COUNTERS + 2 * i] = v % HI;
      w[tail + AGG_GROUP_COUNTERS + 2 * i + 1] = Math.floor(v / HI);
    });
    w[tail + AGG_GROUP_FLAGS] = AggGroupFlags.AGG_GROUP_HAS_COUNTERS;
  }
  return w;
}

describe('decodeGroups()', () => {
  test('64-bit sums, each way; a row without counters has none', () => {
    const n = normalizeAggregate({ by: 'dstPort', top: 0 }, 'aggregate()');
    const big: [number, number, number, number] = [HI + 5, 3 * HI + 7, 9, 2 ** 40 + 1];
    const small: [number, number, number, number] = [4, 642, 0, 0];
    const words = Uint32Array.from([...row(0, 3, [big[0] + 4, big[1] + 642, 9, big[3]]), ...row(53, 2, big),
      ...row(80, 1, small), ...row(443, 7)]);
    const r = decodeGroups(n, words.buffer, '\0\0\0\0', 4, 3);
    expect(r.total).toEqual({ count: 3,
      counters: { original: { packets: HI + 9, bytes: 3 * HI + 649 }, reply: { packets: 9, bytes: 2 ** 40 + 1 } } });
    expect(r.groups).toEqual([
      { key: { dstPort: 53 }, count: 2,
        counters: { original: { packets: HI + 5, bytes: 3 * HI + 7 }, reply: { packets: 9, bytes: 2 ** 40 + 1 } } },
      { key: { dstPort: 80 }, count: 1,
        counters: { original: { packets: 4, bytes: 642 }, reply: { packets: 0, bytes: 0 } } },
      { key: { dstPort: 443 }, count: 7 },
    ]);
    expect(r.groupCount).toBe(3);
  });
});
