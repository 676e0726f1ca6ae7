import type { Status } from './status.js';

/** Address family of a flow. */
export type Family = 'ipv4' | 'ipv6';

/** Layer-4 protocols the library names; anything else is 'unknown' with its number. */
export type { ProtocolName } from '../core/protocols.js';

/** What every tuple has: the addresses and, with zones per direction, the tuple's zone. */
export interface TupleBase {
  src: string;
  dst: string;
  /** IP protocol number of this tuple. */
  protonum: number;
  /** Zone of this direction (CTA_TUPLE_ZONE), when the entry has per-direction zones. */
  zone?: number;
}

/** TCP, UDP, UDP-Lite, SCTP, DCCP. */
export interface PortTuple extends TupleBase {
  srcPort: number;
  dstPort: number;
}

/** ICMP and ICMPv6. */
export interface IcmpTuple extends TupleBase {
  type: number;
  code: number;
  id: number;
}

/** GRE (PPTP): the call ids the kernel tracks. */
export interface GreTuple extends TupleBase {
  srcKey: number;
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
  packets: number;
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

export interface TcpInfo {
  state: TcpState;
  /** The raw state number (as sent by the kernel). */
  stateNum: number;
  wscaleOriginal: number;
  wscaleReply: number;
  /** IP_CT_TCP_FLAG_* bits per direction, with the mask the kernel sent. */
  flagsOriginal: number;
  flagsReply: number;
  maskOriginal: number;
  maskReply: number;
}

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

export interface SctpInfo {
  state: SctpState;
  stateNum: number;
  vtagOriginal: number;
  vtagReply: number;
}

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

export interface DccpInfo {
  state: DccpState;
  stateNum: number;
  role: number;
  handshakeSeq: bigint;
}

/** TCP sequence number adjustment of one direction (NAT helpers that rewrite payloads). */
export interface SeqAdjust {
  correctionPos: number;
  offsetBefore: number;
  offsetAfter: number;
}

export interface Synproxy {
  isn: number;
  its: number;
  tsoff: number;
}

export type { StatusName } from './status.js';

/** NAT as seen from the tuples: where the reply tuple differs from the swapped original. */
export interface NatInfo {
  /** Source NAT: the address (and port) the original source was rewritten to. */
  src?: { address: string; port?: number };
  /** Destination NAT: the address (and port) the original destination was rewritten to. */
  dst?: { address: string; port?: number };
}

interface FlowBase {
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
  status: Status;
  /** Seconds left before the entry expires. */
  timeout?: number;
  mark?: number;
  secmark?: number;
  /** Reference count. */
  use?: number;
  /** The entry's zone (CTA_ZONE). */
  zone?: number;
  /** Set label bits (0-127), ascending. */
  labels?: number[];
  /** Packet and byte counters, when nf_conntrack_acct is on. */
  counters?: { original: Counters; reply: Counters };
  /** Start (and, for destroyed entries, stop) in nanoseconds since the epoch, when
   *  nf_conntrack_timestamp is on. */
  timestamp?: { start: bigint; stop?: bigint };
  /** Kernel time of the event (events only, on kernels that send it), nanoseconds. */
  eventTime?: bigint;
  helper?: string;
  secctx?: string;
  /** The tuple of the master flow, for flows created from an expectation. */
  master?: Tuple;
  seqAdjOriginal?: SeqAdjust;
  seqAdjReply?: SeqAdjust;
  synproxy?: Synproxy;
  /** Derived from the tuples; absent when neither address nor port was rewritten. */
  nat?: NatInfo;
}

export interface TcpFlow extends FlowBase {
  protocol: 'tcp';
  original: PortTuple;
  reply: PortTuple;
  tcp?: TcpInfo;
}
export interface UdpFlow extends FlowBase {
  protocol: 'udp' | 'udplite';
  original: PortTuple;
  reply: PortTuple;
}
export interface SctpFlow extends FlowBase {
  protocol: 'sctp';
  original: PortTuple;
  reply: PortTuple;
  sctp?: SctpInfo;
}
export interface DccpFlow extends FlowBase {
  protocol: 'dccp';
  original: PortTuple;
  reply: PortTuple;
  dccp?: DccpInfo;
}
export interface IcmpFlow extends FlowBase {
  protocol: 'icmp' | 'icmpv6';
  original: IcmpTuple;
  reply: IcmpTuple;
}
export interface GreFlow extends FlowBase {
  protocol: 'gre';
  original: GreTuple;
  reply: GreTuple;
}
export interface OtherFlow extends FlowBase {
  protocol: 'unknown';
  original: TupleBase;
  reply: TupleBase;
}

/** A conntrack entry, discriminated on `protocol`. */
export type Flow = TcpFlow | UdpFlow | SctpFlow | DccpFlow | IcmpFlow | GreFlow | OtherFlow;

/** Per-CPU conntrack statistics, named as `conntrack -S` prints them. */
export interface CpuStats {
  cpu: number;
  found: number;
  invalid: number;
  insert: number;
  insert_failed: number;
  drop: number;
  early_drop: number;
  error: number;
  search_restart: number;
  clash_resolve: number;
  chaintoolong: number;
  /** Counters newer than this library, by their kernel name or as stat_N. */
  [name: string]: number;
}
