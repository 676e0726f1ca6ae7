// The NDJSON contract of nfct (schema/*.json, documented in docs/cli.md): every line is one
// object that starts with `type`, `time` (ISO 8601: the kernel's time of the item where it gives
// one, else when nfct received it) and `timeSource` (which of the two), then the item's own
// fields; lines of a namespace named on the command line (or one of --all-netns) end with its
// `netns` object. Each command builds its lines with these.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

import type { ExpectationEvent, FlowEvent } from '../conntrack/events.js';
import type { Expectation } from '../conntrack/expect.js';
import { flowJson, flowJsonAfter } from '../conntrack/flow.js';
import { Status } from '../conntrack/status.js';
import type { Flow } from '../conntrack/types.js';
import { NfctError } from '../core/errors.js';
import { isoTime, jsonSafe } from '../core/json.js';
import { listNamespaces, namespaceLabel, type NetworkNamespace } from '../core/netns-discovery.js';
import { type NetnsOption, netnsPath } from '../core/netns.js';
import { kernelLogJson } from '../kmsg/decode.js';
import type { KernelLogLine, KernelLogLoss, KernelLogPacket } from '../kmsg/types.js';
import type { NflogPacketEvent } from '../nflog/handle.js';
import { decodePacket } from '../packet/decode.js';
import type { DecodedPacket } from '../packet/types.js';
import type { TracePacket } from '../trace/types.js';

/** Where a line's `time` came from (`log`: the time a log file gives the line). */
export type TimeSource = 'kernel' | 'log' | 'received';

/** ISO 8601 (milliseconds) of nanoseconds since the epoch (see isoTime()). */
export function isoOfNs(ns: bigint): string {
  return isoTime(ns);
}

/** Now, as ISO 8601; made once per millisecond (the lines of one batch share it). */
export function receivedNow(): string {
  return isoTime(undefined);
}

/** The start of a line, `{"type":"T","time":"...","timeSource":"..."`: append `,...}` or `}`. */
export function lineHead(type: string, time: string, source: string): string {
  return `{"type":"${type}","time":"${time}","timeSource":"${source}"`;
}

/** An object's JSON text with a line head in front of its fields. */
export function withHead(head: string, json: string): string {
  return json.length <= 2 ? `${head}}` : `${head},${json.slice(1)}`;
}

/** A line: the head, then the object's fields (`undefined` ones left out, bigints as strings). */
export function line(type: string, time: string, source: TimeSource, fields: object): string {
  return withHead(lineHead(type, time, source), JSON.stringify(jsonSafe(fields)));
}

/** -L, -G, -D, -U: an entry, its fields after the line's head; `time` when it was read. */
export function entryLine(f: Flow): string {
  return flowJsonAfter(`${lineHead('entry', receivedNow(), 'received')},`, f);
}

/** -E: an event; `time` the kernel's where it sent one (nf_conntrack_timestamp=1). */
export function eventLine(ev: FlowEvent): string {
  const head = lineHead(ev.type, isoOfNs(ev.timestamp), ev.flow.eventTime !== undefined ? 'kernel' : 'received');
  return `${head},"timestamp":"${ev.timestamp}"${ev.portid !== undefined ? `,"portid":${ev.portid}` : ''},"flow":${
    flowJson(ev.flow)
  }}`;
}

/** -L expect, -G expect: an expectation as read. */
export function expectationLine(e: Expectation): string {
  return line('expectation', receivedNow(), 'received', e);
}

/** -E expect: an expectation created or removed; `time` when it was received. */
export function expectationEventLine(ev: ExpectationEvent): string {
  return line(ev.type, isoOfNs(ev.timestamp), 'received', { timestamp: ev.timestamp, expectation: ev.expectation });
}

/** The `netns` object of the lines of a namespace. */
export function netnsJson(ns: NetworkNamespace, label = namespaceLabel(ns)): Record<string, unknown> {
  const o: Record<string, unknown> = { label, inode: ns.inode, names: ns.names, path: ns.path };
  if (ns.podUid) o.podUid = ns.podUid;
  if (ns.pod) {
    o.pod = { namespace: ns.pod.namespace, name: ns.pod.name, uid: ns.pod.uid, containers: ns.pod.containers };
  }
  if (ns.containerIds.length > 0) o.containerIds = ns.containerIds;
  return o;
}

/**
 * The `netns` object of a namespace named on the command line (`--netns NAME|PATH`, `--pid
 * PID`; `{ path: '/proc/self/ns/net' }` for our own): what listNamespaces() knows of it,
 * labelled as the user named it (or `label`).
 */
export async function netnsJsonOf(option: NetnsOption, label?: string): Promise<Record<string, unknown>> {
  const given = netnsPath(option)!;
  const pid = typeof option === 'object' && 'pid' in option ? option.pid : undefined;
  const name = /^\/run\/netns\/([^/]+)$/.exec(given)?.[1];
  const named = label ?? (pid !== undefined ? `pid:${pid}` : name);
  let inode: number;
  try {
    inode = statSync(given).ino;
  } catch (e) {
    throw new NfctError(Math.abs((e as NodeJS.ErrnoException).errno ?? 2), 'open', given);
  }
  const found = (await listNamespaces()).find((n) => n.inode === inode);
  // Our own namespace is named by a path that opens it from anywhere.
  const path = given.startsWith('/proc/self/') && found ? found.path : given;
  if (found) return netnsJson({ ...found, path }, named ?? namespaceLabel(found));
  return { label: named ?? `inode:${inode}`, inode, names: [], path };
}

/** Puts `,"netns":{...}` at the end of a JSON line (other lines as they are). */
export function withNetns(netns: Record<string, unknown>): (line: string) => string {
  const field = `,"netns":${JSON.stringify(netns)}}`;
  return (l) => (l.endsWith('}') ? l.slice(0, -1) + field : l);
}

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
  const { type: _type, ...fields } = jsonSafe(p) as Record<string, unknown>;
  const family = payloadFamily(p);
  const decoded = family && p.payload ? packetJson(decodePacket(p.payload, family)) : {};
  const head = lineHead('packet', kernel ? isoOfNs(p.timestamp!) : receivedNow(), kernel ? 'kernel' : 'received');
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

/** A trace id as the text output prints it. */
export function traceId(id: number): string {
  return id.toString(16).padStart(8, '0');
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

let versions: Record<string, number> | undefined;

/** The version of each schema shipped with this package (schema/NAME.json), by name. */
export function schemaVersions(): Record<string, number> {
  if (versions) return versions;
  versions = {};
  for (const up of ['..', '../..']) {
    const dir = join(__dirname, up, 'schema');
    let files: string[];
    try {
      files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
    } catch {
      continue;
    }
    for (const f of files) {
      const id = (JSON.parse(readFileSync(join(dir, f), 'utf8')) as { $id?: string }).$id ?? '';
      const m = /\/v(\d+)\/[^/]+\.json$/.exec(id);
      if (m) versions[f.slice(0, -5)] = Number(m[1]);
    }
    break;
  }
  return versions;
}
