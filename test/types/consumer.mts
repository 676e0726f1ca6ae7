// What a TypeScript user of the published package may write, and what the types must refuse.
// Compiled by test/types/types.test.ts with tsc --strict against the built declarations, as
// '@x/nfct' resolves from a project that installed it. Every line under `// @ts-expect-error`
// must be an error: tsc reports a directive whose line compiles, so each is a claim the types
// make. Never run: the functions are only declared.
import { type AggregateOptions, Conntrack, type ConntrackEvent, type CountEventOptions, type DecodedPacket,
  decodePacket, type DeleteEachOptions, type DeleteWhereOptions, type EventOptions, type ExpectationFlushOptions,
  type Flow, type FlowFilter, flowKey, type FlowsOptions, type FlushOptions, type Ipv4Header, type Ipv6Header,
  type ListOptions, type LiveStreamOptions, Nflog, type NflogEvent, type NflogOpenOptions, type NflogOverrun,
  type NftablesFamily, type PacketFamily, type SubscribeOptions, Trace, type TraceEvent, type TraceMatch,
  type TracePacket, type TracePacketsOptions, type TraceStreamOptions, type UpdateWhereOptions, type WatchChange,
  type WatchItem, type WatchOptions } from '@x/nfct';

// ---- Identity and the live table ---------------------------------------------------------

/** A live map of the table, by the key the kernel identifies entries with. */
export async function liveMap(ct: Conntrack, signal: AbortSignal): Promise<ReadonlyMap<string, Flow>> {
  const options: WatchOptions = { protocol: 'tcp', refresh: 30, signal };
  await using table = ct.watch(options);
  await table.ready;
  const mine = new Map<string, Flow>();
  for await (const item of table) {
    // Exhaustive: the items are a closed union.
    switch (item.type) {
      case 'snapshot':
        mine.clear();
        for (const f of item.flows) mine.set(flowKey(f), f);
        break;
      case 'new':
      case 'update':
        mine.set(item.key, item.flow);
        break;
      case 'destroy':
        mine.delete(item.key);
        break;
      default: {
        const never: never = item;
        void never;
      }
    }
  }
  const size: number = table.flows.size;
  void size;
  return table.flows;
}

export function changeOrigin(c: WatchChange): 'event' | 'refresh' {
  return c.origin;
}

export function items(i: WatchItem): string {
  return i.type === 'snapshot' ? `${i.reason} ${i.flows.length}` : `${i.type} ${i.key} ${i.timestamp}`;
}

export function keyOf(f: Flow): string {
  // The id is a number the kernel hashes; the key is what identifies the entry.
  const id: number | undefined = f.id;
  void id;
  return flowKey(f);
}

// ---- One shape: flat filter fields beside each method's own options ----------------------

export async function oneShape(ct: Conntrack): Promise<void> {
  const filter: FlowFilter = { protocol: 'udp', dstPort: 53 };
  const list: ListOptions = { ...filter, batchSize: 512 };
  for await (const f of ct.list(list)) void f;
  const events: EventOptions = { ...filter, types: ['new', 'destroy'] };
  await using stream = ct.events(events);
  void stream;
  const counting: CountEventOptions = { ...filter, types: 'destroy' };
  await using counter = ct.countEvents(counting);
  void counter;
  const flows: FlowsOptions = { ...filter, activeTimeout: 60 };
  await using records = ct.flows(flows);
  void records;
  const del: DeleteWhereOptions = { ...filter, dryRun: true };
  const n: number = await ct.deleteWhere(del);
  const each: DeleteEachOptions = { ...filter, match: (f) => f.mark === 1, onDeleted: (batch) => void batch };
  const m: number = await ct.deleteEach(each);
  const upd: UpdateWhereOptions = { ...filter, onUpdated: (batch) => void batch };
  const u: number = await ct.updateWhere(upd, { mark: 7 });
  const agg: AggregateOptions = { ...filter, by: ['srcPort', 'dstPort'], top: 5 };
  const { groups } = await ct.aggregate(agg);
  for (const g of groups) {
    // The keys are the filter's field names.
    const p: number | null | undefined = g.key.dstPort;
    void p;
  }
  const flush: FlushOptions = { family: 'ipv6' };
  await ct.flush(flush);
  const ef: ExpectationFlushOptions = { family: 'ipv4', helper: 'ftp' };
  await ct.expectations.flush(ef);
  void [n, m, u];
}

// ---- close() and disposal ------------------------------------------------------------------

export async function closing(ct: Conntrack, nf: Nflog, trace: Trace): Promise<void> {
  const stream = ct.events();
  const dump = ct.list();
  const counter = ct.countEvents();
  const flows = ct.flows();
  const table = ct.watch();
  const packets = nf.subscribe({ group: 1 });
  const hops = trace.events();
  const grouped = trace.packets();
  // One return type: each resolves once what it held is released.
  const all: Promise<void>[] = [
    ct.close(),
    nf.close(),
    trace.close(),
    stream.close(),
    dump.close(),
    counter.close(),
    flows.close(),
    table.close(),
    packets.close(),
    hops.close(),
    grouped.close(),
  ];
  await Promise.all(all);
  // Every handle and stream is AsyncDisposable.
  const disposables: AsyncDisposable[] = [ct, nf, trace, stream, dump, counter, flows, table, packets, hops, grouped];
  void disposables;
}

export async function usingStreams(): Promise<number> {
  await using ct = await Conntrack.open();
  await using events = ct.events({ protocol: 'tcp' });
  let n = 0;
  for await (const ev of events) {
    n++;
    if (n > 10) break;
    const e: ConntrackEvent = ev;
    if (e.type === 'overrun') {
      const lost: undefined = e.lost;
      void lost;
    }
  }
  await using nf = await Nflog.open({ netns: 'x' } satisfies NflogOpenOptions);
  await using log = nf.subscribe({ group: 2, sequence: true } satisfies SubscribeOptions);
  for await (const item of log) {
    const i: NflogEvent = item;
    if (i.type === 'overrun') {
      // Always there: a number when known (sequence numbers), undefined when not.
      const lost: number | undefined = i.lost;
      void lost;
    }
    if (i.type === 'packet') {
      const fam: PacketFamily = i.family;
      void fam;
    }
    break;
  }
  return n;
}

// ---- Trace: the types tell the truth -------------------------------------------------------

export async function traceTool(trace: Trace): Promise<void> {
  const match: TraceMatch = { protocol: 'udp', port: 53 };
  const icmp: TraceMatch = { protocol: 'icmp', dst: '10.0.0.1' };
  const any: TraceMatch = { src: '10.0.0.0/8' };
  const opts: TracePacketsOptions = { match, idleMs: 100, ownHops: false };
  const hopOpts: TraceStreamOptions = { match: icmp, ownHops: true };
  void [any, hopOpts];
  for await (const pkt of trace.packets(opts)) {
    const p: TracePacket = pkt;
    const fam: PacketFamily = p.family;
    void fam;
    for (const hop of p.hops) describeHop(hop);
  }
}

export function describeHop(hop: TraceEvent): string {
  if (hop.source !== 'nftables') {
    // Legacy TRACE names its rule by position; the family is the packet's.
    const rule: number = hop.rule;
    const fam: 'ipv4' | 'ipv6' = hop.family;
    return `${fam} ${hop.table} ${hop.chain} ${rule}`;
  }
  const fam: NftablesFamily = hop.family;
  const handle: number | undefined = hop.handle;
  return `${fam} ${hop.table} ${hop.chain} ${handle ?? ''}`;
}

export function packetDescription(buf: Buffer): string {
  const p: DecodedPacket = decodePacket(buf, 'ipv4');
  switch (p.family) {
    case 'ipv4': {
      const h: Ipv4Header | undefined = p.ipv4;
      const none: undefined = p.ipv6;
      void none;
      return `${h?.src} ttl ${h?.ttl} ${p.icmp?.type ?? ''}`;
    }
    case 'ipv6': {
      const h: Ipv6Header | undefined = p.ipv6;
      const none: undefined = p.ipv4;
      void none;
      return `${h?.src} hop limit ${h?.hopLimit} ${p.icmpv6?.type ?? ''}`;
    }
    default: {
      const never: never = p;
      return never;
    }
  }
}

export const liveOptions: LiveStreamOptions = { bufferSize: 1 << 20, maxBufferSize: 1 << 26, maxQueueBytes: 1 << 24 };

// ---- What the types refuse ----------------------------------------------------------------

export function refused(ct: Conntrack, nf: Nflog, ev: TraceEvent, ipv6: Ipv6Header): void {
  // @ts-expect-error a port needs protocol 'tcp', 'udp' or 'sctp'
  const portOnly: TraceMatch = { port: 53 };
  // @ts-expect-error ICMP has no ports
  const icmpPort: TraceMatch = { protocol: 'icmp', dstPort: 1 };
  // @ts-expect-error a trace hop's family is one of the ruleset's families, not any string
  const family: TraceEvent['family'] = 'inet6';
  // @ts-expect-error an IPv4 packet carries no IPv6 header
  const mixed: DecodedPacket = { family: 'ipv4', length: 40, ipv6 };
  // @ts-expect-error an NFLOG overrun always says `lost` (undefined when unknown)
  const overrun: NflogOverrun = { type: 'overrun', overruns: 1, bufferSize: 0 };
  // @ts-expect-error 'sport' is a deprecated spelling only in the old form; the new keys are the filter's
  const old: AggregateOptions = { by: 'sport', protocol: 'tcp' };
  // @ts-expect-error the library's bookkeeping is not part of its types
  void ct.track;
  // @ts-expect-error nor are a handle's private fields
  void ct.native;
  // @ts-expect-error nor the streams of an NFLOG handle
  void nf.streams;
  // @ts-expect-error legacy hops have no rule handle
  if (ev.source === 'legacy') void ev.handle.toString();
  void [portOnly, icmpPort, family, mixed, overrun, old];
}
