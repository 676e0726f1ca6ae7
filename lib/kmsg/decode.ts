// Kernel log records (native/kmsg/line.h, KLOG_WORDS each) to items: LOG packets of one class
// (one shape, whichever path built them), TRACE hops, losses, other lines. A record the native
// reader could not carry whole (KLOG_HAS_COMPLEX) is read from its message by parseLogLine's walker.
import { isoTime, JsonItem, jsonSafe, plainJson } from '../core/json.js';
import { KlogFresh, KlogKind, KlogPresent, KlogPresent2, KlogWord } from '../core/layout.js';
import { readMessage } from '../nflog/logline-parse.js';
import type { ParsedLogLine } from '../nflog/logline-types.js';
import type { LogInterface } from '../nflog/types.js';
import type { KernelLogTraceEvent, TraceKind } from '../trace/types.js';
import type { KernelLogLine, KernelLogLoss, KernelLogPacket, KernelLogSource } from './types.js';

const {
  KLOG_WORDS,
  KLOG_PRESENT,
  KLOG_PRESENT2,
  KLOG_KIND,
  KLOG_SEQ,
  KLOG_TIME,
  KLOG_KTIME,
  KLOG_LOST,
  KLOG_HOPID,
  KLOG_RULE,
  KLOG_LEN,
  KLOG_TOS,
  KLOG_PREC,
  KLOG_TTL,
  KLOG_IPID,
  KLOG_TC,
  KLOG_HOPLIMIT,
  KLOG_FLOWLBL,
  KLOG_FRAG,
  KLOG_IPFLAGS,
  KLOG_PROTO,
  KLOG_SPT,
  KLOG_DPT,
  KLOG_UDPLEN,
  KLOG_TCPSEQ,
  KLOG_TCPACK,
  KLOG_WINDOW,
  KLOG_RES,
  KLOG_TCPFLAGS,
  KLOG_URGP,
  KLOG_ICMPTYPE,
  KLOG_ICMPCODE,
  KLOG_ICMPID,
  KLOG_ICMPSEQ,
  KLOG_ICMPMTU,
  KLOG_MARK,
  KLOG_UID,
  KLOG_GID,
  KLOG_MACPROTO,
  KLOG_VPROTO,
  KLOG_VID,
  KLOG_MAC,
  KLOG_INCOMPLETE,
  KLOG_PREFIXID,
  KLOG_INID,
  KLOG_OUTID,
  KLOG_PHYSINID,
  KLOG_PHYSOUTID,
  KLOG_PROTOID,
  KLOG_HOSTID,
  KLOG_TABLEID,
  KLOG_CHAINID,
  KLOG_FRESH,
} = KlogWord;
const { KLOG_FRESH_PREFIX, KLOG_FRESH_IN, KLOG_FRESH_OUT, KLOG_FRESH_PHYSIN, KLOG_FRESH_PHYSOUT, KLOG_FRESH_PROTO,
  KLOG_FRESH_HOST, KLOG_FRESH_TABLE, KLOG_FRESH_CHAIN, KLOG_FRESH_RESET } = KlogFresh;
const {
  KLOG_HAS_TIME,
  KLOG_HAS_KTIME,
  KLOG_HAS_SEQ,
  KLOG_HAS_LEVEL,
  KLOG_HAS_COMPLEX,
  KLOG_HAS_IN,
  KLOG_HAS_OUT,
  KLOG_HAS_PHYSIN,
  KLOG_HAS_PHYSOUT,
  KLOG_HAS_MAC,
  KLOG_HAS_MACSRC,
  KLOG_HAS_MACDST,
  KLOG_HAS_MACPROTO,
  KLOG_HAS_VPROTO,
  KLOG_HAS_VID,
  KLOG_HAS_SRC,
  KLOG_HAS_DST,
  KLOG_HAS_LEN,
  KLOG_HAS_TOS,
  KLOG_HAS_PREC,
  KLOG_HAS_TTL,
  KLOG_HAS_ID,
  KLOG_HAS_TC,
  KLOG_HAS_HOPLIMIT,
  KLOG_HAS_FLOWLBL,
  KLOG_HAS_FRAG,
  KLOG_HAS_IPOPT,
  KLOG_HAS_PROTO,
  KLOG_HAS_MARK,
  KLOG_HAS_UID,
  KLOG_HAS_GID,
} = KlogPresent;
const {
  KLOG_HAS2_INNER,
  KLOG_HAS2_INCOMPLETE,
  KLOG_HAS2_PROTONUM,
  KLOG_HAS2_SPT,
  KLOG_HAS2_DPT,
  KLOG_HAS2_UDPLEN,
  KLOG_HAS2_TCP,
  KLOG_HAS2_TCPSEQ,
  KLOG_HAS2_TCPACK,
  KLOG_HAS2_WINDOW,
  KLOG_HAS2_RES,
  KLOG_HAS2_URGP,
  KLOG_HAS2_TCPOPT,
  KLOG_HAS2_ICMP,
  KLOG_HAS2_ICMPTYPE,
  KLOG_HAS2_ICMPCODE,
  KLOG_HAS2_ICMPID,
  KLOG_HAS2_ICMPSEQ,
  KLOG_HAS2_ICMPMTU,
  KLOG_HAS2_FACILITY,
  KLOG_HAS2_HOST,
} = KlogPresent2;
const { KLOG_KIND_PACKET, KLOG_KIND_HOP, KLOG_KIND_LOSS, KLOG_HOP_RULE, KLOG_HOP_RETURN } = KlogKind;

const IP_FLAGS = [[1, 'CE'], [2, 'DF'], [4, 'MF']] as const;
const TCP_FLAGS = [[256, 'AE'], [128, 'CWR'], [64, 'ECE'], [32, 'URG'], [16, 'ACK'], [8, 'PSH'], [4, 'RST'], [2, 'SYN'],
  [1, 'FIN']] as const;
const UNKNOWN_LOSS = 2 ** 64 - 1;

/**
 * The flag lists of the records, one frozen array per combination of bits, shared by every
 * item that has it (a few hundred at most): no array is made per packet.
 */
const NONE: readonly never[] = Object.freeze([]);
const ipFlagLists: (readonly ('CE' | 'DF' | 'MF')[])[] = [];
const tcpFlagLists: (readonly string[])[] = [];
function flagList<T extends string>(cache: (readonly T[])[], names: readonly (readonly [number, T])[],
  bits: number): readonly T[]
{
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

/** The fields of a packet item in the order its JSON gives them (after `type` and `time`). */
const PACKET_KEYS = ['source', 'family', 'prefix', 'indev', 'outdev', 'physindev', 'physoutdev', 'hwHeader', 'macSrc',
  'macDst', 'macProto', 'vlanProto', 'vlanId', 'tunnel', 'arp', 'mark', 'uid', 'gid', 'src', 'dst', 'len', 'tos',
  'prec', 'ttl', 'id', 'tc', 'hopLimit', 'flowLabel', 'ipFlags', 'fragOffset', 'fragId', 'fragMore', 'ipOptions',
  'ipv6Options', 'proto', 'protocol', 'spt', 'dpt', 'udpLen', 'tcp', 'icmp', 'spi', 'incomplete', 'truncated', 'inner',
  'timestamp', 'kernelTime', 'seq', 'level', 'host', 'message', 'extra', 'unparsed'] as const;

/**
 * LOG packets are instances of one class: one shape, whether built from words or parsed. The
 * fields most lines have are the instance's own from the start (one hidden class for them all);
 * the rare ones (bridge ports, MAC fields, mark, uid, fragments, a quoted packet...) are
 * undefined on the prototype until a line has them, so that an item takes half the memory.
 */
export class KernelPacketItem extends JsonItem implements KernelLogPacket {
  readonly type = 'packet';
  family: KernelLogPacket['family'] = undefined;
  prefix = '';
  indev: LogInterface | undefined = undefined;
  outdev: LogInterface | undefined = undefined;
  hwHeader: Buffer | undefined = undefined;
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
  ipFlags: ('CE' | 'DF' | 'MF')[] = NONE as never;
  proto: string | undefined = undefined;
  protocol: number | undefined = undefined;
  spt: number | undefined = undefined;
  dpt: number | undefined = undefined;
  udpLen: number | undefined = undefined;
  tcp: KernelLogPacket['tcp'] = undefined;
  icmp: KernelLogPacket['icmp'] = undefined;
  timestamp: bigint | undefined = undefined;
  kernelTime: number | undefined = undefined;
  seq: number | undefined = undefined;
  level: number | undefined = undefined;
  host: string | undefined = undefined;
  message = '';
  declare physindev: LogInterface | undefined;
  declare physoutdev: LogInterface | undefined;
  declare macSrc: string | undefined;
  declare macDst: string | undefined;
  declare macProto: number | undefined;
  declare vlanProto: number | undefined;
  declare vlanId: number | undefined;
  declare tunnel: string | undefined;
  declare arp: KernelLogPacket['arp'];
  declare mark: number | undefined;
  declare uid: number | undefined;
  declare gid: number | undefined;
  declare fragOffset: number | undefined;
  declare fragId: number | undefined;
  declare fragMore: boolean | undefined;
  declare ipOptions: string | undefined;
  declare ipv6Options: string[] | undefined;
  declare spi: number | undefined;
  declare incomplete: number | undefined;
  declare truncated: boolean | undefined;
  declare inner: KernelLogPacket['inner'];
  declare extra: { key: string; value: string }[];
  declare unparsed: string[];

  constructor(readonly source: KernelLogSource) {
    super();
  }

  /**
   * `type`, `time`, then the fields that are there (`timestamp` as a decimal string, `hwHeader`
   * as hex): what jsonSafe() gives, without walking every field generically (NDJSON of a
   * million lines).
   */
  override toJSON(): Record<string, unknown> {
    return packetFieldsInto(this, { type: this.type, time: isoTime(this.timestamp) });
  }
}

/**
 * A packet item's fields added to `o` after what it holds (`type` and `time`, or an NDJSON
 * line's head), in the documented order. The own fields in their order (a for-in loop over one
 * hidden class is fast); a rare field set makes the item's order differ from the documented
 * one: then key by key.
 */
function packetFieldsInto(item: KernelPacketItem, o: Record<string, unknown>): Record<string, unknown> {
  let n = 0;
  // eslint-disable-next-line @typescript-eslint/no-unused-vars -- the keys counted, without an array per line
  for (const _ in item) n++;
  if (n > COMMON_FIELDS) {
    for (const k of PACKET_KEYS) jsonField(o, k, item[k]);
    return o;
  }
  for (const k in item) jsonField(o, k, item[k as keyof KernelPacketItem]);
  o.extra = item.extra;
  o.unparsed = item.unparsed;
  return o;
}

/**
 * An item's JSON with `head` first: `nfct log --kmsg|--file --json` puts the line's `type`,
 * `time` and `timeSource` there, then the item's fields as toJSON() gives them.
 */
export function kernelLogJson(item: KernelLogPacket | KernelLogLine | KernelLogLoss,
  head: Record<string, unknown>): Record<string, unknown>
{
  if (item instanceof KernelPacketItem) return packetFieldsInto(item, head);
  const fields = (item instanceof JsonItem ? item.toJSON() : jsonSafe(item)) as Record<string, unknown>;
  for (const k in fields) if (k !== 'time') head[k] = fields[k];
  return head;
}

/** A field into a JSON object: left out when undefined, a bigint as decimal, bytes as hex. */
function jsonField(o: Record<string, unknown>, k: string, v: unknown): void {
  if (v === undefined) return;
  if (typeof v === 'bigint') o[k] = v.toString();
  else if (v instanceof Uint8Array) o[k] = Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex');
  else o[k] = v;
}
const ownKeys = new Set(Object.keys(new KernelPacketItem('file')));
/** The fields every packet item has as its own. */
const COMMON_FIELDS = ownKeys.size;
for (const k of PACKET_KEYS) {
  if (ownKeys.has(k)) continue;
  const value = k === 'extra' || k === 'unparsed' ? NONE : undefined;
  Object.defineProperty(KernelPacketItem.prototype, k, { value, writable: true, configurable: true });
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

/**
 * The interfaces of the records by name, one frozen object each, shared by every item that
 * names it (a host has a few): no object is made per packet.
 */
const interfaces = new Map<string, LogInterface>();
function sharedDev(name: string | undefined): LogInterface | undefined {
  if (!name) return undefined;
  let d = interfaces.get(name);
  if (d === undefined) {
    if (interfaces.size >= 4096) interfaces.clear();
    d = Object.freeze({ name });
    interfaces.set(name, d);
  }
  return d;
}

/** The fields the TypeScript parser read from a message, into an item (a record KLOG_HAS_COMPLEX). */
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
export type KernelHop = Omit<KernelLogTraceEvent, 'ruleText' | 'log'> & { log: KernelPacketItem };

export interface DecodedRecords {
  /** Items in order: packets, hops, losses, lines. */
  items: (KernelPacketItem | KernelHop | LossItem | LineItem)[];
  /** Packets (and hops) that the TypeScript parser read, for the filter to be checked on. */
  parsed: Set<KernelPacketItem>;
}

/**
 * The numbers only some LOG lines have (--log-macdecode, a mark, --log-uid): [presence bit,
 * word, field]. Read through this table once a line has any (the fields most lines have are
 * written one by one: a store to a field named at run time costs many times more).
 */
const RARE_NUMBERS = [[KLOG_HAS_MACPROTO, KLOG_MACPROTO, 'macProto'], [KLOG_HAS_VPROTO, KLOG_VPROTO, 'vlanProto'], [
  KLOG_HAS_VID,
  KLOG_VID,
  'vlanId',
], [KLOG_HAS_MARK, KLOG_MARK, 'mark'], [KLOG_HAS_UID, KLOG_UID, 'uid'], [KLOG_HAS_GID, KLOG_GID, 'gid']] as const;
const RARE_MASK = RARE_NUMBERS.reduce((m, [bit]) => m | bit, 0);

const u64 = (w: Uint32Array, at: number): number => w[at + 1]! * 0x100000000 + w[at]!;
/** The last wall-clock time made a bigint: the lines of a syslog file share their second. */
let lastHi = -1;
let lastLo = -1;
let lastTime = 0n;
function u64n(w: Uint32Array, at: number): bigint {
  const lo = w[at]!;
  const hi = w[at + 1]!;
  if (lo !== lastLo || hi !== lastHi) {
    lastLo = lo;
    lastHi = hi;
    lastTime = (BigInt(hi) << 32n) | BigInt(lo);
  }
  return lastTime;
}

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

type Level = Pick<KernelLogPacket,
  'src' | 'dst' | 'len' | 'tos' | 'prec' | 'ttl' | 'id' | 'tc' | 'hopLimit' | 'flowLabel' | 'ipFlags' | 'fragOffset'
    | 'ipOptions' | 'proto' | 'protocol' | 'spt' | 'dpt' | 'udpLen' | 'tcp' | 'icmp' | 'incomplete'>;

/**
 * The IP and transport fields of a record's words at `b` (the line's packet, or the one an ICMP
 * error quotes) into `t`, and its strings from the cursor: src, dst, ipOptions, proto,
 * tcpOptions. Only fields that are there are written (a quoted packet has no others).
 */
function readLevel(t: Level, w: Uint32Array, b: number, c: Cursor): void {
  const p = w[b + KLOG_PRESENT]!;
  const q = w[b + KLOG_PRESENT2]!;
  const s = c.s;
  if (p & KLOG_HAS_SRC) t.src = s[c.i++];
  if (p & KLOG_HAS_DST) t.dst = s[c.i++];
  const ipOptions = p & KLOG_HAS_IPOPT ? s[c.i++] : undefined;
  if (p & KLOG_HAS_PROTO) t.proto = name(c, w[b + KLOG_PROTOID]!, w[b + KLOG_FRESH]!, KLOG_FRESH_PROTO);
  const tcpOptions = q & KLOG_HAS2_TCPOPT ? s[c.i++] : undefined;
  if (p & KLOG_HAS_LEN) t.len = w[b + KLOG_LEN];
  if (p & KLOG_HAS_TOS) t.tos = w[b + KLOG_TOS];
  if (p & KLOG_HAS_PREC) t.prec = w[b + KLOG_PREC];
  if (p & KLOG_HAS_TTL) t.ttl = w[b + KLOG_TTL];
  if (p & KLOG_HAS_ID) t.id = w[b + KLOG_IPID];
  if (p & KLOG_HAS_TC) t.tc = w[b + KLOG_TC];
  if (p & KLOG_HAS_HOPLIMIT) t.hopLimit = w[b + KLOG_HOPLIMIT];
  if (p & KLOG_HAS_FLOWLBL) t.flowLabel = w[b + KLOG_FLOWLBL];
  const ipf = w[b + KLOG_IPFLAGS]!;
  if (ipf) t.ipFlags = flagList(ipFlagLists, IP_FLAGS, ipf) as ('CE' | 'DF' | 'MF')[];
  if (p & KLOG_HAS_FRAG) t.fragOffset = w[b + KLOG_FRAG];
  if (ipOptions !== undefined) t.ipOptions = ipOptions;
  if (q & KLOG_HAS2_PROTONUM) t.protocol = w[b + KLOG_PROTO];
  if (q & KLOG_HAS2_SPT) t.spt = w[b + KLOG_SPT];
  if (q & KLOG_HAS2_DPT) t.dpt = w[b + KLOG_DPT];
  if (q & KLOG_HAS2_UDPLEN) t.udpLen = w[b + KLOG_UDPLEN];
  if (q & KLOG_HAS2_TCP) {
    const tcp: NonNullable<KernelLogPacket['tcp']> = {
      flags: flagList(tcpFlagLists, TCP_FLAGS, w[b + KLOG_TCPFLAGS]!) as string[],
    };
    if (q & KLOG_HAS2_TCPSEQ) tcp.seq = w[b + KLOG_TCPSEQ];
    if (q & KLOG_HAS2_TCPACK) tcp.ack = w[b + KLOG_TCPACK];
    if (q & KLOG_HAS2_WINDOW) tcp.window = w[b + KLOG_WINDOW];
    if (q & KLOG_HAS2_RES) tcp.res = w[b + KLOG_RES];
    if (q & KLOG_HAS2_URGP) tcp.urgp = w[b + KLOG_URGP];
    if (tcpOptions !== undefined) tcp.options = tcpOptions;
    t.tcp = tcp;
  }
  if (q & KLOG_HAS2_ICMP) {
    const icmp: NonNullable<KernelLogPacket['icmp']> = {};
    if (q & KLOG_HAS2_ICMPTYPE) icmp.type = w[b + KLOG_ICMPTYPE];
    if (q & KLOG_HAS2_ICMPCODE) icmp.code = w[b + KLOG_ICMPCODE];
    if (q & KLOG_HAS2_ICMPID) icmp.id = w[b + KLOG_ICMPID];
    if (q & KLOG_HAS2_ICMPSEQ) icmp.seq = w[b + KLOG_ICMPSEQ];
    if (q & KLOG_HAS2_ICMPMTU) icmp.mtu = w[b + KLOG_ICMPMTU];
    t.icmp = icmp;
  }
  if (q & KLOG_HAS2_INCOMPLETE) t.incomplete = w[b + KLOG_INCOMPLETE];
}

/** Decodes a batch of kernel log records. */
export function decodeRecords(
  batch: { buffer: ArrayBuffer; strings: string; count: number; bytes: ArrayBuffer | undefined },
  source: KernelLogSource,
  names: NameTable,
): DecodedRecords {
  const w = new Uint32Array(batch.buffer);
  const c: Cursor = { s: batch.strings.split('\0'), i: 0, names };
  const s = c.s;
  const bytes = batch.bytes;
  const items: DecodedRecords['items'] = [];
  const parsed = new Set<KernelPacketItem>();
  for (let n = 0, b = 0; n < batch.count; n++, b += KLOG_WORDS) {
    const o = b;
    const p = w[o + KLOG_PRESENT]!;
    const q = w[o + KLOG_PRESENT2]!;
    const kindWord = w[o + KLOG_KIND]!;
    const kind = kindWord & 15;
    const fresh = w[o + KLOG_FRESH]!;
    if (fresh & KLOG_FRESH_RESET) names.length = 0;
    const message = s[c.i++]!;
    const timestamp = p & KLOG_HAS_TIME ? u64n(w, o + KLOG_TIME) : undefined;
    if (kind === KLOG_KIND_LOSS) {
      const lost = u64(w, o + KLOG_LOST);
      const before = u64(w, o + KLOG_SEQ);
      const known = lost !== UNKNOWN_LOSS;
      items.push(
        new LossItem(known ? lost : undefined, known ? before - lost - 1 : undefined, before,
          BigInt(Date.now()) * 1_000_000n),
      );
      continue;
    }
    const kernelTime = p & KLOG_HAS_KTIME ? u64(w, o + KLOG_KTIME) / 1e6 : undefined;
    const seq = p & KLOG_HAS_SEQ ? u64(w, o + KLOG_SEQ) : undefined;
    const level = p & KLOG_HAS_LEVEL ? (kindWord >>> 8) & 7 : undefined;
    if (kind !== KLOG_KIND_PACKET && kind !== KLOG_KIND_HOP) {
      const line = new LineItem(source, message);
      line.seq = seq;
      line.level = level;
      line.facility = q & KLOG_HAS2_FACILITY ? kindWord >>> 16 : undefined;
      line.timestamp = timestamp;
      line.kernelTime = kernelTime;
      line.host = q & KLOG_HAS2_HOST ? name(c, w[o + KLOG_HOSTID]!, fresh, KLOG_FRESH_HOST) : undefined;
      items.push(line);
      continue;
    }
    const item = new KernelPacketItem(source);
    item.message = message;
    item.prefix = name(c, w[o + KLOG_PREFIXID]!, fresh, KLOG_FRESH_PREFIX);
    let table = '';
    let chain = '';
    if (kind === KLOG_KIND_HOP) {
      table = name(c, w[o + KLOG_TABLEID]!, fresh, KLOG_FRESH_TABLE);
      chain = name(c, w[o + KLOG_CHAINID]!, fresh, KLOG_FRESH_CHAIN);
    }
    const inName = p & KLOG_HAS_IN ? name(c, w[o + KLOG_INID]!, fresh, KLOG_FRESH_IN) : undefined;
    const outName = p & KLOG_HAS_OUT ? name(c, w[o + KLOG_OUTID]!, fresh, KLOG_FRESH_OUT) : undefined;
    const physin = p & KLOG_HAS_PHYSIN ? name(c, w[o + KLOG_PHYSINID]!, fresh, KLOG_FRESH_PHYSIN) : undefined;
    const physout = p & KLOG_HAS_PHYSOUT ? name(c, w[o + KLOG_PHYSOUTID]!, fresh, KLOG_FRESH_PHYSOUT) : undefined;
    if (p & KLOG_HAS_MACSRC) item.macSrc = s[c.i++];
    if (p & KLOG_HAS_MACDST) item.macDst = s[c.i++];
    readLevel(item, w, o, c);
    if (q & KLOG_HAS2_INNER) {
      b += KLOG_WORDS;
      const inner: Level = { ipFlags: NONE as never };
      readLevel(inner, w, b, c);
      item.inner = inner;
    }
    item.host = q & KLOG_HAS2_HOST ? name(c, w[o + KLOG_HOSTID]!, fresh, KLOG_FRESH_HOST) : undefined;
    item.timestamp = timestamp;
    item.kernelTime = kernelTime;
    item.seq = seq;
    item.level = level;
    if (p & KLOG_HAS_COMPLEX) {
      fillFromParsed(item, parseMessage(message));
      parsed.add(item);
    } else {
      item.indev = sharedDev(inName);
      item.outdev = sharedDev(outName);
      if (physin) item.physindev = sharedDev(physin);
      if (physout) item.physoutdev = sharedDev(physout);
      if (p & KLOG_HAS_MAC && bytes && w[o + KLOG_MAC + 1]! > 0) {
        item.hwHeader = Buffer.from(bytes, w[o + KLOG_MAC], w[o + KLOG_MAC + 1]);
      }
      if (p & RARE_MASK) {
        for (const [bit, word, key] of RARE_NUMBERS) if (p & bit) item[key] = w[o + word];
      }
      item.family = item.src === undefined ? undefined : item.src.includes(':') ? 'ipv6' : 'ipv4';
    }
    if (kind === KLOG_KIND_PACKET) {
      items.push(item);
      continue;
    }
    const hopKind = (kindWord >>> 4) & 15;
    const k: TraceKind = hopKind === KLOG_HOP_RULE ? 'rule' : hopKind === KLOG_HOP_RETURN ? 'return' : 'policy';
    items.push({
      source,
      id: w[o + KLOG_HOPID]!,
      family: item.family === 'ipv6' ? 'ipv6' : 'ipv4',
      table,
      chain,
      kind: k,
      rule: w[o + KLOG_RULE]!,
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

export type { LineItem, LossItem };
