// Turns the native flow records (native/ct/flow.h) into Flow objects.
import { jsonSafe } from '../core/json.js';
import { FlowKindFlags, FlowPresent, FlowWord, TuplePresent, TupleWord } from '../core/layout.js';
import { AF_INET6, protocolName } from '../core/protocols.js';
import { CPU_STAT_NAMES, DCCP_STATES, SCTP_STATES, TCP_STATES } from './constants.js';
import { Status } from './status.js';
import type { Counters, CpuStats, DccpInfo, Family, Flow, NatInfo, ProtocolName, SctpInfo, SeqAdjust, Synproxy, TcpInfo,
  Tuple } from './types.js';

// The record layout of native/layout/layouts.h (lib/core/layout.ts is generated from it).
export const { FLOW_WORDS } = FlowWord;
const {
  FLOW_HAS_ORIG,
  FLOW_HAS_REPLY,
  FLOW_HAS_MASTER,
  FLOW_HAS_ID,
  FLOW_HAS_STATUS,
  FLOW_HAS_TIMEOUT,
  FLOW_HAS_MARK,
  FLOW_HAS_SECMARK,
  FLOW_HAS_USE,
  FLOW_HAS_ZONE,
  FLOW_HAS_LABELS,
  FLOW_HAS_COUNTERS_ORIG,
  FLOW_HAS_COUNTERS_REPLY,
  FLOW_HAS_TS_START,
  FLOW_HAS_TS_STOP,
  FLOW_HAS_TCP,
  FLOW_HAS_SCTP,
  FLOW_HAS_DCCP,
  FLOW_HAS_HELPER,
  FLOW_HAS_SECCTX,
  FLOW_HAS_SEQADJ_ORIG,
  FLOW_HAS_SEQADJ_REPLY,
  FLOW_HAS_SYNPROXY,
  FLOW_HAS_TS_EVENT,
} = FlowPresent;
const { TUPLE_HAS_PORTS, TUPLE_HAS_ICMP, TUPLE_HAS_ZONE } = TuplePresent;
const {
  FLOW_PRESENT,
  FLOW_KIND,
  FLOW_ID,
  FLOW_STATUS,
  FLOW_TIMEOUT,
  FLOW_MARK,
  FLOW_SECMARK,
  FLOW_USE,
  FLOW_ZONE,
  FLOW_LABELS,
  FLOW_COUNTERS,
  FLOW_TS_START,
  FLOW_TS_STOP,
  FLOW_PROTO,
  FLOW_ORIG,
  FLOW_REPLY,
  FLOW_MASTER,
  FLOW_SEQADJ_ORIG,
  FLOW_SEQADJ_REPLY,
  FLOW_SYNPROXY,
  FLOW_TS_EVENT,
  FLOW_PORTID,
} = FlowWord;
const { FLOW_KIND_CREATE } = FlowKindFlags;
const { TUPLE_META, TUPLE_PORTS, TUPLE_ICMP, TUPLE_ZONE } = TupleWord;

/** Message type (IPCTNL_MSG_CT_*) of a record, for events. */
export function recordMsgType(words: Uint32Array, index: number): number {
  return (words[index * FLOW_WORDS + FLOW_KIND]! >>> 16) & 0xff;
}

/** An event record's kind: 'destroy' for IPCTNL_MSG_CT_DELETE, else 'new' or 'update'. */
export function recordEventType(words: Uint32Array, index: number): 'new' | 'update' | 'destroy' {
  const kind = words[index * FLOW_WORDS + FLOW_KIND]!;
  if (((kind >>> 16) & 0xff) === 2) return 'destroy';
  return (kind >>> 24) & FLOW_KIND_CREATE ? 'new' : 'update';
}

/** The netlink port id of the process whose request caused an event (0: the kernel itself). */
export function recordPortId(words: Uint32Array, index: number): number {
  return words[index * FLOW_WORDS + FLOW_PORTID]!;
}

/** When an event happened: the kernel's event time if it sent one, else when it was received. */
export function recordEventTime(words: Uint32Array, index: number): bigint {
  return big64(words, index * FLOW_WORDS + FLOW_TS_EVENT);
}

/** Whether the kernel flagged the record's dump as interrupted by a concurrent change. */
export function recordDumpInterrupted(words: Uint32Array, index: number): boolean {
  return ((words[index * FLOW_WORDS + FLOW_KIND]! >>> 24) & 1) !== 0;
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
  const meta = w[at + TUPLE_META]!;
  const protonum = meta & 0xff;
  const zone = meta & TUPLE_HAS_ZONE ? w[at + TUPLE_ZONE]! : undefined;
  if (meta & TUPLE_HAS_PORTS || PORT_KINDS.has(kind)) {
    // A port protocol the kernel tracks generically (DCCP since Linux 6.16) sends no ports:
    // they read as 0, as conntrack prints them.
    const ports = w[at + TUPLE_PORTS]!;
    if (kind === 'gre') {
      return { src, dst, protonum, srcKey: ports & 0xffff, dstKey: ports >>> 16, zone };
    }
    return { src, dst, protonum, srcPort: ports & 0xffff, dstPort: ports >>> 16, zone };
  }
  if (meta & TUPLE_HAS_ICMP) {
    const icmp = w[at + TUPLE_ICMP]!;
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

/**
 * One Status for each value seen so far (a table holds a handful of them), shared by the flows
 * that have it: a Status is immutable (frozen), and a dump makes one object less per flow.
 */
const STATUSES = new Map<number, Status>();

function statusOf(bits: number): Status {
  let s = STATUSES.get(bits);
  if (s === undefined) {
    s = Object.freeze(new Status(bits));
    if (STATUSES.size < 1024) STATUSES.set(bits, s);
  }
  return s;
}

/** The JSON of each status seen so far, by its bits (a table holds a handful of them). */
const STATUS_JSON = new Map<number, string>();

function statusJson(status: Status): string {
  let json = STATUS_JSON.get(status.bits);
  if (json === undefined) {
    json = JSON.stringify(status.names());
    if (STATUS_JSON.size < 1024) STATUS_JSON.set(status.bits, json);
  }
  return json;
}

/** JSON.stringify of a tuple as makeTuple() builds it (addresses need no escaping). */
function tupleJson(t: Tuple): string {
  const x = t as Tuple & { srcPort?: number; dstPort?: number; srcKey?: number; dstKey?: number; type?: number;
    code?: number; id?: number };
  let s = `{"src":"${t.src}","dst":"${t.dst}","protonum":${t.protonum}`;
  if (x.srcPort !== undefined) s += `,"srcPort":${x.srcPort},"dstPort":${x.dstPort}`;
  else if (x.srcKey !== undefined) s += `,"srcKey":${x.srcKey},"dstKey":${x.dstKey}`;
  else if (x.type !== undefined) s += `,"type":${x.type},"code":${x.code},"id":${x.id}`;
  if (t.zone !== undefined) s += `,"zone":${t.zone}`;
  return `${s}}`;
}

/**
 * `JSON.stringify(flow)`, the same text, built directly (a few times faster: no intermediate
 * object per flow). For NDJSON writers of large tables.
 */
export function flowJson(f: Flow): string {
  return flowJsonAfter('{', f);
}

/**
 * flowJson(f) with `open` in place of its opening brace: `{"type":"entry",...,` puts other
 * fields before the flow's own without building the text twice (nfct's NDJSON lines).
 */
export function flowJsonAfter(open: string, f: Flow): string {
  let s = `${open}"family":"${f.family}","protocol":"${f.protocol}","protonum":${f.protonum},"original":${
    tupleJson(f.original)
  },"reply":${tupleJson(f.reply)}`;
  if (f.master !== undefined) s += `,"master":${JSON.stringify(f.master)}`;
  if (f.id !== undefined) s += `,"id":${f.id}`;
  s += `,"status":${statusJson(f.status)}`;
  if (f.timeout !== undefined) s += `,"timeout":${f.timeout}`;
  if (f.mark !== undefined) s += `,"mark":${f.mark}`;
  if (f.secmark !== undefined) s += `,"secmark":${f.secmark}`;
  if (f.use !== undefined) s += `,"use":${f.use}`;
  if (f.zone !== undefined) s += `,"zone":${f.zone}`;
  if (f.labels !== undefined) s += `,"labels":${JSON.stringify(f.labels)}`;
  if (f.counters !== undefined) s += `,"counters":${JSON.stringify(f.counters)}`;
  if (f.timestamp !== undefined) {
    s += `,"timestamp":{"start":"${f.timestamp.start}"${
      f.timestamp.stop !== undefined ? `,"stop":"${f.timestamp.stop}"` : ''
    }}`;
  }
  if (f.eventTime !== undefined) s += `,"eventTime":"${f.eventTime}"`;
  if (f.helper !== undefined) s += `,"helper":${JSON.stringify(f.helper)}`;
  if (f.secctx !== undefined) s += `,"secctx":${JSON.stringify(f.secctx)}`;
  const p = f as { tcp?: TcpInfo; sctp?: SctpInfo; dccp?: DccpInfo };
  const t = p.tcp;
  if (t !== undefined) {
    s +=
      `,"tcp":{"state":"${t.state}","stateNum":${t.stateNum},"wscaleOriginal":${t.wscaleOriginal},"wscaleReply":${t.wscaleReply},"flagsOriginal":${t.flagsOriginal},"maskOriginal":${t.maskOriginal},"flagsReply":${t.flagsReply},"maskReply":${t.maskReply}}`;
  }
  if (p.sctp !== undefined) s += `,"sctp":${JSON.stringify(p.sctp)}`;
  if (p.dccp !== undefined) s += `,"dccp":${JSON.stringify(jsonSafe(p.dccp))}`;
  if (f.seqAdjOriginal !== undefined) s += `,"seqAdjOriginal":${JSON.stringify(f.seqAdjOriginal)}`;
  if (f.seqAdjReply !== undefined) s += `,"seqAdjReply":${JSON.stringify(f.seqAdjReply)}`;
  if (f.synproxy !== undefined) s += `,"synproxy":${JSON.stringify(f.synproxy)}`;
  if (f.nat !== undefined) s += `,"nat":${JSON.stringify(f.nat)}`;
  return `${s}}`;
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

  /** The same as jsonSafe(this), without walking the fields that cannot hold a bigint. */
  toJSON(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    const self = this as unknown as Record<string, unknown>;
    for (const k of Object.keys(self)) {
      const v = self[k];
      if (v === undefined) continue;
      if (k === 'status') out[k] = (v as Status).names();
      else if (k === 'timestamp' || k === 'eventTime' || k === 'dccp') out[k] = jsonSafe(v);
      else out[k] = v;
    }
    return out;
  }
}

/**
 * Decodes `count` records. `strings` holds their text fields, NUL-separated, in record order.
 */
export function decodeFlows(buffer: ArrayBuffer, strings: string, count: number): Flow[] {
  const flows = flowReader(buffer, strings, count);
  const out = new Array<Flow>(count);
  for (let i = 0; i < count; i++) out[i] = flows.take();
  return out;
}

/**
 * The `count` records of a batch one at a time, in order: each take() decodes the next. A
 * dump's loop makes each Flow only when it is asked for, so that a young-generation GC finds
 * the one flow in use alive, not a whole batch of them: V8 grows its young generation (and the
 * process's memory) with what survives its collections.
 */
export function flowReader(buffer: ArrayBuffer, strings: string,
  count: number): { readonly length: number; take: () => Flow }
{
  const w = new Uint32Array(buffer);
  const text = new TextCursor(strings);
  const end = count * FLOW_WORDS;
  let b = 0;
  return {
    length: count,
    take: () => {
      if (b >= end) throw new RangeError('no more records in the batch');
      const f = decodeFlowAt(w, b, text);
      b += FLOW_WORDS;
      return f;
    },
  };
}

/** Reads a batch's NUL-separated strings in order, one at a time (no array of them all). */
export class TextCursor {
  #pos = 0;
  readonly #text: string;
  constructor(text: string) {
    this.#text = text;
  }
  /** The next string (empty past the last one). */
  take(): string {
    const t = this.#text;
    let end = t.indexOf('\0', this.#pos);
    if (end < 0) end = t.length;
    const s = t.slice(this.#pos, end);
    this.#pos = end + 1;
    return s;
  }
}

/** Decodes the flow record at word `b`, taking its strings from `text`, in order. */
export function decodeFlowAt(w: Uint32Array, b: number, text: TextCursor): Flow {
  const present = w[b + FLOW_PRESENT]!;
  const kind = w[b + FLOW_KIND]!;
  const f = new FlowObject();
  f.family = (kind & 0xff) === AF_INET6 ? 'ipv6' : 'ipv4';
  const protonum = (kind >>> 8) & 0xff;
  const proto = protocolName(protonum);
  f.protocol = proto;
  f.protonum = protonum;
  if (present & FLOW_HAS_ORIG) {
    f.original = makeTuple(w, b + FLOW_ORIG, proto, text.take(), text.take());
  }
  if (present & FLOW_HAS_REPLY) {
    f.reply = makeTuple(w, b + FLOW_REPLY, proto, text.take(), text.take());
  }
  if (present & FLOW_HAS_MASTER) {
    const mproto = protocolName(w[b + FLOW_MASTER]! & 0xff);
    f.master = makeTuple(w, b + FLOW_MASTER, mproto, text.take(), text.take());
  }
  f.status = statusOf(present & FLOW_HAS_STATUS ? w[b + FLOW_STATUS]! : 0);
  if (present & FLOW_HAS_ID) f.id = w[b + FLOW_ID];
  if (present & FLOW_HAS_TIMEOUT) f.timeout = w[b + FLOW_TIMEOUT];
  if (present & FLOW_HAS_MARK) f.mark = w[b + FLOW_MARK];
  if (present & FLOW_HAS_SECMARK) f.secmark = w[b + FLOW_SECMARK];
  if (present & FLOW_HAS_USE) f.use = w[b + FLOW_USE];
  if (present & FLOW_HAS_ZONE) f.zone = w[b + FLOW_ZONE];
  if (present & FLOW_HAS_LABELS) f.labels = labelList(w, b + FLOW_LABELS);
  if (present & (FLOW_HAS_COUNTERS_ORIG | FLOW_HAS_COUNTERS_REPLY)) {
    f.counters = { original: counters(w, b + FLOW_COUNTERS), reply: counters(w, b + FLOW_COUNTERS + 4) };
  }
  if (present & FLOW_HAS_TS_START) {
    f.timestamp = { start: big64(w, b + FLOW_TS_START), stop: undefined };
    if (present & FLOW_HAS_TS_STOP) f.timestamp.stop = big64(w, b + FLOW_TS_STOP);
  }
  if (present & FLOW_HAS_TS_EVENT) f.eventTime = big64(w, b + FLOW_TS_EVENT);
  // The protocol's state and its words (FLOW_PROTO), for whichever protocol info the kernel sent.
  const p = b + FLOW_PROTO;
  const state = w[p]!;
  if (present & FLOW_HAS_TCP) {
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
  } else if (present & FLOW_HAS_SCTP) {
    f.sctp = { state: SCTP_STATES[state] ?? 'NONE', stateNum: state, vtagOriginal: w[p + 1]!, vtagReply: w[p + 2]! };
  } else if (present & FLOW_HAS_DCCP) {
    f.dccp = { state: DCCP_STATES[state] ?? 'NONE', stateNum: state, role: w[p + 1]!, handshakeSeq: big64(w, p + 2) };
  }
  if (present & FLOW_HAS_HELPER) f.helper = text.take();
  if (present & FLOW_HAS_SECCTX) f.secctx = text.take();
  if (present & FLOW_HAS_SEQADJ_ORIG) f.seqAdjOriginal = seqAdj(w, b + FLOW_SEQADJ_ORIG);
  if (present & FLOW_HAS_SEQADJ_REPLY) f.seqAdjReply = seqAdj(w, b + FLOW_SEQADJ_REPLY);
  if (present & FLOW_HAS_SYNPROXY) {
    const p = b + FLOW_SYNPROXY;
    f.synproxy = { isn: w[p]!, its: w[p + 1]!, tsoff: w[p + 2]! };
  }
  if ((present & (FLOW_HAS_ORIG | FLOW_HAS_REPLY)) === (FLOW_HAS_ORIG | FLOW_HAS_REPLY) && f.status.bits & 0x30) {
    f.nat = natOf(f.original, f.reply);
  }
  return f as unknown as Flow;
}

export { jsonSafe };

// The counters a CpuStats always has: current kernels send each of them; one absent reads 0.
const CPU_STATS_ALWAYS = ['found', 'invalid', 'insert', 'insert_failed', 'drop', 'early_drop', 'error',
  'search_restart', 'clash_resolve', 'chaintoolong'] as const;

/**
 * One CPU's statistics from the native record: `values` holds (CTA_STATS_* number, value) pairs
 * as the kernel sent them. Counters older kernels send (searched, new, ignore, delete,
 * delete_list) are kept under their names; numbers newer than this library as stat_N.
 */
export function decodeCpuStats(cpu: number, values: ArrayLike<number>): CpuStats {
  const row: Record<string, number> = { cpu };
  for (const name of CPU_STATS_ALWAYS) row[name] = 0;
  for (let i = 0; i + 1 < values.length; i += 2) {
    const name = CPU_STAT_NAMES[values[i]!] ?? `stat_${values[i]}`;
    row[name] = values[i + 1]!;
  }
  return row as CpuStats;
}
