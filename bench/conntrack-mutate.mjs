// Conntrack changes benchmark: bulk deletes and bulk creates through @x/nfct against the
// conntrack tool doing the same, side by side in the same run, each repeated and reported as
// the median.
//
//   node bench/conntrack-mutate.mjs [--repeat 3] [--size 200000] [--create 100000]
//                                   [--cases proto,mark,create] [--no-diagnose]
//
//   proto:  a table of SIZE entries, half udp, half tcp ESTABLISHED;
//           `conntrack -D -p udp` vs deleteWhere({ protocol: 'udp' }) (bench/workers/delete-where.mjs)
//   mark:   SIZE/2 entries with mark 1 and SIZE/2 with mark 2;
//           `conntrack -D -m 1` vs deleteWhere({ mark: 1 })
//   create: CREATE entries (udp and tcp ESTABLISHED, IPv4, timeout 3600) into an empty table;
//           `conntrack -R FILE` vs createMany() (bench/workers/create-many.mjs), ct_fill as the floor
//
// --no-diagnose leaves out the rows that only explain where @x/nfct's time goes (a dry run of
// each delete, the protocol delete with a family).
//
// Needs root. Every measurement gets a fresh netns (removed afterwards); a table above
// nf_conntrack_max raises it for the run and restores it.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BENCH_DIR, benchArgs, conntrackInsertLine, conntrackMax, countEntries, ensureBuilt } from './lib/harness.mjs';
import { ensureDist, fill, fmtFixed, fmtInt, log, median, mixFlows, parseKeyValues } from './lib/harness.mjs';
import { raiseConntrackMax, settleHash, table, timeCommand, timeWorker, tool, withNetns } from './lib/harness.mjs';
import { writeResults } from './lib/harness.mjs';

const SECTION = 'Conntrack changes';
const DELETE_WORKER = join(BENCH_DIR, 'workers', 'delete-where.mjs');
const CREATE_WORKER = join(BENCH_DIR, 'workers', 'create-many.mjs');

const opts = benchArgs({ repeat: 3, size: 200000, create: 100000, cases: 'proto,mark,create' }, { diagnose: true,
  'no-diagnose': false });
const repeat = Number(opts.repeat);
const size = Number(opts.size);
const createN = Number(opts.create);
const cases = opts.cases.split(',').map((s) => s.trim());
if (!Number.isInteger(repeat) || repeat < 1) throw new RangeError('--repeat must be a positive integer');
if (!Number.isInteger(size) || size <= 0 || size % 2) throw new RangeError('--size must be a positive even integer');
if (!Number.isInteger(createN) || createN <= 0) throw new RangeError('--create must be a positive integer');
for (const c of cases) if (!['proto', 'mark', 'create'].includes(c)) throw new RangeError(`unknown case '${c}'`);
const half = size / 2;
const diagnose = opts.diagnose && !opts['no-diagnose'];

// ---------------------------------------------------------------------------
// Runners. Each measures one operation in netns `ns` and returns
// { count (entries deleted/created, as the tool says), seconds (the operation), wall (the
//   process), rssKb, extra }.

/** Entries `conntrack -L ARGS` shows in ns (its stderr summary). */
async function shown(ns, args) {
  const r = await timeCommand(ns, ['conntrack', '-L', ...args], { stdout: 'ignore' });
  const m = /(\d+) flow entries have been shown/.exec(r.stderr);
  return m ? Number(m[1]) : NaN;
}

function conntrackDelete(args) {
  return {
    name: `\`conntrack -D ${args.join(' ')}\``,
    key: 'conntrack',
    async run(ns) {
      const r = await timeCommand(ns, ['conntrack', '-D', ...args], { stdout: 'ignore' });
      const m = /(\d+) flow entries have been deleted/.exec(r.stderr);
      // No internal timer: the operation is the whole process.
      return { count: m ? Number(m[1]) : NaN, seconds: r.seconds, wall: r.seconds, rssKb: r.rssKb };
    },
  };
}

function nfctDelete(filter, { key = 'nfct', options, name } = {}) {
  const json = JSON.stringify(filter);
  const shown = JSON.stringify({ ...filter, ...options }).replace(/"([a-z]+)":/gi, '$1: ').replace(/"/g, "'").replace(
    /,/g,
    ', ',
  );
  return {
    name: name ?? `@x/nfct \`deleteWhere(${shown})\``,
    key,
    dryRun: options?.dryRun === true,
    async run(ns) {
      const r = await timeWorker(DELETE_WORKER, [ns, json, ...(options ? [JSON.stringify(options)] : [])]);
      return {
        count: r.json.deleted,
        seconds: r.json.seconds,
        wall: r.seconds,
        rssKb: r.rssKb,
        extra: { remaining: r.json.remaining, openSeconds: r.json.openSeconds },
      };
    },
  };
}

function kernelFlush(args) {
  return {
    name: `kernel flush alone (C \`ct_flush ${args.join(' ')}\`, no dump, no count; a floor)`,
    key: 'flush',
    async run(ns) {
      const r = await timeCommand(ns, [tool('ct_flush'), ...args]);
      const kv = parseKeyValues(r.stdout);
      // The kernel does not say how many it removed: counted from what is left.
      return { count: NaN, seconds: kv.seconds, wall: r.seconds, rssKb: r.rssKb };
    },
  };
}

// ---------------------------------------------------------------------------
// Delete cases: a fresh netns per measurement, filled, walked once (the floor row, and the
// check that the table is full), then one delete, then checks. `runners` are the compared
// rows; `diagnostics` show where the time of @x/nfct goes (a dry run, another filter).

const deleteCases = {
  proto: {
    label: 'delete by protocol',
    title: `Bulk delete by protocol: ${fmtInt(size)} entries (${fmtInt(half)} udp + ${
      fmtInt(half)
    } tcp), delete the udp ones`,
    target: 2.5,
    async fill(ns) {
      const f = await fill(ns, size, { proto: 'mix' });
      if (f.created !== size) throw new Error(`ct_fill created ${f.created} of ${size}`);
      return f.seconds;
    },
    runners: [conntrackDelete(['-p', 'udp']), nfctDelete({ protocol: 'udp' })],
    diagnostics: [
      nfctDelete({ protocol: 'udp' }, { key: 'dry', options: { dryRun: true } }),
      nfctDelete({ protocol: 'udp', family: 'ipv4' }, { key: 'ipv4' }),
    ],
    leftArgs: ['-p', 'udp'],
    note: 'needs a dump: the kernel cannot flush by protocol. `conntrack -D -p udp` dumps every family with no ' +
      'kernel filter and deletes entry by entry, one request and one ACK each (strace); @x/nfct without a ' +
      'family makes one kernel-filtered dump per family (the kernel takes a tuple filter only within a ' +
      'family) and sends its deletes many to a sendmsg() without ACKs',
  },
  mark: {
    label: 'delete by mark',
    title: `Bulk delete by mark: ${fmtInt(size)} entries (${fmtInt(half)} mark 1 + ${
      fmtInt(half)
    } mark 2), delete mark 1`,
    target: 10,
    async fill(ns) {
      let s = 0;
      for (const [mark, seed] of [[1, 1], [2, 2]]) {
        const f = await fill(ns, half, { proto: 'mix', mark, seed });
        if (f.created !== half) throw new Error(`ct_fill --mark ${mark} created ${f.created} of ${half}`);
        s += f.seconds;
      }
      return s;
    },
    runners: [conntrackDelete(['-m', '1']), nfctDelete({ mark: 1 }), kernelFlush(['--mark', '1'])],
    diagnostics: [nfctDelete({ mark: 1 }, { key: 'dry', options: { dryRun: true } })],
    leftArgs: ['-m', '1'],
    note: 'the kernel can flush by mark (IPCTNL_MSG_CT_DELETE with CTA_MARK/CTA_MARK_MASK), no dump needed. ' +
      '`conntrack -D -m 1` dumps with the kernel mark filter and deletes entry by entry with ACKs; ' +
      '@x/nfct sends one flush and counts by how much the table shrank (count() before and after); the ' +
      'kernel flush alone is the floor, so 10x over conntrack cannot be reached on this machine',
  },
};

async function measureDelete(key) {
  const c = deleteCases[key];
  const all = [...c.runners, ...(diagnose ? c.diagnostics : [])];
  const samples = Object.fromEntries([['floor', []], ...all.map((r) => [r.key, []])]);
  const problems = [];
  const fills = [];
  const empties = [];
  for (let rep = 1; rep <= repeat; rep++) {
    for (const runner of all) {
      await withNetns(async (ns) => {
        empties.push(await settleHash(ns));
        fills.push(await c.fill(ns));
        // The floor: one bare dump of the full table (no parsing), also the check that it is full.
        const w = await timeCommand(ns, [tool('ct_rawwalk')]);
        const kv = parseKeyValues(w.stdout);
        if (kv.entries !== size) {
          problems.push(`${key}: table held ${kv.entries} entries before the delete, not ${size}`);
        }
        samples.floor.push({ count: kv.entries, seconds: kv.seconds, wall: w.seconds, rssKb: w.rssKb,
          ok: kv.entries === size });

        const s = await runner.run(ns);
        const left = await countEntries(ns);
        const matchingLeft = await shown(ns, c.leftArgs);
        const expectLeft = runner.dryRun ? size : half;
        if (Number.isNaN(s.count)) s.count = size - left;
        s.ok = s.count === half &&
          left === expectLeft &&
          matchingLeft === (runner.dryRun ? half : 0) &&
          (s.extra?.remaining ?? expectLeft) === expectLeft;
        if (!s.ok) {
          problems.push(
            `${key} ${runner.key} [${rep}]: said ${s.count}, ${left} entries left (${matchingLeft} matching), ` +
              `expected ${half} and ${expectLeft} (${runner.dryRun ? half : 0})`,
          );
        }
        samples[runner.key].push(s);
        log(
          `  ${key} [${rep}/${repeat}] ${runner.key}: ${fmtInt(s.count)} in ${fmtFixed(s.seconds)} s (process ${
            fmtFixed(s.wall)
          } s), ${fmtInt(left)} left; walk ${fmtFixed(kv.seconds)} s`,
        );
      });
    }
  }
  return { key, c, samples, problems, fillSeconds: median(fills), emptySeconds: median(empties) };
}

// ---------------------------------------------------------------------------
// Create case: a fresh empty netns per measurement.

async function measureCreate() {
  const dir = mkdtempSync(join(tmpdir(), 'nfct-bench-create-'));
  const samples = { floor: [], conntrack: [], nfct: [] };
  const problems = [];
  const empties = [];
  try {
    const flows = mixFlows(createN);
    const jsonFile = join(dir, 'flows.json');
    const rFile = join(dir, 'conntrack-R.txt');
    writeFileSync(jsonFile, JSON.stringify(flows));
    writeFileSync(rFile, `${flows.map(conntrackInsertLine).join('\n')}\n`);
    const runners = [
      {
        key: 'floor',
        async run(ns) {
          const r = await timeCommand(ns, [tool('ct_fill'), String(createN), '--proto', 'mix']);
          const kv = parseKeyValues(r.stdout);
          return { count: kv.created, seconds: kv.seconds, wall: r.seconds, rssKb: r.rssKb };
        },
      },
      {
        key: 'conntrack',
        async run(ns) {
          const r = await timeCommand(ns, ['conntrack', '-R', rFile], { stdout: 'ignore' });
          // conntrack -R prints nothing on success: the count is checked with conntrack -C.
          return { count: NaN, seconds: r.seconds, wall: r.seconds, rssKb: r.rssKb,
            extra: { stderr: r.stderr.trim() } };
        },
      },
      {
        key: 'nfct',
        async run(ns) {
          const r = await timeWorker(CREATE_WORKER, [ns, jsonFile]);
          const j = r.json;
          if (j.failed) problems.push(`create nfct: ${j.failed} failed, first: ${j.firstError}`);
          return {
            count: j.created,
            seconds: j.seconds,
            wall: r.seconds,
            rssKb: r.rssKb,
            extra: { buildSeconds: j.buildSeconds, remaining: j.count },
          };
        },
      },
    ];
    for (let rep = 1; rep <= repeat; rep++) {
      for (const runner of runners) {
        await withNetns(async (ns) => {
          empties.push(await settleHash(ns));
          const s = await runner.run(ns);
          const n = await countEntries(ns);
          if (Number.isNaN(s.count)) s.count = n;
          s.ok = s.count === createN && n === createN && (s.extra?.remaining ?? createN) === createN;
          if (!s.ok) {
            problems.push(`create ${runner.key} [${rep}]: said ${s.count}, conntrack -C ${n}, expected ${createN}`);
          }
          samples[runner.key].push(s);
          log(
            `  create [${rep}/${repeat}] ${runner.key}: ${fmtInt(n)} entries in ${fmtFixed(s.seconds)} s (process ${
              fmtFixed(s.wall)
            } s)`,
          );
        });
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return { samples, problems, emptySeconds: median(empties) };
}

// ---------------------------------------------------------------------------
// Reporting

function summarize(ss) {
  return {
    n: ss.length,
    ok: ss.length > 0 && ss.every((s) => s.ok !== false),
    count: median(ss.map((s) => s.count)),
    seconds: median(ss.map((s) => s.seconds)),
    wall: median(ss.map((s) => s.wall)),
    rssKb: median(ss.map((s) => s.rssKb)),
    openSeconds: median(ss.map((s) => s.extra?.openSeconds)),
    buildSeconds: median(ss.map((s) => s.extra?.buildSeconds)),
  };
}

const HEADER = ['case', 'tool', 'entries', 'seconds', 'entries/s', 'conntrack s / this s', 'process wall s',
  'peak RSS kB'];

function row(caseName, tool, entries, sum, conntrackSeconds, { ratio = true } = {}) {
  const valid = sum.ok && Number.isFinite(sum.seconds);
  return [
    caseName,
    valid ? tool : `${tool} — FAILED CHECK`,
    fmtInt(entries),
    valid ? fmtFixed(sum.seconds) : 'n/a',
    valid ? fmtInt(entries / sum.seconds) : 'n/a',
    valid && ratio ? `${fmtFixed(conntrackSeconds / sum.seconds, 2)}×` : '',
    fmtFixed(sum.wall),
    fmtInt(sum.rssKb),
  ];
}

async function main() {
  ensureBuilt();
  ensureDist();

  const results = {};
  const restore = size > conntrackMax() / 1.2 ? raiseConntrackMax(Math.ceil((size * 1.2) / 1000) * 1000) : () => {};
  try {
    for (const key of ['proto', 'mark']) {
      if (!cases.includes(key)) continue;
      log(`${key}: ${deleteCases[key].title}`);
      results[key] = await measureDelete(key);
    }
    if (cases.includes('create')) {
      log(`create: ${fmtInt(createN)} entries`);
      results.create = await measureCreate();
    }
  } finally {
    restore();
  }

  const rows = [HEADER];
  const summary = [['case', 'conntrack s', '@x/nfct s', 'conntrack / @x/nfct', 'target', 'met',
    'process walls: conntrack / node']];
  const problems = [];
  const extraNotes = [];

  const diag = [['case', '@x/nfct call', 'seconds', 'compared with']];
  for (const key of ['proto', 'mark']) {
    const res = results[key];
    if (!res) continue;
    problems.push(...res.problems);
    const c = res.c;
    const floor = summarize(res.samples.floor);
    const ct = summarize(res.samples.conntrack);
    const ours = summarize(res.samples.nfct);
    rows.push(row(c.label, `raw dump of all ${fmtInt(size)} (C, no parsing; the dump floor)`, size, floor, ct.seconds));
    for (const runner of c.runners) {
      const sum = summarize(res.samples[runner.key]);
      rows.push(row(c.label, runner.name, half, sum, ct.seconds, { ratio: runner.key !== 'conntrack' }));
    }
    const ratio = ct.seconds / ours.seconds;
    const valid = ct.ok && ours.ok;
    summary.push([
      c.label,
      fmtFixed(ct.seconds),
      fmtFixed(ours.seconds),
      valid ? `${fmtFixed(ratio, 2)}×` : 'n/a',
      `≥ ${c.target}×`,
      valid ? (ratio >= c.target ? 'yes' : 'NO') : 'n/a',
      `${fmtFixed(ct.wall / ours.wall, 2)}×`,
    ]);
    if (diagnose) {
      const full = `${fmtFixed(ours.seconds)} s for the delete itself`;
      for (const runner of c.diagnostics) {
        const sum = summarize(res.samples[runner.key]);
        const what = runner.dryRun
          ? `${full}: the dump and matching alone take ${fmtFixed(sum.seconds)} s, the deleting ${
            fmtFixed(ours.seconds - sum.seconds)
          } s`
          : `${full}; ${fmtFixed(ct.seconds / sum.seconds, 2)}× faster than conntrack`;
        diag.push([c.label, sum.ok ? runner.name : `${runner.name} — FAILED CHECK`, fmtFixed(sum.seconds), what]);
      }
    }
    extraNotes.push(
      `${c.label}: ${c.note}. Fill (ct_fill) ${fmtFixed(res.fillSeconds)} s; @x/nfct Conntrack.open() ${
        fmtFixed(ours.openSeconds, 4)
      } s (not in its seconds).`,
    );
  }

  if (results.create) {
    const res = results.create;
    problems.push(...res.problems);
    const floor = summarize(res.samples.floor);
    const ct = summarize(res.samples.conntrack);
    const ours = summarize(res.samples.nfct);
    const label = 'create';
    rows.push(row(label, '`ct_fill --proto mix` (C, batched, no ACK; the floor)', createN, floor, ct.seconds));
    rows.push(row(label, '`conntrack -R FILE` (one `-I` line per entry)', createN, ct, ct.seconds, { ratio: false }));
    rows.push(row(label, '@x/nfct `createMany(flows)`', createN, ours, ct.seconds));
    const ratio = ct.seconds / ours.seconds;
    const valid = ct.ok && ours.ok;
    summary.push([
      label,
      fmtFixed(ct.seconds),
      fmtFixed(ours.seconds),
      valid ? `${fmtFixed(ratio, 2)}×` : 'n/a',
      '≥ 2×',
      valid ? (ratio >= 2 ? 'yes' : 'NO') : 'n/a',
      `${fmtFixed(ct.wall / ours.wall, 2)}×`,
    ]);
    extraNotes.push(
      `create: @x/nfct reads the JSON file and builds its ${fmtInt(createN)} FlowInput objects in ${
        fmtFixed(ours.buildSeconds)
      } s before the timed createMany() (default batchSize 1000).`,
    );
  }

  const notes = [
    `Median of ${repeat} runs per tool, tools interleaved, every run in a fresh netns (filled by`,
    '`bench/c/ct_fill`: IPv4, alternating udp/tcp ESTABLISHED, timeout 3600). "seconds" is the',
    "operation: @x/nfct's own timer around the one deleteWhere()/createMany() call (node start-up,",
    'module load and Conntrack.open() excluded, they are in "process wall s"); ct_fill and the',
    'raw dump time themselves; `conntrack` has no timer, so its seconds are its process wall time',
    '(`bench/c/runstat`). Delete rows count the entries deleted; the raw dump row counts the entries',
    'walked, in the same netns just before the delete. Checks on every run: the tool deleted',
    `${fmtInt(half)} (conntrack's "N flow entries have been deleted.", deleteWhere()'s result),`,
    `\`conntrack -C\` = ${fmtInt(half)} afterwards and \`conntrack -L\` with the same filter shows none (a dry`,
    `run: said ${fmtInt(half)}, deleted none; \`ct_flush\`: says nothing, counted from what is left);`,
    `creates: \`conntrack -C\` = ${fmtInt(createN)}. Create input is the same ${fmtInt(createN)} entries for all three`,
    '(ct_fill also sets ASSURED|SEEN_REPLY; `conntrack -I` and createMany() entries carry only the',
    'CONFIRMED bit the kernel needs). Before each run the empty netns is polled until an empty dump',
    `takes ≤ 6 ms (entries of the previous, deleted netns are freed asynchronously); median empty dump`,
    `${
      fmtFixed(median([results.proto?.emptySeconds, results.mark?.emptySeconds, results.create?.emptySeconds]), 4)
    } s.`,
    '',
    ...extraNotes.map((n) => `- ${n}`),
    ...(problems.length ? ['', '**Failed checks:**', ...problems.map((p) => `- ${p}`)] : []),
  ].join('\n');

  const markdown = [
    '### Against the targets',
    '',
    table(summary),
    '',
    '### All rows',
    '',
    table(rows),
    ...(diag.length > 1 ? ['', "### Where @x/nfct's delete time goes", '', table(diag)] : []),
  ].join('\n');
  writeResults(SECTION, markdown, notes);
  process.stdout.write(`${markdown}\n\n${notes}\n`);
  if (problems.length) process.exitCode = 1;
}

await main();
