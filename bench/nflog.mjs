// NFLOG benchmark: how much of a bounded UDP flood, logged by an nft `log group N` rule, each
// receiver gets, and how fast @x/nfct turns a full socket into JS objects, against tcpdump and a
// plain C libnetfilter_log receiver, in the same run, each repeated and reported as the median.
//
//   node bench/nflog.mjs [--repeat 3] [--packets 1000000] [--rate 250000] [--size 64]
//                        [--group 7] [--receivers none,nfct,nfct-range,tcpdump,c-default,c-tuned]
//                        [--drain nfct,nfct-socket,c] [--tuned-buffer 67108864]
//                        [--drain-buffer 536870912] [--quiet-ms 1500] [--busy 0]
//
// The flood (bench/c/udp_flood): PACKETS datagrams of --size bytes of payload to 127.0.0.1:9999
// inside the netns, 64 per sendmmsg(), once as fast as it goes, once paced to --rate packets/s
// (the rate of the issue's reference figures; --rate 0 leaves it out). Nothing listens on 9999:
// the rule sits on the OUTPUT hook and logs each datagram before it is delivered (and dropped,
// with a rate-limited ICMP port unreachable). The netns's ruleset:
//
//   table inet nfctbench { chain out { type filter hook output priority 0;
//     udp dport 9999 log prefix "flood" group N      the flood, counted
//     udp dport 9998 log prefix "probe" group N      probes: the receiver is bound and delivering
//     udp dport 9997 log prefix "end" group N } }    the sentinel after the flood: ends a run
//
// Receivers, each in its own process, each alone with the flood in a fresh netns, started and
// shown to be subscribed before the flood starts (probes, one every 100 ms, until it saw one):
//   nfct        node bench/workers/nflog.mjs NS N: nf.subscribe({ group }), defaults, `for await`
//   nfct-range  the same with { range: 128 }
//   tcpdump     `tcpdump -i nflog:N -w /dev/null -Z root`, counted by its own summary at SIGTERM
//               ("N packets captured"): no probe (subscribed once the group shows as bound in
//               /proc/net/netfilter/nfnetlink_log), no sentinel (its count is the flood alone);
//               over once the kernel holds nothing for the group and its socket has stayed
//               empty for 200 ms
//   c-default   bench/c/nflog_recv: libnetfilter_log, the kernel's default NFLOG settings
//   c-tuned     the same with --tuned-buffer (nfnl_rcvbufsiz: SO_RCVBUFFORCE), nlbufsiz 128 KiB,
//               qthreshold 100, flush timeout 0.1 s
//   none        (full speed only) no receiver: what the flood costs without anyone bound
// A run ends at the sentinel, or, when that was lost, once no flood packet came for --quiet-ms.
//
// Drain: the receiver is held while the flood fills its socket (--drain-buffer): the node
// worker blocks its JS thread (a synchronous read of stdin; the native reader thread still
// reads the flood into memory, up to maxQueueBytes); the C receiver is
// SIGSTOPped. Then it is let go and timed until its last flood packet:
//   nfct        subscribe({ bufferSize, maxBufferSize }), maxQueueBytes default (256 MiB): the
//               reader thread takes the whole flood off the socket while JS is blocked
//   nfct-socket the same with maxQueueBytes 64 KiB: the socket holds the flood, as a reader
//               bounded in records did before; the drain includes reading it
//   c           nflog_recv tuned as c-tuned, with --drain-buffer
//
// --busy N (or 'cores'): N busy processes, one pinned to each core (bench/lib/busy.mjs), run
// from before the receiver starts until it has finished; the section is then "NFLOG under CPU
// contention", and the command rows must keep every packet in every run.
//
// Needs root. Every run gets a fresh netns (removed afterwards); nothing outside it changes.

import { execFileSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { busyNotes, busyOption, whileBusy } from './lib/busy.mjs';
import { BENCH_DIR, benchArgs, checkBuffers, checkQuietMs, checkRange, checkRepeat, ensureBuilt, ensureDist, fmtFixed,
  fmtInt, fmtMiB as mib, listOption, log, median, netlinkRmem, nflogInstances, nftLoad, probeUntilReady, REPO_DIR,
  sleep, startCommand, udpFlood, within, withNetns } from './lib/harness.mjs';
import { cReceiver, drainTable, fileReceiver, finishAfter, loadEnded, lossNotes, noReceiver, processResult,
  receiverCases, receiveTable, runCases, summarizeCases, summarizeRuns, untilReady, waitUntilIdle, withReceiver,
  workerReceiver, writeReport } from './lib/receivers.mjs';

const WORKER = join(BENCH_DIR, 'workers', 'nflog.mjs');
const RECEIVERS = ['none', 'nfct', 'nfct-range', 'nfct-log', 'nfct-log-json', 'tcpdump', 'c-default', 'c-tuned'];
const DRAINERS = ['nfct', 'nfct-socket', 'c'];
// The installed command (the bundled CLI, see lib/cli/bin.ts).
const CLI = join(REPO_DIR, 'dist', 'cli', 'bin.js');
const MiB = 1 << 20;
const FLOOD_PORT = 9999;
const PROBE_PORT = 9998;
const SENTINEL_PORT = 9997;

const opts = benchArgs({
  repeat: 3,
  packets: 1000000,
  rate: 250000,
  size: 64,
  group: 7,
  receivers: RECEIVERS.join(','),
  drain: DRAINERS.join(','),
  'tuned-buffer': 64 * MiB,
  'drain-buffer': 512 * MiB,
  'quiet-ms': 1500,
  busy: '0',
});
const busy = busyOption(opts.busy);
const SECTION = busy > 0 ? 'NFLOG under CPU contention' : 'NFLOG';
const { repeat, packets, rate: pacedRate, size, group, 'tuned-buffer': tunedBuffer, 'drain-buffer': drainBuffer,
  'quiet-ms': quietMs } = opts;
checkRepeat(repeat);
checkRange('--packets', packets, 1, 10_000_000);
checkRange('--rate', pacedRate, 0, undefined, '0: no paced flood');
checkRange('--size', size, 4, 1400);
checkRange('--group', group, 0, 65535);
checkBuffers([['--tuned-buffer', tunedBuffer], ['--drain-buffer', drainBuffer]]);
checkQuietMs(quietMs);
let receivers = listOption(opts.receivers, RECEIVERS, 'receiver');
const drainers = listOption(opts.drain, DRAINERS, 'drain receiver');
// A receiver gives up this long after it started (it also bounds itself); so does the flood.
const MAX_SECONDS = 60;
const FLOOD_MAX_SECONDS = 30;
const pct = (x) => `${fmtFixed(x, x !== 0 && Math.abs(x) < 0.1 ? 4 : 2)}%`;

const RULESET = `table inet nfctbench {
  chain out {
    type filter hook output priority 0; policy accept;
    udp dport ${FLOOD_PORT} log prefix "flood" group ${group}
    udp dport ${PROBE_PORT} log prefix "probe" group ${group}
    udp dport ${SENTINEL_PORT} log prefix "end" group ${group}
  }
}
`;

// ---------------------------------------------------------------------------
// Receivers (bench/lib/receivers.mjs): start(ns) launches one and returns hooks: isReady(),
// beforeLoad(), afterLoad() (around the flood), finish() -> { received, overruns, sentinel,
// span (first to last flood packet, s), drainSeconds, cpuSeconds, rssKb, extra }.

function nfctReceiver({ options, pause = false } = {}) {
  return workerReceiver({
    script: WORKER,
    args: (ns) => [ns, String(group)],
    options,
    quietMs,
    pause,
    name: 'nflog worker',
    what: 'the @x/nfct NFLOG worker',
    maxSeconds: MAX_SECONDS,
    extra: (j) => ({ stats: j.stats, overrunCount: j.overruns, gaps: j.gaps, other: j.other }),
  });
}

/**
 * `nfct log --group N [--json] --netns NS > file`, the command a user runs: ready once a probe's
 * line is in the file, over once the sentinel's is (or, when that was lost, once nfct is idle:
 * nothing in its socket, every thread asleep); then SIGINT. Its flood lines (prefix "flood") are
 * what it received.
 */
function cliReceiver({ json = false } = {}) {
  const mark = (prefix) => (json ? `"prefix":"${prefix}"` : `${prefix}IN=`);
  return fileReceiver({
    argv: (ns) => [process.execPath, CLI, 'log', '--group', String(group), '--netns', ns, ...(json ? ['--json'] : [])],
    readyMark: mark('probe'),
    endMark: mark('end'),
    count: (out) => out.lines(mark('flood')).marked,
    what: `nfct log${json ? ' --json' : ''}`,
    maxSeconds: MAX_SECONDS,
  });
}

/** `tcpdump -i nflog:N -w /dev/null`: its own count at exit. */
function tcpdumpReceiver() {
  return {
    async start(ns) {
      const p = startCommand(ns, ['tcpdump', '-i', `nflog:${group}`, '-w', '/dev/null', '-Z', 'root']);
      return {
        p,
        noProbe: true,
        noSentinel: true,
        // The group is bound to a socket (the last step of libpcap's activation is setting the
        // copy mode, right after the bind; the kernel queues for the socket from the bind on).
        isReady: () => nflogInstances(ns).some((i) => i.group === group && i.portid !== 0),
        afterReady() {},
        beforeLoad() {},
        afterLoad() {},
        async finish() {
          // Over once the kernel holds no partial batch for the group (the default flush
          // timeout is 1 s) and the socket has stayed empty for 200 ms.
          const held = () => nflogInstances(ns).find((i) => i.group === group)?.qlen ?? 0;
          await waitUntilIdle(() => held() > 0 || netlinkRmem(ns) > 0, MAX_SECONDS);
          p.kill('SIGTERM');
          const r = await within(p, 10, 'tcpdump');
          const captured = /(\d+) packets? captured/.exec(r.stderr);
          const dropped = /(\d+) packets? dropped by kernel/.exec(r.stderr);
          if (!captured) throw new Error(`tcpdump printed no count (exit ${r.code}): ${r.stderr.slice(-300)}`);
          const drops = dropped ? Number(dropped[1]) : 0;
          return processResult(r, {
            received: Number(captured[1]),
            // libpcap counts ENOBUFS in "dropped by kernel", but tests a stale errno after every
            // recv(), so once one overrun happened every later recv() adds one: the figure says
            // whether there was an overrun, not how many.
            overruns: NaN,
            overrunSeen: drops > 0,
            sentinel: false,
            extra: { dropped: drops },
          });
        },
      };
    },
  };
}

const TUNED = { nlbufsiz: 128 << 10, qthresh: 100, timeout: 10 };

function nflogRecvReceiver({ rcvbuf = 0, tuned = false, stop = false } = {}) {
  return cReceiver({
    name: 'nflog_recv',
    args: [String(group)],
    quietMs,
    rcvbuf,
    more: tuned
      ? ['--nlbufsiz', String(TUNED.nlbufsiz), '--qthresh', String(TUNED.qthresh), '--timeout', String(TUNED.timeout)]
      : [],
    stop,
    maxSeconds: MAX_SECONDS,
    extra: (kv) => ({ rcvbuf: kv.rcvbuf, recvs: kv.recvs, bytes: kv.bytes }),
  });
}

const KERNEL_DEFAULTS = 'kernel defaults: rmem_default, nlbufsiz ~4 KiB, qthreshold 100, timeout 1 s';
const RECEIVER_DEFS = {
  none: { label: 'none (no receiver bound: the flood alone)', settings: '',
    make: () => noReceiver({ noProbe: true, noSentinel: true }) },
  nfct: {
    label: '@x/nfct `subscribe({ group })` (defaults)',
    settings: 'defaults: 32 MiB buffer, nlbufsiz 128 KiB, qthreshold 100, timeout 0.1 s, copy packet',
    make: () => nfctReceiver(),
  },
  'nfct-range': {
    label: '@x/nfct `subscribe({ group, range: 128 })`',
    settings: 'defaults, range 128',
    make: () => nfctReceiver({ options: { range: 128 } }),
  },
  'nfct-log': {
    label: '`nfct log --group N > file` (LOG lines)',
    settings: "the command's defaults (sequence numbers on); maxQueueBytes 256 MiB",
    make: () => cliReceiver(),
  },
  'nfct-log-json': {
    label: '`nfct log --group N --json > file` (NDJSON)',
    settings: "the command's defaults (sequence numbers on); maxQueueBytes 256 MiB",
    make: () => cliReceiver({ json: true }),
  },
  tcpdump: {
    label: '`tcpdump -i nflog:N -w /dev/null` (its own count)',
    settings: `${KERNEL_DEFAULTS} (libpcap sets only the copy range)`,
    noSentinel: true,
    make: () => tcpdumpReceiver(),
  },
  'c-default': {
    label: 'C libnetfilter_log (nflog_recv), defaults',
    settings: KERNEL_DEFAULTS,
    make: () => nflogRecvReceiver(),
  },
  'c-tuned': {
    label: 'C libnetfilter_log (nflog_recv), tuned',
    settings: `${mib(tunedBuffer)} buffer (nfnl_rcvbufsiz), nlbufsiz 128 KiB, qthreshold 100, timeout 0.1 s`,
    make: () => nflogRecvReceiver({ rcvbuf: tunedBuffer, tuned: true }),
  },
};

const DRAIN_DEFS = {
  nfct: {
    label: '@x/nfct `subscribe({ group, bufferSize })`, JS thread blocked during the flood (the reader holds it)',
    settings: `bufferSize ${mib(drainBuffer)}, maxQueueBytes 256 MiB (default)`,
    make: () => nfctReceiver({ options: { bufferSize: drainBuffer, maxBufferSize: drainBuffer }, pause: true }),
  },
  'nfct-socket': {
    label: '@x/nfct, the same with maxQueueBytes 64 KiB (the socket holds it)',
    settings: `bufferSize ${mib(drainBuffer)}, maxQueueBytes 64 KiB`,
    make: () =>
      nfctReceiver({ options: { bufferSize: drainBuffer, maxBufferSize: drainBuffer, maxQueueBytes: 65536 },
        pause: true }),
  },
  c: {
    label: 'C libnetfilter_log (nflog_recv), SIGSTOPped during the flood',
    settings: `${mib(drainBuffer)} buffer, nlbufsiz 128 KiB, qthreshold 100, timeout 0.1 s`,
    make: () => nflogRecvReceiver({ rcvbuf: drainBuffer, tuned: true, stop: true }),
  },
};

// ---------------------------------------------------------------------------
// One flood with one receiver, in a fresh netns.

/** Sends a probe packet every 100 ms until the receiver saw one (at most 60: 6 s). */
function probe(ns, isReady) {
  return probeUntilReady(ns, isReady, {
    maxProbes: 60,
    pollMs: 5,
    probe: () => udpFlood(ns, 1, { port: PROBE_PORT, size }),
    what: 'probe packets',
  });
}

function measure(def, flood, drain) {
  return whileBusy(busy, () => measureAlone(def, flood, drain));
}

function measureAlone(def, flood, drain) {
  return withNetns(async (ns) => {
    nftLoad(ns, RULESET);
    return withReceiver(def, ns, async (rx) => {
      const t0 = performance.now();
      const probes = await untilReady(rx, ns, probe, `bind group ${group}`);
      const readySeconds = (performance.now() - t0) / 1000;
      await rx.afterReady();
      await rx.beforeLoad();
      const gen = await udpFlood(ns, packets, {
        rate: flood.rate,
        size,
        maxSeconds: FLOOD_MAX_SECONDS,
        sentinel: rx.noSentinel ? 0 : SENTINEL_PORT,
      });
      if (gen.sent !== packets) throw new Error(`udp_flood sent ${gen.sent} packets, not ${packets}`);
      let queuedBytes = NaN;
      if (drain) {
        // The last partial batch leaves the kernel after the flush timeout (0.1 s here).
        await sleep(300);
        queuedBytes = netlinkRmem(ns);
      }
      const { res, lag } = await finishAfter(rx, loadEnded());
      return { gen, res, probes, readySeconds, queuedBytes, lag };
    });
  });
}

// ---------------------------------------------------------------------------

function summarize(runs) {
  const loss = runs.map((r) => (100 * (r.gen.sent - r.res.received)) / r.gen.sent);
  return {
    ...summarizeRuns(runs),
    loss: median(loss),
    lossMax: Math.max(...loss),
    lossless: runs.filter((r) => r.res.received === r.gen.sent).length,
    overrunRuns: runs.filter((r) => r.res.overrunSeen).length,
    recvRate: median(runs.map((r) => r.res.received / r.res.span)),
    sent: median(runs.map((r) => r.gen.sent)),
    readySeconds: median(runs.map((r) => r.readySeconds)),
  };
}

function haveTcpdump() {
  try {
    execFileSync('tcpdump', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function main() {
  const t0 = performance.now();
  const loadBefore = loadavg()[0];
  ensureBuilt();
  ensureDist();
  const skipped = [];
  if (receivers.includes('tcpdump') && !haveTcpdump()) {
    receivers = receivers.filter((r) => r !== 'tcpdump');
    skipped.push('tcpdump is not installed: its row is left out.');
  }

  const floods = [{ key: 'full', label: 'full speed', rate: 0 }];
  if (pacedRate > 0) floods.push({ key: 'paced', label: `paced ${fmtInt(pacedRate)}/s`, rate: pacedRate });
  const cases = receiverCases(floods, receivers, RECEIVER_DEFS, drainers, DRAIN_DEFS);

  const problems = [];
  const check = (c, run, tag) => {
    const { gen, res } = run;
    if (res.received > gen.sent) problems.push(`${tag}: received ${res.received} of ${gen.sent} sent`);
    if (res.unwritten) problems.push(`${tag}: ${res.unwritten} packets received and not written (said at exit)`);
    if (res.timedOut) problems.push(`${tag}: still busy ${MAX_SECONDS} s after the flood`);
    if (c.key.startsWith('nfct') && !c.key.startsWith('nfct-log') && res.extra?.overrunCount !== res.overruns) {
      problems.push(`${tag}: ${res.overruns} overrun items, stream.overruns ${res.extra?.overrunCount}`);
    }
    log(
      `  ${tag}: sent ${fmtInt(gen.sent)} in ${fmtFixed(gen.seconds)} s (${fmtInt(gen.rate)}/s), ` +
        (c.key === 'none'
          ? 'no receiver'
          : `received ${fmtInt(res.received)} (loss ${pct((100 * (gen.sent - res.received)) / gen.sent)}), ` +
            `overruns ${c.key === 'tcpdump' ? (res.overrunSeen ? '>=1' : 0) : res.overruns}, ` +
            `sentinel ${res.sentinel ? 'seen' : 'not seen'}` +
            (c.kind === 'drain'
              ? `, ${fmtFixed(run.queuedBytes / MiB, 1)} MiB in the socket, drain ${fmtFixed(res.drainSeconds)} s = ${
                fmtInt(res.received / res.drainSeconds)
              }/s`
              : '')),
    );
  };
  const samples = await runCases(cases, repeat, (c) => measure(c.def, c.load, c.kind === 'drain'), check);

  // -------------------------------------------------------------------------
  // Tables

  const { sum, find } = summarizeCases(samples, summarize);
  const overrunCell = (c, s) =>
    c.key === 'tcpdump' ? (s.overrunRuns ? `≥1 in ${s.overrunRuns}/${s.n} runs` : '0') : fmtInt(s.overruns);

  const recvRows = receiveTable(sum, {
    load: 'flood',
    item: 'packet',
    columns: ['settings', 'sent', 'send rate pkt/s', 'received', 'loss', 'worst loss', 'lossless runs', 'overruns'],
    cells: (c, s, none) => [
      c.def.settings,
      fmtInt(s.sent),
      fmtInt(s.genRate),
      ...(none
        ? ['', '', '', '', '']
        : [fmtInt(s.received), pct(s.loss), pct(s.lossMax), `${s.lossless}/${s.n}`, overrunCell(c, s)]),
    ],
  });

  const cDrain = find('drain', 'full', 'c');
  // Socket bytes per queued packet: the stopped C receiver's socket holds the whole flood and
  // the sentinel (the probes were read before it stopped).
  const perPacket = cDrain && cDrain.received === cDrain.sent ? cDrain.queuedBytes / (cDrain.sent + 1) : NaN;
  const drainRows = drainTable(sum, {
    rate: 'packets/s',
    columns: ['settings', 'sent', 'in the socket at release', 'received', 'loss'],
    cells: (c, s) => [
      c.def.settings,
      fmtInt(s.sent),
      Number.isFinite(perPacket)
        ? `~${fmtInt(s.queuedBytes / perPacket)} (${fmtFixed(s.queuedBytes / MiB, 1)} MiB)`
        : `${fmtFixed(s.queuedBytes / MiB, 1)} MiB`,
      fmtInt(s.received),
      pct(s.loss),
    ],
  });

  const TARGET_DRAIN = 3_800_000;
  const targets = [['target (issue)', 'measured (median; worst)', 'met']];
  for (const f of floods) {
    const s = find('receive', f.key, 'nfct');
    if (!s) continue;
    targets.push([
      `subscribe() with default options, counting only, loses nothing of a ${
        fmtInt(packets)
      }-packet flood (${f.label}: ${fmtInt(s.genRate)} pkt/s)`,
      `loss ${pct(s.loss)}; ${pct(s.lossMax)} (${s.lossless}/${s.n} runs lossless), peak RSS ${
        fmtInt(s.rssKb / 1024)
      } MiB`,
      s.lossless === s.n ? 'yes' : 'NO',
    ]);
    for (const [key, what] of [['nfct-log', '`nfct log > file`'], ['nfct-log-json', '`nfct log --json > file`']]) {
      const t = find('receive', f.key, key);
      if (!t) continue;
      // Under contention every packet, in every run.
      const need = busy > 0 ? packets : Math.ceil(packets * 0.999);
      targets.push([
        `${what} receives ${busy > 0 ? 'all' : 'at least'} ${fmtInt(need)} of the ${fmtInt(packets)}-packet flood${
          busy > 0 ? ` in every one of ${repeat} runs, ${busy} busy processes competing` : ''
        } (${f.label}: ${fmtInt(t.genRate)} pkt/s); peak RSS within 256 MiB + a fixed overhead`,
        `${fmtInt(t.received)} (worst ${fmtInt(t.receivedMin)}), done ${
          fmtFixed(t.lag, 2)
        } s after the flood, peak RSS ${fmtInt(t.rssKb / 1024)} MiB`,
        t.receivedMin >= need && t.rssKb < (256 + 200) * 1024 ? 'yes' : 'NO',
      ]);
    }
  }
  const nDrain = find('drain', 'full', 'nfct');
  if (nDrain) {
    targets.push([
      `drains at least ${fmtInt(TARGET_DRAIN)} packets/s into JS objects (the figure before the byte-bounded queue)`,
      `${fmtInt(nDrain.drainRate)} packets/s (${fmtInt(nDrain.received)} in ${fmtFixed(nDrain.drainSeconds)} s)`,
      nDrain.drainRate >= TARGET_DRAIN && nDrain.lossMax === 0
        ? 'yes'
        : nDrain.drainRate >= TARGET_DRAIN
        ? 'yes (rate), but packets were lost'
        : 'NO',
    ]);
  }

  const refs = [['peer (issue reference)', 'issue', ...floods.map((f) => `here, ${f.label}`)]];
  const refRow = (label, issue, key,
    f = (s) => `loss ${pct(s.loss)} (worst ${pct(s.lossMax)}) at ${fmtInt(s.genRate)} pkt/s`) =>
  {
    const cells = floods.map((fl) => {
      const s = find('receive', fl.key, key);
      return s ? f(s) : '';
    });
    if (cells.some((x) => x)) refs.push([label, issue, ...cells]);
  };
  refRow('`tcpdump -i nflog:N -w /dev/null`', 'loses nothing at ~225k-250k pkt/s', 'tcpdump');
  refRow('C receiver, tuned', 'loses nothing at ~225k-250k pkt/s', 'c-tuned');
  refRow("C receiver, the kernel's default NFLOG settings", 'loses ~0.01%', 'c-default');

  // Where packets were lost, for the @x/nfct rows that lost any.
  const losses = lossNotes(samples, {
    include: (c) => c.key.startsWith('nfct'),
    generated: (r) => r.gen.sent,
    items: 'packets',
    detail: (r, st) =>
      `lost ${fmtInt(r.gen.sent - r.res.received)} in ${r.res.overruns} overrun(s); the kernel delivered ` +
      `${fmtInt(st.received)} messages (flood + probes + sentinel), ${st.malformed} malformed; ` +
      `sender ${fmtInt(r.gen.rate)} pkt/s over ${fmtFixed(r.gen.seconds)} s, ` +
      `receiver ${fmtInt(r.res.received / r.res.span)} pkt/s over ${fmtFixed(r.res.span)} s`,
  });

  // How many packets one recv() carried: the kernel's batching (nlbufsiz, qthreshold).
  const batchNotes = [];
  for (const key of ['c-default', 'c-tuned']) {
    const per = floods
      .map((f) => {
        const runs = samples.get(cases.find((x) => x.kind === 'receive' && x.load.key === f.key && x.key === key)) ??
          [];
        const v = median(runs.map((r) => r.res.received / r.res.extra.recvs));
        return Number.isFinite(v) ? `${fmtFixed(v, 1)} (${f.label})` : '';
      })
      .filter(Boolean);
    if (per.length) batchNotes.push(`- ${RECEIVER_DEFS[key].label}: ${per.join(', ')}`);
  }

  const drainNotes = [];
  if (Number.isFinite(perPacket)) {
    drainNotes.push(
      `The stopped C receiver's socket held ${fmtInt(cDrain.queuedBytes)} bytes for ${fmtInt(cDrain.sent + 1)} packets`,
      `(flood + sentinel): ${
        fmtFixed(perPacket, 0)
      } bytes of receive buffer each (${size}-byte datagrams, copied whole).`,
    );
    for (const key of ['nfct', 'nfct-socket']) {
      const s = find('drain', 'full', key);
      if (!s || !Number.isFinite(s.queuedBytes)) continue;
      const inSocket = s.queuedBytes / perPacket;
      const early = Math.max(0, s.sent + 1 - inSocket);
      drainNotes.push(
        `${key === 'nfct' ? 'Default maxQueueBytes' : 'maxQueueBytes 64 KiB'}: when the worker was let go, ~${
          fmtInt(inSocket)
        } packets were in its socket`,
        `and ~${fmtInt(early)} had already been read and decoded in C++ by the reader thread (not yet JS objects)` +
          (inSocket > 1000
            ? `;\ncounting only those in the socket, ~${fmtInt(inSocket / s.drainSeconds)} packets/s.`
            : '.'),
      );
    }
  }

  const elapsed = (performance.now() - t0) / 1000;
  const notes = [
    ...busyNotes(busy),
    `Median of ${repeat} runs, receivers interleaved, every flood in a fresh netns with one receiver alone`,
    `(nproc is small: receivers side by side would take each other's CPU). The flood is`,
    `\`bench/c/udp_flood ${
      fmtInt(packets)
    }\`: ${size}-byte UDP datagrams to 127.0.0.1:${FLOOD_PORT}, 64 per sendmmsg(), logged by`,
    `\`udp dport ${FLOOD_PORT} log prefix "flood" group ${group}\` on the OUTPUT hook (nothing listens; the rule logs before`,
    'delivery), so each logged packet is a 28 + ' +
    `${size}-byte IPv4 packet. "send rate" is the sender's own timer: the`,
    "kernel builds each NFLOG message in the sender's sendmmsg(), so a receiver bound to the group",
    'slows it (compare the row without one). Each receiver is started first and shown to be bound',
    `(it saw a packet to port ${PROBE_PORT}, logged with prefix "probe", not counted; with the kernel's 1 s flush`,
    `timeout that takes up to a second); the flood ends with a packet to port ${SENTINEL_PORT} (prefix "end")`,
    `that ends the receiver (when it was lost: a ${fmtInt(quietMs)} ms quiet period; for \`nfct log > file\`, once`,
    'nfct is idle: its socket empty, every thread asleep and the file not growing for 200 ms). "received" counts flood packets',
    'only; "overruns" are overrun items in the @x/nfct stream and recv() calls failing with ENOBUFS in C',
    '(each loses an unknown number of packets). tcpdump is counted by its own "packets captured"; its',
    '"dropped by kernel" is libpcap\'s ENOBUFS counter, which tests a stale errno after every recv(), so it',
    'only tells whether an overrun happened. "receive span" is first to last flood packet at the',
    'receiver; "receiver CPU s" is user+sys of the whole receiver process (node start-up included)',
    'from `bench/c/runstat`.',
    ...(batchNotes.length
      ? [
        '',
        "Packets per recv() (the kernel's batches), median:",
        ...batchNotes,
        '',
        "With the kernel's defaults a batch is one NLMSG_GOODSIZE skb (~3.7 KiB of messages), so",
        'rmem_default (212,992 bytes) holds only a few milliseconds of a flood: a receiver that is off',
        'the CPU longer than that loses packets. Their "receive span" also includes up to 1 s of the',
        "kernel's flush timeout, which holds the last partial batch.",
      ]
      : []),
    '',
    `Drain: the node worker blocks its JS thread in a synchronous read of stdin from the moment it saw`,
    'a probe until the flood is over; its native reader thread keeps reading and decoding into',
    'memory until maxQueueBytes is reached, then the socket fills. The C receiver is',
    'SIGSTOPped for the flood. "drain s" runs from the release (the end of the read; SIGCONT) to the',
    'last flood packet; the node figure includes turning every packet into a JS object in `for await`',
    '(with its payload as a Buffer), the C figure a libnetfilter_log parse and a prefix compare.',
    ...drainNotes,
    '',
    `Whole benchmark: ${fmtFixed(elapsed, 0)} s; 1-minute load average ${fmtFixed(loadBefore, 2)} before, ${
      fmtFixed(loadavg()[0], 2)
    } after`,
    '(the benchmark itself keeps about one CPU busy; more means something else ran, and losses at full',
    'speed depend on how soon a receiver gets a CPU).',
    ...(skipped.length ? ['', ...skipped] : []),
  ];

  writeReport({
    section: SECTION,
    targets,
    refs,
    receiveTitle: `Receiving a flood of ${fmtInt(packets)} packets`,
    receiveRows: recvRows,
    drainTitle: 'Drain rate (socket filled first, then timed until the last packet)',
    drainRows,
    notes,
    losses,
    problems,
  });
}

await main();
