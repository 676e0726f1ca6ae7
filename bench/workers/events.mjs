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
import { performance } from 'node:perf_hooks';

import { Conntrack } from '../../dist/index.mjs';
import { printResult, RunClock, statusKb, workerArgs } from '../lib/worker.mjs';

const { opt, positionals, quietMs, maxMs } = workerArgs({
  usage: 'node bench/workers/events.mjs NSNAME [OPTIONS_JSON] [--pause] [--quiet-ms MS] [--max-seconds S]',
  quietMs: 1000,
  options: { 'work-us': { type: 'string', default: '0' } },
});
const [ns, optionsJson] = positionals;
// --work-us N: the consumer spends N microseconds on each event (a busy loop standing for
// formatting, writing or storing it), so that it falls behind a burst; RSS is sampled.
const workUs = Number(opt['work-us']);
const rssKb = () => statusKb('VmRSS');
let rssBase = 0;
let rssPeak = 0;

const ct = await Conntrack.open({ netns: ns });
const stream = optionsJson ? ct.events(JSON.parse(optionsJson)) : ct.events();

const byType = { new: 0, update: 0, destroy: 0 };
let overrunItems = 0;
let sentinel = false;
// Ends the stream once the burst is over (a quiet period) or at the time limit.
const clock = new RunClock(stream, { quietMs, maxMs, pause: opt.pause });

for await (const ev of stream) {
  if (ev.type === 'overrun') {
    overrunItems++;
    continue;
  }
  if (ev.type !== 'new' && ev.type !== 'update' && ev.type !== 'destroy') continue;
  const src = ev.flow.original?.src ?? '';
  if (src.startsWith('10.255.')) {
    // A probe: "ready", then (--pause) the JS thread blocks until the harness says go.
    clock.ready();
    if (src === '10.255.255.254' && ev.type === 'new') {
      sentinel = true;
      break;
    }
    continue;
  }
  if (workUs > 0) {
    const until = performance.now() + workUs / 1000;
    while (performance.now() < until);
    if (clock.received % 4096 === 0) rssPeak = Math.max(rssPeak, rssKb());
  }
  if (clock.count()) rssBase = rssKb();
  byType[ev.type]++;
}
clock.stop();
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
printResult({
  received: clock.received,
  ...byType,
  overrunItems,
  overruns,
  stats,
  ...clock.times(),
  sentinel,
  rssKb: statusKb('VmHWM'),
  rssBase,
  rssPeak,
  rssAfter,
  heapAfter,
});
