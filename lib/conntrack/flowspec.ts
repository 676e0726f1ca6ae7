// What create(), add(), createMany() and update() send, validated and normalised for native
// code (native/ct/request.h FlowSpec).
import { parseAddress } from '../core/address.js';
import { SpecFlags, SpecTupleFlags, SpecTupleWord, SpecWord } from '../core/layout.js';
import type { NativeTuple } from '../core/native.js';
import { AF_INET, PROTOCOLS } from '../core/protocols.js';
import { assertKnownKeys, assertObject, describeValue, int, integer, list, optionalInt,
  optionalInteger } from '../core/validate.js';
import { SCTP_STATES, TCP_STATES } from './constants.js';
import { statusBit } from './status.js';
import { isFlow, normalizeTuple, type TupleInput, tupleOf, tupleToInput } from './tuple.js';
import type { Flow, SctpState, StatusName, TcpState } from './types.js';

/** The reply direction, where it is not the original swapped: a tuple's addresses and layer-4 fields. */
export type ReplyInput = Partial<
  Pick<TupleInput, 'src' | 'dst' | 'srcPort' | 'dstPort' | 'type' | 'code' | 'id' | 'srcKey' | 'dstKey'>
>;

/** Where NAT rewrote an address (and port): conntrack's --src-nat / --dst-nat. */
export interface NatInput {
  /** The address it was rewritten to. */
  address: string;
  /** The port it was rewritten to, when NAT changed the port too. */
  port?: number;
}

/** A new entry. Only the original tuple and the timeout are required, as for conntrack -I. */
export interface FlowInput extends TupleInput {
  /** Seconds until it expires. */
  timeout: number;
  /** The reply tuple, if not the original swapped (ICMP types inverted). */
  reply?: ReplyInput;
  /** The original source was rewritten to this (the kernel derives the reply tuple). */
  snat?: NatInput;
  /** The original destination was rewritten to this. */
  dnat?: NatInput;
  /** Status bits to set, e.g. ['ASSURED', 'SEEN_REPLY']; CONFIRMED is always added. */
  status?: StatusName | readonly StatusName[];
  /** The entry's mark (conntrack -m). */
  mark?: number;
  /** Zone of the reply direction only (conntrack --reply-zone). */
  replyZone?: number;
  /** Label bits (0-127) to set. */
  labels?: number | readonly number[];
  /** TCP or SCTP state. */
  state?: TcpState | SctpState;
  /** SCTP verification tags. */
  vtag?: {
    /** The tag of the original direction. */
    original: number;
    /** The tag of the reply direction. */
    reply: number;
  };
  /** A conntrack helper to attach ('ftp', ...); the helper module must be loaded. */
  helper?: string;
}

/** What update() can change on an entry. */
export interface FlowChanges {
  /** New mark, or value/mask: the mark becomes (mark & ~mask) ^ value (conntrack -U -m V/M). */
  mark?:
    | number
    | {
      /** The bits to set (after the mask's bits are cleared). */
      value: number;
      /** The bits of the mark to change. */
      mask: number;
    };
  /** Seconds from now. */
  timeout?: number;
  /** Status bits to set (the kernel refuses to clear most of them). */
  status?: StatusName | readonly StatusName[];
  /** Labels to add and remove (bits 0-127). */
  labels?: {
    /** Label bits to set. */
    add?: number | readonly number[];
    /** Label bits to clear. */
    remove?: number | readonly number[];
  };
  /** New TCP state. */
  state?: TcpState;
}

/** Native FlowSpec. */
export interface NativeFlowSpec {
  orig: NativeTuple;
  reply?: NativeTuple;
  timeout?: number;
  status?: number;
  mark?: number;
  markMask?: number;
  zone?: number;
  tcpState?: number;
  sctpState?: number;
  vtagOriginal?: number;
  vtagReply?: number;
  labels?: Uint32Array;
  labelsMask?: Uint32Array;
  helper?: string;
  snat?: NativeNat;
  dnat?: NativeNat;
}

/** What a NAT rewrites in a packed spec: the address (4 or 16 bytes), and the port. */
export interface NativeNat {
  address: Buffer;
  port?: number;
}

const U32 = 0xffffffff;

// The packed layout of native/layout/layouts.h (lib/core/layout.ts is generated from it).
export const { SPEC_WORDS } = SpecWord;
const { SPEC_DNAT, SPEC_FLAGS, SPEC_KIND, SPEC_LABELS, SPEC_LABELS_MASK, SPEC_MARK, SPEC_MARK_MASK, SPEC_ORIG,
  SPEC_REPLY, SPEC_SNAT, SPEC_STATE, SPEC_STATUS, SPEC_TIMEOUT, SPEC_VTAG_ORIG, SPEC_VTAG_REPLY, SPEC_ZONE } = SpecWord;
const {
  SPEC_HAS_DNAT,
  SPEC_HAS_DNAT_PORT,
  SPEC_HAS_HELPER,
  SPEC_HAS_LABELS,
  SPEC_HAS_LABELS_MASK,
  SPEC_HAS_MARK,
  SPEC_HAS_MARK_MASK,
  SPEC_HAS_REPLY,
  SPEC_HAS_SCTP_STATE,
  SPEC_HAS_SNAT,
  SPEC_HAS_SNAT_PORT,
  SPEC_HAS_STATUS,
  SPEC_HAS_TCP_STATE,
  SPEC_HAS_TIMEOUT,
  SPEC_HAS_VTAG,
  SPEC_HAS_ZONE,
} = SpecFlags;
const { SPEC_TUPLE_DST, SPEC_TUPLE_FLAGS, SPEC_TUPLE_ICMP, SPEC_TUPLE_PORTS, SPEC_TUPLE_SRC, SPEC_TUPLE_ZONE } =
  SpecTupleWord;
const { SPEC_TUPLE_HAS_ICMP, SPEC_TUPLE_HAS_PORTS, SPEC_TUPLE_HAS_ZONE } = SpecTupleFlags;

function packTuple(w: Uint32Array, b: Uint8Array, at: number, t: NativeTuple): void {
  b.set(t.src, (at + SPEC_TUPLE_SRC) * 4);
  b.set(t.dst, (at + SPEC_TUPLE_DST) * 4);
  let flags = 0;
  if (t.srcPort !== undefined) {
    w[at + SPEC_TUPLE_PORTS] = (t.srcPort | (t.dstPort! << 16)) >>> 0;
    flags |= SPEC_TUPLE_HAS_PORTS;
  }
  if (t.icmpType !== undefined) {
    w[at + SPEC_TUPLE_ICMP] = (t.icmpType | (t.icmpCode! << 8) | (t.icmpId! << 16)) >>> 0;
    flags |= SPEC_TUPLE_HAS_ICMP;
  }
  if (t.tupleZone !== undefined) {
    w[at + SPEC_TUPLE_ZONE] = t.tupleZone;
    flags |= SPEC_TUPLE_HAS_ZONE;
  }
  w[at + SPEC_TUPLE_FLAGS] = flags;
}

/** Packs a NAT address (and port); true when there is a port. */
function packNat(w: Uint32Array, b: Uint8Array, at: number, nat: { address: Buffer; port?: number }): boolean {
  b.set(nat.address, at * 4);
  if (nat.port === undefined) return false;
  w[at + 4] = nat.port;
  return true;
}

/** The one-word fields of a spec: where each goes, and the flag that says it is there. */
const SCALARS: readonly (readonly [
  keyof NativeFlowSpec & ('timeout' | 'status' | 'mark' | 'markMask' | 'zone' | 'tcpState' | 'sctpState'),
  number,
  number,
])[] = [
  ['timeout', SPEC_TIMEOUT, SPEC_HAS_TIMEOUT],
  ['status', SPEC_STATUS, SPEC_HAS_STATUS],
  ['mark', SPEC_MARK, SPEC_HAS_MARK],
  ['markMask', SPEC_MARK_MASK, SPEC_HAS_MARK_MASK],
  ['zone', SPEC_ZONE, SPEC_HAS_ZONE],
  ['tcpState', SPEC_STATE, SPEC_HAS_TCP_STATE],
  ['sctpState', SPEC_STATE, SPEC_HAS_SCTP_STATE],
];

/** Packs normalised specs for native code: SPEC_WORDS words each, helper names aside. */
export function packFlowSpecs(
  specs: readonly NativeFlowSpec[],
): { words: Uint32Array; helpers: (string | undefined)[] | undefined } {
  const words = new Uint32Array(specs.length * SPEC_WORDS);
  const bytes = new Uint8Array(words.buffer);
  let helpers: (string | undefined)[] | undefined;
  for (let i = 0; i < specs.length; i++) {
    const s = specs[i]!;
    const b = i * SPEC_WORDS;
    let f = 0;
    words[b + SPEC_KIND] = s.orig.family | (s.orig.protocol << 8);
    packTuple(words, bytes, b + SPEC_ORIG, s.orig);
    if (s.reply) {
      packTuple(words, bytes, b + SPEC_REPLY, s.reply);
      f |= SPEC_HAS_REPLY;
    }
    for (const [key, word, flag] of SCALARS) {
      const v = s[key];
      if (v === undefined) continue;
      words[b + word] = v;
      f |= flag;
    }
    if (s.vtagOriginal !== undefined) {
      words[b + SPEC_VTAG_ORIG] = s.vtagOriginal;
      words[b + SPEC_VTAG_REPLY] = s.vtagReply!;
      f |= SPEC_HAS_VTAG;
    }
    if (s.labels) {
      words.set(s.labels, b + SPEC_LABELS);
      f |= SPEC_HAS_LABELS;
    }
    if (s.labelsMask) {
      words.set(s.labelsMask, b + SPEC_LABELS_MASK);
      f |= SPEC_HAS_LABELS_MASK;
    }
    if (s.snat) f |= packNat(words, bytes, b + SPEC_SNAT, s.snat) ? SPEC_HAS_SNAT | SPEC_HAS_SNAT_PORT : SPEC_HAS_SNAT;
    if (s.dnat) f |= packNat(words, bytes, b + SPEC_DNAT, s.dnat) ? SPEC_HAS_DNAT | SPEC_HAS_DNAT_PORT : SPEC_HAS_DNAT;
    if (s.helper !== undefined) {
      (helpers ??= new Array<string | undefined>(specs.length))[i] = s.helper;
      f |= SPEC_HAS_HELPER;
    }
    words[b + SPEC_FLAGS] = f;
  }
  return { words, helpers };
}
const TUPLE_KEYS = ['protocol', 'src', 'dst', 'srcPort', 'dstPort', 'type', 'code', 'id', 'srcKey', 'dstKey', 'zone',
  'origZone'];
const FLOW_KEYS = [...TUPLE_KEYS, 'timeout', 'reply', 'snat', 'dnat', 'status', 'mark', 'replyZone', 'labels', 'state',
  'vtag', 'helper'];
const REPLY_KEYS = ['src', 'dst', 'srcPort', 'dstPort', 'type', 'code', 'id', 'srcKey', 'dstKey'];

/** ICMP/ICMPv6 query types and their replies, both ways. */
export const ICMP_REPLY: Record<number, Record<number, number>> = {
  [PROTOCOLS.icmp]: { 8: 0, 0: 8, 13: 14, 14: 13, 15: 16, 16: 15, 17: 18, 18: 17 },
  [PROTOCOLS.icmpv6]: { 128: 129, 129: 128, 130: 131, 131: 130 },
};

function statusBits(value: StatusName | readonly StatusName[], where: string): number {
  let bits = 0;
  for (const name of list(value, where)) {
    const bit = typeof name === 'string' ? statusBit(name) : undefined;
    if (bit === undefined) throw new TypeError(`${where}: unknown status ${describeValue(name)}`);
    bits |= 1 << bit;
  }
  return bits >>> 0;
}

function labelWords(value: number | readonly number[], where: string): Uint32Array {
  const words = new Uint32Array(4);
  for (const bit of list(value, where)) {
    const b = integer(bit, `${where}[]`, 0, 127);
    words[b >>> 5]! |= 1 << (b & 31);
  }
  return words;
}

function nat(value: NatInput | undefined, family: number, where: string): { address: Buffer; port?: number }
  | undefined
{
  if (value === undefined) return undefined;
  assertObject(value, where);
  assertKnownKeys(value, ['address', 'port'], where);
  const addr = typeof value.address === 'string' ? parseAddress(value.address) : undefined;
  if (!addr) {
    throw new TypeError(`${where}.address must be an IPv4 or IPv6 address, got ${describeValue(value.address)}`);
  }
  if (addr.family !== family) throw new TypeError(`${where}.address must be of the same family as the tuple`);
  const port = optionalInteger(value.port, `${where}.port`, 0, 65535);
  return port === undefined ? { address: addr.bytes } : { address: addr.bytes, port };
}

/** The original swapped, as conntrack -I does; ICMP query types become their replies. */
function swappedTuple(orig: NativeTuple): NativeTuple {
  const out: NativeTuple = { family: orig.family, protocol: orig.protocol, src: orig.dst, dst: orig.src };
  if (orig.srcPort !== undefined) out.srcPort = orig.dstPort;
  if (orig.dstPort !== undefined) out.dstPort = orig.srcPort;
  if (orig.icmpType !== undefined) {
    const type = ICMP_REPLY[orig.protocol]?.[orig.icmpType];
    Object.assign(out, { icmpType: type, icmpCode: orig.icmpCode, icmpId: orig.icmpId });
  }
  return out;
}

function replyTuple(orig: NativeTuple, input: FlowInput, where: string): NativeTuple {
  const r = input.reply;
  const swapped = swappedTuple(orig);
  if (r === undefined) {
    if (orig.icmpType !== undefined && swapped.icmpType === undefined) {
      throw new TypeError(`${where}: ICMP type ${orig.icmpType} has no reply type; give reply.type`);
    }
    // With snat/dnat the kernel rewrites this swapped tuple itself; it needs both tuples.
    return swapped;
  }
  assertObject(r, `${where}.reply`);
  assertKnownKeys(r, REPLY_KEYS, `${where}.reply`);
  for (const k of REPLY_KEYS) {
    if ((r as Record<string, unknown>)[k] === null) {
      throw new TypeError(`${where}.reply.${k} must not be null (leave it out to take the swapped original)`);
    }
  }
  const o = input as unknown as Record<string, unknown>;
  // A native tuple holds GRE keys where the ports go: the reply's keys, not its ports.
  const gre = orig.protocol === PROTOCOLS.gre;
  return normalizeTuple(
    {
      protocol: orig.protocol,
      src: r.src ?? (o.dst as string),
      dst: r.dst ?? (o.src as string),
      srcPort: r.srcPort ?? (gre ? undefined : swapped.srcPort),
      dstPort: r.dstPort ?? (gre ? undefined : swapped.dstPort),
      type: r.type ?? swapped.icmpType,
      code: r.code ?? swapped.icmpCode,
      id: r.id ?? swapped.icmpId,
      srcKey: r.srcKey ?? (gre ? swapped.srcPort : undefined),
      dstKey: r.dstKey ?? (gre ? swapped.dstPort : undefined),
    },
    `${where}.reply`,
  );
}

/** Sets the TCP or SCTP state of a spec from input.state. */
function setState(spec: NativeFlowSpec, input: FlowInput | FlowChanges, protocol: number, where: string): void {
  if (input.state === undefined) return;
  if (protocol === PROTOCOLS.tcp) {
    const n = TCP_STATES.indexOf(input.state as TcpState);
    if (n < 0) {
      throw new TypeError(
        `${where}.state: unknown TCP state ${describeValue(input.state)} (one of ${TCP_STATES.join(', ')})`,
      );
    }
    spec.tcpState = n;
  } else if (protocol === PROTOCOLS.sctp) {
    const n = SCTP_STATES.indexOf(input.state as SctpState);
    if (n < 0) throw new TypeError(`${where}.state: unknown SCTP state ${describeValue(input.state)}`);
    spec.sctpState = n;
  } else {
    throw new TypeError(`${where}.state applies to TCP and SCTP only`);
  }
}

/**
 * The status bits of a Flow read from the table that a create carries over. The kernel sets
 * CONFIRMED itself and the NAT bits from snat/dnat, and refuses EXPECTED, DYING and the rest.
 */
const COPIED_STATUS: readonly StatusName[] = ['SEEN_REPLY', 'ASSURED', 'FIXED_TIMEOUT'];

/**
 * The FlowInput that creates again an entry read from the table (in this or another
 * namespace): its tuples (NAT as snat/dnat, so the kernel derives the same reply), timeout,
 * status, mark, zones, labels, TCP/SCTP state and helper. Counters, ids and timestamps are the
 * kernel's own and start afresh.
 */
export function flowToInput(flow: Flow, where: string): FlowInput {
  const o: unknown = flow.original;
  const r: unknown = flow.reply;
  if (o === null || typeof o !== 'object') {
    throw new TypeError(`${where}.original must be a tuple object (a Flow's), got ${describeValue(o)}`);
  }
  if (r === null || typeof r !== 'object') {
    throw new TypeError(`${where}.reply must be a tuple object (a Flow's), got ${describeValue(r)}`);
  }
  if (flow.timeout === undefined) {
    throw new TypeError(`${where}: the Flow has no timeout (an entry being destroyed); give one`);
  }
  const input: FlowInput = { ...tupleToInput(flow.original, flow.protonum), timeout: flow.timeout };
  const set = (key: keyof FlowInput, value: unknown): void => {
    if (value !== undefined) (input as unknown as Record<string, unknown>)[key] = value;
  };
  if (flow.zone !== undefined) set('zone', flow.zone);
  else {
    set('origZone', flow.original.zone);
    set('replyZone', flow.reply.zone);
  }
  // Without NAT the reply is the original turned round (lib/conntrack/flow.ts natOf()), as the
  // kernel makes it from the original alone; with NAT, snat/dnat make the same reply.
  if (flow.nat) {
    set('snat', flow.nat.src);
    set('dnat', flow.nat.dst);
  }
  const status = COPIED_STATUS.filter((n) => flow.status.has(n));
  if (status.length > 0) input.status = status;
  if (flow.mark) input.mark = flow.mark;
  if (flow.labels?.length) input.labels = flow.labels;
  if (flow.protocol === 'tcp' && flow.tcp) input.state = flow.tcp.state;
  if (flow.protocol === 'sctp' && flow.sctp) {
    input.state = flow.sctp.state;
    input.vtag = { original: flow.sctp.vtagOriginal, reply: flow.sctp.vtagReply };
  }
  set('helper', flow.helper);
  return input;
}

/** Validates a new entry (or takes a Flow read from the table) and normalises it. */
export function normalizeFlowInput(input: FlowInput | Flow, where: string): NativeFlowSpec {
  assertObject(input, where);
  if (isFlow(input)) return normalizeFlowInput(flowToInput(input, where), where);
  assertKnownKeys(input, FLOW_KEYS, where);
  const orig = tupleOf(input, where);
  const spec: NativeFlowSpec = { orig, timeout: int(input.timeout, where, 'timeout', 0, U32) };
  // The entry's zone travels as CTA_ZONE, not inside the tuple.
  if (orig.zone !== undefined) {
    spec.zone = orig.zone;
    delete orig.zone;
  }
  const reply = replyTuple(orig, input, where);
  const replyZone = optionalInt(input.replyZone, where, 'replyZone', 0, 65535);
  if (replyZone !== undefined) {
    if (spec.zone !== undefined) {
      throw new TypeError(`${where}: give zone (both directions) or origZone/replyZone, not both`);
    }
    if (orig.tupleZone !== undefined) throw new TypeError(`${where}: the kernel takes origZone or replyZone, not both`);
  }
  spec.reply = reply;
  if (replyZone !== undefined) reply.tupleZone = replyZone;
  const snat = nat(input.snat, orig.family, `${where}.snat`);
  const dnat = nat(input.dnat, orig.family, `${where}.dnat`);
  if ((snat || dnat) && input.reply !== undefined) throw new TypeError(`${where}: give reply or snat/dnat, not both`);
  if (snat) spec.snat = snat;
  if (dnat) spec.dnat = dnat;
  if (input.status !== undefined) spec.status = statusBits(input.status, `${where}.status`);
  if (input.mark !== undefined) spec.mark = int(input.mark, where, 'mark', 0, U32);
  if (input.labels !== undefined) {
    spec.labels = labelWords(input.labels, `${where}.labels`);
    spec.labelsMask = spec.labels;
  }
  setState(spec, input, orig.protocol, where);
  if (input.vtag !== undefined) {
    if (orig.protocol !== PROTOCOLS.sctp) throw new TypeError(`${where}.vtag applies to SCTP only`);
    assertObject(input.vtag, `${where}.vtag`);
    assertKnownKeys(input.vtag, ['original', 'reply'], `${where}.vtag`);
    spec.vtagOriginal = integer(input.vtag.original, `${where}.vtag.original`, 0, U32);
    spec.vtagReply = integer(input.vtag.reply, `${where}.vtag.reply`, 0, U32);
  }
  if (input.helper !== undefined) {
    if (typeof input.helper !== 'string' || !/^[A-Za-z0-9_.-]{1,15}$/.test(input.helper)) {
      throw new TypeError(`${where}.helper must be a helper name such as 'ftp', got ${describeValue(input.helper)}`);
    }
    spec.helper = input.helper;
  }
  return spec;
}

/** Validates the changes of an update for the entry `target`. */
export function normalizeChanges(target: TupleInput | Flow, changes: FlowChanges, where: string): NativeFlowSpec {
  return changesFor(normalizeTuple(target, `${where} target`), changes, where);
}

/** normalizeChanges() for a tuple already normalised (a dumped flow's, see flowTuple()). */
export function changesFor(orig: NativeTuple, changes: FlowChanges, where: string): NativeFlowSpec {
  assertObject(changes, `${where} changes`);
  assertKnownKeys(changes, ['mark', 'timeout', 'status', 'labels', 'state'], `${where} changes`);
  const spec: NativeFlowSpec = { orig };
  if (orig.zone !== undefined) {
    spec.zone = orig.zone;
    delete orig.zone;
  }
  const w = `${where} changes`;
  if (changes.timeout !== undefined) spec.timeout = integer(changes.timeout, `${w}.timeout`, 0, U32);
  if (changes.status !== undefined) spec.status = statusBits(changes.status, `${w}.status`);
  if (changes.mark !== undefined) {
    const m = changes.mark;
    if (typeof m === 'number') spec.mark = integer(m, `${w}.mark`, 0, U32);
    else {
      assertObject(m, `${w}.mark`);
      assertKnownKeys(m, ['value', 'mask'], `${w}.mark`);
      spec.mark = integer(m.value, `${w}.mark.value`, 0, U32);
      spec.markMask = integer(m.mask, `${w}.mark.mask`, 0, U32);
    }
  }
  if (changes.labels !== undefined) {
    assertObject(changes.labels, `${w}.labels`);
    assertKnownKeys(changes.labels, ['add', 'remove'], `${w}.labels`);
    if (changes.labels.add === undefined && changes.labels.remove === undefined) {
      throw new TypeError(`${w}.labels: give add or remove`);
    }
    const add = changes.labels.add !== undefined
      ? labelWords(changes.labels.add, `${w}.labels.add`)
      : new Uint32Array(4);
    const remove = changes.labels.remove !== undefined
      ? labelWords(changes.labels.remove, `${w}.labels.remove`)
      : new Uint32Array(4);
    const mask = new Uint32Array(4);
    for (let i = 0; i < 4; i++) {
      if (add[i]! & remove[i]!) throw new TypeError(`${w}.labels: a label cannot be both added and removed`);
      mask[i] = add[i]! | remove[i]!;
    }
    spec.labels = add;
    spec.labelsMask = mask;
  }
  setState(spec, changes, orig.protocol, w);
  if (Object.keys(spec).length === 1 + (spec.zone !== undefined ? 1 : 0)) {
    throw new TypeError(`${w}: nothing to change (give mark, timeout, status, labels or state)`);
  }
  return spec;
}

export { AF_INET };
