// Two tracers in one namespace with different matches: the kernel sends every trace event to
// every listener, yet each tracer shows only the packets its own marking rule selected (a packet
// both select, both), hop for hop as `nft monitor trace` prints the traces its table marked.
// One tracer is a Trace handle in this process, the other `nfct trace` in a process of its own.
import type { ChildProcess } from 'node:child_process';

import { afterAll, beforeAll, expect, test } from 'vitest';

import { Trace, type TraceEvent, type TracePacket } from '../../lib/index.js';
import { createNetns, type Netns } from '../helpers/netns.js';
import { type SpawnedNfct, spawnNfct } from '../helpers/nfct.js';
/** Traced by a rule of neither tracer (a plain `meta nftrace set 1`): the sentinel of the monitor. */
const PROBE_PORT = 7199;

let ns: Netns;
beforeAll(async () => {
  ns = await createNetns('nfct-trace2', { conntrack: false });
  await ns.execOk('nft', ['-f', '-'], {
    input: `table ip filt {
  chain output { type filter hook output priority 0; policy accept; udp dport ${PROBE_PORT} meta nftrace set 1; counter; }
  chain input { type filter hook input priority 0; policy accept; counter; }
}
`,
  });
});
afterAll(async () => {
  await ns?.remove();
});

async function until<T>(what: () => string, fn: () => Promise<T | undefined> | T | undefined, ms = 10000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** One UDP datagram from inside the namespace. */
const send = (dst: string, port: number): Promise<unknown> =>
  ns.execOk('node', ['-e', `const s=require('dgram').createSocket('udp4');s.send('x',${port},'${dst}',()=>s.close())`]);

/** A hop as both sides give it (a TraceEvent, or a --json line's hop with its rule). */
type Hop = Pick<TraceEvent, 'table' | 'chain' | 'kind' | 'verdict' | 'target'> & { family: string; handle?: number };

/** A hop as both sides can print it: rules by handle, policies by verdict. */
function hopText(h: Hop): string | undefined {
  if (h.kind === 'policy') return `${h.family} ${h.table} ${h.chain} policy ${h.verdict}`;
  if (h.kind === 'rule' && h.handle !== undefined) {
    return `${h.family} ${h.table} ${h.chain} #${h.handle} ${h.verdict}${h.target ? ` ${h.target}` : ''}`;
  }
  return undefined;
}

const idText = (id: number): string => id.toString(16).padStart(8, '0');

/** `nft -a monitor trace` output: the hops of each trace id. */
function monitorTraces(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const m = /^trace id (\w+) (\S+) (\S+) (\S+) (?:rule .* # handle (\d+) \(verdict (\w+)(?: (\S+))?\)|policy (\w+))/
      .exec(line.trim());
    if (!m) continue;
    const hop = m[8]
      ? `${m[2]} ${m[3]} ${m[4]} policy ${m[8]}`
      : `${m[2]} ${m[3]} ${m[4]} #${m[5]} ${m[6]}${m[7] ? ` ${m[7]}` : ''}`;
    out.set(m[1]!, [...(out.get(m[1]!) ?? []), hop]);
  }
  return out;
}

function byId(packets: { id: string; hops: Hop[] }[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const p of packets) {
    out.set(p.id, [...(out.get(p.id) ?? []), ...p.hops.map(hopText).filter((h): h is string => h !== undefined)]);
  }
  return out;
}

/** A line of `nfct trace --json` (schema/trace.json): its hops with their rules put back in. */
interface TraceLine {
  id: string;
  packet?: { udp?: { dstPort: number } };
  rules: { family: string; table: string; chain: string; handle?: number }[];
  hops: { kind: TraceEvent['kind']; rule: number; verdict?: string; target?: string }[];
}
const jsonHops = (l: TraceLine): { id: string; hops: Hop[] } => ({
  id: l.id,
  hops: l.hops.map((h) => ({ ...l.rules[h.rule]!, kind: h.kind, verdict: h.verdict, target: h.target })),
});

const traceTables = async (): Promise<string[]> =>
  [...(await ns.execOk('nft', ['list', 'tables', 'inet'])).stdout.matchAll(/^table inet (nfct_trace_\S+)$/gm)].map((
    m,
  ) => m[1]!);

test('each tracer shows only what its own rule selected; a packet both select, both; agreeing with nft monitor trace', async () => {
  // A: UDP to port 7101, in this process, every hop shown.
  const trace = await Trace.open({ netns: ns.name, legacy: false });
  const a = trace.packets({ match: { protocol: 'udp', dstPort: 7101 }, idleMs: 300, ownHops: true });
  const fromA: TracePacket[] = [];
  const readingA = (async () => {
    for await (const p of a) fromA.push(p);
  })();
  let b: SpawnedNfct | undefined;
  let monitor: ChildProcess | undefined;
  try {
    await a.ready;
    const [tableA] = await traceTables();
    // B: UDP to 127.0.0.2, `nfct trace` in a process of its own, every hop shown.
    // Its lines are checked against schema/trace.json as they come.
    const bb = spawnNfct(['trace', '--netns', ns.name, '--nftables', '--json', '--show-own-hops', '-p', 'udp', '-d',
      '127.0.0.2']);
    b = bb;
    const tableB = await until(() => `nfct trace's table (stderr: ${bb.out.err})`,
      async () => (await traceTables()).find((t) => t !== tableA));

    monitor = ns.spawn('nft', ['-a', 'monitor', 'trace'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let monText = '';
    monitor.stdout!.on('data', (d: Buffer) => (monText += d.toString()));
    const probes = (): number =>
      [...monitorTraces(monText).values()].filter((hops) =>
        hops.some((h) => h.startsWith('ip filt output #') && !hops.some((x) => x.includes('nfct_trace_')))
      ).length;
    // The monitor listens once a probe's trace reaches it.
    await until(() => 'nft monitor trace to print a probe', async () => {
      await send('127.0.0.1', PROBE_PORT);
      return probes() > 0 ? true : undefined;
    });

    await send('127.0.0.1', 7101); // A's alone
    await send('127.0.0.2', 7102); // B's alone
    await send('127.0.0.2', 7101); // both's
    await send('127.0.0.1', 7103); // neither's
    // A probe after them: once the monitor has it, it has every trace before it.
    const before = probes();
    await send('127.0.0.1', PROBE_PORT);
    await until(() => 'the closing probe', () => (probes() > before ? true : undefined));

    const kernel = monitorTraces(monText);
    const markedBy = (table: string): Map<string, string[]> =>
      new Map([...kernel].filter(([, hops]) => hops.some((h) => h.startsWith(`inet ${table} `) && h.includes(' #'))));
    const wantA = markedBy(tableA!);
    const wantB = markedBy(tableB);
    // Each datagram is two traces (out, then in again over lo): A's two datagrams, B's two.
    expect(wantA.size).toBe(4);
    expect(wantB.size).toBe(4);
    expect([...wantA.keys()].filter((id) => wantB.has(id))).toHaveLength(2);

    await until(() => `A's ${wantA.size} traces (has ${fromA.length})`,
      () => (byId(fromA.map((p) => ({ ...p, id: idText(p.id) }))).size >= wantA.size ? true : undefined));
    bb.child.kill('SIGINT');
    expect(await bb.out.closed).toBe(0);
    const fromB = bb.out.lines.map((l) => JSON.parse(l) as TraceLine);

    // Hop for hop what the kernel reported for the traces each one's table marked, nothing more.
    expect(byId(fromA.map((p) => ({ ...p, id: idText(p.id) })))).toEqual(wantA);
    expect(byId(fromB.map(jsonHops))).toEqual(wantB);
    const dports = (ps: { packet?: { udp?: { dstPort: number } } }[]): number[] =>
      [...new Set(ps.map((p) => p.packet?.udp?.dstPort).filter((x) => x !== undefined))].sort();
    expect(dports(fromA)).toEqual([7101]);
    expect(dports(fromB)).toEqual([7101, 7102]);
    // What A left out was another's: B's datagram and the probes (none lost).
    expect(a.leftOut.others).toBeGreaterThanOrEqual(2);
    expect(a.leftOut.unattributed).toBe(0);
  } finally {
    monitor?.kill();
    if (b?.child.exitCode === null && b.child.signalCode === null) b.child.kill('SIGKILL');
    await trace.close();
    await readingA;
  }
});
