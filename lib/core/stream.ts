import type { BatchSource, RawBatch, ReaderStats } from './reader.js';
import { describeValue, optionalInteger } from './validate.js';

const MiB = 1 << 20;

/** Options every live stream takes (events(), countEvents(), flows(), watch(), subscribe(), Trace streams). */
export interface LiveStreamOptions {
  /**
   * The socket receive buffer to start with, in bytes (default 32 MiB; root can exceed
   * rmem_max). The kernel holds what arrives while the reader thread waits for a core: each
   * conntrack event takes ~1,280 bytes of it and the kernel charges against twice the size
   * asked, so the default holds ~52,000 events, over 100 ms of the fastest bursts (~400k
   * events/s). The kernel commits the memory only as it queues, so an idle stream costs none of
   * it. A smaller size risks losses (overrun items) whenever the reader is held up.
   */
  bufferSize?: number;
  /** The most the socket buffer grows to after overruns (default 256 MiB). */
  maxBufferSize?: number;
  /**
   * The most memory decoded items may take while they wait for the consumer (default 256 MiB,
   * about a million conntrack events or NFLOG packets of 100 bytes). The reader drains the
   * kernel as fast as it produces until this bound is reached; only then does the kernel drop,
   * which the stream reports as an overrun item.
   */
  maxQueueBytes?: number;
  /** Ends the iteration (cleanly) and releases the socket when aborted. */
  signal?: AbortSignal;
}

/** bufferSize when not given (see LiveStreamOptions.bufferSize). */
export const DEFAULT_BUFFER_SIZE = 32 * MiB;

export const LIVE_STREAM_KEYS = ['bufferSize', 'maxBufferSize', 'maxQueueBytes', 'signal'] as const;

/** What a live stream's native reader is given, from LiveStreamOptions. */
export interface LiveTuning {
  rcvbuf: number;
  rcvbufMax: number;
  maxQueueBytes: number;
}

/** Validates the LiveStreamOptions part of `options` (`where` names the call: 'events() options'). */
export function normalizeLiveOptions(options: LiveStreamOptions,
  where: string): { tuning: LiveTuning; signal: AbortSignal | undefined }
{
  const rcvbuf = optionalInteger(options.bufferSize, `${where}.bufferSize`, 4096, 2 ** 31 - 1) ?? DEFAULT_BUFFER_SIZE;
  const rcvbufMax = optionalInteger(options.maxBufferSize, `${where}.maxBufferSize`, 4096, 2 ** 31 - 1) ??
    Math.max(rcvbuf, 256 * MiB);
  if (rcvbufMax < rcvbuf) throw new RangeError(`${where}.maxBufferSize must not be less than bufferSize`);
  const maxQueueBytes =
    optionalInteger(options.maxQueueBytes, `${where}.maxQueueBytes`, 64 * 1024, Number.MAX_SAFE_INTEGER) ?? 256 * MiB;
  const signal = options.signal;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new TypeError(`${where}.signal must be an AbortSignal, got ${describeValue(signal)}`);
  }
  return { tuning: { rcvbuf, rcvbufMax, maxQueueBytes }, signal };
}

/** Counters of a live stream. */
export interface StreamStats extends ReaderStats {
  /**
   * Items the kernel dropped, counted exactly: NFLOG with sequence numbers (the gaps). Undefined
   * where the kernel only says that it dropped, not how many (see `overruns`).
   */
  lost: number | undefined;
}

/** @internal The items of a batch of records, all at once. */
export type BatchDecoder<T> = (buffer: ArrayBuffer, strings: string, count: number) => T[];

/** @internal The items of a batch of `count` records: `length` of them, one a take(), in order. */
export type RecordReader<T> = (buffer: ArrayBuffer, strings: string,
  count: number) => { readonly length: number; take: () => T };

/**
 * @internal Starts a dump's readers; `itemwise` when its items are taken one at a time (a
 * `for await` loop), so that the size of a native batch is not seen.
 */
export type DumpStart = (itemwise: boolean) => BatchSource;

/** @internal Whoever started the stream and tracks its running readers (a handle). */
export interface StreamOwner {
  forget(source: BatchSource): void;
}

/**
 * A streamed dump (flows, expectations): iterate it with `for await`. The dump starts when
 * iteration starts; memory stays bounded by a few batches however large the table, and leaving
 * the loop (break, return, throw), close() or disposal ends the dump and frees its socket.
 */
export abstract class RecordStream<T> implements AsyncIterable<T>, AsyncDisposable {
  #source: BatchSource | undefined;
  #closed = false;
  readonly #owner: StreamOwner;
  readonly #decode: BatchDecoder<T>;
  readonly #reader: RecordReader<T>;
  readonly #start: DumpStart;

  /**
   * @internal `decode` makes a whole batch's items (batches(), toArray()); `reader`, when
   * given, makes them one at a time as a loop asks for them.
   */
  protected constructor(owner: StreamOwner, decode: BatchDecoder<T>, start: DumpStart, reader?: RecordReader<T>) {
    this.#owner = owner;
    this.#decode = decode;
    this.#reader = reader ?? ((buffer, strings, count) => {
      // As many items as decode() makes of the batch (listText(): one Buffer of all its lines).
      const items = decode(buffer, strings, count);
      let i = 0;
      return { length: items.length, take: () => items[i++]! };
    });
    this.#start = start;
  }

  /** Counters of the dump: messages the kernel sent, flows matched, malformed messages. */
  get stats(): ReaderStats {
    return this.#source?.stats ??
      { received: 0, matched: 0, malformed: 0, overruns: 0, queuedRecords: 0, queuedBytes: 0, peakRecords: 0,
        peakBytes: 0, pooledBytes: 0, socketBuffer: 0 };
  }

  #open(itemwise: boolean): BatchSource {
    if (this.#source || this.#closed) throw new Error('a stream can be iterated once; call list() again');
    this.#source = this.#start(itemwise);
    return this.#source;
  }

  #end(source: BatchSource): void {
    source.close();
    this.#owner.forget(source);
  }

  /** Starts the dump; a stream is iterated once. */
  [Symbol.asyncIterator](): AsyncIterator<T> {
    const source = this.#open(true);
    // The batch being read: its items are made one at a time, as the loop asks for them, so
    // that only the item in use is alive, not the batch's worth (see flowReader()).
    let take: () => T = () => undefined as T;
    let left = 0;
    const done: IteratorReturnResult<undefined> = { value: undefined, done: true };
    const fill = async (): Promise<IteratorResult<T>> => {
      for (;;) {
        let batch;
        try {
          batch = await source.next();
        } catch (e) {
          this.#end(source);
          throw e;
        }
        if (batch === null) {
          this.#end(source);
          return done;
        }
        const items = this.#reader(batch.buffer, batch.strings, batch.count);
        take = items.take;
        left = items.length;
        // Released now: the native reader goes on with the dump while this batch is read.
        source.release(batch);
        if (left > 0) {
          left--;
          return { value: take(), done: false };
        }
      }
    };
    return {
      // A handle closed in the middle of a batch ends the loop too, not after the batch.
      next: () => {
        if (source.closed) return Promise.resolve(done);
        if (left > 0) {
          left--;
          return Promise.resolve({ value: take(), done: false });
        }
        return fill();
      },
      return: () => {
        left = 0;
        this.#end(source);
        return Promise.resolve(done);
      },
    };
  }

  /** The same dump a batch at a time (an array of up to batchSize items per step). */
  async *batches(): AsyncGenerator<T[], void, undefined> {
    const source = this.#open(false);
    try {
      for (;;) {
        const batch = await source.next();
        if (batch === null) return;
        const flows = this.#decode(batch.buffer, batch.strings, batch.count);
        source.release(batch);
        if (flows.length > 0) yield flows;
      }
    } finally {
      this.#end(source);
    }
  }

  /** Collects the whole dump (memory grows with the table: prefer iterating). */
  async toArray(): Promise<T[]> {
    const out: T[] = [];
    for await (const batch of this.batches()) for (const f of batch) out.push(f);
    return out;
  }

  /** Ends the dump (a loop over it ends) and frees its socket; one not started never starts. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#source) this.#end(this.#source);
  }

  /** Closes the dump when the `await using` block that declared it ends, as close() does. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** @internal A dump of records of any kind (listText(), expectations). */
export class Dump<T> extends RecordStream<T> {
  /** Public, where RecordStream's own is protected: the handle makes its dumps. */
  public constructor(owner: StreamOwner, decode: BatchDecoder<T>, start: DumpStart) {
    super(owner, decode, start);
  }
}

/**
 * A live stream of decoded items over one batching reader (events, NFLOG packets): iterate it
 * once with `for await`. Items come a batch at a time; `break`, `return()`, `close()`, disposal
 * and the AbortSignal end it and free its sockets.
 */
export abstract class LiveStream<T> implements AsyncIterable<T>, AsyncIterator<T>, AsyncDisposable {
  #items: T[] = [];
  #index = 0;
  #dropped = 0;
  #ending = false;
  /** @internal */
  protected done = false;
  /** @internal */
  protected readonly source: BatchSource;
  readonly #signal: AbortSignal | undefined;
  readonly #onClose: () => void;
  readonly #onAbort = (): void => void this.close();

  /** @internal */
  protected constructor(source: BatchSource, signal: AbortSignal | undefined, onClose: () => void) {
    this.source = source;
    this.#signal = signal;
    this.#onClose = onClose;
    signal?.addEventListener('abort', this.#onAbort, { once: true });
    // Already aborted: end it once the subclass is built.
    if (signal?.aborted) queueMicrotask(this.#onAbort);
  }

  /**
   * What the kernel sent, what matched, what could not be decoded, the overruns; what waits
   * for the consumer now and at most so far; what was lost, where the kernel says how many.
   */
  get stats(): StreamStats {
    return { ...this.source.stats, lost: this.lost() };
  }

  /**
   * Items read from the kernel that the consumer never took: still waiting when the stream was
   * closed (close(), `break`, the signal). 0 while the stream runs and after one that end()
   * let finish. Nothing the kernel handed over goes without being counted here or consumed.
   */
  get dropped(): number {
    return this.#dropped + this.source.dropped;
  }

  /** @internal Items lost, counted exactly, where the kernel makes that knowable. */
  protected lost(): number | undefined {
    return undefined;
  }

  /** @internal The items of one batch, in order. */
  protected abstract decode(batch: RawBatch): T[];

  /** @internal Items held back until the end of the stream (at most once, when the readers end). */
  protected flush(): T[] {
    return [];
  }

  /** @internal Runs when a batch's items are used up, before the next is read; may give one item. */
  protected async between(): Promise<T | undefined> {
    return undefined;
  }

  /**
   * Milliseconds the stream may wait for the next batch before idle() is asked for items
   * (undefined: as long as it takes). For items that end by time (a packet's trace).
   */
  protected idleWait(): number | undefined {
    return undefined;
  }

  /** Items due after idleWait() passed without a batch. */
  protected idle(): T[] {
    return [];
  }

  /** A batch asked for and not yet come: kept across idle waits, never asked for twice. */
  /** @internal */ private pendingBatch: Promise<RawBatch | null> | undefined;

  /** The next batch, or undefined when idleWait() passed first. */
  /** @internal */ private async nextBatch(): Promise<RawBatch | null | undefined> {
    const pending = (this.pendingBatch ??= this.source.next());
    const wait = this.idleWait();
    let timer: NodeJS.Timeout | undefined;
    try {
      const r = wait === undefined
        ? await pending
        : await Promise.race([pending,
          new Promise<undefined>((res) => (timer = setTimeout(() => res(undefined), Math.max(0, wait))))]);
      if (r !== undefined) this.pendingBatch = undefined;
      return r;
    } catch (e) {
      this.pendingBatch = undefined;
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  /** The stream itself: `for await (const item of stream)`. */
  [Symbol.asyncIterator](): AsyncIterator<T> {
    return this;
  }

  /**
   * The next item, waiting for the kernel's next batch when none is queued; done once the stream
   * is closed or ended.
   */
  async next(): Promise<IteratorResult<T>> {
    for (;;) {
      if (this.source.closed && !this.done) void this.close(); // its handle was closed
      if (this.#index < this.#items.length) return { value: this.#items[this.#index++]!, done: false };
      if (this.done) return { value: undefined, done: true };
      const extra = await this.between();
      if (this.done) return { value: undefined, done: true };
      if (extra !== undefined) return { value: extra, done: false };
      let batch: RawBatch | null | undefined;
      try {
        batch = await this.nextBatch();
      } catch (e) {
        void this.close();
        throw e;
      }
      if (batch === undefined) {
        if (this.done) return { value: undefined, done: true };
        this.#items = this.idle();
        this.#index = 0;
        continue;
      }
      if (batch === null) {
        const rest = this.flush();
        if (rest.length > 0) {
          this.#items = rest;
          this.#index = 0;
          continue;
        }
        void this.close();
        return { value: undefined, done: true };
      }
      this.#items = this.decode(batch);
      this.#index = 0;
      this.source.release(batch);
    }
  }

  /**
   * Stops reading from the kernel and keeps what was read: the items already received still
   * come, then the iteration ends and the sockets are released. What the kernel had not yet
   * handed to the reader stays unread (unseen, not counted as dropped). For a consumer told to
   * stop (a signal) that should first write out what it holds; close() ends the stream at once.
   */
  end(): void {
    if (this.done || this.#ending) return;
    this.#ending = true;
    this.source.endEarly();
  }

  /** Ends the stream (what `break` in a `for await` loop calls), as close() does. */
  async return(): Promise<IteratorResult<T>> {
    await this.close();
    return { value: undefined, done: true };
  }

  /** Ends the stream and releases its sockets; resolves once they are released. Idempotent. */
  async close(): Promise<void> {
    if (this.done) return;
    this.done = true;
    // What was read and not consumed: the rest of the batch at hand (the source counts its own).
    this.#dropped += this.#items.length - this.#index;
    this.#items = [];
    this.#signal?.removeEventListener('abort', this.#onAbort);
    this.source.close();
    this.#onClose();
  }

  /** Closes the stream when the `await using` block that declared it ends, as close() does. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
