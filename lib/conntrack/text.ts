/**
 * The text conntrack-tools 1.4.7 (with libnetfilter_conntrack 1.0.9) prints, rebuilt from the
 * library's objects: `conntrack -L` lines in every `-o` mode (default, extended, id,
 * ktimestamp, labels, save, xml), `conntrack -E` lines, `conntrack -L expect`, `-S`, `-C` and
 * the summaries on stderr.
 *
 * Written from the printing code's behaviour (libnetfilter_conntrack `snprintf_default.c`,
 * `snprintf_xml.c`, `expect/snprintf_default.c`; conntrack-tools `src/conntrack.c` and
 * `extensions/`), including its quirks, which are kept on purpose so that the output is the
 * same byte for byte:
 *
 * - Every item is written followed by one blank and the last blank is removed; protocol names
 *   are padded (`%-8s %u `), event tags right-aligned in 9 columns (`    [NEW] `).
 * - `[UNREPLIED]` stands for "IPS_SEEN_REPLY not set"; of the other status bits only one of
 *   HW_OFFLOAD, OFFLOAD, ASSURED (in that priority) is shown.
 * - `delta-time=` is "now − start" in whole seconds (each rounded down first), or "stop − start"
 *   for destroyed entries; XML's `<deltatime>` divides the nanosecond difference instead.
 * - `[start=...]`/`[stop=...]` use ctime() in the local time zone (TZ), as conntrack does.
 * - `-o labels` prints only the bits the label map names; with none named, a bare `labels`.
 * - XML prints an SCTP (and DCCP) state with the TCP state names (`<state>FIN_WAIT</state>`
 *   for an ESTABLISHED SCTP entry), reply counters only when the original ones are there, and
 *   no ICMP fields.
 * - `-o save` shows the SCTP vtags byte-swapped against the kernel's value (conntrack converts
 *   them twice) and SCTP states past SHUTDOWN_ACK_SENT as `(null)`.
 *
 * Single-line functions return the line without its newline; the functions that return what a
 * command prints as a whole (formatCpuStats, formatXmlDocument) include every newline.
 *
 * A Flow only says which attributes the kernel sent where the library keeps them optional
 * (timeout, mark, use, zone, counters, timestamps, helper, labels, ...): a field present is
 * printed the way conntrack prints the attribute. Where the Flow cannot tell (see the notes on
 * formatSave), the common case is assumed.
 */
import { AF_INET, AF_INET6, protocolName } from '../core/protocols.js';
import { DCCP_STATES, SCTP_STATES, TCP_STATES } from './constants.js';
import { STATUS_NAMES, type StatusName, statusBit } from './status.js';
import type { ExpectationEvent, FlowEvent } from './events.js';
import type { Expectation, ExpectationCpuStats } from './expect.js';
import type { CpuStats, DccpInfo, Flow, PortTuple, SctpInfo, TcpInfo, Tuple } from './types.js';

/** The version this module reproduces. */
export const CONNTRACK_VERSION = '1.4.7';

/** What conntrack writes before every message on stderr. */
export const CONNTRACK_BANNER = `conntrack v${CONNTRACK_VERSION} (conntrack-tools): `;

/** What `conntrack -L -o xml` prints before the first flow (only when there is one). */
export const XML_HEADER = '<?xml version="1.0" encoding="utf-8"?>\n<conntrack>\n';
/** ...and after the last one. */
export const XML_FOOTER = '</conntrack>\n';
/** The same for `conntrack -L expect -o xml` and `-E expect -o xml`. */
export const XML_EXPECT_HEADER = '<?xml version="1.0" encoding="utf-8"?>\n<expect>\n';
export const XML_EXPECT_FOOTER = '</expect>\n';

/** The `-o` flags that change a `conntrack -L` line. */
export interface FlowFormatOptions {
  /** `-o extended`: the layer-3 name and number first (`ipv4     2 `). */
  extended?: boolean;
  /** `-o id`: `id=` of the entry at the end. */
  id?: boolean;
  /** `-o ktimestamp`: `[start=<ctime>]` (and `[stop=<ctime>]`) after `delta-time=`. */
  ktimestamp?: boolean;
  /**
   * `-o labels`: the label names of connlabel.conf, bit -> name. Only named bits are printed;
   * without this map (conntrack without `-o labels`, or without a connlabel.conf) no labels are.
   */
  labels?: Readonly<Record<number, string>>;
  /** The time to compute `delta-time=` against, ns since the epoch (default: now). */
  now?: bigint;
  /** `-o timestamp`: ignored by `-L` lines (formatEvent prefixes `[sec.usec]\t`). */
  timestamp?: boolean;
}

/** A change made over netlink by a process: conntrack -E appends ` [USERSPACE] portid=N progname=X`. */
export interface UserspaceOrigin {
  /** The netlink port id of the sender (nlmsg_pid of the event). */
  portid: number;
  /** The sender's command name, when conntrack could still find the process. */
  progname?: string;
}

export interface EventFormatOptions extends FlowFormatOptions {
  /** `-o timestamp`: prefix `[sec.usec]<TAB>` with the event's timestamp. */
  timestamp?: boolean;
  /** `-o xml`: the `<flow type="...">` line instead (with `timestamp`, a `<when>` element). */
  xml?: boolean;
  /** `-o save`: the `-A`/`-U`/`-D` line instead. */
  save?: boolean;
  /** Appends conntrack's `[USERSPACE]` suffix (the library's events do not carry the port id). */
  userspace?: UserspaceOrigin;
}

export interface XmlFormatOptions {
  /** `-o ktimestamp`: `<timestamp><start>ns</start><stop>ns</stop></timestamp>`. */
  ktimestamp?: boolean;
  /** `-o labels`: `<labels><label>name</label>...</labels>` for named bits. */
  labels?: Readonly<Record<number, string>>;
  /** For `<deltatime>` of a live entry, ns since the epoch (default: now). */
  now?: bigint;
  /** Event flows print `<flow type="new|update|destroy">`; listed ones `<flow>`. */
  type?: 'new' | 'update' | 'destroy';
  /** Events with `-o xml,timestamp`: a `<when>` element for this time (ns since the epoch). */
  when?: bigint;
}

export interface SaveFormatOptions {
  /** The command word: `-A` (listing, new events; default), `-U` (update), `-D` (destroy), or none. */
  type?: 'new' | 'update' | 'destroy' | 'none';
}

const NS_PER_S = 1_000_000_000n;

const PORT_PROTOS = new Set([6, 17, 136, 132, 33]);

/** conntrack's own SCTP table for `-o save` stops at SHUTDOWN_ACK_SENT; glibc prints NULL as (null). */
const SCTP_SAVE_NAMES = SCTP_STATES.slice(0, 8);
const DCCP_ROLES = ['client', 'server'];

const bit = (name: StatusName): number => 1 << statusBit(name)!;
const IPS_SEEN_REPLY = bit('SEEN_REPLY');
const IPS_ASSURED = bit('ASSURED');
const IPS_SRC_NAT_DONE = bit('SRC_NAT_DONE');
const IPS_DST_NAT_DONE = bit('DST_NAT_DONE');
const IPS_OFFLOAD = bit('OFFLOAD');
const IPS_HW_OFFLOAD = bit('HW_OFFLOAD');
/** The status bits `-o save` names (`-u`), in bit order: EXPECTED, SEEN_REPLY, ASSURED, FIXED_TIMEOUT. */
const SAVE_STATUS_BITS = [0, 1, 2, 10];

/** `%-8s`: left-aligned in 8 columns (longer strings are not cut). */
function left8(s: string): string {
  return s.length >= 8 ? s : s + ' '.repeat(8 - s.length);
}

/** `%-8s %u ` of each protocol number (its name, then the number), made once per number. */
const PROTO_ITEMS: string[] = [];
function protoItems(num: number): string {
  return (PROTO_ITEMS[num] ??= `${left8(l4name(num))} ${num} `);
}
const FAMILY_ITEMS = { [AF_INET]: `${left8('ipv4')} ${AF_INET} `, [AF_INET6]: `${left8('ipv6')} ${AF_INET6} ` };

function l3num(flow: { family: string }): typeof AF_INET | typeof AF_INET6 {
  return flow.family === 'ipv6' ? AF_INET6 : AF_INET;
}

function l4name(num: number): string {
  return protocolName(num);
}

function field<K extends string>(t: Tuple | undefined, key: K): number {
  const v = t === undefined ? undefined : (t as unknown as Partial<Record<K, number>>)[key];
  return v ?? 0;
}

/** `src=... dst=... ` and the layer-4 part of one tuple, as __snprintf_address/__snprintf_proto. */
function tupleText(t: Tuple, srcTag = 'src', dstTag = 'dst'): string {
  let s = `${srcTag}=${t.src} ${dstTag}=${t.dst} `;
  const p = t.protonum;
  if (PORT_PROTOS.has(p)) {
    const ports = t as Partial<PortTuple>;
    s += `sport=${ports.srcPort ?? 0} dport=${ports.dstPort ?? 0} `;
  } else if (p === 47) {
    s += `srckey=0x${field(t, 'srcKey').toString(16)} dstkey=0x${field(t, 'dstKey').toString(16)} `;
  } else if (p === 1 || p === 58) {
    s += `type=${field(t, 'type')} code=${field(t, 'code')} id=${field(t, 'id')} `;
  }
  return s;
}

function nowNs(now: bigint | undefined): bigint {
  return now ?? BigInt(Date.now()) * 1_000_000n;
}

/** `%llu` of a time_t difference (a negative one wraps, as it does in C). */
function u64(n: bigint): string {
  return BigInt.asUintN(64, n).toString();
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad2 = (n: number): string => (n < 10 ? `0${n}` : String(n));

/** ctime() without its newline, in the local time zone: `Sun Nov  2 15:33:56 2026`. */
export function ctime(seconds: bigint): string {
  const d = new Date(Number(seconds) * 1000);
  const day = d.getDate();
  return (
    `${DAYS[d.getDay()]} ${MONTHS[d.getMonth()]} ${day < 10 ? ' ' : ''}${day} ` +
    `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())} ${d.getFullYear()}`
  );
}

function labelNames(bits: readonly number[], map: Readonly<Record<number, string>>): string[] {
  const out: string[] = [];
  for (const bit of [...bits].sort((a, b) => a - b)) {
    const name = Object.hasOwn(map, bit) ? map[bit] : undefined;
    if (name) out.push(name);
  }
  return out;
}

/** The protocol info the kernel sent, whatever the flow's protocol (as conntrack tests the attributes). */
function protoInfo(flow: Flow): { tcp?: TcpInfo; sctp?: SctpInfo; dccp?: DccpInfo } {
  return flow as { tcp?: TcpInfo; sctp?: SctpInfo; dccp?: DccpInfo };
}

/** The body of a line (after any event tag), each item followed by one blank. */
function flowItems(flow: Flow, o: FlowFormatOptions): string {
  let s = '';
  if (o.extended) s += FAMILY_ITEMS[l3num(flow)];
  s += protoItems(flow.protonum);
  if (flow.timeout !== undefined) s += `${flow.timeout} `;
  const { tcp, sctp, dccp } = protoInfo(flow);
  if (tcp) s += `${TCP_STATES[tcp.stateNum] ?? 'NONE'} `;
  if (sctp) s += `${SCTP_STATES[sctp.stateNum] ?? 'NONE'} `;
  if (dccp) s += `${DCCP_STATES[dccp.stateNum] ?? 'NONE'} `;
  s += tupleText(flow.original);
  if (flow.original.zone !== undefined) s += `zone-orig=${flow.original.zone} `;
  if (flow.counters) s += `packets=${flow.counters.original.packets} bytes=${flow.counters.original.bytes} `;
  const bits = flow.status.bits;
  if (!(bits & IPS_SEEN_REPLY)) s += '[UNREPLIED] ';
  s += tupleText(flow.reply);
  if (flow.reply.zone !== undefined) s += `zone-reply=${flow.reply.zone} `;
  if (flow.counters) s += `packets=${flow.counters.reply.packets} bytes=${flow.counters.reply.bytes} `;
  if (bits & IPS_HW_OFFLOAD) s += '[HW_OFFLOAD] ';
  else if (bits & IPS_OFFLOAD) s += '[OFFLOAD] ';
  else if (bits & IPS_ASSURED) s += '[ASSURED] ';
  if (flow.mark !== undefined) s += `mark=${flow.mark} `;
  if (flow.secmark !== undefined) s += `secmark=${flow.secmark} `;
  if (flow.secctx !== undefined) s += `secctx=${flow.secctx} `;
  if (flow.zone !== undefined) s += `zone=${flow.zone} `;
  const ts = flow.timestamp;
  if (ts) {
    const start = ts.start / NS_PER_S;
    const end = ts.stop ? ts.stop / NS_PER_S : nowNs(o.now) / NS_PER_S;
    s += `delta-time=${u64(end - start)} `;
    if (o.ktimestamp) {
      s += `[start=${ctime(start)}] `;
      if (ts.stop !== undefined) s += `[stop=${ctime(ts.stop / NS_PER_S)}] `;
    }
  }
  if (flow.helper !== undefined) s += `helper=${flow.helper} `;
  if (flow.use !== undefined) s += `use=${flow.use} `;
  if (o.id && flow.id !== undefined) s += `id=${flow.id} `;
  if (o.labels && flow.labels !== undefined) {
    // `labels=` + `name,` per named bit, then the last character (',' or '=') is dropped.
    const names = labelNames(flow.labels, o.labels);
    s += names.length > 0 ? `labels=${names.join(',')} ` : 'labels ';
  }
  return s;
}

/** One line of `conntrack -L` (with the `-o` flags in `options`), without the newline. */
export function formatFlow(flow: Flow, options: FlowFormatOptions = {}): string {
  return flowItems(flow, options).slice(0, -1);
}

const EVENT_TAGS: Readonly<Record<FlowEvent['type'], string>> = {
  new: '    [NEW] ',
  update: ' [UPDATE] ',
  destroy: '[DESTROY] ',
};

/** `[%-.8ld.%-.6ld]\t`: seconds at least 8 digits, microseconds zero-padded to 6. */
function eventTimePrefix(ns: bigint): string {
  const sec = ns / NS_PER_S;
  const usec = (ns % NS_PER_S) / 1000n;
  return `[${sec.toString().padStart(8, '0')}.${usec.toString().padStart(6, '0')}]\t`;
}

function userspaceSuffix(u: UserspaceOrigin | undefined): string {
  if (!u) return '';
  return u.progname ? ` [USERSPACE] portid=${u.portid} progname=${u.progname}` : ` [USERSPACE] portid=${u.portid}`;
}

/**
 * One line of `conntrack -E` for a flow event, without the newline: the tag (`    [NEW] `,
 * ` [UPDATE] `, `[DESTROY] `) and the entry as the event carries it (events have no `use=`,
 * counters and timestamps only in DESTROY, `mark=` only when set). With `timestamp`, the
 * `[sec.usec]<TAB>` prefix conntrack prints from its clock when it reads the event; here it is
 * the event's `timestamp`. With `xml` or `save`, what `-o xml` / `-o save` print instead.
 */
export function formatEvent(event: FlowEvent, options: EventFormatOptions = {}): string {
  const suffix = userspaceSuffix(options.userspace);
  if (options.save) return formatSave(event.flow, { type: event.type }) + suffix;
  if (options.xml) {
    const xml = formatXml(event.flow, {
      ktimestamp: options.ktimestamp,
      labels: options.labels,
      now: options.now,
      type: event.type,
      when: options.timestamp ? event.timestamp : undefined,
    });
    return xml + suffix;
  }
  const prefix = options.timestamp ? eventTimePrefix(event.timestamp) : '';
  return prefix + (EVENT_TAGS[event.type] + flowItems(event.flow, options)).slice(0, -1) + suffix;
}

// ---- -o save ---------------------------------------------------------------------------

function bswap32(v: number): number {
  return (((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24)) >>> 0;
}

function saveStatus(bits: number): string {
  const names = SAVE_STATUS_BITS.filter((b) => bits & (1 << b)).map((b) => STATUS_NAMES[b]!);
  return names.length > 0 ? names.join(',') : 'UNSET';
}

/**
 * One line of `conntrack -L -o save` (`-A -t 119 -u SEEN_REPLY,ASSURED -s ... -p tcp ...`).
 *
 * What the Flow cannot tell: whether the kernel sent the ports of a DCCP entry it tracks
 * generically (no DCCP tracker, Linux 6.16+): conntrack then prints no port options. A DCCP
 * flow without `dccp` state info and with all ports 0 is taken to be such an entry.
 */
export function formatSave(flow: Flow, options: SaveFormatOptions = {}): string {
  const items: string[] = [];
  const type = options.type ?? 'new';
  if (type === 'new') items.push('-A');
  else if (type === 'update') items.push('-U');
  else if (type === 'destroy') items.push('-D');
  const opt = (name: string, value: string | number | undefined): void => {
    if (value !== undefined) items.push(name, String(value));
  };
  opt('-t', flow.timeout);
  opt('-u', saveStatus(flow.status.bits));
  opt('-c', flow.secmark);
  opt('-w', flow.zone);
  opt('--orig-zone', flow.original.zone);
  opt('--reply-zone', flow.reply.zone);
  const bits = flow.status.bits;
  const dnat = (bits & IPS_DST_NAT_DONE) !== 0 && flow.reply.src !== flow.original.dst;
  const snat = (bits & IPS_SRC_NAT_DONE) !== 0 && flow.reply.dst !== flow.original.src;
  opt('-s', flow.original.src);
  opt('-d', flow.original.dst);
  opt(dnat ? '-g' : '-r', flow.reply.src);
  opt(snat ? '-n' : '-q', flow.reply.dst);
  const p = flow.protonum;
  const name = protocolName(p);
  if (name === 'unknown') {
    items.push('-p', String(p));
    return items.join(' ');
  }
  items.push('-p', name);
  const o = flow.original;
  const r = flow.reply;
  if (PORT_PROTOS.has(p)) {
    const generic =
      p === 33 && !protoInfo(flow).dccp && [field(o, 'srcPort'), field(o, 'dstPort'), field(r, 'srcPort'), field(r, 'dstPort')].every((x) => x === 0);
    if (!generic) {
      opt('--sport', field(o, 'srcPort'));
      opt('--dport', field(o, 'dstPort'));
      opt('--reply-port-src', field(r, 'srcPort'));
      opt('--reply-port-dst', field(r, 'dstPort'));
    }
    const { tcp, sctp, dccp } = protoInfo(flow);
    if (p === 6 && tcp) opt('--state', TCP_STATES[tcp.stateNum] ?? '(null)');
    if (p === 132 && sctp) {
      opt('--state', SCTP_SAVE_NAMES[sctp.stateNum] ?? '(null)');
      opt('--orig-vtag', bswap32(sctp.vtagOriginal));
      opt('--reply-vtag', bswap32(sctp.vtagReply));
    }
    if (p === 33 && dccp) {
      opt('--state', DCCP_STATES[dccp.stateNum] ?? '(null)');
      opt('--role', DCCP_ROLES[dccp.role] ?? '(null)');
    }
  } else if (p === 1 || p === 58) {
    const pre = p === 1 ? '--icmp' : '--icmpv6';
    opt(`${pre}-type`, field(o, 'type'));
    opt(`${pre}-code`, field(o, 'code'));
    opt(`${pre}-id`, field(o, 'id'));
  } else if (p === 47) {
    opt('--srckey', field(o, 'srcKey'));
    opt('--dstkey', field(o, 'dstKey'));
    opt('--reply-key-src', field(r, 'srcKey'));
    opt('--reply-key-dst', field(r, 'dstKey'));
  }
  return items.join(' ');
}

// ---- -o xml ----------------------------------------------------------------------------

function xmlTuple(flow: Flow, dir: 'original' | 'reply'): string {
  const t = dir === 'original' ? flow.original : flow.reply;
  const n = l3num(flow);
  let s = `<meta direction="${dir}"><layer3 protonum="${n}" protoname="${n === AF_INET ? 'ipv4' : 'ipv6'}">`;
  s += `<src>${t.src}</src><dst>${t.dst}</dst></layer3>`;
  s += `<layer4 protonum="${t.protonum}" protoname="${l4name(t.protonum)}">`;
  if (PORT_PROTOS.has(t.protonum)) s += `<sport>${field(t, 'srcPort')}</sport><dport>${field(t, 'dstPort')}</dport>`;
  else if (t.protonum === 47) {
    s += `<srckey>0x${field(t, 'srcKey').toString(16)}</srckey><dstkey>0x${field(t, 'dstKey').toString(16)}</dstkey>`;
  }
  s += '</layer4>';
  if (t.zone !== undefined) s += `<zone>${t.zone}</zone>`;
  if (flow.counters) {
    const c = flow.counters[dir];
    s += `<counters><packets>${c.packets}</packets><bytes>${c.bytes}</bytes></counters>`;
  }
  return `${s}</meta>`;
}

/** `<when>` of NFCT_OF_TIME: local broken-down time. */
function xmlWhen(ns: bigint): string {
  const d = new Date(Number(ns / NS_PER_S) * 1000);
  return (
    `<when><hour>${d.getHours()}</hour><min>${pad2(d.getMinutes())}</min><sec>${pad2(d.getSeconds())}</sec>` +
    `<wday>${d.getDay() + 1}</wday><day>${d.getDate()}</day><month>${d.getMonth() + 1}</month>` +
    `<year>${d.getFullYear()}</year></when>`
  );
}

/** One `<flow>...</flow>` line of `conntrack -L -o xml` (or of `-E -o xml` with `type`). */
export function formatXml(flow: Flow, options: XmlFormatOptions = {}): string {
  let s = options.type ? `<flow type="${options.type}">` : '<flow>';
  s += xmlTuple(flow, 'original') + xmlTuple(flow, 'reply');
  // Conntrack always has a status, so the independent part is always there.
  s += '<meta direction="independent">';
  // The state of SCTP and DCCP entries is looked up in the TCP names, as conntrack does.
  const info = protoInfo(flow);
  for (const i of [info.tcp, info.sctp, info.dccp]) {
    if (i) s += `<state>${TCP_STATES[i.stateNum] ?? 'NONE'}</state>`;
  }
  if (flow.timeout !== undefined) s += `<timeout>${flow.timeout}</timeout>`;
  if (flow.mark !== undefined) s += `<mark>${flow.mark}</mark>`;
  if (options.labels && flow.labels !== undefined) {
    s += `<labels>${labelNames(flow.labels, options.labels).map((n) => `<label>${n}</label>`).join('')}</labels>`;
  }
  if (flow.secmark !== undefined) s += `<secmark>${flow.secmark}</secmark>`;
  if (flow.secctx !== undefined) s += `<secctx>${flow.secctx}</secctx>`;
  if (flow.zone !== undefined) s += `<zone>${flow.zone}</zone>`;
  if (flow.use !== undefined) s += `<use>${flow.use}</use>`;
  if (flow.id !== undefined) s += `<id>${flow.id}</id>`;
  const bits = flow.status.bits;
  if (bits & IPS_ASSURED) s += '<assured/>';
  if (!(bits & IPS_SEEN_REPLY)) s += '<unreplied/>';
  const ts = flow.timestamp;
  if (ts && options.ktimestamp) {
    s += `<timestamp><start>${ts.start}</start>`;
    if (ts.stop !== undefined) s += `<stop>${ts.stop}</stop>`;
    s += '</timestamp>';
  }
  if (ts) {
    const delta = ts.stop !== undefined ? BigInt.asUintN(64, ts.stop - ts.start) / NS_PER_S : nowNs(options.now) / NS_PER_S - ts.start / NS_PER_S;
    s += `<deltatime>${u64(delta)}</deltatime>`;
  }
  s += '</meta>';
  if (options.when !== undefined) s += xmlWhen(options.when);
  if (flow.helper !== undefined) s += `<helper>${flow.helper}</helper>`;
  return `${s}</flow>`;
}

/**
 * All that `conntrack -L -o xml` prints on stdout for these flows: the header, one line per
 * flow, the footer, each with its newline. Nothing at all for an empty table.
 */
export function formatXmlDocument(flows: Iterable<Flow>, options: Omit<XmlFormatOptions, 'type' | 'when'> = {}): string {
  let body = '';
  for (const f of flows) body += `${formatXml(f, options)}\n`;
  return body === '' ? '' : XML_HEADER + body + XML_FOOTER;
}

// ---- expectations ------------------------------------------------------------------------

const EXPECT_FLAG_NAMES: ReadonlyArray<[number, string]> = [
  [1, 'PERMANENT'],
  [2, 'INACTIVE'],
  [4, 'USERSPACE'],
];

export interface ExpectationFormatOptions {
  /** For `conntrack -E expect`: the `    [NEW] ` / `[DESTROY] ` tag first. */
  type?: 'new' | 'update' | 'destroy';
}

/**
 * One line of `conntrack -L expect`: `timeout proto=N` the expected tuple, `mask-src=`...,
 * `master-src=`..., `zone=`, the flags (`PERMANENT,INACTIVE,USERSPACE`), `class=`, `helper=`.
 */
export function formatExpectation(e: Expectation, options: ExpectationFormatOptions = {}): string {
  let s = '';
  if (options.type === 'new') s += '    [NEW] ';
  else if (options.type === 'update') s += ' [UPDATE] ';
  else if (options.type === 'destroy') s += '[DESTROY] ';
  if (e.timeout !== undefined) s += `${e.timeout} `;
  s += `proto=${e.tuple.protonum} `;
  s += tupleText(e.tuple);
  s += tupleText(e.mask, 'mask-src', 'mask-dst');
  s += tupleText(e.master, 'master-src', 'master-dst');
  if (e.zone !== undefined) s += `zone=${e.zone} `;
  const flags = EXPECT_FLAG_NAMES.filter(([bit]) => e.flagBits & bit).map(([, n]) => n);
  s += flags.join(',');
  if (e.flagBits) s += ' ';
  if (e.class !== undefined) s += `class=${e.class} `;
  if (e.helper !== undefined) s += `helper=${e.helper}`;
  return s.endsWith(' ') ? s.slice(0, -1) : s;
}

/** `[%-8ld.%-6ld]\t`, the prefix of `-L expect` / `-E expect` lines with `-o timestamp`. */
export function expectationTimePrefix(ns: bigint): string {
  const sec = (ns / NS_PER_S).toString();
  const usec = ((ns % NS_PER_S) / 1000n).toString();
  return `[${sec.padEnd(8)}.${usec.padEnd(6)}]\t`;
}

export interface ExpectationXmlOptions {
  /** Events print `<flow type="new|destroy">`; listed ones `<flow>`. */
  type?: 'new' | 'update' | 'destroy';
  /** With `-o xml,timestamp`: a `<when>` element in `<meta>` for this time (ns since the epoch). */
  when?: bigint;
}

/** The layer-4 fields of one expectation tuple (`<sport>`/`<dport>`, GRE keys; none for ICMP). */
function xmlExpectL4(t: Tuple): string {
  if (PORT_PROTOS.has(t.protonum)) return `<sport>${field(t, 'srcPort')}</sport><dport>${field(t, 'dstPort')}</dport>`;
  if (t.protonum === 47) return `<srckey>0x${field(t, 'srcKey').toString(16)}</srckey><dstkey>0x${field(t, 'dstKey').toString(16)}</dstkey>`;
  return '';
}

/**
 * One `<flow>...</flow>` line of `conntrack -L expect -o xml` (or of `-E expect -o xml` with
 * `type`): layer 3 and layer 4 each with `<expected>`, `<mask>`, `<master>`, then `<meta>` with
 * `<helper-name>`, `<timeout>`, `<class>`, `<zone>`, `<when>` and the flags as empty elements.
 */
export function formatExpectationXml(e: Expectation, options: ExpectationXmlOptions = {}): string {
  const n = e.family === 'ipv6' ? AF_INET6 : AF_INET;
  let s = options.type ? `<flow type="${options.type}">` : '<flow>';
  s += `<layer3 protonum="${n}" protoname="${n === AF_INET ? 'ipv4' : 'ipv6'}">`;
  s += `<expected><src>${e.tuple.src}</src><dst>${e.tuple.dst}</dst></expected>`;
  s += `<mask><src>${e.mask.src}</src><dst>${e.mask.dst}</dst></mask>`;
  s += `<master><src>${e.master.src}</src><dst>${e.master.dst}</dst></master></layer3>`;
  s += `<layer4 protonum="${e.tuple.protonum}" protoname="${l4name(e.tuple.protonum)}">`;
  s += `<expected>${xmlExpectL4(e.tuple)}</expected>`;
  s += `<mask>${xmlExpectL4(e.mask)}</mask>`;
  s += `<master>${xmlExpectL4(e.master)}</master></layer4>`;
  s += '<meta>';
  if (e.helper !== undefined) s += `<helper-name>${e.helper}</helper-name>`;
  if (e.timeout !== undefined) s += `<timeout>${e.timeout}</timeout>`;
  if (e.class !== undefined) s += `<class>${e.class}</class>`;
  if (e.zone !== undefined) s += `<zone>${e.zone}</zone>`;
  if (options.when !== undefined) s += xmlWhen(options.when);
  if (e.flagBits & 1) s += '<permanent/>';
  if (e.flagBits & 2) s += '<inactive/>';
  if (e.flagBits & 4) s += '<userspace/>';
  return `${s}</meta></flow>`;
}

/**
 * One line of `conntrack -E expect`. With `timestamp`, the prefix that command prints, whose
 * format differs from the flow events' (`[%-8ld.%-6ld]`: microseconds padded with blanks on
 * the right, not zeros on the left). With `xml`, the `<flow type="...">` line instead (and
 * with `timestamp`, its `<when>` element).
 */
export function formatExpectationEvent(event: ExpectationEvent, options: { timestamp?: boolean; xml?: boolean } = {}): string {
  const type = event.type === 'expect-destroy' ? 'destroy' : 'new';
  if (options.xml) return formatExpectationXml(event.expectation, { type, when: options.timestamp ? event.timestamp : undefined });
  const prefix = options.timestamp ? expectationTimePrefix(event.timestamp) : '';
  return prefix + formatExpectation(event.expectation, { type });
}

// ---- -S, -C and the messages on stderr ---------------------------------------------------

/** CTA_STATS_* numbers of the names CpuStats uses, in the order conntrack prints them. */
const STAT_ORDER: ReadonlyArray<[string, string]> = [
  ['searched', 'searched'],
  ['found', 'found'],
  ['new', 'new'],
  ['invalid', 'invalid'],
  ['ignore', 'ignore'],
  ['delete', 'delete'],
  ['delete_list', 'delete_list'],
  ['insert', 'insert'],
  ['insert_failed', 'insert_failed'],
  ['drop', 'drop'],
  ['early_drop', 'early_drop'],
  ['error', 'error'],
  ['search_restart', 'search_restart'],
  ['clash_resolve', 'clash_resolve'],
  ['chaintoolong', 'chaintoolong'],
  // conntrack 1.4.7 names four attributes past its CTA_STATS_MAX (15) "unknownN".
  ['stat_16', 'unknown1'],
  ['stat_17', 'unknown2'],
  ['stat_18', 'unknown3'],
  ['stat_19', 'unknown4'],
];

/** One line of `conntrack -S` (`cpu=0   \tfound=0 invalid=0 ... chaintoolong=0 `, trailing blank included). */
export function formatCpuStatsLine(row: CpuStats): string {
  const cpu = String(row.cpu);
  let s = `cpu=${cpu.padEnd(4)}\t`;
  for (const [key, name] of STAT_ORDER) {
    if (Object.hasOwn(row, key)) s += `${name}=${row[key]! >>> 0} `;
  }
  return s;
}

/** What `conntrack -S` prints on stdout: one line per CPU, each with its newline. */
export function formatCpuStats(rows: readonly CpuStats[]): string {
  return rows.map((r) => `${formatCpuStatsLine(r)}\n`).join('');
}

/**
 * What `conntrack -S expect` prints on stdout: one line per CPU (`cpu=0   \texpect_new=0
 * expect_create=1 expect_delete=0 `, trailing blank included), each with its newline.
 */
export function formatExpectationCpuStats(rows: readonly ExpectationCpuStats[]): string {
  let s = '';
  for (const row of rows) {
    s += `cpu=${String(row.cpu).padEnd(4)}\t`;
    for (const name of ['expect_new', 'expect_create', 'expect_delete']) {
      if (Object.hasOwn(row, name)) s += `${name}=${row[name]! >>> 0} `;
    }
    s += '\n';
  }
  return s;
}

/** What `conntrack -C` prints (without the newline). */
export function formatCount(n: number): string {
  return String(n);
}

/** Commands that end with a count on stderr. */
export type SummaryCommand =
  | 'list' // -L, also -L dying / unconfirmed
  | 'get' // -G
  | 'create' // -I
  | 'add' // -A
  | 'update' // -U
  | 'delete' // -D
  | 'events' // -E (printed when it is stopped by SIGINT/SIGTERM)
  | 'expect-list' // -L expect
  | 'expect-delete' // -D expect (conntrack says "shown" here too)
  | 'expect-events'; // -E expect

const SUMMARY: Readonly<Record<SummaryCommand, string>> = {
  list: 'flow entries have been shown.',
  get: 'flow entries have been shown.',
  create: 'flow entries have been created.',
  add: 'flow entries have been added.',
  update: 'flow entries have been updated.',
  delete: 'flow entries have been deleted.',
  events: 'flow events have been shown.',
  'expect-list': 'expectations have been shown.',
  'expect-delete': 'expectations have been shown.',
  'expect-events': 'expectation events have been shown.',
};

/**
 * The summary conntrack writes on stderr, without the newline:
 * `conntrack v1.4.7 (conntrack-tools): 3 flow entries have been shown.`
 */
export function formatSummary(command: SummaryCommand, count: number): string {
  return `${CONNTRACK_BANNER}${count} ${SUMMARY[command]}`;
}

/** What `conntrack -F` (`-F expect`) writes on stderr, without the newline. */
export function formatFlushMessage(table: 'conntrack' | 'expect' = 'conntrack'): string {
  return CONNTRACK_BANNER + (table === 'expect' ? 'expectation table has been emptied.' : 'connection tracking table has been emptied.');
}
