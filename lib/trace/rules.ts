// The rules of TRACE: the temporary nft table that marks the packets to trace, the nft
// expression of a TraceMatch, and the text of the rule each hop names (`nft -a list chain`,
// `iptables-legacy-save`), looked up on demand.
import { parseAddress, parseCidr } from '../core/address.js';
import { assertKnownKeys, assertObject, describeValue, optionalInteger } from '../core/validate.js';
import type { DecodedPacket } from '../packet/types.js';
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
  if (m.family !== undefined && m.family !== 'ipv4' && m.family !== 'ipv6') {
    throw new TypeError(`trace options.match.family must be 'ipv4' or 'ipv6', got ${describeValue(m.family)}`);
  }
  let family: number | undefined = m.family === undefined ? undefined : m.family === 'ipv6' ? 10 : 2;
  const addrs: string[] = [];
  for (const key of ['src', 'dst'] as const) {
    const value = m[key];
    if (value === undefined) continue;
    const parsed = typeof value === 'string' ? parseCidr(value) : undefined;
    if (!parsed) {
      throw new TypeError(`trace options.match.${key} must be an address or CIDR, got ${describeValue(value)}`);
    }
    if (family !== undefined && parsed.family !== family) {
      throw new TypeError(
        `trace options.match.${key} ${describeValue(value)} is not of the family of the rest of the match`,
      );
    }
    family = parsed.family;
    addrs.push(`${parsed.family === 10 ? 'ip6' : 'ip'} ${key === 'src' ? 'saddr' : 'daddr'} ${value}`);
  }
  if (m.family) parts.push(`meta nfproto ${m.family}`);
  parts.push(...addrs);
  const protos = ['tcp', 'udp', 'icmp', 'icmpv6', 'sctp'];
  if (m.protocol !== undefined) {
    if (!protos.includes(m.protocol)) {
      throw new TypeError(
        `trace options.match.protocol must be one of ${protos.join(', ')}, got ${describeValue(m.protocol)}`,
      );
    }
    parts.push(`meta l4proto ${m.protocol}`);
  }
  const port = (key: 'port' | 'srcPort' | 'dstPort', field: string): void => {
    const value = optionalInteger(m[key], `trace options.match.${key}`, 0, 65535);
    if (value === undefined) return;
    if (m.protocol !== 'tcp' && m.protocol !== 'udp' && m.protocol !== 'sctp') {
      throw new TypeError(`trace options.match.${key} needs protocol 'tcp', 'udp' or 'sctp'`);
    }
    parts.push(`${m.protocol} ${field} ${value}`);
  };
  port('srcPort', 'sport');
  port('dstPort', 'dport');
  if (m.port !== undefined) {
    const value = optionalInteger(m.port, 'trace options.match.port', 0, 65535)!;
    if (m.protocol !== 'tcp' && m.protocol !== 'udp' && m.protocol !== 'sctp') {
      throw new TypeError(`trace options.match.port needs protocol 'tcp', 'udp' or 'sctp'`);
    }
    parts.push(`${m.protocol} sport . ${m.protocol} dport { ${value} . 0-65535, 0-65535 . ${value} }`);
  }
  return parts.join(' ');
}

const PROTOCOLS: Record<string, number> = { tcp: 6, udp: 17, icmp: 1, icmpv6: 58, sctp: 132 };

/**
 * Whether decoded headers are of a packet the match selects, as its nft expression
 * (matchExpression()) would judge them. For a match matchExpression() accepted.
 */
export function matchSelects(m: TraceMatch): (p: DecodedPacket) => boolean {
  const cidrs = (['src', 'dst'] as const).flatMap((
    key,
  ) => (m[key] === undefined ? [] : [{ key, cidr: parseCidr(m[key])! }]));
  const proto = m.protocol === undefined ? undefined : PROTOCOLS[m.protocol];
  return (p) => {
    if (m.family !== undefined && p.family !== m.family) return false;
    const ip = p.ipv4 ?? p.ipv6;
    for (const { key, cidr } of cidrs) {
      const a = ip ? parseAddress(ip[key]) : undefined;
      if (a?.family !== cidr.family || !samePrefix(a.bytes, cidr.bytes, cidr.prefix)) return false;
    }
    if (proto !== undefined && p.protocol !== proto) return false;
    const l4 = p.tcp ?? p.udp ?? p.sctp;
    if (m.srcPort !== undefined && l4?.srcPort !== m.srcPort) return false;
    if (m.dstPort !== undefined && l4?.dstPort !== m.dstPort) return false;
    if (m.port !== undefined && l4?.srcPort !== m.port && l4?.dstPort !== m.port) return false;
    return true;
  };
}

function samePrefix(a: Buffer, b: Buffer, bits: number): boolean {
  const whole = bits >> 3;
  if (a.compare(b, 0, whole, 0, whole) !== 0) return false;
  const rest = bits & 7;
  return rest === 0 || ((a[whole]! ^ b[whole]!) & (0xff << (8 - rest)) & 0xff) === 0;
}
