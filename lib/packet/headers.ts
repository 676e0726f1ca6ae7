// The decoder of each header, at an offset: IPv4, IPv6 (the fixed part), TCP, UDP, UDP-Lite,
// SCTP, ICMP, ICMPv6, GRE, ESP, AH. Each returns undefined when the fixed part of its header does
// not fit. decodePacket() walks a packet with them; the LOG line formatter
// (lib/nflog/logline-format.ts) uses them to follow the kernel's own walk byte for byte.
import type { AhHeader, EspHeader, GreHeader, IcmpHeader, Icmpv6Header, Ipv4Header, Ipv6Header, SctpHeader, TcpFlagName,
  TcpHeader, UdpHeader, UdpLiteHeader } from './types.js';

/**
 * The length an ICMP message of these types cannot be shorter than (RFC 792, 950): what the
 * kernel's LOG target wants whole before it decodes the type's fields.
 */
export const ICMP_MIN_LENGTH: Readonly<Record<number, number>> = {
  0: 4,
  3: 28,
  4: 28,
  5: 28,
  8: 4,
  11: 28,
  12: 28,
  13: 20,
  14: 20,
  17: 12,
  18: 12,
};

const TCP_FLAG_BITS: readonly (readonly [TcpFlagName, number])[] = [
  ['AE', 0x100],
  ['CWR', 0x80],
  ['ECE', 0x40],
  ['URG', 0x20],
  ['ACK', 0x10],
  ['PSH', 0x08],
  ['RST', 0x04],
  ['SYN', 0x02],
  ['FIN', 0x01],
];

// ---- addresses -----------------------------------------------------------------------------

/** Four bytes at `offset` as a dotted quad. The caller checks the bounds. */
export function formatIpv4(buf: Uint8Array, offset: number): string {
  return `${buf[offset]}.${buf[offset + 1]}.${buf[offset + 2]}.${buf[offset + 3]}`;
}

/**
 * Sixteen bytes at `offset` in the canonical text of RFC 5952: lowercase, no leading zeros, the
 * longest run of two or more zero groups (the first of equals) as `::`, and the IPv4-mapped
 * range as `::ffff:a.b.c.d`.
 */
export function formatIpv6(buf: Uint8Array, offset: number): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push((buf[offset + 2 * i]! << 8) | buf[offset + 2 * i + 1]!);
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    return `::ffff:${formatIpv4(buf, offset + 12)}`;
  }
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (a: number[]): string => a.map((v) => v.toString(16)).join(':');
  if (bestLen < 2) return hex(g);
  return `${hex(g.slice(0, bestStart))}::${hex(g.slice(bestStart + bestLen))}`;
}

/**
 * Sixteen bytes at `offset` in the kernel's `%pI6` form: eight groups of four hex digits, no
 * compression (`0000:0000:0000:0000:0000:0000:0000:0001`). This is what a LOG line shows.
 */
export function formatIpv6Full(buf: Uint8Array, offset: number): string {
  const parts: string[] = [];
  for (let i = 0; i < 8; i++) {
    parts.push(((buf[offset + 2 * i]! << 8) | buf[offset + 2 * i + 1]!).toString(16).padStart(4, '0'));
  }
  return parts.join(':');
}

/** The big-endian 16-bit word at `o`. The caller checks the bounds. */
export function u16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}

/** The big-endian 32-bit word at `o`. The caller checks the bounds. */
export function u32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

/** A copy of `len` bytes at `o` (clamped to the buffer). */
export function copy(b: Buffer, o: number, len: number): Buffer {
  const end = Math.min(b.length, o + len);
  return o >= end ? Buffer.alloc(0) : Buffer.from(b.subarray(o, end));
}

// ---- per-layer decoders --------------------------------------------------------------------

/**
 * The IPv4 header at `offset`: undefined when fewer than 20 bytes remain. `options` holds the
 * option bytes that are present (fewer than `headerLength - 20` when the buffer ends first).
 * No consistency check: the version and IHL are reported as found.
 */
export function decodeIpv4Header(buf: Buffer, offset = 0): Ipv4Header | undefined {
  if (offset < 0 || buf.length - offset < 20) return undefined;
  const b0 = buf[offset]!;
  const ihl = b0 & 0x0f;
  const tos = buf[offset + 1]!;
  const frag = u16(buf, offset + 6);
  const headerLength = ihl * 4;
  return {
    version: b0 >> 4,
    ihl,
    headerLength,
    tos,
    dscp: tos >> 2,
    ecn: tos & 3,
    totalLength: u16(buf, offset + 2),
    id: u16(buf, offset + 4),
    flags: { ce: (frag & 0x8000) !== 0, df: (frag & 0x4000) !== 0, mf: (frag & 0x2000) !== 0 },
    fragmentOffset: frag & 0x1fff,
    ttl: buf[offset + 8]!,
    protocol: buf[offset + 9]!,
    checksum: u16(buf, offset + 10),
    src: formatIpv4(buf, offset + 12),
    dst: formatIpv4(buf, offset + 16),
    options: headerLength > 20 ? copy(buf, offset + 20, headerLength - 20) : Buffer.alloc(0),
  };
}

/** The fixed 40-byte IPv6 header at `offset` (with `extensions` empty), or undefined. */
export function decodeIpv6Header(buf: Buffer, offset = 0): Ipv6Header | undefined {
  if (offset < 0 || buf.length - offset < 40) return undefined;
  const w = u32(buf, offset);
  const tc = (w >>> 20) & 0xff;
  return {
    version: w >>> 28,
    trafficClass: tc,
    dscp: tc >> 2,
    ecn: tc & 3,
    flowLabel: w & 0xfffff,
    payloadLength: u16(buf, offset + 4),
    nextHeader: buf[offset + 6]!,
    hopLimit: buf[offset + 7]!,
    src: formatIpv6(buf, offset + 8),
    dst: formatIpv6(buf, offset + 24),
    extensions: [],
  };
}

/**
 * The TCP header at `offset`, or undefined when its fixed 20 bytes do not fit. `options` holds
 * what is present of the `headerLength - 20` option bytes.
 */
export function decodeTcpHeader(buf: Buffer, offset: number): TcpHeader | undefined {
  if (offset < 0 || buf.length - offset < 20) return undefined;
  const word = u16(buf, offset + 12);
  const dataOffset = word >> 12;
  const flagBits = word & 0x1ff;
  const flags: TcpFlagName[] = [];
  for (const [name, bit] of TCP_FLAG_BITS) if (flagBits & bit) flags.push(name);
  const headerLength = dataOffset * 4;
  return {
    srcPort: u16(buf, offset),
    dstPort: u16(buf, offset + 2),
    seq: u32(buf, offset + 4),
    ack: u32(buf, offset + 8),
    dataOffset,
    headerLength,
    reserved: (word >> 9) & 7,
    flags,
    flagBits,
    window: u16(buf, offset + 14),
    checksum: u16(buf, offset + 16),
    urgentPointer: u16(buf, offset + 18),
    options: headerLength > 20 ? copy(buf, offset + 20, headerLength - 20) : Buffer.alloc(0),
  };
}

/** The 8-byte UDP header at `offset`, or undefined. */
export function decodeUdpHeader(buf: Buffer, offset: number): UdpHeader | undefined {
  if (offset < 0 || buf.length - offset < 8) return undefined;
  return {
    srcPort: u16(buf, offset),
    dstPort: u16(buf, offset + 2),
    length: u16(buf, offset + 4),
    checksum: u16(buf, offset + 6),
  };
}

/** The 8-byte UDP-Lite header at `offset`, or undefined: UDP's, its length field the checksum coverage. */
export function decodeUdpLiteHeader(buf: Buffer, offset: number): UdpLiteHeader | undefined {
  const udp = decodeUdpHeader(buf, offset);
  return udp && { srcPort: udp.srcPort, dstPort: udp.dstPort, checksumCoverage: udp.length, checksum: udp.checksum };
}

/** The 12-byte SCTP common header at `offset`, or undefined. */
export function decodeSctpHeader(buf: Buffer, offset: number): SctpHeader | undefined {
  if (offset < 0 || buf.length - offset < 12) return undefined;
  const h: SctpHeader = {
    srcPort: u16(buf, offset),
    dstPort: u16(buf, offset + 2),
    vtag: u32(buf, offset + 4),
    checksum: u32(buf, offset + 8),
  };
  if (buf.length - offset > 12) h.firstChunkType = buf[offset + 12]!;
  return h;
}

/**
 * The 8-byte ICMP header at `offset` with its type's fields, or undefined. `original` is left
 * out here; {@link decodePacket} fills it in.
 */
export function decodeIcmpHeader(buf: Buffer, offset: number): IcmpHeader | undefined {
  if (offset < 0 || buf.length - offset < 8) return undefined;
  const type = buf[offset]!;
  const code = buf[offset + 1]!;
  const h: IcmpHeader = { type, code, checksum: u16(buf, offset + 2) };
  switch (type) {
    case 0:
    case 8:
    case 13:
    case 14:
    case 15:
    case 16:
    case 17:
    case 18:
      h.id = u16(buf, offset + 4);
      h.seq = u16(buf, offset + 6);
      break;
    case 3:
      if (code === 4) h.mtu = u16(buf, offset + 6);
      break;
    case 5:
      h.gateway = formatIpv4(buf, offset + 4);
      break;
    case 12:
      h.pointer = buf[offset + 4]!;
      break;
  }
  return h;
}

/** The 8-byte ICMPv6 header at `offset` with its type's fields, or undefined. */
export function decodeIcmpv6Header(buf: Buffer, offset: number): Icmpv6Header | undefined {
  if (offset < 0 || buf.length - offset < 8) return undefined;
  const type = buf[offset]!;
  const h: Icmpv6Header = { type, code: buf[offset + 1]!, checksum: u16(buf, offset + 2) };
  if (type === 128 || type === 129) {
    h.id = u16(buf, offset + 4);
    h.seq = u16(buf, offset + 6);
  } else if (type === 2) {
    h.mtu = u32(buf, offset + 4);
  } else if (type === 4) {
    h.pointer = u32(buf, offset + 4);
  }
  return h;
}

/**
 * The GRE header at `offset` with the optional fields its flags announce, or undefined when the
 * 4 fixed bytes, or an announced optional field, do not fit.
 */
export function decodeGreHeader(buf: Buffer, offset: number): GreHeader | undefined {
  if (offset < 0 || buf.length - offset < 4) return undefined;
  const flagBits = u16(buf, offset);
  const flags = {
    checksum: (flagBits & 0x8000) !== 0,
    routing: (flagBits & 0x4000) !== 0,
    key: (flagBits & 0x2000) !== 0,
    sequence: (flagBits & 0x1000) !== 0,
    ack: (flagBits & 0x0080) !== 0,
  };
  const version = flagBits & 7;
  let len = 4;
  if (flags.checksum || flags.routing) len += 4;
  if (flags.key) len += 4;
  if (flags.sequence) len += 4;
  if (version === 1 && flags.ack) len += 4;
  if (buf.length - offset < len) return undefined;
  const h: GreHeader = { flagBits, flags, version, protocol: u16(buf, offset + 2), headerLength: len };
  let o = offset + 4;
  if (flags.checksum || flags.routing) {
    if (flags.checksum) h.checksumValue = u16(buf, o);
    o += 4;
  }
  if (flags.key) {
    h.key = u32(buf, o);
    o += 4;
  }
  if (flags.sequence) {
    h.sequence = u32(buf, o);
    o += 4;
  }
  if (version === 1 && flags.ack) h.ackNumber = u32(buf, o);
  return h;
}

/** The ESP SPI (and sequence number when 8 bytes remain) at `offset`, or undefined. */
export function decodeEspHeader(buf: Buffer, offset: number): EspHeader | undefined {
  if (offset < 0 || buf.length - offset < 4) return undefined;
  const h: EspHeader = { spi: u32(buf, offset) };
  if (buf.length - offset >= 8) h.seq = u32(buf, offset + 4);
  return h;
}

/** The 12 fixed bytes of an AH at `offset`, or undefined. */
export function decodeAhHeader(buf: Buffer, offset: number): AhHeader | undefined {
  if (offset < 0 || buf.length - offset < 12) return undefined;
  return {
    nextHeader: buf[offset]!,
    headerLength: (buf[offset + 1]! + 2) * 4,
    spi: u32(buf, offset + 4),
    seq: u32(buf, offset + 8),
  };
}
