// Conntrack entries seen through the Services of the ruleset: which Service an entry's original
// destination is, which endpoint it was DNATed to, and whether that endpoint is still one of the
// Service's. An entry whose DNAT target is no longer an endpoint of the rule for its original
// destination is stale: the client's packets keep refreshing it, so it never times out, and
// they keep going to an endpoint that is gone (UDP), or the connection hangs (TCP).
import type { Flow } from '../conntrack/types.js';
import { type Endpoint, endpointText, type ServicePort } from './rules.js';
import { Services } from './services.js';

/** What `-L --services` adds to an entry. */
export interface FlowService {
  /** The Service port its original destination is. */
  name: string;
  /** The Service's cluster IP (or the address its rule matches). */
  address: string;
  /** The Service port number; absent when its rule matches any port. */
  port?: number;
  /** The Service port's protocol ('tcp', 'udp', 'sctp'); absent when its rule matches any. */
  protocol?: string;
  /** The endpoint it was DNATed to (undefined when not DNATed). */
  endpoint?: Endpoint;
  /** True when that endpoint is not among the Service's current ones. */
  stale: boolean;
  /** The Service's current endpoints. */
  endpoints: Endpoint[];
}

interface PortFlow {
  protonum: number;
  original: { src: string; dst: string; srcPort?: number; dstPort?: number };
  reply: { src: string; dst: string; srcPort?: number; dstPort?: number };
}

/** The Service an entry's original destination belongs to, or undefined. */
export function serviceOfFlow(flow: Flow, services: Services): FlowService | undefined {
  const f = flow as unknown as PortFlow;
  const sp = services.lookup(f.protonum, f.original.dst, f.original.dstPort);
  if (!sp) return undefined;
  const out: FlowService = { name: sp.name, address: sp.address, endpoints: sp.endpoints, stale: false };
  if (sp.port !== undefined) out.port = sp.port;
  if (sp.protocol !== undefined) out.protocol = sp.protocol;
  const dnat = f.reply.src !== f.original.dst || f.reply.srcPort !== f.original.dstPort;
  if (dnat) {
    out.endpoint = f.reply.srcPort === undefined
      ? { address: f.reply.src }
      : { address: f.reply.src, port: f.reply.srcPort };
    out.stale = !Services.isEndpoint(sp, f.reply.src, f.reply.srcPort);
  }
  return out;
}

/** ` service=default/kube-dns:dns endpoint=10.244.1.7:53` (and ` stale` when it is). */
export function flowServiceText(s: FlowService): string {
  return ` service=${s.name}${s.endpoint ? ` endpoint=${endpointText(s.endpoint)}` : ''}${s.stale ? ' stale' : ''}`;
}

/** The JSON of an entry's service object. */
export function flowServiceJson(s: FlowService): Record<string, unknown> {
  const o: Record<string, unknown> = { name: s.name, address: s.address };
  if (s.port !== undefined) o.port = s.port;
  if (s.protocol !== undefined) o.protocol = s.protocol;
  if (s.endpoint) o.endpoint = endpointText(s.endpoint);
  o.endpoints = s.endpoints.map(endpointText);
  o.stale = s.stale;
  return o;
}

/** Stale entries of one Service port towards one old endpoint. */
export interface StaleGroup {
  /** The Service port the entries' original destination is. */
  service: ServicePort;
  /** The entries' layer-4 protocol ('udp', 'tcp', ...). */
  protocol: string;
  /** The endpoint the entries still DNAT to. */
  oldEndpoint: Endpoint;
  /** How many entries still send this Service's traffic to the old endpoint. */
  entries: number;
  /** Of those, how many are ASSURED (they would outlive a short timeout). */
  assured: number;
  /** The original source addresses (the clients), each with its entry count. */
  clients: Map<string, number>;
  /** Entries that carry counters (accounting was on when they were made). */
  withCounters: number;
  /** Of those seen in both samples, how many sent more packets in between: still in use. */
  growing: number;
  /** How many packets those entries sent between the two samples (original direction). */
  packetsInInterval: number;
  /** Entries seen in both samples. */
  seenTwice: number;
}

function key(f: PortFlow): string {
  return `${f.protonum} ${f.original.src} ${f.original.srcPort ?? ''} ${f.original.dst} ${f.original.dstPort ?? ''}`;
}

/**
 * Groups the stale entries of a sample by (Service port, old endpoint). `before` is an earlier
 * sample of the same table: counters are compared per entry (by id, else by original tuple),
 * never inferred from a sysctl.
 */
export function findStaleEntries(before: readonly Flow[], after: readonly Flow[], services: Services): StaleGroup[] {
  const earlier = new Map<string, Flow>();
  for (const f of before) earlier.set(f.id !== undefined ? `id ${f.id}` : key(f), f);
  const groups = new Map<string, StaleGroup>();
  for (const flow of after) {
    const s = serviceOfFlow(flow, services);
    if (!s || !s.stale || !s.endpoint) continue;
    const sp = services.lookup(flow.protonum, (flow as unknown as PortFlow).original.dst,
      (flow as unknown as PortFlow).original.dstPort)!;
    const k = `${sp.protocol ?? flow.protocol} ${sp.address} ${sp.port ?? ''} ${endpointText(s.endpoint)}`;
    let g = groups.get(k);
    if (!g) {
      g = { service: sp, protocol: flow.protocol, oldEndpoint: s.endpoint, entries: 0, assured: 0, clients: new Map(),
        withCounters: 0, growing: 0, packetsInInterval: 0, seenTwice: 0 };
      groups.set(k, g);
    }
    g.entries++;
    if (flow.status.assured) g.assured++;
    const src = (flow as unknown as PortFlow).original.src;
    g.clients.set(src, (g.clients.get(src) ?? 0) + 1);
    if (flow.counters) {
      g.withCounters++;
      const prev = earlier.get(flow.id !== undefined ? `id ${flow.id}` : key(flow));
      if (prev) {
        g.seenTwice++;
        if (prev.counters) {
          const grew = flow.counters.original.packets - prev.counters.original.packets;
          if (grew > 0) {
            g.growing++;
            g.packetsInInterval += grew;
          }
        }
      }
    } else if (earlier.has(flow.id !== undefined ? `id ${flow.id}` : key(flow))) {
      g.seenTwice++;
    }
  }
  return [...groups.values()];
}

/** The `nfct -D` arguments that delete exactly a group's entries (original destination and old endpoint). */
export function staleDeleteArgs(g: StaleGroup): string[] {
  const args = ['-D', '-p', g.protocol, '-d', g.service.address];
  if (g.service.port !== undefined) args.push('--dport', String(g.service.port));
  args.push('-r', g.oldEndpoint.address);
  if (g.oldEndpoint.port !== undefined) args.push('--reply-port-src', String(g.oldEndpoint.port));
  return args;
}

/** UDP entries towards one DNAT target that never answered ([UNREPLIED]). */
export interface UnansweredGroup {
  /** The address (and port) the entries were DNATed to, which never answered. */
  target: Endpoint;
  /** The Service whose endpoint it is (still), when the ruleset names one. */
  service?: ServicePort;
  /** How many unanswered UDP entries go to the target. */
  entries: number;
  /** The original source addresses (the clients), each with its entry count. */
  clients: Map<string, number>;
  /** Entries that carry counters (accounting was on when they were made). */
  withCounters: number;
  /** Of those, how many sent more packets between the two samples: clients still trying. */
  growing: number;
  /** How many packets those entries sent between the two samples. */
  packetsInInterval: number;
}

/**
 * UDP entries DNATed to a target that never answered, grouped by target (stale ones left to
 * findStaleEntries()); counters compared per entry between the samples.
 */
export function findUnanswered(before: readonly Flow[], after: readonly Flow[],
  services: Services | undefined): UnansweredGroup[]
{
  const earlier = new Map<string, Flow>();
  for (const f of before) earlier.set(f.id !== undefined ? `id ${f.id}` : key(f), f);
  const groups = new Map<string, UnansweredGroup>();
  for (const flow of after) {
    if (flow.protocol !== 'udp' || flow.status.seenReply || !flow.status.dstNat) continue;
    const f = flow as unknown as PortFlow;
    const s = services ? serviceOfFlow(flow, services) : undefined;
    if (s?.stale) continue;
    const target: Endpoint = f.reply.srcPort === undefined
      ? { address: f.reply.src }
      : { address: f.reply.src, port: f.reply.srcPort };
    const k = endpointText(target);
    let g = groups.get(k);
    if (!g) {
      g = { target, entries: 0, clients: new Map(), withCounters: 0, growing: 0, packetsInInterval: 0 };
      const sp = s && services ? services.lookup(flow.protonum, f.original.dst, f.original.dstPort) : undefined;
      if (sp) g.service = sp;
      groups.set(k, g);
    }
    g.entries++;
    g.clients.set(f.original.src, (g.clients.get(f.original.src) ?? 0) + 1);
    if (!flow.counters) continue;
    g.withCounters++;
    const prev = earlier.get(flow.id !== undefined ? `id ${flow.id}` : key(f));
    const grew = prev?.counters ? flow.counters.original.packets - prev.counters.original.packets : 0;
    if (grew > 0) {
      g.growing++;
      g.packetsInInterval += grew;
    }
  }
  return [...groups.values()];
}
