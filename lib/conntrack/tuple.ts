import { addressBytes } from '../core/address.js';
import type { NativeTuple } from '../core/native.js';
import { AF_INET, AF_INET6, PROTOCOLS } from '../core/protocols.js';
import { assertKnownKeys, assertObject, describeValue, int, optionalInt } from '../core/validate.js';
import type { Flow, ProtocolName, Tuple } from './types.js';

/** Identifies one entry by its original tuple, as conntrack -G -s -d -p --sport --dport does. */
export interface TupleInput {
  /** The layer-4 protocol, by name ('tcp') or number (conntrack -p). */
  protocol: Exclude<ProtocolName, 'unknown'> | number;
  /** The original source address, IPv4 or IPv6 (conntrack -s). */
  src: string;
  /** The original destination address (conntrack -d). */
  dst: string;
  /** Source port: TCP, UDP, UDP-Lite, SCTP, DCCP (required for them). */
  srcPort?: number;
  /** Destination port, for the same protocols (required for them). */
  dstPort?: number;
  /** ICMP/ICMPv6 type (required for them). */
  type?: number;
  /** ICMP/ICMPv6 code (required for them). */
  code?: number;
  /** ICMP/ICMPv6 echo id (required for them). */
  id?: number;
  /** GRE source key. */
  srcKey?: number;
  /** GRE destination key. */
  dstKey?: number;
  /** The entry's zone, both directions (conntrack -w; default 0). */
  zone?: number;
  /** The zone of the original direction only (conntrack --orig-zone). */
  origZone?: number;
}

/** The fields of a tuple that name its layer-4 part: ports, ICMP type/code/id, GRE keys. */
export const LAYER4_KEYS = ['srcPort', 'dstPort', 'type', 'code', 'id', 'srcKey', 'dstKey'] as const;
/** One of LAYER4_KEYS. */
export type Layer4Key = (typeof LAYER4_KEYS)[number];
const TUPLE_KEYS = ['protocol', 'src', 'dst', ...LAYER4_KEYS, 'zone', 'origZone'];
const PORT_PROTOCOLS = new Set<number>([PROTOCOLS.tcp, PROTOCOLS.udp, PROTOCOLS.udplite, PROTOCOLS.sctp,
  PROTOCOLS.dccp]);
const ICMP_PROTOCOLS = new Set<number>([PROTOCOLS.icmp, PROTOCOLS.icmpv6]);

/** Whether an object is a Flow read from the table (list(), get(), events) rather than an input. */
export function isFlow(value: object): value is Flow {
  return 'original' in value && 'status' in value;
}

/** The TupleInput that names a decoded tuple again (with only the layer-4 fields it has). */
export function tupleToInput(t: Tuple, protonum: number): TupleInput {
  const o = t as unknown as Partial<Record<Layer4Key, number>>;
  const input: TupleInput = { protocol: protonum, src: t.src, dst: t.dst };
  for (const k of LAYER4_KEYS) if (o[k] !== undefined) input[k] = o[k];
  return input;
}

/** Validates a tuple (or takes a Flow's original tuple) and normalises it for native code. */
export function normalizeTuple(input: TupleInput | Flow, where: string): NativeTuple {
  assertObject(input, where);
  if (isFlow(input)) {
    const o: unknown = input.original;
    if (o === null || typeof o !== 'object') {
      throw new TypeError(`${where}.original must be a tuple object (a Flow's), got ${describeValue(o)}`);
    }
    return normalizeTuple({ ...tupleToInput(input.original, input.protonum), zone: input.zone,
      origZone: input.original.zone }, where);
  }
  assertKnownKeys(input, TUPLE_KEYS, where);
  return tupleOf(input, where);
}

/**
 * The original tuple of a flow the kernel reported, for native code, without the checks an
 * input from a user needs (bulk operations name thousands of dumped flows).
 */
export function flowTuple(f: Flow): NativeTuple {
  const o = f.original as Tuple & { srcPort?: number; dstPort?: number; type?: number; code?: number; id?: number;
    srcKey?: number; dstKey?: number };
  const src = addressBytes(o.src)!;
  const out: NativeTuple = { family: src.length === 4 ? AF_INET : AF_INET6, protocol: f.protonum, src,
    dst: addressBytes(o.dst)! };
  if (o.srcPort !== undefined) {
    out.srcPort = o.srcPort;
    out.dstPort = o.dstPort;
  } else if (o.srcKey !== undefined) {
    out.srcPort = o.srcKey;
    out.dstPort = o.dstKey;
  } else if (o.type !== undefined) {
    out.icmpType = o.type;
    out.icmpCode = o.code;
    out.icmpId = o.id;
  }
  if (f.zone !== undefined && o.zone === undefined) out.zone = f.zone;
  else if (o.zone !== undefined) out.tupleZone = o.zone;
  return out;
}

const PORT_KEYS = ['srcPort', 'dstPort'] as const;
const GRE_KEYS = ['srcKey', 'dstKey'] as const;
const ICMP_KEYS = ['type', 'code', 'id'] as const;

/** Refuses fields of another protocol. */
function misplaced(input: TupleInput, keys: readonly (keyof TupleInput)[], where: string): void {
  for (const k of keys) {
    if (input[k] !== undefined) {
      throw new TypeError(`${where}.${k} does not apply to protocol ${describeValue(input.protocol)}`);
    }
  }
}

/** The tuple part of an input whose keys were already checked (a tuple or a flow input). */
export function tupleOf(input: TupleInput, where: string): NativeTuple {
  let protocol: number;
  if (typeof input.protocol === 'number') protocol = int(input.protocol, where, 'protocol', 0, 255);
  else if (typeof input.protocol === 'string' && Object.hasOwn(PROTOCOLS, input.protocol)) {
    protocol = PROTOCOLS[input.protocol];
  } else {
    throw new TypeError(`${where}.protocol must be a protocol name or number, got ${describeValue(input.protocol)}`);
  }

  const src = typeof input.src === 'string' ? addressBytes(input.src) : undefined;
  if (!src) throw new TypeError(`${where}.src must be an IPv4 or IPv6 address, got ${describeValue(input.src)}`);
  const dst = typeof input.dst === 'string' ? addressBytes(input.dst) : undefined;
  if (!dst) throw new TypeError(`${where}.dst must be an IPv4 or IPv6 address, got ${describeValue(input.dst)}`);
  if (src.length !== dst.length) throw new TypeError(`${where}: src and dst must be of the same family`);
  const family = src.length === 4 ? AF_INET : AF_INET6;
  if (protocol === PROTOCOLS.icmp && family !== AF_INET) {
    throw new TypeError(`${where}.protocol 'icmp' needs IPv4 addresses; use 'icmpv6'`);
  }
  if (protocol === PROTOCOLS.icmpv6 && family !== AF_INET6) {
    throw new TypeError(`${where}.protocol 'icmpv6' needs IPv6 addresses; use 'icmp'`);
  }

  const out: NativeTuple = { family, protocol, src, dst };
  const ports = PORT_PROTOCOLS.has(protocol);
  const icmp = ICMP_PROTOCOLS.has(protocol);
  if (ports) {
    out.srcPort = int(input.srcPort, where, 'srcPort', 0, 65535);
    out.dstPort = int(input.dstPort, where, 'dstPort', 0, 65535);
  } else if (protocol === PROTOCOLS.gre) {
    out.srcPort = optionalInt(input.srcKey, where, 'srcKey', 0, 65535) ?? 0;
    out.dstPort = optionalInt(input.dstKey, where, 'dstKey', 0, 65535) ?? 0;
  } else if (icmp) {
    out.icmpType = int(input.type, where, 'type', 0, 255);
    out.icmpCode = int(input.code, where, 'code', 0, 255);
    out.icmpId = int(input.id, where, 'id', 0, 65535);
  }
  if (!ports) misplaced(input, PORT_KEYS, where);
  if (protocol !== PROTOCOLS.gre) misplaced(input, GRE_KEYS, where);
  if (!icmp) misplaced(input, ICMP_KEYS, where);
  const zone = optionalInt(input.zone, where, 'zone', 0, 65535);
  const origZone = optionalInt(input.origZone, where, 'origZone', 0, 65535);
  if (zone !== undefined && origZone !== undefined) {
    throw new TypeError(`${where}: give zone (both directions) or origZone, not both`);
  }
  if (zone !== undefined) out.zone = zone;
  if (origZone !== undefined) out.tupleZone = origZone;
  return out;
}
