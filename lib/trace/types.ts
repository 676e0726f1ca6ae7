// The shapes of TRACE: a hop (one rule a packet passed), a packet's whole trip, what to trace,
// and the options of Trace.open() and of its streams.
import type { NetnsOption } from '../core/netns.js';
import type { LiveStreamOptions } from '../core/stream.js';
import type { KernelLogPacket } from '../kmsg/types.js';
import type { LogInterface } from '../nflog/types.js';
import type { DecodedPacket } from '../packet/types.js';

/** What a hop is: a rule the packet matched, the end of a chain it returned from, or a chain's policy. */
export type TraceKind = 'rule' | 'return' | 'policy';

/**
 * Where a hop was read: nftables trace events, legacy TRACE through NFLOG group 0, or legacy
 * TRACE lines of the kernel log (/dev/kmsg or a file, see KernelLog).
 */
export type TraceSource = 'legacy' | 'nftables' | 'kmsg' | 'file';

/** One hop: the packet passed a rule (or a chain's return or policy). */
export interface TraceEvent {
  /** Where the hop came from: nftables' trace events, legacy iptables TRACE, or a kernel log. */
  source: TraceSource;
  /** Which packet: the kernel's trace id (nftables), or one derived from the packet (legacy). */
  id: number;
  /** The table's family as nft names it ('ip', 'ip6', 'inet', 'bridge', ...). */
  family: string;
  /** The table the rule is in. */
  table: string;
  /** The chain the rule is in. */
  chain: string;
  /** A rule, the chain's return, or its policy. */
  kind: TraceKind;
  /** Legacy: the rule's position in its chain (1 = first). */
  rule?: number;
  /** nftables: the rule's handle. */
  handle?: number;
  /** accept, drop, continue, jump, goto, return, queue, stolen, repeat, break. */
  verdict?: string;
  /** The chain of a jump or goto. */
  target?: string;
  /**
   * The rule as its own tool prints it, when it could be resolved: `iptables-save` form for
   * rules written by iptables (legacy, or iptables-nft: `-A KUBE-SVC-... -m comment --comment
   * "..." -j ...`), `nft list` form for nft rules.
   */
  ruleText?: string;
  /** Which form ruleText is in. */
  ruleSyntax?: 'iptables' | 'nft';
  /** The Service a jump or goto leads to (kube-proxy's chains, a plain DNAT rule's chain). */
  service?: string;
  /** The hook of the base chain the packet is in (prerouting, input, forward, output, postrouting). */
  hook?: string;
  /** The packet's conntrack entry as the kernel saw it at this hop (nftables traces, Linux 6.8). */
  ct?: TraceConntrack;
  /** The interfaces the packet came in on and goes out on (index, and name where there is one). */
  iif?: LogInterface;
  /** The interface the packet goes out on, once routed. */
  oif?: LogInterface;
  /** The packet's mark at this hop, when not zero. */
  mark?: number;
  /** The packet's headers (the first hop of an nftables trace carries them; later hops inherit). */
  packet?: DecodedPacket;
  /** Kernel log hops: the TRACE line and its fields as the kernel wrote them (instead of `packet`). */
  log?: KernelLogPacket;
  /** When it was received, ns since the epoch. */
  timestamp: bigint;
}

/** The conntrack part of an nftables trace event. */
export interface TraceConntrack {
  /** new, established, related, invalid or untracked. */
  state?: string;
  /** The entry's status bits (see Status). */
  status?: number;
  /** The entry's id (as conntrack -o id prints it). */
  id?: number;
  /** Which way the packet goes through its entry. */
  direction?: 'original' | 'reply';
}

/** All hops of one packet, in order, and how its trip ended. */
export interface TracePacket {
  /** Tells a traced packet from the other items of a kernel log stream. */
  type: 'trace';
  /** The packet's trace id, as its hops carry it. */
  id: number;
  /** Where its hops came from. */
  source: TraceSource;
  /** The family of the first hop's table. */
  family: string;
  /** Every rule it passed, in order. */
  hops: TraceEvent[];
  /** The last verdict seen: 'drop' ends a packet; otherwise what the last hop said. */
  verdict?: string;
  /** The packet's headers, from the first hop that carried them. */
  packet?: DecodedPacket;
  /** false when the packet went quiet (idle timeout) rather than ending in a drop. */
  dropped: boolean;
}

/** What to trace with a temporary `meta nftrace set 1` rule (see Trace.events). */
export interface TraceMatch {
  /** Only IPv4 or only IPv6 packets (default both). */
  family?: 'ipv4' | 'ipv6';
  /** Only packets of this layer-4 protocol. */
  protocol?: 'tcp' | 'udp' | 'icmp' | 'icmpv6' | 'sctp';
  /** Only packets from this address, or from this CIDR ('10.0.0.0/8'). */
  src?: string;
  /** Only packets to this address or CIDR. */
  dst?: string;
  /** Either port, source or destination. */
  port?: number;
  /** Only packets from this port (TCP, UDP, SCTP). */
  srcPort?: number;
  /** Only packets to this port. */
  dstPort?: number;
}

/** Options of Trace.open(): where to trace, and which tracers to read. */
export interface TraceOpenOptions {
  /** The network namespace to trace in (default: the caller's own). */
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
  /**
   * Leave out the hops of the library's own marking tables (`inet nfct_trace_*`, installed for
   * `match`); default false: every hop the kernel reports.
   */
  hideOwnHops?: boolean;
}
