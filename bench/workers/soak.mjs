// Long-running consumer for bench/soak.mjs: `node bench/workers/soak.mjs events|dumps NSNAME SECONDS SAMPLE_S`
// Streams events (or dumps the table again and again) for SECONDS, printing one JSON sample
// every SAMPLE_S seconds: {t, items, overruns, rssKb, heapKb, fds}.
import { readdirSync, readFileSync } from 'node:fs';

import { Conntrack } from '../../dist/index.mjs';

const [mode, ns, secondsText, sampleText] = process.argv.slice(2);
const seconds = Number(secondsText);
const sampleEvery = Number(sampleText) * 1000;
const ct = await Conntrack.open({ netns: ns });
const t0 = Date.now();
let items = 0;
let overruns = 0;
let nextSample = t0 + sampleEvery;

function sample() {
  if (process.env.NFCT_SOAK_GC && globalThis.gc) globalThis.gc();
  const rss = /^VmRSS:\s+(\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'));
  const line = {
    t: Math.round((Date.now() - t0) / 1000),
    items,
    overruns,
    rssKb: rss ? Number(rss[1]) : 0,
    heapKb: Math.round(process.memoryUsage().heapUsed / 1024),
    fds: readdirSync('/proc/self/fd').length,
  };
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

const deadline = t0 + seconds * 1000;
if (mode === 'events') {
  const ac = new AbortController();
  setTimeout(() => ac.abort(), seconds * 1000).unref();
  const timer = setInterval(sample, sampleEvery);
  for await (const ev of ct.events({ signal: ac.signal })) {
    if (ev.type === 'overrun') overruns++;
    else items++;
  }
  clearInterval(timer);
} else {
  while (Date.now() < deadline) {
    for await (const flow of ct.list()) {
      void flow; // counted, not kept
      items++;
    }
    if (Date.now() >= nextSample) {
      sample();
      nextSample += sampleEvery;
    }
  }
}
sample();
ct.close();
