// What a kernel log stream keeps: one filter, checked natively on the reader thread before any
// object is made (native/kmsg/line.cc), and here only for the rare line the native reader
// leaves to the TypeScript parser (an ICMP error's quoted packet, IPv6 extension groups...).
import { parseCidr } from '../core/address.js';
import { AF_INET, PROTOCOLS } from '../core/protocols.js';
import { assertKnownKeys, assertObject, describeValue, optionalInteger } from '../core/validate.js';
import type { ParsedLogPacket } from '../nflog/logline-types.js';

/** Which LOG and TRACE lines to keep. Every condition must hold. */
export interface KernelLogFilter {
  /** Only LOG lines whose rule prefix starts with this text (TRACE lines are not matched by it). */
  prefix?: string;
  /** Only IPv4 or only IPv6 packets. */
  family?: 'ipv4' | 'ipv6';
  /** By name ('tcp', 'udp', 'icmp', 'icmpv6', 'sctp', 'udplite', 'gre', 'dccp') or number. */
  protocol?: string | number;
  /** Source address or CIDR of the packet (the outer header of an ICMP error). */
  src?: string;
  /** Destination address or CIDR of the packet. */
  dst?: string;
  /** Either port, source or destination. */
  port?: number;
  /** Only packets from this port. */
  srcPort?: number;
  /** Only packets to this port. */
  dstPort?: number;
}

export const FILTER_KEYS = ['prefix', 'family', 'protocol', 'src', 'dst', 'port', 'srcPort', 'dstPort'] as const;

/** The filter as native/kmsg/line.h reads it. */
export interface NativeLogFilter {
  packets: boolean;
  hops: boolean;
  lines: boolean;
  prefix?: string;
  family?: number;
  protocol?: number;
  src?: { addr: Buffer; bits: number };
  dst?: { addr: Buffer; bits: number };
  port?: number;
  sport?: number;
  dport?: number;
}

/** The conditions a parsed line is matched against here (the same as natively). */
export interface LineMatch {
  family?: 4 | 6;
  protocol?: number;
  src?: { family: 4 | 6; bytes: Buffer; bits: number };
  dst?: { family: 4 | 6; bytes: Buffer; bits: number };
  port?: number;
  srcPort?: number;
  dstPort?: number;
}

/** Validates the filter part of the options (`where` names the call); undefined keys are ignored. */
export function normalizeFilter(o: KernelLogFilter,
  where: string): { native: Omit<NativeLogFilter, 'packets' | 'hops' | 'lines'>; match: LineMatch }
{
  const native: Omit<NativeLogFilter, 'packets' | 'hops' | 'lines'> = {};
  const match: LineMatch = {};
  if (o.prefix !== undefined) {
    if (typeof o.prefix !== 'string') {
      throw new TypeError(`${where}.prefix must be a string, got ${describeValue(o.prefix)}`);
    }
    native.prefix = o.prefix;
  }
  if (o.family !== undefined) {
    if (o.family !== 'ipv4' && o.family !== 'ipv6') {
      throw new TypeError(`${where}.family must be 'ipv4' or 'ipv6', got ${describeValue(o.family)}`);
    }
    native.family = match.family = o.family === 'ipv4' ? 4 : 6;
  }
  if (o.protocol !== undefined) {
    let n: number | undefined;
    if (typeof o.protocol === 'string') {
      n = Object.hasOwn(PROTOCOLS, o.protocol) ? PROTOCOLS[o.protocol as keyof typeof PROTOCOLS] : undefined;
    } else n = optionalInteger(o.protocol, `${where}.protocol`, 0, 255);
    if (n === undefined) {
      throw new TypeError(
        `${where}.protocol must be one of ${Object.keys(PROTOCOLS).join(', ')} or a number 0-255, got ${
          describeValue(o.protocol)
        }`,
      );
    }
    native.protocol = match.protocol = n;
  }
  for (const key of ['src', 'dst'] as const) {
    const v = o[key];
    if (v === undefined) continue;
    const c = typeof v === 'string' ? parseCidr(v) : undefined;
    if (!c) throw new TypeError(`${where}.${key} must be an address or CIDR, got ${describeValue(v)}`);
    const family = c.family === AF_INET ? 4 : 6;
    if (match.family !== undefined && match.family !== family) {
      throw new TypeError(`${where}.${key} ${describeValue(v)} is not of ${where}.family`);
    }
    native[key] = { addr: c.bytes, bits: c.prefix };
    match[key] = { family, bytes: c.bytes, bits: c.prefix };
  }
  const port = optionalInteger(o.port, `${where}.port`, 0, 65535);
  const sport = optionalInteger(o.srcPort, `${where}.srcPort`, 0, 65535);
  const dport = optionalInteger(o.dstPort, `${where}.dstPort`, 0, 65535);
  if (port !== undefined) native.port = match.port = port;
  if (sport !== undefined) native.sport = match.srcPort = sport;
  if (dport !== undefined) native.dport = match.dstPort = dport;
  return { native, match };
}

/** Whether the filter has conditions on the packet (beyond the prefix, which native code checks always). */
export function hasConditions(m: LineMatch): boolean {
  return Object.keys(m).length > 0;
}

function addressIn(text: string | undefined, net: NonNullable<LineMatch['src']>): boolean {
  if (text === undefined) return false;
  const c = parseCidr(text);
  if (!c || (c.family === AF_INET ? 4 : 6) !== net.family) return false;
  let bits = net.bits;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((c.bytes[i]! & mask) !== (net.bytes[i]! & mask)) return false;
  }
  return true;
}

/** The native reader's conditions, on a line the TypeScript parser read. */
export function matchesLine(m: LineMatch, p: ParsedLogPacket): boolean {
  if (m.family !== undefined && (p.src === undefined || (p.src.includes(':') ? 6 : 4) !== m.family)) return false;
  if (m.protocol !== undefined && p.protocol !== m.protocol) return false;
  if (m.src && !addressIn(p.src, m.src)) return false;
  if (m.dst && !addressIn(p.dst, m.dst)) return false;
  if (m.srcPort !== undefined && p.spt !== m.srcPort) return false;
  if (m.dstPort !== undefined && p.dpt !== m.dstPort) return false;
  if (m.port !== undefined && p.spt !== m.port && p.dpt !== m.port) return false;
  return true;
}

/** Checks an options object's keys: the filter's, and `others`. */
export function checkKeys(o: unknown, others: readonly string[], where: string): void {
  assertObject(o, where);
  assertKnownKeys(o, [...FILTER_KEYS, ...others], where);
}
