import type { Status } from './status.js';

/** Address family of a flow. */
export type Family = 'ipv4' | 'ipv6';

/** Layer-4 protocols the library names; anything else is 'unknown' with its number. */
export type { ProtocolName } from '../core/protocols.js';

/** What every tuple has: the addresses and, with zones per direction, the tuple's zone. */
export interface TupleBase {
  /** The source address of this direction ('10.0.0.1', '2001:db8::1'). */
  src: string;
  /** The destination address of this direction. */
  dst: string;
  /** IP protocol number of this tuple. */
  protonum: number;
  /** Zone of this direction (CTA_TUPLE_ZONE), when the entry has per-direction zones. */
  zone?: number;
}

/** TCP, UDP, UDP-Lite, SCTP, DCCP. */
export interface PortTuple extends TupleBase {
  /** The source port of this direction. */
  srcPort: number;
  /** The destination port of this direction. */
  dstPort: number;
}

/** ICMP and ICMPv6. */
export interface IcmpTuple extends TupleBase {
  /** The ICMP type (8 echo request; the reply tuple holds 0, echo reply). */
  type: number;
  /** The ICMP code. */
  code: number;
  /** The echo identifier, which tells pings apart. */
  id: number;
}

/** GRE (PPTP): the call ids the kernel tracks. */
export interface GreTuple extends TupleBase {
  /** The source call id (GRE key). */
  srcKey: number;
  /** The destination call id (GRE key). */
  dstKey: number;
}

/** A tuple of any protocol (the master tuple of a related flow can be of any). */
export type Tuple = TupleBase | PortTuple | IcmpTuple | GreTuple;

/**
 * Packet and byte counters of one direction. The kernel keeps them as 64-bit numbers; a
 * `number` holds them exactly up to 2^53 (8 PiB of bytes in one direction of one flow), which
 * no flow reaches, so they are numbers, not bigints (timestamps, in nanoseconds since the epoch,
 * pass 2^53 and are bigints).
 */
export interface Counters {
  /** Packets seen. */
  packets: number;
  /** Bytes seen, IP headers included. */
  bytes: number;
}

/** TCP states as conntrack names them. */
export type TcpState =
  | 'NONE'
  | 'SYN_SENT'
  | 'SYN_RECV'
  | 'ESTABLISHED'
  | 'FIN_WAIT'
  | 'CLOSE_WAIT'
  | 'LAST_ACK'
  | 'TIME_WAIT'
  | 'CLOSE'
  | 'SYN_SENT2';

/** TCP tracking state of an entry (CTA_PROTOINFO_TCP). */
export interface TcpInfo {
  /** The connection's state, as conntrack prints it. */
  state: TcpState;
  /** The raw state number (as sent by the kernel). */
  stateNum: number;
  /** The window scale the initiator announced. */
  wscaleOriginal: number;
  /** The window scale the responder announced. */
  wscaleReply: number;
  /** IP_CT_TCP_FLAG_* bits of the original direction (window scale, SACK, ...). */
  flagsOriginal: number;
  /** IP_CT_TCP_FLAG_* bits of the reply direction. */
  flagsReply: number;
  /** Which bits of flagsOriginal the kernel sent. */
  maskOriginal: number;
  /** Which bits of flagsReply the kernel sent. */
  maskReply: number;
}

/** SCTP states as conntrack names them. */
export type SctpState =
  | 'NONE'
  | 'CLOSED'
  | 'COOKIE_WAIT'
  | 'COOKIE_ECHOED'
  | 'ESTABLISHED'
  | 'SHUTDOWN_SENT'
  | 'SHUTDOWN_RECD'
  | 'SHUTDOWN_ACK_SENT'
  | 'HEARTBEAT_SENT'
  | 'HEARTBEAT_ACKED';

/** SCTP tracking state of an entry (CTA_PROTOINFO_SCTP). */
export interface SctpInfo {
  /** The association's state, as conntrack prints it. */
  state: SctpState;
  /** The raw state number (as sent by the kernel). */
  stateNum: number;
  /** The verification tag of the original direction. */
  vtagOriginal: number;
  /** The verification tag of the reply direction. */
  vtagReply: number;
}

/** DCCP states as conntrack names them. */
export type DccpState =
  | 'NONE'
  | 'REQUEST'
  | 'RESPOND'
  | 'PARTOPEN'
  | 'OPEN'
  | 'CLOSEREQ'
  | 'CLOSING'
  | 'TIMEWAIT'
  | 'IGNORE'
  | 'INVALID';

/** DCCP tracking state of an entry (CTA_PROTOINFO_DCCP). */
export interface DccpInfo {
  /** The connection's state, as conntrack prints it. */
  state: DccpState;
  /** The raw state number (as sent by the kernel). */
  stateNum: number;
  /** The role of the original direction's sender (CT_DCCP_ROLE_*: 0 client, 1 server). */
  role: number;
  /** The sequence number of the handshake's last packet. */
  handshakeSeq: bigint;
}

/** TCP sequence number adjustment of one direction (NAT helpers that rewrite payloads). */
export interface SeqAdjust {
  /** The sequence number from which the adjustment applies. */
  correctionPos: number;
  /** The offset for sequence numbers before correctionPos. */
  offsetBefore: number;
  /** The offset for sequence numbers from correctionPos on. */
  offsetAfter: number;
}

/** SYNPROXY state of an entry: how the proxy shifted sequence numbers and timestamps. */
export interface Synproxy {
  /** The initial sequence number the proxy's SYN cookie used. */
  isn: number;
  /** The initial timestamp the proxy sent. */
  its: number;
  /** The offset applied to the TCP timestamps. */
  tsoff: number;
}

export type { StatusName } from './status.js';

/** NAT as seen from the tuples: where the reply tuple differs from the swapped original. */
export interface NatInfo {
  /** Source NAT: the address (and port) the original source was rewritten to. */
  src?: {
    /** The address the source was rewritten to. */
    address: string;
    /** The port it was rewritten to, when the port changed too. */
    port?: number;
  };
  /** Destination NAT: the address (and port) the original destination was rewritten to. */
  dst?: {
    /** The address the destination was rewritten to. */
    address: string;
    /** The port it was rewritten to, when the port changed too. */
    port?: number;
  };
}

interface FlowBase {
  /** 'ipv4' or 'ipv6'. */
  family: Family;
  /** IP protocol number. */
  protonum: number;
  /**
   * The entry's id (CTA_ID): a 32-bit hash the kernel computes from the entry (its address and
   * tuples, with a key chosen at boot), stable while the entry lives. It is not unique: in a
   * table of tens of thousands of entries two often share one, and a new entry may take a gone
   * one's. Key a map with flowKey(flow) (the original tuple and zone), not with the id. The
   * kernel checks it on a delete or update (ct.delete(flow) leaves alone an entry replaced
   * since), which is what it is for.
   */
  id?: number;
  /** The entry's status bits (ASSURED, SEEN_REPLY, ...): test them by name, print their names. */
  status: Status;
  /** Seconds left before the entry expires. */
  timeout?: number;
  /** The entry's mark (ct mark, CONNMARK). */
  mark?: number;
  /** The entry's security mark (SECMARK), when set. */
  secmark?: number;
  /** Reference count. */
  use?: number;
  /** The entry's zone (CTA_ZONE). */
  zone?: number;
  /** Set label bits (0-127), ascending. */
  labels?: number[];
  /** Packet and byte counters, when nf_conntrack_acct is on. */
  counters?: {
    /** From the initiator. */
    original: Counters;
    /** From the responder. */
    reply: Counters;
  };
  /** Start (and, for destroyed entries, stop) in nanoseconds since the epoch, when
   *  nf_conntrack_timestamp is on. */
  timestamp?: {
    /** When the entry was confirmed. */
    start: bigint;
    /** When it was destroyed (destroy events only). */
    stop?: bigint;
  };
  /** Kernel time of the event (events only, on kernels that send it), nanoseconds. */
  eventTime?: bigint;
  /** The helper attached to the entry ('ftp', 'sip'). */
  helper?: string;
  /** The SELinux security context of the entry. */
  secctx?: string;
  /** The tuple of the master flow, for flows created from an expectation. */
  master?: Tuple;
  /** The sequence number adjustment of the original direction. */
  seqAdjOriginal?: SeqAdjust;
  /** The sequence number adjustment of the reply direction. */
  seqAdjReply?: SeqAdjust;
  /** SYNPROXY state, for an entry a SYNPROXY rule set up. */
  synproxy?: Synproxy;
  /** Derived from the tuples; absent when neither address nor port was rewritten. */
  nat?: NatInfo;
}

/** A TCP entry. */
export interface TcpFlow extends FlowBase {
  /** The layer-4 protocol: what tells the variants of Flow apart. */
  protocol: 'tcp';
  /** The tuple of the initiator's packets. */
  original: PortTuple;
  /** The tuple of the responder's packets: the original swapped, unless NAT rewrote it. */
  reply: PortTuple;
  /** TCP tracking state (window scales, flags), when the kernel sent it. */
  tcp?: TcpInfo;
}

/** A UDP or UDP-Lite entry. */
export interface UdpFlow extends FlowBase {
  /** The layer-4 protocol: what tells the variants of Flow apart. */
  protocol: 'udp' | 'udplite';
  /** The tuple of the initiator's packets. */
  original: PortTuple;
  /** The tuple of the responder's packets: the original swapped, unless NAT rewrote it. */
  reply: PortTuple;
}

/** An SCTP entry. */
export interface SctpFlow extends FlowBase {
  /** The layer-4 protocol: what tells the variants of Flow apart. */
  protocol: 'sctp';
  /** The tuple of the initiator's packets. */
  original: PortTuple;
  /** The tuple of the responder's packets: the original swapped, unless NAT rewrote it. */
  reply: PortTuple;
  /** SCTP tracking state (state, verification tags), when the kernel sent it. */
  sctp?: SctpInfo;
}

/** A DCCP entry. */
export interface DccpFlow extends FlowBase {
  /** The layer-4 protocol: what tells the variants of Flow apart. */
  protocol: 'dccp';
  /** The tuple of the initiator's packets. */
  original: PortTuple;
  /** The tuple of the responder's packets: the original swapped, unless NAT rewrote it. */
  reply: PortTuple;
  /** DCCP tracking state, when the kernel sent it. */
  dccp?: DccpInfo;
}

/** An ICMP or ICMPv6 entry (echo, and the errors related to it). */
export interface IcmpFlow extends FlowBase {
  /** The layer-4 protocol: what tells the variants of Flow apart. */
  protocol: 'icmp' | 'icmpv6';
  /** The tuple of the initiator's packets. */
  original: IcmpTuple;
  /** The tuple of the responder's packets: the original swapped, unless NAT rewrote it. */
  reply: IcmpTuple;
}

/** A GRE entry (PPTP). */
export interface GreFlow extends FlowBase {
  /** The layer-4 protocol: what tells the variants of Flow apart. */
  protocol: 'gre';
  /** The tuple of the initiator's packets. */
  original: GreTuple;
  /** The tuple of the responder's packets: the original swapped, unless NAT rewrote it. */
  reply: GreTuple;
}

/** An entry of a protocol without a tracker of its own (`protonum` says which). */
export interface OtherFlow extends FlowBase {
  /** The layer-4 protocol: what tells the variants of Flow apart. */
  protocol: 'unknown';
  /** The tuple of the initiator's packets. */
  original: TupleBase;
  /** The tuple of the responder's packets: the original swapped, unless NAT rewrote it. */
  reply: TupleBase;
}

/** A conntrack entry, discriminated on `protocol`. */
export type Flow = TcpFlow | UdpFlow | SctpFlow | DccpFlow | IcmpFlow | GreFlow | OtherFlow;

/** Per-CPU conntrack statistics, named as `conntrack -S` prints them. */
export interface CpuStats {
  /** The CPU the counters are of. */
  cpu: number;
  /** Lookups that found an entry (0 on recent kernels, which stopped counting). */
  found: number;
  /** Packets that could not be tracked (malformed, or out of the window). */
  invalid: number;
  /** Entries inserted (0 on recent kernels). */
  insert: number;
  /** Entries that could not be inserted: a clash with an entry another CPU inserted first. */
  insert_failed: number;
  /** Packets dropped because a new entry could not be made (the table full, no early drop possible). */
  drop: number;
  /** Entries dropped to make room in a full table. */
  early_drop: number;
  /** Packets a protocol tracker's error check turned away (a bad checksum, an ICMP error for no entry). */
  error: number;
  /** Lookups restarted because the table was resized meanwhile. */
  search_restart: number;
  /** Insert clashes the kernel resolved (the packet used the existing entry). */
  clash_resolve: number;
  /** Inserts refused because a hash chain was too long (a sign of a hash flood). */
  chaintoolong: number;
  /** Counters newer than this library, by their kernel name or as stat_N. */
  [name: string]: number;
}
