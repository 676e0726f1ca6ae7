/**
 * formatLogLine (lib/nflog/logline-format.ts): which of the kernel's loggers writes a packet, and
 * the link-layer and ARP paths, on packets made by hand where the captured fixtures
 * (test/nflog/logline.unit.test.ts) have only one shape. The kernel's nf_log_syslog.c picks the
 * logger by the packet's family, and for bridge and netdev by the link-layer protocol; what the
 * payload looks like decides only where neither says (a family the kernel never logs under).
 */
import { describe, expect, test } from 'vitest';

import { formatLogLine } from '../../lib/nflog/logline-format.js';
import type { NflogPacket } from '../../lib/nflog/types.js';

/** IPv4 UDP 127.0.0.1:1234 -> 127.0.0.2:5678, no payload. */
const UDP4 = Buffer.from('4500001c00014000401100007f0000017f00000204d2162e00080000', 'hex');
const UDP4_TEXT =
  'SRC=127.0.0.1 DST=127.0.0.2 LEN=28 TOS=0x00 PREC=0x00 TTL=64 ID=1 DF PROTO=UDP SPT=1234 DPT=5678 LEN=8 ';
/** IPv6 UDP ::1:1234 -> ::2:5678, no payload. */
const UDP6 = Buffer.from(
  '6000000000081140' + '00000000000000000000000000000001' + '00000000000000000000000000000002' + '04d2162e00080000',
  'hex',
);
const UDP6_TEXT =
  'SRC=0000:0000:0000:0000:0000:0000:0000:0001 DST=0000:0000:0000:0000:0000:0000:0000:0002 LEN=48 TC=0 HOPLIMIT=64 FLOWLBL=0 PROTO=UDP SPT=1234 DPT=5678 LEN=8 ';
/** UDP6 read as IPv4: header length 0, the addresses from bytes 12-19, the fragment field 0x1140. */
const AS_IPV4 = 'SRC=0.0.0.0 DST=0.0.0.0 LEN=0 TOS=0x00 PREC=0x00 TTL=0 ID=8 FRAG:4416 PROTO=0 ';
const ETH = Buffer.from('02000000000202000000000108', 'hex');
/** An Ethernet header: 02:..:02 <- 02:..:01, EtherType 0x0800. */
const ETH_HDR = Buffer.concat([ETH, Buffer.from('00', 'hex')]);
const ETH_TEXT = 'MAC=02:00:00:00:00:02:02:00:00:00:00:01:08:00 ';

const pkt = (p: Partial<NflogPacket>): NflogPacket => ({ group: 1, family: 'ipv4', ...p });

describe('formatLogLine: the family picks the logger', () => {
  test.each([['ipv4'], [2]])("family %p with no header copied: the IPv4 logger's TRUNCATED", (family) => {
    expect(formatLogLine(pkt({ family: family as never, outdev: { index: 1, name: 'lo' } }))).toBe(
      'IN= OUT=lo TRUNCATED',
    );
  });

  test.each([['ipv6'], [10]])("family %p with no header copied: the IPv6 logger's TRUNCATED", (family) => {
    expect(formatLogLine(pkt({ family: family as never, outdev: { index: 1, name: 'lo' } }))).toBe(
      'IN= OUT=lo TRUNCATED',
    );
  });

  test.each([['arp'], [3]])("family %p with a header cut short: the ARP logger's TRUNCATED", (family) => {
    expect(formatLogLine(pkt({ family: family as never, payload: Buffer.from('0001', 'hex') }))).toBe(
      'IN= OUT= TRUNCATED',
    );
  });

  test('an IPv4 family packet is read as IPv4 even when its bytes look like IPv6', () => {
    expect(formatLogLine(pkt({ family: 'ipv4', outdev: { index: 1, name: 'lo' }, payload: UDP6 }))).toBe(
      `IN= OUT=lo ${AS_IPV4}`,
    );
  });

  test.each([['bridge'], [7], ['netdev'], [5]])(
    "family %p: the link-layer protocol decides, not the payload's version",
    (family) => {
      const base = pkt({ family: family as never, indev: { index: 2, name: 'vb1' }, hwType: 1, hwHeader: ETH_HDR });
      // LLDP over a payload that reads as IPv4: not an IP packet, common fields and MAC only.
      expect(formatLogLine({ ...base, hwProtocol: 0x88cc, payload: UDP4 })).toBe(`IN=vb1 OUT= ${ETH_TEXT}`);
      expect(formatLogLine({ ...base, hwProtocol: 0x0800, payload: UDP4 })).toBe(`IN=vb1 OUT= ${ETH_TEXT}${UDP4_TEXT}`);
      expect(formatLogLine({ ...base, hwProtocol: 0x86dd, payload: UDP6 })).toBe(`IN=vb1 OUT= ${ETH_TEXT}${UDP6_TEXT}`);
      // RARP is written by the ARP logger, as ARP is.
      expect(formatLogLine({ ...base, hwProtocol: 0x8035, payload: Buffer.from('0001', 'hex') })).toBe(
        'IN=vb1 OUT= TRUNCATED',
      );
      expect(formatLogLine({ ...base, hwProtocol: 0x0806, payload: Buffer.from('0001', 'hex') })).toBe(
        'IN=vb1 OUT= TRUNCATED',
      );
    },
  );

  test('a family the kernel never logs under: guessed from the link-layer protocol, else the version nibble', () => {
    const base = pkt({ family: 'inet' as never, outdev: { index: 1, name: 'lo' } });
    expect(formatLogLine({ ...base, payload: UDP4 })).toBe(`IN= OUT=lo ${UDP4_TEXT}`);
    expect(formatLogLine({ ...base, payload: UDP6 })).toBe(`IN= OUT=lo ${UDP6_TEXT}`);
    expect(formatLogLine({ ...base, hwProtocol: 0x0800, payload: UDP6 })).toBe(`IN= OUT=lo ${AS_IPV4}`);
    expect(formatLogLine({ ...base, payload: Buffer.from('00', 'hex') })).toBe('IN= OUT=lo MAC= ');
    expect(formatLogLine({ ...base, family: 1 as never, payload: UDP4 })).toBe(`IN= OUT=lo ${UDP4_TEXT}`);
  });
});

describe('formatLogLine: interfaces and the link layer', () => {
  test('bridge: IN= is the port; MAC= only for a packet that came in (a port or the bridge)', () => {
    const base = pkt({ family: 'bridge', hwProtocol: 0x0800, hwType: 1, hwHeader: ETH_HDR, payload: UDP4 });
    expect(formatLogLine({ ...base, physindev: { index: 2, name: 'vb1' } })).toBe(
      `IN=vb1 OUT= ${ETH_TEXT}${UDP4_TEXT}`,
    );
    expect(formatLogLine({ ...base, indev: { index: 4, name: 'br0' } })).toBe(`IN=br0 OUT= ${ETH_TEXT}${UDP4_TEXT}`);
    const both = { indev: { index: 4, name: 'br0' }, physindev: { index: 2, name: 'vb1' } };
    expect(formatLogLine({ ...base, ...both })).toBe(`IN=vb1 OUT= ${ETH_TEXT}${UDP4_TEXT}`);
    expect(formatLogLine({ ...base, ...both, family: 7 as never })).toBe(`IN=vb1 OUT= ${ETH_TEXT}${UDP4_TEXT}`);
    expect(formatLogLine({ ...base, outdev: { index: 4, name: 'br0' }, physoutdev: { index: 3, name: 'vb2' } })).toBe(
      `IN= OUT=vb2 ${UDP4_TEXT}`,
    );
  });

  test('IP families: PHYSIN=/PHYSOUT= only for a bridge port other than IN=/OUT=', () => {
    const base = pkt({ hwType: 1, hwHeader: ETH_HDR, payload: UDP4 });
    const line = formatLogLine({
      ...base,
      indev: { index: 4, name: 'br0' },
      outdev: { index: 5, name: 'eth0' },
      physindev: { index: 2, name: 'vb1' },
      physoutdev: { index: 5, name: 'eth0' },
    });
    expect(line).toBe(`IN=br0 OUT=eth0 PHYSIN=vb1 ${ETH_TEXT}${UDP4_TEXT}`);
    const same = formatLogLine({ ...base, indev: { index: 2, name: 'vb1' }, physindev: { index: 2, name: 'vb1' } });
    expect(same).toBe(`IN=vb1 OUT= ${ETH_TEXT}${UDP4_TEXT}`);
    const out = formatLogLine({ ...base, outdev: { index: 4, name: 'br0' }, physoutdev: { index: 3, name: 'vb2' } });
    expect(out).toBe(`IN= OUT=br0 PHYSOUT=vb2 ${UDP4_TEXT}`);
  });

  test('macDecode on an Ethernet header cut short writes nothing for the link layer', () => {
    const p = pkt({ indev: { index: 2, name: 'vb1' }, hwType: 1, hwHeader: ETH.subarray(0, 6), payload: UDP4 });
    expect(formatLogLine(p, { macDecode: true })).toBe(`IN=vb1 OUT= ${UDP4_TEXT}`);
    // Without macDecode the bytes there are are written as they are.
    expect(formatLogLine(p)).toBe(`IN=vb1 OUT= MAC=02:00:00:00:00:02 ${UDP4_TEXT}`);
  });

  test('macDecode on a link layer that is not Ethernet: MAC= as without it', () => {
    const p = pkt({ indev: { index: 2, name: 'ppp0' }, hwType: 512, hwHeader: ETH_HDR, payload: UDP4 });
    expect(formatLogLine(p, { macDecode: true })).toBe(`IN=ppp0 OUT= ${ETH_TEXT}${UDP4_TEXT}`);
  });

  test("a SIT tunnel: MAC= then TUNNEL= with the outer IPv4 header's addresses", () => {
    const outer = Buffer.from('4500003400000000402900000a0000010a000002', 'hex');
    const hw = Buffer.concat([ETH_HDR, outer]);
    const p = pkt({ family: 'ipv6', indev: { index: 7, name: 'sit1' }, hwType: 776, hwHeader: hw, payload: UDP6 });
    const mac = [...hw].map((b) => b.toString(16).padStart(2, '0')).join(':');
    expect(formatLogLine(p)).toBe(`IN=sit1 OUT= MAC=${mac} TUNNEL=10.0.0.1->10.0.0.2 ${UDP6_TEXT}`);
    // The same header on another link type: no TUNNEL=; a SIT header too short for it: none either.
    expect(formatLogLine({ ...p, hwType: 1 })).toBe(`IN=sit1 OUT= MAC=${mac} ${UDP6_TEXT}`);
    const short = hw.subarray(0, 33);
    expect(formatLogLine({ ...p, hwHeader: short })).toBe(
      `IN=sit1 OUT= MAC=${[...short].map((b) => b.toString(16).padStart(2, '0')).join(':')} ${UDP6_TEXT}`,
    );
  });
});

describe('formatLogLine: ARP', () => {
  /** Ethernet/IPv4 request 02:..:01 10.0.0.1 -> 00:..:00 10.0.0.2. */
  const REQUEST = Buffer.from('0001080006040001020000000001' + '0a000001' + '000000000000' + '0a000002', 'hex');

  test('a whole Ethernet/IPv4 ARP packet', () => {
    expect(formatLogLine(pkt({ family: 'arp', payload: REQUEST }))).toBe(
      'IN= OUT= ARP HTYPE=1 PTYPE=0x0800 OPCODE=1 MACSRC=02:00:00:00:00:01 IPSRC=10.0.0.1 MACDST=00:00:00:00:00:00 IPDST=10.0.0.2',
    );
  });

  test('cut after the fixed header: INCOMPLETE with what is there', () => {
    expect(formatLogLine(pkt({ family: 'arp', payload: REQUEST.subarray(0, 20) }))).toBe(
      'IN= OUT= ARP HTYPE=1 PTYPE=0x0800 OPCODE=1 INCOMPLETE [12 bytes]',
    );
  });

  test("address lengths other than Ethernet's and IPv4's: stops after the opcode", () => {
    const hln = Buffer.from(REQUEST);
    hln[4] = 8;
    expect(formatLogLine(pkt({ family: 'arp', payload: hln }))).toBe('IN= OUT= ARP HTYPE=1 PTYPE=0x0800 OPCODE=1');
    const pln = Buffer.from(REQUEST);
    pln[5] = 16;
    expect(formatLogLine(pkt({ family: 'arp', payload: pln }))).toBe('IN= OUT= ARP HTYPE=1 PTYPE=0x0800 OPCODE=1');
  });

  test('macDecode: the Ethernet header decoded before ARP, only on Ethernet with a whole header', () => {
    const p = pkt({ family: 'arp', indev: { index: 2, name: 'eth0' }, hwType: 1, payload: REQUEST.subarray(0, 8) });
    expect(formatLogLine({ ...p, hwHeader: ETH_HDR }, { macDecode: true })).toBe(
      'IN=eth0 OUT= MACSRC=02:00:00:00:00:01 MACDST=02:00:00:00:00:02 MACPROTO=0800 ARP HTYPE=1 PTYPE=0x0800 OPCODE=1 INCOMPLETE [0 bytes]',
    );
    expect(formatLogLine({ ...p, hwHeader: ETH_HDR.subarray(0, 13) }, { macDecode: true })).toBe(
      'IN=eth0 OUT= ARP HTYPE=1 PTYPE=0x0800 OPCODE=1 INCOMPLETE [0 bytes]',
    );
    expect(formatLogLine({ ...p, hwType: 512, hwHeader: ETH_HDR }, { macDecode: true })).toBe(
      'IN=eth0 OUT= ARP HTYPE=1 PTYPE=0x0800 OPCODE=1 INCOMPLETE [0 bytes]',
    );
  });
});

describe('formatLogLine: options', () => {
  test('no options is none of the flags, as an empty object is', () => {
    const tcp = Buffer.from(
      '4600003800014000400600007f0000017f00000294040000' + '04d2162e00000001000000008002ffff00000000' +
        '020405b401010402' +
        '01030307',
      'hex',
    );
    const p = pkt({ outdev: { index: 1, name: 'lo' }, hook: 1, hookName: 'INPUT', uid: 5, gid: 6, hwType: 1,
      hwHeader: ETH_HDR, indev: { index: 1, name: 'lo' }, payload: tcp });
    const none = formatLogLine(p);
    expect(none).toBe(formatLogLine(p, {}));
    expect(none).not.toMatch(/ SEQ=| OPT \(|UID=|MACSRC=/);
    expect(formatLogLine(p, { all: true })).toMatch(
      /MACSRC=.* OPT \(94040000\) PROTO=TCP .* SEQ=1 ACK=0 .* OPT \(020405B40101040201030307\) UID=5 GID=6 $/,
    );
  });

  test('the errors name the function and the option', () => {
    const p = pkt({ payload: UDP4 });
    expect(() => formatLogLine(p, { nope: true } as never)).toThrow(/^formatLogLine options: unknown option 'nope'/);
    expect(() => formatLogLine(p, { all: 'yes' } as never)).toThrow(/^options\.all must be a boolean/);
  });
});
