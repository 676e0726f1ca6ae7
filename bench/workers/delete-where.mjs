// Bulk delete through @x/nfct: opens the conntrack table of a netns and runs one
// deleteWhere(filter), as a user would.
//
//   node bench/workers/delete-where.mjs NSNAME FILTER_JSON [OPTIONS_JSON]
//
//   e.g. node bench/workers/delete-where.mjs nfct-bench-x '{"protocol":"udp"}'
//        node bench/workers/delete-where.mjs nfct-bench-x '{"mark":1}' '{"dryRun":true}'
//
// Prints one JSON line: {"deleted":N,"remaining":R,"seconds":S,"openSeconds":O,"rssKb":K};
// seconds covers the deleteWhere() call only, openSeconds Conntrack.open(), remaining is
// ct.count() afterwards (not timed), rssKb the peak RSS (VmHWM).
import { Conntrack } from '../../dist/index.mjs';
import { positionalArgs, printResult, statusKb } from '../lib/worker.mjs';

const [ns, filterJson, optionsJson] = positionalArgs(
  'node bench/workers/delete-where.mjs NSNAME FILTER_JSON [OPTIONS_JSON]',
  2,
);
const filter = JSON.parse(filterJson);
const options = optionsJson ? JSON.parse(optionsJson) : {};

const tOpen = process.hrtime.bigint();
const ct = await Conntrack.open({ netns: ns });
const t0 = process.hrtime.bigint();
const deleted = await ct.deleteWhere({ ...filter, ...options });
const t1 = process.hrtime.bigint();
const remaining = await ct.count(); // after the timed part: a cross-check for the caller
ct.close();

printResult({
  deleted,
  remaining,
  seconds: Number(t1 - t0) / 1e9,
  openSeconds: Number(t0 - tOpen) / 1e9,
  rssKb: statusKb('VmHWM'),
});
