/**
 * formatLogLine (lib/nflog/logline-format.ts) and parseLogLine (lib/nflog/logline-parse.ts).
 *
 * The oracle is the kernel: test/fixtures/log/*.json pair the NFLOG record of a packet with the
 * lines the LOG target wrote for the same packet (several flag variants), captured by
 * test/fixtures/log/capture.mjs. formatLogLine must give those lines byte for byte, parseLogLine
 * must read every token of them. Then hand-written lines of the other shapes (syslog and
 * journal headers, prefixes with spaces and colons, no OUT=, ARP, unknown fields), argument
 * checks, and a seeded fuzz loop that must never throw. No kernel access.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';

import { formatLogLine, type LogLineOptions } from '../../lib/nflog/logline-format.js';
import { parseLogLine } from '../../lib/nflog/logline-parse.js';
import type { NflogPacket } from '../../lib/nflog/types.js';
import { decodePacket } from '../../lib/packet/decode.js';
import { formatIpv6Full } from '../../lib/packet/headers.js';
import { prng } from '../support/prng.js';

// ---- fixtures --------------------------------------------------------------------------------

interface FixtureDev {
  index: number;
  name?: string;
}
interface FixturePacket {
  name: string;
  hook: string;
  crafted?: string;
  nflog: {
    group: number;
    family: NflogPacket['family'];
    hook?: number;
    hookName?: NflogPacket['hookName'];
    hwProtocol?: number;
    prefix?: string;
    indev?: FixtureDev;
    outdev?: FixtureDev;
    physindev?: FixtureDev;
    physoutdev?: FixtureDev;
    mark?: number;
    uid?: number;
    gid?: number;
    hwType?: number;
    hwHeader?: string;
    l2Header?: string;
    hwAddress?: string;
    payload: string;
  };
  lines: { variant: string; stamp: string; text: string }[];
}
interface Fixture {
  scenario: string;
  kernel: string;
  variants: Record<string, { name: string; prefix: string; options: LogLineOptions }[]>;
  packets: FixturePacket[];
}

const fixtures: Fixture[] = ['loopback', 'bridge'].map(
  (n) => JSON.parse(readFileSync(join(__dirname, '..', 'fixtures', 'log', `${n}.json`), 'utf8')) as Fixture,
);

interface Case {
  fixture: Fixture;
  packet: FixturePacket;
}
const cases: Case[] = fixtures.flatMap((fixture) => fixture.packets.map((packet) => ({ fixture, packet })));

function variantOf(c: Case, name: string): { prefix: string; options: LogLineOptions } {
  const v = c.fixture.variants[c.packet.hook]?.find((x) => x.name === name);
  if (!v) throw new Error(`fixture ${c.packet.name}: no variant ${name}`);
  return v;
}

/** The NflogPacket the library would hand over for this fixture, with the given prefix. */
function toPacket(p: FixturePacket, prefix: string | undefined): NflogPacket {
  const n = p.nflog;
  const pkt: NflogPacket = { group: n.group, family: n.family, payload: Buffer.from(n.payload, 'hex') };
  if (n.hook !== undefined) pkt.hook = n.hook;
  if (n.hookName !== undefined) pkt.hookName = n.hookName;
  if (n.hwProtocol !== undefined) pkt.hwProtocol = n.hwProtocol;
  if (prefix !== undefined) pkt.prefix = prefix;
  for (const k of ['indev', 'outdev', 'physindev', 'physoutdev'] as const) if (n[k]) pkt[k] = { ...n[k] };
  for (const k of ['mark', 'uid', 'gid', 'hwType'] as const) if (n[k] !== undefined) pkt[k] = n[k];
  for (const k of ['hwHeader', 'l2Header', 'hwAddress'] as const) {
    if (n[k] !== undefined) pkt[k] = Buffer.from(n[k], 'hex');
  }
  return pkt;
}

const allLines = cases.flatMap((c) => c.packet.lines.map((l) => l.text));

// ---- formatLogLine against the kernel --------------------------------------------------------

describe('formatLogLine gives the kernel LOG line for the same packet', () => {
  test('the fixtures cover the shapes of the format', () => {
    expect(cases.length).toBeGreaterThan(150);
    expect(allLines.length).toBeGreaterThan(500);
    const shapes = [
      'IN= OUT=lo SRC=',
      'IN=lo OUT= MAC=00:00:00:00:00:00:00:00:00:00:00:00:08:00 ',
      'IN=br0 OUT=br0 PHYSIN=vb1 PHYSOUT=vb2 MAC=',
      'IN=vb1 OUT=vb2 MAC=',
      'IN=vb1 OUT= MAC=',
      'MACSRC=02:00:00:00:77:01 MACDST=',
      ' ARP HTYPE=1 PTYPE=0x0800 OPCODE=1 MACSRC=',
      ' TOS=0x18 PREC=0xA0 ',
      ' CE PROTO=UDP',
      ' DF PROTO=TCP',
      ' MF FRAG:185 PROTO=ICMP ',
      ' FRAG:370 PROTO=ICMP ',
      ' FRAG:1448 INCOMPLETE ID:',
      ' OPT (01',
      ' OPT ( ) OPT ( ) PROTO=UDP',
      'OPT ( FRAG:0 INCOMPLETE ID:',
      'OPT ( AH SPI=0x',
      'OPT ( ESP SPI=0x',
      'OPT (TRUNCATED)',
      'OPT (020405B4',
      ' SEQ=',
      'RES=0x38 AE CWR ECE URG ACK PSH RST SYN FIN URGP=7 ',
      'CWR ECE SYN URGP=0 ',
      'PROTO=TCP INCOMPLETE [10 bytes] ',
      'INCOMPLETE [4294967278 bytes]',
      'PROTO=ICMP INCOMPLETE [4 bytes] ',
      ' PROTO=253 ',
      ' PROTO=47 ',
      ' PROTO=132 ',
      ' PROTO=59 ',
      ' PROTO=UDPLITE SPT=',
      ' PROTO=ESP SPI=0x1234abcd ',
      ' PROTO=AH SPI=0xdeadbeef ',
      ' PROTO=ICMP TYPE=3 CODE=3 [SRC=',
      ' PROTO=ICMPv6 TYPE=1 CODE=4 [SRC=',
      '] MTU=1400 ',
      'GATEWAY=10.0.0.254 [SRC=',
      'PARAMETER=20 ',
      'POINTER=00000006 [SRC=',
      '] MTU=1280 ',
      'TC=184 HOPLIMIT=64 FLOWLBL=74565 ',
      'UID=4242 GID=4343 ',
      'MARK=0x2a ',
      'FLOWLBL=0 TRUNCATED',
    ];
    for (const s of shapes) expect(allLines.some((l) => l.includes(s)), s).toBe(true);
    // Most lines end in a space; the kernel's early exits do not.
    expect(allLines.some((l) => l.endsWith(' '))).toBe(true);
    expect(allLines.some((l) => !l.endsWith(' '))).toBe(true);
  });

  test.each(cases.map((c) => [`${c.fixture.scenario} ${c.packet.name}`, c] as const))('%s', (_name, c) => {
    for (const line of c.packet.lines) {
      const { prefix, options } = variantOf(c, line.variant);
      expect(formatLogLine(toPacket(c.packet, prefix), options), `variant ${line.variant}`).toBe(line.text);
    }
  });
});

// ---- parseLogLine on the kernel's lines ------------------------------------------------------

/** The names the LOG target writes for IN=/OUT=, from the NFLOG fields (bridge: the ports). */
function expectedInOut(p: FixturePacket): [string, string] {
  const n = p.nflog;
  if (n.family === 'bridge') return [(n.physindev ?? n.indev)?.name ?? '', (n.physoutdev ?? n.outdev)?.name ?? ''];
  return [n.indev?.name ?? '', n.outdev?.name ?? ''];
}

describe('parseLogLine reads every token of the kernel lines', () => {
  test.each(cases.map((c) => [`${c.fixture.scenario} ${c.packet.name}`, c] as const))('%s', (_name, c) => {
    const buf = Buffer.from(c.packet.nflog.payload, 'hex');
    for (const line of c.packet.lines) {
      const { prefix } = variantOf(c, line.variant);
      const dmesg = `${line.stamp} ${line.text}`;
      const r = parseLogLine(dmesg);
      expect(r.line).toBe(dmesg);
      expect(r.message).toBe(line.text);
      expect(r.kernelTime).toBe(Number(/[\d.]+/.exec(line.stamp)![0]));
      expect(r.prefix).toBe(prefix);
      expect([r.in, r.out]).toEqual(expectedInOut(c.packet));
      expect(r.extra, line.text).toEqual([]);
      expect(r.unparsed, line.text).toEqual([]);
      if (r.arp) {
        expect(r.arp.opcode).toBe(buf.readUInt16BE(6));
        continue;
      }
      const v = buf[0]! >> 4;
      if (v === 4) {
        expect(r.src).toBe([...buf.subarray(12, 16)].join('.'));
        expect(r.id).toBe(buf.readUInt16BE(4));
      } else {
        expect(r.src).toBe(formatIpv6Full(buf, 8));
        expect(r.dst).toBe(formatIpv6Full(buf, 24));
      }
      const n = c.packet.nflog;
      if (r.mark !== undefined) expect(r.mark).toBe(n.mark);
      if (r.uid !== undefined) expect([r.uid, r.gid]).toEqual([n.uid, n.gid]);
      if (n.physindev && n.family !== 'bridge') {
        expect([r.physin, r.physout]).toEqual([n.physindev.name, n.physoutdev?.name]);
      }
      if (r.mac !== undefined) expect(r.mac.replaceAll(':', '')).toBe(n.hwHeader);
      if (r.macSrc !== undefined) expect(r.macSrc.replaceAll(':', '')).toBe(n.hwHeader?.slice(12, 24));
      const d = decodePacket(buf, v === 4 ? 'ipv4' : 'ipv6');
      if (r.tcp?.window !== undefined) {
        expect(r.tcp.flags).toEqual(d.tcp?.flags);
        if (r.tcp.seq !== undefined) expect([r.tcp.seq, r.tcp.ack]).toEqual([d.tcp?.seq, d.tcp?.ack]);
        if (r.tcp.options !== undefined) expect(r.tcp.options).toBe(d.tcp?.options.toString('hex').toUpperCase());
      }
      if (r.ipOptions !== undefined) expect(r.ipOptions).toBe(d.ipv4?.options.toString('hex').toUpperCase());
    }
  });

  test('the same lines behind a syslog header, with and without the kernel time', () => {
    for (const text of allLines.slice(0, 60)) {
      const a = parseLogLine(`Jun 13 19:58:21 testhost kernel: [ 1234.567890] ${text}\n`);
      const b = parseLogLine(`Jun  3 09:08:07 testhost kernel: ${text}`);
      const plain = parseLogLine(text);
      for (const r of [a, b]) {
        expect(r.syslog?.host).toBe('testhost');
        expect(r.syslog?.tag).toBe('kernel');
        expect(r.message).toBe(text);
        expect({ ...r, line: '', syslog: undefined, kernelTime: undefined }).toEqual({ ...plain, line: '',
          syslog: undefined, kernelTime: undefined });
      }
      expect(a.kernelTime).toBe(1234.56789);
      expect(b.kernelTime).toBeUndefined();
    }
  });
});

// ---- parseLogLine: hand-written lines --------------------------------------------------------

describe('parseLogLine: other shapes of line', () => {
  test('UFW in a syslog file: prefix in brackets, MAC, TCP', () => {
    const r = parseLogLine(
      'Jun 13 19:58:21 gw kernel: [ 1234.567890] [UFW BLOCK] IN=eth0 OUT= MAC=52:54:00:12:34:56:52:54:00:65:43:21:08:00 SRC=203.0.113.9 DST=192.0.2.10 LEN=60 TOS=0x00 PREC=0x00 TTL=52 ID=54321 DF PROTO=TCP SPT=51234 DPT=22 WINDOW=64240 RES=0x00 SYN URGP=0 ',
    );
    expect(r).toMatchObject({
      syslog: { time: 'Jun 13 19:58:21', host: 'gw', tag: 'kernel' },
      kernelTime: 1234.56789,
      prefix: '[UFW BLOCK] ',
      in: 'eth0',
      out: '',
      mac: '52:54:00:12:34:56:52:54:00:65:43:21:08:00',
      src: '203.0.113.9',
      dst: '192.0.2.10',
      len: 60,
      tos: 0,
      prec: 0,
      ttl: 52,
      id: 54321,
      ipFlags: ['DF'],
      proto: 'TCP',
      protocol: 6,
      spt: 51234,
      dpt: 22,
      tcp: { window: 64240, res: 0, flags: ['SYN'], urgp: 0 },
      extra: [],
      unparsed: [],
    });
  });

  test('legacy TRACE: the prefix holds colons and the rule position', () => {
    const r = parseLogLine(
      'TRACE: raw:OUTPUT:rule:2 IN= OUT=eth0 SRC=10.0.0.1 DST=10.0.0.2 LEN=84 TOS=0x00 PREC=0x00 TTL=64 ID=47119 DF PROTO=ICMP TYPE=8 CODE=0 ID=3 SEQ=1 UID=1000 GID=1000 ',
    );
    expect(r.prefix).toBe('TRACE: raw:OUTPUT:rule:2 ');
    expect(r.mac).toBeUndefined();
    expect(r.id).toBe(47119);
    expect(r.icmp).toEqual({ type: 8, code: 0, id: 3, seq: 1 });
    expect([r.uid, r.gid]).toEqual([1000, 1000]);
  });

  test('no OUT= at all (older and third-party writers)', () => {
    const r = parseLogLine(
      '[   12.345678] fw: IN=eth1 SRC=10.1.1.1 DST=10.1.1.2 LEN=40 TOS=0x00 PREC=0x00 TTL=64 ID=0 PROTO=UDP SPT=1 DPT=2 LEN=20 ',
    );
    expect(r.prefix).toBe('fw: ');
    expect(r.in).toBe('eth1');
    expect(r.out).toBeUndefined();
    expect([r.len, r.udpLen]).toEqual([40, 20]);
    expect(r.unparsed).toEqual([]);
  });

  test('a prefix without a trailing space, and one that contains "IN="', () => {
    expect(
      parseLogLine(
        'nfct:all:IN=lo OUT= MAC= SRC=127.0.0.1 DST=127.0.0.1 LEN=20 TOS=0x00 PREC=0x00 TTL=64 ID=1 PROTO=253 ',
      ),
    ).toMatchObject({
      prefix: 'nfct:all:',
      in: 'lo',
      mac: '',
      proto: '253',
      protocol: 253,
    });
    expect(parseLogLine('LOGIN=denied IN=eth0 OUT= SRC=1.2.3.4').prefix).toBe('LOGIN=denied ');
  });

  test('IPv6 with extension headers and ip options: every OPT group kept', () => {
    const r = parseLogLine(
      'v6: IN=eth0 OUT= MAC= SRC=2001:0db8:0000:0000:0000:0000:0000:0001 DST=2001:0db8:0000:0000:0000:0000:0000:0002 LEN=1280 TC=0 HOPLIMIT=63 FLOWLBL=12345 OPT ( ) OPT ( AH SPI=0x10 ) OPT ( FRAG:1448 INCOMPLETE ID:0000beef ) PROTO=UDP ',
    );
    expect(r.ipv6Options).toEqual(['', 'AH SPI=0x10', 'FRAG:1448 INCOMPLETE ID:0000beef']);
    expect(r.spi).toBe(0x10);
    expect([r.fragOffset, r.fragMore, r.fragId]).toEqual([1448, true, 0xbeef]);
    expect([r.tc, r.hopLimit, r.flowLabel, r.proto]).toEqual([0, 63, 12345, 'UDP']);
    expect(r.spt).toBeUndefined();
    expect(r.unparsed).toEqual([]);
  });

  test('IPv4 fragments: MF, FRAG in 8-byte units, no ports', () => {
    const r = parseLogLine(
      'IN=eth0 OUT= SRC=10.0.0.1 DST=10.0.0.2 LEN=1500 TOS=0x00 PREC=0x00 TTL=64 ID=7 MF FRAG:185 PROTO=ICMP ',
    );
    expect(r.ipFlags).toEqual(['MF']);
    expect(r.fragOffset).toBe(185);
    expect(r.icmp).toBeUndefined();
  });

  test('an ICMP error quoting a packet that could not be read, and INCOMPLETE inside the quote', () => {
    const r = parseLogLine(
      'IN= OUT=eth0 SRC=10.0.0.1 DST=10.0.0.2 LEN=48 TOS=0x00 PREC=0xC0 TTL=64 ID=1 PROTO=ICMP TYPE=3 CODE=1 [TRUNCATED] MARK=0x1 ',
    );
    expect(r.inner?.truncated).toBe(true);
    expect(r.mark).toBe(1);
    const s = parseLogLine(
      'IN= OUT=lo SRC=127.0.0.1 DST=127.0.0.1 LEN=56 TOS=0x00 PREC=0x00 TTL=64 ID=2 PROTO=ICMP TYPE=3 CODE=4 [SRC=127.0.0.1 DST=127.0.0.1 LEN=40 TOS=0x00 PREC=0x00 TTL=64 ID=259 DF PROTO=TCP INCOMPLETE [8 bytes] ] MTU=1400 ',
    );
    expect(s.inner).toMatchObject({ id: 259, proto: 'TCP', incomplete: 8, ipFlags: ['DF'] });
    expect(s.icmp?.mtu).toBe(1400);
    expect(s.incomplete).toBeUndefined();
    expect(s.unparsed).toEqual([]);
  });

  test('ARP (bridge and arptables) with an INCOMPLETE payload', () => {
    const r = parseLogLine('arp: IN=vb1 OUT=vb2 ARP HTYPE=1 PTYPE=0x0800 OPCODE=1 INCOMPLETE [12 bytes]');
    expect(r.arp).toEqual({ htype: 1, ptype: 0x800, opcode: 1 });
    expect(r.incomplete).toBe(12);
  });

  test('macdecode with a VLAN tag, SIT tunnel', () => {
    const r = parseLogLine(
      'x IN=eth0.10 OUT= MACSRC=02:00:00:00:00:01 MACDST=02:00:00:00:00:02 VPROTO=8100 VID=10 MACPROTO=0800 SRC=1.1.1.1 DST=2.2.2.2 LEN=20 TOS=0x00 PREC=0x00 TTL=1 ID=0 PROTO=0 ',
    );
    expect([r.macSrc, r.macDst, r.vlanProto, r.vlanId, r.macProto]).toEqual(['02:00:00:00:00:01', '02:00:00:00:00:02',
      0x8100, 10, 0x800]);
    const t = parseLogLine(
      'IN=sit1 OUT= MAC=00:00:00:00:00:00:00:00:00:00:00:00:86:dd TUNNEL=192.0.2.1->192.0.2.2 SRC=2001:0db8:0000:0000:0000:0000:0000:0001 DST=2001:0db8:0000:0000:0000:0000:0000:0002 LEN=40 TC=0 HOPLIMIT=64 FLOWLBL=0 PROTO=59 ',
    );
    expect(t.tunnel).toBe('192.0.2.1->192.0.2.2');
  });

  test('unknown KEY=VALUE pairs, values that do not parse, and bare words are kept in order', () => {
    const r = parseLogLine(
      'p IN=a OUT=b FOO=bar SRC=1.2.3.4 TTL=abc wibble PROTO=TCP SPT=1 DPT=2 WINDOW=3 RES=0x00 SYN URGP=0 NEW=1 Unknown Ext Hdr 255',
    );
    expect(r.extra).toEqual([
      { key: 'FOO', value: 'bar' },
      { key: 'TTL', value: 'abc' },
      { key: 'NEW', value: '1' },
    ]);
    expect(r.unparsed).toEqual(['wibble', 'Unknown', 'Ext', 'Hdr', '255']);
    expect(r.tcp?.flags).toEqual(['SYN']);
  });

  test('time stamp forms: dmesg -r, dmesg -T, RFC 3339 syslog, journalctl -o short-monotonic', () => {
    const body = 'P: IN=lo OUT= SRC=127.0.0.1 DST=127.0.0.1 LEN=20 TOS=0x00 PREC=0x00 TTL=64 ID=1 PROTO=253 ';
    expect(parseLogLine(`<4>[  100.000001] ${body}`)).toMatchObject({ level: 4, kernelTime: 100.000001,
      prefix: 'P: ' });
    expect(parseLogLine(`[Thu Jun 13 19:58:21 2024] ${body}`)).toMatchObject({ dmesgTime: 'Thu Jun 13 19:58:21 2024',
      prefix: 'P: ' });
    expect(parseLogLine(`2024-06-13T19:58:21.123456+02:00 host kernel: ${body}`)).toMatchObject({
      syslog: { time: '2024-06-13T19:58:21.123456+02:00', host: 'host', tag: 'kernel' },
      prefix: 'P: ',
    });
    expect(parseLogLine(`[ 1234.567890] host kernel: ${body}`)).toMatchObject({
      kernelTime: 1234.56789,
      syslog: { host: 'host', tag: 'kernel' },
      prefix: 'P: ',
    });
    expect(parseLogLine(`Jun 13 19:58:21 host kernel[0]: ${body}\r\n`)).toMatchObject({ syslog: { pid: 0 },
      message: body });
  });

  test('not a LOG line: no prefix, the words kept', () => {
    const r = parseLogLine('hello world');
    expect(r.prefix).toBeUndefined();
    expect(r.in).toBeUndefined();
    expect(r).toMatchObject({ message: 'hello world', unparsed: ['hello', 'world'], extra: [] });
    expect(parseLogLine('')).toMatchObject({ line: '', message: '', extra: [], unparsed: [] });
  });

  test.each([[undefined], [null], [42], [Buffer.from('IN=')], [{}]])('%p is refused with a TypeError naming the line',
    (v) => {
      expect(() => parseLogLine(v as never)).toThrow(TypeError);
      expect(() => parseLogLine(v as never)).toThrow(/line/);
    });
});

// ---- formatLogLine: arguments and paths the fixtures do not reach ------------------------------

const lo4 = cases.find((c) => c.packet.name === 'out-000')!.packet;
const fwd = cases.find((c) => c.fixture.scenario === 'bridge' && c.packet.name === 'ingress-000')!.packet;

describe('formatLogLine: arguments', () => {
  test.each([[undefined], [null], ['pkt'], [[]]])('packet %p is refused', (v) => {
    expect(() => formatLogLine(v as never)).toThrow(TypeError);
    expect(() => formatLogLine(v as never)).toThrow(/packet/);
  });

  test('a payload that is not bytes is refused', () => {
    expect(() => formatLogLine({ ...toPacket(lo4, ''), payload: 'abc' as never })).toThrow(/packet\.payload/);
  });

  test('unknown and non-boolean options are refused, naming them', () => {
    const p = toPacket(lo4, '');
    expect(() => formatLogLine(p, { tcpseq: true } as never)).toThrow(/unknown option 'tcpseq'/);
    expect(() => formatLogLine(p, { TCPSequence: true } as never)).toThrow(/did you mean 'tcpSequence'/);
    expect(() => formatLogLine(p, { uid: 1 } as never)).toThrow(/options\.uid must be a boolean/);
    expect(() => formatLogLine(p, 'all' as never)).toThrow(/options must be an object/);
  });

  test('all: true with one flag turned off', () => {
    const line = lo4.lines.find((l) => l.variant === 'all')!.text;
    const p = toPacket(lo4, '');
    expect(formatLogLine(p, { all: true })).toBe(line.slice(line.indexOf('IN=')));
    expect(formatLogLine(p, { all: true, uid: false })).not.toMatch(/UID=/);
  });

  test('a Uint8Array payload formats like the Buffer', () => {
    const p = toPacket(lo4, 'x ');
    expect(formatLogLine({ ...p, payload: new Uint8Array(p.payload!) as Buffer })).toBe(formatLogLine(p));
  });
});

describe('formatLogLine: cases the kernel capture does not reach', () => {
  test('no payload (copy mode meta): the header cannot be read', () => {
    const p = toPacket(lo4, 'm ');
    delete p.payload;
    expect(formatLogLine(p)).toBe('m IN= OUT=lo TRUNCATED');
  });

  test('an interface whose name was not resolved is written by index', () => {
    const p = toPacket(fwd, '');
    delete p.indev!.name;
    expect(formatLogLine(p)).toMatch(/^IN=#2 OUT= MAC=/);
  });

  test('macdecode with a VLAN tag (netdev/bridge) writes VPROTO/VID before MACPROTO', () => {
    const p = { ...toPacket(fwd, ''), vlan: { protocol: 0x8100, tci: 10, id: 10, priority: 0 } };
    expect(formatLogLine(p, { macDecode: true })).toMatch(
      / MACSRC=02:00:00:00:77:01 MACDST=02:00:00:00:77:02 VPROTO=8100 VID=10 MACPROTO=0800 SRC=/,
    );
  });

  test('macdecode on Ethernet without a usable link header writes nothing for it', () => {
    const p = toPacket(fwd, '');
    delete p.hwHeader;
    expect(formatLogLine(p, { macDecode: true })).toMatch(/^IN=vb1 OUT= SRC=/);
  });

  test('a socket seen at INPUT keeps its UID (early demux), at FORWARD it does not (another netns)', () => {
    const p = { ...toPacket(lo4, ''), uid: 7, gid: 8 };
    expect(formatLogLine({ ...p, hook: 1, hookName: 'INPUT' as const }, { uid: true })).toMatch(/ UID=7 GID=8 $/);
    expect(formatLogLine({ ...p, hook: 2, hookName: 'FORWARD' as const }, { uid: true })).not.toMatch(/UID=/);
    expect(formatLogLine({ ...p, hook: 0, hookName: undefined }, { uid: true })).not.toMatch(/UID=/);
  });

  test('a bridge frame that is neither IP nor ARP: common fields and MAC only', () => {
    const p: NflogPacket = {
      group: 1,
      family: 'bridge',
      hwProtocol: 0x88cc,
      prefix: 'lldp ',
      indev: { index: 4, name: 'br0' },
      physindev: { index: 2, name: 'vb1' },
      hwType: 1,
      hwHeader: Buffer.from('0180c200000e02000000770188cc', 'hex'),
      payload: Buffer.alloc(20),
    };
    expect(formatLogLine(p)).toBe('lldp IN=vb1 OUT= MAC=01:80:c2:00:00:0e:02:00:00:00:77:01:88:cc ');
  });

  test('an ARP packet of another hardware type stops after the opcode', () => {
    const p: NflogPacket = { group: 1, family: 'arp', prefix: '', payload: Buffer.from('0006080006040001', 'hex') };
    expect(formatLogLine(p)).toBe('IN= OUT= ARP HTYPE=6 PTYPE=0x0800 OPCODE=1');
  });
});

// ---- never throws ----------------------------------------------------------------------------

/** format -> parse: every token the formatter writes, the parser must understand. */
function roundTrip(p: NflogPacket, options: LogLineOptions): void {
  const text = formatLogLine(p, options);
  expect(text.startsWith(`${p.prefix ?? ''}IN=`)).toBe(true);
  const r = parseLogLine(text);
  expect(r.prefix).toBe(p.prefix ?? '');
  expect(r.unparsed, text).toEqual([]);
  expect(r.extra, text).toEqual([]);
}

describe('format and parse never throw, and agree, on cut, mutated and random packets', () => {
  test('every prefix of every fixture packet', () => {
    let n = 0;
    for (const c of cases) {
      const base = toPacket(c.packet, 'fz: ');
      const full = base.payload!;
      for (let len = 0; len < full.length; len++) {
        const p = { ...base, payload: full.subarray(0, len) };
        roundTrip(p, {});
        roundTrip(p, { all: true });
        n++;
      }
    }
    expect(n).toBeGreaterThan(10_000);
  });

  test('fixture packets with random bytes changed (seeded)', () => {
    const rnd = prng(0xc0ffee);
    const small = cases.filter((c) => c.packet.nflog.payload.length <= 400);
    for (let n = 0; n < 3000; n++) {
      const c = small[Math.floor(rnd() * small.length)]!;
      const p = toPacket(c.packet, 'mut ');
      const b = Buffer.from(p.payload!);
      for (let k = 0; k < 1 + Math.floor(rnd() * 4); k++) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
      roundTrip({ ...p, payload: b.subarray(0, rnd() < 0.3 ? Math.floor(rnd() * b.length) : b.length) }, {
        all: rnd() < 0.5,
      });
    }
  });

  test('random buffers under every family (seeded)', () => {
    const rnd = prng(7);
    const families: Pick<NflogPacket, 'family' | 'hwProtocol'>[] = [
      { family: 'ipv4' },
      { family: 'ipv6' },
      { family: 'bridge', hwProtocol: 0x0806 },
      { family: 'netdev', hwProtocol: 0x86dd },
      { family: 'arp' },
      // Not what the kernel sends, but what a packet made by hand may hold.
      { family: 'inet' as never },
      { family: 99 as never },
    ];
    for (let n = 0; n < 3000; n++) {
      const b = Buffer.alloc(Math.floor(rnd() * 120));
      for (let i = 0; i < b.length; i++) b[i] = Math.floor(rnd() * 256);
      const f = families[Math.floor(rnd() * families.length)]!;
      if (b.length > 0 && rnd() < 0.5) b[0] = f.family === 'ipv6' ? 0x60 : 0x45;
      if (f.family === 'arp' && b.length >= 6) {
        b.writeUInt32BE(0x00010800, 0);
        b[4] = 6;
        b[5] = 4;
      }
      const p: NflogPacket = { group: 0, ...f, prefix: 'r ', payload: b, indev: { index: 1, name: 'eth0' }, hwType: 1,
        hwHeader: Buffer.alloc(14), mark: n };
      roundTrip(p, { all: rnd() < 0.5 });
    }
  });

  test('random text never makes parseLogLine throw', () => {
    const rnd = prng(99);
    const words = [...new Set(allLines.slice(0, 200).flatMap((l) => l.split(' ')))];
    const chars = ' =[]()<>:.0123456789abcdefINOUTSRC\t\u00e9';
    for (let n = 0; n < 3000; n++) {
      let s = '';
      if (rnd() < 0.5) {
        const k = Math.floor(rnd() * 40);
        s = Array.from({ length: k }, () => words[Math.floor(rnd() * words.length)]).join(rnd() < 0.8 ? ' ' : '');
      } else {
        const k = Math.floor(rnd() * 80);
        for (let i = 0; i < k; i++) s += chars.charAt(Math.floor(rnd() * chars.length));
      }
      const r = parseLogLine(s);
      expect(r.line).toBe(s.replace(/\r?\n$/, ''));
    }
  });
});
