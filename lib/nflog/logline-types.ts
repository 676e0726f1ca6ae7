// What parseLogLine() gives: a LOG line taken apart, field by field, with its syslog header.

/** The syslog header of a line from a syslog file or `journalctl -o short*`. */
export interface SyslogHeader {
  /** The time as written (`Jun 13 19:58:21`, `2024-06-13T19:58:21.123456+02:00`). */
  time: string;
  /** The host name the syslog line carries. */
  host: string;
  /** The program tag, `kernel` for these lines. */
  tag: string;
  /** The process id in the tag's brackets, when written (`kernel[123]`). */
  pid?: number;
}

/** ICMP or ICMPv6 fields of a LOG line. */
export interface ParsedLogIcmp {
  /** `TYPE=`: the ICMP type. */
  type?: number;
  /** `CODE=`: the ICMP code. */
  code?: number;
  /** Echo identifier (`ID=` after `TYPE=`). */
  id?: number;
  /** Echo sequence (`SEQ=` after `TYPE=`). */
  seq?: number;
  /** ICMP parameter problem: `PARAMETER=`. */
  parameter?: number;
  /** ICMP redirect: `GATEWAY=`. */
  gateway?: string;
  /** ICMPv6 parameter problem: `POINTER=` (written in hex). */
  pointer?: number;
  /** Fragmentation needed / packet too big: `MTU=`. */
  mtu?: number;
}

/** TCP fields of a LOG line. */
export interface ParsedLogTcp {
  /** `SEQ=` (with --log-tcp-sequence). */
  seq?: number;
  /** `ACK=` (with --log-tcp-sequence). */
  ack?: number;
  /** `WINDOW=`: the advertised receive window. */
  window?: number;
  /** `RES=0x..`: the reserved bits as the kernel prints them. */
  res?: number;
  /** The flags written, in order: `['SYN']`, `['ACK', 'PSH']`, ... */
  flags: string[];
  /** `URGP=`. */
  urgp?: number;
  /** `OPT (...)` (with --log-tcp-options): the option bytes as hex, uppercase as written. */
  options?: string;
}

/** ARP fields of a LOG line (`ARP HTYPE=1 PTYPE=0x0800 OPCODE=1 MACSRC=... IPSRC=...`). */
export interface ParsedLogArp {
  /** `HTYPE=`: the hardware type (1 for Ethernet). */
  htype?: number;
  /** `PTYPE=`: the protocol type (0x0800 for IPv4). */
  ptype?: number;
  /** `OPCODE=`: 1 a request, 2 a reply. */
  opcode?: number;
  /** `MACSRC=`: the sender's hardware address. */
  macSrc?: string;
  /** `IPSRC=`: the sender's IP address. */
  ipSrc?: string;
  /** `MACDST=`: the target's hardware address. */
  macDst?: string;
  /** `IPDST=`: the target's IP address. */
  ipDst?: string;
}

/** The fields of one IP packet in a LOG line: the packet itself, or the one an ICMP error quotes. */
export interface ParsedLogPacket {
  /** `SRC=`: the source address. */
  src?: string;
  /** `DST=`: the destination address. */
  dst?: string;
  /** `LEN=` of the IP packet (IPv6: payload length + 40). */
  len?: number;
  /** IPv4 `TOS=` (the kernel masks it with 0x1E). */
  tos?: number;
  /** IPv4 `PREC=` (masked with 0xE0). */
  prec?: number;
  /** IPv4 `TTL=`. */
  ttl?: number;
  /** IPv4 identification. */
  id?: number;
  /** IPv6 `TC=`. */
  tc?: number;
  /** IPv6 `HOPLIMIT=`. */
  hopLimit?: number;
  /** IPv6 `FLOWLBL=`. */
  flowLabel?: number;
  /** IPv4 flag words in order: `CE`, `DF`, `MF`. */
  ipFlags: ('CE' | 'DF' | 'MF')[];
  /**
   * `FRAG:n` as written: for IPv4 the fragment offset field (units of 8 bytes), for IPv6 the
   * offset in bytes.
   */
  fragOffset?: number;
  /** IPv6 fragment identification (`ID:` in hex). */
  fragId?: number;
  /** IPv6: `INCOMPLETE` after `FRAG:`, i.e. the M flag (more fragments follow). */
  fragMore?: boolean;
  /** IPv4 `OPT (...)` (with --log-ip-options): the option bytes as hex, uppercase as written. */
  ipOptions?: string;
  /** IPv6 `OPT ( ... )` groups (with --log-ip-options), one per extension header, inner text trimmed. */
  ipv6Options?: string[];
  /** `PROTO=` as written: 'TCP', 'UDP', 'UDPLITE', 'ICMP', 'ICMPv6', 'AH', 'ESP' or a number. */
  proto?: string;
  /** The protocol number `proto` stands for. */
  protocol?: number;
  /** `SPT=`: the source port (TCP, UDP, UDP-Lite, SCTP, DCCP). */
  spt?: number;
  /** `DPT=`: the destination port. */
  dpt?: number;
  /** UDP `LEN=` (UDP-Lite: the checksum coverage). */
  udpLen?: number;
  /** The TCP fields, when `PROTO=TCP`. */
  tcp?: ParsedLogTcp;
  /** The ICMP or ICMPv6 fields, when `PROTO=ICMP` or `ICMPv6`. */
  icmp?: ParsedLogIcmp;
  /** AH/ESP `SPI=`. */
  spi?: number;
  /** `INCOMPLETE [n bytes]`: the header did not fit in what the packet held. */
  incomplete?: number;
  /** `TRUNCATED` or `OPT (TRUNCATED)`: a header could not be read. */
  truncated?: boolean;
  /** The packet an ICMP error quotes, written between `[` and `]`. */
  inner?: ParsedLogPacket;
}

/** A LOG line taken apart. */
export interface ParsedLogLine extends ParsedLogPacket {
  /** The line as given, less a trailing newline. */
  line: string;
  /** printk level from a leading `<n>` (dmesg -r). */
  level?: number;
  /** The syslog header, when the line came from a syslog file or the journal. */
  syslog?: SyslogHeader;
  /** Seconds since boot from `[ 1234.567890]`. */
  kernelTime?: number;
  /** The wall-clock time of dmesg -T (`Thu Jun 13 19:58:21 2024`). */
  dmesgTime?: string;
  /** The kernel's message: from the prefix to the end (what formatLogLine returns). */
  message: string;
  /** The text before `IN=` (the rule's prefix), exactly; undefined when there is no `IN=`. */
  prefix?: string;
  /** `IN=`: the input interface ('' when there is none, as on OUTPUT). */
  in?: string;
  /** `OUT=`: the output interface ('' when there is none, as on INPUT). */
  out?: string;
  /** `PHYSIN=`: the bridge port the packet came in on. */
  physin?: string;
  /** `PHYSOUT=`: the bridge port it is to leave by. */
  physout?: string;
  /** `MAC=`: the link-layer header as colon-separated hex (may be empty). */
  mac?: string;
  /** `TUNNEL=a->b` of SIT devices. */
  tunnel?: string;
  /** With --log-macdecode: `MACSRC=`, `MACDST=`, `MACPROTO=`, `VPROTO=`, `VID=`. */
  macSrc?: string;
  /** `MACDST=` (with --log-macdecode). */
  macDst?: string;
  /** `MACPROTO=`: the EtherType (with --log-macdecode). */
  macProto?: number;
  /** `VPROTO=`: the VLAN tag's protocol (with --log-macdecode). */
  vlanProto?: number;
  /** `VID=`: the VLAN id (with --log-macdecode). */
  vlanId?: number;
  /** The ARP fields, on a line of an ARP packet. */
  arp?: ParsedLogArp;
  /** `UID=` (with --log-uid): the user id of the local socket. */
  uid?: number;
  /** `GID=` (with --log-uid): the group id of the local socket. */
  gid?: number;
  /** `MARK=`: the packet's mark, when not zero. */
  mark?: number;
  /** KEY=VALUE pairs not understood (or whose value did not parse), in order. */
  extra: {
    /** The word before `=`. */
    key: string;
    /** The text after it, as written. */
    value: string;
  }[];
  /** Words not understood, in order. */
  unparsed: string[];
}
