// Which traces are a stream's own (lib/trace/selection.ts), on fixed hop sequences: the cases the
// kernel test (two-tracers.test.ts) cannot produce at will, a trace whose marking hop was lost
// and an id the kernel reuses; and the header match that judges such traces.
import { describe, expect, test } from 'vitest';

import { decodePacket } from '../../lib/packet/decode.js';
import type { DecodedPacket } from '../../lib/packet/types.js';
import { matchSelects } from '../../lib/trace/rules.js';
import { TraceSelection } from '../../lib/trace/selection.js';
import type { NftablesTraceEvent, TraceEvent, TraceMatch } from '../../lib/trace/types.js';

const OURS = 'nfct_trace_100_0123abcd_0';
const THEIRS = 'nfct_trace_200_89abcdef_0';

/** An IPv4 UDP datagram's headers. */
function udp(src: string, dst: string, sport: number, dport: number): DecodedPacket {
  const b = Buffer.alloc(28);
  b[0] = 0x45;
  b.writeUInt16BE(28, 2);
  b[8] = 64;
  b[9] = 17;
  Buffer.from(src.split('.').map(Number)).copy(b, 12);
  Buffer.from(dst.split('.').map(Number)).copy(b, 16);
  b.writeUInt16BE(sport, 20);
  b.writeUInt16BE(dport, 22);
  b.writeUInt16BE(8, 24);
  return decodePacket(b, 'ipv4');
}

const hop = (id: number, table: string, chain: string, kind: TraceEvent['kind'],
  extra: Partial<NftablesTraceEvent> = {}): NftablesTraceEvent => ({
    source: 'nftables',
    id,
    family: table.startsWith('nfct_trace_') ? 'inet' : 'ip',
    table,
    chain,
    kind,
    timestamp: 0n,
    ...extra,
  });

const mark = (id: number, table: string): TraceEvent =>
  hop(id, table, 'out', 'rule', { handle: 2, verdict: 'continue' });
const policy = (id: number, table: string): TraceEvent => hop(id, table, 'out', 'policy', { verdict: 'accept' });
const filter = (id: number): TraceEvent => hop(id, 'filt', 'output', 'rule', { handle: 3, verdict: 'continue' });

/** Feeds hops (with the headers each was sent with) and collects what comes out. */
function run(sel: TraceSelection, hops: [TraceEvent, DecodedPacket?][]): TraceEvent[] {
  return hops.flatMap(([h, headers]) => sel.admit(h, headers));
}

const ours = (): TraceSelection => new TraceSelection(() => OURS, matchSelects({ protocol: 'udp', dstPort: 53 }));

describe('TraceSelection', () => {
  test('a trace led by our marking rule is ours, every hop of it', () => {
    const sel = ours();
    const hops = [mark(1, OURS), policy(1, OURS), policy(1, THEIRS), filter(1)];
    expect(run(sel, hops.map((h) => [h]))).toEqual(hops);
    expect(sel.stats).toEqual({ others: 0, unattributed: 0 });
  });

  test("another tracer's trace is left out, its marking hops and all after, and counted", () => {
    const sel = ours();
    expect(run(sel, [[mark(2, THEIRS)], [policy(2, THEIRS)], [policy(2, OURS)], [filter(2)], [filter(2)]])).toEqual([]);
    expect(sel.stats).toEqual({ others: 1, unattributed: 0 });
  });

  test('a packet both select: ours too, with the other marking hop held until ours came', () => {
    const sel = ours();
    const hops = [mark(3, THEIRS), policy(3, THEIRS), mark(3, OURS), policy(3, OURS), filter(3)];
    const out: TraceEvent[][] = hops.map((h) => sel.admit(h, undefined));
    expect(out.map((o) => o.length)).toEqual([0, 0, 3, 1, 1]);
    expect(out.flat()).toEqual(hops);
  });

  test('first hop lost: judged by the headers the first hop seen carries; without headers left out and counted', () => {
    const sel = ours();
    expect(run(sel, [[filter(4), udp('10.0.0.1', '10.0.0.2', 4000, 53)], [filter(4)]])).toHaveLength(2);
    expect(run(sel, [[filter(5), udp('10.0.0.1', '10.0.0.2', 4000, 54)], [filter(5)]])).toEqual([]);
    expect(run(sel, [[filter(6)], [filter(6), udp('10.0.0.1', '10.0.0.2', 4000, 53)]])).toEqual([]);
    expect(sel.stats).toEqual({ others: 1, unattributed: 1 });
  });

  test('an id the kernel reuses for another packet is judged again from its marking hops', () => {
    const sel = ours();
    expect(run(sel, [[mark(7, OURS)], [filter(7)]])).toHaveLength(2);
    expect(run(sel, [[mark(7, THEIRS)], [filter(7)]])).toEqual([]);
    expect(run(sel, [[mark(7, OURS)], [filter(7)]])).toHaveLength(2);
    expect(sel.stats.others).toBe(1);
  });

  test('before the stream has its table nothing is ours', () => {
    let table: string | undefined = undefined;
    const sel = new TraceSelection(() => table, () => true);
    expect(run(sel, [[mark(8, OURS)], [filter(8), udp('10.0.0.1', '10.0.0.2', 1, 53)]])).toEqual([]);
    table = OURS;
    expect(run(sel, [[mark(9, OURS)]])).toHaveLength(1);
  });

  test("ids are remembered in a bounded number; an undecided one forgotten counts as another's", () => {
    const sel = ours();
    for (let id = 0; id < 10000; id++) sel.admit(mark(1000 + id, THEIRS), undefined);
    expect(sel.stats.others).toBe(10000 - 8192);
  });
});

describe('matchSelects', () => {
  const pkt = udp('10.1.2.3', '192.168.7.9', 5353, 53);
  test.each<[TraceMatch, boolean]>([
    [{}, true],
    [{ family: 'ipv4' }, true],
    [{ family: 'ipv6' }, false],
    [{ protocol: 'udp' }, true],
    [{ protocol: 'tcp' }, false],
    [{ src: '10.0.0.0/8' }, true],
    [{ src: '10.1.2.2/31' }, true],
    [{ src: '10.1.2.4/31' }, false],
    [{ src: '10.1.2.3' }, true],
    [{ dst: '192.168.7.0/28' }, true],
    [{ dst: '192.168.7.16/28' }, false],
    [{ dst: '::1' }, false],
    [{ protocol: 'udp', dstPort: 53 }, true],
    [{ protocol: 'udp', srcPort: 53 }, false],
    [{ protocol: 'udp', port: 5353 }, true],
    [{ protocol: 'udp', port: 53 }, true],
    [{ protocol: 'udp', port: 54 }, false],
  ])('%j: %s', (m, want) => {
    expect(matchSelects(m)(pkt)).toBe(want);
  });
});
