/**
 * The text the kernel's LOG target (`-j LOG`, nft `log` without `group`) writes for a packet,
 * rebuilt from the same packet received through NFLOG.
 *
 * The kernel's writer is net/netfilter/nf_log_syslog.c; this follows its walk, field order and
 * spacing: every field is written followed by one space, so a line normally ends in a space
 * (`... URGP=0 `), and the few paths that give up half-way end without one (`TRUNCATED`,
 * `OPT (TRUNCATED)`, an IPv6 `OPT ( ESP SPI=0x... )`, ARP lines). The result is the message as
 * dmesg shows it after the `[ seconds]` stamp and as syslog shows it after `kernel: `, without the
 * printk level.
 *
 * What NFLOG cannot tell (documented per option below): the length of a packet the group's copy
 * range cut short, whether the link-layer header pointer equals the network header, and the
 * socket's user namespace. With a full copy (the default) and names resolved for the
 * interfaces, the text is the kernel's, byte for byte (test/nflog/logline.unit.test.ts checks it
 * against lines the kernel wrote for the same packets).
 */

import {
  decodeIpv4Header,
  decodeTcpHeader,
  formatIpv4,
  formatIpv6Full,
  ICMP_MIN_LENGTH,
  u16,
  u32,
} from '../packet/headers.js';
import type { LogInterface, NflogPacket } from './types.js';
import { assertKnownKeys, assertObject, boolean, describeValue } from '../core/validate.js';

/**
 * Which optional parts to write, as the LOG target's flags select them. All default to false,
 * as for `-j LOG` and nft `log` without flags.
 */
export interface LogLineOptions {
  /** `SEQ=... ACK=...` of TCP (iptables `--log-tcp-sequence`, nft `flags tcp sequence`). */
  tcpSequence?: boolean;
  /** `OPT (...)` of TCP (iptables `--log-tcp-options`, nft `flags tcp options`). */
  tcpOptions?: boolean;
  /** `OPT (...)` of IPv4, the IPv6 extension headers in `OPT ( ... )` (iptables `--log-ip-options`, nft `flags ip options`). */
  ipOptions?: boolean;
  /** `UID=... GID=...` of the sending socket, from `packet.uid`/`gid` (iptables `--log-uid`, nft `flags skuid`). */
  uid?: boolean;
  /** `MACSRC=... MACDST=... MACPROTO=...` instead of `MAC=` on Ethernet (iptables `--log-macdecode`, nft `flags ether`). */
  macDecode?: boolean;
  /** All of the above (nft `flags all`); an explicit `false` for one of them still wins. */
  all?: boolean;
}

const OPTION_KEYS = ['tcpSequence', 'tcpOptions', 'ipOptions', 'uid', 'macDecode', 'all'] as const;

interface Flags {
  tcpSequence: boolean;
  tcpOptions: boolean;
  ipOptions: boolean;
  uid: boolean;
  macDecode: boolean;
}

const ARPHRD_ETHER = 1;
const ARPHRD_SIT = 776;
const ETH_P_IP = 0x0800;
const ETH_P_IPV6 = 0x86dd;
const ETH_P_ARP = 0x0806;
const ETH_P_RARP = 0x8035;

const hex2 = (v: number): string => v.toString(16).padStart(2, '0');
const HEX2 = (v: number): string => hex2(v).toUpperCase();
const hex4 = (v: number): string => v.toString(16).padStart(4, '0');

/** `%pM`: six bytes as lowercase colon-separated hex. */
function mac(b: Uint8Array, o: number): string {
  const parts: string[] = [];
  for (let i = 0; i < 6; i++) parts.push(hex2(b[o + i]!));
  return parts.join(':');
}

/** The option bytes as the kernel prints them: `%02X` each, no separator. */
function hexUpper(b: Uint8Array, o: number, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += HEX2(b[o + i]!);
  return s;
}

/** The text writer and the packet it describes. */
class Line {
  out = '';
  constructor(
    readonly buf: Buffer,
    readonly flags: Flags,
    readonly packet: NflogPacket,
  ) {}

  add(s: string): void {
    this.out += s;
  }

  /**
   * skb->len - offset: what the packet holds from `offset` on, as the kernel's unsigned
   * arithmetic has it (an offset past the end, after a header that claims more than is there,
   * wraps around: `INCOMPLETE [4294967278 bytes]` is real kernel output).
   */
  rest(offset: number): number {
    return (this.buf.length - offset) >>> 0;
  }

  has(offset: number, n: number): boolean {
    return offset >= 0 && this.buf.length - offset >= n;
  }
}

function ifname(dev: LogInterface | undefined): string {
  if (!dev) return '';
  return dev.name ?? `#${dev.index}`;
}

type Kind = 'ipv4' | 'ipv6' | 'arp' | 'other';

/** Which logger the kernel picks: by family, and for bridge/netdev by the link-layer protocol. */
function kindOf(packet: NflogPacket, buf: Buffer): Kind {
  const f = packet.family;
  if (f === 'ipv4' || f === 2) return 'ipv4';
  if (f === 'ipv6' || f === 10) return 'ipv6';
  if (f === 'arp' || f === 3) return 'arp';
  const byProto = (p: number | undefined): Kind | undefined => {
    if (p === ETH_P_IP) return 'ipv4';
    if (p === ETH_P_IPV6) return 'ipv6';
    if (p === ETH_P_ARP || p === ETH_P_RARP) return 'arp';
    return undefined;
  };
  if (f === 'bridge' || f === 7 || f === 'netdev' || f === 5) return byProto(packet.hwProtocol) ?? 'other';
  // 'inet' or an unknown number: the kernel never logs under those; guess as best we can.
  const guess = byProto(packet.hwProtocol);
  if (guess) return guess;
  const v = buf.length > 0 ? buf[0]! >> 4 : 0;
  return v === 4 ? 'ipv4' : v === 6 ? 'ipv6' : 'other';
}

function isBridge(packet: NflogPacket): boolean {
  return packet.family === 'bridge' || packet.family === 7;
}

function resolveFlags(options: LogLineOptions | undefined): Flags {
  if (options === undefined) {
    return { tcpSequence: false, tcpOptions: false, ipOptions: false, uid: false, macDecode: false };
  }
  assertObject(options, 'options');
  assertKnownKeys(options, OPTION_KEYS, 'formatLogLine options');
  const all = boolean(options.all, 'options.all') ?? false;
  const pick = (k: keyof Flags): boolean => boolean(options[k], `options.${k}`) ?? all;
  return {
    tcpSequence: pick('tcpSequence'),
    tcpOptions: pick('tcpOptions'),
    ipOptions: pick('ipOptions'),
    uid: pick('uid'),
    macDecode: pick('macDecode'),
  };
}

/**
 * The LOG target's line for a packet received through NFLOG.
 *
 * Uses `prefix`, `indev`/`outdev` (and `physindev`/`physoutdev`) names, `hwType` and `hwHeader`
 * (for `MAC=`), `mark`, `uid`/`gid` and the `payload` decoded from its network header. For the
 * bridge family, NFLOG reports the bridge as `indev` and the port as `physindev`, while the LOG
 * target names the port: `IN=` is then the port, as the kernel writes it.
 *
 * Limits: an interface without a `name` is written `#<index>`; a payload cut short by the NFLOG
 * copy range makes `INCOMPLETE [n bytes]` count what was copied, not the packet's length; a
 * packet without `payload` (copy mode 'meta') gives the line the kernel writes for an unreadable
 * header (`... TRUNCATED`).
 *
 * @throws TypeError for a packet that is not an object, a payload that is not a Buffer or
 *   Uint8Array, or an unknown or non-boolean option.
 *
 * @example
 * formatLogLine(pkt, { uid: true })
 * // 'nfct: IN= OUT=lo SRC=127.0.0.1 DST=127.0.0.1 LEN=84 TOS=0x00 PREC=0x00 TTL=64 ID=5 DF PROTO=ICMP TYPE=8 CODE=0 ID=7 SEQ=1 UID=0 GID=0 '
 */
export function formatLogLine(packet: NflogPacket, options?: LogLineOptions): string {
  assertObject(packet, 'packet');
  const flags = resolveFlags(options);
  const payload: unknown = packet.payload;
  let buf: Buffer;
  if (payload === undefined) buf = Buffer.alloc(0);
  else if (Buffer.isBuffer(payload)) buf = payload;
  else if (payload instanceof Uint8Array) buf = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  else throw new TypeError(`packet.payload must be a Buffer or Uint8Array, got ${describeValue(payload)}`);

  const m = new Line(buf, flags, packet);
  const kind = kindOf(packet, buf);

  // nf_log_dump_packet_common
  let inName: string;
  let outName: string;
  if (isBridge(packet)) {
    // NFLOG (PF_BRIDGE) sends the bridge as indev and the port as physindev; LOG names the port.
    inName = ifname(packet.physindev ?? packet.indev);
    outName = ifname(packet.physoutdev ?? packet.outdev);
  } else {
    inName = ifname(packet.indev);
    outName = ifname(packet.outdev);
  }
  const hasIn = isBridge(packet) ? packet.physindev !== undefined || packet.indev !== undefined : packet.indev !== undefined;
  m.add(`${packet.prefix ?? ''}IN=${inName} OUT=${outName} `);
  if (!isBridge(packet)) {
    if (packet.physindev && ifname(packet.physindev) !== inName) m.add(`PHYSIN=${ifname(packet.physindev)} `);
    if (packet.physoutdev && ifname(packet.physoutdev) !== outName) m.add(`PHYSOUT=${ifname(packet.physoutdev)} `);
  }

  switch (kind) {
    case 'ipv4':
      if (hasIn) dumpMac(m);
      dumpIpv4(m, 0);
      break;
    case 'ipv6':
      if (hasIn) dumpMac(m);
      dumpIpv6(m, 0, true);
      break;
    case 'arp':
      dumpArp(m);
      break;
    default:
      dumpMac(m);
  }
  return m.out;
}

/** dump_mac_header: `MAC=` with the link-layer header, or the decoded Ethernet header. */
function dumpMac(m: Line): void {
  const { packet, flags } = m;
  const hw = packet.hwHeader;
  if (flags.macDecode && packet.hwType === ARPHRD_ETHER) {
    if (!hw || hw.length < 14) return;
    m.add(`MACSRC=${mac(hw, 6)} MACDST=${mac(hw, 0)} `);
    dumpVlan(m);
    m.add(`MACPROTO=${hex4(u16(hw, 12))} `);
    return;
  }
  m.add('MAC=');
  if (hw && hw.length > 0) {
    const parts: string[] = [];
    for (const byte of hw) parts.push(hex2(byte));
    m.add(parts.join(':'));
    // SIT: the kernel hands over the 14 bytes before the outer IPv4 header, then names that
    // header's addresses. Untested here (this kernel has no SIT).
    if (packet.hwType === ARPHRD_SIT && hw.length >= 34) {
      m.add(` TUNNEL=${formatIpv4(hw, 26)}->${formatIpv4(hw, 30)}`);
    }
  }
  m.add(' ');
}

function dumpVlan(m: Line): void {
  const v = m.packet.vlan;
  if (v) m.add(`VPROTO=${hex4(v.protocol)} VID=${v.id} `);
}

/** nf_log_dump_tcp_header. True when the caller must stop (the kernel returns 1). */
function dumpTcp(m: Line, fragment: boolean, off: number): boolean {
  m.add('PROTO=TCP ');
  if (fragment) return false;
  const th = decodeTcpHeader(m.buf, off);
  if (!th) {
    m.add(`INCOMPLETE [${m.rest(off)} bytes] `);
    return true;
  }
  m.add(`SPT=${th.srcPort} DPT=${th.dstPort} `);
  if (m.flags.tcpSequence) m.add(`SEQ=${th.seq} ACK=${th.ack} `);
  m.add(`WINDOW=${th.window} `);
  // The reserved bits of the flag word (mask 0x0E000000 since the AE flag took the fourth),
  // shifted right by 22: the three bits appear as a multiple of 8.
  m.add(`RES=0x${hex2((th.reserved << 3) & 0xff)} `);
  for (const f of th.flags) m.add(`${f} `);
  m.add(`URGP=${th.urgentPointer} `);
  if (m.flags.tcpOptions && th.dataOffset * 4 > 20) {
    const optsize = th.dataOffset * 4 - 20;
    if (!m.has(off + 20, optsize)) {
      m.add('OPT (TRUNCATED)');
      return true;
    }
    m.add(`OPT (${hexUpper(m.buf, off + 20, optsize)}) `);
  }
  return false;
}

/** nf_log_dump_udp_header (UDP and UDP-Lite). True when the caller must stop. */
function dumpUdp(m: Line, proto: number, fragment: boolean, off: number): boolean {
  m.add(proto === 17 ? 'PROTO=UDP ' : 'PROTO=UDPLITE ');
  if (fragment) return false;
  if (!m.has(off, 8)) {
    m.add(`INCOMPLETE [${m.rest(off)} bytes] `);
    return true;
  }
  m.add(`SPT=${u16(m.buf, off)} DPT=${u16(m.buf, off + 2)} LEN=${u16(m.buf, off + 4)} `);
  return false;
}

/**
 * Whether the socket NFLOG reported belongs to another namespace, in which case the LOG target
 * leaves UID/GID out (it checks the socket's netns; NFLOG does not). NFLOG does not say which
 * namespace the socket is in; this goes by the hook: a packet that still carries its socket at
 * netdev ingress, prerouting or forward came through a veth from the sender's namespace (a
 * local sender's packets reach these hooks through loopback, which drops the socket).
 * Early demux attaches a local socket only after prerouting, so INPUT is not affected; a
 * tproxy or socket-assign rule at prerouting would be, and is the known miss.
 */
function socketElsewhere(packet: NflogPacket): boolean {
  const { hook, hookName } = packet;
  if (hookName === 'INGRESS' || hookName === 'PREROUTING' || hookName === 'FORWARD') return true;
  if (hookName !== undefined || hook === undefined) return false;
  if (packet.family === 'netdev' || packet.family === 5) return hook === 0;
  return hook === 0 || hook === 2;
}

/** UID/GID and MARK, written once, for the outer packet. */
function dumpTail(m: Line): void {
  const { packet, flags } = m;
  if (flags.uid && packet.uid !== undefined && packet.gid !== undefined && !socketElsewhere(packet)) {
    m.add(`UID=${packet.uid >>> 0} GID=${packet.gid >>> 0} `);
  }
  if (packet.mark) m.add(`MARK=0x${(packet.mark >>> 0).toString(16)} `);
}

/** dump_ipv4_packet. `iphoff` 0 is the packet itself; else the packet an ICMP error quotes. */
function dumpIpv4(m: Line, iphoff: number): void {
  const buf = m.buf;
  const ih = decodeIpv4Header(buf, iphoff);
  if (!ih) {
    m.add('TRUNCATED');
    return;
  }
  m.add(`SRC=${ih.src} DST=${ih.dst} `);
  // iph_totlen: a zero total length is a BIG TCP packet, whose length is the skb's.
  const len = ih.totalLength === 0 && ih.protocol === 6 && iphoff === 0 ? m.rest(iphoff) : ih.totalLength;
  m.add(`LEN=${len} TOS=0x${HEX2(ih.tos & 0x1e)} PREC=0x${HEX2(ih.tos & 0xe0)} TTL=${ih.ttl} ID=${ih.id} `);
  if (ih.flags.ce) m.add('CE ');
  if (ih.flags.df) m.add('DF ');
  if (ih.flags.mf) m.add('MF ');
  if (ih.fragmentOffset) m.add(`FRAG:${ih.fragmentOffset} `);

  if (m.flags.ipOptions && ih.ihl * 4 > 20) {
    const optsize = ih.ihl * 4 - 20;
    if (!m.has(iphoff + 20, optsize)) {
      m.add('TRUNCATED');
      return;
    }
    m.add(`OPT (${hexUpper(buf, iphoff + 20, optsize)}) `);
  }

  const fragment = ih.fragmentOffset !== 0;
  const l4 = iphoff + ih.ihl * 4;
  switch (ih.protocol) {
    case 6:
      if (dumpTcp(m, fragment, l4)) return;
      break;
    case 17:
    case 136:
      if (dumpUdp(m, ih.protocol, fragment, l4)) return;
      break;
    case 1: {
      m.add('PROTO=ICMP ');
      if (fragment) break;
      if (!m.has(l4, 8)) {
        m.add(`INCOMPLETE [${m.rest(l4)} bytes] `);
        break;
      }
      const type = buf[l4]!;
      const code = buf[l4 + 1]!;
      m.add(`TYPE=${type} CODE=${code} `);
      const required = ICMP_MIN_LENGTH[type];
      if (required !== undefined && m.rest(l4) < required) {
        m.add(`INCOMPLETE [${m.rest(l4)} bytes] `);
        break;
      }
      switch (type) {
        case 0:
        case 8:
          m.add(`ID=${u16(buf, l4 + 4)} SEQ=${u16(buf, l4 + 6)} `);
          break;
        case 12:
          m.add(`PARAMETER=${buf[l4 + 4]} `);
          break;
        case 5:
        case 3:
        case 4:
        case 11:
          if (type === 5) m.add(`GATEWAY=${formatIpv4(buf, l4 + 4)} `);
          if (iphoff === 0) {
            m.add('[');
            dumpIpv4(m, l4 + 8);
            m.add('] ');
          }
          if (type === 3 && code === 4) m.add(`MTU=${u16(buf, l4 + 6)} `);
          break;
      }
      break;
    }
    case 51:
      if (fragment) break;
      m.add('PROTO=AH ');
      if (!m.has(l4, 12)) {
        m.add(`INCOMPLETE [${m.rest(l4)} bytes] `);
        break;
      }
      m.add(`SPI=0x${u32(buf, l4 + 4).toString(16)} `);
      break;
    case 50:
      m.add('PROTO=ESP ');
      if (fragment) break;
      if (!m.has(l4, 8)) {
        m.add(`INCOMPLETE [${m.rest(l4)} bytes] `);
        break;
      }
      m.add(`SPI=0x${u32(buf, l4).toString(16)} `);
      break;
    default:
      m.add(`PROTO=${ih.protocol} `);
  }
  if (iphoff === 0) dumpTail(m);
}

/** dump_ipv6_packet. `recurse`: the packet itself, whose ICMPv6 error quote may be dumped. */
function dumpIpv6(m: Line, ip6hoff: number, recurse: boolean): void {
  const buf = m.buf;
  const ipopt = m.flags.ipOptions;
  if (!m.has(ip6hoff, 40)) {
    m.add('TRUNCATED');
    return;
  }
  m.add(`SRC=${formatIpv6Full(buf, ip6hoff + 8)} DST=${formatIpv6Full(buf, ip6hoff + 24)} `);
  const w = u32(buf, ip6hoff);
  let payloadLen = u16(buf, ip6hoff + 4);
  // ipv6_payload_len: BIG TCP packets carry 0; the kernel uses the skb's length then.
  if (payloadLen === 0 && recurse && buf[ip6hoff + 6] === 6) payloadLen = Math.max(0, m.rest(ip6hoff) - 40);
  m.add(`LEN=${payloadLen + 40} TC=${(w & 0x0ff00000) >>> 20} HOPLIMIT=${buf[ip6hoff + 7]} FLOWLBL=${w & 0xfffff} `);

  let fragment = false;
  let ptr = ip6hoff + 40;
  let cur = buf[ip6hoff + 6]!;
  // nf_ip6_ext_hdr, minus NONE which ends the walk.
  const isExt = (h: number): boolean => h === 0 || h === 43 || h === 44 || h === 50 || h === 51 || h === 60;
  while (isExt(cur)) {
    if (!m.has(ptr, 2)) {
      m.add('TRUNCATED');
      return;
    }
    const hpNext = buf[ptr]!;
    const hpLen = buf[ptr + 1]!;
    let hdrlen: number;
    if (ipopt) m.add('OPT ( ');
    switch (cur) {
      case 44: {
        m.add('FRAG:');
        if (!m.has(ptr, 8)) {
          m.add('TRUNCATED ');
          return;
        }
        const fo = u16(buf, ptr + 2);
        m.add(`${fo & 0xfff8} `);
        if (fo & 1) m.add('INCOMPLETE ');
        m.add(`ID:${u32(buf, ptr + 4).toString(16).padStart(8, '0')} `);
        if (fo & 0xfff8) fragment = true;
        hdrlen = 8;
        break;
      }
      case 60:
      case 43:
      case 0:
        if (fragment) {
          if (ipopt) m.add(')');
          return;
        }
        hdrlen = (hpLen + 1) << 3;
        break;
      case 51:
        if (ipopt) {
          m.add('AH ');
          if (fragment) {
            m.add(')');
            return;
          }
          if (!m.has(ptr, 12)) {
            m.add(`INCOMPLETE [${m.rest(ptr)} bytes] )`);
            return;
          }
          m.add(`SPI=0x${u32(buf, ptr + 4).toString(16)} `);
        }
        hdrlen = (hpLen + 2) << 2;
        break;
      default: // 50, ESP: the rest is encrypted
        if (ipopt) {
          m.add('ESP ');
          if (fragment) {
            m.add(')');
            return;
          }
          if (!m.has(ptr, 8)) {
            m.add(`INCOMPLETE [${m.rest(ptr)} bytes] )`);
            return;
          }
          m.add(`SPI=0x${u32(buf, ptr).toString(16)} )`);
        }
        return;
    }
    if (ipopt) m.add(') ');
    cur = hpNext;
    ptr += hdrlen;
  }

  switch (cur) {
    case 6:
      if (dumpTcp(m, fragment, ptr)) return;
      break;
    case 17:
    case 136:
      if (dumpUdp(m, cur, fragment, ptr)) return;
      break;
    case 58: {
      m.add('PROTO=ICMPv6 ');
      if (fragment) break;
      if (!m.has(ptr, 8)) {
        m.add(`INCOMPLETE [${m.rest(ptr)} bytes] `);
        return;
      }
      const type = buf[ptr]!;
      m.add(`TYPE=${type} CODE=${buf[ptr + 1]} `);
      switch (type) {
        case 128:
        case 129:
          m.add(`ID=${u16(buf, ptr + 4)} SEQ=${u16(buf, ptr + 6)} `);
          break;
        case 4:
        case 1:
        case 2:
        case 3:
          if (type === 4) m.add(`POINTER=${u32(buf, ptr + 4).toString(16).padStart(8, '0')} `);
          if (recurse) {
            m.add('[');
            dumpIpv6(m, ptr + 8, false);
            m.add('] ');
          }
          if (type === 2) m.add(`MTU=${u32(buf, ptr + 4)} `);
          break;
      }
      break;
    }
    default:
      m.add(`PROTO=${cur} `);
  }
  if (recurse) dumpTail(m);
}

/** dump_arp_packet. */
function dumpArp(m: Line): void {
  const buf = m.buf;
  if (!m.has(0, 8)) {
    m.add('TRUNCATED');
    return;
  }
  const { packet, flags } = m;
  const hw = packet.hwHeader;
  if (flags.macDecode && packet.hwType === ARPHRD_ETHER && hw && hw.length >= 14) {
    m.add(`MACSRC=${mac(hw, 6)} MACDST=${mac(hw, 0)} `);
    dumpVlan(m);
    m.add(`MACPROTO=${hex4(u16(hw, 12))} `);
  }
  const htype = u16(buf, 0);
  const ptype = u16(buf, 2);
  const hln = buf[4]!;
  const pln = buf[5]!;
  const op = u16(buf, 6);
  m.add(`ARP HTYPE=${htype} PTYPE=0x${hex4(ptype)} OPCODE=${op}`);
  if (htype !== 1 || hln !== 6 || pln !== 4) return;
  if (!m.has(8, 20)) {
    m.add(` INCOMPLETE [${m.rest(8)} bytes]`);
    return;
  }
  m.add(` MACSRC=${mac(buf, 8)} IPSRC=${formatIpv4(buf, 14)} MACDST=${mac(buf, 18)} IPDST=${formatIpv4(buf, 24)}`);
}
