// The rules of TRACE: the temporary nft table that marks the packets to trace, the nft
// expression of a TraceMatch, and the text of the rule each hop names (`nft -a list chain`,
// `iptables-legacy-save`), looked up on demand.
import { parseCidr } from '../core/address.js';
import { assertKnownKeys, assertObject, describeValue, optionalInteger } from '../core/validate.js';
import type { TraceMatch } from './types.js';

/** The temporary table: `meta nftrace set 1` for the match, before raw and conntrack. */
export function ruleScript(name: string, expr: string): string {
  return [
    `table inet ${name} {`,
    `  chain pre { type filter hook prerouting priority -350; ${expr} meta nftrace set 1; }`,
    `  chain out { type filter hook output priority -350; ${expr} meta nftrace set 1; }`,
    '}',
    '',
  ].join('\n');
}

/** The nft expression for a match; validates it. */
export function matchExpression(m: TraceMatch): string {
  assertObject(m, 'trace options.match');
  assertKnownKeys(m, ['family', 'protocol', 'src', 'dst', 'port', 'srcPort', 'dstPort'], 'trace options.match');
  const parts: string[] = [];
  if (m.family !== undefined && m.family !== 'ipv4' && m.family !== 'ipv6') throw new TypeError(`trace options.match.family must be 'ipv4' or 'ipv6', got ${describeValue(m.family)}`);
  let family: number | undefined = m.family === undefined ? undefined : m.family === 'ipv6' ? 10 : 2;
  const addrs: string[] = [];
  for (const key of ['src', 'dst'] as const) {
    const value = m[key];
    if (value === undefined) continue;
    const parsed = typeof value === 'string' ? parseCidr(value) : undefined;
    if (!parsed) throw new TypeError(`trace options.match.${key} must be an address or CIDR, got ${describeValue(value)}`);
    if (family !== undefined && parsed.family !== family) throw new TypeError(`trace options.match.${key} ${describeValue(value)} is not of the family of the rest of the match`);
    family = parsed.family;
    addrs.push(`${parsed.family === 10 ? 'ip6' : 'ip'} ${key === 'src' ? 'saddr' : 'daddr'} ${value}`);
  }
  if (m.family) parts.push(`meta nfproto ${m.family}`);
  parts.push(...addrs);
  const protos = ['tcp', 'udp', 'icmp', 'icmpv6', 'sctp'];
  if (m.protocol !== undefined) {
    if (!protos.includes(m.protocol)) throw new TypeError(`trace options.match.protocol must be one of ${protos.join(', ')}, got ${describeValue(m.protocol)}`);
    parts.push(`meta l4proto ${m.protocol}`);
  }
  const port = (key: 'port' | 'srcPort' | 'dstPort', field: string): void => {
    const value = optionalInteger(m[key], `trace options.match.${key}`, 0, 65535);
    if (value === undefined) return;
    if (m.protocol !== 'tcp' && m.protocol !== 'udp' && m.protocol !== 'sctp') throw new TypeError(`trace options.match.${key} needs protocol 'tcp', 'udp' or 'sctp'`);
    parts.push(`${m.protocol} ${field} ${value}`);
  };
  port('srcPort', 'sport');
  port('dstPort', 'dport');
  if (m.port !== undefined) {
    const value = optionalInteger(m.port, 'trace options.match.port', 0, 65535)!;
    if (m.protocol !== 'tcp' && m.protocol !== 'udp' && m.protocol !== 'sctp') throw new TypeError(`trace options.match.port needs protocol 'tcp', 'udp' or 'sctp'`);
    parts.push(`${m.protocol} sport . ${m.protocol} dport { ${value} . 0-65535, 0-65535 . ${value} }`);
  }
  return parts.join(' ');
}
