// A live stream under a command's stop signal (SIGINT, SIGTERM, SIGHUP): the stream stops
// reading from the kernel and what it had already received is still written, for up to
// FLUSH_MS after the signal (a signal ends a command within a second); whatever is left then
// is dropped, and counted (the stream's `dropped`) for the command to say.

/** How long a stopped command goes on writing what its stream had received (ms). */
export const FLUSH_MS = 750;

/** What of a live stream (LiveStream) this needs. */
export interface Endable<T> extends AsyncIterator<T> {
  end(): void;
  close(): Promise<void>;
  readonly dropped: number;
}

/**
 * Hands each item of `stream` to `each` until the stream ends; `stop` ends its reading, and the
 * items it had received are still handed over for up to FLUSH_MS. Waits for the writer every
 * 4096 items (each() schedules the writes); ends when stdout is found closed. Closes the stream, whose `dropped` then counts what
 * it had received and never handed over.
 */
export async function eachUntilStopped<T>(stream: Endable<T>, stop: AbortSignal,
  out: { ready(): Promise<void>; readonly gone: AbortSignal }, each: (item: T) => void): Promise<void>
{
  // The reader of stdout went away: nothing more can be written, the stream ends at once.
  const onGone = (): void => void stream.close();
  let deadline = Infinity;
  const onStop = (): void => {
    deadline = Date.now() + FLUSH_MS;
    stream.end();
  };
  if (stop.aborted) onStop();
  else stop.addEventListener('abort', onStop, { once: true });
  if (out.gone.aborted) onGone();
  else out.gone.addEventListener('abort', onGone, { once: true });
  try {
    // Not `for await`: an item taken after the time ran out would be neither written nor
    // counted as dropped.
    let n = 0;
    while (Date.now() <= deadline) {
      const r = await stream.next();
      if (r.done === true) break;
      each(r.value);
      if ((++n & 4095) === 0) await out.ready();
    }
  } finally {
    stop.removeEventListener('abort', onStop);
    out.gone.removeEventListener('abort', onGone);
    await stream.close();
  }
}

/** The line a command says when items it had received were dropped unwritten (none: undefined). */
export function unwrittenLine(dropped: number, what: string, signal: string | undefined): string | undefined {
  if (dropped === 0) return undefined;
  return `nfct: ${dropped} ${what} received from the kernel were not written: stopped${
    signal ? ` by ${signal}` : ''
  }, nfct wrote for ${FLUSH_MS} ms and ended`;
}
