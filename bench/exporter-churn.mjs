// Soak: `nfct exporter` (the CLI, over HTTP) while network namespaces come and go (each lives
// about a second, ~16 alive at once, ~15 made a second) and /metrics is scraped every 100 ms.
// Sampled every few seconds: the exporter's RSS (/proc), and from its own metrics the V8 heap it
// has reserved (nodejs_heap_size_total_bytes), so that RSS minus the V8 heap is the native part.
// Reported: the growth of each after warm-up (the first third) as a slope in MiB per minute;
// target flat (within noise), for the native part above all. No peer exporter does this (none
// reads per-namespace conntrack): the figure stands against its target.
//
//   node bench/exporter-churn.mjs [--minutes 1] [--events] [--sample 5]
//   node bench/exporter-churn.mjs --minutes 10 --events     # the long run
import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { promisify } from 'node:util';

import { ensureBuilt, ensureDist, log, REPO_DIR, slope, table, writeResults } from './lib/harness.mjs';

const run = promisify(execFile);
const { values: opts } = parseArgs({
  options: {
    minutes: { type: 'string', default: process.env.NFCT_CHURN_MINUTES ?? '1' },
    sample: { type: 'string', default: '5' },
    events: { type: 'boolean', default: false },
  },
});
const seconds = Math.round(Number(opts.minutes) * 60);
const sampleS = Number(opts.sample);
if (!(seconds >= 30) || !(sampleS > 0)) throw new RangeError('--minutes must be at least 0.5 and --sample positive');
const SECTION = 'Exporter under namespace churn (soak)';
const PREFIX = `nfct-bchurn-${process.pid}-`;

ensureBuilt();
ensureDist();

async function freePort() {
  const s = createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

const port = await freePort();
const exporter = spawn(process.execPath, [join(REPO_DIR, 'dist', 'cli', 'main.js'), 'exporter', '--listen',
  `127.0.0.1:${port}`, '--netns-regex', `^${PREFIX}`, ...(opts.events ? ['--events'] : [])], {
  stdio: ['ignore', 'ignore', 'pipe'],
});
let stderr = '';
exporter.stderr.on('data', (d) => (stderr += d));
const live = [];
let stop = false;
let made = 0;
let scrapes = 0;
let last = '';
const mib = (name) => {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(last);
  return m ? Number(m[1]) / 1048576 : NaN;
};
const cleanup = async () => {
  stop = true;
  exporter.kill('SIGTERM');
  for (const n of live.splice(0)) await run('ip', ['netns', 'delete', n]).catch(() => undefined);
};
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => void cleanup().then(() => process.exit(130)));

try {
  while (!stderr.includes('serving')) {
    if (exporter.exitCode !== null) throw new Error(`the exporter ended: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  log(`exporter on :${port}${opts.events ? ' with --events' : ''}; churning namespaces for ${seconds} s`);
  const churn = (async () => {
    for (let i = 0; !stop; i++) {
      const name = `${PREFIX}${i % 64}`;
      await run('ip', ['netns', 'add', name]);
      made++;
      live.push(name);
      if (live.length > 16) await run('ip', ['netns', 'delete', live.shift()]);
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  const scrape = (async () => {
    while (!stop) {
      try {
        last = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        scrapes++;
      } catch {
        // counted by what is missing
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  const samples = [];
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) {
    await new Promise((r) => setTimeout(r, sampleS * 1000));
    const status = readFileSync(`/proc/${exporter.pid}/status`, 'utf8');
    const rss = Number(/VmRSS:\s+(\d+)/.exec(status)[1]) / 1024;
    const heap = mib('nodejs_heap_size_total_bytes');
    const load = Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
    samples.push({ t: (performance.now() - t0) / 1000, rss, heap, native: rss - heap,
      threads: Number(/Threads:\s+(\d+)/.exec(status)[1]), made, scrapes, load });
  }
  stop = true;
  await Promise.all([churn, scrape]);
  const warm = samples.filter((s) => s.t >= seconds / 3);
  const per = (key) => slope(warm.map((s) => s.t / 60), warm.map((s) => s[key]));
  const fmt = (x) => (Number.isFinite(x) ? x.toFixed(2) : '?');
  const rows = [
    ['figure', 'after warm-up', 'slope (MiB/min)', 'target'],
    ['RSS (MiB)', `${fmt(warm[0].rss)} → ${fmt(warm.at(-1).rss)}`, fmt(per('rss')), 'flat'],
    ['V8 heap reserved (MiB)', `${fmt(warm[0].heap)} → ${fmt(warm.at(-1).heap)}`, fmt(per('heap')), 'flat'],
    ['native: RSS − V8 heap (MiB)', `${fmt(warm[0].native)} → ${fmt(warm.at(-1).native)}`, fmt(per('native')), 'flat'],
  ];
  const curve = [['t (s)', 'RSS', 'V8 heap', 'native', 'threads', 'namespaces made', 'scrapes', 'load (1 min)'],
    ...samples.map((
      s,
    ) => [Math.round(s.t), fmt(s.rss), fmt(s.heap), fmt(s.native), s.threads, s.made, s.scrapes, fmt(s.load)])];
  const loads = samples.map((s) => s.load);
  const md = [
    `${seconds} s${
      opts.events ? ', --events (a reader thread per namespace)' : ''
    }: ${made} namespaces made and deleted (16 alive at once), ${scrapes} scrapes over HTTP every 100 ms; load average (1 min) ${
      fmt(Math.min(...loads))
    } to ${fmt(Math.max(...loads))} on ${availableParallelism()} cores.`,
    '',
    table(rows),
    '',
    '<details><summary>samples</summary>',
    '',
    table(curve),
    '',
    '</details>',
  ].join('\n');
  process.stdout.write(`${md}\n`);
  writeResults(`${SECTION}${opts.events ? ' with --events' : ''}, ${opts.minutes} min`, md,
    'Other sessions shared the machine during the run: the curve, not single samples, carries the figure.');
} finally {
  await cleanup();
}
