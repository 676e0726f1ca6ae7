/**
 * formatLogLine on transport headers cut short, for the protocols the kernel capture
 * (test/fixtures/log/) has no cut packet of. nf_log_syslog.c dumps TCP, UDP and UDP-Lite ports
 * with the same steps: a header it cannot read is written `INCOMPLETE [n bytes] ` and ends the
 * line (nothing after it, not even UID or MARK). The oracle is the kernel's own line for the
 * captured TCP packet cut 10 bytes into its header: the same packet cut 4 bytes in (short of the
 * 8 bytes of a UDP header), with TCP, UDP or UDP-Lite as its protocol, must give that line with
 * the protocol's name and 4 bytes.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, test } from 'vitest';

import { formatLogLine } from '../../lib/nflog/logline-format.js';
import type { NflogPacket } from '../../lib/nflog/types.js';

interface Captured {
  name: string;
  crafted?: string;
  nflog: { payload: string; uid?: number; gid?: number };
  lines: { variant: string; text: string }[];
}
const loopback = JSON.parse(readFileSync(join(__dirname, '..', 'fixtures', 'log', 'loopback.json'), 'utf8')) as {
  packets: Captured[];
};

/** The kernel's line for a captured packet sent from this host (OUTPUT, out of lo), with UID. */
function captured(crafted: string): { payload: Buffer; uid: number; gid: number; text: string } {
  const p = loopback.packets.find((x) => x.crafted === crafted && x.name.startsWith('out-'))!;
  const line = p.lines.find((l) => l.variant === 'uid')!.text;
  return { payload: Buffer.from(p.nflog.payload, 'hex'), uid: p.nflog.uid!, gid: p.nflog.gid!,
    text: line.slice(line.indexOf('IN=')) };
}

function sent(payload: Buffer, family: 'ipv4' | 'ipv6', uid: number, gid: number): NflogPacket {
  return { group: 1, family, hook: 3, hookName: 'OUTPUT', outdev: { index: 1, name: 'lo' }, uid, gid, mark: 5,
    payload };
}

/** The captured packet cut `keep` bytes into its transport header, with `protocol` as its protocol. */
function recut(payload: Buffer, header: number, protocolAt: number, protocol: number, keep: number): Buffer {
  const cut = Buffer.from(payload.subarray(0, header + keep));
  cut[protocolAt] = protocol;
  return cut;
}

/** Where each captured cut packet keeps its transport header and its protocol number. */
const CUT = { ipv4: { crafted: 'tcp-header-cut', header: 20, protocolAt: 9 },
  ipv6: { crafted: 'ipv6-tcp-cut', header: 40, protocolAt: 6 } } as const;

describe('a transport header cut short ends the line', () => {
  const cases = (['ipv4', 'ipv6'] as const).flatMap((f) =>
    [[f, 17, 'UDP'], [f, 136, 'UDPLITE'], [f, 6, 'TCP']] as const
  );
  test.each(cases)('%s, protocol %i: PROTO=%s INCOMPLETE [4 bytes]', (family, protocol, name) => {
    const { crafted, header, protocolAt } = CUT[family];
    const tcp = captured(crafted);
    expect(tcp.text).toMatch(/ PROTO=TCP INCOMPLETE \[10 bytes\] $/);
    const packet = sent(recut(tcp.payload, header, protocolAt, protocol, 4), family, tcp.uid, tcp.gid);
    expect(formatLogLine(packet, { uid: true })).toBe(
      tcp.text.replace('PROTO=TCP', `PROTO=${name}`).replace('[10 bytes]', '[4 bytes]'),
    );
  });
});

/**
 * UID= and GID= follow the kernel's test of the socket's namespace, which NFLOG does not report:
 * a packet that still has its socket at prerouting, forward or netdev ingress came through a
 * veth from another namespace (test/nflog/logline-kinds.unit.test.ts has INPUT and FORWARD).
 * Without a hook name, the hook number says the same, by family: netdev numbers only ingress 0.
 */
describe('UID and GID by hook', () => {
  const udp = captured('tcp-header-cut');
  const base = { ...sent(recut(udp.payload, 20, 9, 17, 8), 'ipv4', 7, 8), mark: 0 };
  const line = (p: Partial<NflogPacket>): string => formatLogLine({ ...base, ...p }, { uid: true });

  test.each([['PREROUTING', 0], ['FORWARD', 2], ['INGRESS', 0]] as const)('%s (hook %i): left out',
    (hookName, hook) => {
      expect(line({ hookName, hook })).toMatch(/ LEN=0 $/);
    });

  test.each([['INPUT', 1], ['OUTPUT', 3], ['POSTROUTING', 4]] as const)('%s (hook %i): written', (hookName, hook) => {
    expect(line({ hookName, hook })).toMatch(/ LEN=0 UID=7 GID=8 $/);
  });

  test.each(
    [['ipv4', 0, false], ['ipv4', 2, false], ['ipv4', 1, true], ['netdev', 0, false], ['netdev', 2, true], [5, 0,
      false], [5, 2, true], ['bridge', 2, false]] as const,
  )(
    'no hook name, family %p, hook %i: written %s',
    (family, hook, written) => {
      const text = line({ family: family as NflogPacket['family'], hook, hookName: undefined, hwProtocol: 0x0800 });
      expect(text.endsWith(' UID=7 GID=8 ')).toBe(written);
    },
  );

  test("the hook's name decides over its number (a packet made by hand may hold both)", () => {
    expect(line({ hookName: 'INPUT', hook: 2 })).toMatch(/ UID=7 GID=8 $/);
    expect(line({ hookName: 'FORWARD', hook: 1 })).toMatch(/ LEN=0 $/);
  });

  test('no hook at all: written', () => {
    expect(line({ hook: undefined, hookName: undefined })).toMatch(/ UID=7 GID=8 $/);
  });
});

/**
 * At netdev egress the kernel's IPv4 logger finds the IP header after the link-layer header, which
 * is how it tells a quoted packet: the ICMP error's quote, UID, GID and MARK are left out (as
 * test/nflog/egress.test.ts shows on the kernel for a datagram). The kernel's line for the
 * captured "fragmentation needed" error from this host, quote and UID taken out, is the oracle.
 */
describe('IPv4 at netdev egress', () => {
  const frag = captured('icmp-frag-needed');
  const atEgress = (p: Partial<NflogPacket>): string =>
    formatLogLine({ ...sent(frag.payload, 'ipv4', frag.uid, frag.gid), family: 'netdev', hwProtocol: 0x0800,
      outdev: { index: 1, name: 'lo' }, ...p }, { uid: true });

  test.each(
    [[{ hook: 1, hookName: 'EGRESS' }], [{ hook: 1, hookName: undefined }], [{ hook: 1, hookName: undefined,
      family: 5 }]] as const,
  )('%o: no quote, UID or MARK', (p) => {
    expect(frag.text).toMatch(/ CODE=4 \[SRC=.*\] MTU=1400 UID=0 GID=0 $/);
    expect(atEgress(p as Partial<NflogPacket>)).toBe(frag.text.replace(/\[SRC=.*\] /, '').replace('UID=0 GID=0 ', ''));
  });

  test('the same packet under another hook name, and in the ipv4 family at hook 1: quote, UID and MARK', () => {
    expect(atEgress({ hook: 0, hookName: 'POSTROUTING' })).toBe(`${frag.text}MARK=0x5 `);
    expect(atEgress({ family: 'ipv4', hook: 1, hookName: undefined })).toBe(`${frag.text}MARK=0x5 `);
  });
});

describe('the hook name decides egress', () => {
  const frag = captured('icmp-frag-needed');
  const at = (hook: number, hookName: 'INGRESS' | 'EGRESS'): string =>
    formatLogLine({ ...sent(frag.payload, 'ipv4', frag.uid, frag.gid), family: 'netdev', hwProtocol: 0x0800, hook,
      hookName }, { uid: true });

  test("INGRESS at hook number 1: the quote and MARK (no UID: the socket is not this namespace's)", () => {
    expect(at(1, 'INGRESS')).toBe(`${frag.text.replace('UID=0 GID=0 ', '')}MARK=0x5 `);
  });

  test('EGRESS at hook number 0: neither', () => {
    expect(at(0, 'EGRESS')).toBe(frag.text.replace(/\[SRC=.*\] /, '').replace('UID=0 GID=0 ', ''));
  });
});

/**
 * A zero IPv4 total length (or IPv6 payload length) is written as it is, as the kernel writes it
 * for every packet that is not BIG TCP (a packet with that field 0 reaches the netdev ingress
 * and bridge hooks before IP checks it). A BIG TCP packet's length (over 64 KiB, the skb's) is
 * more than NFLOG copies, so it cannot be told: the field is written too. The kernel's line for
 * the captured TCP packet is the oracle: the same bytes with a zero length field give its line
 * with LEN=0 (IPv6: 40, the header alone). The IPv6 packet's TCP header is cut, which ends its
 * line before MARK.
 */
describe('a total length of 0', () => {
  test.each([
    ['IPv4', 'tcp-every-flag', 'ipv4', 2, 9, ' LEN=0 ', 'MARK=0x5 '],
    ['IPv6, TCP next', 'ipv6-tcp-cut', 'ipv6', 4, 6, ' LEN=40 ', ''],
  ] as const)('%s: the field as it is, the rest of the line as the kernel wrote it',
    (_, crafted, family, at, protocolAt, written, tail) => {
      const tcp = captured(crafted);
      const zero = Buffer.from(tcp.payload);
      zero.writeUInt16BE(0, at);
      expect(zero[protocolAt]).toBe(6);
      const len = ` LEN=${tcp.payload.length} `;
      expect(tcp.text).toContain(len);
      expect(formatLogLine(sent(zero, family, tcp.uid, tcp.gid), { uid: true })).toBe(
        `${tcp.text.replace(len, written)}${tail}`,
      );
    });

  test('quoted, with TCP as its protocol: LEN=0', () => {
    const frag = captured('icmp-frag-needed');
    const quoted = Buffer.from(frag.payload);
    quoted.writeUInt16BE(0, 28 + 2);
    quoted[28 + 9] = 6;
    expect(formatLogLine(sent(quoted, 'ipv4', frag.uid, frag.gid))).toMatch(/ \[SRC=\S+ DST=\S+ LEN=0 /);
  });
});

/** Cut or odd IPv4 headers, against the kernel's lines for the captured packets they come from. */
describe('IPv4 options and ICMP codes', () => {
  /** The kernel's line for a captured packet in one of its variants (OUTPUT, out of lo), from IN=. */
  const line = (crafted: string, variant: string): string => {
    const p = loopback.packets.find((x) => x.crafted === crafted && x.name.startsWith('out-'))!;
    const l = p.lines.find((x) => x.variant === variant)!.text;
    return l.slice(l.indexOf('IN='));
  };

  test('options cut short: TRUNCATED after the fixed header, and nothing after it', () => {
    const full = captured('ip-reserved-bit-options');
    const withOptions = line('ip-reserved-bit-options', 'ipopt');
    expect(withOptions).toContain(' CE OPT (01010100) PROTO=UDP ');
    const cut = full.payload.subarray(0, 22);
    expect(formatLogLine({ ...sent(cut, 'ipv4', 0, 0), mark: 0 }, { ipOptions: true })).toBe(
      `${withOptions.slice(0, withOptions.indexOf(' OPT ('))} TRUNCATED`,
    );
  });

  test('code 4 of another type than destination unreachable: no MTU', () => {
    const exceeded = captured('icmp-time-exceeded');
    const odd = Buffer.from(exceeded.payload);
    odd[20 + 1] = 4;
    const kernel = line('icmp-time-exceeded', 'default');
    expect(kernel).toContain(' TYPE=11 CODE=0 [');
    expect(formatLogLine({ ...sent(odd, 'ipv4', 0, 0), mark: 0 })).toBe(
      kernel.replace(' TYPE=11 CODE=0 [', ' TYPE=11 CODE=4 ['),
    );
  });
});

/**
 * The IPv6 fragment header, from the kernel's line for the captured first fragment (ID
 * 1234abcd): an ID with leading zero digits keeps all eight, and a header cut short ends the
 * line at `FRAG:TRUNCATED `, as dump_ipv6_packet returns there.
 */
describe('IPv6 fragment header', () => {
  const frag = captured('ipv6-fragment-first');

  test('an ID below 0x10000000: eight digits', () => {
    expect(frag.text).toContain(' FRAG:0 INCOMPLETE ID:1234abcd ');
    const low = Buffer.from(frag.payload);
    low.writeUInt32BE(0xabcd, 44);
    expect(formatLogLine(sent(low, 'ipv6', frag.uid, frag.gid), { uid: true })).toBe(
      `${frag.text.replace('ID:1234abcd', 'ID:0000abcd')}MARK=0x5 `,
    );
  });

  test('ICMPv6 in a fragment after the first: its name, then UID and GID (nothing of its header)', () => {
    const last = captured('ipv6-fragment-last');
    expect(last.text).toMatch(/ FRAG:1448 ID:1234abcd PROTO=UDP UID=0 GID=0 $/);
    const icmp = Buffer.from(last.payload);
    icmp[40] = 58;
    expect(formatLogLine(sent(icmp, 'ipv6', last.uid, last.gid), { uid: true })).toBe(
      `${last.text.replace('PROTO=UDP', 'PROTO=ICMPv6')}MARK=0x5 `,
    );
  });

  test('cut inside it: FRAG:TRUNCATED and nothing after', () => {
    const cut = frag.payload.subarray(0, 40 + 5);
    const head = frag.text.slice(0, frag.text.indexOf('FRAG:'));
    expect(formatLogLine(sent(cut, 'ipv6', frag.uid, frag.gid), { uid: true })).toBe(`${head}FRAG:TRUNCATED `);
    expect(formatLogLine(sent(cut, 'ipv6', frag.uid, frag.gid), { ipOptions: true })).toBe(
      `${head}OPT ( FRAG:TRUNCATED `,
    );
  });
});

/**
 * ICMPv6 types: only 1 to 4 (errors) quote the packet they answer. The kernel's line for the
 * captured "packet too big" (type 2) is the oracle: as type 0 (reserved) or 5, the same bytes
 * give its line without the quote and the MTU.
 */
describe('ICMPv6 types', () => {
  const big = captured('ipv6-too-big');

  test.each([0, 5])('type %i: no quote', (type) => {
    expect(big.text).toMatch(/ TYPE=2 CODE=0 \[SRC=.*\] MTU=1280 UID=0 GID=0 $/);
    const other = Buffer.from(big.payload);
    other[40] = type;
    expect(formatLogLine(sent(other, 'ipv6', big.uid, big.gid), { uid: true })).toBe(
      `${big.text.replace('TYPE=2', `TYPE=${type}`).replace(/\[SRC=.*\] MTU=1280 /, '')}MARK=0x5 `,
    );
  });
});
