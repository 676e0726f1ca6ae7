// The one way nfct writes to stdout: lines gather in memory and go out in one write per
// batch; a full pipe makes the next batch wait for 'drain' (so memory stays flat whatever the
// table size); a reader that went away (EPIPE: `nfct -L | head -1`) ends the command quietly.
import * as fmt from '../conntrack/text.js';
import type { Flow } from '../conntrack/types.js';
import type { CtRequest } from './parse.js';

/** Thrown out of a command when stdout's reader has gone: nfct ends quietly. */
export class StdoutClosed extends Error {
  constructor() {
    super('stdout closed');
  }
}

export class Output {
  private buffer = '';
  private closed = false;
  private waiting: Promise<void> | undefined;
  /** Lines written so far. */
  lines = 0;

  private readonly onError = (e: NodeJS.ErrnoException): void => {
    if (e.code === 'EPIPE' || e.code === 'ERR_STREAM_DESTROYED') this.closed = true;
    else throw e;
  };

  constructor(private readonly stream: NodeJS.WritableStream = process.stdout) {
    stream.on('error', this.onError);
  }

  /** Stops listening to the stream (the writer is done). */
  close(): void {
    this.stream.off('error', this.onError);
  }

  /** Adds one line (without its newline) to the current batch. */
  line(text: string): void {
    this.buffer += `${text}\n`;
    this.lines++;
  }

  /** Adds text as it is. */
  raw(text: string): void {
    this.buffer += text;
  }

  /** Writes the batch: one write; waits while the stream is full. Throws StdoutClosed on EPIPE. */
  async flush(): Promise<void> {
    if (this.closed) throw new StdoutClosed();
    if (this.waiting) await this.waiting;
    if (this.buffer.length === 0) return;
    const text = this.buffer;
    this.buffer = '';
    if (!this.stream.write(text)) {
      this.waiting = new Promise<void>((resolve) => {
        const done = (): void => {
          this.stream.off('drain', done);
          this.stream.off('close', done);
          this.waiting = undefined;
          resolve();
        };
        this.stream.on('drain', done);
        this.stream.on('close', done);
      });
    }
    // An EPIPE is reported on the next tick: let it be seen before the next batch.
    await new Promise<void>((resolve) => setImmediate(resolve));
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

  /** Resolves once stdout can take more (at once unless a write is waiting for 'drain'). */
  async ready(): Promise<void> {
    if (this.closed) throw new StdoutClosed();
    if (this.waiting) await this.waiting;
    if (this.closed) throw new StdoutClosed();
  }

  private scheduled = false;

  /** Writes what is left, without waiting; for signal handlers and the end. */
  flushSync(): void {
    if (this.closed || this.buffer.length === 0) return;
    const text = this.buffer;
    this.buffer = '';
    this.stream.write(text);
  }

  get broken(): boolean {
    return this.closed;
  }
}

/** How the conntrack command prints one flow, for each -o mode (and --json). */
export type FlowPrinter = {
  /** Adds the flow's line(s) to the batch. */
  flow(out: Output, flow: Flow): void;
  /** After the last flow (closes an XML document that was opened). */
  end(out: Output): void;
};

export function flowPrinter(r: CtRequest, kind: 'list' | 'delete' | 'update' | 'get'): FlowPrinter {
  if (r.json) {
    return { flow: (out, f) => out.line(JSON.stringify(f)), end: () => undefined };
  }
  const o = r.output;
  if (o.has('save')) {
    const type = kind === 'delete' ? 'destroy' : 'new';
    return { flow: (out, f) => out.line(fmt.formatSave(f, { type })), end: () => undefined };
  }
  // Labels are printed when a label map was read (-o labels, -l, --label-add/--label-del),
  // except by -D, which prints without one.
  const labels = kind !== 'delete' && r.labelNames ? Object.fromEntries(r.labelNames) : undefined;
  const ktimestamp = (kind === 'list' || kind === 'get') && o.has('ktimestamp');
  if (o.has('xml')) {
    let opened = kind !== 'list' && kind !== 'get';
    return {
      flow: (out, f) => {
        if (!opened) {
          out.raw(fmt.XML_HEADER);
          opened = true;
        }
        out.line(fmt.formatXml(f, { ktimestamp, labels }));
      },
      end: (out) => {
        if (opened && kind === 'list') out.raw(fmt.XML_FOOTER);
      },
    };
  }
  const options: fmt.FlowFormatOptions = { extended: o.has('extended'), id: o.has('id'), ktimestamp, labels };
  return { flow: (out, f) => out.line(fmt.formatFlow(f, options)), end: () => undefined };
}
