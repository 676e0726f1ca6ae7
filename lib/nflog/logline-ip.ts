// The IPv4 and IPv6 parts of a LOG line, as the kernel's nf_log_syslog.c walks them: the IP
// header (and IPv4 options or the IPv6 extension headers), TCP, UDP, ICMP, ICMPv6, AH, ESP, the
// packet an ICMP error quotes, then UID/GID and MARK.
import { decodeIpv4Header, decodeTcpHeader, formatIpv4, formatIpv6Full, ICMP_MIN_LENGTH, u16,
  u32 } from '../packet/headers.js';
import { HEX2, hex2, hexUpper, type Line } from './logline-writer.js';
import type { NflogPacket } from './types.js';

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
  const family: unknown = packet.family; // numbers too: packets made by hand
  if (family === 'netdev' || family === 5) return hook === 0;
  return hook === 0 || hook === 2;
}

/**
 * Whether the packet was logged at netdev egress. There the kernel's IPv4 logger finds the IP
 * header after the link-layer header (its offset is not 0), which is how it tells the packet
 * an ICMP error quotes: it writes neither that quote nor UID, GID and MARK. The IPv6 logger
 * writes all of them.
 */
function atNetdevEgress(packet: NflogPacket): boolean {
  const { hook, hookName } = packet;
  if (hookName !== undefined) return hookName === 'EGRESS';
  const family: unknown = packet.family; // numbers too: packets made by hand
  return (family === 'netdev' || family === 5) && hook === 1;
}

/** TCP, UDP and UDP-Lite, as both IP versions write them. True when the caller must stop. */
function dumpPorts(m: Line, proto: number, fragment: boolean, off: number): boolean {
  return proto === 6 ? dumpTcp(m, fragment, off) : dumpUdp(m, proto, fragment, off);
}

/**
 * `PROTO=ICMP ` (or ICMPv6), and whether its 8-byte header can be read: not in a fragment, and
 * `INCOMPLETE [n bytes] ` when it is cut.
 */
function icmpHead(m: Line, name: string, fragment: boolean, off: number): boolean {
  m.add(`PROTO=${name} `);
  if (fragment) return false;
  if (m.has(off, 8)) return true;
  m.add(`INCOMPLETE [${m.rest(off)} bytes] `);
  return false;
}

/**
 * AH or ESP in the `OPT ( ... )` group of an IPv6 line: its name and SPI (AH: 12 bytes, the SPI
 * at 4; ESP: 8, the SPI first, and the group closes). False when the line ends here: in a
 * fragment, or with the header cut.
 */
function ipsecOption(m: Line, name: 'AH' | 'ESP', fragment: boolean, ptr: number): boolean {
  const ah = name === 'AH';
  m.add(`${name} `);
  if (fragment) {
    m.add(')');
    return false;
  }
  if (!m.has(ptr, ah ? 12 : 8)) {
    m.add(`INCOMPLETE [${m.rest(ptr)} bytes] )`);
    return false;
  }
  m.add(`SPI=0x${u32(m.buf, ah ? ptr + 4 : ptr).toString(16)} ${ah ? '' : ')'}`);
  return true;
}

/** The packet an ICMP error quotes, in brackets. */
function quote(m: Line, dump: () => void): void {
  m.add('[');
  dump();
  m.add('] ');
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
export function dumpIpv4(m: Line, iphoff: number): void {
  const buf = m.buf;
  // The kernel's test of the packet itself (iphoff 0 there), for the quote and the tail.
  const own = iphoff === 0 && !atNetdevEgress(m.packet);
  const ih = decodeIpv4Header(buf, iphoff);
  if (!ih) {
    m.add('TRUNCATED');
    return;
  }
  m.add(`SRC=${ih.src} DST=${ih.dst} `);
  // The total length field, as the kernel writes it (iph_totlen) for every packet but a BIG TCP
  // one: for that (a GSO packet over 64 KiB, its field 0) it writes the skb's length, which an
  // NFLOG copy (at most 65531 bytes) cannot tell; 0 is written.
  m.add(`LEN=${ih.totalLength} TOS=0x${HEX2(ih.tos & 0x1e)} PREC=0x${HEX2(ih.tos & 0xe0)} TTL=${ih.ttl} ID=${ih.id} `);
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
    case 17:
    case 136:
      if (dumpPorts(m, ih.protocol, fragment, l4)) return;
      break;
    case 1: {
      if (!icmpHead(m, 'ICMP', fragment, l4)) break;
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
          if (own) quote(m, () => dumpIpv4(m, l4 + 8));
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
  if (own) dumpTail(m);
}

/** dump_ipv6_packet. `recurse`: the packet itself, whose ICMPv6 error quote may be dumped. */
export function dumpIpv6(m: Line, ip6hoff: number, recurse: boolean): void {
  const buf = m.buf;
  const ipopt = m.flags.ipOptions;
  if (!m.has(ip6hoff, 40)) {
    m.add('TRUNCATED');
    return;
  }
  m.add(`SRC=${formatIpv6Full(buf, ip6hoff + 8)} DST=${formatIpv6Full(buf, ip6hoff + 24)} `);
  const w = u32(buf, ip6hoff);
  // The payload length field plus the header, as the kernel writes it, 0 included: a BIG TCP
  // packet (field 0, over 64 KiB) is longer than any NFLOG copy, so its length cannot be told.
  const len = u16(buf, ip6hoff + 4) + 40;
  m.add(`LEN=${len} TC=${(w & 0x0ff00000) >>> 20} HOPLIMIT=${buf[ip6hoff + 7]} FLOWLBL=${w & 0xfffff} `);

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
        if (ipopt && !ipsecOption(m, 'AH', fragment, ptr)) return;
        hdrlen = (hpLen + 2) << 2;
        break;
      default: // 50, ESP: the rest is encrypted
        if (ipopt) ipsecOption(m, 'ESP', fragment, ptr);
        return;
    }
    if (ipopt) m.add(') ');
    cur = hpNext;
    ptr += hdrlen;
  }

  switch (cur) {
    case 6:
    case 17:
    case 136:
      if (dumpPorts(m, cur, fragment, ptr)) return;
      break;
    case 58: {
      // A cut ICMPv6 header ends the line at once (the kernel returns before UID and MARK).
      if (!icmpHead(m, 'ICMPv6', fragment, ptr)) {
        if (fragment) break;
        return;
      }
      const type = buf[ptr]!;
      m.add(`TYPE=${type} CODE=${buf[ptr + 1]} `);
      if (type === 128 || type === 129) {
        // echo request, echo reply
        m.add(`ID=${u16(buf, ptr + 4)} SEQ=${u16(buf, ptr + 6)} `);
      } else if (type >= 1 && type <= 4) {
        // destination unreachable, packet too big, time exceeded, parameter problem
        if (type === 4) m.add(`POINTER=${u32(buf, ptr + 4).toString(16).padStart(8, '0')} `);
        if (recurse) quote(m, () => dumpIpv6(m, ptr + 8, false));
        if (type === 2) m.add(`MTU=${u32(buf, ptr + 4)} `);
      }
      break;
    }
    default:
      m.add(`PROTO=${cur} `);
  }
  if (recurse) dumpTail(m);
}
