/**
 * Status bits and their predicates; the flow record decoder (lib/conntrack/flow.ts) on hand-built
 * records laid out as native/ct/flow.h documents; JSON output of flows (bigints as decimal
 * strings, status as names). No kernel access.
 */
import { describe, expect, test } from 'vitest';

import { decodeFlows, FLOW_WORDS, recordDumpInterrupted, recordMsgType } from '../../lib/conntrack/flow.js';
import type { Flow, StatusName } from '../../lib/conntrack/types.js';
import { FlowPresent, FlowWord, TuplePresent } from '../../lib/core/layout.js';
import { jsonSafe, Status, STATUS_NAMES } from '../../lib/index.js';

// ---------------------------------------------------------------------------------------------
// Status

/** IPS_*_BIT from linux/netfilter/nf_conntrack_common.h, with the predicate for each. */
const BITS: [StatusName, number, keyof Status][] = [
  ['EXPECTED', 0, 'expected'],
  ['SEEN_REPLY', 1, 'seenReply'],
  ['ASSURED', 2, 'assured'],
  ['CONFIRMED', 3, 'confirmed'],
  ['SRC_NAT', 4, 'srcNat'],
  ['DST_NAT', 5, 'dstNat'],
  ['SEQ_ADJUST', 6, 'seqAdjust'],
  ['SRC_NAT_DONE', 7, 'srcNatDone'],
  ['DST_NAT_DONE', 8, 'dstNatDone'],
  ['DYING', 9, 'dying'],
  ['FIXED_TIMEOUT', 10, 'fixedTimeout'],
  ['TEMPLATE', 11, 'template'],
  ['UNTRACKED', 12, 'untracked'],
  ['HELPER', 13, 'helper'],
  ['OFFLOAD', 14, 'offload'],
  ['HW_OFFLOAD', 15, 'hwOffload'],
];

const predicatesSet = (s: Status): string[] => BITS.filter(([, , p]) => s[p] === true).map(([, , p]) => p);

describe('Status', () => {
  test('STATUS_NAMES is in kernel bit order', () => {
    expect(STATUS_NAMES).toEqual(BITS.map(([n]) => n));
  });

  test.each(BITS)('bit of %s (%i): one predicate, one name', (name, bit, predicate) => {
    const s = new Status(1 << bit);
    expect(s.bits).toBe(1 << bit);
    expect(s.names()).toEqual([name]);
    expect(s.toJSON()).toEqual([name]);
    expect(predicatesSet(s)).toEqual([predicate]);
    for (const [other] of BITS) expect(s.has(other), other).toBe(other === name);
  });

  test('no bits', () => {
    const s = new Status(0);
    expect(s.names()).toEqual([]);
    expect(predicatesSet(s)).toEqual([]);
    expect(JSON.stringify(s)).toBe('[]');
  });

  test('an established connection: SEEN_REPLY | ASSURED | CONFIRMED', () => {
    const s = new Status(0x2 | 0x4 | 0x8);
    expect(s.names()).toEqual(['SEEN_REPLY', 'ASSURED', 'CONFIRMED']);
    expect(predicatesSet(s)).toEqual(['seenReply', 'assured', 'confirmed']);
    expect(s.has('ASSURED')).toBe(true);
    expect(s.has('EXPECTED')).toBe(false);
    expect(s.has('DST_NAT')).toBe(false);
  });

  test('a DNAT connection: CONFIRMED | DST_NAT | DST_NAT_DONE | SEEN_REPLY', () => {
    const s = new Status(0x8 | 0x20 | 0x100 | 0x2);
    expect(s.names()).toEqual(['SEEN_REPLY', 'CONFIRMED', 'DST_NAT', 'DST_NAT_DONE']);
    expect(predicatesSet(s)).toEqual(['seenReply', 'confirmed', 'dstNat', 'dstNatDone']);
  });

  test('all sixteen named bits', () => {
    const s = new Status(0xffff);
    expect(s.names()).toEqual(STATUS_NAMES);
    expect(predicatesSet(s)).toEqual(BITS.map(([, , p]) => p));
  });

  test('bits without a name are BIT_n, including bit 31, and set no predicate', () => {
    const s = new Status((0x80010000 | 0x4) >>> 0);
    expect(s.names()).toEqual(['ASSURED', 'BIT_16', 'BIT_31']);
    expect(predicatesSet(s)).toEqual(['assured']);
    expect(JSON.stringify({ status: s })).toBe('{"status":["ASSURED","BIT_16","BIT_31"]}');
  });
});

// ---------------------------------------------------------------------------------------------
// Flow records (native/layout/layouts.h)

// The layout as native/layout/layouts.h defines it (lib/core/layout.ts, generated).
const {
  FLOW_HAS_COUNTERS_ORIG,
  FLOW_HAS_COUNTERS_REPLY,
  FLOW_HAS_DCCP,
  FLOW_HAS_HELPER,
  FLOW_HAS_ID,
  FLOW_HAS_LABELS,
  FLOW_HAS_MARK,
  FLOW_HAS_MASTER,
  FLOW_HAS_ORIG,
  FLOW_HAS_REPLY,
  FLOW_HAS_SECCTX,
  FLOW_HAS_SECMARK,
  FLOW_HAS_SEQADJ_ORIG,
  FLOW_HAS_SEQADJ_REPLY,
  FLOW_HAS_STATUS,
  FLOW_HAS_SYNPROXY,
  FLOW_HAS_TCP,
  FLOW_HAS_TIMEOUT,
  FLOW_HAS_TS_EVENT,
  FLOW_HAS_TS_START,
  FLOW_HAS_TS_STOP,
  FLOW_HAS_USE,
  FLOW_HAS_ZONE,
} = FlowPresent;
const { TUPLE_HAS_ADDRS, TUPLE_HAS_ICMP, TUPLE_HAS_PORTS, TUPLE_HAS_PROTO, TUPLE_HAS_ZONE } = TuplePresent;
const {
  FLOW_COUNTERS,
  FLOW_ID,
  FLOW_KIND,
  FLOW_LABELS,
  FLOW_MARK,
  FLOW_MASTER,
  FLOW_ORIG,
  FLOW_PRESENT,
  FLOW_PROTO,
  FLOW_REPLY,
  FLOW_SECMARK,
  FLOW_SEQADJ_ORIG,
  FLOW_SEQADJ_REPLY,
  FLOW_STATUS,
  FLOW_SYNPROXY,
  FLOW_TIMEOUT,
  FLOW_TS_EVENT,
  FLOW_TS_START,
  FLOW_TS_STOP,
  FLOW_USE,
  FLOW_ZONE,
} = FlowWord;

interface TupleSpec {
  proto: number;
  src: string;
  dst: string;
  ports?: [number, number];
  icmp?: [number, number, number];
  zone?: number;
}

interface RecordSpec {
  family: 2 | 10;
  proto: number;
  msgType?: number;
  dumpInterrupted?: boolean;
  orig: TupleSpec;
  reply: TupleSpec;
  master?: TupleSpec;
  words?: Record<number, number>;
  present: number;
  helper?: string;
  secctx?: string;
}

function put64(w: Uint32Array, at: number, v: bigint): void {
  w[at] = Number(v & 0xffffffffn);
  w[at + 1] = Number(v >> 32n);
}

/** The words of a record that are not 0, by index (as a fixture lists them). */
function nonZeroWords(w: Uint32Array): Record<number, number> {
  const words: Record<number, number> = {};
  w.forEach((v, i) => {
    if (v !== 0) words[i] = v;
  });
  return words;
}

/** Builds the batch the native reader would hand over: the words and the string list. */
function batch(records: RecordSpec[]): { buffer: ArrayBuffer; strings: string; count: number } {
  const all = new Uint32Array(FLOW_WORDS * records.length);
  const strings: string[] = [];
  records.forEach((r, i) => {
    const w = all.subarray(i * FLOW_WORDS, (i + 1) * FLOW_WORDS);
    let present = r.present | FLOW_HAS_ORIG | FLOW_HAS_REPLY;
    w[FLOW_KIND] = r.family | (r.proto << 8) | ((r.msgType ?? 0) << 16) | ((r.dumpInterrupted ? 1 : 0) << 24);
    const tuple = (at: number, t: TupleSpec): void => {
      w[at] = t.proto | TUPLE_HAS_PROTO | TUPLE_HAS_ADDRS;
      if (t.ports) {
        w[at] |= TUPLE_HAS_PORTS;
        w[at + 1] = (t.ports[0] | (t.ports[1] << 16)) >>> 0;
      }
      if (t.icmp) {
        w[at] |= TUPLE_HAS_ICMP;
        w[at + 2] = (t.icmp[0] | (t.icmp[1] << 8) | (t.icmp[2] << 16)) >>> 0;
      }
      if (t.zone !== undefined) {
        w[at] |= TUPLE_HAS_ZONE;
        w[at + 3] = t.zone;
      }
      strings.push(t.src, t.dst);
    };
    tuple(FLOW_ORIG, r.orig);
    tuple(FLOW_REPLY, r.reply);
    if (r.master) {
      present |= FLOW_HAS_MASTER;
      tuple(FLOW_MASTER, r.master);
    }
    if (r.helper !== undefined) {
      present |= FLOW_HAS_HELPER;
      strings.push(r.helper);
    }
    if (r.secctx !== undefined) {
      present |= FLOW_HAS_SECCTX;
      strings.push(r.secctx);
    }
    for (const [k, v] of Object.entries(r.words ?? {})) w[Number(k)] = v;
    w[FLOW_PRESENT] = present;
  });
  return { buffer: all.buffer, strings: strings.map((s) => `${s}\0`).join(''), count: records.length };
}

// Record 1: an established IPv4 TCP connection with almost everything present.
const TS_START = 1_700_000_000_123_456_789n;
const TS_STOP = 1_700_000_060_987_654_321n;
const TS_EVENT = 1_700_000_061_000_000_001n;
const tcpRecord = (): RecordSpec => {
  const w = new Uint32Array(FLOW_WORDS);
  w[FLOW_ID] = 0xdeadbeef;
  w[FLOW_STATUS] = 0x2 | 0x4 | 0x8;
  w[FLOW_TIMEOUT] = 431_999;
  w[FLOW_MARK] = 0x80000001;
  w[FLOW_SECMARK] = 42;
  w[FLOW_USE] = 2;
  w[FLOW_ZONE] = 3;
  // labels 0, 31, 32, 127: bit i is bit (i % 32) of word (i / 32)
  w[FLOW_LABELS] = 0x80000001;
  w[FLOW_LABELS + 1] = 0x00000001;
  w[FLOW_LABELS + 2] = 0;
  w[FLOW_LABELS + 3] = 0x80000000;
  put64(w, FLOW_COUNTERS + 0, 2n ** 32n + 5n); // original packets
  put64(w, FLOW_COUNTERS + 2, 0x0012_3456_89ab_cdefn); // original bytes
  put64(w, FLOW_COUNTERS + 4, 0xffff_ffffn); // reply packets
  put64(w, FLOW_COUNTERS + 6, 0x1f_ffffn << 32n); // reply bytes
  put64(w, FLOW_TS_START, TS_START);
  put64(w, FLOW_TS_STOP, TS_STOP);
  put64(w, FLOW_TS_EVENT, TS_EVENT);
  w[FLOW_PROTO] = 3; // ESTABLISHED
  w[FLOW_PROTO + 1] = 7 | (9 << 8); // wscale original 7, reply 9
  w[FLOW_PROTO + 2] = 0x23 | (0x2b << 8); // flags original | mask << 8
  w[FLOW_PROTO + 3] = 0x33 | (0x3f << 8);
  w.set([1000, 2, 3], FLOW_SEQADJ_ORIG);
  w.set([4000, 5, 6], FLOW_SEQADJ_REPLY);
  w.set([0xfffffff0, 8, 9], FLOW_SYNPROXY);
  const words = nonZeroWords(w);
  return {
    family: 2,
    proto: 6,
    orig: { proto: 6, src: '10.0.0.1', dst: '10.0.0.2', ports: [40000, 80], zone: 7 },
    reply: { proto: 6, src: '10.0.0.2', dst: '10.0.0.1', ports: [80, 40000] },
    words,
    present: FLOW_HAS_ID | FLOW_HAS_STATUS | FLOW_HAS_TIMEOUT | FLOW_HAS_MARK | FLOW_HAS_SECMARK | FLOW_HAS_USE |
      FLOW_HAS_ZONE | FLOW_HAS_LABELS | FLOW_HAS_COUNTERS_ORIG | FLOW_HAS_COUNTERS_REPLY |
      FLOW_HAS_TS_START | FLOW_HAS_TS_STOP | FLOW_HAS_TS_EVENT | FLOW_HAS_TCP | FLOW_HAS_SEQADJ_ORIG |
      FLOW_HAS_SEQADJ_REPLY | FLOW_HAS_SYNPROXY,
    helper: 'ftp',
  };
};

// Record 2: an ICMP echo, few fields, an event (DELETE) from an interrupted dump.
const icmpRecord = (): RecordSpec => ({
  family: 2,
  proto: 1,
  msgType: 2,
  dumpInterrupted: true,
  orig: { proto: 1, src: '192.0.2.1', dst: '198.51.100.7', icmp: [8, 5, 0xbeef] },
  reply: { proto: 1, src: '198.51.100.7', dst: '192.0.2.1', icmp: [0, 5, 0xbeef] },
  words: { [FLOW_STATUS]: 0x8, [FLOW_TIMEOUT]: 29 },
  present: FLOW_HAS_STATUS | FLOW_HAS_TIMEOUT,
});

// Record 3: IPv6 UDP with DNAT (reply source differs from the original destination), a
// master tuple of another protocol and a security context but no helper.
const dnatRecord = (): RecordSpec => ({
  family: 10,
  proto: 17,
  orig: { proto: 17, src: '2001:db8::1', dst: '2001:db8::100', ports: [5353, 53] },
  reply: { proto: 17, src: '2001:db8::53', dst: '2001:db8::1', ports: [5300, 5353] },
  master: { proto: 6, src: '2001:db8::1', dst: '2001:db8::100', ports: [1021, 21] },
  words: { [FLOW_STATUS]: 0x8 | 0x20 | 0x100, [FLOW_MARK]: 0 },
  present: FLOW_HAS_STATUS | FLOW_HAS_MARK,
  secctx: 'system_u:object_r:unlabeled_t:s0',
});

// Record 4: IPv4 TCP masquerade (SNAT): the reply goes back to the rewritten source.
const snatRecord = (): RecordSpec => ({
  family: 2,
  proto: 6,
  orig: { proto: 6, src: '192.168.1.10', dst: '93.184.216.34', ports: [5555, 443] },
  reply: { proto: 6, src: '93.184.216.34', dst: '203.0.113.5', ports: [443, 61000] },
  words: { [FLOW_STATUS]: 0x2 | 0x4 | 0x8 | 0x10 | 0x80 },
  present: FLOW_HAS_STATUS,
});

// Record 5: GRE with a NAT bit set but tuples that are exact mirrors: no rewrite to report.
const greRecord = (): RecordSpec => ({
  family: 2,
  proto: 47,
  orig: { proto: 47, src: '10.1.1.1', dst: '10.2.2.2', ports: [0x0001, 0xabcd] },
  reply: { proto: 47, src: '10.2.2.2', dst: '10.1.1.1', ports: [0xabcd, 0x0001] },
  words: { [FLOW_STATUS]: 0x8 | 0x20 },
  present: FLOW_HAS_STATUS,
});

// Record 6: IPv6 DCCP with its protoinfo (a 64-bit handshake sequence) and start time only.
const dccpRecord = (): RecordSpec => {
  const w = new Uint32Array(FLOW_WORDS);
  w[FLOW_STATUS] = 0x8;
  w[FLOW_PROTO] = 4; // OPEN
  w[FLOW_PROTO + 1] = 1;
  put64(w, FLOW_PROTO + 2, 2n ** 40n + 3n);
  put64(w, FLOW_TS_START, TS_START);
  put64(w, FLOW_TS_STOP, 999n); // not present: must be ignored
  const words = nonZeroWords(w);
  return {
    family: 10,
    proto: 33,
    orig: { proto: 33, src: '::1', dst: '::1', ports: [1, 2] },
    reply: { proto: 33, src: '::1', dst: '::1', ports: [2, 1] },
    words,
    present: FLOW_HAS_STATUS | FLOW_HAS_DCCP | FLOW_HAS_TS_START,
  };
};

function decodeAll(): Flow[] {
  const b = batch([tcpRecord(), icmpRecord(), dnatRecord(), snatRecord(), greRecord(), dccpRecord()]);
  return decodeFlows(b.buffer, b.strings, b.count);
}

/** The fields a flow has, without those left undefined. */
function defined(f: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(f).filter(([, v]) => v !== undefined));
}

describe('decodeFlows', () => {
  test('decodes every record of the batch, strings consumed in order', () => {
    const flows = decodeAll();
    expect(flows).toHaveLength(6);
    expect(flows.map((f) => f.original.src)).toEqual(['10.0.0.1', '192.0.2.1', '2001:db8::1', '192.168.1.10',
      '10.1.1.1', '::1']);
    expect(flows.map((f) => f.reply.dst)).toEqual(['10.0.0.1', '192.0.2.1', '2001:db8::1', '203.0.113.5', '10.1.1.1',
      '::1']);
  });

  test('every flow has the same shape (one class, same keys in the same order)', () => {
    const flows = decodeAll();
    const keys = Object.keys(flows[0]!);
    for (const f of flows) expect(Object.keys(f)).toEqual(keys);
    expect(new Set(flows.map((f) => Object.getPrototypeOf(f))).size).toBe(1);
  });

  test('TCP: tuples, ids, counters above 2^32, labels, timestamps, protoinfo', () => {
    const f = decodeAll()[0]!;
    expect(f.status).toBeInstanceOf(Status);
    expect(f.status.bits).toBe(0xe);
    expect(f.timestamp?.start).toBe(TS_START);
    expect(f.timestamp?.stop).toBe(TS_STOP);
    expect(f.eventTime).toBe(TS_EVENT);
    expect(typeof f.timestamp?.start).toBe('bigint');
    expect(defined(f)).toEqual({
      family: 'ipv4',
      protocol: 'tcp',
      protonum: 6,
      original: { src: '10.0.0.1', dst: '10.0.0.2', protonum: 6, srcPort: 40000, dstPort: 80, zone: 7 },
      reply: { src: '10.0.0.2', dst: '10.0.0.1', protonum: 6, srcPort: 80, dstPort: 40000 },
      id: 0xdeadbeef,
      status: f.status,
      timeout: 431_999,
      mark: 0x80000001,
      secmark: 42,
      use: 2,
      zone: 3,
      labels: [0, 31, 32, 127],
      counters: {
        original: { packets: 4_294_967_301, bytes: 0x0012_3456_89ab_cdef },
        reply: { packets: 4_294_967_295, bytes: 0x1f_ffff * 2 ** 32 },
      },
      timestamp: { start: TS_START, stop: TS_STOP },
      eventTime: TS_EVENT,
      helper: 'ftp',
      tcp: {
        state: 'ESTABLISHED',
        stateNum: 3,
        wscaleOriginal: 7,
        wscaleReply: 9,
        flagsOriginal: 0x23,
        maskOriginal: 0x2b,
        flagsReply: 0x33,
        maskReply: 0x3f,
      },
      seqAdjOriginal: { correctionPos: 1000, offsetBefore: 2, offsetAfter: 3 },
      seqAdjReply: { correctionPos: 4000, offsetBefore: 5, offsetAfter: 6 },
      synproxy: { isn: 0xfffffff0, its: 8, tsoff: 9 },
    });
    expect(f.reply.zone).toBeUndefined();
    expect(f.nat).toBeUndefined();
    expect(f.master).toBeUndefined();
    expect(f.secctx).toBeUndefined();
  });

  test('ICMP: type/code/id, absent fields stay undefined, message kind and dump flag', () => {
    const flows = decodeAll();
    const f = flows[1]!;
    expect(defined(f)).toEqual({
      family: 'ipv4',
      protocol: 'icmp',
      protonum: 1,
      original: { src: '192.0.2.1', dst: '198.51.100.7', protonum: 1, type: 8, code: 5, id: 0xbeef },
      reply: { src: '198.51.100.7', dst: '192.0.2.1', protonum: 1, type: 0, code: 5, id: 0xbeef },
      status: f.status,
      timeout: 29,
    });
    expect(f.status.names()).toEqual(['CONFIRMED']);
    const b = batch([tcpRecord(), icmpRecord()]);
    const words = new Uint32Array(b.buffer);
    expect(recordMsgType(words, 0)).toBe(0);
    expect(recordDumpInterrupted(words, 0)).toBe(false);
    expect(recordMsgType(words, 1)).toBe(2);
    expect(recordDumpInterrupted(words, 1)).toBe(true);
  });

  test('DNAT over IPv6: nat.dst is the reply source, master tuple and secctx', () => {
    const f = decodeAll()[2]!;
    expect(defined(f)).toEqual({
      family: 'ipv6',
      protocol: 'udp',
      protonum: 17,
      original: { src: '2001:db8::1', dst: '2001:db8::100', protonum: 17, srcPort: 5353, dstPort: 53 },
      reply: { src: '2001:db8::53', dst: '2001:db8::1', protonum: 17, srcPort: 5300, dstPort: 5353 },
      master: { src: '2001:db8::1', dst: '2001:db8::100', protonum: 6, srcPort: 1021, dstPort: 21 },
      status: f.status,
      mark: 0,
      secctx: 'system_u:object_r:unlabeled_t:s0',
      nat: { dst: { address: '2001:db8::53', port: 5300 } },
    });
    expect(f.nat).not.toHaveProperty('src');
    expect(f.status.dstNat).toBe(true);
    expect(f.helper).toBeUndefined();
  });

  test('SNAT: nat.src is the reply destination', () => {
    const f = decodeAll()[3]!;
    expect(f.nat).toEqual({ src: { address: '203.0.113.5', port: 61000 } });
    expect(f.nat).not.toHaveProperty('dst');
    expect(f.status.names()).toEqual(['SEEN_REPLY', 'ASSURED', 'CONFIRMED', 'SRC_NAT', 'SRC_NAT_DONE']);
  });

  test('GRE: keys, and no nat when the tuples mirror each other', () => {
    const f = decodeAll()[4]!;
    expect(f.protocol).toBe('gre');
    expect(defined(f.original)).toEqual({ src: '10.1.1.1', dst: '10.2.2.2', protonum: 47, srcKey: 1, dstKey: 0xabcd });
    expect(defined(f.reply)).toEqual({ src: '10.2.2.2', dst: '10.1.1.1', protonum: 47, srcKey: 0xabcd, dstKey: 1 });
    expect(f.nat).toBeUndefined();
  });

  test('DCCP: protoinfo with a 64-bit handshake sequence; a stop time not flagged present is ignored', () => {
    const f = decodeAll()[5]!;
    expect(f.protocol).toBe('dccp');
    if (f.protocol !== 'dccp') return;
    expect(f.family).toBe('ipv6');
    expect(f.dccp).toEqual({ state: 'OPEN', stateNum: 4, role: 1, handshakeSeq: 2n ** 40n + 3n });
    expect(f.timestamp?.start).toBe(TS_START);
    expect(f.timestamp?.stop).toBeUndefined();
    expect(defined(f)).not.toHaveProperty('tcp');
    expect(f.counters).toBeUndefined();
    expect(f.labels).toBeUndefined();
  });
});

describe('flows as JSON', () => {
  test('JSON.stringify of a flow with bigint timestamps: decimal strings, status as names', () => {
    const f = decodeAll()[0]!;
    let text = '';
    expect(() => {
      text = JSON.stringify(f);
    }).not.toThrow();
    const parsed = JSON.parse(text) as Record<string, unknown>;
    expect(parsed.timestamp).toEqual({ start: '1700000000123456789', stop: '1700000060987654321' });
    expect(parsed.eventTime).toBe('1700000061000000001');
    expect(parsed.status).toEqual(['SEEN_REPLY', 'ASSURED', 'CONFIRMED']);
    expect(parsed.labels).toEqual([0, 31, 32, 127]);
    expect(parsed.counters).toEqual({
      original: { packets: 4_294_967_301, bytes: 0x0012_3456_89ab_cdef },
      reply: { packets: 4_294_967_295, bytes: 0x1f_ffff * 2 ** 32 },
    });
    // Fields left undefined are left out, not written as null.
    expect(parsed).not.toHaveProperty('master');
    expect(parsed).not.toHaveProperty('nat');
    expect(text).not.toContain('null');
    expect(parsed).toEqual(jsonSafe(f));
  });

  test('nested bigints and a whole batch serialise', () => {
    const flows = decodeAll();
    const parsed = JSON.parse(JSON.stringify(flows)) as { dccp: { handshakeSeq: unknown }; timestamp: unknown;
      nat: unknown; status: unknown }[];
    expect(parsed).toHaveLength(6);
    expect(parsed[5]!.dccp.handshakeSeq).toBe('1099511627779');
    expect(parsed[5]!.timestamp).toEqual({ start: '1700000000123456789' });
    expect(parsed[2]!.nat).toEqual({ dst: { address: '2001:db8::53', port: 5300 } });
    expect(parsed[1]!.status).toEqual(['CONFIRMED']);
  });

  test('jsonSafe of plain values', () => {
    expect(jsonSafe(2n ** 64n)).toBe('18446744073709551616');
    expect(jsonSafe({ a: 1n, b: undefined, c: [new Status(0x8), -5n], d: null })).toEqual({ a: '1',
      c: [['CONFIRMED'], '-5'], d: null });
    expect(() => JSON.stringify(jsonSafe({ t: 1n }))).not.toThrow();
  });
});
