// Conntrack events as an async iterator that survives load: overruns (ENOBUFS) are items in
// the stream, the socket buffer grows after each, and with `resync` the current table follows.
import { AF_INET, AF_INET6 } from '../core/constants.js';
import { decodeExpectations, type Expectation, expectationEventTime, expectationMsgType } from './expect.js';
import { type FlowFilter, normalizeFilter } from './filter.js';
import { decodeFlows, FLOW_WORDS, recordEventTime, recordEventType, recordPortId } from './flow.js';
import type { NativeConntrack, NativeFilter, NativeStream, OnBatch } from '../core/native.js';
import { BatchSource, type RawBatch } from '../core/reader.js';
import { LiveStream } from '../core/stream.js';
import type { Flow } from './types.js';
import { assertObject, boolean, describe, list, optionalInteger } from '../core/validate.js';

export type FlowEventType = 'new' | 'update' | 'destroy';
export type ExpectationEventType = 'expect-new' | 'expect-destroy';
export type EventType = FlowEventType | ExpectationEventType;

/** A conntrack entry was created, changed, or destroyed. */
export interface FlowEvent {
  type: FlowEventType;
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
  type: ExpectationEventType;
  expectation: Expectation;
  /** Nanoseconds since the epoch, at receipt. */
  timestamp: bigint;
}

/**
 * The kernel dropped events because the socket buffer was full (ENOBUFS). How many is not
 * known; the buffer has been grown (up to maxBufferSize) and the stream goes on.
 */
export interface OverrunEvent {
  type: 'overrun';
  /** Overruns so far on this stream. */
  overruns: number;
  /** The socket receive buffer now, in bytes (0 when it was not changed). */
  bufferSize: number;
}

/**
 * With `resync: true`, after each overrun: the current table (matching the filter), read
 * once the overrun was seen. Rebuild state from it; events after it may predate the snapshot
 * by a little, so apply them as upserts and deletes.
 */
export interface ResyncEvent {
  type: 'resync';
  flows: Flow[];
}

export type ConntrackEvent = FlowEvent | ExpectationEvent | OverrunEvent | ResyncEvent;

export interface EventOptions extends FlowFilter {
  /** Which events (default: 'new', 'update', 'destroy'). */
  types?: EventType | readonly EventType[];
  /** The socket receive buffer to start with, in bytes (default 8 MiB; root can exceed rmem_max). */
  bufferSize?: number;
  /** The most the buffer grows to after overruns (default 256 MiB). */
  maxBufferSize?: number;
  /**
   * Events held in userspace while the consumer is busy (default 65536). Past it the reader
   * stops reading, the kernel drops, and that is reported as an overrun.
   */
  queueSize?: number;
  /** After an overrun, read the table again and yield it (see ResyncEvent). */
  resync?: boolean;
  /** Ends the iteration (cleanly) and releases the socket when aborted. */
  signal?: AbortSignal;
  /** Attach the filter's kernel-side part as a socket BPF program (default true). */
  kernelFilter?: boolean;
}

const EVENT_KEYS = ['types', 'bufferSize', 'maxBufferSize', 'queueSize', 'resync', 'signal', 'kernelFilter'];
const TYPES: readonly EventType[] = ['new', 'update', 'destroy', 'expect-new', 'expect-destroy'];
// NFNLGRP_CONNTRACK_* group numbers.
const GROUP: Record<EventType, number> = { new: 1, update: 2, destroy: 3, 'expect-new': 4, 'expect-destroy': 6 };
const BATCH = 1024;

/** What events() needs of its handle. */
export interface EventOwner {
  list(filter: FlowFilter): { toArray(): Promise<Flow[]> };
  track(source: BatchSource): void;
  forget(source: BatchSource): void;
}

/** A live stream of events; iterate it once with `for await`. */
export class EventStream extends LiveStream<ConntrackEvent> {
  private overrunCount = 0;
  private resyncs = 0;
  private readonly kinds: readonly ('flow' | 'expect')[];

  /** @internal */
  constructor(
    native: NativeConntrack,
    private readonly owner: EventOwner,
    private readonly filter: FlowFilter,
    nativeFilter: NativeFilter,
    types: readonly EventType[],
    tuning: { rcvbuf: number; rcvbufMax: number; credits: number },
    private readonly resync: boolean,
    signal: AbortSignal | undefined,
    site: { stack: string },
  ) {
    const groups = (expect: boolean) => types.filter((t) => t.startsWith('expect') === expect).reduce((m, t) => m | (1 << GROUP[t]), 0);
    const flowGroups = groups(false);
    const expectGroups = groups(true);
    const reader = { ...tuning, maxBatch: BATCH };
    const starts: ((onBatch: OnBatch) => NativeStream)[] = [];
    if (flowGroups) starts.push((onBatch) => native.events(nativeFilter, flowGroups, onBatch, reader));
    if (expectGroups) starts.push((onBatch) => native.expectEvents(expectGroups, onBatch, reader));
    const source = new BatchSource(starts, site, 'conntrack events');
    owner.track(source);
    super(source, signal, () => owner.forget(source));
    this.kinds = [...(flowGroups ? (['flow'] as const) : []), ...(expectGroups ? (['expect'] as const) : [])];
  }

  /** Times the kernel reported lost events on this stream. */
  get overruns(): number {
    return this.overrunCount;
  }

  protected decode(batch: RawBatch): ConntrackEvent[] {
    const out: ConntrackEvent[] = [];
    const words = new Uint32Array(batch.buffer);
    if (this.kinds[batch.tag] === 'flow') {
      const flows = decodeFlows(batch.buffer, batch.strings, batch.count);
      for (let i = 0; i < flows.length; i++) {
        const portid = recordPortId(words, i);
        const ev: FlowEvent = { type: recordEventType(words, i), flow: flows[i]!, timestamp: recordEventTime(words, i) };
        if (portid !== 0) ev.portid = portid;
        out.push(ev);
      }
    } else {
      const exps = decodeExpectations(batch.buffer, batch.strings, batch.count);
      for (let i = 0; i < exps.length; i++) {
        const type = expectationMsgType(words, i) === 2 ? 'expect-destroy' : 'expect-new';
        out.push({ type, expectation: exps[i]!, timestamp: expectationEventTime(words, i) });
      }
    }
    // The records of a batch were read before the overrun that closed it.
    if (batch.overruns > 0) {
      this.overrunCount += batch.overruns;
      out.push({ type: 'overrun', overruns: this.overrunCount, bufferSize: batch.rcvbuf });
      if (this.resync) this.resyncs++;
    }
    return out;
  }

  /** After an overrun, with `resync`: the table as it is now. */
  protected override async between(): Promise<ConntrackEvent | undefined> {
    if (this.resyncs === 0) return undefined;
    this.resyncs = 0;
    return { type: 'resync', flows: await this.owner.list(this.filter).toArray() };
  }
}

/** Validates events() options; returns what EventStream needs. */
export function normalizeEventOptions(options: EventOptions) {
  assertObject(options, 'events() options');
  const nf = normalizeFilter(options, 'events() options', EVENT_KEYS);
  const types = options.types === undefined ? (['new', 'update', 'destroy'] as const) : list(options.types, 'events() options.types');
  for (const t of types) {
    if (!TYPES.includes(t)) throw new TypeError(`events() options.types: unknown event type ${describe(t)} (one of ${TYPES.join(', ')})`);
  }
  const rcvbuf = optionalInteger(options.bufferSize, 'events() options.bufferSize', 4096, 2 ** 31 - 1) ?? 8 << 20;
  const rcvbufMax = optionalInteger(options.maxBufferSize, 'events() options.maxBufferSize', 4096, 2 ** 31 - 1) ?? Math.max(rcvbuf, 256 << 20);
  if (rcvbufMax < rcvbuf) throw new RangeError('events() options.maxBufferSize must not be less than bufferSize');
  const queue = optionalInteger(options.queueSize, 'events() options.queueSize', 1, 2 ** 24) ?? 65536;
  const kernel = boolean(options.kernelFilter, 'events() options.kernelFilter') ?? true;
  const resync = boolean(options.resync, 'events() options.resync') ?? false;
  const signal = options.signal;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new TypeError(`events() options.signal must be an AbortSignal, got ${describe(signal)}`);
  }
  nf.kernel = kernel;
  const filter: FlowFilter = {};
  for (const [k, v] of Object.entries(options)) if (!EVENT_KEYS.includes(k)) (filter as Record<string, unknown>)[k] = v;
  return {
    filter,
    nativeFilter: nf,
    types,
    tuning: { rcvbuf, rcvbufMax, credits: queue },
    resync,
    signal,
  };
}

export { AF_INET, AF_INET6, FLOW_WORDS };
