// Kernel log benchmark: how fast @x/nfct reads a kern.log, against grep and awk over the same
// file in the same run, with its memory; and how much of a flood of LOG lines it reads as it
// follows /dev/kmsg, against `dmesg -w` following the same flood, with the kernel's own count.
//
//   node bench/kmsg.mjs [--lines 2000000] [--repeat 3] [--flood 200000] [--rate 50000] [--parts file,follow]
//
// File: bench/lib/kern-log.mjs writes --lines lines as rsyslog writes kern.log (`Jun 13
// 19:58:21 fw1 kernel: [ 4000.001254] ...`): about half LOG lines (TCP, UDP, ICMP over IPv4 and
// IPv6, a few ICMP errors quoting a packet), a third legacy TRACE lines (2 to 5 hops a packet),
// the rest other kernel messages. Readers, each a process of its own under bench/c/runstat,
// interleaved, --repeat times (the median):
//   grep -c ' IN='        the scan alone (a floor, not a parser)
//   awk                   every KEY=VALUE of every LOG line into an array, counted by DPT: a
//                         parser written in awk, the peer
//   KernelLog.file()      bench/workers/kmsg-file.mjs: `for await` over every item (packets,
//                         TRACE packets), a field of each read; and with traces: false
//   nfct log --file       the CLI, text and --json, to /dev/null
// The same reader over a quarter of the file shows whether memory grows with the file; the
// TypeScript parser (parseLogLine() on the JS thread) over it is the alternative to the native
// decoder, measured.
//
// Follow: in a throwaway netns, `udp dport 9999 counter log prefix "<P>flood "` (and a
// sentinel rule on 9997); bench/c/udp_flood sends --flood datagrams at full speed, then paced
// to --rate. While it does, bench/workers/kmsg-follow.mjs (KernelLog.follow({ prefix })) and
// `dmesg -w` read /dev/kmsg; the rule's counter says how many lines the kernel wrote. The
// kernel's ring buffer (log_buf_len) overwrites what a reader has not read: @x/nfct says how
// many records it lost (loss items); dmesg -w says nothing.
//
// Needs root. net.netfilter.nf_log_all_netns is held at 1 for the follow runs (LOG lines of a
// namespace other than the initial one are written only then) and put back after
// (bench/lib/sysctl-hold.cjs); the netns is removed afterwards.
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { BENCH_DIR, ensureBuilt, ensureDist, fmtFixed, fmtInt, log, median, nftLoad, REPO_DIR, sleep, startCommand,
  table, timeCommand, udpFlood, within, withNetns, writeResults } from './lib/harness.mjs';
import { writeKernLog } from './lib/kern-log.mjs';

const require = createRequire(import.meta.url);
const { holdSysctl } = require('./lib/sysctl-hold.cjs');

const SECTION = 'Kernel log';
const FILE_WORKER = join(BENCH_DIR, 'workers', 'kmsg-file.mjs');
const FOLLOW_WORKER = join(BENCH_DIR, 'workers', 'kmsg-follow.mjs');
const CLI = join(REPO_DIR, 'dist', 'cli', 'main.js');
const TARGET = 1_000_000;
const AWK =
  '/ IN=/ { for (i = 1; i <= NF; i++) { n = index($i, "="); if (n) v[substr($i, 1, n - 1)] = substr($i, n + 1) } c[v["DPT"]]++ } END { for (k in c) t += c[k]; print t }';

const { values: opts } = parseArgs({
  options: {
    lines: { type: 'string', default: '2000000' },
    repeat: { type: 'string', default: '3' },
    flood: { type: 'string', default: '200000' },
    rate: { type: 'string', default: '50000' },
    parts: { type: 'string', default: 'file,follow' },
  },
});
const parts = new Set(opts.parts.split(','));
if ([...parts].some((p) => p !== 'file' && p !== 'follow')) throw new RangeError('--parts is a list of file, follow');
const lines = Number(opts.lines);
const repeat = Number(opts.repeat);
const flood = Number(opts.flood);
const rate = Number(opts.rate);
if (!Number.isInteger(lines) || lines < 1000 || lines > 20_000_000) {
  throw new RangeError('--lines must be an integer in 1000..20000000');
}
if (!Number.isInteger(repeat) || repeat < 1 || repeat > 20) {
  throw new RangeError('--repeat must be an integer in 1..20');
}
if (!Number.isInteger(flood) || flood < 1 || flood > 5_000_000) {
  throw new RangeError('--flood must be an integer in 1..5000000');
}
if (!Number.isInteger(rate) || rate < 0) {
  throw new RangeError('--rate must be a non-negative integer (0: no paced flood)');
}

ensureDist();
ensureBuilt();
const load = loadavg().map((x) => x.toFixed(2)).join(' ');

// ---- reading a file ----------------------------------------------------------------------------

let fileRows = [];
let counts;
if (parts.has('file')) {
  const dir = mkdtempSync(join(tmpdir(), 'nfct-bench-kmsg-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'kern.log');
  const small = join(dir, 'kern-quarter.log');
  log(`writing ${fmtInt(lines)} lines to ${file}`);
  counts = writeKernLog(file, lines, { seed: 28 });
  writeKernLog(small, Math.floor(lines / 4), { seed: 28 });

  const readers = [
    { name: "grep -c ' IN=' (the scan alone)", argv: ['grep', '-c', ' IN=', file] },
    { name: 'awk: every KEY=VALUE of LOG lines (peer)', argv: ['awk', AWK, file], peer: true },
    { name: '@x/nfct KernelLog.file(): packets and traces', argv: [process.execPath, FILE_WORKER, file] },
    { name: '@x/nfct KernelLog.file(), traces: false',
      argv: [process.execPath, FILE_WORKER, file, '{"traces":false}'] },
    { name: '`nfct log --file` > /dev/null', argv: [process.execPath, CLI, 'log', '--file', file], stdout: 'ignore' },
    { name: '`nfct log --file --json` > /dev/null', argv: [process.execPath, CLI, 'log', '--file', file, '--json'],
      stdout: 'ignore' },
    { name: '@x/nfct KernelLog.file(), a quarter of the lines', argv: [process.execPath, FILE_WORKER, small],
      lines: Math.floor(lines / 4) },
    { name: 'parseLogLine() on the JS thread, a quarter of the lines (the alternative)',
      argv: [process.execPath, FILE_WORKER, small, '--ts-parser'], lines: Math.floor(lines / 4) },
  ];
  const runs = readers.map(() => []);
  for (let r = 0; r < repeat; r++) {
    for (const [i, reader] of readers.entries()) {
      const res = await timeCommand(null, reader.argv, { stdout: reader.stdout ?? 'pipe' });
      runs[i].push(res);
      log(`${reader.name}: ${fmtFixed(res.seconds)} s, ${fmtInt(res.rssKb)} kB`);
    }
  }
  const peerSeconds = median(runs[readers.findIndex((r) => r.peer)].map((x) => x.seconds));
  /** The reader's own time where it has one (a worker's, without node's start-up), else the process's. */
  const readSeconds = (x) => {
    const last = x.stdout?.trim().split('\n').pop() ?? '';
    try {
      return last.startsWith('{') ? JSON.parse(last).seconds : x.seconds;
    } catch {
      return x.seconds;
    }
  };
  fileRows = [['reader', 'lines/s', 'target', 'read s', 'process wall s', 'user+sys s', 'time vs awk', 'peak RSS kB']];
  readers.forEach((reader, i) => {
    const read = median(runs[i].map(readSeconds));
    const wall = median(runs[i].map((x) => x.seconds));
    const cpu = median(runs[i].map((x) => x.userSeconds + x.sysSeconds));
    const n = reader.lines ?? lines;
    const ours = reader.name.includes('nfct') && !reader.name.includes('alternative');
    fileRows.push([reader.name, fmtInt(n / read), ours ? `≥ ${fmtInt(TARGET)}` : '', fmtFixed(read), fmtFixed(wall),
      fmtFixed(cpu), reader.peer ? '1.00×' : `${fmtFixed(wall / peerSeconds, 2)}×`,
      fmtInt(median(runs[i].map((x) => x.rssKb)))]);
  });
}

// ---- following /dev/kmsg under a flood ---------------------------------------------------------

/** The flood's rules, their prefix this run's own (dmesg -w prints what the ring buffer holds first). */
const ruleset = (P) => `table inet kmsgbench {
  chain out {
    type filter hook output priority 0;
    udp dport 9999 counter log prefix "${P}flood "
    udp dport 9997 log prefix "${P}end "
  }
}
`;
let runNumber = 0;

/** Lines `dmesg -w` printed holding `text`, counted as they come. */
function dmesgFollower(text) {
  let count = 0;
  let sentinel = false;
  let rest = '';
  const p = startCommand(null, ['dmesg', '-w'], {
    onStdout: (d) => {
      const parts = (rest + d.toString('latin1')).split('\n');
      rest = parts.pop();
      for (const l of parts) {
        if (l.includes(`${text}flood `)) count++;
        else if (l.includes(`${text}end `)) sentinel = true;
      }
    },
  });
  return { p, count: () => count, sentinel: () => sentinel };
}

async function followRun(label, floodRate) {
  const P = `kb${process.pid.toString(36)}r${++runNumber}`;
  return withNetns(async (ns) => {
    nftLoad(ns, ruleset(P)); // (brings lo up first)
    const worker = startCommand(null, [process.execPath, FOLLOW_WORKER, P, '{}', '--max-seconds', '120']);
    for (let i = 0; i < 500 && !worker.stdout().includes('ready'); i++) await sleep(10);
    const dmesg = dmesgFollower(P);
    await sleep(300); // dmesg -w prints the ring buffer first; then it follows
    const sent = await udpFlood(ns, flood, { rate: floodRate || undefined, sentinel: 9997, maxSeconds: 60 });
    const result = await within(worker, 150, 'the @x/nfct follower');
    for (let i = 0; i < 300 && !dmesg.sentinel(); i++) await sleep(10);
    dmesg.p.kill('SIGTERM');
    await dmesg.p.done;
    const counter = Number(
      /counter packets (\d+)/.exec(
        (await timeCommand(null, ['ip', 'netns', 'exec', ns, 'nft', 'list', 'table', 'inet', 'kmsgbench'])).stdout,
      )[1],
    );
    const json = JSON.parse(result.stdout.trim().split('\n').pop());
    log(
      `${label}: sent ${fmtInt(sent.sent)} at ${fmtInt(sent.rate)}/s, logged ${fmtInt(counter)}, nfct ${
        fmtInt(json.received)
      } (+${fmtInt(json.lost)} lost), dmesg -w ${fmtInt(dmesg.count())}`,
    );
    return { label, sent, counter, json, result, dmesg: dmesg.count() };
  });
}

const pct = (a, b) => `${fmtFixed((100 * a) / b, 1)}%`;
const followRows = [['flood', 'run', 'sent/s', 'lines the kernel wrote', '@x/nfct read',
  'records @x/nfct says were lost', 'read + lost − written', '`dmesg -w` read', '@x/nfct user+sys s',
  '@x/nfct peak RSS kB']];
if (parts.has('follow')) {
  const release = holdSysctl('net.netfilter.nf_log_all_netns', '1');
  try {
    const cases = [['full speed', 0], ...(rate > 0 ? [[`paced to ${fmtInt(rate)}/s`, rate]] : [])];
    for (let r = 1; r <= repeat; r++) {
      for (const [label, floodRate] of cases) {
        const f = await followRun(label, floodRate);
        followRows.push([f.label, String(r), fmtInt(f.sent.rate), fmtInt(f.counter),
          `${fmtInt(f.json.received)} (${pct(f.json.received, f.counter)})`, fmtInt(f.json.lost),
          fmtInt(f.json.received + f.json.lost - f.counter), `${fmtInt(f.dmesg)} (${pct(f.dmesg, f.counter)})`,
          fmtFixed(f.result.userSeconds + f.result.sysSeconds), fmtInt(f.result.rssKb)]);
      }
    }
  } finally {
    release();
  }
}

writeResults(
  SECTION,
  [
    ...(fileRows.length === 0 ? [] : [
      `### Reading a kern.log of ${fmtInt(lines)} lines`,
      '',
      table(fileRows),
      '',
      `${fmtInt(counts.log)} LOG lines, ${fmtInt(counts.trace)} TRACE lines (${fmtInt(counts.tracePackets)} packets), ${
        fmtInt(counts.other)
      } other lines; median of ${repeat} runs, readers interleaved. "read s" is the worker's own timer (open to last item) where it has one, else the process's wall time, from which lines/s is computed; "time vs awk" compares process wall times. Load average at the start: ${load} (the machine is shared: compare the ratios, not the seconds).`,
      '',
    ]),
    ...(followRows.length === 1 ? [] : [
      `### Following /dev/kmsg: ${fmtInt(flood)} LOG lines`,
      '',
      table(followRows),
      '',
      "The kernel writes a LOG line per packet into its ring buffer (log_buf_len) and overwrites the oldest when a reader is behind; `read + lost − written` is 0 when every line was either read or counted as lost (other messages written meanwhile make it positive). `dmesg -w` loses the same way without saying so. @x/nfct's reader thread raises its priority (nice -10) when it may.",
    ]),
  ].join('\n'),
);
