/**
 * `conntrack -L -o xml[,id]` (conntrack-tools 1.4.7) parsed, and nfct's JSON rows compared with
 * it field by field: the oracle for the values of `--json`, which the library prints from its
 * own decoding. conntrack prints each entry as one `<flow>` element:
 *
 *   <flow><meta direction="original"><layer3 protonum="2" protoname="ipv4"><src>..</src><dst>..</dst></layer3>
 *     <layer4 protonum="6" protoname="tcp"><sport>..</sport><dport>..</dport></layer4>
 *     <counters><packets>..</packets><bytes>..</bytes></counters></meta>
 *   <meta direction="reply">...</meta>
 *   <meta direction="independent"><state>..</state><timeout>..</timeout><mark>..</mark><zone>..</zone>
 *     <use>..</use><id>..</id><assured/><unreplied/><deltatime>..</deltatime></meta></flow>
 *
 * ICMP type, code and id, GRE keys and per-direction zones are not in the XML, and it names
 * SCTP states with TCP's names: for
 * those compareJson() takes the text listing (`conntrack -L -o extended,id`) as the reference.
 *
 * Pure code: no I/O.
 */
import type { CtEntry } from './conntrack-parse.js';

export interface XmlDirection {
  l3protonum: number;
  l3protoname: string;
  src: string;
  dst: string;
  l4protonum: number;
  l4protoname: string;
  sport?: number;
  dport?: number;
  packets?: number;
  bytes?: number;
}

export interface XmlFlow {
  original: XmlDirection;
  reply: XmlDirection;
  state?: string;
  timeout?: number;
  mark?: number;
  zone?: number;
  use?: number;
  id?: number;
  assured: boolean;
  unreplied: boolean;
  /** Seconds since the entry was made (net.netfilter.nf_conntrack_timestamp=1). */
  deltatime?: number;
}

const tag = (xml: string, name: string): string | undefined => new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml)?.[1];
const num = (xml: string, name: string): number | undefined => {
  const v = tag(xml, name);
  return v === undefined ? undefined : Number(v);
};

function direction(xml: string): XmlDirection {
  const l3 = /<layer3 protonum="(\d+)" protoname="([^"]*)">(.*?)<\/layer3>/.exec(xml);
  const l4 = /<layer4 protonum="(\d+)" protoname="([^"]*)">(.*?)<\/layer4>/.exec(xml);
  if (!l3 || !l4) throw new Error(`not a conntrack XML direction: ${xml}`);
  const d: XmlDirection = { l3protonum: Number(l3[1]), l3protoname: l3[2]!, src: tag(l3[3]!, 'src')!,
    dst: tag(l3[3]!, 'dst')!, l4protonum: Number(l4[1]), l4protoname: l4[2]! };
  const sport = num(l4[3]!, 'sport');
  const dport = num(l4[3]!, 'dport');
  if (sport !== undefined) d.sport = sport;
  if (dport !== undefined) d.dport = dport;
  const counters = /<counters>(.*?)<\/counters>/.exec(xml)?.[1];
  if (counters !== undefined) {
    d.packets = num(counters, 'packets')!;
    d.bytes = num(counters, 'bytes')!;
  }
  return d;
}

/** Every `<flow>` of a `conntrack -L -o xml` listing. */
export function parseConntrackXml(text: string): XmlFlow[] {
  const flows: XmlFlow[] = [];
  for (const m of text.matchAll(/<flow>(.*?)<\/flow>/gs)) {
    const body = m[1]!;
    const meta = (dir: string) => new RegExp(`<meta direction="${dir}">(.*?)</meta>`, 's').exec(body)?.[1];
    const original = meta('original');
    const reply = meta('reply');
    const independent = meta('independent') ?? '';
    if (original === undefined || reply === undefined) throw new Error(`a flow without both directions: ${body}`);
    const flow: XmlFlow = { original: direction(original), reply: direction(reply),
      assured: independent.includes('<assured/>'), unreplied: independent.includes('<unreplied/>') };
    const state = tag(independent, 'state');
    if (state !== undefined) flow.state = state;
    for (const k of ['timeout', 'mark', 'zone', 'use', 'id', 'deltatime'] as const) {
      const v = num(independent, k);
      if (v !== undefined) flow[k] = v;
    }
    flows.push(flow);
  }
  return flows;
}

type Json = Record<string, unknown>;

/**
 * The fields where nfct's JSON row of an entry differs from conntrack's XML (and, for ICMP, its
 * text line) of the same entry; empty when they agree. `elapsed` is how many seconds may have
 * passed between the two listings (timeouts count down, delta times count up); `extraUse`, the
 * references nfct's row holds beyond the listing's (-U prints an entry as a get returns it).
 */
export function compareJson(row: Json, xml: XmlFlow, text: CtEntry | undefined,
  opts: { nowNs: bigint; elapsed?: number; extraUse?: number }): string[]
{
  const elapsed = opts.elapsed ?? 2;
  const problems: string[] = [];
  const same = (what: string, ours: unknown, theirs: unknown) => {
    if (ours !== theirs) problems.push(`${what}: nfct ${JSON.stringify(ours)}, conntrack ${JSON.stringify(theirs)}`);
  };
  same('family', row.family, xml.original.l3protoname);
  same('protocol', row.protocol, xml.original.l4protoname);
  same('protonum', row.protonum, xml.original.l4protonum);
  for (const dir of ['original', 'reply'] as const) {
    const t = row[dir] as Json;
    const x = xml[dir];
    same(`${dir}.src`, t.src, x.src);
    same(`${dir}.dst`, t.dst, x.dst);
    same(`${dir}.protonum`, t.protonum, x.l4protonum);
    same(`${dir}.srcPort`, t.srcPort, x.sport);
    same(`${dir}.dstPort`, t.dstPort, x.dport);
    const counters = (row.counters as Record<string, Json> | undefined)?.[dir];
    same(`counters.${dir}.packets`, counters?.packets, x.packets);
    same(`counters.${dir}.bytes`, counters?.bytes, x.bytes);
    if (text && (x.l4protoname === 'icmp' || x.l4protoname === 'icmpv6')) {
      const tt = dir === 'original' ? text.orig : text.reply;
      same(`${dir}.type`, t.type, tt.icmpType);
      same(`${dir}.code`, t.code, tt.icmpCode);
      same(`${dir}.id`, t.id, tt.icmpId);
    }
    if (text && x.l4protoname === 'gre') {
      const tt = dir === 'original' ? text.orig : text.reply;
      same(`${dir}.srcKey`, t.srcKey, tt.greSrcKey);
      same(`${dir}.dstKey`, t.dstKey, tt.greDstKey);
    }
    // Per-direction zones are in the text line (zone-orig=, zone-reply=).
    if (text) same(`${dir}.zone`, t.zone, (dir === 'original' ? text.orig : text.reply).zone);
  }
  const state = (['tcp', 'sctp', 'dccp'] as const).map((p) => (row[p] as Json | undefined)?.state).find((x) =>
    x !== undefined
  );
  // conntrack 1.4.7's XML names every state with TCP's names (SCTP's ESTABLISHED, 4, comes out
  // as FIN_WAIT): for other protocols the text line is the reference.
  same('state', state, xml.original.l4protoname === 'tcp' || !text ? xml.state : text.state);
  same('mark', row.mark, xml.mark);
  same('zone', row.zone, xml.zone);
  same('use', row.use, xml.use === undefined ? undefined : xml.use + (opts.extraUse ?? 0));
  same('id', row.id, xml.id);
  const status = row.status as string[];
  same('status ASSURED', status.includes('ASSURED'), xml.assured);
  same('status SEEN_REPLY', status.includes('SEEN_REPLY'), !xml.unreplied);
  // Read at different moments: the kernel's countdown and the entry's age move meanwhile.
  if (typeof row.timeout !== 'number' || xml.timeout === undefined || Math.abs(row.timeout - xml.timeout) > elapsed) {
    problems.push(
      `timeout: nfct ${JSON.stringify(row.timeout)}, conntrack ${xml.timeout} (at most ${elapsed} s apart)`,
    );
  }
  const start = (row.timestamp as { start?: string } | undefined)?.start;
  if (xml.deltatime === undefined) same('timestamp', start, undefined);
  else {
    const age = start === undefined ? NaN : Number((opts.nowNs - BigInt(start)) / 1_000_000_000n);
    if (!(Math.abs(age - xml.deltatime) <= elapsed)) {
      problems.push(`timestamp.start: ${start} is ${age} s ago, conntrack says delta-time ${xml.deltatime}`);
    }
  }
  return problems;
}
