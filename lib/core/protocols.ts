// IP protocol and address family numbers, and the names the library gives them: one table, for
// conntrack (lower case, as conntrack prints them) and for decoded packets (the kernel's LOG
// names: 'TCP', 'ICMPv6').

export const AF_INET = 2;
export const AF_INET6 = 10;

/** IP protocol numbers the decoders name (IPPROTO_*; the IPv6 extension headers among them). */
export const IPPROTO = {
  HOPOPTS: 0,
  ICMP: 1,
  TCP: 6,
  UDP: 17,
  DCCP: 33,
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

/** Layer-4 protocols conntrack names; anything else is 'unknown' with its number. */
export type ProtocolName = 'tcp' | 'udp' | 'udplite' | 'sctp' | 'dccp' | 'icmp' | 'icmpv6' | 'gre' | 'unknown';

/** Each protocol's number, its conntrack name (when conntrack tracks it) and its short label. */
const TABLE: readonly (readonly [number, Exclude<ProtocolName, 'unknown'> | undefined, string | undefined])[] = [
  [IPPROTO.ICMP, 'icmp', 'ICMP'],
  [2, undefined, 'IGMP'],
  [4, undefined, 'IPIP'],
  [IPPROTO.TCP, 'tcp', 'TCP'],
  [IPPROTO.UDP, 'udp', 'UDP'],
  [IPPROTO.DCCP, 'dccp', undefined],
  [41, undefined, 'IPv6'],
  [IPPROTO.GRE, 'gre', 'GRE'],
  [IPPROTO.ESP, undefined, 'ESP'],
  [IPPROTO.AH, undefined, 'AH'],
  [IPPROTO.ICMPV6, 'icmpv6', 'ICMPv6'],
  [IPPROTO.NONE, undefined, 'NONE'],
  [89, undefined, 'OSPF'],
  [103, undefined, 'PIM'],
  [112, undefined, 'VRRP'],
  [IPPROTO.SCTP, 'sctp', 'SCTP'],
  [IPPROTO.UDPLITE, 'udplite', 'UDPLITE'],
];

/** IP protocol numbers the library knows by name (conntrack's names). */
export const PROTOCOLS: Readonly<Record<Exclude<ProtocolName, 'unknown'>, number>> = Object.fromEntries(
  TABLE.filter(([, name]) => name !== undefined).map(([num, name]) => [name, num]),
) as Record<Exclude<ProtocolName, 'unknown'>, number>;

const names = new Map<number, ProtocolName>(TABLE.flatMap(([num, name]) => (name ? [[num, name] as const] : [])));
const labels = new Map<number, string>(TABLE.flatMap(([num, , label]) => (label ? [[num, label] as const] : [])));

/** The conntrack name of an IP protocol number ('tcp', 'icmpv6'), or 'unknown'. */
export function protocolName(num: number): ProtocolName {
  return names.get(num) ?? 'unknown';
}

/** The short label of an IP protocol number as the kernel's LOG writes it ('TCP', 'ICMPv6'), or undefined. */
export function protocolLabel(num: number): string | undefined {
  return labels.get(num);
}
