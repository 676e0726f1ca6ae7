/**
 * docs/operations.md "Debugging a node": every transcript there (a ```text block after a
 * `<!-- transcript: NAME -->` line) is the real output of its commands on the node fixture
 * (test/helpers/k8s-node.ts), made here and compared line for line. What changes from run to
 * run is masked on both sides: trace ids, the measured interval, packet counts, entry ids and
 * timeouts. The fixture's node namespace is shown as `node`.
 *
 * NFCT_UPDATE_DOCS=1 writes this run's output into the document instead of comparing.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { Conntrack } from '../../lib/index.js';
import { NODE_PODS, NODE_SERVICES, NodeFixture } from '../helpers/k8s-node.js';
import { runNfct, startNfct } from '../support/run-nfct.js';

const DOC = join(resolve(__dirname, '..', '..'), 'docs', 'operations.md');
const CLIENT = 'default/client-7c9d8-abcde';
const OLD = 'kube-system/coredns-5d78c9869d-x2v7q';
const NEW = 'kube-system/coredns-5d78c9869d-h8k2p';

/** The transcript blocks of the document, by name. */
function transcripts(doc: string): Map<string, { start: number; end: number; text: string }> {
  const out = new Map<string, { start: number; end: number; text: string }>();
  const re = /<!-- transcript: (\S+) -->\n```text\n([\s\S]*?)```\n/g;
  for (let m = re.exec(doc); m; m = re.exec(doc)) {
    const bodyStart = m.index + m[0].indexOf('```text\n') + '```text\n'.length;
    out.set(m[1]!, { start: bodyStart, end: bodyStart + m[2]!.length, text: m[2]! });
  }
  return out;
}

/**
 * Findings about NFLOG groups held in the node's namespace by another test's `nfct log
 * --all-netns` (it binds its group in every namespace of the machine), left out with the
 * summary's count: the document shows a node where nothing else listens.
 */
function otherTestsLeftOut(text: string): string {
  let removed = 0;
  const kept = text.replace(/^INFO +\[node\] NFLOG group \d+ is held by pid \d+ \(nfct log\)\n(?: .*\n)*\n?/gm, () => {
    removed++;
    return '';
  });
  return removed === 0
    ? kept
    : kept.replace(/; (\d+) findings?;/,
      (_m, n: string) => `; ${Number(n) - removed} finding${Number(n) - removed === 1 ? '' : 's'};`);
}

/** What changes from run to run, masked. */
function mask(text: string): string {
  return text
    .replace(/\bpacket [0-9a-f]{8}\b/g, 'packet <id>')
    .replace(/\b\d+\.\d s\b/g, '<n> s')
    .replace(/sent \d+ more packets?/g, 'sent <n> more packets')
    .replace(/\b(udp|tcp) {6}(17|6) \d+ /g, '$1 $2 <timeout> ')
    .replace(/packets=\d+ bytes=\d+/g, 'packets=<n> bytes=<n>')
    .replace(/delta-time=\d+/g, 'delta-time=<n>')
    // The table's size follows nf_conntrack_max, which differs between machines.
    .replace(/\b\d{1,3}(?:,\d{3})+\b/g, '<n>')
    .replace(/nf_conntrack_max=\d+/g, 'nf_conntrack_max=<n>')
    // Columns are as wide as their numbers.
    .replace(/ {2,}/g, ' ')
    .replace(/\d\d:\d\d:\d\d UTC/g, '<time> UTC')
    .replace(/[\d,.]+\/s\b/g, '<n>/s')
    .replace(/\bid=\d+/g, 'id=<n>')
    .trimEnd();
}

describe('docs/operations.md: Debugging a node', () => {
  let node: NodeFixture;
  const made = new Map<string, string>();
  /** A transcript: each command as typed, then what it printed (stdout, then stderr). */
  const record = async (name: string,
    steps: [string, () => Promise<{ stdout: string; stderr: string }>][]): Promise<void> =>
  {
    const out: string[] = [];
    for (const [typed, run] of steps) {
      const r = await run();
      out.push(`$ ${typed}`);
      const text = otherTestsLeftOut(
        `${r.stdout}${r.stderr}`.replaceAll(node.node.name, 'node').replaceAll(node.podLogDir, '/var/log/pods'),
      );
      out.push(...text.split('\n').filter((l, i, a) => l !== '' || i < a.length - 1));
    }
    made.set(name, `${out.join('\n')}\n`);
  };
  const nfct = (args: string[]) => () => runNfct([...args.map((a) => (a === 'node' ? node.node.name : a))]);

  beforeAll(async () => {
    node = await NodeFixture.create('iptables-nft', NODE_PODS, NODE_SERVICES);
    for (const [k, v] of [['nf_conntrack_acct', 1], ['nf_conntrack_timestamp', 1]] as const) {
      await node.node.execOk('sysctl', ['-q', '-w', `net.netfilter.${k}=${v}`]);
    }
  }, 60000);
  afterAll(async () => {
    await node?.remove();
  });

  test('stale DNS after CoreDNS moved', async () => {
    // The client resolves through kube-dns from one port until its entry is [ASSURED].
    for (let i = 0;; i++) {
      expect(await node.ask(CLIENT, '10.96.0.10', 53, 40053)).toBe(OLD.split('/')[1]);
      if ((await node.node.execOk('conntrack', ['-L', '-p', 'udp', '--sport', '40053'])).stdout.includes('ASSURED')) {
        break;
      }
      if (i > 40) throw new Error('no [ASSURED] entry');
      await new Promise((r) => setTimeout(r, 300));
    }
    // CoreDNS moves: the Service's endpoint is now the other pod, the first one is gone.
    await node.setEndpoints('kube-system/kube-dns', [NEW]);
    await node.removePod(OLD);
    // The client keeps asking from the same port while the doctor watches: no answer.
    const asking = (async () => {
      for (let i = 0; i < 6; i++) await node.ask(CLIENT, '10.96.0.10', 53, 40053);
    })();
    await record('stale-doctor', [['nfct doctor --netns node',
      nfct(['doctor', '--netns', 'node', '--pod-log-dir', node.podLogDir])]]);
    await asking;
    await record('stale-list', [['nfct -L --services -p udp --netns node',
      nfct(['-L', '--services', '-p', 'udp', '--netns', 'node'])]]);
    const fix = /run: (nfct -D .*)$/m.exec(made.get('stale-doctor')!)![1]!;
    await record('stale-fix', [
      [fix, nfct(fix.split(' ').slice(1))],
      ["nfct -L --services -p udp --netns node   # after the client's next query", async () => {
        expect(await node.ask(CLIENT, '10.96.0.10', 53, 40053)).toBe(NEW.split('/')[1]);
        return runNfct(['-L', '--services', '-p', 'udp', '--netns', node.node.name]);
      }],
    ]);
  });

  test('a packet dropped by a policy rule', async () => {
    // A NetworkPolicy-like rule of the node: the client may not reach the web pods.
    await node.node.execOk('iptables-nft', ['-I', 'FORWARD', '-s', '10.244.1.5', '-d', '10.244.1.9', '-p', 'tcp',
      '--dport', '8080', '-m', 'comment', '--comment', 'default/deny-client-to-web', '-j', 'DROP']);
    let lines: string[] = [];
    await record('drop-trace', [['nfct trace -p tcp --dport 80 --netns node', async () => {
      const run = startNfct(['trace', '-p', 'tcp', '--dport', '80', '--netns', node.node.name]);
      lines = run.lines;
      try {
        for (let i = 0; i < 200 && !(await node.node.exec('nft', ['list', 'tables'])).stdout.includes('nfct_trace_');
          i++) await new Promise((r) => setTimeout(r, 25));
        // One SYN, from a fixed port: it is dropped (the connection attempt is given up at once).
        const c = node.pod(CLIENT).netns.spawn('node', ['-e',
          "const s=require('net').connect({host:'10.96.0.20',port:80,localPort:45080});s.on('error',()=>{});setTimeout(()=>process.exit(0),1500)"],
          { stdio: 'ignore' });
        await new Promise((r) => c.once('exit', r));
        for (let i = 0; i < 100 && !lines.some((l) => l.startsWith('  => drop')); i++) {
          await new Promise((r) => setTimeout(r, 25));
        }
      } finally {
        process.emit('SIGINT');
      }
      const err = (await run.done).stderr;
      // The first packet's block only (the SYN is sent again while the trace runs).
      const end = lines.findIndex((l) => l.startsWith('  => '));
      // As a terminal shows it: what it traces (stderr) first, then the packet.
      const said = err.split('\n').filter((l) => l.startsWith('nfct: tracing'));
      return { stdout: `${[...said, ...lines.slice(0, end + 1)].join('\n')}\n`, stderr: '' };
    }]]);
    expect(made.get('drop-trace')).toMatch(/-j DROP \(verdict drop\)\n {2}=> drop/);
  });

  test('the table is full', async () => {
    // Fill the node's table to 92% of nf_conntrack_max (counted per namespace) from one address.
    const max = Number(readFileSync('/proc/sys/net/netfilter/nf_conntrack_max', 'utf8'));
    const ct = await Conntrack.open({ netns: node.node.path });
    try {
      await ct.flush();
      const n = Math.floor(max * 0.92);
      const flows = Array.from({ length: n },
        (_, i) => ({ protocol: 'tcp' as const, src: '10.244.1.5', dst: `10.244.${2 + (i >> 16)}.${(i >> 8) & 255}`,
          srcPort: 1024 + (i & 255), dstPort: 8080, timeout: 600, state: 'SYN_SENT' as const }));
      await ct.createMany(flows);
    } finally {
      await ct.close();
    }
    await record('full-doctor', [['nfct doctor --netns node',
      nfct(['doctor', '--netns', 'node', '--pod-log-dir', node.podLogDir])]]);
    await record('full-top', [['nfct top --netns node --by src --once --top 3',
      nfct(['top', '--netns', 'node', '--by', 'src', '--once', '--top', '3'])]]);
  }, 120000);

  test('the document shows what these commands print', () => {
    const doc = readFileSync(DOC, 'utf8');
    const blocks = transcripts(doc);
    if (process.env.NFCT_UPDATE_DOCS === '1') {
      let updated = doc;
      for (const [name, b] of [...blocks].sort((x, y) => y[1].start - x[1].start)) {
        const text = made.get(name);
        if (text !== undefined) updated = updated.slice(0, b.start) + text + updated.slice(b.end);
      }
      writeFileSync(DOC, updated);
      return;
    }
    expect([...blocks.keys()].sort()).toEqual([...made.keys()].sort());
    for (const [name, text] of made) expect(mask(blocks.get(name)!.text), name).toBe(mask(text));
  });
});
