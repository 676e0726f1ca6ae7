// The JS half of the batching reader (native/reader.h): queues the batches a native Stream
// hands over, gives credits back as they are consumed, and ends with the stream's error.
import { ClosedError, NfctError, withCallSite } from './errors.js';
import type { NativeStream, OnBatch } from './native.js';

export interface RawBatch {
  buffer: ArrayBuffer;
  strings: string;
  count: number;
  overruns: number;
  rcvbuf: number;
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

export class BatchSource {
  readonly stats: ReaderStats = { received: 0, matched: 0, malformed: 0, overruns: 0 };
  private readonly queue: RawBatch[] = [];
  private waiter: ((b: RawBatch | null) => void) | undefined;
  private failer: ((e: unknown) => void) | undefined;
  private native: NativeStream | undefined;
  private ended = false;
  private closed = false;
  private error: unknown;
  /** The decoder's totals, once the reader has ended (bulk deletes). */
  tally: number[] | undefined;

  constructor(
    start: (onBatch: OnBatch) => NativeStream,
    private readonly site: { stack: string },
    private readonly context: string,
  ) {
    this.native = start(this.onBatch);
  }

  private readonly onBatch: OnBatch = (buffer, strings, count, received, overruns, final, error, malformed, rcvbuf, tally) => {
    if (this.closed) return;
    this.stats.received += received;
    this.stats.malformed += malformed;
    this.stats.overruns += overruns;
    this.stats.matched += count;
    if (final) {
      this.ended = true;
      this.native = undefined;
      this.tally = tally;
      if (error) this.error = withCallSite(error, this.site, this.context);
    }
    if (count > 0 || overruns > 0 || rcvbuf > 0) {
      this.push({ buffer, strings, count, overruns, rcvbuf });
    } else if (!final) {
      this.native?.release();
    }
    if (final && this.waiter) this.settle();
  };

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
    if (this.closed) return Promise.resolve(null);
    if (this.ended) return this.error !== undefined ? Promise.reject(this.error) : Promise.resolve(null);
    return new Promise<RawBatch | null>((resolve, reject) => {
      this.waiter = resolve;
      this.failer = reject;
    });
  }

  /** A consumed batch: lets the native reader read one more. */
  release(): void {
    this.native?.release();
  }

  /** Ends the reader and frees its socket; pending and later next() calls resolve to null. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue.length = 0;
    const n = this.native;
    this.native = undefined;
    n?.close();
    this.settle();
  }

  get isClosed(): boolean {
    return this.closed || (this.ended && this.queue.length === 0);
  }
}

export function closedError(what: string): ClosedError {
  return new ClosedError(what);
}

export { NfctError };
