// The JS half of the batching reader (native/reader.h): queues the batches native Streams
// hand over, releases each once consumed (so that the native reader counts it no longer), and
// ends with a stream's error. One source can merge several native streams (events of flows and
// of expectations); each batch carries the index of the stream it came from.
import { keptSite, type NfctError, withCallSite } from './errors.js';
import { BatchCounter, StreamStat } from './layout.js';
import type { NativeStream, OnBatch } from './native.js';

/**
 * One batch of records as the native reader hands it over, before decoding: fixed-size
 * records in `buffer`, their text fields in `strings`. What decodePackets() reads.
 */
export interface RawBatch {
  /** Index of the native stream, in the order they were started. */
  tag: number;
  /** The records, one after another, in the layout of their kind (native/layout/layouts.h). */
  buffer: ArrayBuffer;
  /** The records' text fields (prefixes, names), NUL-separated, in record order. */
  strings: string;
  /** How many records `buffer` holds. */
  count: number;
  /** How many times the socket overran (ENOBUFS: the kernel dropped messages) before this batch. */
  overruns: number;
  /** The receive buffer in bytes after the reader grew it on an overrun; 0 when unchanged. */
  rcvbuf: number;
  /** Binary fields the records point into (packet payloads), when there are any. */
  bytes: ArrayBuffer | undefined;
  /** Bytes the native reader counts as queued until the batch is released. */
  cost: number;
}

/** Counters of one reader, readable at any time. */
export interface ReaderStats {
  /** Messages the kernel sent, before userspace matching. */
  received: number;
  /** Records handed to the consumer (after matching). */
  matched: number;
  /** Messages that could not be decoded (skipped). */
  malformed: number;
  /** Times the kernel reported lost messages (ENOBUFS). */
  overruns: number;
  /**
   * Records decoded and waiting for the consumer now (read from the socket, not yet consumed),
   * and the bytes they take in memory.
   */
  queuedRecords: number;
  /** The bytes the waiting records take in memory. */
  queuedBytes: number;
  /** The most that waited at once so far. */
  peakRecords: number;
  /** The most bytes that waited at once so far. */
  peakBytes: number;
  /** Memory the native readers keep for reuse (spent batches; capped at 4 MiB a reader). */
  pooledBytes: number;
  /**
   * The receive buffer of the reader's netlink socket, in bytes, as the kernel reports it
   * (getsockopt SO_RCVBUF): set up when the stream started (from `bufferSize`, or the kernel's
   * default), and again after each growth. The kernel reports twice the size it was asked for
   * (the rest is its bookkeeping); a size asked past net.core.rmem_max without CAP_NET_ADMIN is
   * cut to it. The largest over the stream's sockets; its last value once they are closed; 0
   * when it could not be read.
   */
  socketBuffer: number;
}

type Start = (onBatch: OnBatch) => NativeStream;

const { BATCH_COUNT, BATCH_COST, BATCH_FINAL, BATCH_MALFORMED, BATCH_OVERRUNS, BATCH_RCVBUF, BATCH_RECEIVED,
  BATCH_TALLY, BATCH_TALLY_WORDS } = BatchCounter;
const { STAT_COUNT_KINDS, STAT_COUNTED, STAT_MALFORMED, STAT_PEAK_BYTES, STAT_PEAK_RECORDS, STAT_POOLED_BYTES,
  STAT_QUEUED_BYTES, STAT_QUEUED_RECORDS, STAT_RECEIVED, STAT_SOCKET_BUFFER } = StreamStat;

/** @internal */
export class BatchSource {
  private readonly counts = { received: 0, matched: 0, malformed: 0, overruns: 0 };
  private peakRecords = 0;
  private peakBytes = 0;
  private readonly queue: RawBatch[] = [];
  private waiter: ((b: RawBatch | null) => void) | undefined;
  private failer: ((e: unknown) => void) | undefined;
  private readonly natives: (NativeStream | undefined)[] = [];
  /** The last stats() of each native stream once closed (its counters stay readable). */
  private readonly retired: (Float64Array | undefined)[] = [];
  private running = 0;
  private closedFlag = false;
  private error: NfctError | undefined;
  /** The decoder's totals: once the reader has ended (bulk deletes), or so far (file sources). */
  tally: number[] | undefined;

  private readonly site: { stack: string };

  constructor(
    start: Start | readonly Start[],
    site: { stack: string },
    private readonly context: string,
  ) {
    this.site = keptSite(site);
    const starts: readonly Start[] = typeof start === 'function' ? [start] : start;
    this.running = starts.length;
    starts.forEach((s, tag) => {
      this.natives[tag] = s(this.onBatchOf(tag));
    });
    // A reader returns set up: one that could not bind (an NFLOG group another socket holds,
    // no privilege, events switched off) fails the call that started it, not a later next().
    for (const n of this.natives) {
      const e = n?.setupError?.();
      if (e === undefined) continue;
      this.close();
      throw withCallSite(e, site, context);
    }
  }

  private onBatchOf(tag: number): OnBatch {
    return (buffer, strings, bytes, c, error) => {
      if (this.closedFlag) return;
      const count = c[BATCH_COUNT]!;
      const overruns = c[BATCH_OVERRUNS]!;
      const rcvbuf = c[BATCH_RCVBUF]!;
      const cost = c[BATCH_COST]!;
      const counts = this.counts;
      counts.received += c[BATCH_RECEIVED]!;
      counts.malformed += c[BATCH_MALFORMED]!;
      counts.overruns += overruns;
      counts.matched += count;
      // The decoder's totals: final for a bulk job, so far for a source that counts as it goes.
      this.tally = Array.from(c.subarray(BATCH_TALLY, BATCH_TALLY + BATCH_TALLY_WORDS));
      if (c[BATCH_FINAL]) {
        this.running--;
        // The thread is done: closing joins it and frees its wake-up fd now, not at GC.
        this.retire(tag);
        if (error && this.error === undefined) this.error = withCallSite(error, this.site, this.context);
        // One stream failing ends them all.
        if (error) { for (let i = 0; i < this.natives.length; i++) this.retire(i); }
      }
      if (count > 0 || overruns > 0 || rcvbuf > 0) {
        this.push({ tag, buffer, strings, count, overruns, rcvbuf, bytes, cost });
      } else {
        this.natives[tag]?.release(0, cost);
      }
      if (this.ended && this.waiter) this.settle();
    };
  }

  /** Closes one native stream, keeping its peaks. */
  private retire(tag: number): void {
    const n = this.natives[tag];
    if (!n) return;
    this.natives[tag] = undefined;
    n.close();
    const q = n.stats();
    this.retired[tag] = q;
    this.peakRecords = Math.max(this.peakRecords, q[2]!);
    this.peakBytes = Math.max(this.peakBytes, q[3]!);
  }

  /**
   * What a counting reader (tuning `countOnly`) counted, by its decoder's kinds: one array per
   * native stream, in the order they were started.
   */
  counted(): number[][] {
    return this.natives.map((n, tag) => {
      const q = n?.stats() ?? this.retired[tag];
      return q ? Array.from(q.subarray(STAT_COUNTED, STAT_COUNTED + STAT_COUNT_KINDS)) : [0, 0, 0, 0];
    });
  }

  /** Counters of the readers, read now. */
  get stats(): ReaderStats {
    let queuedRecords = 0;
    let queuedBytes = 0;
    let peakRecords = this.peakRecords;
    let peakBytes = this.peakBytes;
    let pooledBytes = 0;
    let socketBuffer = 0;
    const counts = { ...this.counts };
    this.natives.forEach((n, tag) => {
      const q = n?.stats() ?? this.retired[tag];
      if (!q) return;
      // Kept natively by counting readers (zero for the others).
      counts.received += q[STAT_RECEIVED]!;
      counts.malformed += q[STAT_MALFORMED]!;
      for (let k = 0; k < STAT_COUNT_KINDS; k++) counts.matched += q[STAT_COUNTED + k]!;
      socketBuffer = Math.max(socketBuffer, q[STAT_SOCKET_BUFFER] ?? 0);
      if (!n) return;
      queuedRecords += q[STAT_QUEUED_RECORDS]!;
      queuedBytes += q[STAT_QUEUED_BYTES]!;
      pooledBytes += q[STAT_POOLED_BYTES]!;
      peakRecords = Math.max(peakRecords, q[STAT_PEAK_RECORDS]!);
      peakBytes = Math.max(peakBytes, q[STAT_PEAK_BYTES]!);
    });
    // Batches of a finished reader still waiting here.
    for (const b of this.queue) {
      if (this.natives[b.tag]) continue;
      queuedRecords += b.count;
      queuedBytes += b.cost;
    }
    return { ...counts, queuedRecords, queuedBytes, peakRecords, peakBytes, pooledBytes, socketBuffer };
  }

  private get ended(): boolean {
    return this.running === 0 || this.error !== undefined;
  }

  private push(b: RawBatch): void {
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      this.failer = undefined;
      w(b);
    } else {
      this.queue.push(b);
    }
  }

  private settle(): void {
    const w = this.waiter;
    const f = this.failer;
    this.waiter = undefined;
    this.failer = undefined;
    if (this.error !== undefined && f) f(this.error);
    else w?.(null);
  }

  /** The next batch, or null at the end. Call release() once it has been consumed. */
  next(): Promise<RawBatch | null> {
    const b = this.queue.shift();
    if (b) return Promise.resolve(b);
    if (this.closedFlag) return Promise.resolve(null);
    if (this.ended) return this.error !== undefined ? Promise.reject(this.error) : Promise.resolve(null);
    return new Promise<RawBatch | null>((resolve, reject) => {
      this.waiter = resolve;
      this.failer = reject;
    });
  }

  /** A consumed batch: no longer counted as queued by its native reader. */
  release(batch: RawBatch): void {
    this.natives[batch.tag]?.release(batch.count, batch.cost);
  }

  /** Stops the native readers reading; what they read and their final batches still come. */
  endEarly(): void {
    for (const n of this.natives) n?.endEarly?.();
  }

  /** Records read and never consumed: what was queued when close() came. */
  dropped = 0;

  /** Ends the readers and frees their sockets; pending and later next() calls resolve to null. */
  close(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    const live = this.natives.map((n) => n !== undefined);
    for (let i = 0; i < this.natives.length; i++) this.retire(i);
    // The threads are joined: nothing more is read. Dropped: the batches waiting here, and
    // those a reader had handed over that had not reached JS yet (counted by it as queued).
    const here = live.map(() => 0);
    for (const b of this.queue) here[b.tag] = (here[b.tag] ?? 0) + b.count;
    let dropped = here.reduce((a, b) => a + b, 0);
    live.forEach((was, tag) => {
      const q = this.retired[tag];
      if (was && q) dropped += Math.max(0, q[STAT_QUEUED_RECORDS]! - here[tag]!);
    });
    this.dropped = dropped;
    this.queue.length = 0;
    this.settle();
  }

  /** Whether close() was called (by the stream or by its handle). */
  get closed(): boolean {
    return this.closedFlag;
  }

  get isClosed(): boolean {
    return this.closedFlag || (this.ended && this.queue.length === 0);
  }
}
