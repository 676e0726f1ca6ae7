// `conntrack -L -o xml` and `-E -o xml`: one `<flow>` line per entry, and the whole document.
import { AF_INET } from '../core/protocols.js';
import { TCP_STATES } from './constants.js';
import { field, IPS_ASSURED, IPS_SEEN_REPLY, l3num, l4name, labelNames, nowNs, NS_PER_S, PORT_PROTOS, protoInfo, u64,
  xmlWhen } from './text-parts.js';
import type { Flow } from './types.js';

/** What `conntrack -L -o xml` prints before the first flow (only when there is one). */
export const XML_HEADER = '<?xml version="1.0" encoding="utf-8"?>\n<conntrack>\n';
/** ...and after the last one. */
export const XML_FOOTER = '</conntrack>\n';

/** What an entry's `-o xml` form holds beyond the default (conntrack's -o options). */
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
    const delta = ts.stop !== undefined
      ? BigInt.asUintN(64, ts.stop - ts.start) / NS_PER_S
      : nowNs(options.now) / NS_PER_S - ts.start / NS_PER_S;
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
export function formatXmlDocument(flows: Iterable<Flow>,
  options: Omit<XmlFormatOptions, 'type' | 'when'> = {}): string
{
  let body = '';
  for (const f of flows) body += `${formatXml(f, options)}\n`;
  return body === '' ? '' : XML_HEADER + body + XML_FOOTER;
}
