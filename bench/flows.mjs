// Flow records exported as IPFIX: a churn of short-lived conntrack entries (ct_churn: created
// and deleted over ctnetlink in chunks, as fast as the kernel takes them, or paced) in a
// throwaway netns, each DESTROY becoming a flow record sent over UDP to Debian's nfcapd on
// 127.0.0.1. `nfct flows --ipfix` against ulogd2 (NFCT -> IPFIX, DESTROY events only) on the
// same churn in the same run: flows destroyed, exported, received by nfcapd, CPU seconds per
// 100k flows, peak RSS. Then peak RSS of `nfct flows --ipfix` over a long churn at 20k flows/s
// (30 s by default; --long or NFCT_BENCH_FLOWS_LONG=1 for 10 minutes), sampled every second.
//
//   node bench/flows.mjs [--flows N] [--rate FLOWS_PER_S] [--long] [--seconds S] [--no-ulogd]
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { churn, ensureBuilt, ensureDist, fmtFixed, fmtInt, log, REPO_DIR, sleep, table, tool, withNetns,
  writeResults } from './lib/harness.mjs';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i < 0 ? dflt : Number(process.argv[i + 1]);
};
const FLOWS = arg('--flows', 300_000);
const RATE = arg('--rate', 0); // flows per second; 0: as fast as the kernel takes them
const LONG = process.argv.includes('--long') || process.env.NFCT_BENCH_FLOWS_LONG === '1';
const SOAK_SECONDS = arg('--seconds', LONG ? 600 : 30);
const SOAK_RATE = 20_000;
const WITH_ULOGD = !process.argv.includes('--no-ulogd');
const SECTION = 'Flow records: IPFIX export of a conntrack churn';
const MAIN = join(REPO_DIR, 'dist', 'cli', 'main.js');
const CHUNK = 20_000;

ensureBuilt();
ensureDist();

/** Starts argv (in netns `ns` when given) under runstat; `ready(re)` waits for stderr to match. */
function launch(argv, ns) {
  const dir = mkdtempSync(join(tmpdir(), 'nfct-bench-flows-'));
  const stat = join(dir, 'stat');
  const full = [tool('runstat'), '-o', stat, '--', ...argv];
  const child = ns
    ? spawn('ip', ['netns', 'exec', ns, ...full], { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(full[0], full.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stdout.resume();
  child.stderr.on('data', (d) => (err += d));
  const done = new Promise((resolve) => child.on('close', () => {
    let st = {};
    try {
      st = Object.fromEntries(
        readFileSync(stat, 'utf8').trim().split('\n').map((l) => l.split(' ')).map(([k, v]) => [k, Number(v)]),
      );
    } catch {
      // no figures
    }
    rmSync(dir, { recursive: true, force: true });
    resolve({ stderr: err, cpu: (st.user_s ?? 0) + (st.sys_s ?? 0), rssKb: st.maxrss_kb });
  }));
  /** The measured command's pid (runstat's child). */
  const inner = () => {
    try {
      const kids = execFileSync('pgrep', ['-P', String(child.pid)], { encoding: 'utf8' }).trim().split('\n');
      return Number(kids[0]);
    } catch {
      return undefined;
    }
  };
  return {
    child,
    done,
    inner,
    stderr: () => err,
    async ready(re, seconds = 30) {
      for (let i = 0; i < seconds * 20 && !re.test(err); i++) await sleep(50);
      if (!re.test(err)) throw new Error(`${argv[0]} did not get ready: ${err}`);
    },
  };
}

function cpuTicks(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(f[11]) + Number(f[12]);
}

function rssKb(pid) {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
}

/** Waits until the process has used no CPU for `quietMs` (it has caught up), at most maxSeconds. */
async function untilIdle(pid, quietMs = 1000, maxSeconds = 120) {
  let last = cpuTicks(pid);
  let since = performance.now();
  const deadline = performance.now() + maxSeconds * 1000;
  while (performance.now() < deadline) {
    await sleep(100);
    const now = cpuTicks(pid);
    if (now !== last) {
      last = now;
      since = performance.now();
    } else if (performance.now() - since >= quietMs) return;
  }
}

/** nfcapd on 127.0.0.1 (in `ns`, or here on a free port); stop() resolves what it counted. */
async function nfcapd(ns) {
  const dir = mkdtempSync(join(tmpdir(), 'nfct-bench-nfcapd-'));
  const port = ns ? 4739 : 20_000 + Math.floor(Math.random() * 20_000);
  const p = launch(['nfcapd', '-w', dir, '-p', String(port), '-b', '127.0.0.1', '-t', '3600', '-B', String(64 << 20)],
    ns);
  await p.ready(/Startup/);
  return {
    port,
    async stop() {
      p.child.kill('SIGTERM');
      const r = await p.done;
      rmSync(dir, { recursive: true, force: true });
      const m = /Flows: (\d+), Packets: \d+, Bytes: \d+, Sequence Errors: (\d+)/.exec(r.stderr);
      return { flows: Number(m?.[1] ?? 0), sequenceErrors: Number(m?.[2] ?? 0) };
    },
  };
}

const ULOGD_PLUGINS = '/usr/lib/x86_64-linux-gnu/ulogd';

/**
 * ulogd2's configuration for the run in `dir`: NFCT (DESTROY events only, no hash) stacked onto
 * IPFIX towards nfcapd on 127.0.0.1:4739, its log in `dir`. Each section is [name, [key, value]
 * pairs]; a value is written as it is (quoted where ulogd wants a string).
 */
function ulogdConf(dir) {
  const q = (text) => `"${text}"`;
  const sections = [
    ['global', [
      ['logfile', q(`${dir}/ulogd.log`)],
      ['loglevel', 3],
      ['plugin', q(`${ULOGD_PLUGINS}/ulogd_inpflow_NFCT.so`)],
      ['plugin', q(`${ULOGD_PLUGINS}/ulogd_output_IPFIX.so`)],
      ['stack', 'ct1:NFCT,ipfix1:IPFIX'],
    ]],
    ['ct1', [
      ['event_mask', '0x00000004'],
      ['hash_enable', 0],
      // The same receive buffer nfct starts with (8 MiB), allowed to grow as nfct's may.
      ['netlink_socket_buffer_size', 8 << 20],
      ['netlink_socket_buffer_maxsize', 256 << 20],
    ]],
    ['ipfix1', [['oid', 1], ['host', q('127.0.0.1')], ['port', 4739], ['proto', q('udp')], ['send_template',
      q('once')]]],
  ];
  return sections.map(([name, pairs]) => [`[${name}]`, ...pairs.map(([k, v]) => `${k}=${v}`)].join('\n')).join('\n')
    + '\n';
}

function setSysctls(ns) {
  execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.netfilter.nf_conntrack_acct=1',
    'net.netfilter.nf_conntrack_timestamp=1']);
  execFileSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
}

/** One exporter on one churn: what was destroyed, exported, received, and what it cost. */
async function runOne(kind, flows, rate) {
  return withNetns(async (ns) => {
    setSysctls(ns);
    const collector = await nfcapd(kind === 'ulogd2' ? ns : undefined);
    let p;
    let dir;
    if (kind === 'nfct') {
      p = launch([process.execPath, MAIN, 'flows', '--netns', ns, '--ipfix', `127.0.0.1:${collector.port}`]);
      await p.ready(/watching/);
    } else {
      dir = mkdtempSync(join(tmpdir(), 'nfct-bench-ulogd-'));
      writeFileSync(join(dir, 'ulogd.conf'), ulogdConf(dir));
      p = launch(['ulogd', '-c', join(dir, 'ulogd.conf'), '-p', join(dir, 'ulogd.pid')], ns);
      for (let i = 0; i < 200 && !/entering main loop/.test(safeRead(join(dir, 'ulogd.log'))); i++) await sleep(50);
    }
    const pid = p.inner();
    let peak = 0;
    const sampler = setInterval(() => {
      try {
        peak = Math.max(peak, rssKb(pid));
      } catch {
        // gone
      }
    }, 1000);
    const c = await churn(ns, flows, { chunk: CHUNK, rate: rate ? 2 * rate : undefined });
    await untilIdle(pid);
    clearInterval(sampler);
    p.child.kill('SIGTERM');
    const r = await p.done;
    const got = await collector.stop();
    let exported;
    let lost;
    let overruns = 0;
    if (kind === 'nfct') {
      const m = /(\d+) flow records; (?:no overruns|(\d+) overruns)[^;]*; udp:\/\/[^:]+:\d+: (\d+) sent, (\d+) lost/
        .exec(r.stderr);
      exported = Number(m?.[3] ?? 0);
      lost = Number(m?.[4] ?? 0);
      overruns = Number(m?.[2] ?? 0);
    } else {
      const text = safeRead(join(dir, 'ulogd.log'));
      lost = Number(/(\d+) flows have been lost/.exec(text)?.[1] ?? 0);
      exported = undefined;
      rmSync(dir, { recursive: true, force: true });
    }
    return { kind, destroyed: c.deleted, genRate: c.deleted / c.seconds, exported, lost, overruns, received: got.flows,
      sequenceErrors: got.sequenceErrors, cpu: r.cpu, rssKb: Math.max(r.rssKb ?? 0, peak) };
  });
}

function safeRead(path) {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** nfct flows --ipfix over a long churn at SOAK_RATE flows/s: RSS every second. */
async function soak() {
  return withNetns(async (ns) => {
    setSysctls(ns);
    const collector = await nfcapd();
    const p = launch([process.execPath, MAIN, 'flows', '--netns', ns, '--ipfix', `127.0.0.1:${collector.port}`]);
    await p.ready(/watching/);
    const pid = p.inner();
    const samples = [];
    const started = performance.now();
    const sampler = setInterval(() => samples.push({ t: (performance.now() - started) / 1000, kb: rssKb(pid) }), 1000);
    const c = await churn(ns, SOAK_RATE * SOAK_SECONDS, { chunk: CHUNK, rate: 2 * SOAK_RATE });
    await untilIdle(pid);
    clearInterval(sampler);
    p.child.kill('SIGTERM');
    const r = await p.done;
    const got = await collector.stop();
    const half = samples.filter((s) => s.t >= samples.at(-1).t / 2);
    const firstHalf = samples.filter((s) => s.t < samples.at(-1).t / 2);
    return { seconds: c.seconds, destroyed: c.deleted, received: got.flows,
      peakKb: Math.max(...samples.map((s) => s.kb)), firstHalfPeak: Math.max(...firstHalf.map((s) => s.kb)),
      secondHalfPeak: Math.max(...half.map((s) => s.kb)), cpu: r.cpu };
  });
}

/** The churn with no listener: the rate this machine's kernel sustains by itself. */
async function bare(flows, rate) {
  return withNetns(async (ns) => {
    setSysctls(ns);
    const c = await churn(ns, flows, { chunk: CHUNK, rate: rate ? 2 * rate : undefined });
    return c.deleted / c.seconds;
  });
}

const results = [];
log(`flows: ${fmtInt(FLOWS)} flows, ${RATE ? `${fmtInt(RATE)} flows/s` : 'full speed'}`);
const bareRate = await bare(FLOWS, RATE);
results.push(await runOne('nfct', FLOWS, RATE));
if (WITH_ULOGD) results.push(await runOne('ulogd2', FLOWS, RATE));
log(`flows: soak ${SOAK_SECONDS} s at ${fmtInt(SOAK_RATE)} flows/s`);
const s = await soak();

const nfct = results[0];
const ulogd = results[1];
const per100k = (r) => (r.cpu * 100_000) / r.destroyed;
const rows = [['exporter', 'flows destroyed', 'generator flows/s', 'exported (sent)', 'lost (counted by the exporter)',
  'overruns', 'received by nfcapd', '% of destroyed', 'nfcapd sequence errors', 'CPU s', 'CPU s per 100k flows',
  'peak RSS kB']];
for (const r of results) {
  rows.push([r.kind === 'nfct' ? '`nfct flows --ipfix` (UDP)' : 'ulogd2 2.0.8 NFCT→IPFIX (UDP)', fmtInt(r.destroyed),
    fmtInt(Math.round(r.genRate)), r.exported === undefined ? 'n/a' : fmtInt(r.exported),
    r.kind === 'nfct' ? fmtInt(r.lost) : 'not counted', r.kind === 'nfct' ? fmtInt(r.overruns) : 'not counted',
    fmtInt(r.received), `${fmtFixed((100 * r.received) / r.destroyed, 2)}%`, fmtInt(r.sequenceErrors),
    fmtFixed(r.cpu, 2), fmtFixed(per100k(r), 2), fmtInt(r.rssKb)]);
}
const targets = [
  ['target', 'measured', 'met'],
  ['churn of at least 100,000 flows/s (created and destroyed)',
    `${fmtInt(Math.round(nfct.genRate))} flows/s with nfct exporting; ${
      fmtInt(Math.round(bareRate))
    } flows/s with no listener`, nfct.genRate >= 100_000 ? 'yes' : 'no'],
  ['nfcapd receives every flow the kernel destroyed', `${fmtInt(nfct.received)} of ${fmtInt(nfct.destroyed)}`,
    nfct.received === nfct.destroyed ? 'yes' : 'no'],
  ...(ulogd
    ? [['CPU per 100k flows against ulogd2 (same churn, same run)',
      `${fmtFixed(per100k(nfct), 2)} s vs ${fmtFixed(per100k(ulogd), 2)} s (${
        fmtFixed(per100k(nfct) / per100k(ulogd), 2)
      }×)`, '']]
    : []),
  [`peak RSS flat over ${SOAK_SECONDS} s at ${fmtInt(SOAK_RATE)} flows/s`,
    `first half ${fmtInt(s.firstHalfPeak)} kB, second half ${fmtInt(s.secondHalfPeak)} kB (${fmtInt(s.received)} of ${
      fmtInt(s.destroyed)
    } flows received)`, s.secondHalfPeak <= s.firstHalfPeak * 1.1 ? 'yes' : 'no'],
];
const md = `${table(targets)}\n\n### Same churn, nfct against ulogd2\n\n${table(rows)}`;
const notes = [
  `The churn: \`ct_churn ${fmtInt(FLOWS)} --chunk ${CHUNK}\` ${
    RATE ? `paced to ${fmtInt(RATE)} flows/s` : 'at full speed'
  } in a throwaway netns with nf_conntrack_acct and nf_conntrack_timestamp on; each entry is created and deleted over ctnetlink (a DESTROY event each). Both exporters read DESTROY events only and send IPFIX over UDP to nfcapd (nfdump 1.7) on 127.0.0.1 (nfct: in the test's namespace; ulogd2: inside the churn's netns); "received by nfcapd" is its own count of flows at exit. CPU seconds are the exporter process's user+sys from start to exit (node's start-up included for nfct), divided by the flows destroyed.`,
  "ulogd2 2.0.8 sends a message only when its 512-byte buffer is full (13 flows; its one-second send timer fires once), and the flows still in the buffer when it stops are lost (it says so); it sends one record per flow with both directions' counters summed and no NAT fields (see docs/operations.md).",
  `Soak: \`nfct flows --ipfix\` over ${SOAK_SECONDS} s of churn at ${
    fmtInt(SOAK_RATE)
  } flows/s, RSS of the node process every second (peak ${fmtInt(s.peakKb)} kB, CPU ${
    fmtFixed(s.cpu, 1)
  } s). Run with --long (10 minutes) under the heavy lock for the figure in docs.`,
  'Measured on a 2-core machine shared with other work: ratios against ulogd2 in the same run are the figure to read.',
].join('\n\n');
writeResults(SECTION, md, notes);
log('flows: done');
process.stdout.write(`${md}\n`);
