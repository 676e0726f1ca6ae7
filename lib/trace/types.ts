// The shapes of TRACE: a hop (one rule a packet passed), a packet's whole trip, what to trace,
// and the options of Trace.open() and of its streams.
import type { NetnsOption } from '../core/netns.js';
import type { LiveStreamOptions } from '../core/stream.js';
import type { KernelLogPacket } from '../kmsg/types.js';
import type { LogInterface } from '../nflog/types.js';
import type { DecodedPacket, PacketFamily } from '../packet/types.js';

/** What a hop is: a rule the packet matched, the end of a chain it returned from, or a chain's policy. */
export type TraceKind = 'rule' | 'return' | 'policy';

/**
 * The families of nftables tables, in nft's words: the family of the table a hop is in.
 * 'unknown' stands for a number this library has no name for (nf_tables has no other today).
 */
export type NftablesFamily = 'ip' | 'ip6' | 'inet' | 'arp' | 'bridge' | 'netdev' | 'unknown';

/**
 * Where a hop was read: nftables trace events, legacy TRACE through NFLOG group 0, or legacy
 * TRACE lines of the kernel log (/dev/kmsg or a file, see KernelLog).
 */
export type TraceSource = TraceEvent['source'];

/** What every hop says, whichever path it came by. */
interface TraceHopBase {
  /** Which packet: the kernel's trace id (nftables), or one derived from the packet (legacy). */
  id: number;
  /** The table the rule is in ('filter', 'nat', or an nft table's name). */
  table: string;
  /** The chain the rule is in. */
  chain: string;
  /** A rule, the chain's return, or its policy. */
  kind: TraceKind;
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

/** A hop of an nftables trace (nft's `meta nftrace set 1`, iptables-nft `-j TRACE`). */
export interface NftablesTraceEvent extends TraceHopBase {
  /** Tells an nftables hop (read from nfnetlink_trace) from the other kinds. */
  source: 'nftables';
  /** The family of the table the hop is in ('inet' for a table of family inet). */
  family: NftablesFamily;
  /** The rule's handle (absent for a chain's policy or return). */
  handle?: number;
}

/** A hop of legacy iptables TRACE (`TRACE: raw:OUTPUT:rule:2`), read through NFLOG group 0. */
export interface LegacyTraceEvent extends TraceHopBase {
  /** Tells a legacy iptables TRACE hop (read through NFLOG) from the other kinds. */
  source: 'legacy';
  /** iptables ('ipv4') or ip6tables ('ipv6'). */
  family: 'ipv4' | 'ipv6';
  /** The rule's position in its chain (1 = first; for a policy or return, where it ended). */
  rule: number;
}

/** A hop of legacy iptables TRACE read from the kernel log (/dev/kmsg, or a file: see KernelLog). */
export interface KernelLogTraceEvent extends TraceHopBase {
  /** Where the TRACE line was read: /dev/kmsg, or a log file. */
  source: 'kmsg' | 'file';
  /** iptables ('ipv4') or ip6tables ('ipv6'). */
  family: 'ipv4' | 'ipv6';
  /** The rule's position in its chain (1 = first; for a policy or return, where it ended). */
  rule: number;
  /** The TRACE line and its fields as the kernel wrote them (instead of `packet`). */
  log: KernelLogPacket;
}

/** One hop: the packet passed a rule (or a chain's return or policy). `source` tells which kind. */
export type TraceEvent = NftablesTraceEvent | LegacyTraceEvent | KernelLogTraceEvent;

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
  /** The packet's family (not that of a table it passed: an inet table sees 'ipv4' and 'ipv6' packets). */
  family: PacketFamily;
  /** Every hop of the packet through the rules, in the order it passed them. */
  hops: TraceEvent[];
  /** The last verdict seen: 'drop' ends a packet; otherwise what the last hop said. */
  verdict?: string;
  /** The packet's headers, from the first hop that carried them. */
  packet?: DecodedPacket;
  /** false when the packet went quiet (idle timeout) rather than ending in a drop. */
  dropped: boolean;
}

/** What every match may hold: the family and addresses. */
interface TraceMatchBase {
  /** Only packets of this family (default: both, or that of the addresses given). */
  family?: 'ipv4' | 'ipv6';
  /** Source address or CIDR. */
  src?: string;
  /** Destination address or CIDR. */
  dst?: string;
}

/** A match on a protocol with ports: `port` (either side), `srcPort`, `dstPort`. */
export interface TracePortMatch extends TraceMatchBase {
  /** Only packets of this protocol: one with ports, which the port fields need. */
  protocol: 'tcp' | 'udp' | 'sctp';
  /** Either port, source or destination. */
  port?: number;
  /** Only packets from this port (TCP, UDP, SCTP). */
  srcPort?: number;
  /** Only packets to this port. */
  dstPort?: number;
}

/** A match without ports: any protocol, or one without ports (ICMP). */
export interface TraceAddressMatch extends TraceMatchBase {
  /** Only ICMP or ICMPv6 packets (default: any protocol). */
  protocol?: 'icmp' | 'icmpv6';
  /** No port without a protocol that has ports: see TracePortMatch. */
  port?: never;
  /** No port without a protocol that has ports: see TracePortMatch. */
  srcPort?: never;
  /** No port without a protocol that has ports: see TracePortMatch. */
  dstPort?: never;
}

/**
 * What to trace with a temporary `meta nftrace set 1` rule (see Trace.events): a port needs a
 * protocol that has ports, which the types say (`{ port: 53 }` alone does not compile).
 */
export type TraceMatch = TracePortMatch | TraceAddressMatch;

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
   * Also the hops of the library's own temporary trace tables (`inet nfct_trace_<pid>_<token>_<n>`,
   * where `match` marks packets to trace). Default false: a trace shows the ruleset's own rules
   * only.
   */
  ownHops?: boolean;
}

/** Options of packets(): events()'s, and how long a packet may go quiet before it is given out. */
export interface TracePacketsOptions extends TraceStreamOptions {
  /** Milliseconds without a hop after which a packet's trip is taken as over (default 250). */
  idleMs?: number;
}
