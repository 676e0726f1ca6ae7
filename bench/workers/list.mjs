// Dumps the whole conntrack table of a netns through @x/nfct, consuming every flow with
// `for await`, as a user would.
//
//   node bench/workers/list.mjs NSNAME
//
// Prints one JSON line: {"entries":N,"seconds":S,"rssKb":K}; seconds covers the dump only,
// rssKb is the process's peak RSS (VmHWM) at the end.
import { readFileSync } from 'node:fs';

import { Conntrack } from '../../dist/index.mjs';

const ns = process.argv[2];
if (!ns) {
  process.stderr.write('usage: node bench/workers/list.mjs NSNAME\n');
  process.exit(2);
}
const ct = await Conntrack.open({ netns: ns });
const t0 = process.hrtime.bigint();
let entries = 0;
let sink = 0;
for await (const flow of ct.list()) {
  entries++;
  sink += flow.original.srcPort ?? 0;
}
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
ct.close();
const hwm = /^VmHWM:\s+(\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'));
process.stdout.write(`${JSON.stringify({ entries, seconds, rssKb: hwm ? Number(hwm[1]) : 0, sink })}\n`);
