// TRACE: nftables traces equal what `nft monitor trace` prints hop for hop; legacy iptables
// TRACE arrives through NFLOG group 0 with rule numbers and rule texts; iptables-nft TRACE
// arrives through the nftables path; the temporary trace rule never outlives its stream.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { parseTraceLine, parseTracePrefix, Trace, type TraceEvent, type TracePacket } from '../../lib/index.js';
import { createNetns, type Netns } from '../helpers/netns.js';
import { spawnNfct } from '../helpers/nfct.js';
import { BOUND_MS, until, WaitTimeout, watchersReady } from '../helpers/sentinel.js';

let ns: Netns;

beforeAll(async () => {
  ns = await createNetns('nfct-trace', { conntrack: false });
});
afterAll(async () => {
  await ns?.remove();
});

/** One echo request to 127.0.0.1 from inside the namespace. */
const pingOnce = () => ns.exec('ping', ['-c', '1', '-W', '1', '127.0.0.1']);
/** One UDP datagram to 127.0.0.1:`port` from inside the namespace. */
const sendUdp = (port: number) =>
  ns.execOk('node', ['-e',
    `const s=require('dgram').createSocket('udp4');s.send('x',${port},'127.0.0.1',()=>s.close())`]);

/** Runs `use` while table ip `name` counts the namespace's output packets; the table deleted after. */
async function withOutputTable(name: string, use: () => Promise<void>): Promise<void> {
  await ns.execOk('nft', ['-f', '-'], {
    input: `table ip ${name} {\n chain output { type filter hook output priority 0; counter; }\n}\n`,
  });
  try {
    await use();
  } finally {
    await ns.execOk('nft', ['delete', 'table', 'ip', name]);
  }
}

/**
 * Collects grouped packets while `act` runs, until `want` packets: `act` starts once the
 * stream traces (its temporary rule, with `match`, is in place). Fails after the bound.
 */
async function tracePackets(trace: Trace, act: () => Promise<unknown>, want: number,
  options = {}): Promise<TracePacket[]>
{
  const stream = trace.packets({ idleMs: 300, ...options });
  const got: TracePacket[] = [];
  const done = (async () => {
    for await (const p of stream) {
      got.push(p);
      if (got.length >= want) break;
    }
  })();
  await stream.ready;
  await act();
  const timer = setTimeout(() => void stream.close(), BOUND_MS);
  await done;
  clearTimeout(timer);
  if (got.length < want) throw new WaitTimeout(`${want} traced packets`, BOUND_MS, `${got.length} came`);
  return got;
}

/** The temporary trace tables are gone (removed a moment after the stream ends). */
async function noTraceTable(): Promise<void> {
  await until(async () => !(await ns.execOk('nft', ['list', 'tables'])).stdout.includes('nfct_trace'),
    'the temporary trace table to be removed');
}

describe('nftables', () => {
  test('grouped traces equal nft monitor trace, hop for hop', async () => {
    await ns.execOk('nft', ['-f', '-'], {
      input: `table ip filt {
  chain c1 { ip protocol icmp counter; return; }
  chain c2 { icmp type echo-reply drop; }
  chain c3 { udp dport 7777 accept; }
  chain output { type filter hook output priority 0; policy accept; meta nftrace set 1; jump c1; ip daddr 127.0.0.1 jump c2; meta l4proto udp goto c3; }
}
`,
    });
    const monitor = ns.spawn('nft', ['-a', 'monitor', 'trace'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let text = '';
    monitor.stdout!.on('data', (d: Buffer) => (text += d.toString()));
    const trace = await Trace.open({ netns: ns.name, legacy: false });
    try {
      // nft monitor prints nothing when it starts: it listens once it prints the trace of a
      // marker datagram (to port 7799, dropped so that nothing answers it; its traces are left
      // out of the comparison).
      await ns.execOk('nft', ['-f', '-'], {
        input: 'table ip marker {\n chain output { type filter hook output priority 10; udp dport 7799 drop; }\n}\n',
      });
      await watchersReady(() => ns.exec('bash', ['-c', 'echo m > /dev/udp/127.0.0.1/7799']).then(() => undefined),
        () => text.includes('dport 7799'), 'nft monitor trace');
      const packets = await tracePackets(
        trace,
        async () => {
          await pingOnce();
          await sendUdp(7777);
        },
        4, // the echo request and reply, the datagram and the port-unreachable answering it
        // The reader's buffers are those of every live stream, tuned the same way.
        { bufferSize: 1 << 20, maxBufferSize: 4 << 20, maxQueueBytes: 1 << 20 },
      );
      // nft prints: trace id ID ip filt CHAIN rule TEXT # handle N (verdict V[ CHAIN]) / ... policy V
      const parseMonitor = (): Map<string, string[]> => {
        const byId = new Map<string, string[]>();
        const markers = new Set([...text.matchAll(/^trace id (\w+) .*dport 7799/gm)].map((m) => m[1]!));
        for (const line of text.split('\n')) {
          const m =
            /^trace id (\w+) ip (\S+) (\S+) (?:rule .* # handle (\d+) \(verdict (\w+)(?: (\S+))?\)|policy (\w+))/.exec(
              line.trim(),
            );
          if (!m || markers.has(m[1]!)) continue;
          const hop = m[7]
            ? `${m[2]} ${m[3]} policy ${m[7]}`
            : `${m[2]} ${m[3]} #${m[4]} ${m[5]}${m[6] ? ` ${m[6]}` : ''}`;
          byId.set(m[1]!, [...(byId.get(m[1]!) ?? []), hop]);
        }
        return byId;
      };
      const ours = new Map<string, string[]>();
      for (const p of packets) {
        const hops = p.hops
          .filter((h) =>
            h.source === 'nftables' && ((h.kind === 'rule' && h.handle !== undefined) || h.kind === 'policy')
          )
          .map((
            h,
          ) => (h.kind === 'policy' || h.source !== 'nftables'
            ? `${h.table} ${h.chain} policy ${h.verdict}`
            : `${h.table} ${h.chain} #${h.handle} ${h.verdict}${h.target ? ` ${h.target}` : ''}`)
          );
        ours.set(p.id.toString(16).padStart(8, '0'), hops);
      }
      expect(ours.size).toBe(4);
      // nft monitor has printed the same packets once it has printed every hop of ours.
      const theirs = await until(() => {
        const t = parseMonitor();
        return [...ours].every(([id, hops]) => (t.get(id)?.length ?? 0) >= hops.length) && t;
      }, 'nft monitor trace to print the packets traced', { detail: () => text.slice(-2000) });
      monitor.kill();
      expect(ours).toEqual(theirs);
      const dropped = packets.find((p) => p.dropped)!;
      expect(dropped.verdict).toBe('drop');
      expect(dropped.packet?.icmp?.type).toBe(0);
      const udp = packets.find((p) => p.packet?.udp)!;
      expect(udp.verdict).toBe('accept');
      // Rule texts as nft -a list prints them.
      const hop = udp.hops.find((h) => h.chain === 'c3' && h.kind === 'rule')!;
      expect(hop.ruleText).toBe('udp dport 7777 accept');
      // Every hop of a packet carries its headers.
      expect(udp.hops.every((h) => h.packet?.udp?.dstPort === 7777)).toBe(true);
    } finally {
      monitor.kill();
      await trace.close();
      await ns.execOk('nft', ['delete', 'table', 'ip', 'filt']);
      await ns.exec('nft', ['delete', 'table', 'ip', 'marker']);
    }
  });

  test('iptables-nft -j TRACE arrives through the nftables path', async () => {
    await ns.execOk('iptables', ['-t', 'raw', '-A', 'OUTPUT', '-p', 'icmp', '-j', 'TRACE']);
    const trace = await Trace.open({ netns: ns.name, legacy: false });
    try {
      const packets = await tracePackets(trace, () => pingOnce(), 1);
      expect(packets.length).toBeGreaterThan(0);
      const hops = packets.flatMap((p) => p.hops);
      expect(hops.every((h) => h.source === 'nftables')).toBe(true);
      expect(hops.some((h) => h.table === 'raw' && h.chain === 'OUTPUT')).toBe(true);
    } finally {
      await trace.close();
      await ns.execOk('iptables', ['-t', 'raw', '-F', 'OUTPUT']);
    }
  });

  test('the temporary trace rule traces only the match and is gone after end, break and an exception', async () => {
    await withOutputTable('plain', async () => {
      const trace = await Trace.open({ netns: ns.name, legacy: false });
      const tables = async () => (await ns.execOk('nft', ['list', 'tables'])).stdout;
      try {
        // Normal end (close), with only UDP to 7778 traced.
        const packets = await tracePackets(
          trace,
          async () => {
            await pingOnce();
            await sendUdp(7778);
          },
          1,
          { match: { protocol: 'udp', dstPort: 7778 } },
        );
        expect(packets.length).toBe(1);
        expect(packets[0]!.packet?.udp?.dstPort).toBe(7778);
        expect(packets[0]!.hops.some((h) => h.table === 'plain')).toBe(true);
        // The library's own rule is not among the hops; the packet's family is its own, not the
        // family of the table that marked it.
        expect(packets[0]!.hops.filter((h) => h.table.startsWith('nfct_trace'))).toEqual([]);
        expect(packets[0]!.family).toBe('ipv4');
        expect(packets[0]!.hops.map((h) => h.family)).toEqual(packets[0]!.hops.map(() => 'ip'));
        await noTraceTable();
        // break
        const s2 = trace.events({ match: { protocol: 'icmp' } });
        const loop = (async () => {
          for await (const _ of s2) break;
        })();
        await s2.ready;
        expect(await tables()).toContain('nfct_trace');
        await pingOnce();
        await loop;
        await noTraceTable();
        // an exception inside the loop
        const s3 = trace.events({ match: { protocol: 'icmp' } });
        const failing = (async () => {
          for await (const _ of s3) throw new Error('consumer failed');
        })();
        // A packet may come before the ping below: handled from the start, checked after it.
        failing.catch(() => undefined);
        await s3.ready;
        expect(await tables()).toContain('nfct_trace');
        await pingOnce();
        await expect(failing).rejects.toThrow('consumer failed');
        await noTraceTable();
      } finally {
        await trace.close();
      }
    });
  });
});

test('ownHops: true shows the hops of the temporary table too (inet, marking the packet)', async () => {
  await withOutputTable('seen', async () => {
    const trace = await Trace.open({ netns: ns.name, legacy: false });
    try {
      const send = () => sendUdp(7779);
      const mine = await tracePackets(trace, send, 1, { match: { protocol: 'udp', dstPort: 7779 }, ownHops: true });
      expect(mine).toHaveLength(1);
      const own = mine[0]!.hops.filter((h) => h.table.startsWith('nfct_trace_'));
      expect(own.length).toBeGreaterThan(0);
      expect(own.every((h) => h.source === 'nftables' && h.family === 'inet')).toBe(true);
      expect(mine[0]!.family).toBe('ipv4');
      expect(mine[0]!.hops.some((h) => h.table === 'seen')).toBe(true);
      expect(() => trace.events({ ownHops: 'yes' as never })).toThrow(/trace options\.ownHops must be a boolean/);
    } finally {
      await trace.close();
    }
  });
});

test('nfct trace hides the temporary table too; --show-own-hops shows it', async () => {
  // A --json line (schema/trace.json) names each hop's rule in its `rules` list.
  interface Line {
    family: string;
    rules: { table: string; family: string }[];
    hops: { rule: number }[];
  }
  const firstPacket = async (
    extra: string[],
  ): Promise<{ family: string; hops: { table: string; family: string }[] }> => {
    const nfct = spawnNfct(['trace', '--netns', ns.name, '--nftables', '--json', '-p', 'udp', '--dport', '7781',
      ...extra]);
    try {
      for (let i = 0; i < 200 && nfct.out.lines.length === 0; i++) {
        if (i % 10 === 0) {
          await sendUdp(7781);
        }
        await new Promise((r) => setTimeout(r, 50)); // between datagrams; the first line ends the loop
      }
    } finally {
      nfct.child.kill('SIGINT');
    }
    expect(await nfct.out.closed).toBe(0);
    const line = JSON.parse(nfct.out.lines[0]!) as Line;
    return { family: line.family, hops: line.hops.map((h) => line.rules[h.rule]!) };
  };
  await withOutputTable('cli', async () => {
    const plain = await firstPacket([]);
    expect(plain.family).toBe('ipv4');
    expect(plain.hops.map((h) => h.table)).toContain('cli');
    expect(plain.hops.filter((h) => h.table.startsWith('nfct_trace_'))).toEqual([]);
    const all = await firstPacket(['--show-own-hops']);
    expect(all.hops.filter((h) => h.table.startsWith('nfct_trace_')).map((h) => h.family)).toContain('inet');
  });
});

describe('legacy iptables TRACE', () => {
  test('hops through NFLOG group 0 with rule numbers, policies and iptables-legacy-save texts', async () => {
    const ipt = (...args: string[]) => ns.execOk('iptables-legacy', ['-t', 'raw', ...args]);
    await ipt('-N', 'cali-OUTPUT');
    await ipt('-N', 'cali-to-wl');
    await ipt('-A', 'OUTPUT', '-p', 'icmp', '-j', 'TRACE');
    await ipt('-A', 'OUTPUT', '-p', 'icmp', '-j', 'cali-OUTPUT');
    await ipt('-A', 'cali-OUTPUT', '-p', 'icmp', '--icmp-type', 'echo-request', '-j', 'cali-to-wl');
    await ipt('-A', 'cali-to-wl', '-p', 'icmp', '-j', 'RETURN');
    const save = (await ns.execOk('iptables-legacy-save', ['-t', 'raw'])).stdout.split('\n').filter((l) =>
      l.startsWith('-A ')
    );
    const backend = async () => (await ns.execOk('cat', ['/proc/sys/net/netfilter/nf_log/2'])).stdout.trim();
    const before = await backend();
    expect(before).not.toBe('nfnetlink_log');
    const trace = await Trace.open({ netns: ns.name, nftables: false, bindLogger: true });
    try {
      expect(await backend()).toBe('nfnetlink_log');
      const packets = await tracePackets(trace, () => pingOnce(), 2);
      const request = packets.find((p) => p.packet?.icmp?.type === 8)!;
      expect(request).toBeDefined();
      const hops = request.hops.filter((h) => h.table === 'raw').map((h) =>
        `${h.chain}:${h.kind}:${h.source === 'legacy' ? h.rule : ''}`
      );
      // Out through raw OUTPUT, then in again over lo through raw PREROUTING (the same bytes:
      // legacy TRACE has no id, so the two trips of one packet are one).
      expect(hops).toEqual(['OUTPUT:rule:2', 'cali-OUTPUT:rule:1', 'cali-to-wl:rule:1', 'cali-OUTPUT:return:2',
        'OUTPUT:policy:3', 'PREROUTING:policy:1']);
      const texts = request.hops.filter((h) => h.table === 'raw' && h.kind === 'rule').map((h) => h.ruleText);
      expect(texts).toEqual([save[1], save[2], save[3]]);
      expect(request.hops.every((h: TraceEvent) => h.source === 'legacy')).toBe(true);
    } finally {
      await trace.close();
    }
    // The backend is put back.
    expect(await backend()).toBe(before);
    await ipt('-F');
    await ipt('-X');
  });

  test('bindLogger is refused without a namespace', async () => {
    await expect(Trace.open({ bindLogger: true })).rejects.toThrow(TypeError);
  });

  test('the live stream options are checked as for events and NFLOG, before anything starts', async () => {
    const trace = await Trace.open({ netns: ns.name, legacy: false });
    try {
      expect(() => trace.events({ maxQueueBytes: 0 })).toThrow(/trace options\.maxQueueBytes/);
      expect(() => trace.packets({ bufferSize: 'big' as unknown as number })).toThrow(/trace options\.bufferSize/);
      expect(() => trace.events({ queueSize: 10 } as never)).toThrow(/queueSize/);
    } finally {
      await trace.close();
    }
  });
});

describe('parsing TRACE text', () => {
  test('prefixes, chain names with dashes and colons', () => {
    expect(parseTracePrefix('TRACE: raw:PREROUTING:rule:2 ')).toEqual({ table: 'raw', chain: 'PREROUTING', kind: 'rule',
      rule: 2 });
    expect(parseTracePrefix('TRACE: raw:cali-PREROUTING:rule:1 ')).toEqual({ table: 'raw', chain: 'cali-PREROUTING',
      kind: 'rule', rule: 1 });
    expect(parseTracePrefix('TRACE: filter:KUBE-SVC-X:Y:return:3 ')).toEqual({ table: 'filter', chain: 'KUBE-SVC-X:Y',
      kind: 'return', rule: 3 });
    expect(parseTracePrefix('TRACE: raw:OUTPUT:policy:3 ')).toEqual({ table: 'raw', chain: 'OUTPUT', kind: 'policy',
      rule: 3 });
    expect(parseTracePrefix('[UFW BLOCK] ')).toBeUndefined();
  });

  test('a line pasted from dmesg', () => {
    const line =
      '[ 1234.567890] TRACE: raw:cali-PREROUTING:rule:1 IN=eth0 OUT= MAC=00:11:22:33:44:55:66:77:88:99:aa:bb:08:00 SRC=10.0.0.1 DST=10.0.0.2 LEN=84 TOS=0x00 PREC=0x00 TTL=64 ID=1 DF PROTO=ICMP TYPE=8 CODE=0 ID=5 SEQ=1';
    const t = parseTraceLine(line)!;
    expect(t).toMatchObject({ table: 'raw', chain: 'cali-PREROUTING', kind: 'rule', rule: 1 });
    expect(t.log).toMatchObject({ src: '10.0.0.1', dst: '10.0.0.2' });
  });
});
