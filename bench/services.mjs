// The Kubernetes view of a node against the plain one, in the same run:
//
//   list:   `nfct -L --services > /dev/null` against `nfct -L > /dev/null` over SIZE entries
//           (default 1M) towards SERVICES kube-proxy Services (default 5,000, nftables mode:
//           table ip kube-proxy with service-ips, service-* and endpoint-* chains), each entry
//           DNATed to an endpoint (1% to one no longer there); target ≤ 1.3x.
//   doctor: `nfct doctor --all-netns` with PODS pod namespaces (default 100) added, each with a
//           process in a kubepods cgroup and a /var/log/pods directory (given with
//           --pod-log-dir), a veth to a node namespace holding kube-proxy's rules and stale
//           entries; wall time, target < 5 s (the doctor samples for 2 s of it), against
//           `conntrack -C` + `-S` by `ip netns exec` in each pod namespace, in the same run.
//
//   node bench/services.mjs [--size 1000000] [--services 5000] [--pods 100] [--repeat 3]
//                           [--cases list,doctor]
//
// Every namespace is made here and removed afterwards; nf_conntrack_max is raised for the run
// when needed and restored. The doctor also examines whatever other namespaces the machine
// has at the time: the table says how many it examined.

import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { benchArgs, ensureBuilt, ensureDist, fmtFixed, fmtInt, log, median, raiseConntrackMax, REPO_DIR, settleHash,
  table, timeCommand, timeWorker, withNetns, writeResults } from './lib/harness.mjs';

const SECTION = 'Kubernetes view: -L --services and doctor over pods';
const NFCT = [process.execPath, join(REPO_DIR, 'dist', 'cli', 'main.js')];

const opts = benchArgs({ size: 1000000, services: 5000, pods: 100, repeat: 3, cases: 'list,doctor' });
const { size, services: nServices, pods: nPods, repeat } = opts;
const cases = new Set(opts.cases.split(','));

const clusterIp = (i) => `10.96.${(i >> 8) & 255}.${i & 255}`;
const endpointIp = (i) => `10.245.${(i >> 8) & 255}.${i & 255}`;

/** kube-proxy's chain hash: sha256, base32, the first 8 characters. */
function hash8(text) {
  const abc = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const buf = createHash('sha256').update(text).digest();
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of buf) {
    value = ((value << 8) | byte) & 0xffff;
    bits += 8;
    while (bits >= 5 && out.length < 8) {
      out += abc[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return out;
}

/** kube-proxy's nftables-mode table for n Services with one endpoint each (chain names as its own). */
function kubeProxyNft(n) {
  const lines = [
    'add table ip kube-proxy { comment "rules for kube-proxy" ; }',
    'add map ip kube-proxy service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; }',
    'add chain ip kube-proxy nat-prerouting { type nat hook prerouting priority -100 ; }',
    'add chain ip kube-proxy nat-output { type nat hook output priority -100 ; }',
    'add chain ip kube-proxy services',
    'add rule ip kube-proxy nat-prerouting jump services',
    'add rule ip kube-proxy nat-output jump services',
    'add rule ip kube-proxy services ip daddr . meta l4proto . th dport vmap @service-ips',
  ];
  for (let i = 0; i < n; i++) {
    const base = `bench-${i % 50}/svc-${i}/udp/dns`;
    const svc = `service-${hash8(base)}-${base}`;
    const epBase = `${base}__${endpointIp(i)}/53`;
    const ep = `endpoint-${hash8(epBase)}-${epBase}`;
    lines.push(`add chain ip kube-proxy ${svc}`, `add chain ip kube-proxy ${ep}`);
    lines.push(`add rule ip kube-proxy ${svc} numgen random mod 1 vmap { 0 : goto ${ep} }`);
    lines.push(`add rule ip kube-proxy ${ep} meta l4proto udp dnat to ${endpointIp(i)}:53`);
    lines.push(`add element ip kube-proxy service-ips { ${clusterIp(i)} . udp . 53 : goto ${svc} }`);
  }
  return `${lines.join('\n')}\n`;
}

function nft(ns, script) {
  const r = spawnSync('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], { input: script, encoding: 'utf8',
    maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`nft -f in ${ns}: ${r.stderr}`);
}

/** SIZE entries towards the Services, DNATed to their endpoints; every 100th to a gone one. */
function flowsFile(n, services) {
  const dir = mkdtempSync(join(tmpdir(), 'nfct-bench-svc-'));
  const file = join(dir, 'flows.json');
  const flows = new Array(n);
  for (let i = 0; i < n; i++) {
    const s = i % services;
    const client = 1 + Math.floor(i / 60000);
    flows[i] = {
      protocol: 'udp',
      src: `10.244.${(client >> 8) & 255}.${client & 255}`,
      dst: clusterIp(s),
      srcPort: 1024 + (i % 60000),
      dstPort: 53,
      timeout: 3600,
      dnat: { address: i % 100 === 0 ? '10.246.0.1' : endpointIp(s), port: 53 },
    };
  }
  writeFileSync(file, JSON.stringify(flows));
  return { file, dir };
}

const rows = [];
const notes = [];

async function listCase() {
  await withNetns(async (ns) => {
    await settleHash(ns);
    const t0 = performance.now();
    nft(ns, kubeProxyNft(nServices));
    log(`${nServices} Services loaded in ${fmtFixed((performance.now() - t0) / 1000, 1)} s`);
    const { file, dir } = flowsFile(size, nServices);
    try {
      const made = await timeWorker(join(REPO_DIR, 'bench', 'workers', 'create-many.mjs'), [ns, file]);
      log(`${fmtInt(made.json.created)} entries made`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const plain = [];
    const svc = [];
    for (let i = 0; i < repeat; i++) {
      plain.push(await timeCommand(ns, [...NFCT, '-L'], { stdout: 'ignore' }));
      svc.push(await timeCommand(ns, [...NFCT, '-L', '--services'], { stdout: 'ignore' }));
    }
    const p = median(plain.map((r) => r.seconds));
    const s = median(svc.map((r) => r.seconds));
    const ratio = s / p;
    rows.push({
      case: `-L --services, ${fmtInt(size)} entries, ${fmtInt(nServices)} Services`,
      'nfct -L s': fmtFixed(p, 3),
      'nfct -L --services s': fmtFixed(s, 3),
      ratio: `${fmtFixed(ratio, 2)}×`,
      target: '≤ 1.3×',
      met: ratio <= 1.3 ? 'yes' : 'NO',
      'peak RSS MB (plain / services)': `${fmtFixed(Math.max(...plain.map((r) => r.rssKb)) / 1024, 1)} / ${
        fmtFixed(Math.max(...svc.map((r) => r.rssKb)) / 1024, 1)
      }`,
    });
    log(`-L ${fmtFixed(p, 3)} s, -L --services ${fmtFixed(s, 3)} s (${fmtFixed(ratio, 2)}x)`);
  });
}

function cgroup2Root() {
  for (const line of readFileSync('/proc/self/mounts', 'utf8').split('\n')) {
    const f = line.split(' ');
    if (f[2] === 'cgroup2') return f[1];
  }
  throw new Error('no cgroup v2 mount');
}

function removeTree(dir) {
  try {
    for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) removeTree(join(dir, e.name));
    rmdirSync(dir);
  } catch {
    // gone
  }
}

const loadAvg = () => readFileSync('/proc/loadavg', 'utf8').split(' ')[0];

async function doctorCase() {
  const interval = 2; // doctor's default --interval
  const logs = mkdtempSync(join(tmpdir(), 'nfct-bench-pods-'));
  const cg = join(cgroup2Root(), `nfct-bench-pods-${process.pid}`);
  mkdirSync(cg, { recursive: true });
  const pauses = [];
  const names = [];
  try {
    await withNetns(async (node) => {
      nft(node, kubeProxyNft(100));
      spawnSync('ip', ['netns', 'exec', node, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
      // Stale entries on the node: towards Service 0, DNATed to an endpoint that is gone. An hour
      // of timeout: setting up the pods takes minutes on a loaded machine, and the entry must
      // outlive them and every doctor run.
      const ct = spawnSync('ip', ['netns', 'exec', node, 'conntrack', '-I', '-p', 'udp', '-s', '10.244.0.1', '-d',
        clusterIp(0), '--sport', '40000', '--dport', '53', '--dst-nat', '10.246.0.1:53', '-t', '3600', '-u',
        'ASSURED,SEEN_REPLY'], { encoding: 'utf8' });
      if (ct.status !== 0) throw new Error(`conntrack -I: ${ct.stderr}`);
      for (let i = 0; i < nPods; i++) {
        const name = `nfct-bench-pod${i}-${process.pid}-${randomBytes(3).toString('hex')}`;
        spawnSync('ip', ['netns', 'add', name]);
        names.push(name);
        const veth = `bp${i}`;
        spawnSync('ip', ['-n', node, 'link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', name]);
        spawnSync('ip', ['-n', name, 'addr', 'add', `10.244.0.${i + 1}/32`, 'dev', 'eth0']);
        const pause = spawn('ip', ['netns', 'exec', name, 'sleep', '600'], { stdio: 'ignore' });
        pauses.push(pause);
        await new Promise((r) => pause.once('spawn', r));
        const uid = `${randomBytes(4).toString('hex')}-0000-4000-8000-${randomBytes(6).toString('hex')}`;
        const scope = join(cg, `kubepods-besteffort-pod${uid.replaceAll('-', '_')}.slice`,
          `cri-containerd-${randomBytes(32).toString('hex')}.scope`);
        mkdirSync(scope, { recursive: true });
        for (let k = 0; k < 100; k++) {
          try {
            if (readFileSync(`/proc/${pause.pid}/comm`, 'utf8').trim() === 'sleep') break;
          } catch {
            // not yet
          }
          await new Promise((r) => setTimeout(r, 10));
        }
        writeFileSync(join(scope, 'cgroup.procs'), String(pause.pid));
        mkdirSync(join(logs, `bench_pod-${i}_${uid}`, 'app'), { recursive: true });
      }
      const times = [];
      const peers = [];
      let staleSeen = 0;
      let examined = '';
      const load = [loadAvg()];
      for (let i = 0; i < repeat; i++) {
        const r = await timeCommand(null, [...NFCT, 'doctor', '--all-netns', '--pod-log-dir', logs, '--interval',
          String(interval)], { stdout: 'pipe', check: false });
        // Whether the node's stale entry was reported: a run that missed it did less than its work.
        if (r.stdout.includes('10.246.0.1')) staleSeen++;
        times.push(r);
        examined = /(\d+) namespaces examined/.exec(r.stderr ?? '')?.[1] ?? examined;
        // The peer: what doctor's count and statistics cost by hand, the pods' namespaces only.
        const t0 = performance.now();
        for (const n of names) {
          spawnSync('ip', ['netns', 'exec', n, 'conntrack', '-C'], { stdio: 'ignore' });
          spawnSync('ip', ['netns', 'exec', n, 'conntrack', '-S'], { stdio: 'ignore' });
        }
        peers.push((performance.now() - t0) / 1000);
      }
      load.push(loadAvg());
      const t = median(times.map((r) => r.seconds));
      const peer = median(peers);
      rows.push({
        case: `doctor --all-netns, ${nPods} pod namespaces${examined ? ` (${examined} examined)` : ''}`,
        'nfct -L s': '',
        'nfct -L --services s': '',
        ratio: `${fmtFixed(t, 2)} s`,
        target: '< 5 s',
        met: t < 5 ? 'yes' : 'NO',
        'peak RSS MB (plain / services)': fmtFixed(Math.max(...times.map((r) => r.rssKb)) / 1024, 1),
      });
      notes.push(
        `Doctor: ${fmtFixed(t, 2)} s (median of ${repeat}), of which ${interval} s is its sampling interval, so ${
          fmtFixed(t - interval, 2)
        } s of work over ${
          examined || '?'
        } namespaces; against \`conntrack -C\` + \`conntrack -S\` run by \`ip netns exec\` in each of the ${nPods} pod namespaces alone, one after another, ${
          fmtFixed(peer, 2)
        } s in the same run (doctor ${
          fmtFixed(t / peer, 2)
        }× of it, sampling included). The node's stale entry was reported in ${staleSeen} of ${repeat} runs. Load average (1 min) ${
          load[0]
        } before the doctor runs, ${load[1]} after.`,
      );
      log(`doctor over ${nPods} pods: ${fmtFixed(t, 2)} s; conntrack -C + -S loop ${fmtFixed(peer, 2)} s`);
    });
  } finally {
    for (const p of pauses) p.kill('SIGKILL');
    for (const n of names) spawnSync('ip', ['netns', 'delete', n]);
    await new Promise((r) => setTimeout(r, 200));
    removeTree(cg);
    rmSync(logs, { recursive: true, force: true });
  }
}

ensureBuilt();
ensureDist();
if (cases.has('list')) {
  raiseConntrackMax(size + 1000);
  await listCase();
}
if (cases.has('doctor')) await doctorCase();
notes.push(
  "Ratios are from the same run on a shared 2-core machine; the doctor row counts every namespace of the machine at the time, not only the bench's.",
);
writeResults(SECTION, table(rows), notes.join('\n'));
