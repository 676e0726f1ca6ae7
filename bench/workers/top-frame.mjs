// The cost of one `nfct top` frame over a namespace's table: header figures (count, per-CPU
// statistics, event rates), the table grouped by source, and the frame drawn, as `nfct top`
// does each refresh, without a terminal.
//
//   node bench/workers/top-frame.mjs NSNAME [FRAMES]
//
// Prints one JSON line: {"entries":N,"msPerFrame":M,"aggregateMs":A,"frames":F}: medians over
// FRAMES frames after a first one (which opens the event subscription and warms up).
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { NamespaceSampler, snapshot } = require('../../dist/cli/commands/top.js');
const { renderFrame } = require('../../dist/cli/commands/top-view.js');

const ns = process.argv[2];
const frames = Number(process.argv[3] ?? 5);
if (!ns) {
  process.stderr.write('usage: node bench/workers/top-frame.mjs NSNAME [FRAMES]\n');
  process.exit(2);
}
const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const sampler = await NamespaceSampler.open({ label: ns, path: `/run/netns/${ns}` }, true);
const opts = { by: ['src'], sort: 'count', filter: {}, interval: 1 };
let entries = 0;
const total = [];
const agg = [];
try {
  for (let i = 0; i <= frames; i++) {
    const t0 = performance.now();
    const snap = await snapshot([sampler], opts, 20);
    const lines = renderFrame(snap, { colour: true, columns: 160, rows: 40, help: true, title: ns });
    if (lines.length === 0) throw new Error('empty frame');
    const t1 = performance.now();
    const a0 = performance.now();
    await sampler.ct.aggregate({ by: ['src'], top: 20 });
    const a1 = performance.now();
    entries = snap.entries;
    if (i > 0) {
      total.push(t1 - t0);
      agg.push(a1 - a0);
    }
  }
} finally {
  await sampler.close();
}
process.stdout.write(`${JSON.stringify({ entries, msPerFrame: median(total), aggregateMs: median(agg), frames })}\n`);
