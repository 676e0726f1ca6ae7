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
import { protocolName } from '../core/protocols.js';
import { DCCP_STATES, SCTP_STATES, TCP_STATES } from './constants.js';
import type { FlowEvent } from './events.js';
import { STATUS_NAMES } from './status.js';
import { ctime, FAMILY_ITEMS, field, IPS_ASSURED, IPS_DST_NAT_DONE, IPS_HW_OFFLOAD, IPS_OFFLOAD, IPS_SEEN_REPLY,
  IPS_SRC_NAT_DONE, l3num, labelNames, nowNs, NS_PER_S, PORT_PROTOS, protoInfo, protoItems, tupleText,
  u64 } from './text-parts.js';
import { formatXml } from './text-xml.js';
import type { CpuStats, Flow } from './types.js';

export * from './text-expect.js';
export { ctime } from './text-parts.js';
export * from './text-xml.js';

/** The version this module reproduces. */
export const CONNTRACK_VERSION = '1.4.7';

/** What conntrack writes before every message on stderr. */
export const CONNTRACK_BANNER = `conntrack v${CONNTRACK_VERSION} (conntrack-tools): `;

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

/** How an entry is written as a `conntrack -o save` command line. */
export interface SaveFormatOptions {
  /** The command word: `-A` (listing, new events; default), `-U` (update), `-D` (destroy), or none. */
  type?: 'new' | 'update' | 'destroy' | 'none';
}

/** conntrack's own SCTP table for `-o save` stops at SHUTDOWN_ACK_SENT; glibc prints NULL as (null). */
const SCTP_SAVE_NAMES = SCTP_STATES.slice(0, 8);
const DCCP_ROLES = ['client', 'server'];
/** The status bits `-o save` names (`-u`), in bit order: EXPECTED, SEEN_REPLY, ASSURED, FIXED_TIMEOUT. */
const SAVE_STATUS_BITS = [0, 1, 2, 10];

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
    const generic = p === 33 && !protoInfo(flow).dccp &&
      [field(o, 'srcPort'), field(o, 'dstPort'), field(r, 'srcPort'), field(r, 'dstPort')].every((x) => x === 0);
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

// ---- -S, -C and the messages on stderr ---------------------------------------------------

/** The keys of CpuStats and the names conntrack prints them under, in its order (CTA_STATS_*). */
const STAT_ORDER: readonly [string, string][] = [
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
  return CONNTRACK_BANNER +
    (table === 'expect' ? 'expectation table has been emptied.' : 'connection tracking table has been emptied.');
}
