import { parseAddress } from './address.js';
import { PROTOCOLS } from './constants.js';
import type { NativeTuple } from './native.js';
import type { Flow, ProtocolName, Tuple } from './types.js';
import { assertKnownKeys, assertObject, describe, integer, optionalInteger } from './validate.js';

/** Identifies one entry by its original tuple, as conntrack -G -s -d -p --sport --dport does. */
export interface TupleInput {
  protocol: Exclude<ProtocolName, 'unknown'> | number;
  src: string;
  dst: string;
  /** TCP, UDP, UDP-Lite, SCTP, DCCP (required for them). */
  srcPort?: number;
  dstPort?: number;
  /** ICMP/ICMPv6 type, code and id (required for them). */
  type?: number;
  code?: number;
  id?: number;
  /** GRE keys. */
  srcKey?: number;
  dstKey?: number;
  /** The entry's zone, both directions (conntrack -w; default 0). */
  zone?: number;
  /** The zone of the original direction only (conntrack --orig-zone). */
  origZone?: number;
}

const TUPLE_KEYS = ['protocol', 'src', 'dst', 'srcPort', 'dstPort', 'type', 'code', 'id', 'srcKey', 'dstKey', 'zone', 'origZone'];
const PORT_PROTOCOLS = new Set<number>([PROTOCOLS.tcp, PROTOCOLS.udp, PROTOCOLS.udplite, PROTOCOLS.sctp, PROTOCOLS.dccp]);
const ICMP_PROTOCOLS = new Set<number>([PROTOCOLS.icmp, PROTOCOLS.icmpv6]);

function isFlow(value: object): value is Flow {
  return 'original' in value && 'status' in value;
}

/** The TupleInput that names a decoded tuple again. */
export function tupleToInput(t: Tuple, protonum: number): TupleInput {
  const o = t as unknown as Record<string, number | undefined>;
  return {
    protocol: protonum,
    src: t.src,
    dst: t.dst,
    srcPort: o.srcPort,
    dstPort: o.dstPort,
    type: o.type,
    code: o.code,
    id: o.id,
    srcKey: o.srcKey,
    dstKey: o.dstKey,
  };
}

/** Validates a tuple (or takes a Flow's original tuple) and normalises it for native code. */
export function normalizeTuple(input: TupleInput | Flow, where: string): NativeTuple {
  assertObject(input, where);
  if (isFlow(input)) {
    return normalizeTuple({ ...tupleToInput(input.original, input.protonum), zone: input.zone, origZone: input.original.zone }, where);
  }
  assertKnownKeys(input as unknown as Record<string, unknown>, TUPLE_KEYS, where);
  let protocol: number;
  if (typeof input.protocol === 'number') protocol = integer(input.protocol, `${where}.protocol`, 0, 255);
  else if (typeof input.protocol === 'string' && Object.hasOwn(PROTOCOLS, input.protocol)) protocol = PROTOCOLS[input.protocol];
  else throw new TypeError(`${where}.protocol must be a protocol name or number, got ${describe(input.protocol)}`);

  const src = typeof input.src === 'string' ? parseAddress(input.src) : undefined;
  if (!src) throw new TypeError(`${where}.src must be an IPv4 or IPv6 address, got ${describe(input.src)}`);
  const dst = typeof input.dst === 'string' ? parseAddress(input.dst) : undefined;
  if (!dst) throw new TypeError(`${where}.dst must be an IPv4 or IPv6 address, got ${describe(input.dst)}`);
  if (src.family !== dst.family) throw new TypeError(`${where}: src and dst must be of the same family`);
  if (protocol === PROTOCOLS.icmp && src.family !== 2) throw new TypeError(`${where}.protocol 'icmp' needs IPv4 addresses; use 'icmpv6'`);
  if (protocol === PROTOCOLS.icmpv6 && src.family !== 10) throw new TypeError(`${where}.protocol 'icmpv6' needs IPv6 addresses; use 'icmp'`);

  const out: NativeTuple = { family: src.family, protocol, src: src.bytes, dst: dst.bytes };
  if (PORT_PROTOCOLS.has(protocol)) {
    out.srcPort = integer(input.srcPort, `${where}.srcPort`, 0, 65535);
    out.dstPort = integer(input.dstPort, `${where}.dstPort`, 0, 65535);
  } else if (protocol === PROTOCOLS.gre) {
    out.srcPort = optionalInteger(input.srcKey, `${where}.srcKey`, 0, 65535) ?? 0;
    out.dstPort = optionalInteger(input.dstKey, `${where}.dstKey`, 0, 65535) ?? 0;
  } else if (ICMP_PROTOCOLS.has(protocol)) {
    out.icmpType = integer(input.type, `${where}.type`, 0, 255);
    out.icmpCode = integer(input.code, `${where}.code`, 0, 255);
    out.icmpId = integer(input.id, `${where}.id`, 0, 65535);
  }
  for (const k of ['srcPort', 'dstPort'] as const) {
    if (input[k] !== undefined && !PORT_PROTOCOLS.has(protocol)) throw new TypeError(`${where}.${k} does not apply to protocol ${describe(input.protocol)}`);
  }
  for (const k of ['srcKey', 'dstKey'] as const) {
    if (input[k] !== undefined && protocol !== PROTOCOLS.gre) throw new TypeError(`${where}.${k} does not apply to protocol ${describe(input.protocol)}`);
  }
  for (const k of ['type', 'code', 'id'] as const) {
    if (input[k] !== undefined && !ICMP_PROTOCOLS.has(protocol)) throw new TypeError(`${where}.${k} does not apply to protocol ${describe(input.protocol)}`);
  }
  const zone = optionalInteger(input.zone, `${where}.zone`, 0, 65535);
  const origZone = optionalInteger(input.origZone, `${where}.origZone`, 0, 65535);
  if (zone !== undefined && origZone !== undefined) {
    throw new TypeError(`${where}: give zone (both directions) or origZone, not both`);
  }
  if (zone !== undefined) out.zone = zone;
  if (origZone !== undefined) out.tupleZone = origZone;
  return out;
}
