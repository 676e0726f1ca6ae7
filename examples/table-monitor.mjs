#!/usr/bin/env node
// @ts-check
// A monitoring script: samples a namespace's conntrack table and alerts when it nears
// nf_conntrack_max (past which new connections are dropped) or when the per-CPU statistics show
// drops (`drop`, `early_drop`, `insert_failed`). Alerts are JSON lines on stdout, for a log
// shipper or a pager; one status line per sample goes to stderr.
//
//   node examples/table-monitor.mjs --netns my-pod-ns --threshold 0.9 --interval 10
//
// Root. --samples N stops after N samples (default: run until SIGINT/SIGTERM).
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';

import { Conntrack } from '@x/nfct';

const { values: opts } = parseArgs({
  options: {
    netns: { type: 'string' },
    threshold: { type: 'string', default: '0.9' },
    interval: { type: 'string', default: '10' },
    samples: { type: 'string' },
  },
});
const threshold = Number(opts.threshold);
if (!(threshold > 0 && threshold <= 1)) throw new RangeError(`--threshold must be in (0, 1], got ${opts.threshold}`);
const intervalMs = Number(opts.interval) * 1000;
const samples = opts.samples === undefined ? Infinity : Number(opts.samples);

const DROPS = /** @type {const} */ (['drop', 'early_drop', 'insert_failed']);
/** @param {string} kind @param {object} detail */
const alert = (kind, detail) =>
  console.log(JSON.stringify({ time: new Date().toISOString(), netns: opts.netns ?? null, alert: kind, ...detail }));

const ac = new AbortController();
process.once('SIGINT', () => ac.abort());
process.once('SIGTERM', () => ac.abort());

const ct = await Conntrack.open({ netns: opts.netns });

/** The drop counters summed over the CPUs. */
const totals = async () => {
  const sum = { drop: 0, early_drop: 0, insert_failed: 0 };
  for (const cpu of await ct.stats()) for (const k of DROPS) sum[k] += cpu[k];
  return sum;
};

try {
  let last = await totals();
  let near = false;
  for (let n = 0; n < samples && !ac.signal.aborted; n++) {
    // The entry count and the limit the kernel holds this namespace to, in one request.
    const { count, max } = await ct.usage();
    const now = await totals();
    const limit = max ?? Infinity;
    const fill = count / limit;
    process.stderr.write(
      `${count}/${max ?? '?'} entries (${(fill * 100).toFixed(1)}%), ${
        DROPS.map((k) => `${k} ${now[k]}`).join(', ')
      }\n`,
    );
    if (fill >= threshold && !near) alert('table-near-full', { count, max, fill: Number(fill.toFixed(4)), threshold });
    if (fill < threshold && near) alert('table-ok', { count, max });
    near = fill >= threshold;
    const grew = DROPS.filter((k) => now[k] > last[k]);
    if (grew.length) alert('drops', Object.fromEntries(grew.map((k) => [k, now[k] - last[k]])));
    last = now;
    if (n + 1 < samples) await sleep(intervalMs, undefined, { signal: ac.signal }).catch(() => undefined);
  }
} finally {
  await ct.close();
}
