// The Prometheus exporter: per network namespace, the conntrack table's size and limit, the
// per-CPU statistics, and (when asked for) event and NFLOG packet counts, read at each scrape
// over netlink, many namespaces at once with a bound.
import type { IncomingMessage, ServerResponse } from 'node:http';

import type { Counter, Gauge, Registry } from 'prom-client';

import type { EventCounter } from '../conntrack/events.js';
import { Conntrack } from '../conntrack/handle.js';
import type { CpuStats } from '../conntrack/types.js';
import { DEFAULT_CONCURRENCY, mapSettled } from '../core/concurrency.js';
import { NfctError } from '../core/errors.js';
import { listNamespaces, namespaceLabel, type NetworkNamespace } from '../core/netns-discovery.js';
import { podLogDirOption } from '../core/pods.js';
import type { StreamStats } from '../core/stream.js';
import { assertKnownKeys, assertObject, boolean, describeValue, integer, optionalInteger } from '../core/validate.js';
import { Nflog } from '../nflog/handle.js';
import { type FlowExportOptions, startFlowExport } from './flows.js';
import { registerProcessMetrics } from './process.js';

/**
 * prom-client, loaded on the first createExporter(): it takes longer to load than the rest of
 * the library, and most users of the library (and every nfct command but `exporter`) never need it.
 */
function promClient(): typeof import('prom-client') {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('prom-client') as typeof import('prom-client');
}

/** The per-CPU counters exported, in `conntrack -S` order. */
export const CPU_STAT_COUNTERS = ['found', 'invalid', 'insert', 'insert_failed', 'drop', 'early_drop', 'error',
  'search_restart', 'clash_resolve', 'chaintoolong'] as const;

/** What each counter of `conntrack -S` counts (the HELP text of its metric). */
const CPU_STAT_HELP: Record<(typeof CPU_STAT_COUNTERS)[number], string> = {
  found: 'Table lookups that found an existing entry',
  invalid: 'Packets conntrack could not track (malformed, out of the TCP window, unknown state)',
  insert: 'Entries added to the table',
  insert_failed:
    'Entries that could not be added: a clash with an entry made at the same time that could not be resolved; the packet is dropped',
  drop: 'Packets dropped because no entry could be made for them: the table full with nothing to evict, or no memory',
  early_drop: 'Entries not yet assured evicted to make room for new ones when the table was full',
  error: "Packets refused by a protocol tracker's error check (an ICMP error for no known connection, a bad checksum)",
  search_restart: 'Table lookups started again because the hash table changed meanwhile (a resize, an entry moved)',
  clash_resolve:
    'Clashes between two entries made at the same time for one connection that were resolved, the packet kept',
  chaintoolong: 'Entries refused because their hash chain was too long (nf_conntrack_buckets too small for the table)',
};

/**
 * Options of createExporter(): which namespaces the Prometheus figures cover, what else is
 * counted (NFLOG groups, flow records sent as IPFIX), and the bounds that keep a scrape cheap.
 */
export interface ExporterOptions {
  /**
   * Which namespaces: `'all'` (default: every namespace listNamespaces() finds, found again at
   * each scrape) or a predicate over them.
   */
  namespaces?: 'all' | ((ns: NetworkNamespace) => boolean);
  /** Namespaces read at once during a scrape (default 8). */
  concurrency?: number;
  /** The most namespaces exported; the rest are counted in nfct_exporter_namespaces_skipped (default 512). */
  maxNamespaces?: number;
  /** Add a `cpu` label to the statistics instead of summing them over CPUs (default false). */
  perCpu?: boolean;
  /** Count conntrack events by type in every namespace (a socket and a reader thread each; default false). */
  events?: boolean;
  /** Count NFLOG packets of these groups by prefix in every namespace (default none). */
  nflogGroups?: readonly number[];
  /** Distinct prefixes counted per namespace and group; later ones are counted as `other` (default 32). */
  maxPrefixes?: number;
  /** The most event and NFLOG streams open at once over all namespaces (default 256). */
  maxStreams?: number;
  /** Register into this registry instead of a new one. */
  registry?: Registry;
  /**
   * Also export the process's own figures under the standard names (`process_cpu_seconds_total`,
   * `process_resident_memory_bytes`, `process_open_fds`, ..., the Node.js heap) and
   * `nfct_build_info`; names the registry already holds are left to their owner (default true).
   */
  processMetrics?: boolean;
  /**
   * Where the kubelet's pod log directories are, which name each pod namespace's pod (default
   * '/var/log/pods'; see listNamespaces()). A pod's `netns` label is then `namespace/name`,
   * and `nfct_netns_info` carries `pod` and `pod_namespace`.
   */
  podLogDir?: string;
  /** Flow records of every namespace sent as IPFIX (a flow stream per namespace; see lib/exporter/flows.ts). */
  flows?: FlowExportOptions;
}

/** A running exporter: mount `handler`, or read `registry` in a service of your own. */
export interface Exporter extends AsyncDisposable {
  /** Holds every nfct_* metric; its `metrics()` reads the kernel (one scrape). */
  readonly registry: Registry;
  /** A node:http request handler: GET /metrics (and /) answers the scrape, other paths 404. */
  readonly handler: (req: IncomingMessage, res: ServerResponse) => void;
  /** One scrape as Prometheus text. */
  metrics(): Promise<string>;
  /** Closes every handle and stream; the registry then reports nothing more. Idempotent. */
  close(): Promise<void>;
}

interface Tracked {
  ns: NetworkNamespace;
  label: string;
  ct?: Conntrack;
  events?: EventCounter;
  nflog?: { nf: Nflog; subs: Map<number, { close(): void; stats: StreamStats }>; packets: Map<string, number> };
  streamError?: string;
}

interface Snapshot {
  rows: { t: Tracked; count: number; max: number | null; stats: CpuStats[] }[];
  discovered: number;
  skipped: number;
  errors: Map<string, number>;
  duration: number;
}

const OTHER_PREFIX = 'other';

function errorCode(e: unknown): string {
  if (e instanceof NfctError) return e.code;
  return (e as { code?: unknown })?.code === undefined ? 'unknown' : String((e as { code: unknown }).code);
}

/** Builds an exporter; nothing is read until the first scrape (except the streams it starts). */
export async function createExporter(options: ExporterOptions = {}): Promise<Exporter> {
  const raw: unknown = options;
  assertObject(raw, 'createExporter() options');
  assertKnownKeys(raw, ['namespaces', 'concurrency', 'maxNamespaces', 'perCpu', 'events', 'nflogGroups', 'maxPrefixes',
    'maxStreams', 'registry', 'processMetrics', 'flows', 'podLogDir'], 'createExporter() options');
  const podLogDir = podLogDirOption(options.podLogDir, 'createExporter() options.podLogDir');
  const select = options.namespaces ?? 'all';
  if (select !== 'all' && typeof select !== 'function') {
    throw new TypeError(
      `createExporter() options.namespaces must be 'all' or a function, got ${describeValue(select)}`,
    );
  }
  const concurrency = optionalInteger(options.concurrency, 'createExporter() options.concurrency', 1, 1024) ??
    DEFAULT_CONCURRENCY;
  const maxNamespaces = optionalInteger(options.maxNamespaces, 'createExporter() options.maxNamespaces', 1, 100_000) ??
    512;
  const perCpu = boolean(options.perCpu, 'createExporter() options.perCpu') ?? false;
  const events = boolean(options.events, 'createExporter() options.events') ?? false;
  const maxPrefixes = optionalInteger(options.maxPrefixes, 'createExporter() options.maxPrefixes', 1, 10_000) ?? 32;
  const maxStreams = optionalInteger(options.maxStreams, 'createExporter() options.maxStreams', 0, 100_000) ?? 256;
  const processMetrics = boolean(options.processMetrics, 'createExporter() options.processMetrics') ?? true;
  const givenGroups: unknown = options.nflogGroups ?? [];
  if (!Array.isArray(givenGroups)) {
    throw new TypeError(`createExporter() options.nflogGroups must be an array, got ${describeValue(givenGroups)}`);
  }
  const groups = givenGroups.map((g: unknown, i) => integer(g, `createExporter() options.nflogGroups[${i}]`, 0, 65535));
  const client = promClient();
  const { Counter, Gauge, Registry } = client;
  const registry = options.registry ?? new Registry();
  if (!(registry instanceof Registry)) {
    throw new TypeError('createExporter() options.registry must be a prom-client Registry');
  }
  if (processMetrics) registerProcessMetrics(registry, client);
  const flows = options.flows === undefined ? undefined : await startFlowExport(options.flows, registry, client);

  const tracked = new Map<number, Tracked>();
  let closed = false;
  let streams = 0;
  let pending: Promise<Snapshot> | undefined;

  /** Starts the event and NFLOG counters of a namespace, within the stream bound. */
  const startStreams = async (t: Tracked): Promise<void> => {
    if (events && !t.events && streams < maxStreams && t.ct) {
      // Counted on the reader thread: no object per event (at 50k events/s an object stream
      // kept the collector's heap growing for minutes).
      const counter = t.ct.countEvents();
      streams++;
      t.events = counter;
      counter.done.catch((e: unknown) => {
        t.streamError = errorCode(e);
      });
    }
    if (flows && t.ct && !flows.has(t.ns.inode) && streams < maxStreams) {
      flows.start(t.ns.inode, t.label, t.ct);
      streams++;
    }
    if (groups.length > 0 && !t.nflog && streams + groups.length <= maxStreams) {
      const nf = await Nflog.open({ netns: t.ns.path });
      const state = { nf, subs: new Map<number, { close(): void; stats: StreamStats }>(),
        packets: new Map<string, number>() };
      t.nflog = state;
      for (const group of groups) {
        const sub = nf.subscribe({ group, copy: 'meta', sequence: true });
        streams++;
        state.subs.set(group, sub);
        const prefixes = new Set<string>();
        void (async () => {
          try {
            for await (const item of sub) {
              if (item.type === 'packet') {
                let prefix = (item.prefix ?? '').trim();
                if (!prefixes.has(prefix)) {
                  if (prefixes.size < maxPrefixes) prefixes.add(prefix);
                  else prefix = OTHER_PREFIX;
                }
                const key = `${group}\0${prefix}`;
                state.packets.set(key, (state.packets.get(key) ?? 0) + 1);
              }
            }
          } catch (e) {
            t.streamError = errorCode(e);
          }
        })();
      }
    }
  };

  const forget = (t: Tracked): void => {
    if (flows?.stop(t.ns.inode)) streams--;
    // Each close() releases its socket at once; what it resolves is not waited for here.
    if (t.events) {
      void t.events.close();
      streams--;
    }
    if (t.nflog) {
      for (const sub of t.nflog.subs.values()) sub.close();
      streams -= t.nflog.subs.size;
      void t.nflog.nf.close();
    }
    void t.ct?.close();
  };

  const refresh = async (): Promise<Snapshot> => {
    const started = performance.now();
    const found = await listNamespaces({ podLogDir });
    const chosen = select === 'all' ? found : found.filter(select);
    const kept = chosen.slice(0, maxNamespaces);
    const live = new Set(kept.map((n) => n.inode));
    for (const [inode, t] of tracked) {
      if (!live.has(inode)) {
        forget(t);
        tracked.delete(inode);
      }
    }
    const errors = new Map<string, number>();
    const settled = await mapSettled(kept, async (ns) => {
      let t = tracked.get(ns.inode);
      if (!t) {
        t = { ns, label: '' };
        tracked.set(ns.inode, t);
      }
      t.ns = ns;
      t.label = namespaceLabel(ns);
      t.ct ??= await Conntrack.open({ netns: ns.path });
      await startStreams(t).catch((e: unknown) => {
        t.streamError = errorCode(e);
      });
      const [usage, stats] = await Promise.all([t.ct.usage(), t.ct.stats()]);
      return { t, count: usage.count, max: usage.max, stats };
    }, concurrency);
    const rows: Snapshot['rows'] = [];
    for (const t of tracked.values()) {
      if (t.streamError === undefined) continue;
      const code = `stream:${t.streamError}`;
      errors.set(code, (errors.get(code) ?? 0) + 1);
      t.streamError = undefined;
    }
    for (const s of settled) {
      if (s.ok) rows.push(s.value);
      else {
        // Vanished since it was listed, or not ours to read: skipped this time, counted.
        const code = errorCode(s.error);
        errors.set(code, (errors.get(code) ?? 0) + 1);
        const t = tracked.get(s.item.inode);
        if (t) {
          forget(t);
          tracked.delete(s.item.inode);
        }
      }
    }
    return { rows, discovered: found.length, skipped: chosen.length - kept.length, errors,
      duration: (performance.now() - started) / 1000 };
  };

  /** One refresh per scrape: every metric's collect() of one registry.metrics() call shares it. */
  const snapshot = (): Promise<Snapshot | undefined> => {
    if (closed) return Promise.resolve(undefined);
    pending ??= refresh().then(
      (s) => {
        pending = undefined;
        return s;
      },
      (e: unknown) => {
        pending = undefined;
        throw e;
      },
    );
    return pending;
  };

  const nsLabels = ['netns'] as const;
  const statLabels = perCpu ? (['netns', 'cpu'] as const) : nsLabels;
  const errorTotals = new Map<string, number>();

  /** A collect() that fills the metric afresh from this scrape's snapshot. */
  const fromSnapshot = <M extends { reset(): void }>(fill: (m: M, s: Snapshot) => void) =>
    async function collect(this: M): Promise<void> {
      const s = await snapshot();
      this.reset();
      if (s) fill(this, s);
    };
  const gauge = (name: string, help: string, labelNames: readonly string[],
    fill: (g: Gauge, s: Snapshot) => void): void =>
    void new Gauge({ name, help, labelNames, registers: [registry], collect: fromSnapshot(fill) });
  const counter = (name: string, help: string, labelNames: readonly string[],
    fill: (c: Counter, s: Snapshot) => void): void =>
    void new Counter({ name, help, labelNames, registers: [registry], collect: fromSnapshot(fill) });

  gauge('nfct_netns_info',
    'Always 1, one series per network namespace exported: its inode, its ip netns names (comma-separated) and the Kubernetes pod (name, namespace, UID) where the node tells it; join on netns.',
    ['netns', 'inode', 'names', 'pod', 'pod_namespace', 'pod_uid'], (g, s) => {
    for (const { t } of s.rows) {
      g.set({ netns: t.label, inode: String(t.ns.inode), names: t.ns.names.join(','), pod: t.ns.pod?.name ?? '',
        pod_namespace: t.ns.pod?.namespace ?? '', pod_uid: t.ns.podUid ?? '' }, 1);
    }
  });
  gauge('nfct_conntrack_entries',
    "Connections tracked in the namespace's conntrack table now (conntrack -C), in entries.", nsLabels, (g, s) => {
    for (const r of s.rows) g.set({ netns: r.t.label }, r.count);
  });
  gauge('nfct_conntrack_entries_limit',
    "The most entries the namespace's conntrack table may hold (nf_conntrack_max, counted per namespace), in entries; past it new connections are dropped.",
    nsLabels, (g, s) => {
    for (const r of s.rows) if (r.max !== null) g.set({ netns: r.t.label }, r.max);
  });
  for (const stat of CPU_STAT_COUNTERS) {
    counter(`nfct_conntrack_stat_${stat}_total`,
      `${CPU_STAT_HELP[stat]} (conntrack -S ${stat}, ${perCpu ? 'per CPU' : 'summed over CPUs'}), a count.`, statLabels,
      (c, s) => {
        for (const r of s.rows) {
          if (perCpu) { for (const row of r.stats) c.inc({ netns: r.t.label, cpu: String(row.cpu) }, row[stat]); }
          else c.inc({ netns: r.t.label }, r.stats.reduce((sum, row) => sum + row[stat], 0));
        }
      });
  }
  if (events) {
    counter('nfct_conntrack_events_total',
      'Conntrack events received from the kernel, by type (new, update, destroy), a count of events.', ['netns',
      'type'], (c, s) => {
      for (const { t } of s.rows) {
        if (t.events) {
          for (const [type, n] of Object.entries(t.events.counts)) c.inc({ netns: t.label, type }, n ?? 0);
        }
      }
    });
    counter('nfct_conntrack_event_overruns_total',
      'Times conntrack events were lost (a full socket buffer or queue), a count of losses, not of events: the kernel does not say how many each time.',
      nsLabels, (c, s) => {
      for (const { t } of s.rows) if (t.events) c.inc({ netns: t.label }, t.events.stats.overruns);
    });
    gauge('nfct_conntrack_events_queued',
      'Conntrack events read from the kernel and waiting for the exporter to count them now, in events.', nsLabels,
      (g, s) => {
        for (const { t } of s.rows) if (t.events) g.set({ netns: t.label }, t.events.stats.queuedRecords);
      });
    gauge('nfct_conntrack_events_queued_bytes', 'Memory the waiting conntrack events take now, in bytes.', nsLabels,
      (g, s) => {
        for (const { t } of s.rows) if (t.events) g.set({ netns: t.label }, t.events.stats.queuedBytes);
      });
  }
  if (groups.length > 0) {
    counter('nfct_nflog_packets_total',
      `NFLOG packets received, by group and log prefix (at most ${maxPrefixes} prefixes per namespace and group, the rest as "${OTHER_PREFIX}"), a count of packets.`,
      ['netns', 'group', 'prefix'], (c, s) => {
      for (const { t } of s.rows) {
        for (const [key, n] of t.nflog?.packets ?? []) {
          const [group, prefix] = key.split('\0') as [string, string];
          c.inc({ netns: t.label, group, prefix }, n);
        }
      }
    });
    counter('nfct_nflog_packets_lost_total',
      'NFLOG packets the kernel dropped before the exporter read them, counted exactly from the sequence numbers, in packets.',
      ['netns', 'group'], (c, s) => {
      for (const { t } of s.rows) {
        for (const [g, sub] of t.nflog?.subs ?? []) c.inc({ netns: t.label, group: String(g) }, sub.stats.lost ?? 0);
      }
    });
    counter('nfct_nflog_overruns_total',
      'Times NFLOG packets were lost (a full socket buffer or queue), a count of losses; nfct_nflog_packets_lost_total has the packets.',
      ['netns', 'group'], (c, s) => {
      for (const { t } of s.rows) {
        for (const [g, sub] of t.nflog?.subs ?? []) c.inc({ netns: t.label, group: String(g) }, sub.stats.overruns);
      }
    });
  }
  gauge('nfct_exporter_namespaces',
    'Network namespaces found on the node at the last scrape, exported or not, a count.', [],
    (g, s) => g.set(s.discovered));
  gauge('nfct_exporter_namespaces_skipped',
    `Namespaces found but not exported at the last scrape because of the maxNamespaces bound (${maxNamespaces}), a count.`,
    [], (g, s) => g.set(s.skipped));
  counter('nfct_exporter_namespace_errors_total',
    'Namespaces that could not be read at a scrape (most often gone since they were listed), by error code; an event or NFLOG stream that failed counts as stream:CODE; a count of namespaces.',
    ['code'], (c, s) => {
    for (const [code, n] of s.errors) errorTotals.set(code, (errorTotals.get(code) ?? 0) + n);
    s.errors.clear();
    for (const [code, n] of errorTotals) c.inc({ code }, n);
  });
  gauge('nfct_exporter_scrape_duration_seconds', 'How long the last scrape took to read every namespace, in seconds.',
    [], (g, s) => g.set(s.duration));

  const metrics = async (): Promise<string> => registry.metrics();

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path !== '/metrics' && path !== '/') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: the metrics are at /metrics\n');
      return;
    }
    metrics().then(
      (text) => {
        res.writeHead(200, { 'content-type': registry.contentType });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      (e: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain' }).end(
          `scrape failed: ${e instanceof Error ? e.message : String(e)}\n`,
        );
      },
    );
  };

  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await pending?.catch(() => undefined);
    for (const t of tracked.values()) forget(t);
    tracked.clear();
    await flows?.close();
  };

  return { registry, handler, metrics, close, [Symbol.asyncDispose]: close };
}
