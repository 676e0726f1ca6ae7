// Aggregation benchmark: a table of N entries grouped by source address, by @x/nfct's
// ct.aggregate() (bench/workers/aggregate.mjs) against the bare C netlink walk (the floor: the
// kernel's dump with no parsing) and `conntrack -L | awk` doing the same grouping, side by
// side in the same run, each repeated and reported as the median. In the same rounds, the
// whole command `nfct top --once --interval 0.1 --by src` against the whole pipeline and the
// whole C walk (processes timed from start to exit). Then the cost of one `nfct top` frame
// over the same table (bench/workers/top-frame.mjs) and its RSS.
//
//   node bench/aggregate.mjs [--size 250000] [--repeat 3] [--frames 5] [--baseline DIR]
//
// --baseline DIR adds a row: ct.aggregate() through another built checkout of @x/nfct
// (DIR/bench/workers/aggregate.mjs with its own dist/ and addon), in the same rounds.
//
// Needs root. The table lives in a fresh netns (removed afterwards); a size above
// nf_conntrack_max raises it for the run and restores it.

import { join } from 'node:path';
import { BENCH_DIR, benchArgs, conntrackMax, ensureBuilt, ensureDist, fill, fmtFixed, fmtInt, idleNodeRssKb, log,
  parseKeyValues, raiseConntrackMax, REPO_DIR, sampleRunners, table, timeCommand, tool, withNetns,
  writeResults } from './lib/harness.mjs';

const SECTION = 'Aggregation and nfct top';
const AGG_WORKER = join(BENCH_DIR, 'workers', 'aggregate.mjs');
const TOP_WORKER = join(BENCH_DIR, 'workers', 'top-frame.mjs');
// ct.aggregate() at most this many times the raw walk (its own timers).
const TARGET = 1.1;
// The whole `nfct top --once` process at most this many times the whole raw walk process.
const TOP_TARGET = 1.2;
// The installed command (the bundled CLI, see lib/cli/bin.ts).
const NFCT = [process.execPath, join(REPO_DIR, 'dist', 'cli', 'bin.js')];
const TOP_ARGS = ['top', '--once', '--interval', '0.1', '--by', 'src'];

const { size, repeat, frames, baseline } = benchArgs({ size: 250000, repeat: 3, frames: 5, baseline: '' });
if (![size, repeat, frames].every((n) => Number.isInteger(n) && n > 0)) {
  throw new RangeError('--size, --repeat and --frames must be positive integers');
}

// The same grouping as ct.aggregate({ by: ['src'] }): count per original source address.
const AWK =
  `conntrack -L 2>/dev/null | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^src=/) { n[substr($i, 5)]++; break } } END { for (k in n) print n[k], k }'`;

function lastJson(stdout, who) {
  const line = stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line);
  } catch {
    throw new Error(`${who} printed no JSON line: ${JSON.stringify(stdout.slice(-200))}`);
  }
}

/** `nfct top --once` of a checkout, the whole process in the namespace. */
function topRunner(name, key, nfct) {
  return {
    name,
    key,
    async run(ns) {
      const r = await timeCommand(ns, [...nfct, ...TOP_ARGS]);
      // The header names the entries of the table; a frame without it was no frame.
      const m = /^entries ([0-9][0-9,]*) \//m.exec(r.stdout);
      const entries = m ? Number(m[1].replace(/,/g, '')) : NaN;
      return { entries, seconds: r.seconds, rssKb: r.rssKb, wall: r.seconds };
    },
  };
}

/** bench/workers/aggregate.mjs of a checkout: the aggregate() call's own timer. */
function aggRunner(name, key, worker) {
  return {
    name,
    key,
    async run(ns) {
      const r = await timeCommand(null, [process.execPath, worker, ns, 'src'], { stdout: 'pipe' });
      const j = lastJson(r.stdout, worker);
      return { entries: j.entries, seconds: j.seconds, rssKb: r.rssKb, groups: j.groups, wall: r.seconds };
    },
  };
}

const runners = [
  {
    name: 'raw netlink walk (C, no parsing)',
    key: 'raw',
    async run(ns) {
      const r = await timeCommand(ns, [tool('ct_rawwalk')]);
      const kv = parseKeyValues(r.stdout);
      return { entries: kv.entries, seconds: kv.seconds, rssKb: r.rssKb, wall: r.seconds };
    },
  },
  {
    name: '`conntrack -L | awk` (count per src)',
    key: 'awk',
    async run(ns) {
      const r = await timeCommand(ns, ['sh', '-c', AWK]);
      const entries = r.stdout.trim().split('\n').reduce((s, l) => s + Number(l.split(' ')[0]), 0);
      return { entries, seconds: r.seconds, rssKb: r.rssKb, groups: r.stdout.trim().split('\n').length,
        wall: r.seconds };
    },
  },
  topRunner('`nfct top --once --interval 0.1 --by src` (whole process)', 'top', NFCT),
  aggRunner("@x/nfct ct.aggregate({ by: ['src'] })", 'node', AGG_WORKER),
  ...(baseline
    ? [aggRunner(`baseline ct.aggregate() (${baseline})`, 'base', join(baseline, 'bench', 'workers', 'aggregate.mjs')),
      topRunner(`baseline \`nfct top --once\` (${baseline})`, 'topbase', [process.execPath,
        join(baseline, 'dist', 'cli', 'bin.js')])]
    : []),
];

async function main() {
  ensureBuilt();
  ensureDist();
  const idleKb = await idleNodeRssKb();
  const restore = size > conntrackMax() * 0.9 ? raiseConntrackMax(Math.ceil((size * 1.2) / 1000) * 1000) : () => {};
  let rows;
  let topRow;
  try {
    await withNetns(async (ns) => {
      log(`${fmtInt(size)} entries: netns ${ns}`);
      const f = await fill(ns, size, { proto: 'mix', mark: 1 });
      if (f.created !== size) throw new Error(`ct_fill created ${f.created} of ${size}`);
      rows = (await sampleRunners(ns, runners, repeat, ['wall'])).map((row) => ({
        ...row,
        groups: row.samples[0].groups,
      }));
      const r = await timeCommand(null, [process.execPath, TOP_WORKER, ns, String(frames)], { stdout: 'pipe' });
      topRow = { ...lastJson(r.stdout, 'bench/workers/top-frame.mjs'), rssKb: r.rssKb };
      log(`  top: ${fmtFixed(topRow.msPerFrame, 1)} ms per frame, ${fmtInt(r.rssKb)} kB`);
    });
  } finally {
    restore();
  }

  const raw = rows.find((r) => r.runner.key === 'raw');
  const node = rows.find((r) => r.runner.key === 'node');
  const header = ['reader', 'entries', 'groups', 'seconds', 'time vs raw walk', 'process wall s', 'peak RSS kB'];
  const aggRows = [header];
  for (const row of rows) {
    const ok = row.entries === size;
    aggRows.push([
      row.runner.name + (ok ? '' : ` — saw ${fmtInt(row.entries)} entries!`),
      fmtInt(row.entries),
      row.groups === undefined ? '' : fmtInt(row.groups),
      fmtFixed(row.seconds),
      row.runner.key === 'top' || row.runner.key === 'topbase' ? '' : `${fmtFixed(row.seconds / raw.seconds, 2)}×`,
      fmtFixed(row.wall),
      fmtInt(row.rssKb),
    ]);
  }
  const ratio = node.seconds / raw.seconds;
  const base = rows.find((r) => r.runner.key === 'base');
  const topBase = rows.find((r) => r.runner.key === 'topbase');
  const awk = rows.find((r) => r.runner.key === 'awk');
  const top = rows.find((r) => r.runner.key === 'top');
  const verdict = [
    ['target', 'measured', 'met'],
    [`ct.aggregate({ by: ['src'] }) ≤ ${TARGET}× the raw C walk`,
      `${fmtFixed(ratio, 2)}×${base ? ` (baseline ${fmtFixed(base.seconds / raw.seconds, 2)}×)` : ''}`,
      ratio <= TARGET ? 'yes' : 'NO'],
    ['against `conntrack -L | awk`', `${fmtFixed(awk.seconds / node.seconds, 1)}× faster`, ''],
    [
      `\`nfct top --once --interval 0.1 --by src\` faster than the pipeline, whole process ≤ ${TOP_TARGET}× the whole raw walk process`,
      `${fmtFixed(top.wall, 3)} s: ${fmtFixed(awk.wall / top.wall, 2)}× faster than the pipeline (${
        fmtFixed(awk.wall, 3)
      } s), ${fmtFixed(top.wall / raw.wall, 2)}× the walk (${fmtFixed(raw.wall, 3)} s)`,
      top.wall < awk.wall && top.wall <= TOP_TARGET * raw.wall && top.entries === size ? 'yes' : 'NO',
    ],
    ['`nfct top --once` peak RSS against idle `node -e 0`',
      `${fmtInt(top.rssKb)} kB (idle ${fmtInt(idleKb)} kB: +${fmtInt(top.rssKb - idleKb)} kB)${
        topBase ? `; baseline +${fmtInt(topBase.rssKb - idleKb)} kB` : ''
      }`, ''],
  ];
  const topRows = [
    ['what', 'value'],
    ['entries in the table', fmtInt(topRow.entries)],
    [`one \`nfct top\` frame (median of ${frames}: count, CPU statistics, aggregate by src, render)`,
      `${fmtFixed(topRow.msPerFrame, 1)} ms`],
    ['  a bare ct.aggregate() by src in the same process', `${fmtFixed(topRow.aggregateMs, 1)} ms`],
    ['peak RSS of the process', `${fmtInt(topRow.rssKb)} kB (idle node: ${fmtInt(idleKb)} kB)`],
  ];
  const markdown = [
    '### Against the target',
    '',
    table(verdict),
    '',
    `### Grouping ${fmtInt(size)} entries by source address`,
    '',
    table(aggRows),
    '',
    '### `nfct top` refresh',
    '',
    table(topRows),
  ].join('\n');
  const notes = [
    `Median of ${repeat} runs per reader, readers interleaved, in one netns filled by \`bench/c/ct_fill\``,
    '(IPv4, alternating udp/tcp, one source address per 60,000 entries). "seconds" is the reader\'s own',
    'timer where it has one (the raw walk: request to NLMSG_DONE; @x/nfct: the aggregate() call); the',
    'awk pipeline has none, so its figure is the wall time of the pipeline. Peak RSS from wait4() of the',
    'process (for the pipeline, its largest process). The top frame runs in a worker that opens the',
    'namespace once and draws frames to a string as `nfct top` does, without a terminal.',
    '`nfct top --once --interval 0.1` is the installed command run in the namespace, stdout a pipe:',
    'node, the CLI, the figures, the one dump of the frame (during the 0.1 s interval), the frame;',
    'its row, the pipeline and the walk are compared by process wall time (start to exit).',
  ].join('\n');
  writeResults(SECTION, markdown, notes);
  process.stdout.write(`${markdown}\n\n${notes}\n`);
}

await main();
