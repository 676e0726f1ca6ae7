// Conntrack events as an async iterator that survives load: overruns (ENOBUFS) are items in
// the stream, the socket buffer grows after each, and with `resync` the current table follows.
import type { CallSite } from '../core/errors.js';
import { JsonItem } from '../core/json.js';
import type { NativeConntrack, NativeFilter, NativeStream, OnBatch, ReaderTuning } from '../core/native.js';
import { BatchSource, type RawBatch } from '../core/reader.js';
import { LIVE_STREAM_KEYS, LiveStream, type LiveStreamOptions, type LiveTuning, normalizeLiveOptions,
  type StreamStats } from '../core/stream.js';
import { assertObject, boolean, describeValue, list } from '../core/validate.js';
import { decodeExpectations, type Expectation, expectationEventTime, expectationMsgType } from './expect.js';
import { type FlowFilter, normalizeFilter } from './filter.js';
import { decodeFlows, recordEventTime, recordEventType, recordPortId } from './flow.js';
import type { Flow } from './types.js';

/**
 * What happened to a conntrack entry: created ('new'), changed ('update') or removed ('destroy').
 */
export type FlowEventType = 'new' | 'update' | 'destroy';
/** What happened to an expectation: created or removed. */
export type ExpectationEventType = 'expect-new' | 'expect-destroy';
/** The event types ct.events() can follow (its `types` option). */
export type EventType = FlowEventType | ExpectationEventType;

/** A conntrack entry was created, changed, or destroyed. */
export interface FlowEvent {
  /** What happened to the entry. */
  type: FlowEventType;
  /** The entry as the kernel sent it with the event (a 'destroy' carries the final counters). */
  flow: Flow;
  /** Nanoseconds since the epoch: the kernel's event time where it sends one, else receipt. */
  timestamp: bigint;
  /**
   * When a process changed the entry over netlink (conntrack -I/-U/-D, this library): its
   * netlink port id, usually its pid (conntrack -E prints it as [USERSPACE] portid=N).
   */
  portid?: number;
}

/** An expectation was created or destroyed. */
export interface ExpectationEvent {
  /** What happened to the expectation. */
  type: ExpectationEventType;
  /** The expectation, as the kernel sent it. */
  expectation: Expectation;
  /** Nanoseconds since the epoch, at receipt. */
  timestamp: bigint;
}

/**
 * The kernel dropped events because the socket buffer was full (ENOBUFS): the reader had
 * reached maxQueueBytes, or the kernel outran it. How many is not known (the kernel does not
 * say); the buffer has been grown (up to maxBufferSize) and the stream goes on.
 */
export interface OverrunEvent {
  /** Tells this notice from an event. */
  type: 'overrun';
  /** Overruns so far on this stream. */
  overruns: number;
  /** The socket receive buffer now, in bytes (0 when it was not changed). */
  bufferSize: number;
  /** Events lost: the kernel does not say how many, so always undefined (NFLOG's can say). */
  lost: undefined;
}

/**
 * With `resync: true`, after each overrun: the current table (matching the filter), read
 * once the overrun was seen. Rebuild state from it; events after it may predate the snapshot
 * by a little, so apply them as upserts and deletes.
 */
export interface ResyncEvent {
  /** Tells this notice from an event. */
  type: 'resync';
  /** The whole table as dumped after the overrun. */
  flows: Flow[];
}

/**
 * An item of ct.events(): an event, or a notice that events were lost (an overrun) and the table
 * read again (a resync).
 */
export type ConntrackEvent = FlowEvent | ExpectationEvent | OverrunEvent | ResyncEvent;

export interface EventOptions extends FlowFilter, LiveStreamOptions {
  /** Which events (default: 'new', 'update', 'destroy'). */
  types?: EventType | readonly EventType[];
  /** After an overrun, read the table again and yield it (see ResyncEvent). */
  resync?: boolean;
  /** Attach the filter's kernel-side part as a socket BPF program (default true). */
  kernelFilter?: boolean;
}

const EVENT_KEYS = ['types', 'resync', 'kernelFilter', ...LIVE_STREAM_KEYS];
/** countEvents() takes events()'s options but `resync` (there is no stream to put the table in). */
const COUNT_KEYS = EVENT_KEYS.filter((k) => k !== 'resync');

/** Options of countEvents(): events()'s, without `resync`. */
export type CountEventOptions = Omit<EventOptions, 'resync'>;

/** Items are instances of these: one shape each, and `JSON.stringify` works on them. */
class FlowEventItem extends JsonItem implements FlowEvent {
  portid?: number;
  constructor(
    public type: FlowEventType,
    public flow: Flow,
    public timestamp: bigint,
  ) {
    super();
  }
}

class ExpectationEventItem extends JsonItem implements ExpectationEvent {
  constructor(
    public type: ExpectationEventType,
    public expectation: Expectation,
    public timestamp: bigint,
  ) {
    super();
  }
}

class OverrunItem extends JsonItem implements OverrunEvent {
  readonly type = 'overrun';
  readonly lost = undefined;
  constructor(
    public overruns: number,
    public bufferSize: number,
  ) {
    super();
  }
}

class ResyncItem extends JsonItem implements ResyncEvent {
  readonly type = 'resync';
  constructor(public flows: Flow[]) {
    super();
  }
}
const TYPES: readonly EventType[] = ['new', 'update', 'destroy', 'expect-new', 'expect-destroy'];
// NFNLGRP_CONNTRACK_* group numbers.
const GROUP: Record<EventType, number> = { new: 1, update: 2, destroy: 3, 'expect-new': 4, 'expect-destroy': 6 };
const BATCH = 1024;

/** @internal What events() needs of its handle. */
export interface EventOwner {
  list(filter: FlowFilter): { toArray(): Promise<Flow[]> };
  track(source: BatchSource): void;
  forget(source: BatchSource): void;
}

/** Starts one native reader per kind of event asked for (flows, expectations), tracked by the owner. */
function startEventReaders(native: NativeConntrack, owner: EventOwner, nativeFilter: NativeFilter,
  types: readonly EventType[], reader: ReaderTuning, site: { stack: string })
{
  const groups = (expect: boolean) =>
    types.filter((t) => t.startsWith('expect') === expect).reduce((m, t) => m | (1 << GROUP[t]), 0);
  const flowGroups = groups(false);
  const expectGroups = groups(true);
  const starts: ((onBatch: OnBatch) => NativeStream)[] = [];
  if (flowGroups) starts.push((onBatch) => native.events(nativeFilter, flowGroups, onBatch, reader));
  if (expectGroups) starts.push((onBatch) => native.expectEvents(expectGroups, onBatch, reader));
  const source = new BatchSource(starts, site, 'conntrack events');
  owner.track(source);
  const kinds = [...(flowGroups ? (['flow'] as const) : []), ...(expectGroups ? (['expect'] as const) : [])];
  return { source, kinds };
}

/** What the native readers count, by kind (native/ct/events.cc Kind()). */
const COUNTED: Record<'flow' | 'expect', readonly EventType[]> = { flow: ['new', 'update', 'destroy'],
  expect: ['expect-new', 'expect-destroy'] };

/**
 * Conntrack events counted by type, without an item per event: the reader thread decodes and
 * filters each event as events() does, adds it to its type's count and drops it. Read `counts`
 * whenever you like (a metrics scrape); memory does not depend on the event rate.
 */
export class EventCounter implements AsyncDisposable {
  readonly #source: BatchSource;
  readonly #kinds: readonly ('flow' | 'expect')[];
  readonly #types: readonly EventType[];
  readonly #owner: EventOwner;
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort = (): void => void this.close();
  /**
   * Settles when the counter ends: resolves once it is closed (close(), its handle's close(),
   * the signal), rejects with the NfctError of a reader that failed (the counter is then closed).
   */
  readonly done: Promise<void>;

  private constructor(native: NativeConntrack, owner: EventOwner, nativeFilter: NativeFilter,
    types: readonly EventType[], tuning: LiveTuning, signal: AbortSignal | undefined, site: CallSite)
  {
    const started = startEventReaders(native, owner, nativeFilter, types, { ...tuning, maxQueueRecords: 0,
      maxBatch: BATCH, countOnly: 1 }, site);
    this.#source = started.source;
    this.#kinds = started.kinds;
    this.#types = types;
    this.#owner = owner;
    this.#signal = signal;
    signal?.addEventListener('abort', this.#onAbort, { once: true });
    if (signal?.aborted) queueMicrotask(this.#onAbort);
    // Only overruns and the end come as batches: take them as they come.
    const source = this.#source;
    this.done = (async () => {
      try {
        for (let b = await source.next(); b !== null; b = await source.next()) source.release(b);
      } finally {
        void this.close();
      }
    })();
    this.done.catch(() => undefined); // a failure is for whoever awaits done; unawaited, it is not unhandled
  }

  /** @internal */
  static start(native: NativeConntrack, owner: EventOwner, options: CountEventOptions, site: CallSite): EventCounter {
    const o = normalizeEventOptions(options, 'countEvents()');
    return new EventCounter(native, owner, o.nativeFilter, o.types, o.tuning, o.signal, site);
  }

  /** Events counted so far, by type (every type asked for, from 0). */
  get counts(): Partial<Record<EventType, number>> {
    const out: Partial<Record<EventType, number>> = {};
    for (const t of this.#types) out[t] = 0;
    this.#source.counted().forEach((counted, tag) => {
      COUNTED[this.#kinds[tag]!].forEach((t, k) => {
        if (t in out) out[t] = counted[k]!;
      });
    });
    return out;
  }

  /** The stream's counters: `matched` is the events counted, `overruns` the times the kernel dropped. */
  get stats(): StreamStats {
    return { ...this.#source.stats, lost: undefined };
  }

  /** Stops counting and releases the sockets; `counts` keeps the totals. Idempotent. */
  async close(): Promise<void> {
    this.#signal?.removeEventListener('abort', this.#onAbort);
    this.#source.close();
    this.#owner.forget(this.#source);
  }

  /** Stops counting when the `await using` block that declared the counter ends, as close() does. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** A live stream of events; iterate it once with `for await`. */
export class EventStream extends LiveStream<ConntrackEvent> {
  #overrunCount = 0;
  #resyncs = 0;
  readonly #kinds: readonly ('flow' | 'expect')[];
  readonly #owner: EventOwner;
  readonly #filter: FlowFilter;
  readonly #resync: boolean;

  private constructor(
    native: NativeConntrack,
    owner: EventOwner,
    filter: FlowFilter,
    nativeFilter: NativeFilter,
    types: readonly EventType[],
    tuning: LiveTuning,
    resync: boolean,
    signal: AbortSignal | undefined,
    site: CallSite,
  ) {
    const { source, kinds } = startEventReaders(native, owner, nativeFilter, types, { ...tuning, maxQueueRecords: 0,
      maxBatch: BATCH }, site);
    super(source, signal, () => owner.forget(source));
    this.#kinds = kinds;
    this.#owner = owner;
    this.#filter = filter;
    this.#resync = resync;
  }

  /** @internal events() */
  static start(native: NativeConntrack, owner: EventOwner, options: EventOptions, site: CallSite): EventStream {
    const o = normalizeEventOptions(options);
    return new EventStream(native, owner, o.filter, o.nativeFilter, o.types, o.tuning, o.resync, o.signal, site);
  }

  /**
   * @internal A stream of flow events with a filter of its own for the resynchronisation's
   * dump (watch(): the socket's filter leaves out the fields an entry can change).
   */
  static forWatch(native: NativeConntrack, owner: EventOwner, filter: FlowFilter, nativeFilter: NativeFilter,
    tuning: LiveTuning, signal: AbortSignal | undefined, site: CallSite): EventStream
  {
    return new EventStream(native, owner, filter, nativeFilter, ['new', 'update', 'destroy'], tuning, true, signal,
      site);
  }

  /** Times the kernel reported lost events on this stream. */
  get overruns(): number {
    return this.#overrunCount;
  }

  /** @internal */
  protected decode(batch: RawBatch): ConntrackEvent[] {
    const out: ConntrackEvent[] = [];
    const words = new Uint32Array(batch.buffer);
    if (this.#kinds[batch.tag] === 'flow') {
      const flows = decodeFlows(batch.buffer, batch.strings, batch.count);
      for (let i = 0; i < flows.length; i++) {
        const portid = recordPortId(words, i);
        const ev = new FlowEventItem(recordEventType(words, i), flows[i]!, recordEventTime(words, i));
        if (portid !== 0) ev.portid = portid;
        out.push(ev);
      }
    } else {
      const exps = decodeExpectations(batch.buffer, batch.strings, batch.count);
      for (let i = 0; i < exps.length; i++) {
        const type = expectationMsgType(words, i) === 2 ? 'expect-destroy' : 'expect-new';
        out.push(new ExpectationEventItem(type, exps[i]!, expectationEventTime(words, i)));
      }
    }
    // The records of a batch were read before the overrun that closed it.
    if (batch.overruns > 0) {
      this.#overrunCount += batch.overruns;
      out.push(new OverrunItem(this.#overrunCount, batch.rcvbuf));
      if (this.#resync) this.#resyncs++;
    }
    return out;
  }

  /** @internal After an overrun, with `resync`: the table as it is now. */
  protected override async between(): Promise<ConntrackEvent | undefined> {
    if (this.#resyncs === 0) return undefined;
    this.#resyncs = 0;
    return new ResyncItem(await this.#owner.list(this.#filter).toArray());
  }
}

/** Validates events() options (countEvents()'s with `call`); returns what EventStream needs. */
export function normalizeEventOptions(options: EventOptions, call: 'events()' | 'countEvents()' = 'events()') {
  const where = `${call} options`;
  assertObject(options, where);
  const keys = call === 'events()' ? EVENT_KEYS : COUNT_KEYS;
  const nf = normalizeFilter(options, where, keys);
  const types = options.types === undefined
    ? (['new', 'update', 'destroy'] as const)
    : list(options.types, `${where}.types`);
  for (const t of types) {
    if (!TYPES.includes(t)) {
      throw new TypeError(`${where}.types: unknown event type ${describeValue(t)} (one of ${TYPES.join(', ')})`);
    }
  }
  const { tuning, signal } = normalizeLiveOptions(options, where);
  const kernel = boolean(options.kernelFilter, `${where}.kernelFilter`) ?? true;
  const resync = boolean(options.resync, `${where}.resync`) ?? false;
  nf.kernel = kernel;
  const filter: FlowFilter = {};
  for (const [k, v] of Object.entries(options)) if (!keys.includes(k)) (filter as Record<string, unknown>)[k] = v;
  return {
    filter,
    nativeFilter: nf,
    types,
    tuning,
    resync,
    signal,
  };
}
