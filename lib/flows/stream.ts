// ct.flows(): one record per finished connection, read from the kernel's DESTROY events only
// (the reader joins NFNLGRP_CONNTRACK_DESTROY and no other group, and the filter's kernel part
// runs as the socket's BPF program), optionally with active-timeout records of long-lived
// connections from a periodic dump. Records come a native batch at a time; overruns are items.
import { type FlowFilter, normalizeFilter } from '../conntrack/filter.js';
import { decodeFlows, recordEventTime, recordPortId } from '../conntrack/flow.js';
import type { Counters, Flow } from '../conntrack/types.js';
import { deprecated } from '../core/deprecate.js';
import type { CallSite } from '../core/errors.js';
import { FlowKindFlags, FlowWord } from '../core/layout.js';
import type { NativeConntrack } from '../core/native.js';
import { listNamespaces, namespaceLabel } from '../core/netns-discovery.js';
import { BatchSource } from '../core/reader.js';
import { LIVE_STREAM_KEYS, type LiveStreamOptions, normalizeLiveOptions, type StreamStats } from '../core/stream.js';
import { assertObject, boolean, describeValue, optionalInteger } from '../core/validate.js';
import { destroyReason, type FlowNamespace, type FlowRecord, makeRecord } from './record.js';
import { type FlowSysctl, holdFlowSysctls, namespaceInode, type SysctlState } from './settings.js';

export interface FlowsOptions extends FlowFilter, LiveStreamOptions {
  /**
   * `'keep'` (default): change nothing; `missing` says which of nf_conntrack_acct and
   * nf_conntrack_timestamp are off (records then lack counters or start times). `'enable'`: turn
   * on those that are off in the namespace, put back when the stream closes (or the process
   * exits; the last of several holders puts them back). Either takes effect for connections
   * created after it: the kernel attaches counters and timestamps when an entry is created.
   */
  sysctls?: 'enable' | 'keep';
  /**
   * Seconds: also a record for each connection still open after this long, and again each
   * period, counting what it did since its previous record (reason 'active-timeout'); read by
   * a dump of the table every period. Off by default.
   */
  activeTimeout?: number;
  /** Attach the filter's kernel-side part as a socket BPF program (default true). */
  kernelFilter?: boolean;
}

/** The kernel dropped DESTROY events (a full socket buffer): those connections have no record. */
export interface FlowOverrun {
  /** Tells this notice from a record. */
  type: 'overrun';
  /** When it was seen, nanoseconds since the epoch. */
  time: bigint;
  /** Overruns so far on this stream (the kernel does not say how many events each lost). */
  overruns: number;
  /** The socket receive buffer now (0: unchanged). */
  bufferSize: number;
}

/** An item of ct.flows(): a record, or a notice that records were lost. */
export type FlowItem = FlowRecord | FlowOverrun;

const FLOWS_KEYS = ['sysctls', 'activeTimeout', 'kernelFilter', ...LIVE_STREAM_KEYS];
const DESTROY_GROUP = 1 << 3; // NFNLGRP_CONNTRACK_DESTROY
const BATCH = 1024;
const { FLOW_WORDS, FLOW_KIND } = FlowWord;
const { FLOW_KIND_TS_RECEIVED } = FlowKindFlags;

/** @internal What flows() needs of its handle. */
export interface FlowsOwner {
  readonly netnsPath: string | null;
  list(filter: FlowFilter): { batches(): AsyncGenerator<Flow[], void, undefined> };
  track(source: BatchSource): void;
  forget(source: BatchSource): void;
}

/** Validates flows() options. */
export function normalizeFlowsOptions(options: FlowsOptions) {
  const where = 'flows() options';
  assertObject(options, where);
  const nf = normalizeFilter(options, where, FLOWS_KEYS);
  const { tuning, signal } = normalizeLiveOptions(options, where);
  nf.kernel = boolean(options.kernelFilter, `${where}.kernelFilter`) ?? true;
  const sysctls = options.sysctls ?? 'keep';
  if (sysctls !== 'enable' && sysctls !== 'keep') {
    throw new TypeError(`${where}.sysctls must be 'enable' or 'keep', got ${describeValue(sysctls)}`);
  }
  const activeTimeout = optionalInteger(options.activeTimeout, `${where}.activeTimeout`, 1, 86_400);
  const filter: FlowFilter = {};
  for (const [k, v] of Object.entries(options)) if (!FLOWS_KEYS.includes(k)) (filter as Record<string, unknown>)[k] = v;
  return { filter, nativeFilter: nf, tuning, signal, sysctls, activeTimeout };
}

/** What the active timeout remembers of an open connection, by its id. */
interface Seen {
  /** Counters at its last record (zero before the first). */
  base: { original: Counters; reply: Counters };
  /** End of its last record; undefined before the first. */
  reported: bigint | undefined;
  /** The dump rounds that first and last saw it. */
  first: number;
  round: number;
}

function zero(): { original: Counters; reply: Counters } {
  return { original: { packets: 0, bytes: 0 }, reply: { packets: 0, bytes: 0 } };
}

function minus(a: { original: Counters; reply: Counters }, b: { original: Counters; reply: Counters }) {
  return {
    original: { packets: a.original.packets - b.original.packets, bytes: a.original.bytes - b.original.bytes },
    reply: { packets: a.reply.packets - b.reply.packets, bytes: a.reply.bytes - b.reply.bytes },
  };
}

function nowNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

/** Describes a namespace for records (best effort: inode and path when it cannot be listed). */
async function describeNamespace(path: string | null): Promise<FlowNamespace> {
  const inode = namespaceInode(path);
  const all = await listNamespaces().catch(() => []);
  const ns = all.find((n) => n.inode === inode);
  if (!ns) return { inode, label: `inode:${inode}`, names: [], path: path ?? '/proc/self/ns/net' };
  const out: FlowNamespace = { inode, label: namespaceLabel(ns), names: ns.names, path: ns.path };
  if (ns.podUid !== undefined) out.podUid = ns.podUid;
  if (ns.containerIds.length > 0) out.containerIds = ns.containerIds;
  return out;
}

/**
 * Flow records of one namespace; iterate once with `for await` (or `batches()`). `ready`
 * settles once the sysctls are read (and enabled, with `sysctls: 'enable'`).
 */
export class FlowRecordStream implements AsyncIterableIterator<FlowItem>, AsyncDisposable {
  readonly #source: BatchSource;
  #items: FlowItem[] = [];
  #index = 0;
  #done = false;
  #overrunCount = 0;
  #recordCount = 0;
  #state: SysctlState | undefined;
  #namespace: FlowNamespace | undefined;
  readonly #seen = new Map<number, Seen>();
  #round = 0;
  #timer: NodeJS.Timeout | undefined;
  #dumping: Promise<FlowRecord[]> | undefined;
  #dumped: FlowRecord[] = [];
  #wake: (() => void) | undefined;
  readonly #onAbort = (): void => this.#end();
  /** Resolves what the namespace lacks and what was turned on; rejects when enabling failed. */
  readonly ready: Promise<{
    /** The sysctls that are off (what the records will lack), after enabling. */
    missing: FlowSysctl[];
    /** The sysctls the stream turned on (and turns off again when it ends). */
    enabled: FlowSysctl[];
    /** The namespace the stream observes. */
    netns: FlowNamespace;
  }>;

  readonly #owner: FlowsOwner;
  readonly #o: ReturnType<typeof normalizeFlowsOptions>;

  private constructor(native: NativeConntrack, owner: FlowsOwner, o: ReturnType<typeof normalizeFlowsOptions>,
    site: CallSite)
  {
    this.#owner = owner;
    this.#o = o;
    this.#source = new BatchSource(
      (onBatch) =>
        native.events(o.nativeFilter, DESTROY_GROUP, onBatch, { ...o.tuning, maxQueueRecords: 0, maxBatch: BATCH }),
      site,
      'conntrack flow records',
    );
    owner.track(this.#source);
    this.ready = (async () => {
      const [state, netns] = await Promise.all([holdFlowSysctls(owner.netnsPath, o.sysctls === 'enable'),
        describeNamespace(owner.netnsPath)]);
      this.#namespace = netns;
      if (this.#done) await state.release();
      else this.#state = state;
      return { missing: state.missing, enabled: state.enabled, netns };
    })();
    this.ready.catch(() => undefined); // surfaced by next()
    o.signal?.addEventListener('abort', this.#onAbort, { once: true });
    if (o.signal?.aborted) queueMicrotask(this.#onAbort);
    if (o.activeTimeout !== undefined) {
      this.#timer = setInterval(() => this.#tick(), o.activeTimeout * 1000);
      this.#timer.unref();
    }
  }

  /** @internal ct.flows() */
  static start(native: NativeConntrack, owner: FlowsOwner, options: FlowsOptions, site: CallSite): FlowRecordStream {
    return new FlowRecordStream(native, owner, normalizeFlowsOptions(options), site);
  }

  /** Overruns so far: times the kernel dropped DESTROY events. */
  get overruns(): number {
    return this.#overrunCount;
  }

  /** Records yielded so far. */
  get records(): number {
    return this.#recordCount;
  }

  /** The reader's counters (received, matched, overruns, queued, ...). */
  get stats(): StreamStats {
    return { ...this.#source.stats, lost: undefined };
  }

  /** The namespace's sysctls that are off: what its records lack (see FLOW_SYSCTLS). */
  get missing(): FlowSysctl[] {
    return this.#state?.missing ?? [];
  }

  /** Starts a dump for active timeouts (at most one at a time). */
  #tick(): void {
    if (this.#done || this.#dumping) return;
    const round = ++this.#round;
    this.#dumping = this.#activeRecords(round).finally(() => (this.#dumping = undefined));
    this.#dumping.then((records) => {
      this.#dumped.push(...records);
      this.#wake?.();
    }, () => undefined);
  }

  /** Records of the connections open long enough, from one dump. */
  async #activeRecords(round: number): Promise<FlowRecord[]> {
    const period = BigInt(this.#o.activeTimeout!) * 1_000_000_000n;
    const out: FlowRecord[] = [];
    for await (const batch of this.#owner.list(this.#o.filter).batches()) {
      const now = nowNs();
      for (const f of batch) {
        if (f.id === undefined) continue;
        const start = f.timestamp?.start;
        let s = this.#seen.get(f.id);
        if (!s) {
          // With a start time, a connection is remembered once it is reported; without one, it
          // is known to be a period old once a later dump sees it again.
          if (start !== undefined && now - start < period) continue;
          s = { base: zero(), reported: undefined, round, first: round };
          this.#seen.set(f.id, s);
          if (start === undefined) continue;
        }
        s.round = round;
        if (s.reported === undefined && start === undefined && s.first === round) continue;
        const counters = f.counters;
        const delta = counters ? minus(counters, s.base) : undefined;
        if (delta && s.reported !== undefined && delta.original.packets === 0 && delta.reply.packets === 0) continue;
        out.push(
          makeRecord(f, 'active-timeout', { time: now, source: 'dump' }, this.#namespace, delta, s.reported ?? start),
        );
        if (counters) s.base = counters;
        s.reported = now;
      }
    }
    // Connections the dump no longer holds (their DESTROY was lost): forgotten.
    for (const [id, s] of this.#seen) if (s.round !== round) this.#seen.delete(id);
    return out;
  }

  /** The records of one native batch of DESTROY events. */
  #decode(buffer: ArrayBuffer, strings: string, count: number, overruns: number, rcvbuf: number): FlowItem[] {
    const out: FlowItem[] = [];
    const words = new Uint32Array(buffer);
    const flows = decodeFlows(buffer, strings, count);
    for (let i = 0; i < flows.length; i++) {
      const f = flows[i]!;
      const received = ((words[i * FLOW_WORDS + FLOW_KIND]! >>> 24) & FLOW_KIND_TS_RECEIVED) !== 0;
      const end = { time: recordEventTime(words, i),
        source: received ? ('received' as const) : ('kernel-event' as const) };
      const s = f.id === undefined ? undefined : this.#seen.get(f.id);
      if (s?.reported !== undefined) {
        this.#seen.delete(f.id!);
        out.push(
          makeRecord(f, destroyReason(f, recordPortId(words, i)), end, this.#namespace,
            f.counters ? minus(f.counters, s.base) : undefined, s.reported),
        );
      } else {
        if (s) this.#seen.delete(f.id!);
        out.push(makeRecord(f, destroyReason(f, recordPortId(words, i)), end, this.#namespace));
      }
    }
    this.#recordCount += flows.length;
    if (overruns > 0) {
      this.#overrunCount += overruns;
      out.push({ type: 'overrun', time: nowNs(), overruns: this.#overrunCount, bufferSize: rcvbuf });
    }
    return out;
  }

  /**
   * The next batch of items (records of one native batch, or of one active-timeout dump), or
   * null at the end.
   */
  async nextBatch(): Promise<FlowItem[] | null> {
    if (this.#done) return null;
    await this.ready;
    for (;;) {
      if (this.#source.closed && !this.#done) this.#end();
      if (this.#done) return null;
      if (this.#dumped.length > 0) {
        const d = this.#dumped;
        this.#dumped = [];
        this.#recordCount += d.length;
        return d;
      }
      let batch;
      try {
        batch = this.#o.activeTimeout === undefined ? await this.#source.next() : await this.#raceDump();
      } catch (e) {
        this.#end();
        throw e;
      }
      if (batch === undefined) continue; // a dump finished
      if (batch === null) {
        this.#end();
        return null;
      }
      const items = this.#decode(batch.buffer, batch.strings, batch.count, batch.overruns, batch.rcvbuf);
      this.#source.release(batch);
      if (items.length > 0) return items;
    }
  }

  /** The next native batch, or undefined when an active-timeout dump finished first. */
  #pendingBatch: ReturnType<BatchSource['next']> | undefined;
  #raceDump(): Promise<Awaited<ReturnType<BatchSource['next']>> | undefined> {
    const p = (this.#pendingBatch ??= this.#source.next());
    return new Promise((resolve, reject) => {
      // Whichever comes first settles this call; a batch that comes after a dump stays
      // pending for the next call.
      let over = false;
      this.#wake = () => {
        if (over) return;
        over = true;
        this.#wake = undefined;
        resolve(undefined);
      };
      p.then(
        (b) => {
          if (over) return;
          over = true;
          this.#wake = undefined;
          this.#pendingBatch = undefined;
          resolve(b);
        },
        (e: unknown) => {
          if (over) return;
          over = true;
          this.#wake = undefined;
          this.#pendingBatch = undefined;
          reject(e);
        },
      );
    });
  }

  /** The stream a batch at a time (arrays of items). */
  async *batches(): AsyncGenerator<FlowItem[], void, undefined> {
    try {
      for (let b = await this.nextBatch(); b !== null; b = await this.nextBatch()) yield b;
    } finally {
      this.#end();
    }
  }

  /** The next item, waiting for the kernel's next batch when none is queued. */
  async next(): Promise<IteratorResult<FlowItem>> {
    while (this.#index >= this.#items.length) {
      const b = await this.nextBatch();
      if (b === null) return { value: undefined, done: true };
      this.#items = b;
      this.#index = 0;
    }
    return { value: this.#items[this.#index++]!, done: false };
  }

  /** Ends the stream (what `break` in a `for await` loop calls), as close() does. */
  async return(): Promise<IteratorResult<FlowItem>> {
    this.#end();
    return { value: undefined, done: true };
  }

  /** The stream itself: `for await (const item of ct.flows())`. */
  [Symbol.asyncIterator](): AsyncIterableIterator<FlowItem> {
    return this;
  }

  /**
   * Ends the stream and frees its socket; resolves once the sysctls it enabled are put back
   * (when it was their last holder). Idempotent.
   */
  async close(): Promise<void> {
    this.#end();
    await this.ready.catch(() => undefined);
    await this.#state?.release();
  }

  /** Ends the stream at once; the sysctls are let go of in the background. */
  #end(): void {
    if (this.#done) return;
    this.#done = true;
    this.#items = [];
    if (this.#timer) clearInterval(this.#timer);
    this.#o.signal?.removeEventListener('abort', this.#onAbort);
    this.#source.close();
    this.#owner.forget(this.#source);
    this.#wake?.();
    void this.#state?.release();
  }

  /** @deprecated since 0.2.0: close() now waits until the sysctls are put back (NFCT_DEP006). */
  async closeAndRestore(): Promise<void> {
    deprecated('NFCT_DEP006',
      'flows.closeAndRestore() is deprecated: flows.close() resolves once the sysctls are put back');
    await this.close();
  }

  /** Ends the stream when the `await using` block that declared it ends, as close() does. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
