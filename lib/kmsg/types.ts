import type { ParsedLogArp, ParsedLogPacket } from '../nflog/logline-types.js';
import type { LogInterface } from '../nflog/types.js';
import type { TracePacket } from '../trace/types.js';

/** Where a kernel log item was read: /dev/kmsg, or a file (a syslog file, a journal export, stdin). */
export type KernelLogSource = 'kmsg' | 'file';

/**
 * A packet the LOG target wrote to the kernel log (`-j LOG`, nft `log` without `group`): the
 * fields of NflogPacket a LOG line holds (prefix, interfaces by name, MAC header, mark, uid,
 * gid, the time), and the packet's header fields as the line wrote them (ParsedLogPacket:
 * addresses, ports, TCP flags, ICMP type...). A line does not say its network namespace.
 */
export interface KernelLogPacket extends ParsedLogPacket {
  /** Tells a packet from the other items of the stream. */
  type: 'packet';
  /** Where the line was read: /dev/kmsg or a file. */
  source: KernelLogSource;
  /** The network protocol by the line's addresses ('arp' for ARP lines); undefined when it has none. */
  family?: 'ipv4' | 'ipv6' | 'arp';
  /** The rule's prefix (--log-prefix, log prefix "..."), exactly, spaces included. */
  prefix: string;
  /** `IN=`, `OUT=`, `PHYSIN=`, `PHYSOUT=`: the interface names (undefined when empty). */
  indev?: LogInterface;
  /** `OUT=`: the interface it is to leave by. */
  outdev?: LogInterface;
  /** `PHYSIN=`: the bridge port it came in on. */
  physindev?: LogInterface;
  /** `PHYSOUT=`: the bridge port it is to leave by. */
  physoutdev?: LogInterface;
  /** `MAC=`: the link-layer header. */
  hwHeader?: Buffer;
  /** With --log-macdecode / flags ether: `MACSRC=`, `MACDST=`, `MACPROTO=`, `VPROTO=`, `VID=`. */
  macSrc?: string;
  /** `MACDST=`: the destination hardware address. */
  macDst?: string;
  /** `MACPROTO=`: the EtherType. */
  macProto?: number;
  /** `VPROTO=`: the VLAN tag's protocol. */
  vlanProto?: number;
  /** `VID=`: the VLAN id. */
  vlanId?: number;
  /** `TUNNEL=a->b` of SIT devices. */
  tunnel?: string;
  /** The ARP fields, on a line of an ARP packet. */
  arp?: ParsedLogArp;
  /** `MARK=`: the packet's mark, when not zero. */
  mark?: number;
  /** `UID=` (with --log-uid / flags skuid): the user id of the local socket. */
  uid?: number;
  /** `GID=`: the group id of the local socket. */
  gid?: number;
  /**
   * When the kernel logged it, ns since the epoch: /dev/kmsg's time since boot turned into
   * wall-clock time (as journald does), a syslog or journal line's own time. Undefined for a
   * line that carries no wall-clock time (plain dmesg output).
   */
  timestamp?: bigint;
  /** The kernel's time stamp, seconds since boot (/dev/kmsg, `[ 1234.567890]`, the journal). */
  kernelTime?: number;
  /** /dev/kmsg's sequence number of the record. */
  seq?: number;
  /** The printk level (4 for -j LOG without --log-level). */
  level?: number;
  /** The host of a syslog or journal line. */
  host?: string;
  /** The kernel's message: the prefix and every field, as the kernel wrote it. */
  message: string;
  /** KEY=VALUE pairs not understood, in order. */
  extra: {
    /** The word before `=`. */
    key: string;
    /** The text after it, as written. */
    value: string;
  }[];
  /** Words not understood, in order. */
  unparsed: string[];
}

/**
 * /dev/kmsg records overwritten in the ring buffer before they were read (`EPIPE`): every
 * kind of kernel message, not only netfilter's. Comes in order, where the records went.
 */
export interface KernelLogLoss {
  /** Tells a loss from the other items of the stream. */
  type: 'loss';
  /** Losses come from /dev/kmsg only. */
  source: 'kmsg';
  /** Records lost, exactly (from the sequence numbers); undefined when no record came before. */
  lost?: number;
  /** The sequence number of the last record read before the loss. */
  after?: number;
  /** The sequence number of the first record read after it. */
  before: number;
  /** When the loss was noticed, ns since the epoch. */
  timestamp: bigint;
}

/** Another kernel log line (with `lines: true`): its message and what came with it. */
export interface KernelLogLine {
  /** Tells a line from the other items of the stream. */
  type: 'line';
  /** Where the line was read: /dev/kmsg or a file. */
  source: KernelLogSource;
  /** The kernel's message, as written. */
  message: string;
  /** /dev/kmsg's sequence number of the record. */
  seq?: number;
  /** The printk level. */
  level?: number;
  /** syslog facility of a /dev/kmsg record (0: the kernel; 1: a process writing to /dev/kmsg). */
  facility?: number;
  /** When the kernel logged it, ns since the epoch (undefined when the line carries no wall-clock time). */
  timestamp?: bigint;
  /** The kernel's time stamp, seconds since boot. */
  kernelTime?: number;
  /** The host of a syslog or journal line. */
  host?: string;
}

/**
 * What a kernel log stream yields: LOG packets, legacy TRACE packets (all hops of one packet,
 * as Trace.packets() yields them), losses, and with `lines` the other lines.
 */
export type KernelLogItem = KernelLogPacket | TracePacket | KernelLogLoss | KernelLogLine;
