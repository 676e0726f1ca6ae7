// Conntrack dump benchmark: the whole table of a netns holding N entries,
// read by a bare C netlink walk (the floor), by libnetfilter_conntrack, by
// `conntrack -L`, and by @x/nfct (bench/workers/list.mjs), side by side in
// the same run, each repeated and reported as the median.
//
//   node bench/conntrack-dump.mjs [--sizes 100000,1000000] [--repeat 3] [--baseline DIR]
//
// --baseline DIR adds a row: the same worker run from another built checkout of @x/nfct
// (DIR/bench/workers/list.mjs with its own dist/ and addon), to compare a change with what it
// changes in the same run.
//
// Needs root. Every size gets a fresh netns (removed afterwards); sizes above
// nf_conntrack_max raise it for the run and restore it.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BENCH_DIR, benchArgs, conntrackMax, ensureBuilt, fill, fmtFixed, fmtInt, idleNodeRssKb, log,
  sampleRunners } from './lib/harness.mjs';
import { median, parseKeyValues, raiseConntrackMax, table, timeCommand, tool, withNetns } from './lib/harness.mjs';
import { writeResults } from './lib/harness.mjs';

const SECTION = 'Conntrack dump';
// list() at the largest size: time at most this many times the raw walk, RSS above the idle
// node process at most this many MiB.
const TARGET_RATIO = 1.05;
const TARGET_ABOVE_IDLE_MIB = 30;
const WORKER = join(BENCH_DIR, 'workers', 'list.mjs');

const opts = benchArgs({ sizes: '100000,1000000', repeat: 3, baseline: '' });
const sizes = opts.sizes.split(',').map((s) => Number(s.trim()));
const repeat = Number(opts.repeat);
if (sizes.some((n) => !Number.isInteger(n) || n <= 0) || !Number.isInteger(repeat) || repeat < 1) {
  throw new RangeError('--sizes must be positive integers, --repeat a positive integer');
}

/** A C dump tool of bench/c (ct_rawwalk, ct_lnfct_parse): its own timer and statistics. */
function cDumpRunner(name, key, toolName) {
  return {
    name,
    key,
    async run(ns) {
      const r = await timeCommand(ns, [tool(toolName)]);
      const kv = parseKeyValues(r.stdout);
      return { entries: kv.entries, seconds: kv.seconds, wall: r.seconds, rssKb: r.rssKb, extra: kv };
    },
  };
}

/** bench/workers/list.mjs of a checkout: its own timer and peak RSS. */
function nodeRunner(name, key, worker) {
  return {
    name,
    key,
    async run(ns) {
      // The worker opens its socket inside the named netns itself.
      const r = await timeCommand(null, [process.execPath, worker, ns], { stdout: 'pipe' });
      const line = r.stdout.trim().split('\n').pop() ?? '';
      let j;
      try {
        j = JSON.parse(line);
      } catch {
        throw new Error(`${worker} printed no JSON line: ${JSON.stringify(r.stdout.slice(-200))}`);
      }
      return {
        entries: j.entries,
        seconds: j.seconds,
        wall: r.seconds,
        rssKb: r.rssKb,
        extra: { selfRssKb: j.rssKb, placeholder: j.placeholder === true },
      };
    },
  };
}

// Each runner measures one dump and returns
// { entries, seconds (the dump itself), wall (the whole process), rssKb, extra }.
const runners = [
  cDumpRunner('raw netlink walk (C, no parsing)', 'raw', 'ct_rawwalk'),
  cDumpRunner('libnetfilter_conntrack parse (C)', 'lnfct', 'ct_lnfct_parse'),
  {
    name: '`conntrack -L > /dev/null`',
    key: 'conntrack',
    async run(ns) {
      const r = await timeCommand(ns, ['conntrack', '-L'], { stdout: 'ignore' });
      const m = /(\d+) flow entries have been shown/.exec(r.stderr);
      // No internal timer: the dump time is the process's wall time.
      return { entries: m ? Number(m[1]) : NaN, seconds: r.seconds, wall: r.seconds, rssKb: r.rssKb };
    },
  },
  nodeRunner('@x/nfct (node bench/workers/list.mjs)', 'node', WORKER),
  ...(opts.baseline
    ? [nodeRunner(`@x/nfct baseline (${opts.baseline})`, 'base', join(opts.baseline, 'bench', 'workers', 'list.mjs'))]
    : []),
];

async function measureSize(size, idleKb) {
  const result = { size };
  await withNetns(async (ns) => {
    log(`${size} entries: netns ${ns}`);
    const empty = [];
    for (let i = 0; i < repeat; i++) {
      const r = await timeCommand(ns, [tool('ct_rawwalk')]);
      empty.push(parseKeyValues(r.stdout).seconds);
    }
    result.emptySeconds = median(empty);

    result.fill = await fill(ns, size, { proto: 'mix', mark: 1 });
    if (result.fill.created !== size) throw new Error(`ct_fill created ${result.fill.created} of ${size}`);
    log(`  filled ${fmtInt(size)} in ${fmtFixed(result.fill.seconds)} s (${fmtInt(result.fill.rate)}/s)`);

    result.rows = (await sampleRunners(ns, runners, repeat)).map((row) => {
      const ss = row.samples;
      return { ...row, wall: median(ss.map((s) => s.wall)), placeholder: ss.some((s) => s.extra?.placeholder),
        extra: ss[0].extra };
    });
  });
  const raw = result.rows.find((r) => r.runner.key === 'raw');
  for (const row of result.rows) {
    row.valid = !row.placeholder && row.entries === size;
    row.rate = row.valid ? row.entries / row.seconds : NaN;
    row.vsRaw = row.valid ? row.seconds / raw.seconds : NaN;
    row.wallVsRaw = row.valid ? row.wall / raw.wall : NaN;
    row.aboveIdle = row.runner.key === 'node' || row.runner.key === 'base' ? row.rssKb - idleKb : NaN;
  }
  return result;
}

async function main() {
  ensureBuilt();
  if (!existsSync(WORKER)) throw new Error(`${WORKER} is missing`);

  const idleKb = await idleNodeRssKb();
  log(`idle node peak RSS: ${idleKb} kB`);

  const results = [];
  for (const size of sizes) {
    const restore = size > conntrackMax() ? raiseConntrackMax(Math.ceil((size * 1.2) / 1000) * 1000) : () => {};
    try {
      results.push(await measureSize(size, idleKb));
    } finally {
      restore();
    }
  }

  const dumpRows = [
    ['entries', 'reader', 'entries/s', 'dump s', 'time vs raw walk', 'process wall s', 'wall vs raw walk',
      'peak RSS kB', 'RSS above idle node kB'],
  ];
  for (const res of results) {
    for (const row of res.rows) {
      let reader = row.runner.name;
      if (row.placeholder) reader += ' — PLACEHOLDER worker, not measured';
      else if (row.entries !== res.size) reader += ` — saw ${fmtInt(row.entries)} entries!`;
      dumpRows.push([
        fmtInt(res.size),
        reader,
        fmtInt(row.rate),
        row.valid ? fmtFixed(row.seconds) : 'n/a',
        row.valid ? `${fmtFixed(row.vsRaw, 2)}×` : 'n/a',
        fmtFixed(row.wall),
        row.valid ? `${fmtFixed(row.wallVsRaw, 2)}×` : 'n/a',
        fmtInt(row.rssKb),
        Number.isNaN(row.aboveIdle) ? '' : fmtInt(row.aboveIdle),
      ]);
    }
  }

  const fillRows = [['entries', 'fill s', 'entries/s', 'empty-netns dump s']];
  for (const res of results) {
    fillRows.push([fmtInt(res.size), fmtFixed(res.fill.seconds), fmtInt(res.fill.rate), fmtFixed(res.emptySeconds, 4)]);
  }

  const rawExtra = results[results.length - 1].rows.find((r) => r.runner.key === 'raw').extra;
  const notes = [
    `Median of ${repeat} runs per reader, readers interleaved, one fresh netns per size filled by`,
    '`bench/c/ct_fill` (IPv4, alternating udp/tcp ESTABLISHED, mark 1). "dump s" is the',
    "reader's own timer (request to NLMSG_DONE) where it has one; `conntrack -L` has none, so its",
    'dump s is its process wall time. "wall vs raw walk": the whole process (start to exit) against',
    "the raw walk's whole process. Peak RSS is the process maximum from wait4() (`bench/c/runstat`).",
    `Idle \`node -e 0\` peak RSS: ${fmtInt(idleKb)} kB. nf_conntrack_buckets:`,
    `${fmtInt(readSysctl('nf_conntrack_buckets'))}. Kernel dump chunks per recv() (1 MiB buffer):`,
    `first ${fmtInt(rawExtra.recv_first)} B, largest ${fmtInt(rawExtra.recv_max)} B, average ${
      fmtInt(rawExtra.recv_avg)
    } B.`,
    'A dump walks the global hash, entries of every other netns included (an empty netns dumps in',
    '~3 ms on an idle host, ~150 ms while another netns holds 1M entries): run on an idle host.',
  ].join('\n');

  const big = results[results.length - 1];
  const bigNode = big.rows.find((r) => r.runner.key === 'node');
  const bigCt = big.rows.find((r) => r.runner.key === 'conntrack');
  const bigBase = big.rows.find((r) => r.runner.key === 'base');
  const ratios = (r) => (r.valid ? `${fmtFixed(r.wallVsRaw, 2)}× (dump alone ${fmtFixed(r.vsRaw, 2)}×)` : 'n/a');
  const above = (r) => `+${fmtFixed(r.aboveIdle / 1024, 1)} MiB (${fmtFixed(r.rssKb / 1024, 1)} MiB)`;
  const targets = [
    ['target', 'measured', 'peer in the same run', 'met'],
    [
      `list() of ${fmtInt(big.size)} entries, whole process, ≤ ${TARGET_RATIO}× the raw C walk's`,
      ratios(bigNode),
      `\`conntrack -L\` ${ratios(bigCt)}${bigBase ? `; baseline ${ratios(bigBase)}` : ''}`,
      bigNode.valid && bigNode.wallVsRaw <= TARGET_RATIO ? 'yes' : 'NO',
    ],
    [
      `peak RSS ≤ ${TARGET_ABOVE_IDLE_MIB} MiB above idle node`,
      above(bigNode),
      `\`conntrack -L\` ${fmtFixed(bigCt.rssKb / 1024, 1)} MiB${bigBase ? `; baseline ${above(bigBase)}` : ''}`,
      bigNode.aboveIdle / 1024 <= TARGET_ABOVE_IDLE_MIB ? 'yes' : 'NO',
    ],
  ];
  const markdown = [
    '### Against the targets',
    '',
    table(targets),
    '',
    '### Dump',
    '',
    table(dumpRows),
    '',
    '### Fill (batched IPCTNL_MSG_CT_NEW, 64 KiB per sendmsg, no ACK)',
    '',
    table(fillRows),
  ].join('\n');
  writeResults(SECTION, markdown, notes);
  process.stdout.write(`${markdown}\n\n${notes}\n`);
}

function readSysctl(name) {
  try {
    return Number(readFileSync(`/proc/sys/net/netfilter/${name}`, 'utf8').trim());
  } catch {
    return NaN;
  }
}

await main();
