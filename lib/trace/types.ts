// The shapes of TRACE: a hop (one rule a packet passed), a packet's whole trip, what to trace,
// and the options of Trace.open() and of its streams.
import type { NetnsOption } from '../core/netns.js';
import type { LiveStreamOptions } from '../core/stream.js';
import type { DecodedPacket } from '../packet/types.js';

export type TraceKind = 'rule' | 'return' | 'policy';

/** One hop: the packet passed a rule (or a chain's return or policy). */
export interface TraceEvent {
  source: 'legacy' | 'nftables';
  /** Which packet: the kernel's trace id (nftables), or one derived from the packet (legacy). */
  id: number;
  family: string;
  table: string;
  chain: string;
  kind: TraceKind;
  /** Legacy: the rule's position in its chain (1 = first). */
  rule?: number;
  /** nftables: the rule's handle. */
  handle?: number;
  /** accept, drop, continue, jump, goto, return, queue, stolen, repeat, break. */
  verdict?: string;
  /** The chain of a jump or goto. */
  target?: string;
  /** The rule as `nft -a list` / `iptables-save` prints it, when it could be resolved. */
  ruleText?: string;
  iif?: { index: number; name?: string };
  oif?: { index: number; name?: string };
  mark?: number;
  /** The packet's headers (the first hop of an nftables trace carries them; later hops inherit). */
  packet?: DecodedPacket;
  /** When it was received, ns since the epoch. */
  timestamp: bigint;
}

/** All hops of one packet, in order, and how its trip ended. */
export interface TracePacket {
  id: number;
  source: 'legacy' | 'nftables';
  family: string;
  hops: TraceEvent[];
  /** The last verdict seen: 'drop' ends a packet; otherwise what the last hop said. */
  verdict?: string;
  packet?: DecodedPacket;
  /** false when the packet went quiet (idle timeout) rather than ending in a drop. */
  dropped: boolean;
}

/** What to trace with a temporary `meta nftrace set 1` rule (see Trace.events). */
export interface TraceMatch {
  family?: 'ipv4' | 'ipv6';
  protocol?: 'tcp' | 'udp' | 'icmp' | 'icmpv6' | 'sctp';
  src?: string;
  dst?: string;
  /** Either port, source or destination. */
  port?: number;
  srcPort?: number;
  dstPort?: number;
}

export interface TraceOpenOptions {
  netns?: NetnsOption;
  /** Read nftables / iptables-nft traces (default true). */
  nftables?: boolean;
  /** Read legacy iptables TRACE through NFLOG group 0 (default true). */
  legacy?: boolean;
  /**
   * Point the ipv4/ipv6 nf_log backend of the namespace at nfnetlink_log, so legacy TRACE
   * reaches NFLOG, and put back what was there on close(). Needs `netns`: the library never
   * changes the caller's own namespace this way.
   */
  bindLogger?: boolean;
}

/**
 * Options of events() and packets(): what to trace, and the reader's buffers as for every live
 * stream (`bufferSize`, `maxBufferSize`, `maxQueueBytes`, `signal`; see LiveStreamOptions).
 */
export interface TraceStreamOptions extends LiveStreamOptions {
  /** Install a temporary trace rule for these packets; removed when the stream ends. */
  match?: TraceMatch;
  /** Look up rule texts (default true). */
  resolveRules?: boolean;
}
