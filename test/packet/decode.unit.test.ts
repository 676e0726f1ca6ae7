/**
 * decodePacket (lib/packet/decode.ts): hand-built packets with known field values, RFC 5952
 * text checked against Node's own formatter, the packets of the LOG fixtures checked against
 * what the kernel wrote about them (test/fixtures/log, made by capture.mjs), and a fuzz loop
 * (every prefix of every fixture, mutated fixtures, random buffers) that must never throw.
 * No kernel access.
 */
import { readFileSync } from 'node:fs';
import { SocketAddress } from 'node:net';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';

import { parseLogLine } from '../../lib/nflog/logline-parse.js';
import { decodePacket } from '../../lib/packet/decode.js';
import { formatIpv6, formatIpv6Full } from '../../lib/packet/headers.js';
import type { DecodedPacket } from '../../lib/packet/types.js';
import { prng } from '../support/prng.js';

// ---- helpers ---------------------------------------------------------------------------------

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

function ipv4(proto: number, payload: Buffer,
  o: { id?: number; frag?: number; tos?: number; ttl?: number; opts?: Buffer; total?: number } = {}): Buffer
{
  const opts = o.opts ?? Buffer.alloc(0);
  const h = Buffer.alloc(20);
  h[0] = 0x40 | (5 + opts.length / 4);
  h[1] = o.tos ?? 0;
  h.writeUInt16BE(o.total ?? 20 + opts.length + payload.length, 2);
  h.writeUInt16BE(o.id ?? 0x1234, 4);
  h.writeUInt16BE(o.frag ?? 0, 6);
  h[8] = o.ttl ?? 64;
  h[9] = proto;
  h.writeUInt16BE(0xbeef, 10);
  Buffer.from([192, 0, 2, 1]).copy(h, 12);
  Buffer.from([198, 51, 100, 7]).copy(h, 16);
  return Buffer.concat([h, opts, payload]);
}

const SRC6 = hex('20010db8000000000000000000000001');
const DST6 = hex('20010db8000000010000000000000002');

function ipv6(next: number, payload: Buffer,
  o: { tc?: number; flow?: number; hlim?: number; plen?: number } = {}): Buffer
{
  const h = Buffer.alloc(40);
  h.writeUInt32BE(((6 << 28) | ((o.tc ?? 0) << 20) | (o.flow ?? 0)) >>> 0, 0);
  h.writeUInt16BE(o.plen ?? payload.length, 4);
  h[6] = next;
  h[7] = o.hlim ?? 64;
  SRC6.copy(h, 8);
  DST6.copy(h, 24);
  return Buffer.concat([h, payload]);
}

function tcp(
  o: { sport?: number; dport?: number; seq?: number; ack?: number; flags?: number; doff?: number; res?: number;
    win?: number; urg?: number; opts?: Buffer } = {},
): Buffer {
  const opts = o.opts ?? Buffer.alloc(0);
  const t = Buffer.alloc(20);
  t.writeUInt16BE(o.sport ?? 40000, 0);
  t.writeUInt16BE(o.dport ?? 443, 2);
  t.writeUInt32BE(o.seq ?? 1000, 4);
  t.writeUInt32BE(o.ack ?? 0, 8);
  t.writeUInt16BE(((o.doff ?? 5 + opts.length / 4) << 12) | ((o.res ?? 0) << 9) | (o.flags ?? 0x002), 12);
  t.writeUInt16BE(o.win ?? 64240, 14);
  t.writeUInt16BE(0x1111, 16);
  t.writeUInt16BE(o.urg ?? 0, 18);
  return Buffer.concat([t, opts]);
}

function udp(sport: number, dport: number, data: Buffer): Buffer {
  const u = Buffer.alloc(8);
  u.writeUInt16BE(sport, 0);
  u.writeUInt16BE(dport, 2);
  u.writeUInt16BE(8 + data.length, 4);
  u.writeUInt16BE(0x2222, 6);
  return Buffer.concat([u, data]);
}

/** An options-style IPv6 extension header (hop-by-hop, destination) of 8 bytes: PadN inside. */
function ext8(next: number): Buffer {
  return Buffer.from([next, 0, 1, 4, 0, 0, 0, 0]);
}

// ---- arguments -------------------------------------------------------------------------------

describe('decodePacket: arguments', () => {
  test.each([[undefined], [null], ['4500'], [[0x45]], [new ArrayBuffer(20)], [42]])('buffer %p is refused, naming it',
    (b) => {
      expect(() => decodePacket(b as never, 'ipv4')).toThrow(TypeError);
      expect(() => decodePacket(b as never, 'ipv4')).toThrow(/buffer/);
    });

  test.each([['ip'], [4], [6], [0], [7], [undefined], [null], ['IPV4'], [2.5]])('family %p is refused, naming it',
    (f) => {
      expect(() => decodePacket(Buffer.alloc(40), f as never)).toThrow(TypeError);
      expect(() => decodePacket(Buffer.alloc(40), f as never)).toThrow(/family/);
    });

  test('NFPROTO numbers: 2 is IPv4, 10 is IPv6', () => {
    const p4 = ipv4(17, udp(1, 2, Buffer.alloc(0)));
    expect(decodePacket(p4, 2)).toEqual(decodePacket(p4, 'ipv4'));
    const p6 = ipv6(17, udp(1, 2, Buffer.alloc(0)));
    expect(decodePacket(p6, 10)).toEqual(decodePacket(p6, 'ipv6'));
    expect(decodePacket(p6, 10).family).toBe('ipv6');
  });

  test('a Uint8Array view (with an offset into a larger buffer) decodes like the Buffer', () => {
    const p = ipv4(6, tcp());
    const big = new Uint8Array(p.length + 10);
    big.set(p, 7);
    const view = new Uint8Array(big.buffer, 7, p.length);
    expect(decodePacket(view, 'ipv4')).toEqual(decodePacket(p, 'ipv4'));
  });
});

// ---- IPv4 ------------------------------------------------------------------------------------

describe('decodePacket: IPv4', () => {
  test('TCP SYN with options: every header field', () => {
    const opts = hex('020405b4 0402080a 00000001 00000000 01030307');
    const p = decodePacket(
      ipv4(6, tcp({ sport: 51000, dport: 22, seq: 0xdeadbeef, flags: 0x0c2, opts, win: 29200 }), { id: 777, tos: 0xb9,
        ttl: 63, frag: 0x4000 }),
      'ipv4',
    );
    expect(p.ipv4).toEqual({
      version: 4,
      ihl: 5,
      headerLength: 20,
      tos: 0xb9,
      dscp: 0x2e,
      ecn: 1,
      totalLength: 60,
      id: 777,
      flags: { ce: false, df: true, mf: false },
      fragmentOffset: 0,
      ttl: 63,
      protocol: 6,
      checksum: 0xbeef,
      src: '192.0.2.1',
      dst: '198.51.100.7',
      options: Buffer.alloc(0),
    });
    expect(p.protocol).toBe(6);
    expect(p.protocolName).toBe('TCP');
    expect(p.transportOffset).toBe(20);
    expect(p.tcp).toEqual({
      srcPort: 51000,
      dstPort: 22,
      seq: 0xdeadbeef,
      ack: 0,
      dataOffset: 10,
      headerLength: 40,
      reserved: 0,
      flags: ['CWR', 'ECE', 'SYN'],
      flagBits: 0xc2,
      window: 29200,
      checksum: 0x1111,
      urgentPointer: 0,
      options: opts,
    });
    expect(p.payloadOffset).toBe(60);
    expect(p.payloadLength).toBe(0);
    expect(p.truncated).toBeUndefined();
    expect(p.malformed).toBeUndefined();
    expect(p.fragment).toBeUndefined();
  });

  test('every TCP flag, the reserved bits and the AE bit', () => {
    const p = decodePacket(ipv4(6, tcp({ flags: 0x1ff, res: 7, urg: 9 })), 'ipv4');
    expect(p.tcp?.flags).toEqual(['AE', 'CWR', 'ECE', 'URG', 'ACK', 'PSH', 'RST', 'SYN', 'FIN']);
    expect(p.tcp?.flagBits).toBe(0x1ff);
    expect(p.tcp?.reserved).toBe(7);
    expect(p.tcp?.urgentPointer).toBe(9);
  });

  test('IPv4 options and the reserved (CE) bit', () => {
    const p = decodePacket(ipv4(17, udp(53, 5353, Buffer.from('hi')), { opts: hex('94040000'), frag: 0x8000 }), 'ipv4');
    expect(p.ipv4?.ihl).toBe(6);
    expect(p.ipv4?.options).toEqual(hex('94040000'));
    expect(p.ipv4?.flags).toEqual({ ce: true, df: false, mf: false });
    expect(p.udp).toEqual({ srcPort: 53, dstPort: 5353, length: 10, checksum: 0x2222 });
    expect(p.payloadOffset).toBe(32);
    expect(p.payloadLength).toBe(2);
  });

  test('first fragment: transport decoded, fragment facts set', () => {
    const p = decodePacket(ipv4(17, udp(1, 2, Buffer.alloc(16)), { frag: 0x2000, id: 99 }), 'ipv4');
    expect(p.fragment).toEqual({ offset: 0, more: true, id: 99, first: true });
    expect(p.udp?.dstPort).toBe(2);
    expect(p.noTransport).toBeUndefined();
  });

  test('non-first fragment: no transport header, and it says so', () => {
    const p = decodePacket(ipv4(6, Buffer.alloc(24, 0xaa), { frag: 185, id: 99 }), 'ipv4');
    expect(p.fragment).toEqual({ offset: 1480, more: false, id: 99, first: false });
    expect(p.ipv4?.fragmentOffset).toBe(185);
    expect(p.protocol).toBe(6);
    expect(p.noTransport).toBe('fragment');
    expect(p.tcp).toBeUndefined();
    expect(p.payloadOffset).toBe(20);
    expect(p.payloadLength).toBe(24);
  });

  test('ICMP echo', () => {
    const p = decodePacket(ipv4(1, hex('0800abcd 1e61 0007 6869')), 'ipv4');
    expect(p.icmp).toEqual({ type: 8, code: 0, checksum: 0xabcd, id: 0x1e61, seq: 7 });
    expect(p.payloadLength).toBe(2);
  });

  test('ICMP port unreachable quotes the original packet, decoded', () => {
    const quoted = ipv4(17, udp(40001, 53, Buffer.from('abcd')), { id: 0x0102 });
    const p = decodePacket(ipv4(1, Buffer.concat([hex('03030000 00000000'), quoted])), 'ipv4');
    expect(p.icmp?.type).toBe(3);
    expect(p.icmp?.code).toBe(3);
    const o = p.icmp!.original!;
    expect(o.ipv4?.id).toBe(0x0102);
    expect(o.udp).toEqual({ srcPort: 40001, dstPort: 53, length: 12, checksum: 0x2222 });
    expect(o.truncated).toBeUndefined();
  });

  test('ICMP fragmentation needed: MTU, and a quote cut after 8 bytes of TCP', () => {
    const quoted = ipv4(6, tcp({ sport: 1, dport: 2 }), { id: 5 }).subarray(0, 28);
    const p = decodePacket(ipv4(1, Buffer.concat([hex('03040000 000005dc'), quoted])), 'ipv4');
    expect(p.icmp?.mtu).toBe(1500);
    expect(p.icmp?.original?.truncated).toBe(true);
    expect(p.icmp?.original?.truncatedLayer).toBe('tcp');
    expect(p.icmp?.original?.ipv4?.totalLength).toBe(40);
  });

  test('ICMP redirect (gateway) and parameter problem (pointer)', () => {
    const r = decodePacket(ipv4(1, hex('05010000 0a0000fe')), 'ipv4');
    expect(r.icmp?.gateway).toBe('10.0.0.254');
    const q = decodePacket(ipv4(1, hex('0c000000 14000000')), 'ipv4');
    expect(q.icmp?.pointer).toBe(20);
  });

  test('GRE with key and sequence, PPTP GRE with ack', () => {
    const g = decodePacket(ipv4(47, hex('3000 0800 abcdef01 00000007 4500')), 'ipv4');
    expect(g.gre).toEqual({
      flagBits: 0x3000,
      flags: { checksum: false, routing: false, key: true, sequence: true, ack: false },
      version: 0,
      protocol: 0x0800,
      headerLength: 12,
      key: 0xabcdef01,
      sequence: 7,
    });
    expect(g.payloadLength).toBe(2);
    const c = decodePacket(ipv4(47, hex('8000 86dd 1234 0000')), 'ipv4');
    expect(c.gre?.checksumValue).toBe(0x1234);
    expect(c.gre?.protocol).toBe(0x86dd);
    const pptp = decodePacket(ipv4(47, hex('3081 880b 0004 0010 00000001 00000002')), 'ipv4');
    expect(pptp.gre?.version).toBe(1);
    expect(pptp.gre?.ackNumber).toBe(2);
    expect(pptp.gre?.headerLength).toBe(16);
  });

  test('SCTP common header, UDP-Lite', () => {
    const s = decodePacket(ipv4(132, hex('1388 1389 cafef00d 01020304 01000004')), 'ipv4');
    expect(s.sctp).toEqual({ srcPort: 5000, dstPort: 5001, vtag: 0xcafef00d, checksum: 0x01020304, firstChunkType: 1 });
    const l = decodePacket(ipv4(136, hex('9c43 0009 0008 3333 6c697465')), 'ipv4');
    expect(l.udplite).toEqual({ srcPort: 40003, dstPort: 9, checksumCoverage: 8, checksum: 0x3333 });
    expect(l.protocolName).toBe('UDPLITE');
  });

  test('ESP stops at the SPI; AH is walked to what it protects', () => {
    const e = decodePacket(ipv4(50, hex('1234abcd 00000001 00112233')), 'ipv4');
    expect(e.esp).toEqual({ spi: 0x1234abcd, seq: 1 });
    expect(e.noTransport).toBe('esp');
    expect(e.protocol).toBe(50);
    const a = decodePacket(
      ipv4(51, Buffer.concat([hex('06040000 deadbeef 00000001'), Buffer.alloc(12), tcp({ dport: 8080 })])),
      'ipv4',
    );
    expect(a.ah).toEqual({ nextHeader: 6, headerLength: 24, spi: 0xdeadbeef, seq: 1 });
    expect(a.ipv4?.protocol).toBe(51);
    expect(a.protocol).toBe(6);
    expect(a.tcp?.dstPort).toBe(8080);
    expect(a.transportOffset).toBe(44);
  });

  test('an unknown protocol: the bytes after the header are the payload', () => {
    const p = decodePacket(ipv4(253, Buffer.from('nfct-253')), 'ipv4');
    expect(p.protocol).toBe(253);
    expect(p.protocolName).toBeUndefined();
    expect(p.noTransport).toBe('unknown-protocol');
    expect(p.transportOffset).toBeUndefined();
    expect(p.payloadOffset).toBe(20);
    expect(p.payloadLength).toBe(8);
  });

  test('bytes past the total length (link padding) are ignored', () => {
    const p = decodePacket(Buffer.concat([ipv4(17, udp(1, 2, Buffer.alloc(0))), Buffer.alloc(18)]), 'ipv4');
    expect(p.payloadLength).toBe(0);
    expect(p.truncated).toBeUndefined();
    expect(p.length).toBe(46);
  });

  test('truncation names the layer', () => {
    const full = ipv4(6, tcp({ opts: hex('020405b4') }));
    expect(decodePacket(full.subarray(0, 19), 'ipv4')).toMatchObject({ truncated: true, truncatedLayer: 'ipv4' });
    expect(decodePacket(full.subarray(0, 19), 'ipv4').ipv4).toBeUndefined();
    expect(decodePacket(full.subarray(0, 30), 'ipv4')).toMatchObject({ truncated: true, truncatedLayer: 'tcp',
      ipv4: { src: '192.0.2.1' } });
    expect(decodePacket(full.subarray(0, 42), 'ipv4')).toMatchObject({ truncated: true, truncatedLayer: 'tcp' });
    // headers whole, data promised by the total length missing: a capture cut by its snap length
    const data = ipv4(17, udp(1, 2, Buffer.alloc(100)));
    expect(decodePacket(data.subarray(0, 40), 'ipv4')).toMatchObject({ truncated: true, truncatedLayer: 'payload',
      udp: { length: 108 } });
    expect(decodePacket(Buffer.alloc(0), 'ipv4')).toEqual({ family: 'ipv4', length: 0, truncated: true,
      truncatedLayer: 'ipv4' });
  });

  test('malformed headers are reported, not thrown', () => {
    const v6inv4 = ipv4(6, tcp());
    v6inv4[0] = 0x65;
    expect(decodePacket(v6inv4, 'ipv4').malformed).toMatch(/version/);
    const shortIhl = ipv4(6, tcp());
    shortIhl[0] = 0x43;
    expect(decodePacket(shortIhl, 'ipv4').malformed).toMatch(/header length 12/);
    expect(decodePacket(ipv4(6, tcp(), { total: 10 }), 'ipv4').malformed).toMatch(/total length 10/);
    const badDoff = decodePacket(ipv4(6, tcp({ doff: 2 })), 'ipv4');
    expect(badDoff.malformed).toMatch(/data offset 2/);
    expect(badDoff.tcp?.dataOffset).toBe(2);
    expect(decodePacket(ipv4(17, hex('00010002 0004 0000')), 'ipv4').malformed).toMatch(/UDP length 4/);
  });
});

// ---- IPv6 ------------------------------------------------------------------------------------

describe('decodePacket: IPv6', () => {
  test('fixed header fields and RFC 5952 addresses', () => {
    const p = decodePacket(ipv6(17, udp(40012, 9, Buffer.from('ext')), { tc: 0xb8, flow: 0x12345, hlim: 7 }), 'ipv6');
    expect(p.ipv6).toEqual({
      version: 6,
      trafficClass: 0xb8,
      dscp: 0x2e,
      ecn: 0,
      flowLabel: 0x12345,
      payloadLength: 11,
      nextHeader: 17,
      hopLimit: 7,
      src: '2001:db8::1',
      dst: '2001:db8:0:1::2',
      extensions: [],
    });
    expect(p.udp?.srcPort).toBe(40012);
    expect(p.payloadLength).toBe(3);
  });

  test('hop-by-hop, destination options and routing headers are walked in order', () => {
    const rh = Buffer.concat([Buffer.from([6, 2, 0, 1, 0, 0, 0, 0]), SRC6]);
    const p = decodePacket(ipv6(0, Buffer.concat([ext8(60), ext8(43), rh, tcp({ dport: 8080 })])), 'ipv6');
    expect(p.ipv6?.extensions.map((e) => [e.type, e.offset, e.length])).toEqual([
      ['hop-by-hop', 40, 8],
      ['destination', 48, 8],
      ['routing', 56, 24],
    ]);
    const r = p.ipv6?.extensions[2];
    expect(r?.type === 'routing' && [r.routingType, r.segmentsLeft, r.nextHeader]).toEqual([0, 1, 6]);
    const h = p.ipv6?.extensions[0];
    expect(h?.type === 'hop-by-hop' && h.options).toEqual(Buffer.from([1, 4, 0, 0, 0, 0]));
    expect(p.protocol).toBe(6);
    expect(p.tcp?.dstPort).toBe(8080);
    expect(p.transportOffset).toBe(80);
  });

  test('first fragment: fragment facts and the transport header', () => {
    const echo = hex('80000000 0099 0001 66726167');
    const p = decodePacket(ipv6(44, Buffer.concat([hex('3a000001 1234abcd'), echo])), 'ipv6');
    expect(p.fragment).toEqual({ offset: 0, more: true, id: 0x1234abcd, first: true });
    expect(p.ipv6?.extensions[0]).toEqual({ type: 'fragment', protocol: 44, offset: 40, length: 8, nextHeader: 58,
      fragmentOffset: 0, more: true, id: 0x1234abcd });
    expect(p.icmpv6).toEqual({ type: 128, code: 0, checksum: 0, id: 0x99, seq: 1 });
  });

  test('non-first fragment: offset in bytes, no transport header, and it says so', () => {
    const p = decodePacket(ipv6(44, Buffer.concat([hex('110005a8 1234abcd'), Buffer.alloc(16)])), 'ipv6');
    expect(p.fragment).toEqual({ offset: 1448, more: false, id: 0x1234abcd, first: false });
    expect(p.protocol).toBe(17);
    expect(p.noTransport).toBe('fragment');
    expect(p.udp).toBeUndefined();
    expect(p.payloadOffset).toBe(48);
  });

  test('AH is an extension header; ESP ends the walk', () => {
    const ah = decodePacket(ipv6(51, Buffer.concat([hex('06040000 feedface 00000001'), Buffer.alloc(12), tcp()])),
      'ipv6');
    expect(ah.ipv6?.extensions.map((e) => e.type)).toEqual(['ah']);
    expect(ah.ah?.spi).toBe(0xfeedface);
    expect(ah.tcp?.dstPort).toBe(443);
    const esp = decodePacket(ipv6(0, Buffer.concat([ext8(50), hex('0badcafe 00000001 00000000')])), 'ipv6');
    expect(esp.ipv6?.extensions.map((e) => e.type)).toEqual(['hop-by-hop', 'esp']);
    expect(esp.esp).toEqual({ spi: 0x0badcafe, seq: 1 });
    expect(esp.noTransport).toBe('esp');
  });

  test('no next header (59)', () => {
    const p = decodePacket(ipv6(59, Buffer.alloc(0)), 'ipv6');
    expect(p.protocol).toBe(59);
    expect(p.noTransport).toBe('no-next-header');
    expect(p.truncated).toBeUndefined();
  });

  test('ICMPv6 packet too big quotes the original; parameter problem has a pointer', () => {
    const quoted = ipv6(17, udp(40011, 53, Buffer.from('abcd')));
    const p = decodePacket(ipv6(58, Buffer.concat([hex('02000000 00000500'), quoted])), 'ipv6');
    expect(p.icmpv6?.mtu).toBe(1280);
    expect(p.icmpv6?.original?.udp?.dstPort).toBe(53);
    expect(p.icmpv6?.original?.ipv6?.src).toBe('2001:db8::1');
    const q = decodePacket(ipv6(58, hex('04010000 00000028')), 'ipv6');
    expect(q.icmpv6?.pointer).toBe(40);
  });

  test('a hop-by-hop header after the first place is malformed', () => {
    expect(decodePacket(ipv6(60, Buffer.concat([ext8(0), ext8(17)])), 'ipv6').malformed).toMatch(/hop-by-hop/);
  });

  test('truncation in the fixed header, an extension header and the transport header', () => {
    const p = ipv6(0, Buffer.concat([ext8(6), tcp()]));
    expect(decodePacket(p.subarray(0, 39), 'ipv6')).toMatchObject({ truncated: true, truncatedLayer: 'ipv6' });
    expect(decodePacket(p.subarray(0, 41), 'ipv6')).toMatchObject({ truncated: true, truncatedLayer: 'ipv6-extension',
      protocol: 0 });
    expect(decodePacket(p.subarray(0, 60), 'ipv6')).toMatchObject({ truncated: true, truncatedLayer: 'tcp',
      protocol: 6 });
  });

  test('payload length 0 with more bytes (jumbogram, BIG TCP): the buffer bounds the packet', () => {
    const p = decodePacket(ipv6(6, tcp({ dport: 7 }), { plen: 0 }), 'ipv6');
    expect(p.tcp?.dstPort).toBe(7);
    expect(p.truncated).toBeUndefined();
  });
});

describe('IPv6 text', () => {
  const cases: [string, string][] = [
    ['00000000000000000000000000000000', '::'],
    ['00000000000000000000000000000001', '::1'],
    ['00010000000000000000000000000000', '1::'],
    ['20010db8000000000000000000000001', '2001:db8::1'],
    ['20010db8000000000001000000000001', '2001:db8::1:0:0:1'],
    ['20010db8000000010000000000000001', '2001:db8:0:1::1'],
    ['20010db8000000010001000100010001', '2001:db8:0:1:1:1:1:1'],
    ['20010db8000100000000000100000000', '2001:db8:1::1:0:0'],
    ['00000000000000000000ffff01020304', '::ffff:1.2.3.4'],
    ['fe800000000000000202b3fffe1e8329', 'fe80::202:b3ff:fe1e:8329'],
    ['ABCD0000000000000000000000000000'.toLowerCase(), 'abcd::'],
  ];
  test.each(cases)('%s -> %s', (bytes, text) => {
    expect(formatIpv6(hex(bytes), 0)).toBe(text);
  });

  test('the kernel form (%pI6) is eight groups of four digits', () => {
    expect(formatIpv6Full(hex('20010db8000000000000000000000001'), 0)).toBe('2001:0db8:0000:0000:0000:0000:0000:0001');
  });

  test('agrees with Node (inet_ntop) on 2000 random addresses with zero runs', () => {
    const rnd = prng(5952);
    for (let n = 0; n < 2000; n++) {
      const b = Buffer.alloc(16);
      for (let g = 0; g < 8; g++) {
        if (rnd() < 0.5) b.writeUInt16BE(Math.floor(rnd() * 65536) >> (rnd() < 0.5 ? 12 : 0), g * 2);
      }
      // Node writes ::a.b.c.d for the deprecated IPv4-compatible range; RFC 5952 does not.
      if (b.subarray(0, 12).every((x) => x === 0)) continue;
      const node = new SocketAddress({ address: formatIpv6Full(b, 0), family: 'ipv6' }).address;
      expect(formatIpv6(b, 0), b.toString('hex')).toBe(node);
    }
  });
});

// ---- against the kernel's own account of the fixture packets --------------------------------

interface Fixture {
  variants: Record<string, { name: string; prefix: string; options: Record<string, boolean> }[]>;
  packets: { name: string; hook: string; nflog: { family: string | number; payload: string; hwProtocol?: number };
    lines: { variant: string; stamp: string; text: string }[] }[];
}

const fixtures: Fixture[] = ['loopback', 'bridge'].map((n) =>
  JSON.parse(readFileSync(join(__dirname, '..', 'fixtures', 'log', `${n}.json`), 'utf8')) as Fixture
);
const allPackets = fixtures.flatMap((f) => f.packets);

/** The fixture's payload and the family to decode it as (bridge/netdev packets by EtherType). */
function decodable(p: Fixture['packets'][number]): { buf: Buffer; family: 'ipv4' | 'ipv6' } | undefined {
  const buf = Buffer.from(p.nflog.payload, 'hex');
  const f = p.nflog.family;
  if (f === 'ipv4' || f === 'ipv6') return { buf, family: f };
  if (p.nflog.hwProtocol === 0x0800) return { buf, family: 'ipv4' };
  if (p.nflog.hwProtocol === 0x86dd) return { buf, family: 'ipv6' };
  return undefined;
}

describe('decodePacket agrees with the kernel LOG line of each fixture packet', () => {
  test('there are fixtures to check', () => {
    expect(allPackets.length).toBeGreaterThan(150);
  });

  test.each(allPackets.filter((p) => decodable(p)).map((p) => [p.name, p] as const))('%s', (_name, fx) => {
    const { buf, family } = decodable(fx)!;
    const d = decodePacket(buf, family);
    const line = parseLogLine(fx.lines[0]!.text);
    expect(d.malformed).toBeUndefined();
    if (family === 'ipv4') {
      expect(d.ipv4?.src).toBe(line.src);
      expect(d.ipv4?.dst).toBe(line.dst);
      expect(d.ipv4?.totalLength).toBe(line.len);
      expect(d.ipv4?.ttl).toBe(line.ttl);
      expect(d.ipv4?.id).toBe(line.id);
      expect(d.ipv4!.tos & 0x1e).toBe(line.tos);
      const flags = (['ce', 'df', 'mf'] as const).filter((k) => d.ipv4?.flags[k]).map((k) => k.toUpperCase());
      expect(flags).toEqual(line.ipFlags);
      // A fragment offset of 0 is what the kernel's log line leaves out.
      const offset = d.ipv4?.fragmentOffset;
      expect(offset === 0 ? undefined : offset).toBe(line.fragOffset);
    } else {
      expect(formatIpv6Full(buf, 8)).toBe(line.src);
      expect(d.ipv6?.src).toBe(new SocketAddress({ address: line.src!, family: 'ipv6' }).address);
      expect(d.ipv6!.payloadLength + 40).toBe(line.len);
      expect(d.ipv6?.hopLimit).toBe(line.hopLimit);
      expect(d.ipv6?.trafficClass).toBe(line.tc);
      expect(d.ipv6?.flowLabel).toBe(line.flowLabel);
      const frag = d.ipv6?.extensions.find((e) => e.type === 'fragment');
      if (line.fragOffset !== undefined) {
        expect(frag?.type === 'fragment' && [frag.fragmentOffset, frag.id, frag.more]).toEqual([line.fragOffset,
          line.fragId, line.fragMore ?? false]);
      } else {
        expect(frag).toBeUndefined();
      }
    }
    // The protocol: the kernel names IPv4's field (PROTO=AH), or the end of the IPv6 chain.
    // Two deliberate differences: after a non-first IPv6 fragment the kernel keeps walking
    // (reading fragment data as an AH header), and it walks an AH cut after 2 bytes; decodePacket
    // stops at the fragment, or reports the AH as cut, and names that protocol.
    const kernelProto = family === 'ipv4' ? d.ipv4?.protocol : d.protocol;
    const extHeaders = [0, 43, 44, 50, 51, 60];
    const walkedGarbage = family === 'ipv6' &&
      ((d.noTransport === 'fragment' && extHeaders.includes(d.protocol!)) || d.truncatedLayer === 'ah');
    if (line.protocol !== undefined && !walkedGarbage) expect(kernelProto).toBe(line.protocol);
    // Non-first fragments: the kernel prints no ports, and decodePacket says why.
    if (line.fragOffset) expect(d.noTransport).toBe('fragment');
    if (line.incomplete !== undefined || line.truncated) expect(d.truncated).toBe(true);
    if (line.spt !== undefined) {
      const l4 = d.tcp ?? d.udp ?? d.udplite;
      expect([l4?.srcPort, l4?.dstPort]).toEqual([line.spt, line.dpt]);
    }
    if (line.tcp?.window !== undefined) {
      expect(d.tcp?.window).toBe(line.tcp.window);
      expect(d.tcp?.flags).toEqual(line.tcp.flags);
      expect(d.tcp?.urgentPointer).toBe(line.tcp.urgp);
      expect((d.tcp!.reserved << 3) & 0xff).toBe(line.tcp.res);
    }
    if (line.udpLen !== undefined) expect(d.udp?.length ?? d.udplite?.checksumCoverage).toBe(line.udpLen);
    if (line.icmp?.type !== undefined && line.incomplete === undefined) {
      const ic = d.icmp ?? d.icmpv6;
      expect([ic?.type, ic?.code]).toEqual([line.icmp.type, line.icmp.code]);
      if (line.icmp.id !== undefined) expect([ic?.id, ic?.seq]).toEqual([line.icmp.id, line.icmp.seq]);
      if (line.icmp.mtu !== undefined) expect(ic?.mtu).toBe(line.icmp.mtu);
      if (line.icmp.gateway !== undefined) expect(d.icmp?.gateway).toBe(line.icmp.gateway);
      if (line.icmp.pointer !== undefined) expect(d.icmpv6?.pointer).toBe(line.icmp.pointer);
      if (line.icmp.parameter !== undefined) expect(d.icmp?.pointer).toBe(line.icmp.parameter);
      if (line.inner?.src !== undefined) {
        const o = ic?.original;
        expect(o?.ipv4?.id ?? o?.ipv6?.flowLabel).toBe(line.inner.id ?? line.inner.flowLabel);
        if (line.inner.spt !== undefined) expect((o?.tcp ?? o?.udp)?.srcPort).toBe(line.inner.spt);
      }
    }
    if (line.spi !== undefined) expect((d.esp ?? d.ah)?.spi).toBe(line.spi);
  });
});

// ---- never throws ----------------------------------------------------------------------------

/** Invariants every result keeps, whatever the input. */
function checkShape(d: DecodedPacket, buf: Buffer, family: 'ipv4' | 'ipv6'): void {
  expect(d.family).toBe(family);
  expect(d.length).toBe(buf.length);
  if (d.truncated) expect(typeof d.truncatedLayer).toBe('string');
  if (d.payloadOffset !== undefined) {
    expect(d.payloadOffset).toBeLessThanOrEqual(buf.length);
    expect(d.payloadLength).toBeGreaterThanOrEqual(0);
  }
}

describe('decodePacket never throws', () => {
  test('every prefix of every fixture packet; a strict prefix is always flagged truncated', () => {
    let n = 0;
    for (const fx of allPackets) {
      const dd = decodable(fx);
      if (!dd) continue;
      const full = decodePacket(dd.buf, dd.family);
      for (let len = 0; len < dd.buf.length; len++) {
        const cut = dd.buf.subarray(0, len);
        const d = decodePacket(cut, dd.family);
        checkShape(d, cut, dd.family);
        if (!full.truncated && !full.malformed) {
          expect(d.truncated === true || d.malformed !== undefined, `${fx.name} cut to ${len}`).toBe(true);
        }
        n++;
      }
    }
    expect(n).toBeGreaterThan(10_000);
  });

  test('fixture packets with random bytes changed (seeded)', () => {
    const rnd = prng(0x5eed);
    const sources = allPackets.map(decodable).filter((x) => x !== undefined).filter((x) => x.buf.length <= 200);
    for (let n = 0; n < 3000; n++) {
      const src = sources[Math.floor(rnd() * sources.length)]!;
      const b = Buffer.from(src.buf);
      const flips = 1 + Math.floor(rnd() * 4);
      for (let k = 0; k < flips; k++) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
      const len = rnd() < 0.3 ? Math.floor(rnd() * b.length) : b.length;
      const cut = b.subarray(0, len);
      checkShape(decodePacket(cut, src.family), cut, src.family);
    }
  });

  test('random buffers (seeded), with IP-looking first bytes half of the time', () => {
    const rnd = prng(42);
    const protos = [0, 1, 6, 17, 43, 44, 47, 50, 51, 58, 59, 60, 132, 136, 253];
    for (let n = 0; n < 4000; n++) {
      const family = rnd() < 0.5 ? 'ipv4' : 'ipv6';
      const b = Buffer.alloc(Math.floor(rnd() * 160));
      for (let i = 0; i < b.length; i++) b[i] = Math.floor(rnd() * 256);
      if (rnd() < 0.5 && b.length > 40) {
        const proto = protos[Math.floor(rnd() * protos.length)]!;
        if (family === 'ipv4') {
          b[0] = 0x45;
          b.writeUInt16BE(b.length, 2);
          b.writeUInt16BE(rnd() < 0.8 ? 0 : b.readUInt16BE(6), 6);
          b[9] = proto;
        } else {
          b[0] = 0x60;
          b.writeUInt16BE(b.length - 40, 4);
          b[6] = proto;
        }
      }
      checkShape(decodePacket(b, family), b, family);
    }
  });
});
