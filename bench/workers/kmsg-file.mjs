// Reads a kernel log file through @x/nfct's KernelLog.file(), as a user would: one `for await`,
// every LOG line a packet object, every packet's TRACE hops one trace object; each item is
// used (its destination port summed, its hops counted) so that no field goes unread.
//
//   node bench/workers/kmsg-file.mjs FILE [OPTIONS_JSON]
//
// OPTIONS_JSON is KernelLog.file()'s options. Prints one JSON line: {lines, packets, traces,
// hops, dptSum, seconds (the read alone), stats, rssKb}.
import { KernelLog } from '../../dist/index.mjs';
import { printResult, statusKb } from '../lib/worker.mjs';

const [file, optionsJson] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: node bench/workers/kmsg-file.mjs FILE [OPTIONS_JSON]\n');
  process.exit(2);
}
const t0 = process.hrtime.bigint();
const stream = KernelLog.file(file, optionsJson ? JSON.parse(optionsJson) : {});
let packets = 0;
let traces = 0;
let hops = 0;
let dptSum = 0;
for await (const item of stream) {
  if (item.type === 'packet') {
    packets++;
    dptSum += item.dpt ?? 0;
  } else if (item.type === 'trace') {
    traces++;
    hops += item.hops.length;
  }
}
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
printResult({ lines: stream.stats.received, packets, traces, hops, dptSum, seconds, stats: { ...stream.stats }, rssKb: statusKb('VmHWM') });
