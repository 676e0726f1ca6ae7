// What every command gets: the output writer, stderr in nfct's voice, and a stop signal that
// SIGINT, SIGTERM and SIGHUP raise (commands end cleanly at the next batch and say how far
// they got).
import { BANNER } from './messages.js';
import { Output, type Sink } from './output.js';

export interface Context {
  out: Output;
  /** A line on stderr, as it is. */
  err(line: string): void;
  /** A line on stderr signed with nfct's name and version. */
  say(line: string): void;
  /** Aborted by SIGINT, SIGTERM or SIGHUP. */
  stop: AbortSignal;
}

export function makeContext(sink?: Sink): { ctx: Context; dispose(): void } {
  const ac = new AbortController();
  const onSignal = (): void => ac.abort();
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
    },
  };
}
