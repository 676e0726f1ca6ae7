// Turns the native flow records (native/ct/flow.h) into Flow objects.
import { jsonSafe, plainJson } from '../core/json.js';
import { AF_INET6, DCCP_STATES, SCTP_STATES, TCP_STATES, protocolName } from '../core/constants.js';
import { addon } from '../core/native.js';
import { Status } from './status.js';
import type {
  Counters,
  DccpInfo,
  Family,
  Flow,
  NatInfo,
  ProtocolName,
  SctpInfo,
  SeqAdjust,
  Synproxy,
  TcpInfo,
  Tuple,
} from './types.js';

// Must match native/ct/flow.h.
const LAYOUT_VERSION = 1;
export const FLOW_WORDS = 56;

const P_ORIG = 1 << 0;
const P_REPLY = 1 << 1;
const P_MASTER = 1 << 2;
const P_ID = 1 << 3;
const P_STATUS = 1 << 4;
const P_TIMEOUT = 1 << 5;
const P_MARK = 1 << 6;
const P_SECMARK = 1 << 7;
const P_USE = 1 << 8;
const P_ZONE = 1 << 9;
const P_LABELS = 1 << 10;
const P_COUNTERS_ORIG = 1 << 11;
const P_COUNTERS_REPLY = 1 << 12;
const P_TS_START = 1 << 13;
const P_TS_STOP = 1 << 14;
const P_TCP = 1 << 15;
const P_SCTP = 1 << 16;
const P_DCCP = 1 << 17;
const P_HELPER = 1 << 18;
const P_SECCTX = 1 << 19;
const P_SEQADJ_ORIG = 1 << 20;
const P_SEQADJ_REPLY = 1 << 21;
const P_SYNPROXY = 1 << 22;
const P_TS_EVENT = 1 << 23;

const TP_PORTS = 1 << 9;
const TP_ICMP = 1 << 10;
const TP_ZONE = 1 << 11;

const W_PRESENT = 0;
const W_KIND = 1;
const W_ID = 2;
const W_STATUS = 3;
const W_TIMEOUT = 4;
const W_MARK = 5;
const W_SECMARK = 6;
const W_USE = 7;
const W_ZONE = 8;
const W_LABELS = 9;
const W_COUNTERS = 13;
const W_TS_START = 21;
const W_TS_STOP = 23;
const W_PROTO = 25;
const W_ORIG = 30;
const W_REPLY = 34;
const W_MASTER = 38;
const W_SEQADJ_ORIG = 42;
const W_SEQADJ_REPLY = 45;
const W_SYNPROXY = 48;
const W_TS_EVENT = 51;

if (addon.FLOW_WORDS !== FLOW_WORDS || addon.FLOW_LAYOUT_VERSION !== LAYOUT_VERSION) {
  throw new Error(
    `@x/nfct: the native addon's flow layout (${addon.FLOW_LAYOUT_VERSION}/${addon.FLOW_WORDS}) ` +
      `does not match this version of lib/conntrack/flow.ts (${LAYOUT_VERSION}/${FLOW_WORDS}); rebuild the addon`,
  );
}

/** Message type (IPCTNL_MSG_CT_*) of a record, for events. */
export function recordMsgType(words: Uint32Array, index: number): number {
  return (words[index * FLOW_WORDS + W_KIND]! >>> 16) & 0xff;
}

/** An event record's kind: 'destroy' for IPCTNL_MSG_CT_DELETE, else 'new' or 'update'. */
export function recordEventType(words: Uint32Array, index: number): 'new' | 'update' | 'destroy' {
  const kind = words[index * FLOW_WORDS + W_KIND]!;
  if (((kind >>> 16) & 0xff) === 2) return 'destroy';
  return (kind >>> 24) & 2 ? 'new' : 'update';
}

/** The netlink port id of the process whose request caused an event (0: the kernel itself). */
export function recordPortId(words: Uint32Array, index: number): number {
  return words[index * FLOW_WORDS + 53]!;
}

/** When an event happened: the kernel's event time if it sent one, else when it was received. */
export function recordEventTime(words: Uint32Array, index: number): bigint {
  return big64(words, index * FLOW_WORDS + W_TS_EVENT);
}

/** Whether the kernel flagged the record's dump as interrupted by a concurrent change. */
export function recordDumpInterrupted(words: Uint32Array, index: number): boolean {
  return ((words[index * FLOW_WORDS + W_KIND]! >>> 24) & 1) !== 0;
}

function u64(w: Uint32Array, at: number): number {
  return w[at + 1]! * 0x100000000 + w[at]!;
}

function big64(w: Uint32Array, at: number): bigint {
  return (BigInt(w[at + 1]!) << 32n) | BigInt(w[at]!);
}

const PORT_KINDS = new Set<ProtocolName>(['tcp', 'udp', 'udplite', 'sctp', 'dccp']);

export function makeTuple(
  w: Uint32Array,
  at: number,
  kind: ProtocolName,
  src: string,
  dst: string,
): Tuple {
  const meta = w[at]!;
  const protonum = meta & 0xff;
  const zone = meta & TP_ZONE ? w[at + 3]! : undefined;
  if (meta & TP_PORTS || PORT_KINDS.has(kind)) {
    // A port protocol the kernel tracks generically (DCCP since Linux 6.16) sends no ports:
    // they read as 0, as conntrack prints them.
    const ports = w[at + 1]!;
    if (kind === 'gre') {
      return { src, dst, protonum, srcKey: ports & 0xffff, dstKey: ports >>> 16, zone };
    }
    return { src, dst, protonum, srcPort: ports & 0xffff, dstPort: ports >>> 16, zone };
  }
  if (meta & TP_ICMP) {
    const icmp = w[at + 2]!;
    return { src, dst, protonum, type: icmp & 0xff, code: (icmp >>> 8) & 0xff, id: icmp >>> 16, zone };
  }
  return { src, dst, protonum, zone };
}

function counters(w: Uint32Array, at: number): Counters {
  return { packets: u64(w, at), bytes: u64(w, at + 2) };
}

function seqAdj(w: Uint32Array, at: number): SeqAdjust {
  return { correctionPos: w[at]!, offsetBefore: w[at + 1]!, offsetAfter: w[at + 2]! };
}

function labelList(w: Uint32Array, at: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < 4; i++) {
    let word = w[at + i]!;
    while (word !== 0) {
      const bit = 31 - Math.clz32(word & -word);
      out.push(i * 32 + bit);
      word &= word - 1;
    }
  }
  return out;
}

function natOf(orig: Tuple, reply: Tuple): NatInfo | undefined {
  const o = orig as { srcPort?: number; dstPort?: number };
  const r = reply as { srcPort?: number; dstPort?: number };
  let nat: NatInfo | undefined;
  if (reply.dst !== orig.src || r.dstPort !== o.srcPort) {
    nat = { src: { address: reply.dst, port: r.dstPort } };
  }
  if (reply.src !== orig.dst || r.srcPort !== o.dstPort) {
    (nat ??= {}).dst = { address: reply.src, port: r.srcPort };
  }
  return nat;
}

/** Flow objects share one class so they have one shape; toJSON makes them JSON-safe. */
class FlowObject {
  family: Family = 'ipv4';
  protocol: ProtocolName = 'unknown';
  protonum = 0;
  original: Tuple = undefined as unknown as Tuple;
  reply: Tuple = undefined as unknown as Tuple;
  master: Tuple | undefined = undefined;
  id: number | undefined = undefined;
  status: Status = undefined as unknown as Status;
  timeout: number | undefined = undefined;
  mark: number | undefined = undefined;
  secmark: number | undefined = undefined;
  use: number | undefined = undefined;
  zone: number | undefined = undefined;
  labels: number[] | undefined = undefined;
  counters: { original: Counters; reply: Counters } | undefined = undefined;
  timestamp: { start: bigint; stop?: bigint } | undefined = undefined;
  eventTime: bigint | undefined = undefined;
  helper: string | undefined = undefined;
  secctx: string | undefined = undefined;
  tcp: TcpInfo | undefined = undefined;
  sctp: SctpInfo | undefined = undefined;
  dccp: DccpInfo | undefined = undefined;
  seqAdjOriginal: SeqAdjust | undefined = undefined;
  seqAdjReply: SeqAdjust | undefined = undefined;
  synproxy: Synproxy | undefined = undefined;
  nat: NatInfo | undefined = undefined;

  toJSON(): Record<string, unknown> {
    return plainJson(this) as Record<string, unknown>;
  }
}

/**
 * Decodes `count` records. `strings` is consumed in record order; `next` is the index of
 * the first string of the first record.
 */
export function decodeFlows(buffer: ArrayBuffer, strings: string, count: number): Flow[] {
  const w = new Uint32Array(buffer);
  const cursor: StringCursor = { s: strings.split('\0'), i: 0 };
  const out: Flow[] = new Array(count);
  for (let i = 0; i < count; i++) out[i] = decodeFlowAt(w, i * FLOW_WORDS, cursor);
  return out;
}

/** The strings of a batch and the index of the next one to take. */
export interface StringCursor {
  s: string[];
  i: number;
}

/** Decodes the flow record at word `b`, taking its strings from the cursor. */
export function decodeFlowAt(w: Uint32Array, b: number, cursor: StringCursor): Flow {
  const s = cursor.s;
  let si = cursor.i;
  const present = w[b + W_PRESENT]!;
  const kind = w[b + W_KIND]!;
  const f = new FlowObject();
  f.family = (kind & 0xff) === AF_INET6 ? 'ipv6' : 'ipv4';
  const protonum = (kind >>> 8) & 0xff;
  const proto = protocolName(protonum);
  f.protocol = proto;
  f.protonum = protonum;
  if (present & P_ORIG) {
    f.original = makeTuple(w, b + W_ORIG, proto, s[si]!, s[si + 1]!);
    si += 2;
  }
  if (present & P_REPLY) {
    f.reply = makeTuple(w, b + W_REPLY, proto, s[si]!, s[si + 1]!);
    si += 2;
  }
  if (present & P_MASTER) {
    const mproto = protocolName(w[b + W_MASTER]! & 0xff);
    f.master = makeTuple(w, b + W_MASTER, mproto, s[si]!, s[si + 1]!);
    si += 2;
  }
  f.status = new Status(present & P_STATUS ? w[b + W_STATUS]! : 0);
  if (present & P_ID) f.id = w[b + W_ID];
  if (present & P_TIMEOUT) f.timeout = w[b + W_TIMEOUT];
  if (present & P_MARK) f.mark = w[b + W_MARK];
  if (present & P_SECMARK) f.secmark = w[b + W_SECMARK];
  if (present & P_USE) f.use = w[b + W_USE];
  if (present & P_ZONE) f.zone = w[b + W_ZONE];
  if (present & P_LABELS) f.labels = labelList(w, b + W_LABELS);
  if (present & (P_COUNTERS_ORIG | P_COUNTERS_REPLY)) {
    f.counters = { original: counters(w, b + W_COUNTERS), reply: counters(w, b + W_COUNTERS + 4) };
  }
  if (present & P_TS_START) {
    f.timestamp = { start: big64(w, b + W_TS_START), stop: undefined };
    if (present & P_TS_STOP) f.timestamp.stop = big64(w, b + W_TS_STOP);
  }
  if (present & P_TS_EVENT) f.eventTime = big64(w, b + W_TS_EVENT);
  if (present & P_TCP) {
    const p = b + W_PROTO;
    const state = w[p]!;
    f.tcp = {
      state: TCP_STATES[state] ?? 'NONE',
      stateNum: state,
      wscaleOriginal: w[p + 1]! & 0xff,
      wscaleReply: (w[p + 1]! >>> 8) & 0xff,
      flagsOriginal: w[p + 2]! & 0xff,
      maskOriginal: (w[p + 2]! >>> 8) & 0xff,
      flagsReply: w[p + 3]! & 0xff,
      maskReply: (w[p + 3]! >>> 8) & 0xff,
    };
  } else if (present & P_SCTP) {
    const p = b + W_PROTO;
    const state = w[p]!;
    f.sctp = {
      state: SCTP_STATES[state] ?? 'NONE',
      stateNum: state,
      vtagOriginal: w[p + 1]!,
      vtagReply: w[p + 2]!,
    };
  } else if (present & P_DCCP) {
    const p = b + W_PROTO;
    const state = w[p]!;
    f.dccp = {
      state: DCCP_STATES[state] ?? 'NONE',
      stateNum: state,
      role: w[p + 1]!,
      handshakeSeq: big64(w, p + 2),
    };
  }
  if (present & P_HELPER) f.helper = s[si++];
  if (present & P_SECCTX) f.secctx = s[si++];
  if (present & P_SEQADJ_ORIG) f.seqAdjOriginal = seqAdj(w, b + W_SEQADJ_ORIG);
  if (present & P_SEQADJ_REPLY) f.seqAdjReply = seqAdj(w, b + W_SEQADJ_REPLY);
  if (present & P_SYNPROXY) {
    const p = b + W_SYNPROXY;
    f.synproxy = { isn: w[p]!, its: w[p + 1]!, tsoff: w[p + 2]! };
  }
  if ((present & (P_ORIG | P_REPLY)) === (P_ORIG | P_REPLY) && f.status.bits & 0x30) {
    f.nat = natOf(f.original, f.reply);
  }
  cursor.i = si;
  return f as unknown as Flow;
}

export { jsonSafe };
