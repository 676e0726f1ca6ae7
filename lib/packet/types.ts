// The shapes decodePacket() gives: each header it decodes, and the packet as a whole.

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
  /** Which of the two headers it is. */
  type: 'hop-by-hop' | 'destination';
  /** The protocol of the header that follows. */
  nextHeader: number;
  /** The option TLVs, undecoded (the bytes after the two fixed ones). */
  options: Buffer;
}

/** A Routing header (43). */
export interface Ipv6RoutingExtension extends Ipv6ExtensionBase {
  /** Tells this header from the other kinds. */
  type: 'routing';
  /** The protocol of the header that follows. */
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
  /** Tells this header from the other kinds. */
  type: 'fragment';
  /** The protocol of the header that follows (of the whole packet, once reassembled). */
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
  /** Tells this header from the other kinds. */
  type: 'ah';
  /** The protocol of the header that follows. */
  nextHeader: number;
  /** The decoded header. */
  ah: AhHeader;
}

/** An ESP header (50): the rest of the packet is encrypted, the walk ends here. */
export interface Ipv6EspExtension extends Ipv6ExtensionBase {
  /** Tells this header from the other kinds. */
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
  /** The source port. */
  srcPort: number;
  /** The destination port. */
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
  /** The source port. */
  srcPort: number;
  /** The destination port. */
  dstPort: number;
  /** The Length field: header and data, in bytes. */
  length: number;
  /** Checksum as found (0: none, for IPv4). */
  checksum: number;
}

/** A UDP-Lite header (RFC 3828). */
export interface UdpLiteHeader {
  /** The source port. */
  srcPort: number;
  /** The destination port. */
  dstPort: number;
  /** Checksum Coverage: how many bytes the checksum covers (0: the whole datagram). */
  checksumCoverage: number;
  /** The checksum as found (not verified). */
  checksum: number;
}

/** The SCTP common header (RFC 9260) and the type of the first chunk when present. */
export interface SctpHeader {
  /** The source port. */
  srcPort: number;
  /** The destination port. */
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
  /**
   * The ICMP type (0 echo reply, 3 destination unreachable, 8 echo request, 11 time exceeded,
   * ...).
   */
  type: number;
  /** The ICMP code, whose meaning depends on the type. */
  code: number;
  /** The checksum as found (not verified). */
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
  /**
   * The ICMPv6 type (1 destination unreachable, 2 packet too big, 128 echo request, 129 echo
   * reply, ...).
   */
  type: number;
  /** The ICMPv6 code, whose meaning depends on the type. */
  code: number;
  /** The checksum as found (not verified). */
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
  flags: {
    /** C: a checksum field is present. */
    checksum: boolean;
    /** R: routing present (deprecated). */
    routing: boolean;
    /** K: a key field is present. */
    key: boolean;
    /** S: a sequence number is present. */
    sequence: boolean;
    /** A: an acknowledgment number is present (PPTP's enhanced GRE). */
    ack: boolean;
  };
  /** Version: 0 for GRE, 1 for PPTP's enhanced GRE. */
  version: number;
  /** Protocol Type: the EtherType of the payload (0x0800 IPv4, 0x86dd IPv6, 0x880b PPP, ...). */
  protocol: number;
  /** The header's length with its optional fields, in bytes. */
  headerLength: number;
  /** The checksum field, present when the C flag is set. */
  checksumValue?: number;
  /** The key field (PPTP: payload length and call id), present when the K flag is set. */
  key?: number;
  /** The sequence number, present when the S flag is set. */
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

/**
 * A packet's family as netfilter names its hooks (NFPROTO_*): what NFLOG and TRACE report.
 * 'unknown' stands for a number this library has no name for.
 */
export type PacketFamily = 'ipv4' | 'ipv6' | 'arp' | 'bridge' | 'netdev' | 'unknown';

/**
 * A packet decoded from its network header on: an IPv4 or an IPv6 packet, told apart by
 * `family` (`switch (p.family)` narrows it: only an Ipv4Packet has `ipv4`, only an Ipv6Packet
 * `ipv6`). Every other field is present when the bytes held that header (see `truncated`,
 * `malformed`, `noTransport` for why one is missing).
 */
export type DecodedPacket = Ipv4Packet | Ipv6Packet;

/** An IPv4 packet (decodePacket(buf, 'ipv4')). */
export interface Ipv4Packet extends DecodedPacketBase {
  /** The family it was decoded as: tells an IPv4 packet from an IPv6 one. */
  family: 'ipv4';
  /** The IPv4 header (when at least 20 bytes were given). */
  ipv4?: Ipv4Header;
  /** Never set on an IPv4 packet: `p.ipv4 ?? p.ipv6` reads the IP header of either. */
  ipv6?: undefined;
}

/** An IPv6 packet (decodePacket(buf, 'ipv6')). */
export interface Ipv6Packet extends DecodedPacketBase {
  /** The family it was decoded as: tells an IPv6 packet from an IPv4 one. */
  family: 'ipv6';
  /** The IPv6 header and its extension headers (when at least 40 bytes were given). */
  ipv6?: Ipv6Header;
  /** Never set on an IPv6 packet: `p.ipv4 ?? p.ipv6` reads the IP header of either. */
  ipv4?: undefined;
}

/** What a decoded packet of either family may hold, past its IP header. */
export interface DecodedPacketBase {
  /** The number of bytes given. */
  length: number;
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
  /** The TCP header, when the transport is TCP. */
  tcp?: TcpHeader;
  /** The UDP header, when the transport is UDP. */
  udp?: UdpHeader;
  /** The UDP-Lite header, when the transport is UDP-Lite. */
  udplite?: UdpLiteHeader;
  /** The SCTP common header, when the transport is SCTP. */
  sctp?: SctpHeader;
  /** The ICMP header, for an IPv4 packet carrying ICMP. */
  icmp?: IcmpHeader;
  /** The ICMPv6 header, for an IPv6 packet carrying ICMPv6. */
  icmpv6?: Icmpv6Header;
  /** The GRE header, when the transport is GRE. */
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
  /** With `truncated`: the layer that was cut short. */
  truncatedLayer?: LayerName;
  /** The first inconsistency found (bad version, header length too small, ...). Decoding stops there. */
  malformed?: string;
}
