// Which entries a conntrack command line selects: what the library's filter (and through it
// the kernel) can apply, and the rest, matched on each flow as conntrack matches it.
import type { FlowFilter } from '../conntrack/filter.js';
import type { Conntrack } from '../conntrack/handle.js';
import type { Layer4Key } from '../conntrack/tuple.js';
import type { Flow } from '../conntrack/types.js';
import { parseAddress as addressBytes } from '../core/address.js';
import { bswap32 } from './commands/create.js';
import { DCCP_STATE_NAMES, OPT, SCTP_STATE_NAMES } from './options.js';
import { cAtoi, cNumber, type CtRequest, l4 } from './parse.js';

type Match = (f: Flow) => boolean;
type Ports = Partial<Record<Layer4Key, number>>;

const port = (text: string | undefined): number | undefined => (text === undefined ? undefined : cAtoi(text) & 0xffff);

function bytesOf(text: string): Buffer {
  return addressBytes(text)!.bytes;
}

/** (address & mask) == (network & mask), on the address bytes. */
function masked(address: string, network: Buffer, mask: Buffer): boolean {
  const a = addressBytes(address);
  if (a?.bytes.length !== mask.length) return false;
  for (let i = 0; i < mask.length; i++) if ((a.bytes[i]! & mask[i]!) !== (network[i]! & mask[i]!)) return false;
  return true;
}

export interface Selection {
  /** For the library (and the kernel). */
  filter: FlowFilter;
  /** The rest, per flow. */
  match: Match;
  /** Whether `match` checks anything (when false, every flow the library gives matches). */
  matchesAll: boolean;
}

/**
 * Whether an entry holds what a selection's library filter asks beyond the tuple -G fetches it
 * by: the reply addresses and ports, the TCP state and the mark (conntrack compares the entry it
 * gets against every option given).
 */
export function getHolds(f: Flow, filter: FlowFilter): boolean {
  const q = filter as FlowFilter & Record<string, unknown>;
  const same = (address: string, text: unknown): boolean =>
    typeof text !== 'string' || bytesOf(address).equals(bytesOf(text));
  if (!same(f.reply.src, q.replySrc) || !same(f.reply.dst, q.replyDst)) return false;
  const reply = f.reply as { srcPort?: number; dstPort?: number };
  if (q.replySrcPort !== undefined && reply.srcPort !== q.replySrcPort) return false;
  if (q.replyDstPort !== undefined && reply.dstPort !== q.replyDstPort) return false;
  if (q.state !== undefined && !(f.protocol === 'tcp' && f.tcp?.state === q.state)) return false;
  if (q.mark !== undefined) {
    const { value, mask } = typeof q.mark === 'number' ? { value: q.mark, mask: 0xffffffff } : (q.mark);
    if ((((f.mark ?? 0) & mask) >>> 0) !== value >>> 0) return false;
  }
  return true;
}

/**
 * The options conntrack compares each entry against (its CT_COMPARISON): -z is refused with
 * them, and -D compares the timeout (-t) only when one of them is given.
 */
export const COMPARISON = ['protonum', 'src', 'dst', 'reply-src', 'reply-dst', 'mark', 'secmark', 'status', 'id',
  'zone', 'label', 'orig-zone', 'reply-zone']
  .reduce((m, n) => m | (1 << OPT.indexOf(n as (typeof OPT)[number])), 0);

/**
 * The entries a command line selects: -L/-E ('list'), -D ('delete': the status is matched
 * without -L's negations), -U ('update': mark and status are changes there, not filters, and
 * the TCP state is not looked at).
 */
export function selection(r: CtRequest, mode: 'list' | 'delete' | 'update'): Selection {
  const forUpdate = mode === 'update';
  const filter: Record<string, unknown> = {};
  const checks: Match[] = [];
  if (r.family) filter.family = r.family === 4 ? 'ipv4' : 'ipv6';
  if (r.proto) filter.protocol = r.proto.num;
  // Exact addresses go to the library; masked ones are matched here.
  if (r.src && !r.has('mask-src')) filter.src = r.src.text;
  if (r.dst && !r.has('mask-dst')) filter.dst = r.dst.text;
  if (r.replySrc) filter.replySrc = r.replySrc.text;
  if (r.replyDst) filter.replyDst = r.replyDst.text;
  for (const [dir, src, mask] of [['src', r.src, r.maskSrc], ['dst', r.dst, r.maskDst]] as const) {
    if (!mask) continue;
    const family = r.family === 6 ? 'ipv6' : 'ipv4';
    const m = bytesOf(mask.text);
    const net = src ? bytesOf(src.text) : Buffer.alloc(m.length);
    checks.push((f) => f.family === family && masked(dir === 'src' ? f.original.src : f.original.dst, net, m));
  }
  const kind = r.proto?.kind;
  if (kind === 'tcp' || kind === 'udp' || kind === 'sctp' || kind === 'dccp') {
    const sp = port(l4(r, 'sport'));
    const dp = port(l4(r, 'dport'));
    const rsp = port(l4(r, 'reply-port-src'));
    const rdp = port(l4(r, 'reply-port-dst'));
    if (sp !== undefined) filter.srcPort = sp;
    if (dp !== undefined) filter.dstPort = dp;
    if (rsp !== undefined) filter.replySrcPort = rsp;
    if (rdp !== undefined) filter.replyDstPort = rdp;
    const state = l4(r, 'state');
    if (state !== undefined && kind === 'tcp' && !forUpdate) filter.state = state === 'LISTEN' ? 'SYN_SENT2' : state;
    if (state !== undefined && kind === 'sctp') {
      checks.push((f) => (f as { sctp?: { stateNum: number } }).sctp?.stateNum === SCTP_STATE_NAMES.indexOf(state));
    }
    if (state !== undefined && kind === 'dccp') {
      checks.push((f) => (f as { dccp?: { stateNum: number } }).dccp?.stateNum === DCCP_STATE_NAMES.indexOf(state));
    }
    const role = l4(r, 'role');
    if (role !== undefined) {
      checks.push((f) => (f as { dccp?: { role: number } }).dccp?.role === (role === 'client' ? 0 : 1));
    }
    for (const [name, which] of [['orig-vtag', 'vtagOriginal'], ['reply-vtag', 'vtagReply']] as const) {
      const v = l4(r, name);
      if (v === undefined) continue;
      const vtag = bswap32(cAtoi(v));
      checks.push((f) => (f as { sctp?: Record<string, number> }).sctp?.[which] === vtag);
    }
  }
  if (kind === 'icmp' || kind === 'icmpv6') {
    const p = kind === 'icmp' ? 'icmp' : 'icmpv6';
    const t = l4(r, `${p}-type`);
    const c = l4(r, `${p}-code`);
    const i = l4(r, `${p}-id`);
    if (t !== undefined) {
      const type = cAtoi(t) & 0xff;
      checks.push((f) => (f.original as Ports).type === type);
    }
    if (c !== undefined) {
      const code = cAtoi(c) & 0xff;
      checks.push((f) => (f.original as Ports).code === code);
    }
    if (i !== undefined) {
      const id = cAtoi(i) & 0xffff;
      checks.push((f) => (f.original as Ports).id === id);
    }
  }
  if (kind === 'gre') {
    const key = (name: string, tuple: 'original' | 'reply', field: 'srcKey' | 'dstKey'): void => {
      const v = l4(r, name);
      if (v === undefined) return;
      const want = cNumber(v) & 0xffff;
      checks.push((f) => (f[tuple] as Ports)[field] === want);
    };
    key('srckey', 'original', 'srcKey');
    key('dstkey', 'original', 'dstKey');
    key('reply-key-src', 'reply', 'srcKey');
    key('reply-key-dst', 'reply', 'dstKey');
  }
  if (r.zone !== undefined) filter.zone = r.zone;
  if (r.origZone !== undefined) filter.origZone = r.origZone;
  if (r.replyZone !== undefined) filter.replyZone = r.replyZone;
  // An entry without a secmark (the kernel sends none while it is 0) is not compared on it.
  if (r.secmark !== undefined) checks.push((f) => f.secmark === undefined || f.secmark === r.secmark);
  // -D -t N matches the entries whose timeout is N now (conntrack compares it exactly), when
  // the entries are compared at all: -t alone is no filter.
  if (mode === 'delete' && r.timeout !== undefined && r.options & COMPARISON) {
    checks.push((f) => f.timeout === r.timeout);
  }
  if (r.labels) filter.labels = r.labels;
  if (!forUpdate) {
    if (r.mark) filter.mark = r.mark.mask === 0xffffffff ? r.mark.value : r.mark;
    if (r.has('status')) {
      const { value, mask } = r.status;
      const kmask = mode === 'list' ? mask || value : value;
      checks.push((f) => (f.status.bits & kmask) === value && (f.status.bits & value) === value);
    }
  }
  // -i: the entry's id is compared (-D -i deletes only that entry, -G -i shows it only then).
  if (r.id !== undefined) checks.push((f) => f.id === undefined || f.id === r.id);
  const nat = natMatch(r);
  if (nat) checks.push(nat);
  const match: Match = checks.length === 0 ? () => true : (f) => checks.every((c) => c(f));
  return { filter: filter, match, matchesAll: checks.length === 0 };
}

function natMatch(r: CtRequest): Match | undefined {
  const any = r.has('any-nat');
  const wantS = any || r.has('src-nat');
  const wantD = any || r.has('dst-nat');
  if (!wantS && !wantD) return undefined;
  const side = (target: CtRequest['snat'], src: boolean) => (f: Flow): boolean => {
    const o = f.original as Ports & { src: string; dst: string };
    const rep = f.reply as Ports & { src: string; dst: string };
    const isNat = src ? rep.dst !== o.src : rep.src !== o.dst;
    const isPat = src ? rep.dstPort !== o.srcPort : rep.srcPort !== o.dstPort;
    const checkAddr = target !== undefined && !target.address.includes(':');
    const checkPort = target?.port !== undefined;
    let has = false;
    if (checkAddr && isNat && (src ? rep.dst : rep.src) === target.address) has = true;
    if (checkPort) {
      const ok = isPat && (src ? rep.dstPort : rep.srcPort) === target.port;
      if (checkAddr && has && !ok) has = false;
      if (!checkAddr && ok) has = true;
    }
    if (!checkAddr && !checkPort && (isNat || isPat)) has = true;
    return has;
  };
  const s = side(r.snat, true);
  const d = side(r.dnat, false);
  if (any) return (f) => s(f) || d(f);
  if (wantS && wantD) return (f) => s(f) && d(f);
  return wantS ? s : d;
}

/**
 * The filter to dump with so that entries come in the kernel's table order, as conntrack's one
 * dump gives them. The kernel applies a protocol (or port) filter only within one family, so
 * without -f the library dumps IPv4 then IPv6, which reorders a table of both. Where only one
 * family holds matching entries (the first of each is looked for, a dump stopped there) that
 * family's filtered dump is the same list in the same order; where both do, one unfiltered
 * dump, matched in userspace, is.
 */
export async function inKernelOrder(ct: Conntrack,
  filter: FlowFilter): Promise<FlowFilter & { kernelFilter?: boolean }>
{
  if (filter.family !== undefined || filter.protocol === undefined) return filter;
  const holds = async (family: 'ipv4' | 'ipv6'): Promise<boolean> => {
    for await (const _ of ct.list({ ...filter, family, batchSize: 1 })) return true;
    return false;
  };
  if (!(await holds('ipv6'))) return { ...filter, family: 'ipv4' };
  if (!(await holds('ipv4'))) return { ...filter, family: 'ipv6' };
  return { ...filter, kernelFilter: false };
}
