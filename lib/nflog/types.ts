import type { Flow } from '../conntrack/types.js';
import type { PacketFamily } from '../packet/types.js';

/**
 * A network interface as a log reports it. NFLOG gives its index, and its name when it could
 * be resolved; a kernel log line (KernelLog) gives its name only.
 */
export interface LogInterface {
  /** The interface's index in the namespace the packet was logged in (NFLOG; a kernel log line has none). */
  index?: number;
  /** Its name (`eth0`), when the interface still existed to be named. */
  name?: string;
}

/**
 * Netfilter hooks (NF_INET_*), as the LOG target names the chains; the netdev family's two
 * (NF_NETDEV_INGRESS, NF_NETDEV_EGRESS) are INGRESS and EGRESS.
 */
export type HookName = 'PREROUTING' | 'INPUT' | 'FORWARD' | 'OUTPUT' | 'POSTROUTING' | 'INGRESS' | 'EGRESS';

/**
 * One packet logged to an NFLOG group. Every attribute is optional: present only when the
 * kernel sent it (which depends on the hook, the family and the group's settings).
 */
export interface NflogPacket {
  /** The group it was logged to. */
  group: number;
  /** Protocol family of the hook (NFPROTO_*): 'ipv4', 'ipv6', 'bridge', 'arp' or 'netdev'. */
  family: PacketFamily;
  /** The netfilter hook number and its name. */
  hook?: number;
  /** The hook's name, as the LOG target names its chain ('PREROUTING', ...). */
  hookName?: HookName;
  /** Link-layer protocol of the packet (EtherType, e.g. 0x0800). */
  hwProtocol?: number;
  /**
   * The rule's prefix (--nflog-prefix, log prefix "..."), exactly as the rule set it, trailing
   * space included: `log prefix "ssh: "` gives 'ssh: ' (LOG rules end prefixes with a space so
   * that their lines read well, and formatLogLine() writes it back as is). Compare with
   * `prefix?.trimEnd()` when the rule's words are what matters.
   */
  prefix?: string;
  /** The interface the packet came in on (`IN=`). */
  indev?: LogInterface;
  /** The interface it is to leave by (`OUT=`). */
  outdev?: LogInterface;
  /** Bridge ports. */
  physindev?: LogInterface;
  /** The bridge port it is to leave by (`PHYSOUT=`). */
  physoutdev?: LogInterface;
  /** The packet's mark (skb->mark, `MARK=`), when not zero. */
  mark?: number;
  /** The user id of the local socket that sent or receives it (with the group's uid flag). */
  uid?: number;
  /** The group id of that socket. */
  gid?: number;
  /** When the packet was logged (the skb's time), ns since the epoch. */
  timestamp?: bigint;
  /** ARPHRD_* link type of the input device (1 = Ethernet). */
  hwType?: number;
  /** The link-layer header (MAC=... in a LOG line). */
  hwHeader?: Buffer;
  /** The source hardware address. */
  hwAddress?: Buffer;
  /** 802.1Q tag. */
  vlan?: {
    /** The tag's EtherType (0x8100, or 0x88a8 for an outer 802.1ad tag). */
    protocol: number;
    /** The whole tag control information: priority, drop eligible bit and id. */
    tci: number;
    /** The VLAN id (the TCI's low 12 bits). */
    id: number;
    /** The priority code point (the TCI's top 3 bits). */
    priority: number;
  };
  /** The layer-2 header of bridged packets (NFULA_L2HDR). */
  l2Header?: Buffer;
  /** The group's own sequence number (with `sequence: 'local'` or 'both'). */
  seq?: number;
  /** The global sequence number across groups (with `sequence: 'global'` or 'both'). */
  seqGlobal?: number;
  /**
   * The packet from its network header, up to the group's copy range. At netdev egress the
   * kernel copies it from its link-layer header on: those bytes (`l2Header`) are left out here,
   * so that the payload starts at the network header at every hook (empty when the copy range
   * ends inside the link-layer header).
   */
  payload?: Buffer;
  /** The conntrack entry of the packet (with `conntrack: true`). */
  conntrack?: Flow;
  /** IP_CT_* of the packet (0 established, 1 related, 2 new, 3 established reply, 4 related reply, 7 untracked). */
  ctinfo?: number;
}
