// Receivers of a bounded load (a conntrack events burst, an NFLOG flood), shared by
// bench/conntrack-events.mjs and bench/nflog.mjs, and the scaffolding around one run.
//
// A receiver is { start(ns) } and start() launches one process and returns hooks:
//   p             the process (startCommand), or null
//   noProbe       it cannot see a probe: ready once isReady() says so, without probes
//   noSentinel    no sentinel is sent after the load (its count would include it)
//   isReady()     it showed it is subscribed (it saw a probe)
//   afterReady()  before the load, once ready
//   beforeLoad()  just before the load (a C receiver is SIGSTOPped here to hold it)
//   afterLoad()   once the load is over (a held receiver is let go)
//   finish()      -> { received, overruns, sentinel, span (first to last counted item, s),
//                  drainSeconds, cpuSeconds, rssKb, lastPerf or lastEpochMs, extra }

import { readFileSync } from 'node:fs';
import { fmtFixed, fmtInt, median, netfilterRmem, parseKeyValues, processIdle, sleep, startCommand, startToFile, table,
  tool, waitForFileEnd, within, writeResults } from './harness.mjs';

/** The state letter of process `pid` (/proc/PID/stat: R, S, T...), '?' when it is gone. */
export function processState(pid) {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '')[0];
  } catch {
    return '?';
  }
}

/**
 * The parts of a result every receiver process has: user + sys CPU seconds and peak RSS from
 * runstat (`r`, the startCommand result); no span or drain time unless `fields` give them.
 */
export function processResult(r, fields) {
  return { span: NaN, drainSeconds: NaN, ...fields, cpuSeconds: r.userSeconds + r.sysSeconds, rssKb: r.rssKb };
}

/**
 * A node worker (bench/workers/*.mjs): `node ...nodeFlags script ...args(ns) [OPTIONS_JSON]
 * --quiet-ms Q --max-seconds S [--pause] ...more`, with `options` (the stream's) as JSON when
 * given. Ready once it prints "ready"; with `pause` it blocks its JS thread from then on until
 * afterLoad() writes "go" on its stdin. Its last stdout line is its JSON result; `extra(json)`
 * picks the benchmark's own figures. `name` and `what` name it in errors.
 */
export function workerReceiver(
  { script, args, options, nodeFlags = [], more = [], quietMs, pause = false, name, what, maxSeconds, extra },
) {
  const argv = (ns) => [
    process.execPath,
    ...nodeFlags,
    script,
    ...args(ns),
    ...(options ? [JSON.stringify(options)] : []),
    ...boundArgs(quietMs, maxSeconds),
    ...(pause ? ['--pause'] : []),
    ...more,
  ];
  return {
    async start(ns) {
      const p = startCommand(null, argv(ns), { stdin: pause ? 'pipe' : 'ignore' });
      return {
        p,
        isReady: () => p.stdout().includes('ready\n'),
        afterReady() {},
        beforeLoad() {},
        afterLoad() {
          if (pause) p.write('go\n');
        },
        async finish() {
          const r = await within(p, maxSeconds + 10, what);
          const line = r.stdout.trim().split('\n').pop() ?? '';
          let j;
          try {
            j = JSON.parse(line);
          } catch {
            throw new Error(
              `${name} printed no JSON (exit ${r.code}): ${JSON.stringify(r.stdout.slice(-200))} ${r.stderr.trim()}`,
            );
          }
          if (r.code !== 0) throw new Error(`${name} exited with ${r.code}: ${r.stderr.trim()}`);
          return processResult(r, {
            received: j.received,
            overruns: j.overrunItems,
            sentinel: j.sentinel,
            lastEpochMs: j.lastEpochMs,
            span: j.seconds,
            drainSeconds: j.drainSeconds ?? NaN,
            extra: extra(j),
          });
        },
      };
    },
  };
}

/**
 * A C receiver (bench/c/ct_events, bench/c/nflog_recv), the tool `name` run in the netns as
 * `name ...args --quiet-ms Q --max-seconds S [--rcvbuf B] ...more`: ready once it prints
 * "ready PID"; with `stop` it is SIGSTOPped for the load and SIGCONTed after. It prints "key
 * value" lines (received, enobufs, sentinel, seconds, drain_seconds...); `extra(kv)` picks the
 * benchmark's own.
 */
export function cReceiver({ name, args = [], quietMs, rcvbuf = 0, more = [], stop = false, maxSeconds, extra }) {
  const argv = [tool(name), ...args, ...boundArgs(quietMs, maxSeconds), ...(rcvbuf ? ['--rcvbuf', String(rcvbuf)] : []),
    ...more];
  return {
    async start(ns) {
      const p = startCommand(ns, argv);
      let pid = 0;
      return {
        p,
        isReady() {
          const m = /^ready (\d+)$/m.exec(p.stdout());
          if (m) pid = Number(m[1]);
          return pid > 0;
        },
        afterReady() {},
        async beforeLoad() {
          if (!stop) return;
          p.resumeOnKill(pid); // a stopped process cannot act on SIGTERM
          process.kill(pid, 'SIGSTOP');
          for (let i = 0; i < 100 && processState(pid) !== 'T'; i++) await sleep(5);
          if (processState(pid) !== 'T') throw new Error(`${name} ${pid} did not stop`);
        },
        afterLoad() {
          if (stop) process.kill(pid, 'SIGCONT');
        },
        async finish() {
          const r = await within(p, maxSeconds + 10, name);
          if (r.code !== 0) throw new Error(`${name} exited with ${r.code}: ${r.stderr.trim()}`);
          const kv = parseKeyValues(r.stdout);
          return processResult(r, {
            received: kv.received,
            overruns: kv.enobufs,
            sentinel: kv.sentinel === 1,
            span: kv.seconds,
            drainSeconds: kv.drain_seconds >= 0 ? kv.drain_seconds : NaN,
            extra: extra(kv),
          });
        },
      };
    },
  };
}

/**
 * The `nfct` command `argv(ns)` with its stdout in a file (startToFile): ready once the file has
 * `readyMark`, over once its tail has `endMark` (or, when that was lost, once the command is
 * idle: its sockets in `ns` empty, its threads asleep, its file not growing); then SIGINT.
 * `count(out)` gives what it received; `settleMs` is waited after ready (probes sent after the
 * first one it saw land in the file by then). The result's `unwritten` is what the command said
 * it received and did not write; `timedOut`, that it was still busy after `maxSeconds`.
 */
export function fileReceiver({ argv, readyMark, endMark, count, what, settleMs = 0, maxSeconds }) {
  return {
    async start(ns) {
      const out = startToFile(argv(ns));
      return {
        p: out.p,
        isReady: () => out.has(readyMark),
        afterReady: () => (settleMs ? sleep(settleMs) : undefined),
        beforeLoad() {},
        afterLoad() {},
        async finish() {
          // Without the sentinel, the run is over once the command has nothing left: its
          // socket empty and every thread asleep (a quiet period would end a receiver that
          // waits for a CPU with events still in memory).
          const idle = () => processIdle(out.p.pid) && netfilterRmem(ns, { subscribed: false }) === 0;
          const end = await waitForFileEnd(out, endMark, { maxSeconds, idle });
          out.p.kill('SIGINT');
          const r = await within(out.p, 10, what);
          const received = count(out);
          // Seen anywhere in the file (the wait looks only at its last 64 KiB as it grows).
          const sentinel = end.sentinel || out.has(endMark);
          out.remove();
          // What it had received and could not write before it ended (said on stderr).
          const unwritten = /(\d+) \w+ received from the kernel were not written/.exec(r.stderr);
          return processResult(r, {
            received,
            overruns: (r.stderr.match(/overrun/gi) ?? []).length,
            sentinel,
            lastPerf: end.lastGrowth,
            unwritten: unwritten ? Number(unwritten[1]) : 0,
            timedOut: !end.sentinel && !end.idle,
            extra: { stderr: r.stderr.trim().split('\n').slice(-3).join(' | ') },
          });
        },
      };
    },
  };
}

/** The bounds every receiver process takes: its quiet period and its longest run. */
function boundArgs(quietMs, maxSeconds) {
  return ['--quiet-ms', String(quietMs), '--max-seconds', String(maxSeconds)];
}

/** No receiver: what the load costs alone. */
export function noReceiver({ noProbe = false, noSentinel = false } = {}) {
  return {
    async start() {
      return {
        p: null,
        noProbe,
        noSentinel,
        isReady: () => true,
        afterReady() {},
        beforeLoad() {},
        afterLoad() {},
        async finish() {
          return { received: NaN, overruns: NaN, sentinel: false, span: NaN, drainSeconds: NaN, cpuSeconds: NaN,
            rssKb: NaN };
        },
      };
    },
  };
}

/**
 * For a receiver counted by its own summary at exit: waits until `busy()` (something is still
 * queued for it) has stayed false for 200 ms, or `maxSeconds` pass.
 */
export async function waitUntilIdle(busy, maxSeconds) {
  const deadline = performance.now() + maxSeconds * 1000;
  let emptySince = NaN;
  while (performance.now() < deadline) {
    const now = performance.now();
    if (busy()) emptySince = NaN;
    else if (!Number.isFinite(emptySince)) emptySince = now;
    else if (now - emptySince >= 200) break;
    await sleep(20);
  }
}

/**
 * Waits until receiver `rx` in netns `ns` is subscribed: by `probe(ns, isReady)` (it returns
 * the number of probes), or, for a receiver that sees no probe, by polling isReady() for 10 s
 * (else an error saying the receiver "did not `notReady` within 10 s"). Returns the probes.
 */
export async function untilReady(rx, ns, probe, notReady) {
  if (!rx.noProbe) return probe(ns, rx.isReady);
  for (let i = 0; i < 500 && !rx.isReady(); i++) await sleep(20);
  if (!rx.isReady()) throw new Error(`the receiver in ${ns} did not ${notReady} within 10 s`);
  return 0;
}

/**
 * One run with receiver `def` in netns `ns`: starts it and returns `body(rx)`; the receiver is
 * stopped (SIGTERM, when it still runs) and waited for however body ends.
 */
export async function withReceiver(def, ns, body) {
  const rx = await def.make().start(ns);
  try {
    return await body(rx);
  } finally {
    rx.p?.kill('SIGTERM');
    if (rx.p) await rx.p.done.catch(() => {});
  }
}

/** The moment the load ended, for finishAfter(). */
export function loadEnded() {
  return { perf: performance.now(), epoch: Date.now() };
}

/**
 * Lets receiver `rx` go after the load that ended at `end` (loadEnded()) and waits for its
 * result. Returns { res (finish()), lag: how long after the end it had its last item, s (NaN
 * when it does not say) }.
 */
export async function finishAfter(rx, end) {
  await rx.afterLoad();
  const res = await rx.finish();
  const lag = Number.isFinite(res.lastPerf)
    ? (res.lastPerf - end.perf) / 1000
    : Number.isFinite(res.lastEpochMs)
    ? (res.lastEpochMs - end.epoch) / 1000
    : NaN;
  return { res, lag };
}

/**
 * The medians of the runs of one case that both benchmarks report. A run is
 * { gen: { seconds, rate }, res (finish()), lag, queuedBytes }.
 */
export function summarizeRuns(runs) {
  const m = (f) => median(runs.map(f));
  return {
    n: runs.length,
    received: m((r) => r.res.received),
    receivedMin: Math.min(...runs.map((r) => r.res.received)),
    overruns: m((r) => r.res.overruns),
    sentinels: runs.filter((r) => r.res.sentinel).length,
    span: m((r) => r.res.span),
    drainSeconds: m((r) => r.res.drainSeconds),
    drainRate: m((r) => r.res.received / r.res.drainSeconds),
    cpuSeconds: m((r) => r.res.cpuSeconds),
    lag: m((r) => r.lag),
    rssKb: m((r) => r.res.rssKb),
    genSeconds: m((r) => r.gen.seconds),
    genRate: m((r) => r.gen.rate),
    queuedBytes: m((r) => r.queuedBytes),
  };
}

/**
 * The cases of a receiver benchmark, { kind: 'receive' | 'drain', load, key, def }: each
 * receiver under each load (a burst, a flood; the row without a receiver, `none`, under the
 * first load only), then each drainer under the first load.
 */
export function receiverCases(loads, receivers, receiverDefs, drainers, drainDefs) {
  const cases = [];
  for (const load of loads) {
    for (const r of receivers) {
      if (r !== 'none' || load === loads[0]) cases.push({ kind: 'receive', load, key: r, def: receiverDefs[r] });
    }
  }
  for (const d of drainers) cases.push({ kind: 'drain', load: loads[0], key: d, def: drainDefs[d] });
  return cases;
}

/**
 * Runs every case `repeat` times, the cases interleaved: `measure(c)` gives a run, then
 * `check(c, run, tag)` logs it and notes what is wrong (`tag` names the case and the round).
 * Returns case -> runs.
 */
export async function runCases(cases, repeat, measure, check) {
  const samples = new Map(cases.map((c) => [c, []]));
  for (let rep = 1; rep <= repeat; rep++) {
    for (const c of cases) {
      const run = await measure(c);
      samples.get(c).push(run);
      check(c, run, `${c.kind} ${c.load.key} ${c.key} [${rep}/${repeat}]`);
    }
  }
  return samples;
}

/**
 * The medians of every case's runs (`samples`: case -> runs) by `summarize`, and find(kind,
 * loadKey, key): the summary of that case, or undefined when it was not run.
 */
export function summarizeCases(samples, summarize) {
  const sum = new Map([...samples].map(([c, runs]) => [c, summarize(runs)]));
  const find = (kind, load, key) => {
    const c = [...sum.keys()].find((x) => x.kind === kind && x.load.key === load && x.key === key);
    return c ? sum.get(c) : undefined;
  };
  return { sum, find };
}

/**
 * One line per case that `include(c)` names and that lost `items` in any run: how many runs,
 * and `detail(run, stats)` for each (stats: the stream's, from the worker). `generated(run)` is
 * what the load made.
 */
export function lossNotes(samples, { include, generated, items, detail }) {
  const notes = [];
  for (const [c, runs] of samples) {
    if (!include(c)) continue;
    const lossy = runs.filter((r) => r.res.received < generated(r));
    if (lossy.length === 0) continue;
    const text = lossy.map((r) => detail(r, r.res.extra?.stats ?? {})).join('; ');
    notes.push(
      `- ${c.kind} ${c.load.label}, ${c.def.label}: ${lossy.length}/${runs.length} runs lost ${items}: ${text}.`,
    );
  }
  return notes;
}

/**
 * The receive table of summaries `sum` (summarizeCases()): a row per receive case, the load
 * (its column titled `load`), the receiver, the benchmark's own `columns` with `cells(c, s,
 * none)` (s: the case's summary; none: the row without a receiver), then the sentinels, spans,
 * CPU and RSS (`item`: what is received).
 */
export function receiveTable(sum, { load, item, columns, cells }) {
  const rows = [[load, 'receiver', ...columns, ...receiveColumns(item, load)]];
  for (const [c, s] of sum) {
    if (c.kind !== 'receive') continue;
    const none = c.key === 'none';
    rows.push([c.load.label, c.def.label, ...cells(c, s, none), ...receiveCells(s, none, c.def.noSentinel)]);
  }
  return rows;
}

/**
 * The drain table of summaries `sum`: a row per drain case, the receiver, the benchmark's own
 * `columns` with `cells(c, s)`, then overruns, drain time and rate (`rate`: its title), the
 * ratio to the C receiver's (the case keyed `c`), CPU and RSS.
 */
export function drainTable(sum, { rate, columns, cells }) {
  const cDrain = [...sum].find(([c]) => c.kind === 'drain' && c.key === 'c')?.[1];
  const rows = [['receiver', ...columns, ...drainColumns(rate)]];
  for (const [c, s] of sum) {
    if (c.kind === 'drain') rows.push([c.def.label, ...cells(c, s), ...drainCells(s, cDrain, c.key === 'c')]);
  }
  return rows;
}

/** The titles of receiveCells()'s columns: `item` is what is received, `load` what sends it. */
function receiveColumns(item, load) {
  return ['sentinel seen', 'receive span s', `last ${item} after ${load} end s`, 'receiver CPU s', 'peak RSS kB'];
}

/** `cells` as they are, or as many empty cells for the row without a receiver (`none`). */
function unlessNone(none, cells) {
  return none ? cells.map(() => '') : cells;
}

/**
 * The last cells of a row of the receive table: sentinels seen (`none sent` for a receiver that
 * is sent none), receive span, last item after the load's end, receiver CPU and peak RSS, from
 * summary `s`; empty for the row without a receiver (`none`).
 */
function receiveCells(s, none, noSentinel) {
  const lag = Number.isFinite(s.lag) ? fmtFixed(s.lag, 2) : '';
  const sentinels = noSentinel ? 'none sent' : `${s.sentinels}/${s.n}`;
  return unlessNone(none, [sentinels, fmtFixed(s.span), lag, fmtFixed(s.cpuSeconds), fmtInt(s.rssKb)]);
}

/** The titles of drainCells()'s columns: `rate` is the rate's (items/s). */
function drainColumns(rate) {
  return ['overruns', 'drain s', rate, 'vs C', 'receiver CPU s', 'peak RSS kB'];
}

/**
 * The last cells of a row of the drain table: overruns, drain seconds, items/s, the ratio to
 * the C receiver's rate (`cDrain`, its summary; empty on its own row, `isC`), receiver CPU and
 * peak RSS.
 */
function drainCells(s, cDrain, isC) {
  return [
    fmtInt(s.overruns),
    fmtFixed(s.drainSeconds),
    fmtInt(s.drainRate),
    cDrain && !isC ? `${fmtFixed(s.drainRate / cDrain.drainRate, 2)}×` : '',
    fmtFixed(s.cpuSeconds),
    fmtInt(s.rssKb),
  ];
}

/**
 * Writes a receiver benchmark's section of bench/RESULTS.md and prints it: the targets and the
 * reference figures, then the receive and drain tables under their titles, then `more` (more
 * markdown lines), with `notes` (lines), then where @x/nfct lost items (`losses`, lossNotes())
 * and the failed checks; the exit status is 1 when there are `problems`.
 */
export function writeReport(
  { section, targets, refs, receiveTitle, receiveRows, drainTitle, drainRows, more = [], notes, losses, problems },
) {
  const markdown = [
    '### Against the targets',
    '',
    table(targets),
    '',
    "### Against the issue's reference figures",
    '',
    table(refs),
    '',
    `### ${receiveTitle}`,
    '',
    table(receiveRows),
    '',
    `### ${drainTitle}`,
    '',
    table(drainRows),
    ...more,
  ].join('\n');
  const text = [
    ...notes,
    ...(losses.length ? ['', "Where @x/nfct's losses happened:", ...losses] : []),
    ...(problems.length ? ['', '**Failed checks:**', ...problems.map((p) => `- ${p}`)] : []),
  ].join('\n');
  writeResults(section, markdown, text);
  process.stdout.write(`${markdown}\n\n${text}\n`);
  if (problems.length) process.exitCode = 1;
}
