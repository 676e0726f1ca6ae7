// Every file the CLI reads (the -R load file, stdin, the exporter's --web-config) is read here:
// opened without blocking, read a chunk at a time with a turn of the event loop between
// chunks, so that SIGINT/SIGTERM/SIGHUP are handled whatever the input is (a FIFO nobody
// writes to, /dev/zero, a terminal, a device that never answers). Nothing blocks the main
// thread, and nothing blocks a libuv worker either: a worker stuck in open() or read() holds
// process exit (libuv joins its threads), so pipes and terminals are watched with epoll
// (net.Socket, tty.ReadStream), and everything else is read with O_NONBLOCK, polling on EAGAIN.
import { closeSync, constants, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import type { Readable } from 'node:stream';

import { builtin } from './builtins.js';

/** Bytes read at a time. */
export const CHUNK_BYTES = 1 << 20;
/** How long to wait before reading a non-blocking device again after EAGAIN. */
const RETRY_MS = 20;

/** The input could not be opened: `code` is the errno name (ENOENT, EACCES, ENXIO, ...). */
export class InputOpenError extends Error {
  constructor(
    readonly path: string,
    readonly code: string,
  ) {
    super(`cannot open ${path} for reading (${code})`);
  }
}

/**
 * Whether this process started with its standard input closed: Node then opens /dev/null on
 * fd 0 itself, read-write. (A shell's `<>/dev/null` looks the same, and is taken as closed.)
 */
export function stdinWasClosed(): boolean {
  try {
    const flags = /^flags:\s+([0-7]+)$/m.exec(readFileSync('/proc/self/fdinfo/0', 'latin1'))?.[1];
    const st = fstatSync(0);
    // O_RDWR (2) on /dev/null (character device 1:3).
    return flags !== undefined && (parseInt(flags, 8) & 3) === 2 && st.isCharacterDevice() && st.rdev === 0x103;
  } catch {
    return false;
  }
}

/** An open input: its chunks, then close(). */
export interface Input {
  /** The file descriptor (0 for stdin). */
  readonly fd: number;
  /**
   * The bytes, a chunk at a time, until the end of the input, a read error (the end, as stdio's
   * fgets() sees it: a directory reads as empty) or `stop`. Iterate once.
   */
  chunks(stop?: AbortSignal): AsyncGenerator<Buffer>;
  /** Closes the file (not stdin's fd 0 unless it was handed to a stream). Idempotent. */
  close(): void;
}

/**
 * Opens a path for reading, never blocking: O_NONBLOCK, so that a FIFO without a writer opens
 * at once (its first bytes are then waited for with epoll, as a blocking open would have
 * waited for its writer). `-` is stdin. Throws InputOpenError.
 */
export function openInput(path: string): Input {
  if (path === '-') {
    if (stdinWasClosed()) throw new InputOpenError('/dev/stdin', 'EBADF');
    return inputOf(0, false);
  }
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (e) {
    throw new InputOpenError(path, (e as NodeJS.ErrnoException).code ?? 'EIO');
  }
  return inputOf(fd, true);
}

function inputOf(fd: number, own: boolean): Input {
  let closed = false;
  let stream: Readable | undefined;
  let readFd = fd;
  const close = (): void => {
    if (closed) return;
    closed = true;
    if (stream) stream.destroy();
    else if (own) closeSync(fd);
    if (readFd !== fd) closeSync(readFd);
  };
  async function* chunks(stop?: AbortSignal): AsyncGenerator<Buffer> {
    let st;
    try {
      st = fstatSync(fd);
    } catch {
      return;
    }
    if (st.isFIFO() || st.isSocket()) {
      stream = new (builtin('node:net').Socket)({ fd, readable: true, writable: false });
      yield* streamChunks(stream, stop);
    } else if (builtin('node:tty').isatty(fd)) {
      stream = new (builtin('node:tty').ReadStream)(fd);
      yield* streamChunks(stream, stop);
    } else {
      // stdin's own file description may be blocking (a character device that can wait, such
      // as /dev/kmsg): read it through a description of our own that is not.
      if (!own && st.isCharacterDevice()) {
        try {
          readFd = openSync(`/proc/self/fd/${fd}`, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
        } catch {
          // read fd 0 as it is
        }
      }
      yield* pollChunks(readFd, stop);
    }
  }
  return { fd, chunks, close };
}

/** A pipe's, socket's or terminal's chunks, as epoll reports them; ends at `stop`. */
async function* streamChunks(s: Readable, stop?: AbortSignal): AsyncGenerator<Buffer> {
  // A read error on a pipe ends the input (fgets() returns NULL): it is not reported.
  s.on('error', () => undefined);
  const onAbort = (): void => void s.destroy();
  stop?.addEventListener('abort', onAbort, { once: true });
  try {
    if (stop?.aborted) return;
    for await (const chunk of s) {
      yield chunk as Buffer;
      if (stop?.aborted) return;
    }
  } catch {
    // destroyed by stop, or a read error: the end either way
  } finally {
    stop?.removeEventListener('abort', onAbort);
  }
}

/** A regular file's or device's chunks, read without blocking, a turn of the event loop between them. */
async function* pollChunks(fd: number, stop?: AbortSignal): AsyncGenerator<Buffer> {
  for (;;) {
    if (stop?.aborted) return;
    const buf = Buffer.allocUnsafe(CHUNK_BYTES);
    let n: number;
    try {
      n = readSync(fd, buf, 0, buf.length, null);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN') {
        try {
          await builtin('node:timers/promises').setTimeout(RETRY_MS, undefined, { signal: stop });
        } catch {
          return; // stopped
        }
        continue;
      }
      return; // EISDIR, EIO, ...: the end, as fgets() sees it
    }
    if (n === 0) return;
    // A short read keeps only its bytes (the chunk may be held until the file ends).
    yield n < buf.length / 2 ? Buffer.from(buf.subarray(0, n)) : buf.subarray(0, n);
    // Signals are handled in the event loop: let it turn.
    await builtin('node:timers/promises').setImmediate();
  }
}

/**
 * A small file read whole (a configuration file), at most `maxBytes`: RangeError past that,
 * InputOpenError when it cannot be opened. Killable as every input is.
 */
export async function readSmallFile(path: string, maxBytes: number, what: string, stop?: AbortSignal): Promise<Buffer> {
  const input = openInput(path);
  const parts: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of input.chunks(stop)) {
      total += chunk.length;
      if (total > maxBytes) throw new RangeError(`${what} ${path} is larger than ${maxBytes} bytes`);
      parts.push(chunk);
    }
  } finally {
    input.close();
  }
  return Buffer.concat(parts);
}
