// `nfct top`: what fills the conntrack table, live. Each frame reads, per namespace, the entry
// count against nf_conntrack_max, the new/destroy event rates (an event subscription counts
// them between frames), the per-second increases of the per-CPU drop counters, and the table
// grouped natively by the chosen key (ct.aggregate()); then draws it full-screen, as plain
// lines when stdout is not a terminal, or as NDJSON.
import { type AddressPrefix, AGGREGATE_KEYS, type AggregateKey, type AggregateResult,
  type PrefixKey } from '../../conntrack/aggregate.js';
import { keyTexts } from '../../conntrack/aggregate.js';
import type { EventCounter } from '../../conntrack/events.js';
import { type FlowFilter, normalizeFilter } from '../../conntrack/filter.js';
import { Conntrack } from '../../conntrack/handle.js';
import { readServices, type Services } from '../../k8s/services.js';
import { netnsJsonOf } from '../ndjson.js';
import { readSysctls, resolveTargets, sumStats, sysctlNumber, type Target } from '../node-state.js';
import { CommandUsage, podFlag, runSubcommand } from '../subcommand.js';
import { filterGroups, KEY_HELP, parsePrefixKey } from './top-keys.js';
import { type NamespaceFigures, type TopGroup, type TopKey, type TopSnapshot, type TopSort } from './top-view.js';

export const TOP_HELP = `nfct top: what fills the conntrack table, live.

Usage:
  nfct top [--by KEY[,KEY..]] [--sort count|packets|bytes] [--interval SECS] [--top N]
           [--netns NAME | --pid PID | --pod NS/NAME | --all-netns] [--pod-log-dir DIR]
           [-p PROTO] [--once] [--json]

  --by KEYS       group by (default src): ${[...AGGREGATE_KEYS, 'netns', 'service'].join(', ')}
                  (sport, dport: srcPort, dstPort);
                  an address key by prefix: src/16 (IPv4 /16, IPv6 /64), src/16/48;
                  service: the Service of the destination, from the namespace's NAT rules
  --sort WHAT     rank groups by entries (default), or packets/bytes (nf_conntrack_acct=1)
  --interval S    seconds between frames (default 2)
  --top N         groups shown (default: as many as fit, 20 when not a terminal)
  --all-netns     every network namespace of the node; netns becomes a group-by key
  -p PROTO        only entries of this protocol
  --once          one snapshot, one read of the table (the header's rates measured over one
                  interval, the groups' change unknown), then exit
  --json          NDJSON: one object per snapshot (schema/top.json)

Each group shows its change since the previous frame and that change per second.
Keys while running:
${KEY_HELP.map(([k, what]) => `  ${k.padEnd(18)}${what}`).join('\n')}
`;

const SORTS: readonly TopSort[] = ['count', 'packets', 'bytes'];

export interface TopOptions {
  /** The --by keys as given: a key, or an address key with a prefix ('src/16'). */
  by: string[];
  sort: TopSort;
  interval: number;
  top: number | undefined;
  targets: Target[];
  filter: FlowFilter;
  once: boolean;
  json: boolean;
  title: string;
}

function numberArg(v: string | undefined, flag: string, min: number): number {
  const n = Number(v);
  if (v === undefined || !Number.isFinite(n) || n < min) {
    throw new CommandUsage(
      `nfct top: ${flag} needs a number of at least ${min}, got ${v === undefined ? 'nothing' : `'${v}'`}`,
    );
  }
  return n;
}

/** The key names of --by keys (`src/16` is src) and the prefixes address keys are cut at. */
export function parseBy(
  specs: readonly string[],
): { keys: TopKey[]; prefix: Partial<Record<PrefixKey, AddressPrefix>> } {
  const keys: TopKey[] = [];
  const prefix: Partial<Record<PrefixKey, AddressPrefix>> = {};
  for (const spec of specs) {
    const p = parsePrefixKey(spec);
    if (p) {
      keys.push(p.key);
      prefix[p.key] = { ipv4: p.ipv4, ipv6: p.ipv6 };
    } else keys.push((spec === 'sport' ? 'srcPort' : spec === 'dport' ? 'dstPort' : spec) as TopKey); // conntrack's words for the ports too
  }
  return { keys, prefix };
}

function parseKeys(v: string | undefined): string[] {
  const specs = (v ?? '').split(',').filter((k) => k !== '');
  if (specs.length === 0) throw new CommandUsage('nfct top: --by needs a key');
  for (const spec of specs) {
    const k = spec === 'sport' ? 'srcPort' : spec === 'dport' ? 'dstPort' : spec;
    try {
      if (parsePrefixKey(k)) continue;
    } catch (e) {
      throw new CommandUsage(`nfct top: ${(e as Error).message}`);
    }
    if (k !== 'netns' && k !== 'service' && !(AGGREGATE_KEYS as readonly string[]).includes(k)) {
      throw new CommandUsage(
        `nfct top: --by: unknown key '${k}' (one of ${
          [...AGGREGATE_KEYS, 'netns', 'service'].join(', ')
        }; src, dst, replySrc also as KEY/LEN)`,
      );
    }
  }
  if (new Set(parseBy(specs).keys).size !== specs.length) throw new CommandUsage('nfct top: --by names a key twice');
  return specs;
}

/** Parses `nfct top` arguments; throws CommandUsage for a bad one. */
export async function parseTopArgs(argv: readonly string[]): Promise<TopOptions | 'help'> {
  let by: string[] | undefined;
  let sort: TopSort = 'count';
  let interval = 2;
  let top: number | undefined;
  let netns: string | undefined;
  let pid: number | undefined;
  let pod: string | undefined;
  let podLogDir: string | undefined;
  let allNetns = false;
  let once = false;
  let json = false;
  const filter: FlowFilter = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--by') by = parseKeys(argv[++i]);
    else if (a === '--sort') {
      const s = argv[++i];
      if (!SORTS.includes(s as TopSort)) throw new CommandUsage(`nfct top: --sort must be one of ${SORTS.join(', ')}`);
      sort = s as TopSort;
    } else if (a === '--interval' || a === '-i') interval = numberArg(argv[++i], '--interval', 0.1);
    else if (a === '--top' || a === '-n') top = Math.floor(numberArg(argv[++i], '--top', 1));
    else if (a === '--netns') netns = argv[++i];
    else if (a === '--pid') pid = Math.floor(numberArg(argv[++i], '--pid', 1));
    else if (a === '--pod') pod = podFlag(a, argv[++i], 'nfct top');
    else if (a === '--pod-log-dir') podLogDir = podFlag(a, argv[++i], 'nfct top');
    else if (a === '--all-netns') allNetns = true;
    else if (a === '--once') once = true;
    else if (a === '--json') json = true;
    else if (a === '-p' || a === '--proto') filter.protocol = argv[++i] as FlowFilter['protocol'];
    else if (a === '--help' || a === '-h') return 'help';
    else throw new CommandUsage(`nfct top: unknown option '${a}'`);
  }
  if (netns === '') throw new CommandUsage('nfct top: --netns needs a name');
  if ([netns !== undefined, pid !== undefined, pod !== undefined, allNetns].filter(Boolean).length > 1) {
    throw new CommandUsage('nfct top: use one of --netns, --pid, --pod, --all-netns');
  }
  try {
    normalizeFilter(filter, 'nfct top -p');
  } catch (e) {
    if (e instanceof TypeError || e instanceof RangeError) throw new CommandUsage(e.message);
    throw e;
  }
  const targets = await resolveTargets({ netns, pid, pod, podLogDir, allNetns });
  const title = allNetns ? 'all namespaces' : targets[0]!.label;
  return { by: by ?? (allNetns ? ['netns'] : ['src']), sort, interval, top, targets, filter, once, json, title };
}

/** One namespace followed from frame to frame: its handle, event counts and last statistics. */
export class NamespaceSampler {
  private last: { time: number; events: { new: number; destroy: number }; stats: ReturnType<typeof sumStats> }
    | undefined;
  private readonly abort = new AbortController();
  private counter: EventCounter | undefined;
  /** The namespace could not be read (gone): left out from now on. */
  failed = false;
  private services: { at: number; value: Promise<Services | undefined> } | undefined;

  /** The namespace's Services (--by service), read again every 10 s; undefined where unreadable. */
  servicesNow(): Promise<Services | undefined> {
    if (!this.services || performance.now() - this.services.at > 10_000) {
      this.services = { at: performance.now(),
        value: readServices(this.target.path === null ? {} : { netns: this.target.path }).catch(() => undefined) };
    }
    return this.services.value;
  }

  private constructor(
    readonly target: Target,
    readonly ct: Conntrack,
    /** Its `netns` object (NDJSON). */
    readonly netns: Record<string, unknown>,
  ) {}

  static async open(target: Target, withEvents: boolean): Promise<NamespaceSampler> {
    const ct = await Conntrack.open(target.path === null ? {} : { netns: target.path });
    let netns: Record<string, unknown>;
    try {
      netns = await netnsJsonOf({ path: target.path ?? '/proc/self/ns/net' }, target.label);
    } catch (e) {
      await ct.close();
      throw e;
    }
    const s = new NamespaceSampler(target, ct, netns);
    if (withEvents) s.watch();
    return s;
  }

  /**
   * Counts new and destroy events in the background until close(): natively, on the reader
   * thread (countEvents()), so that a churn costs no JS object per event.
   */
  private watch(): void {
    this.counter = this.ct.countEvents({ types: ['new', 'destroy'], signal: this.abort.signal, bufferSize: 1 << 20 });
  }

  /** Events counted so far. */
  private get events(): { new: number; destroy: number; overruns: number } {
    const c = this.counter;
    if (!c) return { new: 0, destroy: 0, overruns: 0 };
    const counts = c.counts;
    return { new: counts.new ?? 0, destroy: counts.destroy ?? 0, overruns: c.stats.overruns };
  }

  /** The header figures now, rates against the previous call. */
  async figures(max: number): Promise<NamespaceFigures> {
    const [entries, rows] = await Promise.all([this.ct.count(), this.ct.stats()]);
    const stats = sumStats(rows);
    const now = performance.now();
    const prev = this.last;
    const events = this.events;
    this.last = { time: now, events: { new: events.new, destroy: events.destroy }, stats };
    const secs = prev ? (now - prev.time) / 1000 : 0;
    const per = (a: number, b: number): number | null => (prev && secs > 0 ? Math.max(0, a - b) / secs : null);
    return {
      netns: this.target.label,
      netnsObject: this.netns,
      entries,
      matched: 0,
      max,
      percent: max > 0 ? (100 * entries) / max : 0,
      newPerSec: this.counter ? per(events.new, prev?.events.new ?? 0) : null,
      destroyPerSec: this.counter ? per(events.destroy, prev?.events.destroy ?? 0) : null,
      eventOverruns: events.overruns,
      drop: per(stats.drop, prev?.stats.drop ?? 0),
      early_drop: per(stats.early_drop, prev?.stats.early_drop ?? 0),
      insert_failed: per(stats.insert_failed, prev?.stats.insert_failed ?? 0),
    };
  }

  async close(): Promise<void> {
    this.abort.abort();
    await this.counter?.done.catch(() => undefined);
    await this.ct.close();
  }
}

/** Merges per-namespace aggregations into one ranking (netns as a key when asked). */
export function mergeGroups(parts: { netns: string; result: AggregateResult }[], by: readonly TopKey[], sort: TopSort,
  top: number): { groups: TopGroup[]; groupCount: number }
{
  const withNs = by.includes('netns');
  const merged = new Map<string, TopGroup>();
  for (const { netns, result } of parts) {
    for (const g of result.groups) {
      const key: TopGroup['key'] = {};
      for (const k of by) {
        (key as Record<string, unknown>)[k] = k === 'netns' ? netns : (g.key as Record<string, unknown>)[k];
      }
      const id = JSON.stringify(by.map((k) => (key as Record<string, unknown>)[k]));
      const m = merged.get(id);
      if (!m) {
        merged.set(id, { key, count: g.count, ...(g.counters ? { counters: structuredClone(g.counters) } : {}) });
        continue;
      }
      m.count += g.count;
      if (g.counters) {
        const c = (m.counters ??= { original: { packets: 0, bytes: 0 }, reply: { packets: 0, bytes: 0 } });
        c.original.packets += g.counters.original.packets;
        c.original.bytes += g.counters.original.bytes;
        c.reply.packets += g.counters.reply.packets;
        c.reply.bytes += g.counters.reply.bytes;
      }
    }
  }
  const metric = (g: TopGroup): number =>
    sort === 'count' || !g.counters
      ? (sort === 'count' ? g.count : 0)
      : sort === 'packets'
      ? g.counters.original.packets + g.counters.reply.packets
      : g.counters.original.bytes + g.counters.reply.bytes;
  const all = [...merged.values()].sort((a, b) => metric(b) - metric(a) || b.count - a.count);
  // With one namespace, or netns a key, every group is whole; otherwise groupCount counts the merged ones.
  const groupCount = by.includes('service')
    ? all.length
    : parts.length === 1 && !withNs
    ? parts[0]!.result.groupCount
    : withNs
    ? parts.reduce((s, p) => s + p.result.groupCount, 0)
    : all.length;
  return { groups: all.slice(0, top), groupCount };
}

/** What a snapshot is of: the keys, the ranking, the filters. */
export interface SnapshotOptions {
  by: readonly string[];
  sort: TopSort;
  filter: FlowFilter;
  interval: number;
  /** Only groups whose key text holds this (the screen's / filter). */
  text?: string;
  /**
   * The header figures are read once this settles, while the table is read meanwhile (--once:
   * the rates cover at least the interval, and the one dump runs during it).
   */
  figuresAfter?: Promise<void>;
}

/** One snapshot of every sampled namespace. */
export async function snapshot(samplers: readonly NamespaceSampler[], o: SnapshotOptions,
  top: number): Promise<TopSnapshot>
{
  const max = sysctlNumber(await readSysctls(null), 'nf_conntrack_max') ?? 0;
  const { keys, prefix } = parseBy(o.by);
  const withService = keys.includes('service');
  // A Service is found from the protocol, destination and port of each group.
  const aggKeys = [
    ...new Set<AggregateKey>([...keys.filter((k): k is AggregateKey => k !== 'netns' && k !== 'service'),
      ...(withService ? (['protocol', 'dst', 'dstPort'] as const) : [])]),
  ];
  const withNs = keys.includes('netns');
  // Exact merging across namespaces needs every group of each, unless netns is a key; a text
  // filter needs every group too (it picks among them before the top ones are taken), and so
  // does a Service (the groups of its addresses make one).
  const whole = (samplers.length === 1 || withNs) && !o.text && !withService;
  const settled = await Promise.allSettled(
    samplers.map(async (s) => {
      const [figures, result] = await Promise.all([
        (o.figuresAfter ?? Promise.resolve()).then(() => s.figures(max)),
        s.ct.aggregate({ ...o.filter, by: aggKeys.length > 0 ? aggKeys : ['family'], prefix, sort: o.sort,
          top: whole ? top : 0 }),
      ]);
      figures.matched = result.total.count;
      if (withService) {
        const services = await s.servicesNow();
        for (const g of result.groups) {
          const k = g.key as { protocol?: string | null; dst?: string | null; dstPort?: number | null;
            service?: string };
          const sp = services && k.protocol && k.dst
            ? services.lookup(k.protocol, k.dst, k.dstPort ?? undefined)
            : undefined;
          k.service = sp ? sp.name : '-';
        }
      }
      if (aggKeys.length === 0) {
        // netns alone: one group per namespace holding all its entries.
        const all = { ...result, groups: result.total.count > 0
          ? [{ key: {}, count: result.total.count,
            ...(result.total.counters ? { counters: result.total.counters } : {}) }]
          : [], groupCount: result.total.count > 0 ? 1 : 0 };
        return { figures, netns: s.target.label, result: all };
      }
      return { figures, netns: s.target.label, result };
    }),
  );
  // With several namespaces, one that went away meanwhile is left out (and its sampler marked);
  // with one, its failure is the command's.
  const parts = [];
  for (let i = 0; i < settled.length; i++) {
    const r = settled[i]!;
    if (r.status === 'fulfilled') parts.push(r.value);
    else if (samplers.length === 1) throw r.reason;
    else samplers[i]!.failed = true;
  }
  let { groups, groupCount } = mergeGroups(parts, keys, o.sort, o.text ? Number.MAX_SAFE_INTEGER : top);
  if (o.text) {
    groups = filterGroups(groups, keys, o.text, keyTexts);
    groupCount = groups.length;
    groups = groups.slice(0, top);
  }
  return {
    time: new Date().toISOString(),
    interval: o.interval,
    by: [...o.by],
    keys,
    sort: o.sort,
    ...(o.text ? { text: o.text } : {}),
    namespaces: parts.map((p) => p.figures),
    groups,
    entries: parts.reduce((n, p) => n + p.figures.entries, 0),
    matched: parts.reduce((n, p) => n + p.result.total.count, 0),
    groupCount,
  };
}

/** A group's identity across frames: its key values, in key order. */
function groupId(key: TopGroup['key'], keys: readonly string[]): string {
  return JSON.stringify(keys.map((k) => (key as Record<string, unknown>)[k] ?? null));
}

/**
 * The groups of the previous frame, to give each group of the next its change and rate. A
 * group not among the previous frame's has changed by its whole count when that frame had
 * every group; by an unknown amount (null) when it had only the top ones.
 */
export class GroupHistory {
  private prev: { at: number; what: string; counts: Map<string, number>; complete: boolean } | undefined;

  apply(snap: TopSnapshot): void {
    const now = performance.now();
    const what = JSON.stringify([snap.by, snap.sort, snap.text ?? '', snap.namespaces.map((n) => n.netns)]);
    const p = this.prev?.what === what ? this.prev : undefined;
    const secs = p ? (now - p.at) / 1000 : 0;
    for (const g of snap.groups) {
      const before = p ? (p.counts.get(groupId(g.key, snap.keys)) ?? (p.complete ? 0 : undefined)) : undefined;
      g.change = before === undefined ? null : g.count - before;
      g.rate = g.change === null || secs <= 0 ? null : g.change / secs;
    }
    this.prev = { at: now, what, counts: new Map(snap.groups.map((g) => [groupId(g.key, snap.keys), g.count])),
      complete: snap.groupCount <= snap.groups.length };
  }
}

/** `nfct top ...`: resolves the exit status (2 for a bad argument). */
export function topCommand(argv: readonly string[]): Promise<number> {
  return runSubcommand(argv, parseTopArgs, TOP_HELP, async (o) => {
    const { runTop } = await import('./top-run.js');
    await runTop(o);
    return 0;
  });
}
