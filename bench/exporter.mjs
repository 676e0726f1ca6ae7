// The exporter: one scrape of 50 namespaces holding 1M entries between them (counts, limits
// and per-CPU statistics), against `conntrack -C` + `conntrack -S` run once per namespace, in
// the same run. With NFCT_BENCH_SOAK=1 (or --soak): the exporter's RSS over 10 minutes of
// scrapes every second with an event stream counting 50k events/s (NFCT_SOAK_SECONDS to change),
// with the exporter's JS heap and external memory from its own metrics. The trend is reported
// over the whole run and after the warm-up: until V8's first full collection of the JS heap
// (heap used falling by a third or more between two samples), the old generation keeps what
// the scavenges promote and the process grows to its working size. Without the soak, the soak
// part of the last run is kept in bench/RESULTS.md.
import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { ensureBuilt, ensureDist, fill, fmtFixed, fmtInt, log, REPO_DIR, RESULTS_FILE, slope } from './lib/harness.mjs';
import { median, sleep, table, withNetns, writeResults } from './lib/harness.mjs';

const run = promisify(execFile);
const NAMESPACES = Number(process.env.NFCT_BENCH_EXPORTER_NS ?? 50);
const ENTRIES = Number(process.env.NFCT_BENCH_EXPORTER_ENTRIES ?? 1_000_000);
const SCRAPES = 20;
const SOAK = process.env.NFCT_BENCH_SOAK === '1' || process.argv.includes('--soak');
const SOAK_SECONDS = Number(process.env.NFCT_SOAK_SECONDS ?? 600);
const SOAK_RATE = 50_000;
const SECTION = 'Exporter: a scrape of every namespace';

ensureBuilt();
ensureDist();
const { createExporter } = await import(join(REPO_DIR, 'dist', 'index.js'));

/** Runs fn with n namespaces made by the harness (all removed afterwards, whatever happens). */
async function withNamespaces(n, fn, acc = []) {
  if (acc.length === n) return fn(acc);
  return withNetns((name) => withNamespaces(n, fn, [...acc, name]));
}

/** One sample line's value from a scrape. */
function sampleValue(text, name, netns) {
  const m = new RegExp(`^${name}\\{netns="${netns}"\\} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

async function scrapeBench() {
  return withNamespaces(NAMESPACES, async (names) => {
    const per = Math.floor(ENTRIES / NAMESPACES);
    log(`filling ${NAMESPACES} namespaces with ${fmtInt(per)} entries each`);
    for (const [i, ns] of names.entries()) await fill(ns, per, { proto: 'udp', seed: i + 1, timeout: 3600 });
    const mine = new Set(names);
    const exporter = await createExporter({ namespaces: (ns) => ns.names.some((n) => mine.has(n)) });
    try {
      let t0 = performance.now();
      const first = await exporter.metrics();
      const cold = performance.now() - t0;
      for (const ns of names) {
        if (sampleValue(first, 'nfct_conntrack_entries', ns) !== per) {
          throw new Error(
            `scrape says ${sampleValue(first, 'nfct_conntrack_entries', ns)} entries in ${ns}, expected ${per}`,
          );
        }
      }
      const times = [];
      for (let i = 0; i < SCRAPES; i++) {
        t0 = performance.now();
        await exporter.metrics();
        times.push(performance.now() - t0);
      }
      const peer = [];
      for (let r = 0; r < 3; r++) {
        t0 = performance.now();
        for (const ns of names) {
          await run('ip', ['netns', 'exec', ns, 'conntrack', '-C']);
          await run('ip', ['netns', 'exec', ns, 'conntrack', '-S']);
        }
        peer.push(performance.now() - t0);
      }
      const warm = median(times);
      const loop = median(peer);
      return { per, cold, warm, loop, bytes: first.length };
    } finally {
      await exporter.close();
    }
  });
}

function rssKb(pid) {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

async function soak() {
  return withNetns(async (ns) => {
    const port = 19000 + (process.pid % 20000);
    const child = spawn(process.execPath, [join(REPO_DIR, 'dist', 'cli', 'main.js'), 'exporter', '--events', '--listen',
      `127.0.0.1:${port}`, '--netns-regex', `^${ns}$`], { stdio: ['ignore', 'ignore', 'inherit'] });
    try {
      await sleep(1000);
      const scrape = async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      await scrape(); // opens the event stream
      const churnN = Math.ceil((SOAK_SECONDS * SOAK_RATE) / 2);
      log(
        `soak: ${SOAK_SECONDS} s, ${fmtInt(SOAK_RATE)} events/s (${
          fmtInt(churnN)
        } entries created and deleted), a scrape every second`,
      );
      const churn = spawn('ip', ['netns', 'exec', ns, join(REPO_DIR, 'bench', 'c', 'out', 'ct_churn'), String(churnN),
        '--rate', String(SOAK_RATE), '--chunk', '10000', '--proto', 'udp'], { stdio: ['ignore', 'pipe', 'inherit'] });
      let churnOut = '';
      churn.stdout.on('data', (d) => (churnOut += d));
      const churned = new Promise((r) => churn.once('exit', r));
      let running = true;
      void churned.then(() => (running = false));
      const t0 = performance.now();
      const xs = [];
      const ys = [];
      const heap = [];
      const heapTotal = [];
      const external = [];
      const arrayBuffers = [];
      const gauge = (text, name) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN) / 2 ** 20;
      let scrapeMs = [];
      let text = '';
      while (running && performance.now() - t0 < (SOAK_SECONDS + 60) * 1000) {
        const s0 = performance.now();
        text = await scrape();
        scrapeMs.push(performance.now() - s0);
        xs.push((performance.now() - t0) / 1000);
        ys.push(rssKb(child.pid) / 1024);
        heap.push(gauge(text, 'nodejs_heap_size_used_bytes'));
        heapTotal.push(gauge(text, 'nodejs_heap_size_total_bytes'));
        external.push(gauge(text, 'nodejs_external_memory_bytes'));
        arrayBuffers.push(gauge(text, 'nodejs_array_buffers_bytes'));
        await sleep(Math.max(0, 1000 - (performance.now() - s0)));
      }
      await churned;
      await sleep(1500);
      text = await scrape();
      const counted = ['new', 'destroy'].reduce(
        (s, t) =>
          s +
          Number(
            new RegExp(`^nfct_conntrack_events_total\\{netns="${ns}",type="${t}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0,
          ),
        0,
      );
      const events = Number(/^events (\d+)$/m.exec(churnOut)?.[1] ?? 0);
      const seconds = xs.at(-1);
      // The warm-up ends at the first full collection (none seen: the whole run).
      const warm = Math.max(0, heap.findIndex((h, i) => i > 0 && h < (2 / 3) * heap[i - 1]));
      const late = (v) => slope(xs.slice(warm), v.slice(warm)) * 60;
      const perMinute = (v, f) =>
        Array.from({ length: Math.floor(seconds / 60) },
          (_, m) => f(v.filter((_, i) => xs[i] >= m * 60 && xs[i] < (m + 1) * 60)));
      return {
        seconds,
        samples: xs.length,
        warmSeconds: xs[warm],
        rate: events / Number(/^seconds (\S+)$/m.exec(churnOut)?.[1] ?? seconds),
        events,
        counted,
        overruns: Number(
          new RegExp(`^nfct_conntrack_event_overruns_total\\{netns="${ns}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? NaN,
        ),
        first: ys[0],
        last: ys.at(-1),
        max: Math.max(...ys),
        min: Math.min(...ys),
        warmMin: Math.min(...ys.slice(warm)),
        warmMax: Math.max(...ys.slice(warm)),
        slopeAll: slope(xs, ys) * 60,
        slopeLate: late(ys),
        heapLate: late(heap),
        heapTotalLate: late(heapTotal),
        externalLate: late(external),
        arrayBuffersLate: late(arrayBuffers),
        minutes: perMinute(ys, median),
        // Heap used right after each full collection: what the exporter really keeps.
        collections: heap.flatMap((h, i) => (i > 0 && h < (2 / 3) * heap[i - 1] ? [[xs[i], h]] : [])),
        heapPeak: perMinute(heap, (v) => Math.max(...v)),
        heapTotalMinutes: perMinute(heapTotal, median),
        externalRange: [Math.min(...external), Math.max(...external)],
        scrapeMedian: median(scrapeMs),
      };
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
    }
  });
}

const r = await scrapeBench();
log(
  `scrape: cold ${fmtFixed(r.cold, 1)} ms, warm median ${fmtFixed(r.warm, 1)} ms; conntrack -C + -S loop ${
    fmtFixed(r.loop, 0)
  } ms`,
);
let markdown = `${NAMESPACES} namespaces with ${fmtInt(r.per)} entries each (${
  fmtInt(r.per * NAMESPACES)
} in all); one scrape reads each namespace's count, limit and per-CPU statistics (${
  fmtInt(r.bytes)
} bytes of metrics). Median of ${SCRAPES} scrapes; the loop median of 3.

${
  table([
    ['what', 'ms', 'vs the loop'],
    ['`conntrack -C` + `conntrack -S` in each namespace (`ip netns exec`), one after another', fmtFixed(r.loop, 0),
      '1.0×'],
    ['`exporter.metrics()`, first scrape (namespaces found, handles opened)', fmtFixed(r.cold, 1),
      `${fmtFixed(r.loop / r.cold, 1)}×`],
    ['`exporter.metrics()`, later scrapes (handles kept)', fmtFixed(r.warm, 1), `${fmtFixed(r.loop / r.warm, 1)}×`],
  ])
}`;

if (SOAK) {
  const s = await soak();
  const AFTER_WARMUP = `after the warm-up (from ${fmtFixed(s.warmSeconds, 0)} s)`;
  log(
    `soak: RSS ${fmtFixed(s.first, 1)} -> ${fmtFixed(s.last, 1)} MB, slope ${
      fmtFixed(s.slopeAll, 3)
    } MB/min (${AFTER_WARMUP} ${fmtFixed(s.slopeLate, 3)})`,
  );
  const mb = (v) => v.map((m) => fmtFixed(m, 1)).join(', ');
  markdown += `

Soak: \`nfct exporter --events\` in a process of its own, scraped every second for ${
  fmtFixed(s.seconds / 60, 1)
} minutes while bench/c/ct_churn made ${fmtInt(s.events)} events (${
  fmtInt(Math.round(s.rate))
}/s) in its namespace; ${s.samples} samples, once a second, of its RSS (VmRSS) and of the memory it reports in its own metrics (\`nodejs_heap_size_used_bytes\`, \`_total_bytes\`, \`nodejs_external_memory_bytes\`, \`nodejs_array_buffers_bytes\`). The warm-up lasts until V8's first full collection of the JS heap (heap used falling by a third or more from one sample to the next), here at ${
  fmtFixed(s.warmSeconds, 0)
} s: until then the old generation keeps what the scavenges promoted from each scrape, and the heap the process reserves grows to its working size; what survives a full collection does not grow. The trend is the least-squares slope.

${
  table([
    ['', 'MB'],
    ['RSS: first sample / last sample', `${fmtFixed(s.first, 1)} / ${fmtFixed(s.last, 1)}`],
    ['RSS: min / max, whole run', `${fmtFixed(s.min, 1)} / ${fmtFixed(s.max, 1)}`],
    [`RSS: min / max, ${AFTER_WARMUP}`, `${fmtFixed(s.warmMin, 1)} / ${fmtFixed(s.warmMax, 1)}`],
    ['RSS slope, whole run', `${fmtFixed(s.slopeAll, 3)} MB/min`],
    [`RSS slope, ${AFTER_WARMUP}`, `${fmtFixed(s.slopeLate, 3)} MB/min`],
    ['RSS, median of each minute', mb(s.minutes)],
    ['JS heap used after each full collection (what survives it), at',
      s.collections.map(([t, h]) => `${fmtFixed(h, 1)} (${fmtFixed(t, 0)} s)`).join(', ') || 'none seen'],
    ['JS heap used, highest of each minute', mb(s.heapPeak)],
    ['JS heap total (reserved by V8), median of each minute', mb(s.heapTotalMinutes)],
    [`slopes ${AFTER_WARMUP}: heap used / heap total`,
      `${fmtFixed(s.heapLate, 3)} / ${fmtFixed(s.heapTotalLate, 3)} MB/min`],
    [`external memory: min / max; slopes ${AFTER_WARMUP}: external / ArrayBuffers`,
      `${fmtFixed(s.externalRange[0], 1)} / ${fmtFixed(s.externalRange[1], 1)}; ${fmtFixed(s.externalLate, 3)} / ${
        fmtFixed(s.arrayBuffersLate, 3)
      } MB/min`],
  ])
}

Events counted by the exporter: ${fmtInt(s.counted)} of ${
  fmtInt(s.events)
} (overruns reported: ${s.overruns}); scrape median during the soak ${fmtFixed(s.scrapeMedian, 1)} ms.`;
} else if (existsSync(RESULTS_FILE)) {
  // Keep the soak part of the last run that had one.
  const text = readFileSync(RESULTS_FILE, 'utf8');
  const at = text.indexOf(`## ${SECTION}\n`);
  const section = at === -1 ? '' : text.slice(at).split(/^(?=## )/m)[0];
  const soakAt = section.search(/^Soak: /m);
  if (soakAt !== -1) {
    markdown += `\n\n${section.slice(soakAt).replace(/\n*The RSS soak runs with[^\n]*\n*$/, '').trim()}`;
  }
}

writeResults(SECTION, markdown,
  SOAK
    ? ''
    : 'The RSS soak runs with NFCT_BENCH_SOAK=1 (10 minutes); the soak part above is from the last run that had it.');
