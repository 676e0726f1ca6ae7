// Conntrack events benchmark: how much of a burst of events each receiver gets, and how fast
// @x/nfct turns a full socket into JS objects, against `conntrack -E` and a plain C
// libnetfilter_conntrack receiver, in the same run, each repeated and reported as the median.
//
//   node bench/conntrack-events.mjs [--repeat 3] [--entries 200000] [--rate 200000]
//                                   [--paced-batch 8192]
//                                   [--receivers nfct,conntrack,c-default,c-large,none]
//                                   [--drain nfct,c] [--large-buffer 67108864]
//                                   [--drain-buffer 268435456] [--quiet-ms 1000] [--busy 0]
//
// The burst (bench/c/ct_churn): ENTRIES entries created and deleted again through ctnetlink,
// many messages per sendmsg, no ACKs: 2 x ENTRIES events (NEW + DESTROY). Once at full speed
// (64 KiB of messages per sendmsg), once paced to --rate events/s (the rate of the issue's
// figures; --rate 0 leaves it out) in sendmsg()s of --paced-batch bytes (~55 messages at 8 KiB),
// so that the events come about evenly rather than in bursts of ~450 every 2 ms.
//
// Receivers, each in its own process, each alone with the burst in a fresh netns, started and
// shown to be subscribed (it saw a probe entry) before the burst starts:
//   nfct       node bench/workers/events.mjs NS: ct.events() with default options, `for await`,
//              counting only
//   nfct-cli   `nfct -E --netns NS > file`: every event formatted as conntrack -E text and
//              written to a file (its lines counted at the end)
//   nfct-json  `nfct -E --json --netns NS > file`: every event as NDJSON
//   conntrack  `conntrack -E`, its stdout piped here and its lines counted (one line per event)
//   conntrack-null  `conntrack -E > /dev/null`, counted by its own summary at SIGTERM ("N flow
//              events have been shown"), so this process's reading costs it nothing; subscribed
//              once its socket shows the groups in /proc/net/netlink (no probe, no sentinel:
//              its count is the burst alone); over once its socket has stayed empty for 200 ms
//   c-default  bench/c/ct_events: libnetfilter_conntrack nfct_catch(), default socket buffer
//   c-large    the same with --large-buffer (nfnl_rcvbufsiz: SO_RCVBUFFORCE)
//   none       (full speed only) no listener: what the burst costs the kernel without events
// A run ends at the sentinel entry ct_churn makes after the burst, or, when that event was
// lost, once no event came for --quiet-ms.
//
// Drain: the receiver is held while the burst fills its socket (--drain-buffer, both): the
// node worker blocks its JS thread (a synchronous read of stdin) so the native reader stops at
// its credit bound; the C receiver is SIGSTOPped. Then it is let go and timed until its last
// event: events/s decoded (into JS objects for nfct, into struct nf_conntrack for C).
//
// --busy N (or 'cores'): N busy processes, one pinned to each core (bench/lib/busy.mjs), run
// from before the receiver starts until it has finished: the receiver shares every core with a
// process of its own weight. The section is then "Conntrack events under CPU contention".
//
// Needs root. Every burst gets a fresh netns (removed afterwards); nf_conntrack_max is raised
// for the run when ENTRIES does not fit under it, and restored.

import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { busyNotes, busyOption, whileBusy } from './lib/busy.mjs';
import { BENCH_DIR, benchArgs, checkBuffers, checkQuietMs, checkRange, checkRepeat, churn, conntrackMax, ensureBuilt,
  ensureDist, fmtFixed, fmtInt, fmtMiB as mib, listOption, log, median, netfilterRmem, probeUntilReady,
  raiseConntrackMax, REPO_DIR, sleep, startCommand, table, within, withNetns } from './lib/harness.mjs';
import { cReceiver, drainTable, fileReceiver, finishAfter, loadEnded, lossNotes, noReceiver, processResult,
  receiverCases, receiveTable, runCases, summarizeCases, summarizeRuns, untilReady, waitUntilIdle, withReceiver,
  workerReceiver, writeReport } from './lib/receivers.mjs';

const EVENTS_WORKER = join(BENCH_DIR, 'workers', 'events.mjs');
const RECEIVERS = ['nfct', 'nfct-slow', 'nfct-cli', 'nfct-json', 'conntrack', 'conntrack-null', 'c-default', 'c-large',
  'none'];
const DRAINERS = ['nfct', 'nfct-socket', 'c'];
// The installed command (the bundled CLI, see lib/cli/bin.ts).
const CLI = join(REPO_DIR, 'dist', 'cli', 'bin.js');
const MiB = 1 << 20;
// Receive buffer one queued conntrack event takes here (skb truesize; DESIGN.md, measured again
// by the C drain row: socket bytes at release / events queued).
const EVENT_BYTES = 1280;

const opts = benchArgs({
  repeat: 3,
  entries: 200000,
  rate: 200000,
  'paced-batch': 8192,
  receivers: RECEIVERS.join(','),
  drain: DRAINERS.join(','),
  'large-buffer': 64 * MiB,
  'drain-buffer': 256 * MiB,
  'quiet-ms': 1000,
  busy: '0',
});
const busy = busyOption(opts.busy);
const SECTION = busy > 0 ? 'Conntrack events under CPU contention' : 'Conntrack events';
const { repeat, entries, rate: pacedRate, 'paced-batch': pacedBatch, 'large-buffer': largeBuffer,
  'drain-buffer': drainBuffer, 'quiet-ms': quietMs } = opts;
checkRepeat(repeat);
checkRange('--entries', entries, 1, 2_000_000);
checkRange('--rate', pacedRate, 0, undefined, '0: no paced burst');
checkRange('--paced-batch', pacedBatch, 1024, 4194304);
checkBuffers([['--large-buffer', largeBuffer], ['--drain-buffer', drainBuffer]]);
checkQuietMs(quietMs);
const receivers = listOption(opts.receivers, RECEIVERS, 'receiver');
const drainers = listOption(opts.drain, DRAINERS, 'drain receiver');
const generated = 2 * entries;
// A receiver gives up this long after the burst (it also bounds itself).
const MAX_SECONDS = 60;

// ---------------------------------------------------------------------------
// Receivers (bench/lib/receivers.mjs): start(ns) launches one and returns hooks: isReady() (it
// saw a probe), afterReady(), beforeLoad(), afterLoad() (around the burst), finish() ->
// { received, overruns, sentinel, span (first to last burst event, s), drainSeconds,
// cpuSeconds, rssKb, extra }.

function nfctReceiver({ options, pause = false, workUs = 0 } = {}) {
  return workerReceiver({
    script: EVENTS_WORKER,
    args: (ns) => [ns],
    options,
    nodeFlags: ['--expose-gc'],
    more: workUs ? ['--work-us', String(workUs)] : [],
    quietMs,
    pause,
    name: 'events worker',
    what: 'the @x/nfct events worker',
    maxSeconds: MAX_SECONDS,
    extra: (j) => ({
      stats: j.stats,
      overrunCount: j.overruns,
      byType: { new: j.new, update: j.update, destroy: j.destroy },
      rss: { base: j.rssBase, peak: j.rssPeak, after: j.rssAfter, heapAfter: j.heapAfter },
    }),
  });
}

/** Counts `conntrack -E` lines as they arrive on its stdout (a pipe); no line is kept. */
function conntrackReceiver() {
  const SENTINEL = Buffer.from('src=10.255.255.254 ');
  return {
    async start(ns) {
      let lines = 0;
      let baseline = 0;
      let first = NaN;
      let last = NaN;
      let sentinel = false;
      let tail = Buffer.alloc(0);
      const p = startCommand(ns, ['conntrack', '-E'], {
        onStdout(chunk) {
          let n = 0;
          for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) n++;
          const now = performance.now();
          if (n > 0 && lines === baseline && baseline > 0) first = now;
          lines += n;
          last = now;
          if (!sentinel && lines > baseline && baseline > 0) {
            // The sentinel's line may straddle two chunks.
            sentinel = Buffer.concat([tail, chunk]).includes(SENTINEL);
            tail = chunk.subarray(Math.max(0, chunk.length - SENTINEL.length));
          }
        },
      });
      return {
        p,
        isReady: () => lines > 0,
        async afterReady() {
          // Any probe sent after the first one the receiver saw shows up within this.
          await sleep(200);
          baseline = lines;
        },
        beforeLoad() {},
        afterLoad() {},
        async finish() {
          const deadline = performance.now() + MAX_SECONDS * 1000;
          // conntrack -E never ends by itself: the sentinel, or a quiet period, ends it.
          while (!sentinel && performance.now() < deadline) {
            if (performance.now() - (Number.isFinite(last) ? last : 0) >= quietMs) break;
            await sleep(20);
          }
          p.kill('SIGTERM'); // runstat passes it on; conntrack prints its count and exits
          const r = await within(p, 10, 'conntrack -E');
          const shown = /(\d+) flow events have been shown/.exec(r.stderr);
          const enobufs = (r.stderr.match(/hit ENOBUFS/g) ?? []).length;
          const received = lines - baseline - (sentinel ? 1 : 0);
          return processResult(r, {
            received,
            overruns: enobufs,
            sentinel,
            lastPerf: last,
            span: (last - first) / 1000,
            // conntrack's own count, less the probes and the sentinel, should equal the lines.
            extra: { shown: shown ? Number(shown[1]) - baseline - (sentinel ? 1 : 0) : NaN },
          });
        },
      };
    },
  };
}

/**
 * `nfct -E [--json] --netns NS > file`: the command a user runs. Ready once the probe's line is
 * in the file; over once the sentinel's line is (or, when that was lost, once nfct is idle:
 * nothing in its socket, every thread asleep); then SIGINT, and the file's lines less the
 * probes' and the sentinel's are what it received.
 */
function cliReceiver({ json = false } = {}) {
  const marker = json ? '"src":"10.255.' : 'src=10.255.';
  return fileReceiver({
    argv: (ns) => [process.execPath, CLI, '-E', '--netns', ns, ...(json ? ['--json'] : [])],
    readyMark: marker,
    endMark: json ? '"src":"10.255.255.254"' : 'src=10.255.255.254 ',
    count(out) {
      const { lines, marked } = out.lines(marker);
      return lines - marked;
    },
    what: `nfct -E${json ? ' --json' : ''}`,
    settleMs: 200,
    maxSeconds: MAX_SECONDS,
  });
}

/** `conntrack -E > /dev/null`: no output to read; its own count at exit. */
function conntrackNullReceiver() {
  return {
    async start(ns) {
      const p = startCommand(ns, ['sh', '-c', 'exec conntrack -E > /dev/null']);
      // A NETLINK_NETFILTER socket in the netns that has joined groups (Groups column != 0).
      const subscribed = () => /^\S+\s+12\s+\S+\s+0*[1-9a-f]/im.test(netlinkTable(ns));
      return {
        p,
        // No probe: the groups are joined (in nfct_open) before it reads anything. No sentinel
        // either: its count would include it when it came through.
        noProbe: true,
        noSentinel: true,
        isReady: subscribed,
        afterReady() {},
        beforeLoad() {},
        afterLoad() {},
        async finish() {
          await waitUntilIdle(() => netfilterRmem(ns) > 0, MAX_SECONDS);
          p.kill('SIGTERM');
          const r = await within(p, 10, 'conntrack -E > /dev/null');
          const shown = /(\d+) flow events have been shown/.exec(r.stderr);
          const enobufs = (r.stderr.match(/hit ENOBUFS/g) ?? []).length;
          if (!shown) {
            throw new Error(`conntrack -E > /dev/null printed no count (exit ${r.code}): ${r.stderr.slice(-300)}`);
          }
          return processResult(r, { received: Number(shown[1]), overruns: enobufs, sentinel: false, extra: {} });
        },
      };
    },
  };
}

function netlinkTable(ns) {
  return execFileSync('ip', ['netns', 'exec', ns, 'cat', '/proc/net/netlink'], { encoding: 'utf8' });
}

function ctEventsReceiver({ rcvbuf = 0, stop = false } = {}) {
  return cReceiver({
    name: 'ct_events',
    quietMs,
    rcvbuf,
    stop,
    maxSeconds: MAX_SECONDS,
    extra: (kv) => ({ rcvbuf: kv.rcvbuf, byType: { new: kv.new, update: kv.update, destroy: kv.destroy } }),
  });
}

const RECEIVER_DEFS = {
  nfct: {
    label: '@x/nfct `ct.events()` (defaults), counting only',
    buffer: '32 MiB (bufferSize default; grows after overruns); maxQueueBytes 256 MiB',
    make: () => nfctReceiver(),
  },
  'nfct-slow': {
    label: '@x/nfct `ct.events()` (defaults), a consumer spending 10 µs on each event',
    buffer: '32 MiB (default); maxQueueBytes 256 MiB',
    make: () => nfctReceiver({ workUs: 10 }),
  },
  'nfct-cli': {
    label: '`nfct -E > file` (conntrack -E text)',
    buffer: '32 MiB (default); maxQueueBytes 256 MiB',
    make: () => cliReceiver(),
  },
  'nfct-json': {
    label: '`nfct -E --json > file` (NDJSON)',
    buffer: '32 MiB (default); maxQueueBytes 256 MiB',
    make: () => cliReceiver({ json: true }),
  },
  conntrack: {
    label: '`conntrack -E` (stdout piped, lines counted)',
    buffer: 'default (rmem_default)',
    make: () => conntrackReceiver(),
  },
  'conntrack-null': {
    label: '`conntrack -E > /dev/null` (its own count)',
    buffer: 'default (rmem_default)',
    noSentinel: true,
    make: () => conntrackNullReceiver(),
  },
  'c-default': {
    label: 'C libnetfilter_conntrack `nfct_catch` (ct_events)',
    buffer: 'default (rmem_default)',
    make: () => ctEventsReceiver(),
  },
  'c-large': {
    label: 'C libnetfilter_conntrack `nfct_catch` (ct_events)',
    buffer: `${mib(largeBuffer)} (nfnl_rcvbufsiz)`,
    make: () => ctEventsReceiver({ rcvbuf: largeBuffer }),
  },
  none: {
    label: 'none (no listener: the burst alone)',
    buffer: '',
    make: () => noReceiver(),
  },
};

const DRAIN_DEFS = {
  nfct: {
    label: '@x/nfct `ct.events({ bufferSize })`, JS thread blocked during the burst (the reader holds it)',
    buffer: `${mib(drainBuffer)} (bufferSize, maxBufferSize); maxQueueBytes 256 MiB`,
    make: () => nfctReceiver({ options: { bufferSize: drainBuffer, maxBufferSize: drainBuffer }, pause: true }),
  },
  'nfct-socket': {
    label: '@x/nfct, the same with maxQueueBytes 64 KiB (the socket holds it)',
    buffer: `${mib(drainBuffer)} (bufferSize, maxBufferSize); maxQueueBytes 64 KiB`,
    make: () =>
      nfctReceiver({ options: { bufferSize: drainBuffer, maxBufferSize: drainBuffer, maxQueueBytes: 65536 },
        pause: true }),
  },
  c: {
    label: 'C `nfct_catch` (ct_events), SIGSTOPped during the burst',
    buffer: `${mib(drainBuffer)} (nfnl_rcvbufsiz)`,
    make: () => ctEventsReceiver({ rcvbuf: drainBuffer, stop: true }),
  },
};

// ---------------------------------------------------------------------------
// One burst with one receiver, in a fresh netns.

let seed = 0;

function measure(def, burst, drain) {
  return whileBusy(busy, () => measureAlone(def, burst, drain));
}

function measureAlone(def, burst, drain) {
  return withNetns((ns) =>
    withReceiver(def, ns, async (rx) => {
      const probes = await untilReady(rx, ns, probeUntilReady, 'subscribe');
      await rx.afterReady();
      await rx.beforeLoad();
      seed = (seed % 60000) + 1;
      const gen = await churn(ns, entries, { rate: burst.rate, batch: burst.batch, sentinel: !rx.noSentinel, seed });
      const end = loadEnded();
      if (gen.events !== generated) throw new Error(`ct_churn made ${gen.events} events, not ${generated}`);
      // What waits in the kernel when a held receiver is let go.
      const queuedBytes = drain ? netfilterRmem(ns) : NaN;
      // lag: how long after the burst ended the receiver had its last event.
      const { res, lag } = await finishAfter(rx, end);
      return { gen, res, probes, queuedBytes, lag };
    })
  );
}

// ---------------------------------------------------------------------------

function summarize(runs) {
  const pct = runs.map((r) => (100 * r.res.received) / r.gen.events);
  return {
    ...summarizeRuns(runs),
    pct: median(pct),
    pctMin: Math.min(...pct),
    genEvents: median(runs.map((r) => r.gen.events)),
  };
}

async function main() {
  const t0 = performance.now();
  ensureBuilt();
  ensureDist();

  const bursts = [{ key: 'full', label: 'full speed', rate: 0 }];
  if (pacedRate > 0) {
    bursts.push({ key: 'paced', label: `paced ${fmtInt(pacedRate)}/s`, rate: pacedRate, batch: pacedBatch });
  }
  const cases = receiverCases(bursts, receivers, RECEIVER_DEFS, drainers, DRAIN_DEFS);

  const problems = [];
  const check = (c, { gen, res }, tag) => {
    if (res.received > gen.events) problems.push(`${tag}: received ${res.received} of ${gen.events} generated`);
    if (res.unwritten) problems.push(`${tag}: ${res.unwritten} events received and not written (said at exit)`);
    if (res.timedOut) problems.push(`${tag}: still busy ${MAX_SECONDS} s after the burst`);
    if (c.key === 'conntrack' && Number.isFinite(res.extra?.shown) && res.extra.shown !== res.received) {
      problems.push(`${tag}: ${res.received} lines counted, conntrack says ${res.extra.shown}`);
    }
    if ((c.key === 'nfct' || c.key === 'nfct-slow') && res.extra?.overrunCount !== res.overruns) {
      problems.push(`${tag}: ${res.overruns} overrun items, stream.overruns ${res.extra?.overrunCount}`);
    }
    log(
      `  ${tag}: generated ${fmtInt(gen.events)} in ${fmtFixed(gen.seconds)} s (${fmtInt(gen.rate)}/s), ` +
        (c.key === 'none'
          ? 'no listener'
          : `received ${fmtInt(res.received)} (${
            fmtFixed((100 * res.received) / gen.events, 2)
          }%), overruns ${res.overruns}, ` +
            `sentinel ${res.sentinel ? 'seen' : 'lost'}` +
            (c.kind === 'drain'
              ? `, drain ${fmtFixed(res.drainSeconds)} s = ${fmtInt(res.received / res.drainSeconds)}/s`
              : '')),
    );
  };
  // The table holds all entries at the peak of a burst (created first, then deleted).
  const need = entries + 1000;
  const restore = need > conntrackMax() ? raiseConntrackMax(Math.ceil((need * 1.2) / 1000) * 1000) : () => {};
  let samples;
  try {
    samples = await runCases(cases, repeat, (c) => measure(c.def, c.load, c.kind === 'drain'), check);
  } finally {
    restore();
  }

  // -------------------------------------------------------------------------
  // Tables

  const { sum, find } = summarizeCases(samples, summarize);

  const recvRows = receiveTable(sum, {
    load: 'burst',
    item: 'event',
    columns: ['socket buffer', 'generated', 'generator events/s', 'received', '% of generated', 'lowest %', 'overruns'],
    cells: (c, s, none) => [
      c.def.buffer,
      fmtInt(s.genEvents),
      fmtInt(s.genRate),
      ...(none
        ? ['', '', '', '']
        : [fmtInt(s.received), `${fmtFixed(s.pct, 2)}%`, `${fmtFixed(s.pctMin, 2)}%`, fmtInt(s.overruns)]),
    ],
  });

  const cDrain = find('drain', 'full', 'c');
  const drainRows = drainTable(sum, {
    rate: 'events/s',
    columns: ['socket buffer', 'generated', 'in the socket at release', 'received', '% of generated'],
    cells: (c, s) => [
      c.def.buffer,
      fmtInt(s.genEvents),
      `~${fmtInt(s.queuedBytes / EVENT_BYTES)} (${fmtFixed(s.queuedBytes / MiB, 1)} MiB)`,
      fmtInt(s.received),
      `${fmtFixed(s.pct, 2)}%`,
    ],
  });

  const targets = [['target (issue)', 'measured (median; lowest)', 'met']];
  const consumers = [
    ['nfct', 'events() with default options, counting only,'],
    ['nfct-slow', 'events() with default options, 10 µs of work per event,'],
    ['nfct-cli', '`nfct -E > file` (formats every event as conntrack -E text)'],
    ['nfct-json', '`nfct -E --json > file` (JSON.stringify of every event)'],
  ];
  for (const b of bursts) {
    for (const [key, what] of consumers) {
      const s = find('receive', b.key, key);
      if (!s) continue;
      targets.push([
        `${what} receives all ${fmtInt(generated)} events of the burst${
          busy > 0 ? ` in every one of ${repeat} runs, ${busy} busy processes competing` : ''
        } (${b.label}: ${fmtInt(s.genRate)} events/s); peak RSS within 256 MiB + a fixed overhead`,
        `${fmtInt(s.received)} (${fmtFixed(s.pct, 2)}%; lowest ${fmtFixed(s.pctMin, 2)}%), done ${
          fmtFixed(s.lag, 2)
        } s after the burst, peak RSS ${fmtInt(s.rssKb / 1024)} MiB`,
        s.receivedMin === s.genEvents && s.rssKb < (256 + 200) * 1024 ? 'yes' : 'no',
      ]);
    }
  }
  const nDrain = find('drain', 'full', 'nfct');
  if (nDrain) {
    targets.push([
      'drains at least 1,100,000 events/s into JS objects (the figure before the byte-bounded queue)',
      `${fmtInt(nDrain.drainRate)} events/s`,
      nDrain.drainRate >= 1100000 && nDrain.pctMin === 100
        ? 'yes'
        : nDrain.drainRate >= 1100000
        ? 'yes (rate), but events were lost'
        : 'no',
    ]);
  }
  const sDrain = find('drain', 'full', 'nfct-socket');
  if (sDrain) {
    targets.push([
      'from a full socket (maxQueueBytes 64 KiB: the reader drains the socket as JS consumes)',
      `${fmtInt(sDrain.drainRate)} events/s`,
      sDrain.drainRate >= 1100000 && sDrain.pctMin === 100 ? 'yes' : 'no',
    ]);
  }

  const refs = [['peer (issue reference)', 'issue', ...bursts.map((b) => `here, ${b.label}`)]];
  const refRow = (label, issue, key, kind = 'receive', f = (s) => `${fmtFixed(s.pct, 1)}%`) => {
    const cells = bursts.map((b) => {
      const s = kind === 'drain' ? (b.key === 'full' ? find('drain', 'full', key) : undefined) : find(kind, b.key, key);
      return s ? f(s) : '';
    });
    if (cells.some((x) => x)) refs.push([label, issue, ...cells]);
  };
  refRow('`conntrack -E` (stdout piped and counted here), % of burst', '~11%', 'conntrack');
  refRow('`conntrack -E > /dev/null` (its own count), % of burst', '~11%', 'conntrack-null');
  refRow('C receiver, default buffer, % of burst', '~99%', 'c-default');
  refRow(`C receiver, large buffer (${mib(largeBuffer)}), % of burst`, '100%', 'c-large');
  refRow('C receiver drain rate', '~600,000/s', 'c', 'drain', (s) => `${fmtInt(s.drainRate)}/s`);

  // Where events were lost, for the library's row with default options.
  const losses = lossNotes(samples, {
    include: (c) => c.key === 'nfct',
    generated: (r) => r.gen.events,
    items: 'events',
    detail: (r, st) =>
      `lost ${fmtInt(r.gen.events - r.res.received)} in ${r.res.overruns} overrun(s); the kernel delivered ` +
      `${fmtInt(st.received)} messages (burst + probe + sentinel), all decoded (${fmtInt(st.matched)} matched, ` +
      `${st.malformed} malformed); generator ${fmtInt(r.gen.rate)}/s over ${fmtFixed(r.gen.seconds)} s, ` +
      `receiver ${fmtInt(r.res.received / r.res.span)}/s over ${fmtFixed(r.res.span)} s`,
  });

  // What the socket held at release, per event (C: everything but the probe is still queued).
  const drainNotes = [];
  const nDrainS = find('drain', 'full', 'nfct');
  if (cDrain && Number.isFinite(cDrain.queuedBytes) && cDrain.received === cDrain.genEvents) {
    const perEvent = cDrain.queuedBytes / (cDrain.genEvents + 1); // + the sentinel
    drainNotes.push(
      `The stopped C receiver's socket held ${fmtInt(cDrain.queuedBytes)} bytes for ${
        fmtInt(cDrain.genEvents + 1)
      } events`,
      `(burst + sentinel): ${fmtFixed(perEvent, 0)} bytes each.`,
    );
    if (nDrainS && Number.isFinite(nDrainS.queuedBytes)) {
      const inSocket = nDrainS.queuedBytes / perEvent;
      const early = nDrainS.genEvents + 1 - inSocket;
      drainNotes.push(
        `When the node worker was let go, ~${fmtInt(inSocket)} events were in its socket and ~${fmtInt(early)} had`,
        'already been read and decoded in C++ by the reader thread (not yet JS objects); counting only',
        `those in the socket, its drain rate is ~${fmtInt(inSocket / nDrainS.drainSeconds)} events/s.`,
      );
    }
  }

  const elapsed = (performance.now() - t0) / 1000;
  const notes = [
    ...busyNotes(busy),
    `Median of ${repeat} runs, receivers interleaved, every burst in a fresh netns with one receiver`,
    `alone (nproc is small: receivers side by side would take each other's CPU). The burst is`,
    `\`bench/c/ct_churn ${fmtInt(entries)}\`: ${fmtInt(entries)} udp entries created, then deleted, by tuple, 64 KiB`,
    `of messages per sendmsg without ACKs, so ${fmtInt(generated)} events (NEW + DESTROY); the paced burst`,
    `sends ${fmtInt(pacedBatch)} bytes per sendmsg and sleeps to hold the rate (with 64 KiB batches every ~2 ms`,
    'a receiver with the default socket buffer loses most of a burst of ~450 that lands while it sleeps);',
    '"generator events/s" is its own timer, and it drops with a listener because the kernel builds',
    "and queues each event in the generator's sendmsg. Each receiver is started first and shown",
    'to be subscribed (it saw a probe entry from 10.255.0.0/16, not counted); the burst ends with',
    'a sentinel entry whose NEW event ends the receiver (when it was lost: a',
    `${fmtInt(quietMs)} ms quiet period; for \`nfct -E > file\`, once nfct is idle: its socket empty, every`,
    'thread asleep and the file not growing for 200 ms, so that a receiver starved of CPU is not',
    'stopped while it still holds events). "received" counts burst events only; "overruns" are overrun',
    'items in the @x/nfct stream, failed `nfct_catch()` calls with ENOBUFS in C, ENOBUFS warnings of',
    '`conntrack -E` (each overrun loses an unknown number of events). "receive span" is first to',
    'last burst event at the receiver; "receiver CPU s" is user+sys of the whole receiver process',
    '(node start-up included) from `bench/c/runstat`. One queued event takes 1,280 bytes of receive',
    'buffer here; the kernel charges against twice the size asked for with SO_RCVBUF(FORCE), so',
    'the 32 MiB default of events() queues ~52,400 events in the kernel, the default socket buffer',
    '(rmem_default) ~166; the @x/nfct reader thread drains the socket into decoded records that',
    'wait in memory for the consumer, up to maxQueueBytes (256 MiB: about a million events).',
    '`nfct -E > file` and `nfct -E --json > file` are the command, its stdout a file; their rows',
    "count the lines of the file at the end, less the probes' and the sentinel's; \"last event",
    'after burst end" is when the file last grew (or the sentinel reached it), from the end of',
    'the generator. `conntrack -E` writes one line per event; piped here, its lines are',
    'counted as they come (its own count at exit matched in every run unless listed below); with',
    'stdout on /dev/null only its own count at SIGTERM is known, so that row has no probe and no',
    'sentinel (subscribed once /proc/net/netlink shows its groups, over once its socket has stayed',
    'empty for 200 ms), and it does not share the CPU with this process reading a pipe.',
    '',
    `Drain: buffer ${mib(drainBuffer)} (queues ~${
      fmtInt((2 * drainBuffer) / 1280)
    } events). The node worker blocks its JS`,
    'thread in a synchronous read of stdin from the moment it saw the probe until the burst is',
    'over; its native reader thread keeps reading into memory (maxQueueBytes 256 MiB: the whole',
    'burst), so at the release JS turns records already in memory into objects. With maxQueueBytes',
    '64 KiB the reader stops at once and the socket holds the burst, as a reader bounded in records',
    'did before. The C receiver is SIGSTOPped for the burst. "drain s" runs from the release',
    '(the end of the read; SIGCONT) to the last burst event, and the node figure includes turning',
    'every event into a JS object in `for await`.',
    ...drainNotes,
    '',
    `Whole benchmark: ${fmtFixed(elapsed, 0)} s.`,
  ];

  // Memory of the slow consumer: what the stream held at most, and the process before, at the
  // peak and once it had caught up (after a GC).
  const memRows = [['burst', 'consumer', 'received', 'peak queued', 'peak queued MiB', 'RSS at the first event MiB',
    'RSS peak MiB', 'RSS after catching up MiB', 'of which JS heap MiB']];
  for (const c of cases.filter((x) => x.kind === 'receive' && x.key === 'nfct-slow')) {
    const runs = samples.get(c);
    const m = (f) => median(runs.map(f));
    memRows.push([
      c.load.label,
      c.def.label,
      fmtInt(m((r) => r.res.received)),
      fmtInt(m((r) => r.res.extra.stats.peakRecords)),
      fmtFixed(m((r) => r.res.extra.stats.peakBytes) / MiB, 1),
      fmtFixed(m((r) => r.res.extra.rss.base) / 1024, 1),
      fmtFixed(m((r) => r.res.extra.rss.peak) / 1024, 1),
      fmtFixed(m((r) => r.res.extra.rss.after) / 1024, 1),
      fmtFixed(m((r) => r.res.extra.rss.heapAfter) / 1024, 1),
    ]);
  }

  writeReport({
    section: SECTION,
    targets,
    refs,
    receiveTitle: `Receiving a burst of ${fmtInt(generated)} events`,
    receiveRows: recvRows,
    drainTitle: 'Drain rate (socket filled first, then timed until the last event)',
    drainRows,
    more: memRows.length > 1
      ? ['', '### Memory of a consumer that falls behind, and after it caught up', '', table(memRows)]
      : [],
    notes,
    losses,
    problems,
  });
}

await main();
