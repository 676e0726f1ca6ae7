// The filter model: one description of "which flows", validated here and handed to native
// code, which sends to the kernel what the kernel can apply and matches the rest itself.
import { parseCidr } from '../core/address.js';
import type { NativeFilter, NativeTupleFilter } from '../core/native.js';
import { AF_INET, AF_INET6, PROTOCOLS } from '../core/protocols.js';
import { assertKnownKeys, assertObject, describeValue, integer, list } from '../core/validate.js';
import { TCP_STATES } from './constants.js';
import { statusBit } from './status.js';
import type { Family, ProtocolName, StatusName, TcpState } from './types.js';

/** Which flows. Every field narrows; all must hold. */
export interface FlowFilter {
  /** Only 'ipv4' or only 'ipv6' entries (default both). */
  family?: Family;
  /** Layer-4 protocol by name or number. */
  protocol?: Exclude<ProtocolName, 'unknown'> | number;
  /** Original source address, or a CIDR such as '10.0.0.0/8' (conntrack -s). */
  src?: string;
  /** Original destination address or CIDR (conntrack -d). */
  dst?: string;
  /** Reply source address or CIDR (conntrack -r). */
  replySrc?: string;
  /** Reply destination address or CIDR (conntrack -q). */
  replyDst?: string;
  /** Original source port (conntrack --sport). */
  srcPort?: number;
  /** Original destination port (conntrack --dport). */
  dstPort?: number;
  /** Reply source port (conntrack --reply-port-src). */
  replySrcPort?: number;
  /** Reply destination port (conntrack --reply-port-dst). */
  replyDstPort?: number;
  /** Mark, or mark/mask: matches when (mark & mask) === value (conntrack -m VALUE/MASK). */
  mark?:
    | number
    | {
      /** The mark to match, after the mask. */
      value: number;
      /** The bits of the mark that count. */
      mask: number;
    };
  /** The entry's zone (conntrack -w). */
  zone?: number;
  /** Zone of the original direction (conntrack --orig-zone). */
  origZone?: number;
  /** Zone of the reply direction (conntrack --reply-zone). */
  replyZone?: number;
  /** Status bits that must all be set (conntrack -u). */
  status?: StatusName | readonly StatusName[];
  /** TCP state(s); matches any of them (conntrack --state). */
  state?: TcpState | readonly TcpState[];
  /** Label bits (0-127) that must all be set (conntrack -l). */
  labels?: number | readonly number[];
}

export const FILTER_KEYS: readonly (keyof FlowFilter)[] = [
  'family',
  'protocol',
  'src',
  'dst',
  'replySrc',
  'replyDst',
  'srcPort',
  'dstPort',
  'replySrcPort',
  'replyDstPort',
  'mark',
  'zone',
  'origZone',
  'replyZone',
  'status',
  'state',
  'labels',
];

const U32 = 0xffffffff;

function protocolNumber(value: unknown, name: string): number {
  if (typeof value === 'number') return integer(value, name, 0, 255);
  if (typeof value === 'string' && Object.hasOwn(PROTOCOLS, value)) return PROTOCOLS[value as keyof typeof PROTOCOLS];
  throw new TypeError(
    `${name} must be a protocol name (${Object.keys(PROTOCOLS).join(', ')}) or number, got ${describeValue(value)}`,
  );
}

/**
 * Validates a filter (a TypeError/RangeError names the field at fault) and normalises it for
 * native code. `where` names the argument in messages.
 */
export function normalizeFilter(
  filter: FlowFilter,
  where: string,
  extraKeys: readonly string[] = [],
): NativeFilter {
  assertObject(filter, where);
  assertKnownKeys(filter, [...FILTER_KEYS, ...extraKeys], where);
  const out: NativeFilter = {};
  let family: number | undefined;
  if (filter.family !== undefined) {
    if (filter.family !== 'ipv4' && filter.family !== 'ipv6') {
      throw new TypeError(`${where}.family must be 'ipv4' or 'ipv6', got ${describeValue(filter.family)}`);
    }
    family = filter.family === 'ipv4' ? AF_INET : AF_INET6;
  }

  const address = (key: 'src' | 'dst' | 'replySrc' | 'replyDst'): { bytes: Buffer; prefix: number } | undefined => {
    const value = filter[key];
    if (value === undefined) return undefined;
    if (typeof value !== 'string') {
      throw new TypeError(`${where}.${key} must be an address or CIDR string, got ${describeValue(value)}`);
    }
    const parsed = parseCidr(value);
    if (!parsed) throw new TypeError(`${where}.${key} is not an IPv4/IPv6 address or CIDR: ${describeValue(value)}`);
    if (family !== undefined && parsed.family !== family) {
      const other = filter.family !== undefined ? `family '${filter.family}'` : 'the family of the other addresses';
      throw new TypeError(`${where}.${key} ${describeValue(value)} does not match ${other}`);
    }
    family = parsed.family;
    return parsed;
  };
  const port = (key: 'srcPort' | 'dstPort' | 'replySrcPort' | 'replyDstPort'): number | undefined =>
    filter[key] === undefined ? undefined : integer(filter[key], `${where}.${key}`, 0, 65535);
  const zone = (key: 'zone' | 'origZone' | 'replyZone'): number | undefined =>
    filter[key] === undefined ? undefined : integer(filter[key], `${where}.${key}`, 0, 65535);

  const tuple = (
    srcKey: 'src' | 'replySrc',
    dstKey: 'dst' | 'replyDst',
    sportKey: 'srcPort' | 'replySrcPort',
    dportKey: 'dstPort' | 'replyDstPort',
    zoneKey: 'origZone' | 'replyZone',
  ): NativeTupleFilter | undefined => {
    const t: NativeTupleFilter = {};
    const src = address(srcKey);
    const dst = address(dstKey);
    if (src) {
      t.src = src.bytes;
      t.srcPrefix = src.prefix;
    }
    if (dst) {
      t.dst = dst.bytes;
      t.dstPrefix = dst.prefix;
    }
    const sp = port(sportKey);
    const dp = port(dportKey);
    const z = zone(zoneKey);
    if (sp !== undefined) t.srcPort = sp;
    if (dp !== undefined) t.dstPort = dp;
    if (z !== undefined) t.zone = z;
    return Object.keys(t).length > 0 ? t : undefined;
  };
  const orig = tuple('src', 'dst', 'srcPort', 'dstPort', 'origZone');
  const reply = tuple('replySrc', 'replyDst', 'replySrcPort', 'replyDstPort', 'replyZone');
  if (orig) out.orig = orig;
  if (reply) out.reply = reply;
  if (family !== undefined) out.family = family;

  if (filter.protocol !== undefined) out.protocol = protocolNumber(filter.protocol, `${where}.protocol`);

  if (filter.mark !== undefined) {
    const m = filter.mark;
    if (typeof m === 'number') {
      out.mark = integer(m, `${where}.mark`, 0, U32);
      out.markMask = U32;
    } else {
      assertObject(m, `${where}.mark`);
      assertKnownKeys(m, ['value', 'mask'], `${where}.mark`);
      out.mark = integer(m.value, `${where}.mark.value`, 0, U32);
      out.markMask = integer(m.mask, `${where}.mark.mask`, 0, U32);
    }
  }
  const z = zone('zone');
  if (z !== undefined) out.zone = z;

  if (filter.status !== undefined) {
    let bits = 0;
    for (const name of list(filter.status, `${where}.status`)) {
      const bit = typeof name === 'string' ? statusBit(name) : undefined;
      if (bit === undefined) throw new TypeError(`${where}.status: unknown status ${describeValue(name)}`);
      bits |= 1 << bit;
    }
    out.status = bits >>> 0;
    out.statusMask = bits >>> 0;
  }
  if (filter.state !== undefined) {
    let states = 0;
    for (const s of list(filter.state, `${where}.state`)) {
      const idx = typeof s === 'string' ? TCP_STATES.indexOf(s.toUpperCase() as TcpState) : -1;
      if (idx < 0) {
        throw new TypeError(`${where}.state: unknown TCP state ${describeValue(s)} (one of ${TCP_STATES.join(', ')})`);
      }
      states |= 1 << idx;
    }
    out.tcpStates = states;
    if (out.protocol === undefined) out.protocol = PROTOCOLS.tcp;
    else if (out.protocol !== PROTOCOLS.tcp) {
      throw new TypeError(`${where}.state applies to TCP only, but protocol is ${describeValue(filter.protocol)}`);
    }
  }
  if (filter.labels !== undefined) {
    const words = new Uint32Array(4);
    for (const bit of list(filter.labels, `${where}.labels`)) {
      const b = integer(bit, `${where}.labels[]`, 0, 127);
      words[b >>> 5]! |= 1 << (b & 31);
    }
    out.labels = words;
  }
  return out;
}
