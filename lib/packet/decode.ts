/**
 * Packet header decoding from the network header on: IPv4 and IPv6 (with the IPv6 extension
 * header chain), then TCP, UDP, UDP-Lite, SCTP, ICMP, ICMPv6, GRE, ESP and AH.
 *
 * What an NFLOG payload (or a pcap record from its network header) holds is decoded into plain
 * objects. Nothing here throws on packet bytes: a short buffer yields what could be decoded plus
 * `truncated: true` and the layer that was cut; a header that contradicts itself yields
 * `malformed` with the reason. Only a wrong argument type is refused (TypeError).
 *
 * Each layer also has its own decoder (`decodeIpv4Header`, `decodeTcpHeader`, ...) taking an
 * offset; those return `undefined` when the fixed part of the header does not fit. The LOG line
 * formatter (lib/nflog/logline-format.ts) uses them to follow the kernel's own walk byte for byte.
 */

import { describeValue } from '../core/validate.js';

// ---- types ---------------------------------------------------------------------------------

/** A layer of the packet, as named in {@link DecodedPacket.truncatedLayer}. */
export type LayerName =
  | 'ipv4'
  | 'ipv6'
  | 'ipv6-extension'
  | 'tcp'
  | 'udp'
  | 'udplite'
  | 'sctp'
  | 'icmp'
  | 'icmpv6'
  | 'gre'
  | 'esp'
  | 'ah'
  | 'payload';

/** The three flag bits of the IPv4 fragment word. */
export interface Ipv4Flags {
  /**
   * The reserved bit (0x8000). RFC 791 requires it to be zero; the kernel calls it `IP_CE` and
   * its LOG target prints `CE` when it is set.
   */
  ce: boolean;
  /** Don't Fragment (0x4000). */
  df: boolean;
  /** More Fragments (0x2000). */
  mf: boolean;
}

/** An IPv4 header (RFC 791). */
export interface Ipv4Header {
  /** The version field. 4 unless the packet is malformed. */
  version: number;
  /** Internet Header Length, in 32-bit words (5 to 15). */
  ihl: number;
  /** `ihl * 4`: the header's length in bytes, options included. */
  headerLength: number;
  /** The whole Type of Service byte (DSCP and ECN). */
  tos: number;
  /** The Differentiated Services code point (upper six bits of `tos`). */
  dscp: number;
  /** The ECN field (lower two bits of `tos`): 0 not-ECT, 1 ECT(1), 2 ECT(0), 3 CE. */
  ecn: number;
  /** The Total Length field: header and data, in bytes. */
  totalLength: number;
  /** The Identification field. */
  id: number;
  /** The flag bits: reserved (CE), DF, MF. */
  flags: Ipv4Flags;
  /** The Fragment Offset field, in units of 8 bytes (multiply by 8 for bytes). */
  fragmentOffset: number;
  /** Time To Live. */
  ttl: number;
  /** The Protocol field (6 TCP, 17 UDP, 1 ICMP, ...). */
  protocol: number;
  /** The Header Checksum as found (not verified). */
  checksum: number;
  /** Source address, dotted quad. */
  src: string;
  /** Destination address, dotted quad. */
  dst: string;
  /** The option bytes (between byte 20 and `headerLength`); empty when there are none. */
  options: Buffer;
}

/** The fields every IPv6 extension header shares. */
interface Ipv6ExtensionBase {
  /** The header's protocol number (0, 43, 44, 60, 51, 50). */
  protocol: number;
  /** Offset of the header from the start of the packet, in bytes. */
  offset: number;
  /** Length of the header in bytes (for ESP: the 8 bytes of SPI and sequence number). */
  length: number;
}

/** A Hop-by-Hop (0) or Destination Options (60) header. */
export interface Ipv6OptionsExtension extends Ipv6ExtensionBase {
  type: 'hop-by-hop' | 'destination';
  /** The protocol of the header that follows. */
  nextHeader: number;
  /** The option TLVs, undecoded (the bytes after the two fixed ones). */
  options: Buffer;
}

/** A Routing header (43). */
export interface Ipv6RoutingExtension extends Ipv6ExtensionBase {
  type: 'routing';
  nextHeader: number;
  /** Routing Type (0 deprecated source route, 2 Mobile IPv6, 3 RPL, 4 SRv6). */
  routingType: number;
  /** Segments Left. */
  segmentsLeft: number;
  /** The type-specific data (the bytes after the four fixed ones). */
  data: Buffer;
}

/** A Fragment header (44). */
export interface Ipv6FragmentExtension extends Ipv6ExtensionBase {
  type: 'fragment';
  nextHeader: number;
  /** Fragment offset in bytes (the 13-bit field times 8). */
  fragmentOffset: number;
  /** The M flag: more fragments follow. */
  more: boolean;
  /** The 32-bit Identification. */
  id: number;
}

/** An Authentication Header (51) met in the IPv6 chain. */
export interface Ipv6AhExtension extends Ipv6ExtensionBase {
  type: 'ah';
  nextHeader: number;
  /** The decoded header. */
  ah: AhHeader;
}

/** An ESP header (50): the rest of the packet is encrypted, the walk ends here. */
export interface Ipv6EspExtension extends Ipv6ExtensionBase {
  type: 'esp';
  /** The decoded SPI and sequence number. */
  esp: EspHeader;
}

/** One IPv6 extension header, in the order the chain holds them. */
export type Ipv6Extension =
  | Ipv6OptionsExtension
  | Ipv6RoutingExtension
  | Ipv6FragmentExtension
  | Ipv6AhExtension
  | Ipv6EspExtension;

/** An IPv6 header (RFC 8200) and the extension headers found after it. */
export interface Ipv6Header {
  /** The version field. 6 unless the packet is malformed. */
  version: number;
  /** The Traffic Class byte (DSCP and ECN). */
  trafficClass: number;
  /** The Differentiated Services code point (upper six bits of `trafficClass`). */
  dscp: number;
  /** The ECN field (lower two bits of `trafficClass`). */
  ecn: number;
  /** The 20-bit Flow Label. */
  flowLabel: number;
  /** The Payload Length field: bytes after the 40-byte header, extension headers included. */
  payloadLength: number;
  /** The Next Header field of the fixed header. */
  nextHeader: number;
  /** Hop Limit. */
  hopLimit: number;
  /** Source address in canonical RFC 5952 text (`2001:db8::1`). */
  src: string;
  /** Destination address in canonical RFC 5952 text. */
  dst: string;
  /** The extension headers walked, in order (empty when the next header is upper-layer). */
  extensions: Ipv6Extension[];
}

/** Fragmentation facts, for IPv4 (MF or an offset) and IPv6 (a Fragment header). */
export interface FragmentInfo {
  /** Offset of this fragment's data in the original packet, in bytes. */
  offset: number;
  /** More fragments follow (IPv4 MF, IPv6 M flag). */
  more: boolean;
  /** The datagram's identification (16 bits for IPv4, 32 for IPv6). */
  id: number;
  /** True for the first fragment (offset 0), the only one that carries the transport header. */
  first: boolean;
}

/** The TCP flag names, in the order of their bits from high to low (the LOG target's order). */
export type TcpFlagName = 'AE' | 'CWR' | 'ECE' | 'URG' | 'ACK' | 'PSH' | 'RST' | 'SYN' | 'FIN';

/** A TCP header (RFC 9293). */
export interface TcpHeader {
  srcPort: number;
  dstPort: number;
  /** Sequence number. */
  seq: number;
  /** Acknowledgment number (meaningful when ACK is set). */
  ack: number;
  /** Data Offset, in 32-bit words (5 to 15). */
  dataOffset: number;
  /** `dataOffset * 4`: the header's length in bytes, options included. */
  headerLength: number;
  /** The three reserved bits (between the data offset and the AE bit), as a number 0-7. */
  reserved: number;
  /** The names of the flags set, high bit first: `['SYN']`, `['ACK', 'PSH']`, ... */
  flags: TcpFlagName[];
  /** The nine flag bits as a number: AE 0x100, CWR 0x80, ECE 0x40, URG 0x20, ACK 0x10, PSH 0x08, RST 0x04, SYN 0x02, FIN 0x01. */
  flagBits: number;
  /** Window (unscaled). */
  window: number;
  /** Checksum as found (not verified). */
  checksum: number;
  /** Urgent pointer. */
  urgentPointer: number;
  /** The option bytes (after the fixed 20); empty when there are none or they were cut off. */
  options: Buffer;
}

/** A UDP header (RFC 768). */
export interface UdpHeader {
  srcPort: number;
  dstPort: number;
  /** The Length field: header and data, in bytes. */
  length: number;
  /** Checksum as found (0: none, for IPv4). */
  checksum: number;
}

/** A UDP-Lite header (RFC 3828). */
export interface UdpLiteHeader {
  srcPort: number;
  dstPort: number;
  /** Checksum Coverage: how many bytes the checksum covers (0: the whole datagram). */
  checksumCoverage: number;
  checksum: number;
}

/** The SCTP common header (RFC 9260) and the type of the first chunk when present. */
export interface SctpHeader {
  srcPort: number;
  dstPort: number;
  /** Verification Tag. */
  vtag: number;
  /** The CRC32c checksum as found (not verified). */
  checksum: number;
  /** Type of the first chunk (0 DATA, 1 INIT, 2 INIT ACK, ...), when the packet has one. */
  firstChunkType?: number;
}

/** An ICMP header (RFC 792) with the fields its type defines. */
export interface IcmpHeader {
  type: number;
  code: number;
  checksum: number;
  /** Identifier (echo 0/8, timestamp 13/14, information 15/16, address mask 17/18). */
  id?: number;
  /** Sequence number, with `id`. */
  seq?: number;
  /** The router to use instead (redirect, type 5). */
  gateway?: string;
  /** The byte at fault (parameter problem, type 12). */
  pointer?: number;
  /** Next-hop MTU (destination unreachable / fragmentation needed, type 3 code 4). */
  mtu?: number;
  /**
   * The packet that caused an error (types 3, 4, 5, 11, 12), decoded from its IP header on.
   * Usually cut short by design (the error quotes only the start), so often `truncated`.
   */
  original?: DecodedPacket;
}

/** An ICMPv6 header (RFC 4443) with the fields its type defines. */
export interface Icmpv6Header {
  type: number;
  code: number;
  checksum: number;
  /** Identifier (echo request 128, echo reply 129). */
  id?: number;
  /** Sequence number, with `id`. */
  seq?: number;
  /** MTU (packet too big, type 2). */
  mtu?: number;
  /** Offset of the byte at fault (parameter problem, type 4). */
  pointer?: number;
  /** The packet that caused an error (types 1 to 4), decoded from its IPv6 header on. */
  original?: DecodedPacket;
}

/** A GRE header (RFC 2784, with the RFC 2890 key and sequence, and PPTP's version 1). */
export interface GreHeader {
  /** The 16-bit flags and version word as found. */
  flagBits: number;
  /** The flags: C (checksum present), R (routing, obsolete), K (key present), S (sequence present), A (PPTP acknowledgment present). */
  flags: { checksum: boolean; routing: boolean; key: boolean; sequence: boolean; ack: boolean };
  /** Version: 0 for GRE, 1 for PPTP's enhanced GRE. */
  version: number;
  /** Protocol Type: the EtherType of the payload (0x0800 IPv4, 0x86dd IPv6, 0x880b PPP, ...). */
  protocol: number;
  /** The header's length with its optional fields, in bytes. */
  headerLength: number;
  checksumValue?: number;
  key?: number;
  sequence?: number;
  /** PPTP acknowledgment number. */
  ackNumber?: number;
}

/** An ESP header (RFC 4303): what is visible before the encrypted part. */
export interface EspHeader {
  /** Security Parameters Index. */
  spi: number;
  /** Sequence number (present when 8 bytes were available). */
  seq?: number;
}

/** An Authentication Header (RFC 4302). */
export interface AhHeader {
  /** The protocol of what the AH protects. */
  nextHeader: number;
  /** The header's length in bytes (`(payload length field + 2) * 4`). */
  headerLength: number;
  /** Security Parameters Index. */
  spi: number;
  /** Sequence number. */
  seq: number;
}

/** Why a packet that was not cut short has no decoded transport header. */
export type NoTransportReason =
  /** A fragment other than the first: the transport header is in the first one. */
  | 'fragment'
  /** ESP: what follows is encrypted. */
  | 'esp'
  /** IPv6 No Next Header (59). */
  | 'no-next-header'
  /** A protocol this decoder does not know (see `protocol`). */
  | 'unknown-protocol';

/** A packet decoded from its network header on. */
export interface DecodedPacket {
  /** The network protocol it was decoded as. */
  family: 'ipv4' | 'ipv6';
  /** The number of bytes given. */
  length: number;
  /** The IPv4 header (when `family` is 'ipv4' and at least 20 bytes were given). */
  ipv4?: Ipv4Header;
  /** The IPv6 header and its extension headers (when `family` is 'ipv6' and 40 bytes were given). */
  ipv6?: Ipv6Header;
  /**
   * The upper-layer protocol number: IPv4's Protocol, or for IPv6 the Next Header that ends the
   * extension chain. After an AH, the protocol AH protects; after ESP, 50.
   */
  protocol?: number;
  /** A short name for `protocol` ('TCP', 'UDP', 'ICMP', 'ICMPv6', ...), when it has one. */
  protocolName?: string;
  /** Set when the packet is a fragment (IPv4 MF or offset; IPv6 Fragment header). */
  fragment?: FragmentInfo;
  /** Why there is no transport header although the bytes were there. */
  noTransport?: NoTransportReason;
  /** Offset of the transport header from the start of the packet. */
  transportOffset?: number;
  tcp?: TcpHeader;
  udp?: UdpHeader;
  udplite?: UdpLiteHeader;
  sctp?: SctpHeader;
  icmp?: IcmpHeader;
  icmpv6?: Icmpv6Header;
  gre?: GreHeader;
  /** ESP (IPv4 protocol 50, or the end of an IPv6 chain). */
  esp?: EspHeader;
  /** AH (IPv4 protocol 51, or in the IPv6 chain; the last one when there are several). */
  ah?: AhHeader;
  /** Offset of the data after the last decoded header. */
  payloadOffset?: number;
  /** Bytes of data after the last decoded header that the buffer holds. */
  payloadLength?: number;
  /**
   * The buffer ended before the packet did. `truncatedLayer` says where: a header layer when a
   * header was cut, 'payload' when every header was there but the IP length says more data
   * followed (a capture cut by the NFLOG copy range, or the quote inside an ICMP error).
   */
  truncated?: true;
  truncatedLayer?: LayerName;
  /** The first inconsistency found (bad version, header length too small, ...). Decoding stops there. */
  malformed?: string;
}

// ---- constants -----------------------------------------------------------------------------

/** Protocol numbers used here. */
export const IPPROTO = {
  HOPOPTS: 0,
  ICMP: 1,
  TCP: 6,
  UDP: 17,
  ROUTING: 43,
  FRAGMENT: 44,
  GRE: 47,
  ESP: 50,
  AH: 51,
  ICMPV6: 58,
  NONE: 59,
  DSTOPTS: 60,
  SCTP: 132,
  UDPLITE: 136,
} as const;

const PROTOCOL_NAMES: Readonly<Record<number, string>> = {
  1: 'ICMP',
  2: 'IGMP',
  4: 'IPIP',
  6: 'TCP',
  17: 'UDP',
  41: 'IPv6',
  47: 'GRE',
  50: 'ESP',
  51: 'AH',
  58: 'ICMPv6',
  59: 'NONE',
  89: 'OSPF',
  103: 'PIM',
  112: 'VRRP',
  132: 'SCTP',
  136: 'UDPLITE',
};

/** A short name for an IP protocol number, or undefined. */
export function protocolName(protocol: number): string | undefined {
  return PROTOCOL_NAMES[protocol];
}

/** The length an ICMP message of these types cannot be shorter than (RFC 792, 950). */
const ICMP_MIN_LENGTH: Readonly<Record<number, number>> = {
  3: 28,
  4: 28,
  5: 28,
  11: 28,
  12: 28,
  13: 20,
  14: 20,
  17: 12,
  18: 12,
};

const TCP_FLAG_BITS: ReadonlyArray<readonly [TcpFlagName, number]> = [
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
  for (let i = 0; i < 8; ) {
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

// ---- byte access ---------------------------------------------------------------------------

function u16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}

function u32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

/** A copy of `len` bytes at `o` (clamped to the buffer). */
function copy(b: Buffer, o: number, len: number): Buffer {
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

/** The 8-byte UDP-Lite header at `offset`, or undefined. */
export function decodeUdpLiteHeader(buf: Buffer, offset: number): UdpLiteHeader | undefined {
  if (offset < 0 || buf.length - offset < 8) return undefined;
  return {
    srcPort: u16(buf, offset),
    dstPort: u16(buf, offset + 2),
    checksumCoverage: u16(buf, offset + 4),
    checksum: u16(buf, offset + 6),
  };
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

// ---- the whole packet ----------------------------------------------------------------------

/** Maps NFPROTO numbers and names to the two families decoded here. */
function familyOf(family: unknown): 'ipv4' | 'ipv6' | undefined {
  if (family === 'ipv4' || family === 2) return 'ipv4';
  if (family === 'ipv6' || family === 10) return 'ipv6';
  return undefined;
}

/** A Buffer view (no copy) of a Buffer or Uint8Array; undefined for anything else. */
function asBuffer(value: unknown): Buffer | undefined {
  if (Buffer.isBuffer(value)) return value;
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  return undefined;
}

function cut(p: DecodedPacket, layer: LayerName): DecodedPacket {
  p.truncated = true;
  p.truncatedLayer = layer;
  return p;
}

/**
 * Decodes a packet starting at its network header.
 *
 * @param buffer The bytes, from the IP header on (an NFLOG payload, a raw-socket read, the data
 *   of a pcap record of link type RAW). Not modified and not retained: option fields are copies.
 * @param family 'ipv4' or 'ipv6', or an NFPROTO number (2 IPv4, 10 IPv6).
 * @returns What could be decoded. Never throws on the bytes: a short buffer gives
 *   `truncated: true` with `truncatedLayer`, a self-contradicting header gives `malformed`.
 * @throws TypeError when `buffer` is not a Buffer/Uint8Array or `family` is not one of the above.
 *
 * @example
 * const p = decodePacket(nflogPacket.payload, 'ipv4');
 * if (p.tcp?.flags.includes('SYN')) console.log(p.ipv4?.src, p.tcp.srcPort);
 */
export function decodePacket(buffer: Buffer | Uint8Array, family: 'ipv4' | 'ipv6' | number): DecodedPacket {
  const buf = asBuffer(buffer);
  if (!buf) throw new TypeError(`buffer must be a Buffer or Uint8Array, got ${describeValue(buffer)}`);
  const fam = familyOf(family);
  if (!fam) {
    throw new TypeError(`family must be 'ipv4', 'ipv6', 2 (NFPROTO_IPV4) or 10 (NFPROTO_IPV6), got ${describeValue(family)}`);
  }
  return decodeAt(buf, fam, true);
}

/** `nested`: whether an ICMP error's quoted packet may be decoded (one level only). */
function decodeAt(buf: Buffer, family: 'ipv4' | 'ipv6', nested: boolean): DecodedPacket {
  return family === 'ipv4' ? decodeIpv4(buf, nested) : decodeIpv6(buf, nested);
}

function decodeIpv4(buf: Buffer, nested: boolean): DecodedPacket {
  const p: DecodedPacket = { family: 'ipv4', length: buf.length };
  const ip = decodeIpv4Header(buf, 0);
  if (!ip) return cut(p, 'ipv4');
  p.ipv4 = ip;
  if (ip.version !== 4) {
    p.malformed = `IPv4 version field is ${ip.version}`;
    return p;
  }
  if (ip.ihl < 5) {
    p.malformed = `IPv4 header length ${ip.ihl * 4} is less than 20`;
    return p;
  }
  if (ip.totalLength < ip.headerLength) {
    p.malformed = `IPv4 total length ${ip.totalLength} is less than the header length ${ip.headerLength}`;
    return p;
  }
  p.protocol = ip.protocol;
  const name = protocolName(ip.protocol);
  if (name) p.protocolName = name;
  if (ip.flags.mf || ip.fragmentOffset !== 0) {
    p.fragment = { offset: ip.fragmentOffset * 8, more: ip.flags.mf, id: ip.id, first: ip.fragmentOffset === 0 };
  }
  if (buf.length < ip.headerLength) return cut(p, 'ipv4');
  // The end of the packet: the IP length when the buffer holds it all, else the buffer's end.
  const end = Math.min(buf.length, ip.totalLength);
  const view = end < buf.length ? buf.subarray(0, end) : buf;
  if (ip.fragmentOffset !== 0) {
    p.noTransport = 'fragment';
    return finish(p, view, ip.headerLength, ip.totalLength);
  }
  return decodeTransport(p, view, ip.headerLength, ip.protocol, ip.totalLength, nested);
}

function decodeIpv6(buf: Buffer, nested: boolean): DecodedPacket {
  const p: DecodedPacket = { family: 'ipv6', length: buf.length };
  const ip = decodeIpv6Header(buf, 0);
  if (!ip) return cut(p, 'ipv6');
  p.ipv6 = ip;
  if (ip.version !== 6) {
    p.malformed = `IPv6 version field is ${ip.version}`;
    return p;
  }
  // A zero Payload Length with more bytes present is a jumbogram (RFC 2675) or a BIG TCP
  // packet as the kernel builds them: the buffer's end is then the only bound there is.
  const total = ip.payloadLength === 0 && buf.length > 40 ? buf.length : 40 + ip.payloadLength;
  const view = total < buf.length ? buf.subarray(0, total) : buf;
  let next = ip.nextHeader;
  let off = 40;
  let nonFirstFragment = false;
  // Bounded: every header is at least 8 bytes and the buffer is finite; the cap guards the rest.
  for (let hops = 0; hops < 64; hops++) {
    if (next === IPPROTO.HOPOPTS || next === IPPROTO.DSTOPTS || next === IPPROTO.ROUTING) {
      if (next === IPPROTO.HOPOPTS && hops !== 0) {
        p.malformed = `hop-by-hop options header at offset ${off} is not the first extension header`;
        return p;
      }
      if (view.length - off < 2) return setProto(cut(p, 'ipv6-extension'), next);
      const len = (view[off + 1]! + 1) * 8;
      if (view.length - off < len) return setProto(cut(p, 'ipv6-extension'), next);
      const nh = view[off]!;
      if (next === IPPROTO.ROUTING) {
        ip.extensions.push({
          type: 'routing',
          protocol: next,
          offset: off,
          length: len,
          nextHeader: nh,
          routingType: view[off + 2]!,
          segmentsLeft: view[off + 3]!,
          data: copy(view, off + 4, len - 4),
        });
      } else {
        ip.extensions.push({
          type: next === IPPROTO.HOPOPTS ? 'hop-by-hop' : 'destination',
          protocol: next,
          offset: off,
          length: len,
          nextHeader: nh,
          options: copy(view, off + 2, len - 2),
        });
      }
      next = nh;
      off += len;
    } else if (next === IPPROTO.FRAGMENT) {
      if (view.length - off < 8) return setProto(cut(p, 'ipv6-extension'), next);
      const fo = u16(view, off + 2);
      const f: Ipv6FragmentExtension = {
        type: 'fragment',
        protocol: next,
        offset: off,
        length: 8,
        nextHeader: view[off]!,
        fragmentOffset: fo & 0xfff8,
        more: (fo & 1) !== 0,
        id: u32(view, off + 4),
      };
      ip.extensions.push(f);
      p.fragment = { offset: f.fragmentOffset, more: f.more, id: f.id, first: f.fragmentOffset === 0 };
      next = f.nextHeader;
      off += 8;
      if (f.fragmentOffset !== 0) {
        nonFirstFragment = true;
        break;
      }
    } else if (next === IPPROTO.AH) {
      const ah = decodeAhHeader(view, off);
      if (!ah) return setProto(cut(p, 'ah'), next);
      ip.extensions.push({ type: 'ah', protocol: next, offset: off, length: ah.headerLength, nextHeader: ah.nextHeader, ah });
      p.ah = ah;
      if (ah.headerLength < 12) {
        p.malformed = `AH length ${ah.headerLength} is less than 12`;
        return setProto(p, next);
      }
      next = ah.nextHeader;
      off += ah.headerLength;
    } else {
      break;
    }
  }
  setProto(p, next);
  if (off > view.length) return cut(p, 'ipv6-extension');
  if (nonFirstFragment) {
    p.noTransport = 'fragment';
    return finish(p, view, off, total);
  }
  if (next === IPPROTO.NONE) {
    p.noTransport = 'no-next-header';
    return finish(p, view, off, total);
  }
  return decodeTransport(p, view, off, next, total, nested);
}

function setProto(p: DecodedPacket, protocol: number): DecodedPacket {
  p.protocol = protocol;
  const name = protocolName(protocol);
  if (name) p.protocolName = name;
  else delete p.protocolName;
  return p;
}

/** Records where the data starts and whether the IP length promised more than the buffer holds. */
function finish(p: DecodedPacket, view: Buffer, dataOffset: number, ipEnd: number): DecodedPacket {
  p.payloadOffset = Math.min(dataOffset, view.length);
  p.payloadLength = Math.max(0, view.length - dataOffset);
  if (view.length < ipEnd && !p.truncated) cut(p, 'payload');
  return p;
}

function decodeTransport(
  p: DecodedPacket,
  view: Buffer,
  off: number,
  protocol: number,
  ipEnd: number,
  nested: boolean,
): DecodedPacket {
  p.transportOffset = off;
  switch (protocol) {
    case IPPROTO.TCP: {
      const h = decodeTcpHeader(view, off);
      if (!h) return cut(p, 'tcp');
      p.tcp = h;
      if (h.dataOffset < 5) {
        p.malformed = `TCP data offset ${h.dataOffset} is less than 5`;
        return p;
      }
      if (view.length - off < h.headerLength) return cut(p, 'tcp');
      return finish(p, view, off + h.headerLength, ipEnd);
    }
    case IPPROTO.UDP: {
      const h = decodeUdpHeader(view, off);
      if (!h) return cut(p, 'udp');
      p.udp = h;
      if (h.length < 8 && !(h.length === 0 && p.family === 'ipv6')) {
        // IPv6 jumbograms carry 0 here; anything else under 8 cannot be.
        p.malformed = `UDP length ${h.length} is less than 8`;
      }
      return finish(p, view, off + 8, ipEnd);
    }
    case IPPROTO.UDPLITE: {
      const h = decodeUdpLiteHeader(view, off);
      if (!h) return cut(p, 'udplite');
      p.udplite = h;
      return finish(p, view, off + 8, ipEnd);
    }
    case IPPROTO.SCTP: {
      const h = decodeSctpHeader(view, off);
      if (!h) return cut(p, 'sctp');
      p.sctp = h;
      return finish(p, view, off + 12, ipEnd);
    }
    case IPPROTO.ICMP: {
      const h = decodeIcmpHeader(view, off);
      if (!h) return cut(p, 'icmp');
      p.icmp = h;
      const isError = h.type === 3 || h.type === 4 || h.type === 5 || h.type === 11 || h.type === 12;
      if (nested && isError && view.length > off + 8) {
        h.original = decodeAt(view.subarray(off + 8), 'ipv4', false);
      }
      // Shorter than its type's fixed part (an error must quote an IP header and 8 bytes).
      const min = ICMP_MIN_LENGTH[h.type];
      if (min !== undefined && view.length - off < min) {
        finish(p, view, off + 8, ipEnd);
        return cut(p, 'icmp');
      }
      return finish(p, view, off + 8, ipEnd);
    }
    case IPPROTO.ICMPV6: {
      const h = decodeIcmpv6Header(view, off);
      if (!h) return cut(p, 'icmpv6');
      p.icmpv6 = h;
      if (nested && h.type >= 1 && h.type <= 4 && view.length > off + 8) {
        h.original = decodeAt(view.subarray(off + 8), 'ipv6', false);
      }
      return finish(p, view, off + 8, ipEnd);
    }
    case IPPROTO.GRE: {
      const h = decodeGreHeader(view, off);
      if (!h) return cut(p, 'gre');
      p.gre = h;
      return finish(p, view, off + h.headerLength, ipEnd);
    }
    case IPPROTO.ESP: {
      const h = decodeEspHeader(view, off);
      if (!h) return cut(p, 'esp');
      p.esp = h;
      p.noTransport = 'esp';
      if (p.ipv6) {
        p.ipv6.extensions.push({ type: 'esp', protocol: IPPROTO.ESP, offset: off, length: 8, esp: h });
      }
      return finish(p, view, Math.min(off + 8, view.length), ipEnd);
    }
    case IPPROTO.AH: {
      // IPv4 only: IPv6 walks AH as an extension header. Decode it, then what it protects.
      const h = decodeAhHeader(view, off);
      if (!h) return cut(p, 'ah');
      p.ah = h;
      if (h.headerLength < 12) {
        p.malformed = `AH length ${h.headerLength} is less than 12`;
        return p;
      }
      if (view.length < off + h.headerLength) return cut(p, 'ah');
      setProto(p, h.nextHeader);
      if (h.nextHeader === IPPROTO.AH) {
        // AH over AH: report it as is rather than recurse.
        p.noTransport = 'unknown-protocol';
        return finish(p, view, off + h.headerLength, ipEnd);
      }
      return decodeTransport(p, view, off + h.headerLength, h.nextHeader, ipEnd, nested);
    }
    default:
      p.noTransport = 'unknown-protocol';
      delete p.transportOffset;
      return finish(p, view, off, ipEnd);
  }
}
