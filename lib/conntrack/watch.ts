// ct.watch(): a live copy of the table in one call. It subscribes to events first, then reads
// the table, then applies each event as an upsert or a delete; after an overrun it reads the
// table again (the events' `resync`), and it checks from time to time the entries it has heard
// nothing of since it read them (an entry the kernel gave no event extension, made while no
// socket of the machine listened to conntrack events or while nf_conntrack_events was 0, never
// sends one, not even when it goes).
import { untilDeadline } from '../core/concurrency.js';
import type { CallSite } from '../core/errors.js';
import type { NativeConntrack } from '../core/native.js';
import { LIVE_STREAM_KEYS, type LiveStreamOptions, normalizeLiveOptions, type StreamStats } from '../core/stream.js';
import { assertObject, boolean, describeValue, list } from '../core/validate.js';
import { type ConntrackEvent, type EventOwner, EventStream } from './events.js';
import { FILTER_KEYS, type FlowFilter, normalizeFilter } from './filter.js';
import { flowKey } from './key.js';
import { statusBit } from './status.js';
import type { Flow, TcpState } from './types.js';

/** Options of ct.watch(): which flows (a FlowFilter), how to read, how often to check. */
export interface WatchOptions extends FlowFilter, LiveStreamOptions {
  /**
   * Seconds between checks of the entries heard nothing of since they were read (default 60;
   * 0: never). An entry made while no socket of the machine listened to conntrack events
   * (nf_conntrack_events=2, the default) or while nf_conntrack_events was 0 sends no event, not
   * even a destroy; such entries are found gone by reading the table again. Only entries of the
   * first snapshot can be such, and the table is read again only while one of them has not
   * been heard of: a watch started on an empty table never does.
   */
  refresh?: number;
  /** Attach the filter's kernel-side part as a socket BPF program (default true). */
  kernelFilter?: boolean;
}

/**
 * The whole table (the flows matching the filter), to hold instead of whatever was held: the
 * first item (`reason: 'start'`), and again after the kernel dropped events (`'overrun'`: read
 * once the loss was seen, so nothing is missing from it).
 */
export interface WatchSnapshot {
  /** Tells a snapshot from a change. */
  type: 'snapshot';
  /** 'start': the first table read; 'overrun': read again after the kernel dropped events. */
  reason: 'start' | 'overrun';
  /** Every entry the watch now holds (those matching its filter). */
  flows: Flow[];
  /** Overruns so far on this watch. */
  overruns: number;
}

/**
 * One change to the table as the watch holds it, by key (flowKey()): 'new' an entry it did not
 * hold, 'update' one it holds (its new state), 'destroy' one that left it. The kernel's event
 * decides what happens, the table decides the name: a kernel 'new' for an entry the snapshot
 * already held is an 'update', and a destroy of an entry it never held is not given at all.
 */
export interface WatchChange {
  /** What happened to the entry in the table the watch holds: added, changed, or gone. */
  type: 'new' | 'update' | 'destroy';
  /** flowKey(flow). */
  key: string;
  /** The entry as the event reported it (for 'destroy', as it was last). */
  flow: Flow;
  /** Nanoseconds since the epoch: the event's time, or when a refresh found the entry gone. */
  timestamp: bigint;
  /**
   * 'event': a conntrack event said so (with a filter on `mark`, `status`, `state` or `labels`, a
   * 'destroy' may also be an entry that no longer matches). 'refresh': the entry was heard
   * nothing of since it was read, and reading the table again found it gone.
   */
  origin: 'event' | 'refresh';
}

/** What a watch() gives: a whole table to hold (snapshot), or one change to the table held. */
export type WatchItem = WatchSnapshot | WatchChange;

/** @internal What watch() needs of its handle. */
export interface WatchOwner extends EventOwner {
  list(filter: FlowFilter): AsyncIterable<Flow> & { toArray(): Promise<Flow[]> };
}

const WATCH_KEYS = ['refresh', 'kernelFilter', ...LIVE_STREAM_KEYS];
/** The filter fields an entry can change while it lives (matched here, not by the socket). */
const MUTABLE = new Set<string>(['mark', 'status', 'state', 'labels']);

/** The part of the filter no update can change the answer of; `state` implies TCP. */
function immutablePart(filter: FlowFilter): FlowFilter {
  const out: Record<string, unknown> = {};
  for (const k of FILTER_KEYS) if (filter[k] !== undefined && !MUTABLE.has(k)) out[k] = filter[k];
  if (filter.state !== undefined && out.protocol === undefined) out.protocol = 'tcp';
  return out;
}

/** A test of the mutable fields (mark, status, state, labels), or undefined when there are none. */
function mutableMatcher(filter: FlowFilter): ((f: Flow) => boolean) | undefined {
  const tests: ((f: Flow) => boolean)[] = [];
  const { mark, status, state, labels } = filter;
  if (mark !== undefined) {
    const [value, mask] = typeof mark === 'number' ? [mark, 0xffffffff] : [mark.value, mark.mask];
    tests.push((f) => (((f.mark ?? 0) & mask) >>> 0) === value >>> 0);
  }
  if (status !== undefined) {
    let bits = 0;
    for (const name of list(status, 'status')) bits |= 1 << statusBit(name)!;
    tests.push((f) => ((f.status.bits & bits) >>> 0) === bits >>> 0);
  }
  if (state !== undefined) {
    const states = new Set(list(state, 'state').map((s) => s.toUpperCase() as TcpState));
    tests.push((f) => f.protocol === 'tcp' && f.tcp !== undefined && states.has(f.tcp.state));
  }
  if (labels !== undefined) {
    const bits = list(labels, 'labels');
    tests.push((f) => bits.every((b) => f.labels?.includes(b) === true));
  }
  return tests.length === 0 ? undefined : (f) => tests.every((t) => t(f));
}

/** Validates watch() options; returns what TableWatch needs. */
export function normalizeWatchOptions(options: WatchOptions) {
  const where = 'watch() options';
  assertObject(options, where);
  // The whole filter is checked as list() checks it, before the parts are taken apart.
  normalizeFilter(options, where, WATCH_KEYS);
  const filter: FlowFilter = {};
  for (const k of FILTER_KEYS) if (options[k] !== undefined) (filter as Record<string, unknown>)[k] = options[k];
  const nativeFilter = normalizeFilter(immutablePart(filter), where);
  nativeFilter.kernel = boolean(options.kernelFilter, `${where}.kernelFilter`) ?? true;
  const { tuning, signal } = normalizeLiveOptions(options, where);
  let refresh = 60;
  if (options.refresh !== undefined) {
    if (typeof options.refresh !== 'number' || !Number.isFinite(options.refresh)) {
      throw new TypeError(`${where}.refresh must be a number of seconds, got ${describeValue(options.refresh)}`);
    }
    if (options.refresh < 0 || options.refresh > 86_400) {
      throw new RangeError(`${where}.refresh must be between 0 and 86400 seconds, got ${options.refresh}`);
    }
    refresh = options.refresh;
  }
  return { filter, nativeFilter, matches: mutableMatcher(filter), tuning, signal, refreshMs: refresh * 1000 };
}

const DONE: IteratorReturnResult<undefined> = { value: undefined, done: true };
const nowNs = (): bigint => BigInt(Date.now()) * 1_000_000n;

/**
 * A live copy of the table (ct.watch()). Iterate it once with `for await`: a snapshot first,
 * then changes, each already applied to `flows` when it is given out. `break`, `close()`, the
 * signal and the handle's close() end it.
 */
export class TableWatch implements AsyncIterableIterator<WatchItem>, AsyncDisposable {
  /**
   * Resolves once the table is read and in `flows` (the snapshot is then the first item);
   * rejects as the first `next()` does when it could not be read.
   */
  readonly ready: Promise<void>;
  readonly #events: EventStream;
  readonly #owner: WatchOwner;
  readonly #filter: FlowFilter;
  readonly #matches: ((f: Flow) => boolean) | undefined;
  readonly #refreshMs: number;
  readonly #table = new Map<string, Flow>();
  /** Keys read from a table and heard nothing of since. */
  readonly #silent = new Set<string>();
  #out: WatchItem[] = [];
  #at = 0;
  #pending: Promise<IteratorResult<ConntrackEvent>> | undefined;
  #nextRefresh = Infinity;
  #done = false;

  private constructor(native: NativeConntrack, owner: WatchOwner, o: ReturnType<typeof normalizeWatchOptions>,
    site: CallSite)
  {
    this.#owner = owner;
    this.#filter = o.filter;
    this.#matches = o.matches;
    this.#refreshMs = o.refreshMs;
    // Subscribed first: whatever changes while the table is read comes as an event after it.
    this.#events = EventStream.forWatch(native, owner, o.filter, o.nativeFilter, o.tuning, o.signal, site);
    this.ready = this.#start();
    this.ready.catch(() => undefined); // the failure is the first next()'s
  }

  /** @internal */
  static start(native: NativeConntrack, owner: WatchOwner, options: WatchOptions, site: CallSite): TableWatch {
    return new TableWatch(native, owner, normalizeWatchOptions(options), site);
  }

  async #start(): Promise<void> {
    const flows: Flow[] = [];
    for await (const f of this.#owner.list(this.#filter)) {
      if (this.#done) return;
      flows.push(f);
    }
    for (const f of flows) {
      const key = flowKey(f);
      this.#table.set(key, f);
      this.#silent.add(key);
    }
    this.#out.push({ type: 'snapshot', reason: 'start', flows, overruns: 0 });
    if (this.#refreshMs > 0) this.#nextRefresh = Date.now() + this.#refreshMs;
  }

  /** The table as of the last item given out (after `ready`, the snapshot), by flowKey(). */
  get flows(): ReadonlyMap<string, Flow> {
    return this.#table;
  }

  /** Times the kernel dropped events (each followed by a snapshot). */
  get overruns(): number {
    return this.#events.overruns;
  }

  /** The event stream's counters. */
  get stats(): StreamStats {
    return this.#events.stats;
  }

  /** The watch itself: `for await (const item of watch)` reads it (once). */
  [Symbol.asyncIterator](): this {
    return this;
  }

  /** The next snapshot or change, waiting for one; done once the watch is closed. */
  async next(): Promise<IteratorResult<WatchItem>> {
    try {
      await this.ready;
    } catch (e) {
      await this.close();
      throw e;
    }
    for (;;) {
      if (this.#at < this.#out.length) {
        const item = this.#out[this.#at++]!;
        if (this.#at === this.#out.length) {
          this.#out = [];
          this.#at = 0;
        }
        return { value: item, done: false };
      }
      if (this.#done) return DONE;
      const refreshAt = this.#silent.size > 0 ? this.#nextRefresh : Infinity;
      if (Date.now() >= refreshAt) {
        await this.#refresh();
        continue;
      }
      this.#pending ??= this.#events.next();
      // A failed stream ends the watch: it is closed before the error is thrown.
      const r = await untilDeadline(this.#pending, refreshAt).catch(async (e: unknown) => {
        this.#pending = undefined;
        await this.close();
        throw e;
      });
      if (r === undefined) continue; // time to refresh
      this.#pending = undefined;
      if (r.done) {
        await this.close();
        return DONE;
      }
      this.#apply(r.value);
    }
  }

  #apply(ev: ConntrackEvent): void {
    if (ev.type === 'resync') {
      const keys = new Set<string>();
      this.#table.clear();
      for (const f of ev.flows) {
        const key = flowKey(f);
        keys.add(key);
        this.#table.set(key, f);
      }
      // Only entries from the first read can be silent: later ones were made while listened to.
      for (const k of this.#silent) if (!keys.has(k)) this.#silent.delete(k);
      this.#out.push({ type: 'snapshot', reason: 'overrun', flows: ev.flows, overruns: this.#events.overruns });
      return;
    }
    if (!('flow' in ev)) return; // an overrun: the snapshot follows
    const key = flowKey(ev.flow);
    this.#silent.delete(key);
    const held = this.#table.has(key);
    if (ev.type === 'destroy' || (this.#matches !== undefined && !this.#matches(ev.flow))) {
      if (!held) return;
      this.#table.delete(key);
      this.#out.push({ type: 'destroy', key, flow: ev.flow, timestamp: ev.timestamp, origin: 'event' });
      return;
    }
    this.#table.set(key, ev.flow);
    this.#out.push({ type: held ? 'update' : 'new', key, flow: ev.flow, timestamp: ev.timestamp, origin: 'event' });
  }

  /** Reads the table again; the silent entries it lacks are gone. */
  async #refresh(): Promise<void> {
    const present = new Set<string>();
    for await (const f of this.#owner.list(this.#filter)) {
      if (this.#done) return;
      const key = flowKey(f);
      if (this.#silent.has(key)) present.add(key);
    }
    const timestamp = nowNs();
    for (const key of [...this.#silent]) {
      if (present.has(key)) continue;
      this.#silent.delete(key);
      const flow = this.#table.get(key);
      if (!flow) continue;
      this.#table.delete(key);
      this.#out.push({ type: 'destroy', key, flow, timestamp, origin: 'refresh' });
    }
    this.#nextRefresh = Date.now() + this.#refreshMs;
  }

  /** Ends the watch (what `break` in a `for await` loop calls), as close() does. */
  async return(): Promise<IteratorResult<WatchItem>> {
    await this.close();
    return DONE;
  }

  /** Ends the watch and releases its socket; `flows` keeps the table as it was. Idempotent. */
  async close(): Promise<void> {
    if (this.#done) return;
    this.#done = true;
    this.#out = [];
    this.#at = 0;
    await this.#events.close();
  }

  /** Ends the watch when the `await using` block that declared it ends, as close() does. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
