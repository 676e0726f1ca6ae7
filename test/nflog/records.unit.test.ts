// NFLOG records in the cases this machine's kernel cannot produce in a test, or only by chance,
// as messages laid out as linux/netfilter/nfnetlink_log.h says the kernel sends them:
// - attributes: an 802.1Q tag (no 8021q module here), NFULA_CT_INFO (no
//   CONFIG_NETFILTER_NETLINK_GLUE_CT), an interface gone before its name is looked up; decoded
//   by the native decoder and decodePackets together, several records to a batch;
// - where losses are reported in a packet stream, for every order in which the socket can hand
//   over sequence numbers and overrun reports (test/nflog/backlog.test.ts makes real ones, in
//   the order a flood gives).
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';

import { PacketPresent, PacketWord } from '../../lib/core/layout.js';
import { addon, type OnBatch } from '../../lib/core/native.js';
import { decodePackets, Nflog } from '../../lib/nflog/handle.js';
import type { NflogPacket } from '../../lib/nflog/types.js';
import { type Attr, encodeMessage, plain } from '../support/arbitraries.js';
import { batchCounters } from '../support/batches.js';

// enum nfulnl_attr_type and enum nfulnl_vlan_attr
const NFULA_PACKET_HDR = 1;
const NFULA_MARK = 2;
const NFULA_IFINDEX_INDEV = 4;
const NFULA_IFINDEX_OUTDEV = 5;
const NFULA_HWADDR = 8;
const NFULA_PAYLOAD = 9;
const NFULA_PREFIX = 10;
const NFULA_SEQ = 12;
const NFULA_HWHEADER = 16;
const NFULA_CT_INFO = 19;
const NFULA_VLAN = 20;
const NFULA_L2HDR = 21;
const NFULA_VLAN_PROTO = 1;
const NFULA_VLAN_TCI = 2;
const NLA_F_NESTED = 0x8000;
/** NFNL_SUBSYS_ULOG << 8 | NFULNL_MSG_PACKET */
const MSG_PACKET = 0x400;
/**
 * The attributes whose bytes the native decoder appends whole, in its order (native/log/nflog.cc):
 * type, present bit, word. It appends NFULA_HWADDR's address after them; the messages here have none.
 */
const BYTE_FIELDS = [[NFULA_PAYLOAD, PacketPresent.PACKET_HAS_PAYLOAD, PacketWord.PACKET_PAYLOAD], [NFULA_HWHEADER,
  PacketPresent.PACKET_HAS_HWHEADER, PacketWord.PACKET_HWHEADER], [NFULA_L2HDR, PacketPresent.PACKET_HAS_L2HDR,
  PacketWord.PACKET_L2HDR]] as const;
/** An interface index no namespace here has: its name cannot be looked up. */
const NO_SUCH_IFINDEX = 0x7ffffff0;

const be16 = (n: number): Uint8Array => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n, 0);
  return new Uint8Array(b);
};
const be32 = (n: number): Uint8Array => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0, 0);
  return new Uint8Array(b);
};

/** struct nfulnl_msg_packet_hdr: hw_protocol, hook, pad. */
function packetHdr(hwProtocol: number, hook: number): Attr {
  return plain(NFULA_PACKET_HDR, new Uint8Array([...be16(hwProtocol), hook, 0]));
}

function vlan(proto: number, tci: number): Attr {
  return { ...plain(NFULA_VLAN, [plain(NFULA_VLAN_PROTO, be16(proto)), plain(NFULA_VLAN_TCI, be16(tci))]),
    flags: NLA_F_NESTED };
}

/** A message's attributes, and its nfgenmsg family when not IPv4. */
type Message = Attr[] | { family: number; attrs: Attr[] };

/**
 * The records of the messages as one batch, as the reader delivers several at once: the words,
 * the strings, and the bytes of each payload and link-layer header (appended in that order by the
 * native decoder, its offsets moved to where they are in the batch).
 */
function batchOf(messages: Message[]): { buffer: ArrayBuffer; strings: string; count: number; bytes: ArrayBuffer } {
  const words: number[] = [];
  const parts: Uint8Array[] = [];
  let at = 0;
  let strings = '';
  for (const m of messages) {
    const { family, attrs } = Array.isArray(m) ? { family: 2, attrs: m } : m;
    expect(attrs.some((a) => a.type === NFULA_HWADDR), 'a message of this helper has no NFULA_HWADDR').toBe(false);
    const bytes = encodeMessage({ type: MSG_PACKET, flags: 0, family, resId: 3, attrs, lenDelta: 0,
      trailer: new Uint8Array(0), cut: undefined, fit: false });
    const [buffer, text, count, malformed] = addon.decodeForTest('packet', bytes);
    expect([count, malformed]).toEqual([1, 0]);
    const w = new Uint32Array(buffer);
    for (const [type, bit, word] of BYTE_FIELDS) {
      const a = attrs.find((x) => x.type === type);
      if (!a || !(w[PacketWord.PACKET_PRESENT]! & bit)) continue;
      w[word] = at;
      parts.push(a.body as Uint8Array);
      at += (a.body as Uint8Array).length;
    }
    words.push(...w);
    strings += text;
  }
  const all = Buffer.concat(parts);
  return { buffer: Uint32Array.from(words).buffer, strings, count: messages.length,
    bytes: all.buffer.slice(all.byteOffset, all.byteOffset + all.length) };
}

function decodeAll(messages: Message[]): NflogPacket[] {
  return decodePackets(batchOf(messages));
}

const tagged = [packetHdr(0x0800, 1), vlan(0x8100, (5 << 13) | 100), plain(NFULA_CT_INFO, be32(2)),
  plain(NFULA_MARK, be32(0x42)), plain(NFULA_IFINDEX_INDEV, be32(NO_SUCH_IFINDEX))];
const outerTag = [packetHdr(0x0800, 1), vlan(0x88a8, 0x1fff), plain(NFULA_CT_INFO, be32(3))];
const untagged = [packetHdr(0x0800, 3), plain(NFULA_IFINDEX_OUTDEV, be32(1))];
const prefixed = [packetHdr(0x0800, 0), plain(NFULA_PREFIX, new Uint8Array(Buffer.from('drop: \0'))),
  plain(NFULA_IFINDEX_INDEV, be32(1)), plain(NFULA_IFINDEX_OUTDEV, be32(NO_SUCH_IFINDEX))];

describe('NFLOG attributes decoded', () => {
  test('an 802.1Q tag: EtherType, TCI, and the id and priority in it; ctinfo; an interface without a name', () => {
    const [p, q] = decodeAll([untagged, tagged]);
    expect(q).toMatchObject({ group: 3, family: 'ipv4', hook: 1, hookName: 'INPUT', mark: 0x42, ctinfo: 2,
      vlan: { protocol: 0x8100, tci: 0xa064, id: 100, priority: 5 }, prefix: undefined });
    // An index whose name nobody knows: the index alone.
    expect(q!.indev).toEqual({ index: NO_SUCH_IFINDEX });
    expect(q!.outdev).toBeUndefined();
    // The packet before it in the batch has none of these.
    expect(p).toMatchObject({ family: 'ipv4', hook: 3, hookName: 'OUTPUT', hwProtocol: 0x0800 });
    expect(p!.vlan).toBeUndefined();
    expect(p!.ctinfo).toBeUndefined();
    expect(p!.mark).toBeUndefined();
  });

  test('an outer 802.1ad tag with every id bit and the drop eligible bit set', () => {
    const [a, b, c] = decodeAll([tagged, outerTag, tagged]);
    expect(b!.vlan).toEqual({ protocol: 0x88a8, tci: 0x1fff, id: 0xfff, priority: 0 });
    expect(b!.ctinfo).toBe(3);
    // Each record reads its own words.
    expect(a!.vlan).toEqual(c!.vlan);
    expect(a!.vlan?.id).toBe(100);
    expect([a!.ctinfo, c!.ctinfo]).toEqual([2, 2]);
  });

  test('the link-layer header comes off the front of the payload at netdev egress only', () => {
    const l2 = new Uint8Array(Buffer.from('0200000000020200000000010800', 'hex'));
    const ip = new Uint8Array(Buffer.from('4500001c', 'hex'));
    const framed = new Uint8Array([...l2, ...ip]);
    const at = (family: number, hook: number): Message => ({ family,
      attrs: [packetHdr(0x0800, hook), plain(NFULA_PAYLOAD, framed), plain(NFULA_L2HDR, l2)] });
    // netdev egress; netdev ingress, bridge prerouting and IPv4 input (whose payloads never
    // start with the link-layer header: these are left as the kernel sent them).
    const [egress, ingress, bridge, input] = decodeAll([at(5, 1), at(5, 0), at(7, 0), at(2, 1)]);
    expect([egress!.hookName, egress!.payload?.toString('hex')]).toEqual(['EGRESS', '4500001c']);
    for (const p of [ingress, bridge, input]) {
      expect([p!.payload?.toString('hex'), p!.l2Header?.toString('hex')], `${p!.family} ${p!.hookName}`).toEqual(
        [Buffer.from(framed).toString('hex'), Buffer.from(l2).toString('hex')],
      );
    }
    // Cut inside the link-layer header: nothing of the network header (a payload that is no
    // prefix of the header is left whole).
    const cut = (payload: Uint8Array): Message => ({ family: 5,
      attrs: [packetHdr(0x0800, 1), plain(NFULA_PAYLOAD, payload), plain(NFULA_L2HDR, l2)] });
    const [inside, other] = decodeAll([cut(l2.subarray(0, 10)), cut(ip)]);
    expect([inside!.payload?.length, other!.payload?.toString('hex')]).toEqual([0, '4500001c']);
    expect([ingress!.hookName, bridge!.family, input!.hookName]).toEqual(['INGRESS', 'bridge', 'INPUT']);
  });

  test('interface names follow the prefix; no prefix takes nothing of theirs', () => {
    const [p, q, r] = decodeAll([untagged, prefixed, untagged]);
    expect(p!.prefix).toBeUndefined();
    expect(p!.outdev).toEqual({ index: 1, name: 'lo' });
    expect(q!.prefix).toBe('drop: ');
    expect(q!.indev).toEqual({ index: 1, name: 'lo' });
    expect(q!.outdev).toEqual({ index: NO_SUCH_IFINDEX });
    expect(r!.prefix).toBeUndefined();
    expect(r!.outdev).toEqual({ index: 1, name: 'lo' });
  });
});

// ---- where losses are reported -----------------------------------------------------------------

/** What the socket hands over: packets with these sequence numbers, or an overrun report. */
type Delivery = { seq: number[] } | { overrun: true; rcvbuf: number };

let script: Delivery[] = [];

beforeAll(() => {
  vi.spyOn(addon, 'openNflog').mockImplementation(async () => ({
    subscribe: (_config: unknown, onBatch: OnBatch) => {
      const deliveries = script;
      setImmediate(() => {
        for (const d of deliveries) {
          if ('overrun' in d) {
            onBatch(new ArrayBuffer(0), '', undefined, batchCounters(0, 1, false, 0, d.rcvbuf), undefined);
          } else {
            const b = batchOf(d.seq.map((n) => [packetHdr(0x0800, 0), plain(NFULA_SEQ, be32(n))]));
            onBatch(b.buffer, b.strings, undefined, batchCounters(b.count, 0, false), undefined);
          }
        }
        onBatch(new ArrayBuffer(0), '', undefined, batchCounters(0, 0, true), undefined);
      });
      return { release() {}, stats: () => new Float64Array(32), close() {} };
    },
    close() {},
  }));
});
afterAll(() => {
  vi.restoreAllMocks();
});

/** The items a stream yields for these deliveries, packets as their sequence numbers. */
async function itemsFor(deliveries: Delivery[], sequence: boolean) {
  script = deliveries;
  await using nf = await Nflog.open();
  const s = nf.subscribe({ group: 3, sequence });
  const items: unknown[] = [];
  for await (const e of s) items.push(e.type === 'packet' ? e.seq : { ...e });
  return { items, gaps: s.gaps, overruns: s.overruns, lost: s.stats.lost };
}

describe('NFLOG losses, in order', () => {
  test('a jump nobody reported is a gap; the report after it comes at once; the next waits for its jump', async () => {
    const r = await itemsFor([{ seq: [0, 1] }, { seq: [5, 6] }, { overrun: true, rcvbuf: 8192 }, { seq: [7] }, {
      overrun: true,
      rcvbuf: 16384,
    }, { seq: [10] }], true);
    expect(r.items).toEqual([
      0,
      1,
      { type: 'gap', missing: 3, after: 1, before: 5 },
      5,
      6,
      // the kernel's report of the loss already shown as the gap: its count is in the gap
      { type: 'overrun', overruns: 1, bufferSize: 8192, lost: undefined },
      7,
      // a report before its jump: it comes where the jump is, with the number lost
      { type: 'overrun', overruns: 2, bufferSize: 16384, lost: 2 },
      10,
    ]);
    expect([r.gaps, r.overruns, r.lost]).toEqual([5, 2, 5]);
  });

  test('several reports before the next packet are one item: every overrun counted, the last buffer size said', async () => {
    const r = await itemsFor([{ seq: [1] }, { overrun: true, rcvbuf: 4096 }, { overrun: true, rcvbuf: 0 }, { seq: [4] },
      { overrun: true, rcvbuf: 4096 }, { overrun: true, rcvbuf: 0 }, { overrun: true, rcvbuf: 65536 }, { seq: [5, 9] }],
      true);
    expect(r.items).toEqual([
      1,
      // a report without the buffer's size keeps the size said before
      { type: 'overrun', overruns: 2, bufferSize: 4096, lost: 2 },
      4,
      // the jump after 5, not the packet 5 that came first
      5,
      { type: 'overrun', overruns: 5, bufferSize: 65536, lost: 3 },
      9,
    ]);
    expect([r.gaps, r.overruns, r.lost]).toEqual([5, 5, 5]);
  });

  test('a report no packet followed comes at the end, its count unknown', async () => {
    const r = await itemsFor([{ seq: [1, 2] }, { overrun: true, rcvbuf: 4096 }], true);
    expect(r.items).toEqual([1, 2, { type: 'overrun', overruns: 1, bufferSize: 4096, lost: undefined }]);
    expect([r.gaps, r.overruns, r.lost]).toEqual([0, 1, 0]);
  });

  test('without sequence numbers a report comes at once, where the socket gave it; no gaps, no count', async () => {
    const r = await itemsFor([{ seq: [1] }, { overrun: true, rcvbuf: 4096 }, { seq: [7] }, { overrun: true, rcvbuf: 0 },
      { seq: [9] }], false);
    expect(r.items).toEqual([
      1,
      { type: 'overrun', overruns: 1, bufferSize: 4096, lost: undefined },
      7,
      { type: 'overrun', overruns: 2, bufferSize: 0, lost: undefined },
      9,
    ]);
    expect([r.gaps, r.overruns, r.lost]).toEqual([0, 2, undefined]);
  });
});
