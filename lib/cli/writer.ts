// The one way nfct writes to stdout: lines are encoded into a byte buffer as they come (no
// string of the whole batch is ever built) and go out in one write per batch, one write in
// flight at a time (a full pipe holds the next batch back, so memory stays
// flat whatever the table size); a reader that went away (EPIPE: `nfct -L | head -1`) ends the
// command quietly; any other write error (ENOSPC on /dev/full, EIO) loses that batch and the
// command carries on, as conntrack's stdio does; a signal ends the wait for a reader that does
// not read. How flows become lines is output.ts's (this module loads no formatter).
import { setMaxListeners } from 'node:events';
import { closeSync, constants, fstatSync, openSync, statSync, write as writeFd, writeSync } from 'node:fs';

import { withLiveFields } from '../core/view.js';

/** Thrown out of a command when stdout's reader has gone: nfct ends quietly. */
export class StdoutClosed extends Error {
  constructor() {
    super('stdout closed');
  }
}

/** Where the batches go: a Writable (process.stdout, in tests) or a file descriptor. */
export type Sink = NodeJS.WritableStream | { fd: number };

/** Bytes a batch buffer starts with; it grows for a larger batch and is reused. */
const CHUNK_BYTES = 1 << 20;

/** The largest batch drain() writes at once (a pipe's default capacity). */
const AT_ONCE_BYTES = 64 * 1024;

/**
 * A descriptor writing where `fd` does that never waits: `fd` itself for a regular file; for a
 * pipe or a terminal, the same file opened again with O_NONBLOCK (a description of its own:
 * the flags of stdout's, which other processes share, stay as they are); -1 for anything else
 * (a socket, or a pipe without a reader).
 */
function neverWaits(fd: number): number {
  try {
    const st = fstatSync(fd);
    if (st.isFile()) return fd;
    if (!st.isFIFO() && !st.isCharacterDevice()) return -1;
    const { O_WRONLY, O_NONBLOCK, O_NOCTTY } = constants;
    return openSync(`/proc/self/fd/${fd}`, O_WRONLY | O_NONBLOCK | O_NOCTTY);
  } catch {
    return -1;
  }
}

export class Output {
  /** The batch being built: its bytes are chunk[0, used). */
  private chunk = Buffer.allocUnsafeSlow(CHUNK_BYTES);
  private used = 0;
  /** The other buffer: the one the write in flight sends, free again once that write is done. */
  private spare = Buffer.allocUnsafeSlow(CHUNK_BYTES);
  private closed = false;
  private readonly goneController = new AbortController();
  /** The write in flight: at most one, so memory holds at most one batch being written. */
  private waiting: Promise<void> | undefined;
  /** Lines written so far. */
  lines = 0;

  private readonly onError = (e: NodeJS.ErrnoException): void => {
    // Another write error: what the write held is lost, and the command goes on.
    if (e.code === 'EPIPE' || e.code === 'ERR_STREAM_DESTROYED') this.markClosed();
  };

  /**
   * With a file descriptor, each batch is one write(2) on a libuv worker thread: the next batch
   * is formatted meanwhile, a full pipe holds nfct back without blocking its event loop (so a
   * signal still ends it), and EPIPE comes back as the write's error.
   */
  constructor(
    private readonly sink: Sink = process.stdout,
    private readonly stop?: AbortSignal,
  ) {
    if (!('fd' in sink && typeof sink.fd === 'number' && !('write' in sink))) {
      (sink as NodeJS.WritableStream).on('error', this.onError);
    }
  }

  /** A write is still waiting for the reader. */
  get pending(): boolean {
    return this.waiting !== undefined;
  }

  /** Whether stdout is /dev/null (nobody will read what is written). */
  get discarded(): boolean {
    if (this.stream) return false;
    try {
      const out = fstatSync((this.sink as { fd: number }).fd);
      const nul = statSync('/dev/null');
      return out.isCharacterDevice() && out.rdev === nul.rdev;
    } catch {
      return false;
    }
  }

  private get stream(): NodeJS.WritableStream | undefined {
    return 'write' in this.sink ? (this.sink) : undefined;
  }

  /** Stops listening to the stream (the writer is done). */
  close(): void {
    this.stream?.off('error', this.onError);
    if (this.atOnceFd !== undefined && this.atOnceFd !== (this.sink as { fd?: number }).fd && this.atOnceFd >= 0) {
      closeSync(this.atOnceFd);
    }
    this.atOnceFd = undefined;
  }

  /** Where writeAtOnce() writes (see neverWaits()); undefined until first needed. */
  private atOnceFd: number | undefined;

  /** Writes what stdout takes of the batch now, without waiting; the rest stays in the batch. */
  private writeAtOnce(): void {
    if (this.stream) return;
    this.atOnceFd ??= neverWaits((this.sink as { fd: number }).fd);
    if (this.atOnceFd < 0) return;
    let at = 0;
    try {
      while (at < this.used) at += writeSync(this.atOnceFd, this.chunk, at, this.used - at);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EPIPE') {
        this.used = 0;
        this.markClosed();
        return;
      }
      // EAGAIN: the reader has not made room; another error: the usual write meets it again.
    }
    if (at === 0) return;
    this.chunk.copy(this.chunk, 0, at, this.used);
    this.used -= at;
  }

  /** Adds one line (without its newline) to the current batch. */
  line(text: string): void {
    this.put(text);
    this.chunk[this.used++] = 10;
    this.lines++;
  }

  /** Adds text as it is. */
  raw(text: string): void {
    this.put(text);
  }

  /** Adds `count` whole lines already encoded (each with its newline), as they are. */
  bytes(data: Buffer, count: number): void {
    if (this.used + data.length > this.chunk.length) {
      const bigger = Buffer.allocUnsafeSlow(Math.max(this.chunk.length * 2, this.used + data.length));
      this.chunk.copy(bigger, 0, 0, this.used);
      this.chunk = bigger;
    }
    this.used += data.copy(this.chunk, this.used);
    this.lines += count;
  }

  /** Encodes text (UTF-8) at the end of the batch, with room for one more byte after it. */
  private put(text: string): void {
    const most = text.length * 3 + 1;
    if (this.used + most > this.chunk.length) {
      const bigger = Buffer.allocUnsafeSlow(Math.max(this.chunk.length * 2, this.used + most));
      this.chunk.copy(bigger, 0, 0, this.used);
      this.chunk = bigger;
    }
    this.used += this.chunk.write(text, this.used, 'utf8');
  }

  /** Takes the batch's bytes out (the buffers swap: the next batch goes into the spare one). */
  private take(): Buffer {
    const data = this.chunk.subarray(0, this.used);
    [this.chunk, this.spare] = [this.spare, this.chunk];
    this.used = 0;
    return data;
  }

  /** Callers of until() waiting now: the stop signal resolves them all. */
  private readonly waiters = new Set<() => void>();
  private listening = false;

  /**
   * Resolves when `work` does, or at once when the stop signal comes (SIGINT/SIGTERM/SIGHUP).
   * One listener on the signal serves every waiter (with --all-netns hundreds of commands may
   * wait at once).
   */
  private until(work: Promise<void>): Promise<void> {
    const stop = this.stop;
    if (!stop) return work;
    if (stop.aborted) return Promise.resolve();
    if (!this.listening) {
      this.listening = true;
      stop.addEventListener('abort', () => {
        for (const w of [...this.waiters]) w();
      }, { once: true });
    }
    return new Promise<void>((resolve) => {
      const done = (): void => {
        this.waiters.delete(done);
        resolve();
      };
      this.waiters.add(done);
      work.then(done, done);
    });
  }

  private send(data: Buffer): Promise<void> | undefined {
    const stream = this.stream;
    if (!stream) {
      const fd = (this.sink as { fd: number }).fd;
      return new Promise<void>((resolve) => {
        const write = (offset: number): void => {
          writeFd(fd, data, offset, data.length - offset, null, (err, n) => {
            if (err) {
              if (err.code === 'EAGAIN') return void setTimeout(() => write(offset), 5);
              // EPIPE ends the command; another error loses the rest of this batch only.
              if (err.code === 'EPIPE') this.markClosed();
              resolve();
              return;
            }
            if (offset + n < data.length) write(offset + n);
            else resolve();
          });
        };
        write(0);
      });
    }
    // A stream may keep the chunk queued after write() returns, and the chunk is reused: a copy.
    if (stream.write(Buffer.from(data))) return undefined;
    return new Promise<void>((resolve) => {
      const done = (): void => {
        stream.off('drain', done);
        stream.off('close', done);
        resolve();
      };
      stream.on('drain', done);
      stream.on('close', done);
    });
  }

  /** Writes the batch: one write; waits while the one before is still going. Throws StdoutClosed on EPIPE. */
  async flush(): Promise<void> {
    if (this.closed) throw new StdoutClosed();
    // Several commands may share the writer (--all-netns): each waits until no write is in flight.
    while (this.waiting && !this.stop?.aborted) await this.until(this.waiting);
    if (this.closed) throw new StdoutClosed();
    if (this.used === 0 || this.waiting) return;
    const sent = this.send(this.take());
    const waiting: Promise<void> | undefined = sent?.then(() => {
      if (this.waiting === waiting) this.waiting = undefined;
    });
    this.waiting = waiting;
    if (this.stream) {
      // An EPIPE is reported on the next tick: let it be seen before the next batch.
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (this.closed) throw new StdoutClosed();
    }
  }

  /** Waits for the last write (at the end of a command). */
  async drain(): Promise<void> {
    // The end of a command's output, nothing left to format meanwhile: a small batch goes out
    // at once where stdout takes it without waiting, sparing a trip to libuv's pool and back
    // (and, for a command that writes once, the start of its threads). What it does not take
    // goes the usual way.
    if (!this.waiting && !this.closed && this.used > 0 && this.used <= AT_ONCE_BYTES) this.writeAtOnce();
    await this.flush();
    if (this.waiting) await this.until(this.waiting);
    // Stopped by a signal while a write is still going (the last one: the end of an XML
    // document written after the signal), or with more to write behind it: the rest goes out
    // if the writes end soon; a reader that does not read is not waited for longer than that.
    if (this.stop?.aborted && (this.waiting || this.used > 0)) {
      const deadline = Date.now() + 250;
      const inFlight = (): Promise<void> | undefined => this.waiting; // changes while awaiting
      for (let w = inFlight(); (w || this.used > 0) && !this.closed && Date.now() < deadline; w = inFlight()) {
        if (w) {
          let timer: NodeJS.Timeout | undefined;
          await Promise.race([w, new Promise<void>((resolve) => (timer = setTimeout(resolve, deadline - Date.now())))]);
          clearTimeout(timer);
        } else await this.flush();
      }
    }
    if (this.closed) throw new StdoutClosed();
  }

  /**
   * For live streams: writes the batch once the caller next waits for input (a stream's items
   * of one batch come without a turn of the event loop, so this is one write per batch).
   */
  schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.flush().catch(() => undefined);
    });
  }

  /** Resolves once stdout can take more (at once unless a write is still going). */
  async ready(): Promise<void> {
    if (this.closed) throw new StdoutClosed();
    if (this.waiting) await this.until(this.waiting);
    if (this.closed) throw new StdoutClosed();
  }

  private scheduled = false;

  /** Writes what is left, without waiting; before an error message. */
  flushSync(): void {
    if (this.closed || this.used === 0) return;
    const data = this.chunk.subarray(0, this.used);
    this.used = 0;
    const stream = this.stream;
    if (stream) stream.write(Buffer.from(data));
    else {
      try {
        for (let at = 0; at < data.length;) at += writeSync((this.sink as { fd: number }).fd, data, at);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EPIPE') this.markClosed();
      }
    }
  }

  get broken(): boolean {
    return this.closed;
  }

  /**
   * Aborted once stdout is found closed (EPIPE: `nfct -E | head -1`), so that a command waiting
   * for its next event ends then, not at the write after it.
   */
  get gone(): AbortSignal {
    if (!this.goneShared) {
      // Each stream of --all-netns listens on it: as many as there are namespaces. Set when a
      // command first asks for it (setMaxListeners loads more of node than -C otherwise does).
      setMaxListeners(0, this.goneController.signal);
      this.goneShared = true;
    }
    return this.goneController.signal;
  }

  private goneShared = false;

  private markClosed(): void {
    this.closed = true;
    this.goneController.abort();
  }

  /**
   * The same writer for one of several commands writing at once (--all-netns): every line and
   * every line of raw text goes through `mark` first; batching, waiting and EPIPE are shared.
   */
  marked(mark: (line: string) => string): Writer {
    // Lines end at '\n' only (a '\r' inside a line is part of it).
    const each = (text: string): string => text.split('\n').map((line) => (line === '' ? line : mark(line))).join('\n');
    const view: Omit<Writer, 'pending' | 'discarded' | 'broken'> = {
      line: (text) => this.line(mark(text)),
      raw: (text) => this.raw(each(text)),
      bytes: (data, count) => {
        // Byte for byte: the lines are latin1 text (a helper or security context may hold any
        // byte), and go out as they came, marked.
        this.bytes(Buffer.from(each(data.toString('latin1')), 'latin1'), count);
      },
      flush: () => this.flush(),
      drain: () => this.drain(),
      schedule: () => this.schedule(),
      ready: () => this.ready(),
      flushSync: () => this.flushSync(),
      close: () => undefined,
      gone: this.gone,
      marked: (inner) => this.marked((text) => mark(inner(text))),
    };
    // What the shared writer knows now (queued bytes, a closed pipe), read at each access.
    return withLiveFields(view, this, ['pending', 'discarded', 'broken']);
  }
}

/** What a command writes with: the Output itself, or a marked view of it. */
export type Writer = Pick<Output,
  'line' | 'raw' | 'bytes' | 'flush' | 'drain' | 'schedule' | 'ready' | 'flushSync' | 'close' | 'pending' | 'discarded'
    | 'broken' | 'gone' | 'marked'>;
