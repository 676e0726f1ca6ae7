// Reads a kernel log file through @x/nfct's KernelLog.file(), as a user would: one `for await`,
// every LOG line a packet object, every packet's TRACE hops one trace object; each item is
// used (its destination port summed, its hops counted) so that no field goes unread.
//
//   node bench/workers/kmsg-file.mjs FILE [OPTIONS_JSON]
//
// OPTIONS_JSON is KernelLog.file()'s options; --ts-parser instead reads the lines on the JS thread
// with parseLogLine() (what the native decoder replaces). Prints one JSON line: {lines, packets,
// traces, hops, dptSum, seconds (the read alone), stats, rssKb}.
import { closeSync, openSync, readSync } from 'node:fs';

import { KernelLog, parseLogLine } from '../../dist/index.mjs';
import { printResult, statusKb } from '../lib/worker.mjs';

const [file, optionsJson] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: node bench/workers/kmsg-file.mjs FILE [OPTIONS_JSON | --ts-parser]\n');
  process.exit(2);
}
const t0 = process.hrtime.bigint();
if (optionsJson === '--ts-parser') {
  // The alternative to the native decoder: the file read a MiB at a time on the JS thread, its
  // lines split there, every line holding IN= taken apart by parseLogLine().
  const fd = openSync(file, 'r');
  const buf = Buffer.allocUnsafe(1 << 20);
  let carry = '';
  let lines = 0;
  let packets = 0;
  let dptSum = 0;
  for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0;) {
    const text = carry + buf.toString('latin1', 0, n);
    let at = 0;
    for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', at)) {
      const line = text.slice(at, nl);
      at = nl + 1;
      lines++;
      if (!line.includes('IN=')) continue;
      const p = parseLogLine(line);
      if (p.prefix === undefined) continue;
      packets++;
      dptSum += p.dpt ?? 0;
    }
    carry = text.slice(at);
  }
  closeSync(fd);
  printResult({ lines, packets, dptSum, seconds: Number(process.hrtime.bigint() - t0) / 1e9,
    rssKb: statusKb('VmHWM') });
  process.exit(0);
}
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
printResult({ lines: stream.stats.received, packets, traces, hops, dptSum, seconds, stats: { ...stream.stats },
  rssKb: statusKb('VmHWM') });
