// The JS half of the batching reader (native/reader.h): queues the batches native Streams
// hand over, gives credits back as they are consumed, and ends with a stream's error. One
// source can merge several native streams (events of flows and of expectations); each batch
// carries the index of the stream it came from.
import { ClosedError, NfctError, withCallSite } from './errors.js';
import type { NativeStream, OnBatch } from './native.js';

export interface RawBatch {
  /** Index of the native stream, in the order they were started. */
  tag: number;
  buffer: ArrayBuffer;
  strings: string;
  count: number;
  overruns: number;
  rcvbuf: number;
  /** Binary fields the records point into (packet payloads), when there are any. */
  bytes: ArrayBuffer | undefined;
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
}

type Start = (onBatch: OnBatch) => NativeStream;

export class BatchSource {
  readonly stats: ReaderStats = { received: 0, matched: 0, malformed: 0, overruns: 0 };
  private readonly queue: RawBatch[] = [];
  private waiter: ((b: RawBatch | null) => void) | undefined;
  private failer: ((e: unknown) => void) | undefined;
  private readonly natives: (NativeStream | undefined)[] = [];
  private running = 0;
  private closedFlag = false;
  private error: unknown;
  /** The decoder's totals, once the reader has ended (bulk deletes). */
  tally: number[] | undefined;

  constructor(
    start: Start | readonly Start[],
    private readonly site: { stack: string },
    private readonly context: string,
  ) {
    const starts = Array.isArray(start) ? start : [start as Start];
    this.running = starts.length;
    starts.forEach((s, tag) => {
      this.natives[tag] = s(this.onBatchOf(tag));
    });
  }

  private onBatchOf(tag: number): OnBatch {
    return (buffer, strings, count, received, overruns, final, error, malformed, rcvbuf, tally, bytes) => {
      if (this.closedFlag) return;
      this.stats.received += received;
      this.stats.malformed += malformed;
      this.stats.overruns += overruns;
      this.stats.matched += count;
      if (final) {
        this.running--;
        // The thread is done: closing joins it and frees its wake-up fd now, not at GC.
        this.natives[tag]?.close();
        this.natives[tag] = undefined;
        this.tally = tally;
        if (error && this.error === undefined) this.error = withCallSite(error, this.site, this.context);
        // One stream failing ends them all.
        if (error) for (const n of this.natives) n?.close();
      }
      if (count > 0 || overruns > 0 || rcvbuf > 0) {
        this.push({ tag, buffer, strings, count, overruns, rcvbuf, bytes });
      } else if (!final) {
        this.natives[tag]?.release(1);
      }
      if (this.ended && this.waiter) this.settle();
    };
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

  /** A consumed batch: its records' credits go back to its native reader. */
  release(batch: RawBatch): void {
    this.natives[batch.tag]?.release(Math.max(1, batch.count));
  }

  /** Ends the readers and frees their sockets; pending and later next() calls resolve to null. */
  close(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.queue.length = 0;
    for (let i = 0; i < this.natives.length; i++) {
      const n = this.natives[i];
      this.natives[i] = undefined;
      n?.close();
    }
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

export function closedError(what: string): ClosedError {
  return new ClosedError(what);
}

export { NfctError };
