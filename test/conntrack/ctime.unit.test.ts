/**
 * ctime(), the time of `-o ktimestamp`'s `[start=...]`: what C's ctime() writes in the local
 * time zone, day of the month padded with a blank. Oracle: `date` with the same format
 * (`%e` pads the same way), for days of one and two digits, in two zones. Each zone is set in
 * a child (the built library, dist/): a worker thread, as the mutation runs use, cannot change
 * its own zone.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

import { describe, expect, test } from 'vitest';

const date = (seconds: number, tz: string): string =>
  execFileSync('date', ['-d', `@${seconds}`, '+%a %b %e %H:%M:%S %Y'], { env: { ...process.env, TZ: tz } })
    .toString().trim();

/** ctime() of each of `times`, in zone `tz`. */
function ctimeIn(tz: string, times: number[]): string[] {
  const lib = join(__dirname, '../../dist/conntrack/text-parts.js');
  const script = `const { ctime } = require(${JSON.stringify(lib)});
process.stdout.write(JSON.stringify(${JSON.stringify(times)}.map((s) => ctime(BigInt(s)))));`;
  return JSON.parse(
    execFileSync(process.execPath, ['-e', script], { env: { ...process.env, TZ: tz } }).toString(),
  ) as string[];
}

// 2026-12-07 05:30:09 UTC, 2026-12-10, 2026-12-31 23:59:59, 2027-01-01 00:00:00, 2000-02-29,
// 2026-11-10 10:10:10 (two digits of 10 in each field), and noon UTC on the 15th of each month
// of 2026 (every month's name, and every day of the week's).
const MIDMONTHS = [1768478400, 1771156800, 1773576000, 1776254400, 1778846400, 1781524800, 1784116800, 1786795200,
  1789473600, 1792065600, 1794744000, 1797336000];
const TIMES = [1796621409, 1796880000, 1798761599, 1798761600, 951782400, 1794305410, ...MIDMONTHS];

describe.each(['UTC', 'America/New_York'])('in %s', (tz) => {
  test('each time as date writes it', () => {
    const theirs = TIMES.map((s) => date(s, tz));
    expect(new Set(theirs.map((t) => t.slice(0, 3))).size).toBe(7);
    expect(new Set(theirs.map((t) => t.slice(4, 7))).size).toBe(12);
    expect(ctimeIn(tz, TIMES)).toEqual(theirs);
  });
});
