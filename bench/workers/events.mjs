// Receives conntrack events of a netns through @x/nfct's ct.events(), as a user would: one
// `for await`, every event an object; counts them until the burst of bench/c/ct_churn is over.
//
//   node bench/workers/events.mjs NSNAME [OPTIONS_JSON] [--pause] [--quiet-ms MS] [--max-seconds S]
//
// OPTIONS_JSON goes to ct.events() as is; without it, ct.events() is called with no argument
// (the defaults). Events of entries from 10.255.0.0/16 are ct_churn's control entries and are
// not counted: the first one prints "ready" on stdout (a probe: the stream is subscribed);
// 10.255.255.254 (the sentinel) ends the run. Otherwise the run ends once burst events have
// been seen and none came for --quiet-ms (default 1000), or after --max-seconds (default 60).
//
// --pause: after "ready", blocks the JS thread (a synchronous read of stdin) until a line
// arrives. The native reader thread goes on reading until its credits run out, then stops;
// the kernel socket buffer takes the rest. drainSeconds is from the end of the pause to the
// last burst event: how fast `for await` gets through everything queued.
//
// Prints one JSON line: {received, new, update, destroy, overrunItems, overruns, stats,
// seconds (first to last burst event), drainSeconds (or null), sentinel, rssKb}.
import { readFileSync, readSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';

import { Conntrack } from '../../dist/index.mjs';

const { values: opt, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    pause: { type: 'boolean', default: false },
    'work-us': { type: 'string', default: '0' },
    'quiet-ms': { type: 'string', default: '1000' },
    'max-seconds': { type: 'string', default: '60' },
  },
});
const [ns, optionsJson] = positionals;
if (!ns) {
  process.stderr.write('usage: node bench/workers/events.mjs NSNAME [OPTIONS_JSON] [--pause] [--quiet-ms MS] [--max-seconds S]\n');
  process.exit(2);
}
const quietMs = Number(opt['quiet-ms']);
// --work-us N: the consumer spends N microseconds on each event (a busy loop standing for
// formatting, writing or storing it), so that it falls behind a burst; RSS is sampled.
const workUs = Number(opt['work-us']);
const rssKb = () => Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0);
let rssBase = 0;
let rssPeak = 0;
const maxMs = Number(opt['max-seconds']) * 1000;

const ct = await Conntrack.open({ netns: ns });
const stream = optionsJson ? ct.events(JSON.parse(optionsJson)) : ct.events();

let received = 0;
const byType = { new: 0, update: 0, destroy: 0 };
let overrunItems = 0;
let ready = false;
let sentinel = false;
let first = 0;
let last = 0;
let go = NaN;
const start = performance.now();

// Ends the stream once the burst is over (a quiet period) or at the time limit; a blocked
// event loop (--pause) runs no timers, so it cannot fire then.
const timer = setInterval(() => {
  const now = performance.now();
  if ((received > 0 && now - last >= quietMs) || now - start >= maxMs) stream.close();
}, 100);

for await (const ev of stream) {
  if (ev.type === 'overrun') {
    overrunItems++;
    continue;
  }
  if (ev.type !== 'new' && ev.type !== 'update' && ev.type !== 'destroy') continue;
  const src = ev.flow.original?.src ?? '';
  if (src.startsWith('10.255.')) {
    if (!ready) {
      ready = true;
      process.stdout.write('ready\n');
      if (opt.pause) {
        // Block the JS thread until the harness says go (a line on stdin).
        // (A busy retry if the pipe is non-blocking: the thread stays blocked either way.)
        const buf = Buffer.alloc(64);
        for (;;) {
          let n;
          try {
            n = readSync(0, buf, 0, buf.length, null);
          } catch (e) {
            if (e.code === 'EAGAIN') continue;
            throw e;
          }
          if (n === 0 || buf.subarray(0, n).includes(10)) break;
        }
        go = performance.now();
      }
    }
    if (src === '10.255.255.254' && ev.type === 'new') {
      sentinel = true;
      break;
    }
    continue;
  }
  if (workUs > 0) {
    const until = performance.now() + workUs / 1000;
    while (performance.now() < until);
    if (received % 4096 === 0) rssPeak = Math.max(rssPeak, rssKb());
  }
  last = performance.now();
  if (received++ === 0) {
    first = last;
    rssBase = rssKb();
  }
  byType[ev.type]++;
}
clearInterval(timer);
const stats = { ...stream.stats };
const overruns = stream.overruns;
stream.close();
ct.close();
// Memory once the consumer has caught up: after a collection and a moment for the allocator.
let rssAfter = 0;
let heapAfter = 0;
if (workUs > 0) {
  globalThis.gc?.();
  await new Promise((r) => setTimeout(r, 1000));
  globalThis.gc?.();
  rssAfter = rssKb();
  heapAfter = Math.round(process.memoryUsage().heapTotal / 1024);
}
const hwm = /^VmHWM:\s+(\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'));
process.stdout.write(
  `${JSON.stringify({
    received,
    ...byType,
    overrunItems,
    overruns,
    stats,
    seconds: received ? (last - first) / 1000 : 0,
    lastEpochMs: received ? Date.now() - (performance.now() - last) : null,
    drainSeconds: Number.isFinite(go) && received ? (last - go) / 1000 : null,
    sentinel,
    rssKb: hwm ? Number(hwm[1]) : 0,
    rssBase,
    rssPeak,
    rssAfter,
    heapAfter,
  })}\n`,
);
