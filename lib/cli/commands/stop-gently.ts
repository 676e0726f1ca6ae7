// A live stream under a command's stop signal (SIGINT, SIGTERM, SIGHUP): the stream stops
// reading from the kernel and what it had already received is still written, for up to
// FLUSH_MS after the signal (a signal ends a command within a second); whatever is left then
// is dropped, and counted (the stream's `dropped`) for the command to say.

/** How long a stopped command goes on writing what its stream had received (ms). */
export const FLUSH_MS = 750;

/** What of a live stream (LiveStream) this needs. */
export interface Endable {
  end(): void;
  readonly dropped: number;
}

export class StopGently {
  #deadline = Infinity;
  readonly #stop: AbortSignal;
  readonly #onStop: () => void;

  constructor(stream: Endable, stop: AbortSignal) {
    this.#stop = stop;
    this.#onStop = () => {
      this.#deadline = Date.now() + FLUSH_MS;
      stream.end();
    };
    if (stop.aborted) this.#onStop();
    else stop.addEventListener('abort', this.#onStop, { once: true });
  }

  /** The signal came and FLUSH_MS have passed: the writer stops taking items (it breaks out). */
  get expired(): boolean {
    return this.#deadline !== Infinity && Date.now() > this.#deadline;
  }

  /** Stops listening to the signal (the command is over). */
  dispose(): void {
    this.#stop.removeEventListener('abort', this.#onStop);
  }
}

/** The line a command says when items it had received were dropped unwritten (none: undefined). */
export function unwrittenLine(dropped: number, what: string, signal: string | undefined): string | undefined {
  if (dropped === 0) return undefined;
  return `nfct: ${dropped} ${what} received from the kernel were not written: stopped${
    signal ? ` by ${signal}` : ''
  }, nfct wrote for ${FLUSH_MS} ms and ended`;
}
