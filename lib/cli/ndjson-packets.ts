// The NDJSON lines of packets (see ndjson.ts for the contract): `nfct log` (NFLOG, and the
// kernel log's LOG lines) and `nfct trace`, each with its packet decoded.
import { Status } from '../conntrack/status.js';
import { isoTime, jsonSafe } from '../core/json.js';
import { kernelLogJson } from '../kmsg/decode.js';
import type { KernelLogLine, KernelLogLoss, KernelLogPacket } from '../kmsg/types.js';
import type { NflogPacketEvent } from '../nflog/handle.js';
import { decodePacket } from '../packet/decode.js';
import type { DecodedPacket } from '../packet/types.js';
import type { TracePacket } from '../trace/types.js';
import { isoOfNs, line, lineHead, receivedNow, type TimeSource, traceId, withHead } from './ndjson.js';

/**
 * A decoded packet as NDJSON fields: `ip` (the IPv4 or IPv6 header, `version` 4 or 6), the
 * protocol, the transport header under its name (`tcp`, `udp`, `udplite`, `sctp`, `icmp`,
 * `icmpv6`, `gre`, `esp`, `ah`; an ICMP error's quoted packet decoded the same way), and what
 * could not be decoded (`fragment`, `noTransport`, `truncated`, `malformed`).
 */
export function packetJson(d: DecodedPacket): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  if (d.ipv4) o.ip = jsonSafe(d.ipv4);
  else if (d.ipv6) o.ip = jsonSafe(d.ipv6);
  if (d.protocol !== undefined) o.protocol = d.protocol;
  if (d.protocolName !== undefined) o.protocolName = d.protocolName;
  if (d.fragment) o.fragment = d.fragment;
  if (d.noTransport) o.noTransport = d.noTransport;
  if (d.tcp) o.tcp = jsonSafe(d.tcp);
  if (d.udp) o.udp = d.udp;
  if (d.udplite) o.udplite = d.udplite;
  if (d.sctp) o.sctp = d.sctp;
  for (const k of ['icmp', 'icmpv6'] as const) {
    const h = d[k];
    if (!h) continue;
    const { original, ...rest } = h;
    o[k] = original ? { ...rest, original: packetJson(original) } : rest;
  }
  if (d.gre) o.gre = d.gre;
  if (d.esp) o.esp = d.esp;
  if (d.ah) o.ah = d.ah;
  if (d.payloadLength !== undefined) o.payloadLength = d.payloadLength;
  if (d.truncated) o.truncated = true;
  if (d.truncatedLayer) o.truncatedLayer = d.truncatedLayer;
  if (d.malformed !== undefined) o.malformed = d.malformed;
  return o;
}

/** The network protocol of a logged packet's payload, when it is IP. */
function payloadFamily(p: NflogPacketEvent): 'ipv4' | 'ipv6' | undefined {
  if (p.family === 'ipv4' || p.family === 'ipv6') return p.family;
  if (p.hwProtocol === 0x0800) return 'ipv4';
  if (p.hwProtocol === 0x86dd) return 'ipv6';
  return undefined;
}

/**
 * `nfct log --json`: the NFLOG packet's fields, its payload as hex and decoded; `time` the
 * kernel's (NFULA_TIMESTAMP) where it sent one, which it does not for locally generated packets.
 */
export function packetLine(p: NflogPacketEvent): string {
  const kernel = p.timestamp !== undefined;
  // The head carries the packet's type, time and source: not again from its own JSON.
  const { type: _type, time: _time, source: _source, ...fields } = jsonSafe(p) as Record<string, unknown>;
  const family = payloadFamily(p);
  const decoded = family && p.payload ? packetJson(decodePacket(p.payload, family)) : {};
  const head = lineHead('packet', isoTime(p.timestamp), kernel ? 'kernel' : 'received');
  return withHead(`${head},"source":"nflog"`, JSON.stringify({ ...fields, ...decoded }));
}

/** A kernel log item's JSON fields (what its toJSON gives) without `type` and `time`. */
/**
 * `nfct log --kmsg|--file --json`: a LOG line as a packet, another line of the log, a loss;
 * `time` the kernel's (kmsg) or the log file's (file) time of the line.
 */
export function kernelLogLine(item: KernelLogPacket | KernelLogLine | KernelLogLoss): string {
  const ts = item.timestamp;
  const timeSource: TimeSource = ts === undefined ? 'received' : item.source === 'file' ? 'log' : 'kernel';
  return JSON.stringify(kernelLogJson(item, { type: item.type, time: isoTime(ts), timeSource }));
}

/** A trace hop's LOG line: the item's fields, without its `type` (the hop has its own time). */
function logFields(item: KernelLogPacket | KernelLogLine): Record<string, unknown> {
  const o = kernelLogJson(item, {});
  delete o.type;
  return o;
}

/**
 * `nfct trace --json`: the packet once (and again at the hop where a NAT rewrote it); the rules
 * it passed (and the chains of a policy or return) once each, in the order first met; each hop
 * naming its rule by index.
 */
export function traceLine(p: TracePacket): string {
  const rules: Record<string, unknown>[] = [];
  const index = new Map<string, number>();
  const first = p.packet ? JSON.stringify(packetJson(p.packet)) : undefined;
  let seen = first;
  const hops = p.hops.map((h) => {
    const isRule = h.kind === 'rule';
    const handle = h.source === 'nftables' ? h.handle : undefined;
    const position = h.source === 'nftables' ? undefined : h.rule;
    // A rule by its handle (legacy: its position); a policy or return by its chain alone.
    const key = [h.family, h.table, h.chain, isRule ? `rule ${handle ?? position ?? ''}` : 'chain'].join('\0');
    let at = index.get(key);
    if (at === undefined) {
      at = rules.length;
      index.set(key, at);
      const r: Record<string, unknown> = { family: h.family, table: h.table, chain: h.chain };
      if (isRule && handle !== undefined) r.handle = handle;
      if (isRule && handle === undefined && position !== undefined) r.position = position;
      if (h.ruleText !== undefined) r.text = h.ruleText;
      if (h.ruleSyntax !== undefined) r.syntax = h.ruleSyntax;
      if (h.service !== undefined) r.service = h.service;
      rules.push(r);
    }
    const hop: Record<string, unknown> = { kind: h.kind, rule: at };
    if (h.verdict !== undefined) hop.verdict = h.verdict;
    if (h.target !== undefined) hop.target = h.target;
    if (h.hook !== undefined) hop.hook = h.hook;
    if (h.iif !== undefined) hop.iif = h.iif;
    if (h.oif !== undefined) hop.oif = h.oif;
    if (h.mark !== undefined) hop.mark = h.mark;
    if (h.log !== undefined) hop.log = logFields(h.log);
    if (h.ct !== undefined) {
      const { status, ...ct } = h.ct;
      hop.ct = status === undefined ? ct : { ...ct, status: new Status(status).names() };
    }
    // The packet again only where it changed (a NAT rewrote it).
    if (h.packet) {
      const now = JSON.stringify(packetJson(h.packet));
      if (now !== seen) hop.packet = JSON.parse(now) as unknown;
      seen = now;
    }
    return hop;
  });
  const t = p.hops[0]?.timestamp;
  const body: Record<string, unknown> = { id: traceId(p.id), source: p.source, family: p.family };
  if (first !== undefined) body.packet = JSON.parse(first) as unknown;
  body.rules = rules;
  body.hops = hops;
  if (p.verdict !== undefined) body.verdict = p.verdict;
  body.dropped = p.dropped;
  // The kernel log's lines have a time of their own; trace events have none.
  const source: TimeSource = t === undefined
    ? 'received'
    : p.source === 'file'
    ? 'log'
    : p.source === 'kmsg'
    ? 'kernel'
    : 'received';
  return line('trace', t !== undefined ? isoOfNs(t) : receivedNow(), source, body);
}
