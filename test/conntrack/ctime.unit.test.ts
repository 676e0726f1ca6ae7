/**
 * ctime(), the time of `-o ktimestamp`'s `[start=...]`: what C's ctime() writes in the local
 * time zone, day of the month padded with a blank. Oracle: `date` with the same format
 * (`%e` pads the same way), for days of one and two digits, in two zones.
 */
import { execFileSync } from 'node:child_process';

import { describe, expect, test } from 'vitest';

import { ctime } from '../../lib/conntrack/text-parts.js';

const date = (seconds: number, tz: string): string =>
  execFileSync('date', ['-d', `@${seconds}`, '+%a %b %e %H:%M:%S %Y'], { env: { ...process.env, TZ: tz } })
    .toString().trim();

// 2026-12-07 05:30:09 UTC, 2026-12-10, 2026-12-31 23:59:59, 2027-01-01 00:00:00, 2000-02-29,
// 2026-11-10 10:10:10 (two digits of 10 in each field).
const TIMES = [1796621409, 1796880000, 1798761599, 1798761600, 951782400, 1794305410];

describe.each(['UTC', 'America/New_York'])('in %s', (tz) => {
  test.each(TIMES)('%i as date writes it', (seconds) => {
    const saved = process.env.TZ;
    process.env.TZ = tz;
    try {
      expect(ctime(BigInt(seconds))).toBe(date(seconds, tz));
    } finally {
      if (saved === undefined) delete process.env.TZ;
      else process.env.TZ = saved;
    }
  });
});
