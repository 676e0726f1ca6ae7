// What every command gets: the output writer, stderr in nfct's voice, and a stop signal that
// SIGINT, SIGTERM and SIGHUP raise (commands end cleanly at the next batch and say how far
// they got).
import { BANNER } from './messages.js';
import { Output, type Sink, type Writer } from './writer.js';

export interface Context {
  out: Writer;
  /** A line on stderr, as it is. */
  err(line: string): void;
  /** A line on stderr signed with nfct's name and version. */
  say(line: string): void;
  /** Aborted by SIGINT, SIGTERM or SIGHUP. */
  stop: AbortSignal;
  /** The signal that stopped the command, if one did. */
  signal?: NodeJS.Signals;
  /** Set by a command the signal stopped before it did anything: nfct then ends by that signal. */
  dieBySignal?: boolean;
}

export function makeContext(sink?: Sink): { ctx: Context; dispose(): void } {
  const ac = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    ctx.signal ??= signal;
    ac.abort();
  };
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  for (const s of signals) process.on(s, onSignal);
  const ctx: Context = {
    out: new Output(sink, ac.signal),
    err: (line) => void process.stderr.write(`${line}\n`),
    say: (line) => void process.stderr.write(`${BANNER}${line}\n`),
    stop: ac.signal,
  };
  return {
    ctx,
    dispose: () => {
      ctx.out.close();
      for (const s of signals) process.off(s, onSignal);
      // A write to a reader that stopped reading cannot be taken back, and the process cannot
      // exit while it waits: the command has said how far it got, now the signal ends it.
      // A command stopped before it did anything ends by the signal too, as conntrack does.
      if (ctx.signal && (ctx.out.pending || ctx.dieBySignal) && sink) process.kill(process.pid, ctx.signal);
    },
  };
}

/** The context with another writer (the same stderr, stop signal and signal seen). */
export function withWriter(ctx: Context, out: Writer): Context {
  return {
    out,
    err: ctx.err,
    say: ctx.say,
    stop: ctx.stop,
    get signal() {
      return ctx.signal;
    },
  };
}
