// Groups the whole conntrack table of a netns by source address through @x/nfct's
// ct.aggregate(), as a user would.
//
//   node bench/workers/aggregate.mjs NSNAME [KEY]
//
// Prints one JSON line: {"entries":N,"groups":G,"seconds":S,"rssKb":K,"top":[...]}; seconds
// covers the aggregation only, rssKb is the process's peak RSS (VmHWM) at the end.
import { readFileSync } from 'node:fs';

import { Conntrack } from '../../dist/index.mjs';

const ns = process.argv[2];
const key = process.argv[3] ?? 'src';
if (!ns) {
  process.stderr.write('usage: node bench/workers/aggregate.mjs NSNAME [KEY]\n');
  process.exit(2);
}
const ct = await Conntrack.open({ netns: ns });
const t0 = process.hrtime.bigint();
const r = await ct.aggregate({ by: [key], top: 5 });
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
ct.close();
const hwm = /^VmHWM:\s+(\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'));
const top = r.groups.map((g) => [g.key[key], g.count]);
process.stdout.write(
  `${
    JSON.stringify({ entries: r.total.count, groups: r.groupCount, seconds, rssKb: hwm ? Number(hwm[1]) : 0, top })
  }\n`,
);
