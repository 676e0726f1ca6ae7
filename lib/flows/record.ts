// Flow records: one per finished connection (a DESTROY event), or per long-lived connection at
// each active timeout, with its addresses before and after NAT in both directions, its counters,
// its start and end, and why it ended. Built from the Flow objects the event reader decodes;
// JSON and text lines for `nfct flows` are made here.
import { flowJson } from '../conntrack/flow.js';
import type { Counters, Flow, TcpState, Tuple } from '../conntrack/types.js';

/** Where a record's addresses were, on one side of NAT. */
export interface Endpoints {
  /** The source address. */
  src: string;
  /** The destination address. */
  dst: string;
  /** The source port: TCP, UDP, UDP-Lite, SCTP, DCCP. */
  srcPort?: number;
  /** The destination port, for the same protocols. */
  dstPort?: number;
}

/**
 * Why the record was made, as IPFIX's flowEndReason says it: `idle-timeout` (the kernel expired
 * an entry that saw no end), `end-of-flow` (TCP seen closing: FIN or RST), `forced-end` (a
 * process deleted the entry over netlink: conntrack -D, a flush), `active-timeout` (the
 * connection is still open: a periodic record of what it did since the last one).
 */
export type FlowEndReason = 'idle-timeout' | 'end-of-flow' | 'forced-end' | 'active-timeout';

/** Where `end` came from. */
export type FlowTimeSource = 'kernel-stop' | 'kernel-event' | 'received' | 'dump';

/** The namespace a record was observed in. */
export interface FlowNamespace {
  /** Its inode (also the IPFIX observation domain id). */
  inode: number;
  /** A short label: its ip netns name, pod:UID, pid:N or host. */
  label: string;
  /** Its names under /run/netns (`ip netns`), if any. */
  names: string[];
  /** A path that opens it. */
  path: string;
  /** The Kubernetes pod UID, where a process's cgroup names one. */
  podUid?: string;
  /** The containers whose processes are in it, where their cgroups name them. */
  containerIds?: string[];
}

/** One flow record. */
export interface FlowRecord {
  /** Tells a record from an overrun notice. */
  type: 'flow';
  /** Why the record was made: the connection ended (and how), or an active timeout. */
  reason: FlowEndReason;
  /** The entry as the kernel reported it (tuples, status, mark, zone, TCP state, labels, ...). */
  flow: Flow;
  /**
   * Start, nanoseconds since the epoch: the kernel's (nf_conntrack_timestamp on when the entry
   * was created); for an active-timeout record after the first, the end of the one before.
   * Undefined when the kernel kept no start.
   */
  start?: bigint;
  /** End of what this record counts, nanoseconds since the epoch (see `timeSource`). */
  end: bigint;
  /**
   * `kernel-stop`: the kernel's stop timestamp (nf_conntrack_timestamp); `kernel-event`: the
   * kernel's time of the destroy event; `received`: when the event was read (kernels that send
   * no event time); `dump`: an active-timeout record, when the dump read the entry.
   */
  timeSource: FlowTimeSource;
  /**
   * Packets and bytes of each direction counted by this record (since the previous record of
   * the same connection for active timeouts), undefined when nf_conntrack_acct was off when the
   * entry was created.
   */
  counters?: {
    /** From the initiator. */
    original: Counters;
    /** From the responder. */
    reply: Counters;
  };
  /**
   * Addresses and ports before and after NAT: `original.pre` as the initiator sent it,
   * `original.post` as it left towards the responder; `reply.pre` as the responder answered,
   * `reply.post` as it reached the initiator. Without NAT, pre and post are the same.
   */
  nat: {
    /** The initiator's packets. */
    original: {
      /** As the initiator sent them. */
      pre: Endpoints;
      /** As they left towards the responder. */
      post: Endpoints;
    };
    /** The responder's packets. */
    reply: {
      /** As the responder sent them. */
      pre: Endpoints;
      /** As they reached the initiator. */
      post: Endpoints;
    };
  };
  /** The TCP state the connection ended in (TCP with protocol info only). */
  tcpState?: TcpState;
  /** The namespace it was observed in (when known). */
  netns?: FlowNamespace;
}

function endpoints(t: Tuple): Endpoints {
  const p = t as { srcPort?: number; dstPort?: number };
  const e: Endpoints = { src: t.src, dst: t.dst };
  if (p.srcPort !== undefined) {
    e.srcPort = p.srcPort;
    e.dstPort = p.dstPort;
  }
  return e;
}

function inverse(e: Endpoints): Endpoints {
  const out: Endpoints = { src: e.dst, dst: e.src };
  if (e.srcPort !== undefined) {
    out.srcPort = e.dstPort;
    out.dstPort = e.srcPort;
  }
  return out;
}

/** TCP states that mean the connection was seen closing. */
const CLOSING = new Set<TcpState>(['FIN_WAIT', 'CLOSE_WAIT', 'LAST_ACK', 'TIME_WAIT', 'CLOSE']);

/** The end reason of a destroyed entry: deleted by a process, closed, or expired. */
export function destroyReason(flow: Flow, portid: number | undefined): FlowEndReason {
  if (portid !== undefined && portid !== 0) return 'forced-end';
  const tcp = (flow as { tcp?: { state: TcpState } }).tcp;
  if (tcp && CLOSING.has(tcp.state)) return 'end-of-flow';
  return 'idle-timeout';
}

/** Items are one class: one shape, and JSON through toJSON. */
class FlowRecordItem implements FlowRecord {
  readonly type = 'flow';
  start: bigint | undefined = undefined;
  counters: { original: Counters; reply: Counters } | undefined = undefined;
  tcpState: TcpState | undefined = undefined;
  netns: FlowNamespace | undefined = undefined;
  constructor(
    public reason: FlowEndReason,
    public flow: Flow,
    public end: bigint,
    public timeSource: FlowTimeSource,
    public nat: FlowRecord['nat'],
  ) {}

  toJSON(): unknown {
    return JSON.parse(flowRecordJson(this));
  }
}

/**
 * A record of a flow: `eventTime` is the event's time (the kernel's, or when it was received:
 * `received` says which); `counters` overrides the flow's own (deltas).
 */
export function makeRecord(
  flow: Flow,
  reason: FlowEndReason,
  end: { time: bigint; source: FlowTimeSource },
  netns: FlowNamespace | undefined,
  counters: { original: Counters; reply: Counters } | undefined = flow.counters,
  start: bigint | undefined = flow.timestamp?.start,
): FlowRecord {
  const pre = endpoints(flow.original);
  const replyPre = endpoints(flow.reply);
  const nat = { original: { pre, post: inverse(replyPre) }, reply: { pre: replyPre, post: inverse(pre) } };
  const stop = flow.timestamp?.stop;
  const r = stop !== undefined && reason !== 'active-timeout'
    ? new FlowRecordItem(reason, flow, stop, 'kernel-stop', nat)
    : new FlowRecordItem(reason, flow, end.time, end.source, nat);
  r.start = start;
  r.counters = counters;
  const tcp = (flow as { tcp?: { state: TcpState } }).tcp;
  if (tcp) r.tcpState = tcp.state;
  r.netns = netns;
  return r;
}

/** An ISO 8601 time of nanoseconds since the epoch (milliseconds kept). */
export function isoTime(ns: bigint): string {
  return new Date(Number(ns / 1_000_000n)).toISOString();
}

function endpointsJson(e: Endpoints): string {
  return e.srcPort === undefined
    ? `{"src":"${e.src}","dst":"${e.dst}"}`
    : `{"src":"${e.src}","srcPort":${e.srcPort},"dst":"${e.dst}","dstPort":${e.dstPort}}`;
}

/** The `netns` object of NDJSON lines. */
export function namespaceJson(n: FlowNamespace): string {
  let s = `{"label":${JSON.stringify(n.label)},"inode":${n.inode},"names":${JSON.stringify(n.names)},"path":${
    JSON.stringify(n.path)
  }`;
  if (n.podUid !== undefined) s += `,"podUid":"${n.podUid}"`;
  if (n.containerIds !== undefined && n.containerIds.length > 0) {
    s += `,"containerIds":${JSON.stringify(n.containerIds)}`;
  }
  return `${s}}`;
}

/**
 * One NDJSON line of a record (what `JSON.stringify(record)` gives): `type`, `time` (the end,
 * ISO 8601), the reason, start/end in ISO 8601 and nanoseconds, the duration, counters, NAT
 * both ways, the TCP state, the namespace, and the whole entry under `flow`.
 */
export function flowRecordJson(r: FlowRecord): string {
  let s = `{"type":"flow","time":"${isoTime(r.end)}","timeSource":"${r.timeSource}","reason":"${r.reason}"`;
  if (r.netns) s += `,"netns":${namespaceJson(r.netns)}`;
  if (r.start !== undefined) s += `,"start":"${isoTime(r.start)}","startNs":"${r.start}"`;
  s += `,"end":"${isoTime(r.end)}","endNs":"${r.end}"`;
  if (r.start !== undefined) s += `,"durationMs":${Number((r.end - r.start) / 1000n) / 1000}`;
  if (r.counters) {
    const c = r.counters;
    s +=
      `,"packets":{"original":${c.original.packets},"reply":${c.reply.packets}},"bytes":{"original":${c.original.bytes},"reply":${c.reply.bytes}}`;
  }
  const n = r.nat;
  s += `,"nat":{"original":{"pre":${endpointsJson(n.original.pre)},"post":${
    endpointsJson(n.original.post)
  }},"reply":{"pre":${endpointsJson(n.reply.pre)},"post":${endpointsJson(n.reply.post)}}}`;
  if (r.tcpState !== undefined) s += `,"tcpState":"${r.tcpState}"`;
  if (r.flow.mark !== undefined) s += `,"mark":${r.flow.mark}`;
  if (r.flow.zone !== undefined) s += `,"zone":${r.flow.zone}`;
  return `${s},"flow":${flowJson(r.flow)}}`;
}

function hostPort(address: string, port: number | undefined): string {
  if (port === undefined) return address;
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

function side(e: Endpoints): string {
  return `${hostPort(e.src, e.srcPort)} > ${hostPort(e.dst, e.dstPort)}`;
}

/**
 * One text line of a record, as `nfct flows` prints it:
 * `TIME REASON PROTO SRC > DST [=> POST-SRC > POST-DST] pkts O/R bytes O/R [DURATION] [STATE] [mark=M] [zone=Z]`.
 */
export function formatFlowRecord(r: FlowRecord): string {
  const f = r.flow;
  let s = `${isoTime(r.end)} ${r.reason} ${f.protocol === 'unknown' ? `proto-${f.protonum}` : f.protocol} ${
    side(r.nat.original.pre)
  }`;
  const post = r.nat.original.post;
  const pre = r.nat.original.pre;
  if (post.src !== pre.src || post.dst !== pre.dst || post.srcPort !== pre.srcPort || post.dstPort !== pre.dstPort) {
    s += ` => ${side(post)}`;
  }
  if (f.protocol === 'icmp' || f.protocol === 'icmpv6') {
    const t = f.original;
    s += ` type=${t.type} code=${t.code} id=${t.id}`;
  }
  if (r.counters) {
    const c = r.counters;
    s += ` pkts ${c.original.packets}/${c.reply.packets} bytes ${c.original.bytes}/${c.reply.bytes}`;
  } else {
    s += ' (no counters: nf_conntrack_acct off)';
  }
  if (r.start !== undefined) s += ` ${(Number((r.end - r.start) / 1_000_000n) / 1000).toFixed(3)}s`;
  if (r.tcpState !== undefined) s += ` ${r.tcpState}`;
  if (f.mark !== undefined && f.mark !== 0) s += ` mark=${f.mark}`;
  if (f.zone !== undefined && f.zone !== 0) s += ` zone=${f.zone}`;
  return s;
}
