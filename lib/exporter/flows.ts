// The exporter's flow records (createExporter({ flows })): a flow stream in every namespace it
// tracks, every record sent as IPFIX to the collectors (each namespace its own observation
// domain), so that one process per node gives metrics and flows. Records never go through
// Prometheus: it gets their counts, the overruns and what each collector was sent and lost.
import type { Counter as PromCounter, Gauge as PromGauge, Registry } from 'prom-client';

import type { Conntrack } from '../conntrack/handle.js';
import { NfctError } from '../core/errors.js';
import { assertKnownKeys, assertObject, describeValue, optionalInteger } from '../core/validate.js';
import { IpfixExporter } from '../flows/exporter.js';
import type { FlowRecordStream } from '../flows/stream.js';

/**
 * ExporterOptions.flows: where the exporter sends every namespace's finished connections as
 * IPFIX flow records (`nfct exporter --ipfix`), and whether it turns accounting on for them.
 */
export interface FlowExportOptions {
  /** IPFIX collectors: `HOST:PORT` (UDP), `udp://HOST:PORT`, `tcp://HOST:PORT`. */
  collectors: readonly string[];
  /** Turn on nf_conntrack_acct and nf_conntrack_timestamp where they are off (default 'keep'). */
  sysctls?: 'enable' | 'keep';
  /** Seconds: records of connections still open (see FlowsOptions.activeTimeout). */
  activeTimeout?: number;
}

interface Running {
  label: string;
  stream: FlowRecordStream;
  records: number;
  overruns: number;
}

export interface FlowExport {
  /** Whether the namespace has a flow stream. */
  has(inode: number): boolean;
  /** Starts the namespace's flow stream. */
  start(inode: number, label: string, ct: Conntrack): void;
  /** Stops it; true when there was one. */
  stop(inode: number): boolean;
  close(): Promise<void>;
}

/** Validates the options, opens the collectors and registers the flow metrics. */
export async function startFlowExport(options: FlowExportOptions, registry: Registry,
  prom: typeof import('prom-client')): Promise<FlowExport>
{
  const where = 'createExporter() options.flows';
  assertObject(options, where);
  assertKnownKeys(options, ['collectors', 'sysctls', 'activeTimeout'], where);
  const sysctls = options.sysctls ?? 'keep';
  if (sysctls !== 'enable' && sysctls !== 'keep') {
    throw new TypeError(`${where}.sysctls must be 'enable' or 'keep', got ${describeValue(sysctls)}`);
  }
  const activeTimeout = optionalInteger(options.activeTimeout, `${where}.activeTimeout`, 1, 86_400);
  const ipfix = await IpfixExporter.open({ collectors: options.collectors });
  const running = new Map<number, Running>();
  /** Totals of namespaces whose stream ended, so that counters do not go back. */
  const ended = new Map<string, { records: number; overruns: number }>();
  const errors = new Map<string, number>();

  const { Counter, Gauge } = prom;
  const perNs = (
    fill: (c: { inc(l: Record<string, string>, n: number): void }, r: { records: number; overruns: number },
      label: string) => void,
  ) =>
    function collect(this: { reset(): void; inc(l: Record<string, string>, n: number): void }): void {
      this.reset();
      for (const [label, r] of ended) fill(this, r, label);
      for (const r of running.values()) fill(this, r, r.label);
    };
  new Counter({ name: 'nfct_flow_records_total',
    help:
      'Flow records (finished connections, and active-timeout records) read and exported as IPFIX, a count of records.',
    labelNames: ['netns'], registers: [registry], collect: perNs((c, r, netns) => c.inc({ netns }, r.records)) });
  new Counter({
    name: 'nfct_flow_overruns_total',
    help:
      'Times the kernel dropped DESTROY events of a flow stream (a full socket buffer), a count of losses: those connections have no record; the kernel does not say how many.',
    labelNames: ['netns'],
    registers: [registry],
    collect: perNs((c, r, netns) => c.inc({ netns }, r.overruns)),
  });
  type CollectorStats = IpfixExporter['stats']['collectors'][number];
  const perCollector = <M extends { reset(): void }>(fill: (m: M, s: CollectorStats) => void) =>
    function collect(this: M): void {
      this.reset();
      for (const s of ipfix.stats.collectors) fill(this, s);
    };
  new Counter({
    name: 'nfct_ipfix_records_sent_total',
    help: 'IPFIX data records handed to the kernel for each collector, a count of records.',
    labelNames: ['collector'],
    registers: [registry],
    collect: perCollector<PromCounter<'collector'>>((c, s) => c.inc({ collector: s.collector }, s.records)),
  });
  new Counter({
    name: 'nfct_ipfix_records_lost_total',
    help:
      'IPFIX data records dropped for each collector (a failed send, a UDP message the collector host refused, a full queue while a TCP collector is away), a count of records.',
    labelNames: ['collector'],
    registers: [registry],
    collect: perCollector<PromCounter<'collector'>>((c, s) => c.inc({ collector: s.collector }, s.lost)),
  });
  new Counter({
    name: 'nfct_ipfix_reconnects_total',
    help: 'TCP connections to a collector made again after one broke, a count.',
    labelNames: ['collector'],
    registers: [registry],
    collect: perCollector<PromCounter<'collector'>>((c, s) => c.inc({ collector: s.collector }, s.reconnects)),
  });
  new Gauge({
    name: 'nfct_ipfix_collector_up',
    help: 'Whether the collector socket is set up (TCP: connected): 1 when it is, 0 when not.',
    labelNames: ['collector'],
    registers: [registry],
    collect: perCollector<PromGauge<'collector'>>((c, s) => c.set({ collector: s.collector }, s.connected ? 1 : 0)),
  });
  new Counter({ name: 'nfct_flow_stream_errors_total',
    help: 'Flow streams that failed, by error code, a count of streams.', labelNames: ['code'], registers: [registry],
    collect() {
      this.reset();
      for (const [code, n] of errors) this.inc({ code }, n);
    } });

  const retire = (inode: number): void => {
    const r = running.get(inode);
    if (!r) return;
    running.delete(inode);
    const e = ended.get(r.label) ?? { records: 0, overruns: 0 };
    ended.set(r.label, { records: e.records + r.records, overruns: e.overruns + r.overruns });
  };

  return {
    has: (inode) => running.has(inode),
    start(inode, label, ct) {
      const stream = ct.flows({ sysctls, activeTimeout });
      const r: Running = { label, stream, records: 0, overruns: 0 };
      running.set(inode, r);
      void (async () => {
        try {
          for await (const batch of stream.batches()) {
            ipfix.export(batch);
            for (const item of batch) {
              if (item.type === 'flow') r.records++;
              else r.overruns = item.overruns;
            }
          }
        } catch (e) {
          const code = e instanceof NfctError ? e.code : 'unknown';
          errors.set(code, (errors.get(code) ?? 0) + 1);
        } finally {
          await stream.close();
          if (running.get(inode) === r) retire(inode);
        }
      })();
    },
    stop(inode) {
      const r = running.get(inode);
      if (!r) return false;
      void r.stream.close().catch(() => undefined); // the loop above awaits it too
      retire(inode);
      return true;
    },
    async close() {
      const streams = [...running.values()].map((r) => r.stream);
      for (const inode of [...running.keys()]) retire(inode);
      await Promise.all(streams.map((s) => s.close()));
      await ipfix.close(500);
    },
  };
}
