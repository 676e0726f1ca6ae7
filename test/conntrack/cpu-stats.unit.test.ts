/**
 * decodeCpuStats(): one CPU's counters from the (CTA_STATS_* number, value) pairs the kernel
 * sends, as `conntrack -S` names and prints them. test/conntrack/text.test.ts compares the whole
 * path with `conntrack -S` on this kernel, but this kernel sends 10 counters and leaves `found`
 * and `insert` at 0, so a name mixed up there goes unseen. Here: hand-made pairs, each counter
 * with a value of its own, as older kernels (searched, new, ignore, delete, delete_list) and
 * newer ones (numbers past 15) send them.
 */
import { describe, expect, test } from 'vitest';

import { decodeCpuStats } from '../../lib/conntrack/flow.js';
import { formatCpuStatsLine } from '../../lib/conntrack/text.js';

// CTA_STATS_* of include/uapi/linux/netfilter/nfnetlink_conntrack.h, by number.
const NAMES = ['searched', 'found', 'new', 'invalid', 'ignore', 'delete', 'delete_list', 'insert', 'insert_failed',
  'drop', 'early_drop', 'error', 'search_restart', 'clash_resolve', 'chaintoolong'];

// Pairs for counters 1..n, counter i with the value 100 + i.
const pairs = (numbers: number[]): number[] => numbers.flatMap((n) => [n, 100 + n]);

describe('decodeCpuStats()', () => {
  test('each counter of the kernel header under its name, with its own value', () => {
    const row = decodeCpuStats(3, pairs(NAMES.map((_, i) => i + 1)));
    expect(row).toEqual({ cpu: 3, ...Object.fromEntries(NAMES.map((name, i) => [name, 101 + i])) });
    // conntrack -S prints them in the header's order.
    expect(formatCpuStatsLine(row)).toBe(`cpu=3   \t${NAMES.map((name, i) => `${name}=${101 + i} `).join('')}`);
  });

  test("a current kernel's ten counters: the older five are absent, not 0", () => {
    const current = [2, 4, 8, 9, 10, 11, 12, 13, 14, 15];
    const row = decodeCpuStats(0, pairs(current));
    expect(Object.keys(row).sort()).toEqual(['cpu', ...current.map((n) => NAMES[n - 1]!)].sort());
    expect(row.found).toBe(102);
    expect(row.insert).toBe(108);
    expect(formatCpuStatsLine(row)).toBe(
      'cpu=0   \tfound=102 invalid=104 insert=108 insert_failed=109 drop=110 early_drop=111 error=112 '
        + 'search_restart=113 clash_resolve=114 chaintoolong=115 ',
    );
  });

  test('the counters CpuStats always has read 0 when the kernel leaves them out', () => {
    const row = decodeCpuStats(1, pairs([4]));
    expect(row).toEqual({
      cpu: 1,
      found: 0,
      invalid: 104,
      insert: 0,
      insert_failed: 0,
      drop: 0,
      early_drop: 0,
      error: 0,
      search_restart: 0,
      clash_resolve: 0,
      chaintoolong: 0,
    });
  });

  test('numbers newer than the library keep them as stat_N; conntrack 1.4.7 prints 16-19 as unknownN', () => {
    const row = decodeCpuStats(0, pairs([16, 17, 18, 19, 20]));
    expect(row).toMatchObject({ stat_16: 116, stat_17: 117, stat_18: 118, stat_19: 119, stat_20: 120 });
    expect(formatCpuStatsLine(row)).toMatch(/ unknown1=116 unknown2=117 unknown3=118 unknown4=119 $/);
    expect(formatCpuStatsLine(row)).not.toContain('120');
  });

  test('a number without its value is left out; values are the 32-bit counters as sent', () => {
    const row = decodeCpuStats(0, Uint32Array.of(4, 0xffffffff, 2));
    expect(row.invalid).toBe(0xffffffff);
    expect(row.found).toBe(0);
    expect(Object.keys(row)).not.toContain('stat_undefined');
    expect(formatCpuStatsLine(row)).toContain(' invalid=4294967295 ');
  });
});
