// Receives the packets an nft `log group N` rule logs, through @x/nfct's Nflog.subscribe(), as a
// user would: one `for await`, every packet an object; counts them until the flood of
// bench/c/udp_flood is over.
//
//   node bench/workers/nflog.mjs NSNAME GROUP [OPTIONS_JSON] [--pause] [--quiet-ms MS] [--max-seconds S]
//
// OPTIONS_JSON is merged into subscribe({ group: GROUP }) as is; without it, subscribe() gets
// the group alone (the defaults). Packets are told apart by their log prefix (bench/nflog.mjs's
// rules): "flood" packets are counted; the first "probe" prints "ready" on stdout (the group is
// bound and delivering); "end" (the sentinel) ends the run. Otherwise the run ends once flood
// packets have been seen and none came for --quiet-ms (default 1500), or after --max-seconds
// (default 60).
//
// --pause: after "ready", blocks the JS thread (a synchronous read of stdin) until a line
// arrives. The native reader thread goes on reading until maxQueueBytes is reached, then
// stops; the kernel socket buffer takes the rest. drainSeconds is from the end of the pause to
// the last flood packet: how fast `for await` gets through everything queued.
//
// Prints one JSON line: {received, other, overrunItems, overruns, gaps, gapItems, stats,
// seconds (first to last flood packet), drainSeconds (or null), sentinel, payloadBytes, rssKb}.
import { Nflog } from '../../dist/index.mjs';
import { printResult, RunClock, statusKb, workerArgs } from '../lib/worker.mjs';

const { opt, positionals, quietMs, maxMs } = workerArgs({
  usage: 'node bench/workers/nflog.mjs NSNAME GROUP [OPTIONS_JSON] [--pause] [--quiet-ms MS] [--max-seconds S]',
  required: 2,
  quietMs: 1500,
});
const [ns, groupArg, optionsJson] = positionals;
const group = Number(groupArg);

const nf = await Nflog.open({ netns: ns });
const stream = nf.subscribe(optionsJson ? { ...JSON.parse(optionsJson), group } : { group });

let other = 0;
let overrunItems = 0;
let gapItems = 0;
let payloadBytes = 0;
let sentinel = false;
// Ends the stream once the flood is over (a quiet period) or at the time limit.
const clock = new RunClock(stream, { quietMs, maxMs, pause: opt.pause });

for await (const item of stream) {
  if (item.type === 'packet') {
    if (item.prefix === 'flood') {
      clock.count();
      payloadBytes += item.payload?.length ?? 0;
      continue;
    }
    other++;
    if (item.prefix === 'probe') {
      // "ready" on the first, then (--pause) the JS thread blocks until the harness says go.
      clock.ready();
    } else if (item.prefix === 'end') {
      sentinel = true;
      break;
    }
  } else if (item.type === 'overrun') {
    overrunItems++;
  } else if (item.type === 'gap') {
    gapItems++;
  }
}
clock.stop();
const stats = { ...stream.stats };
const overruns = stream.overruns;
const gaps = stream.gaps;
stream.close();
nf.close();
printResult({
  received: clock.received,
  other,
  overrunItems,
  overruns,
  gaps,
  gapItems,
  stats,
  ...clock.times(),
  sentinel,
  payloadBytes,
  rssKb: statusKb('VmHWM'),
});
