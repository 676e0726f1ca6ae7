// Soak: memory and handles of a long-running consumer under load, sampled over time (not a
// test: a curve to read). Two parts, each in a fresh netns:
//   events: ct.events() consuming a steady stream of events (batched creates and deletes
//           paced by bench/c/ct_churn) for --minutes;
//   dumps:  ct.list() of a 100k-entry table again and again for --minutes.
// After warm-up (the first third) RSS must stay flat: the report gives the growth from the
// end of warm-up to the end, and the file-descriptor count, which must not move.
//
//   node bench/soak.mjs [--minutes 10] [--rate 100000] [--sample 10]
import { spawn } from 'node:child_process';
import { join } from 'node:path';

import { BENCH_DIR, benchArgs, churn, ensureBuilt, ensureDist, fill, fmtInt, log, REPO_DIR, table, withNetns,
  writeResults } from './lib/harness.mjs';

const opts = benchArgs({ minutes: 10, rate: 100000, sample: 10 });
const seconds = Math.round(Number(opts.minutes) * 60);
const rate = Number(opts.rate);
const sampleS = Number(opts.sample);
if (!(seconds > 0) || !(rate > 0) || !(sampleS > 0)) {
  throw new RangeError('--minutes, --rate and --sample must be positive');
}

function worker(mode, ns) {
  const child = spawn(process.execPath, [join(BENCH_DIR, 'workers', 'soak.mjs'), mode, ns, String(seconds),
    String(sampleS)], { cwd: REPO_DIR, stdio: ['ignore', 'pipe', 'inherit'] });
  const samples = [];
  let buf = '';
  child.stdout.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      samples.push(JSON.parse(buf.slice(0, i)));
      buf = buf.slice(i + 1);
    }
  });
  const done = new Promise((resolve) => child.on('exit', resolve));
  return { samples, done };
}

function verdict(samples) {
  const warm = samples.find((s) => s.t >= seconds / 3) ?? samples[0];
  const last = samples.at(-1);
  const growth = (last.rssKb - warm.rssKb) / warm.rssKb;
  // The last sample is taken after close(); a dump or stream in progress holds its socket and
  // its wake-up fd, so two either way is the same.
  const during = samples.slice(0, -1).map((s) => s.fds);
  const fdsFlat = during.length === 0 || Math.max(...during) - Math.min(...during) <= 2;
  return { warm, last, growth, fdsFlat, fds: [...new Set(during)] };
}

function report(title, samples, unit) {
  const v = verdict(samples);
  const rows = samples.map((s) => [s.t, fmtInt(s.items), s.overruns, fmtInt(s.rssKb), fmtInt(s.heapKb), s.fds]);
  return [
    `### ${title}`,
    '',
    table([['t s', unit, 'overruns', 'RSS kB', 'heap kB', 'fds'], ...rows]),
    '',
    `RSS from ${v.warm.t} s (after warm-up) to ${v.last.t} s: ${fmtInt(v.warm.rssKb)} -> ${fmtInt(v.last.rssKb)} kB (${
      (v.growth * 100).toFixed(1)
    }%); open fds while running: ${v.fds.join(', ')} (${v.fdsFlat ? 'flat' : 'NOT flat'}).`,
    '',
  ].join('\n');
}

ensureBuilt();
ensureDist();
const sections = [];

await withNetns(async (ns) => {
  log(`events soak: ${seconds} s at ~${fmtInt(rate)} events/s`);
  const w = worker('events', ns);
  await new Promise((r) => setTimeout(r, 1000));
  const end = Date.now() + seconds * 1000;
  let generated = 0;
  // Rounds of N creates + N deletes paced to the rate, until the time is up.
  const perRound = Math.max(1000, Math.round(rate * 5 / 2));
  while (Date.now() < end - 6000) {
    const r = await churn(ns, perRound, { rate, seed: generated });
    generated += r.events ?? perRound * 2;
  }
  await w.done;
  sections.push(report(`Events: ${fmtInt(generated)} events generated over ${seconds} s`, w.samples, 'events'));
});

await withNetns(async (ns) => {
  log(`dumps soak: ${seconds} s of 100k-entry dumps`);
  await fill(ns, 100000, { proto: 'mix' });
  const w = worker('dumps', ns);
  await w.done;
  sections.push(
    report(`Dumps: ct.list() of 100,000 entries again and again for ${seconds} s`, w.samples, 'flows read'),
  );
});

writeResults('Soak', sections.join('\n'),
  `node bench/soak.mjs --minutes ${opts.minutes} --rate ${opts.rate} --sample ${opts.sample}`);
log('soak: done');
