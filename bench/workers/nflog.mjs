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
// arrives. The native reader thread goes on reading until queueSize records wait for JS, then
// stops; the kernel socket buffer takes the rest. drainSeconds is from the end of the pause to
// the last flood packet: how fast `for await` gets through everything queued.
//
// Prints one JSON line: {received, other, overrunItems, overruns, gaps, gapItems, stats,
// seconds (first to last flood packet), drainSeconds (or null), sentinel, payloadBytes, rssKb}.
import { readFileSync, readSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';

import { Nflog } from '../../dist/index.mjs';

const { values: opt, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    pause: { type: 'boolean', default: false },
    'quiet-ms': { type: 'string', default: '1500' },
    'max-seconds': { type: 'string', default: '60' },
  },
});
const [ns, groupArg, optionsJson] = positionals;
if (!ns || groupArg === undefined) {
  process.stderr.write('usage: node bench/workers/nflog.mjs NSNAME GROUP [OPTIONS_JSON] [--pause] [--quiet-ms MS] [--max-seconds S]\n');
  process.exit(2);
}
const group = Number(groupArg);
const quietMs = Number(opt['quiet-ms']);
const maxMs = Number(opt['max-seconds']) * 1000;

const nf = await Nflog.open({ netns: ns });
const stream = nf.subscribe(optionsJson ? { ...JSON.parse(optionsJson), group } : { group });

let received = 0;
let other = 0;
let overrunItems = 0;
let gapItems = 0;
let payloadBytes = 0;
let ready = false;
let sentinel = false;
let first = 0;
let last = 0;
let go = NaN;
const start = performance.now();

function blockUntilLine() {
  const buf = Buffer.alloc(64);
  for (;;) {
    let n;
    try {
      n = readSync(0, buf, 0, buf.length, null);
    } catch (e) {
      if (e.code === 'EAGAIN') continue; // a non-blocking pipe: the thread stays busy either way
      throw e;
    }
    if (n === 0 || buf.subarray(0, n).includes(10)) return;
  }
}

// Ends the stream once the flood is over (a quiet period) or at the time limit; a blocked
// event loop (--pause) runs no timers, so it cannot fire then.
const timer = setInterval(() => {
  const now = performance.now();
  if ((received > 0 && now - last >= quietMs) || now - start >= maxMs) stream.close();
}, 100);

for await (const item of stream) {
  if (item.type === 'packet') {
    if (item.prefix === 'flood') {
      last = performance.now();
      if (received++ === 0) first = last;
      payloadBytes += item.payload?.length ?? 0;
      continue;
    }
    other++;
    if (item.prefix === 'probe' && !ready) {
      ready = true;
      process.stdout.write('ready\n');
      if (opt.pause) {
        blockUntilLine();
        go = performance.now();
      }
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
clearInterval(timer);
const stats = { ...stream.stats };
const overruns = stream.overruns;
const gaps = stream.gaps;
stream.close();
nf.close();
const hwm = /^VmHWM:\s+(\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'));
process.stdout.write(
  `${JSON.stringify({
    received,
    other,
    overrunItems,
    overruns,
    gaps,
    gapItems,
    stats,
    seconds: received ? (last - first) / 1000 : 0,
    lastEpochMs: received ? Date.now() - (performance.now() - last) : null,
    drainSeconds: Number.isFinite(go) && received ? (last - go) / 1000 : null,
    sentinel,
    payloadBytes,
    rssKb: hwm ? Number(hwm[1]) : 0,
  })}\n`,
);
