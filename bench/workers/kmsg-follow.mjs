// Follows /dev/kmsg through @x/nfct's KernelLog.follow() while a flood of LOG lines comes: counts
// the lines of PREFIX ("PREFIXflood "), the loss items and the records they say were lost, until
// the sentinel ("PREFIXend "), a quiet period or the time limit.
//
//   node bench/workers/kmsg-follow.mjs PREFIX [OPTIONS_JSON] [--quiet-ms MS] [--max-seconds S]
//
// Prints "ready" once /dev/kmsg is open (what is logged from then on is read), then one JSON
// line: {received, lossItems, lost, sentinel, seconds (first to last flood line), stats, rssKb}.
import { KernelLog } from '../../dist/index.mjs';
import { printResult, RunClock, statusKb, workerArgs } from '../lib/worker.mjs';

const { positionals, quietMs, maxMs } = workerArgs({
  usage: 'node bench/workers/kmsg-follow.mjs PREFIX [OPTIONS_JSON] [--quiet-ms MS] [--max-seconds S]',
  required: 1,
  quietMs: 1500,
});
const [prefix, optionsJson] = positionals;
const stream = KernelLog.follow({ prefix, ...(optionsJson ? JSON.parse(optionsJson) : {}) });
const clock = new RunClock(stream, { quietMs, maxMs });
clock.ready();
let lossItems = 0;
let lost = 0;
let sentinel = false;
for await (const item of stream) {
  if (item.type === 'packet') {
    if (item.prefix === `${prefix}end `) {
      sentinel = true;
      break;
    }
    clock.count();
  } else if (item.type === 'loss') {
    lossItems++;
    lost += item.lost ?? 0;
  }
}
clock.stop();
const stats = { ...stream.stats };
stream.close();
printResult({ received: clock.received, lossItems, lost, sentinel, ...clock.times(), stats, rssKb: statusKb('VmHWM') });
