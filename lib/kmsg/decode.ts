// Kernel log records (native/kmsg/line.h, KLOG_WORDS each) to items: LOG packets of one class
// (one shape, whichever path built them), TRACE hops, losses, other lines. A record the native
// reader could not carry whole (KP_COMPLEX) is read from its message by parseLogLine's walker.
import { isoTime, JsonItem, plainJson } from '../core/json.js';
import { KlogFresh, KlogKind, KlogPresent, KlogPresent2, KlogWord } from '../core/layout.js';
import { type ParsedLogLine, readMessage } from '../nflog/logline-parse.js';
import type { LogInterface } from '../nflog/types.js';
import type { TraceEvent, TraceKind } from '../trace/handle.js';
import type { KernelLogLine, KernelLogLoss, KernelLogPacket, KernelLogSource } from './types.js';

const { KLOG_WORDS, KL_PRESENT, KL_PRESENT2, KL_KIND, KL_SEQ, KL_TIME, KL_KTIME, KL_LOST, KL_HOPID, KL_RULE, KL_LEN, KL_TOS, KL_PREC, KL_TTL, KL_IPID, KL_TC, KL_HOPLIMIT, KL_FLOWLBL, KL_FRAG, KL_IPFLAGS, KL_PROTO, KL_SPT, KL_DPT, KL_UDPLEN, KL_TCPSEQ, KL_TCPACK, KL_WINDOW, KL_RES, KL_TCPFLAGS, KL_URGP, KL_ICMPTYPE, KL_ICMPCODE, KL_ICMPID, KL_ICMPSEQ, KL_ICMPMTU, KL_MARK, KL_UID, KL_GID, KL_MACPROTO, KL_VPROTO, KL_VID, KL_MAC, KL_INCOMPLETE, KL_PREFIXID, KL_INID, KL_OUTID, KL_PHYSINID, KL_PHYSOUTID, KL_PROTOID, KL_HOSTID, KL_TABLEID, KL_CHAINID, KL_FRESH } = KlogWord;
const { KF_PREFIX, KF_IN, KF_OUT, KF_PHYSIN, KF_PHYSOUT, KF_PROTO, KF_HOST, KF_TABLE, KF_CHAIN, KF_RESET } = KlogFresh;
const { KP_TIME, KP_KTIME, KP_SEQ, KP_LEVEL, KP_COMPLEX, KP_IN, KP_OUT, KP_PHYSIN, KP_PHYSOUT, KP_MAC, KP_MACSRC, KP_MACDST, KP_MACPROTO, KP_VPROTO, KP_VID, KP_SRC, KP_DST, KP_LEN, KP_TOS, KP_PREC, KP_TTL, KP_ID, KP_TC, KP_HOPLIMIT, KP_FLOWLBL, KP_FRAG, KP_IPOPT, KP_PROTO, KP_MARK, KP_UID, KP_GID } = KlogPresent;
const { KQ_INNER, KQ_INCOMPLETE, KQ_PROTONUM, KQ_SPT, KQ_DPT, KQ_UDPLEN, KQ_TCP, KQ_TCPSEQ, KQ_TCPACK, KQ_WINDOW, KQ_RES, KQ_URGP, KQ_TCPOPT, KQ_ICMP, KQ_ICMPTYPE, KQ_ICMPCODE, KQ_ICMPID, KQ_ICMPSEQ, KQ_ICMPMTU, KQ_FACILITY, KQ_HOST } = KlogPresent2;
const { KK_PACKET, KK_HOP, KK_LOSS, KK_RULE, KK_RETURN } = KlogKind;

const IP_FLAGS = [[1, 'CE'], [2, 'DF'], [4, 'MF']] as const;
const TCP_FLAGS = [[256, 'AE'], [128, 'CWR'], [64, 'ECE'], [32, 'URG'], [16, 'ACK'], [8, 'PSH'], [4, 'RST'], [2, 'SYN'], [1, 'FIN']] as const;
const UNKNOWN_LOSS = 2 ** 64 - 1;

/**
 * The flag lists of the records, one frozen array per combination of bits, shared by every
 * item that has it (a few hundred at most): no array is made per packet.
 */
const NONE: readonly never[] = Object.freeze([]);
const ipFlagLists: Array<ReadonlyArray<'CE' | 'DF' | 'MF'>> = [];
const tcpFlagLists: Array<readonly string[]> = [];
function flagList<T extends string>(cache: Array<readonly T[]>, names: ReadonlyArray<readonly [number, T]>, bits: number): readonly T[] {
  let list = cache[bits];
  if (list === undefined) {
    list = Object.freeze(names.filter(([bit]) => bits & bit).map(([, name]) => name));
    cache[bits] = list;
  }
  return list;
}

/** The JSON of an item: `type`, then `time`, then its fields. */
function jsonWithTime(item: { type: string; timestamp?: bigint }): Record<string, unknown> {
  return { type: item.type, time: isoTime(item.timestamp), ...(plainJson(item) as Record<string, unknown>) };
}

/** LOG packets are instances of one class: one shape, whether built from words or parsed. */
export class KernelPacketItem extends JsonItem implements KernelLogPacket {
  readonly type = 'packet';
  family: KernelLogPacket['family'] = undefined;
  prefix = '';
  indev: LogInterface | undefined = undefined;
  outdev: LogInterface | undefined = undefined;
  physindev: LogInterface | undefined = undefined;
  physoutdev: LogInterface | undefined = undefined;
  hwHeader: Buffer | undefined = undefined;
  macSrc: string | undefined = undefined;
  macDst: string | undefined = undefined;
  macProto: number | undefined = undefined;
  vlanProto: number | undefined = undefined;
  vlanId: number | undefined = undefined;
  tunnel: string | undefined = undefined;
  arp: KernelLogPacket['arp'] = undefined;
  mark: number | undefined = undefined;
  uid: number | undefined = undefined;
  gid: number | undefined = undefined;
  src: string | undefined = undefined;
  dst: string | undefined = undefined;
  len: number | undefined = undefined;
  tos: number | undefined = undefined;
  prec: number | undefined = undefined;
  ttl: number | undefined = undefined;
  id: number | undefined = undefined;
  tc: number | undefined = undefined;
  hopLimit: number | undefined = undefined;
  flowLabel: number | undefined = undefined;
  ipFlags: Array<'CE' | 'DF' | 'MF'> = NONE as never;
  fragOffset: number | undefined = undefined;
  fragId: number | undefined = undefined;
  fragMore: boolean | undefined = undefined;
  ipOptions: string | undefined = undefined;
  ipv6Options: string[] | undefined = undefined;
  proto: string | undefined = undefined;
  protocol: number | undefined = undefined;
  spt: number | undefined = undefined;
  dpt: number | undefined = undefined;
  udpLen: number | undefined = undefined;
  tcp: KernelLogPacket['tcp'] = undefined;
  icmp: KernelLogPacket['icmp'] = undefined;
  spi: number | undefined = undefined;
  incomplete: number | undefined = undefined;
  truncated: boolean | undefined = undefined;
  inner: KernelLogPacket['inner'] = undefined;
  timestamp: bigint | undefined = undefined;
  kernelTime: number | undefined = undefined;
  seq: number | undefined = undefined;
  level: number | undefined = undefined;
  host: string | undefined = undefined;
  message = '';
  extra: Array<{ key: string; value: string }> = NONE as never;
  unparsed: string[] = NONE as never;

  constructor(readonly source: KernelLogSource) {
    super();
  }

  /**
   * `type`, `time`, then the fields that are there (`timestamp` as a decimal string, `hwHeader`
   * as hex): what jsonSafe() gives, without walking every field generically (NDJSON of a
   * million lines).
   */
  override toJSON(): Record<string, unknown> {
    const o: Record<string, unknown> = { type: this.type, time: isoTime(this.timestamp) };
    for (const k in this) {
      const v = this[k];
      if (v === undefined) continue;
      if (typeof v === 'bigint') o[k] = v.toString();
      else if (v instanceof Uint8Array) o[k] = Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex');
      else o[k] = v;
    }
    return o;
  }
}

class LossItem extends JsonItem implements KernelLogLoss {
  readonly type = 'loss';
  readonly source = 'kmsg';
  constructor(
    public lost: number | undefined,
    public after: number | undefined,
    public before: number,
    public timestamp: bigint,
  ) {
    super();
  }

  override toJSON(): Record<string, unknown> {
    return jsonWithTime(this);
  }
}

class LineItem extends JsonItem implements KernelLogLine {
  readonly type = 'line';
  seq: number | undefined = undefined;
  level: number | undefined = undefined;
  facility: number | undefined = undefined;
  timestamp: bigint | undefined = undefined;
  kernelTime: number | undefined = undefined;
  host: string | undefined = undefined;
  constructor(
    readonly source: KernelLogSource,
    public message: string,
  ) {
    super();
  }

  override toJSON(): Record<string, unknown> {
    return jsonWithTime(this);
  }
}

const dev = (name: string | undefined): LogInterface | undefined => (name ? { name } : undefined);

/** The fields the TypeScript parser read from a message, into an item (a record KP_COMPLEX). */
export function fillFromParsed(item: KernelPacketItem, r: ParsedLogLine): void {
  item.prefix = r.prefix ?? '';
  item.indev = dev(r.in);
  item.outdev = dev(r.out);
  item.physindev = dev(r.physin);
  item.physoutdev = dev(r.physout);
  if (r.mac !== undefined && r.mac !== '') {
    if (/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2})*$/.test(r.mac)) item.hwHeader = Buffer.from(r.mac.replaceAll(':', ''), 'hex');
    else r.extra.push({ key: 'MAC', value: r.mac });
  }
  item.macSrc = r.macSrc;
  item.macDst = r.macDst;
  item.macProto = r.macProto;
  item.vlanProto = r.vlanProto;
  item.vlanId = r.vlanId;
  item.tunnel = r.tunnel;
  item.arp = r.arp;
  item.mark = r.mark;
  item.uid = r.uid;
  item.gid = r.gid;
  item.src = r.src;
  item.dst = r.dst;
  item.len = r.len;
  item.tos = r.tos;
  item.prec = r.prec;
  item.ttl = r.ttl;
  item.id = r.id;
  item.tc = r.tc;
  item.hopLimit = r.hopLimit;
  item.flowLabel = r.flowLabel;
  item.ipFlags = r.ipFlags;
  item.fragOffset = r.fragOffset;
  item.fragId = r.fragId;
  item.fragMore = r.fragMore;
  item.ipOptions = r.ipOptions;
  item.ipv6Options = r.ipv6Options;
  item.proto = r.proto;
  item.protocol = r.protocol;
  item.spt = r.spt;
  item.dpt = r.dpt;
  item.udpLen = r.udpLen;
  item.tcp = r.tcp;
  item.icmp = r.icmp;
  item.spi = r.spi;
  item.incomplete = r.incomplete;
  item.truncated = r.truncated;
  item.inner = r.inner;
  item.extra = r.extra;
  item.unparsed = r.unparsed;
  item.family = r.arp ? 'arp' : r.src === undefined ? undefined : r.src.includes(':') ? 'ipv6' : 'ipv4';
}

/** Parses a message as parseLogLine would (without looking for a syslog or dmesg head). */
export function parseMessage(message: string): ParsedLogLine {
  const r: ParsedLogLine = { line: message, message: '', ipFlags: [], extra: [], unparsed: [] };
  readMessage(r, message);
  return r;
}

/** A trace hop of a kernel log TRACE line. */
export type KernelHop = Omit<TraceEvent, 'ruleText'> & { log: KernelPacketItem };

export interface DecodedRecords {
  /** Items in order: packets, hops, losses, lines. */
  items: Array<KernelPacketItem | KernelHop | LossItem | LineItem>;
  /** Packets (and hops) that the TypeScript parser read, for the filter to be checked on. */
  parsed: Set<KernelPacketItem>;
}

const u64 = (w: Uint32Array, at: number): number => w[at + 1]! * 0x100000000 + w[at]!;
const u64n = (w: Uint32Array, at: number): bigint => (BigInt(w[at + 1]!) << 32n) | BigInt(w[at]!);

/** Where the strings of a batch are read, and the strings lines repeat, by number (KL_*ID). */
interface Cursor {
  s: string[];
  i: number;
  names: string[];
}

/** The strings a stream's records refer to by number: kept from batch to batch. */
export type NameTable = string[];

/** A repeated string: the record's own when fresh (it is then remembered), else the table's. */
function name(c: Cursor, id: number, fresh: number, bit: number): string {
  if (fresh & bit) {
    const v = c.s[c.i++]!;
    c.names[id] = v;
    return v;
  }
  return c.names[id] ?? '';
}

type Level = Pick<KernelLogPacket, 'src' | 'dst' | 'len' | 'tos' | 'prec' | 'ttl' | 'id' | 'tc' | 'hopLimit' | 'flowLabel' | 'ipFlags' | 'fragOffset' | 'ipOptions' | 'proto' | 'protocol' | 'spt' | 'dpt' | 'udpLen' | 'tcp' | 'icmp' | 'incomplete'>;

/**
 * The IP and transport fields of a record's words at `b` (the line's packet, or the one an ICMP
 * error quotes) into `t`, and its strings from the cursor: src, dst, ipOptions, proto,
 * tcpOptions. Only fields that are there are written (a quoted packet has no others).
 */
function readLevel(t: Level, w: Uint32Array, b: number, c: Cursor): void {
  const p = w[b + KL_PRESENT]!;
  const q = w[b + KL_PRESENT2]!;
  const s = c.s;
  if (p & KP_SRC) t.src = s[c.i++];
  if (p & KP_DST) t.dst = s[c.i++];
  const ipOptions = p & KP_IPOPT ? s[c.i++] : undefined;
  if (p & KP_PROTO) t.proto = name(c, w[b + KL_PROTOID]!, w[b + KL_FRESH]!, KF_PROTO);
  const tcpOptions = q & KQ_TCPOPT ? s[c.i++] : undefined;
  if (p & KP_LEN) t.len = w[b + KL_LEN];
  if (p & KP_TOS) t.tos = w[b + KL_TOS];
  if (p & KP_PREC) t.prec = w[b + KL_PREC];
  if (p & KP_TTL) t.ttl = w[b + KL_TTL];
  if (p & KP_ID) t.id = w[b + KL_IPID];
  if (p & KP_TC) t.tc = w[b + KL_TC];
  if (p & KP_HOPLIMIT) t.hopLimit = w[b + KL_HOPLIMIT];
  if (p & KP_FLOWLBL) t.flowLabel = w[b + KL_FLOWLBL];
  const ipf = w[b + KL_IPFLAGS]!;
  if (ipf) t.ipFlags = flagList(ipFlagLists, IP_FLAGS, ipf) as Array<'CE' | 'DF' | 'MF'>;
  if (p & KP_FRAG) t.fragOffset = w[b + KL_FRAG];
  if (ipOptions !== undefined) t.ipOptions = ipOptions;
  if (q & KQ_PROTONUM) t.protocol = w[b + KL_PROTO];
  if (q & KQ_SPT) t.spt = w[b + KL_SPT];
  if (q & KQ_DPT) t.dpt = w[b + KL_DPT];
  if (q & KQ_UDPLEN) t.udpLen = w[b + KL_UDPLEN];
  if (q & KQ_TCP) {
    const tcp: NonNullable<KernelLogPacket['tcp']> = { flags: flagList(tcpFlagLists, TCP_FLAGS, w[b + KL_TCPFLAGS]!) as string[] };
    if (q & KQ_TCPSEQ) tcp.seq = w[b + KL_TCPSEQ];
    if (q & KQ_TCPACK) tcp.ack = w[b + KL_TCPACK];
    if (q & KQ_WINDOW) tcp.window = w[b + KL_WINDOW];
    if (q & KQ_RES) tcp.res = w[b + KL_RES];
    if (q & KQ_URGP) tcp.urgp = w[b + KL_URGP];
    if (tcpOptions !== undefined) tcp.options = tcpOptions;
    t.tcp = tcp;
  }
  if (q & KQ_ICMP) {
    const icmp: NonNullable<KernelLogPacket['icmp']> = {};
    if (q & KQ_ICMPTYPE) icmp.type = w[b + KL_ICMPTYPE];
    if (q & KQ_ICMPCODE) icmp.code = w[b + KL_ICMPCODE];
    if (q & KQ_ICMPID) icmp.id = w[b + KL_ICMPID];
    if (q & KQ_ICMPSEQ) icmp.seq = w[b + KL_ICMPSEQ];
    if (q & KQ_ICMPMTU) icmp.mtu = w[b + KL_ICMPMTU];
    t.icmp = icmp;
  }
  if (q & KQ_INCOMPLETE) t.incomplete = w[b + KL_INCOMPLETE];
}

/** Decodes a batch of kernel log records. */
export function decodeRecords(batch: { buffer: ArrayBuffer; strings: string; count: number; bytes: ArrayBuffer | undefined }, source: KernelLogSource, names: NameTable): DecodedRecords {
  const w = new Uint32Array(batch.buffer);
  const c: Cursor = { s: batch.strings.split('\0'), i: 0, names };
  const s = c.s;
  const bytes = batch.bytes;
  const items: DecodedRecords['items'] = [];
  const parsed = new Set<KernelPacketItem>();
  for (let n = 0, b = 0; n < batch.count; n++, b += KLOG_WORDS) {
    const o = b;
    const p = w[o + KL_PRESENT]!;
    const q = w[o + KL_PRESENT2]!;
    const kindWord = w[o + KL_KIND]!;
    const kind = kindWord & 15;
    const fresh = w[o + KL_FRESH]!;
    if (fresh & KF_RESET) names.length = 0;
    const message = s[c.i++]!;
    const timestamp = p & KP_TIME ? u64n(w, o + KL_TIME) : undefined;
    if (kind === KK_LOSS) {
      const lost = u64(w, o + KL_LOST);
      const before = u64(w, o + KL_SEQ);
      const known = lost !== UNKNOWN_LOSS;
      items.push(new LossItem(known ? lost : undefined, known ? before - lost - 1 : undefined, before, BigInt(Date.now()) * 1_000_000n));
      continue;
    }
    const kernelTime = p & KP_KTIME ? u64(w, o + KL_KTIME) / 1e6 : undefined;
    const seq = p & KP_SEQ ? u64(w, o + KL_SEQ) : undefined;
    const level = p & KP_LEVEL ? (kindWord >>> 8) & 7 : undefined;
    if (kind !== KK_PACKET && kind !== KK_HOP) {
      const line = new LineItem(source, message);
      line.seq = seq;
      line.level = level;
      line.facility = q & KQ_FACILITY ? kindWord >>> 16 : undefined;
      line.timestamp = timestamp;
      line.kernelTime = kernelTime;
      line.host = q & KQ_HOST ? name(c, w[o + KL_HOSTID]!, fresh, KF_HOST) : undefined;
      items.push(line);
      continue;
    }
    const item = new KernelPacketItem(source);
    item.message = message;
    item.prefix = name(c, w[o + KL_PREFIXID]!, fresh, KF_PREFIX);
    let table = '';
    let chain = '';
    if (kind === KK_HOP) {
      table = name(c, w[o + KL_TABLEID]!, fresh, KF_TABLE);
      chain = name(c, w[o + KL_CHAINID]!, fresh, KF_CHAIN);
    }
    const inName = p & KP_IN ? name(c, w[o + KL_INID]!, fresh, KF_IN) : undefined;
    const outName = p & KP_OUT ? name(c, w[o + KL_OUTID]!, fresh, KF_OUT) : undefined;
    const physin = p & KP_PHYSIN ? name(c, w[o + KL_PHYSINID]!, fresh, KF_PHYSIN) : undefined;
    const physout = p & KP_PHYSOUT ? name(c, w[o + KL_PHYSOUTID]!, fresh, KF_PHYSOUT) : undefined;
    item.macSrc = p & KP_MACSRC ? s[c.i++] : undefined;
    item.macDst = p & KP_MACDST ? s[c.i++] : undefined;
    readLevel(item, w, o, c);
    if (q & KQ_INNER) {
      b += KLOG_WORDS;
      const inner: Level = { ipFlags: NONE as never };
      readLevel(inner, w, b, c);
      item.inner = inner;
    }
    item.host = q & KQ_HOST ? name(c, w[o + KL_HOSTID]!, fresh, KF_HOST) : undefined;
    item.timestamp = timestamp;
    item.kernelTime = kernelTime;
    item.seq = seq;
    item.level = level;
    if (p & KP_COMPLEX) {
      fillFromParsed(item, parseMessage(message));
      parsed.add(item);
    } else {
      item.indev = dev(inName);
      item.outdev = dev(outName);
      item.physindev = dev(physin);
      item.physoutdev = dev(physout);
      if (p & KP_MAC && bytes && w[o + KL_MAC + 1]! > 0) item.hwHeader = Buffer.from(bytes, w[o + KL_MAC]!, w[o + KL_MAC + 1]!);
      if (p & KP_MACPROTO) item.macProto = w[o + KL_MACPROTO];
      if (p & KP_VPROTO) item.vlanProto = w[o + KL_VPROTO];
      if (p & KP_VID) item.vlanId = w[o + KL_VID];
      if (p & KP_MARK) item.mark = w[o + KL_MARK];
      if (p & KP_UID) item.uid = w[o + KL_UID];
      if (p & KP_GID) item.gid = w[o + KL_GID];
      item.family = item.src === undefined ? undefined : item.src.includes(':') ? 'ipv6' : 'ipv4';
    }
    if (kind === KK_PACKET) {
      items.push(item);
      continue;
    }
    const hopKind = (kindWord >>> 4) & 15;
    const k: TraceKind = hopKind === KK_RULE ? 'rule' : hopKind === KK_RETURN ? 'return' : 'policy';
    items.push({
      source,
      id: w[o + KL_HOPID]!,
      family: item.family === 'ipv6' ? 'ipv6' : 'ipv4',
      table,
      chain,
      kind: k,
      rule: w[o + KL_RULE]!,
      verdict: k === 'return' ? 'return' : undefined,
      iif: item.indev,
      oif: item.outdev,
      mark: item.mark,
      log: item,
      timestamp: timestamp ?? BigInt(Date.now()) * 1_000_000n,
    });
  }
  return { items, parsed };
}

export type { LossItem, LineItem };
