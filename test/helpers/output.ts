// A child process's output gathered as it comes, for tests that watch a long-running command
// (conntrack -E, nfct -E) and stop it later.
import type { ChildProcess } from 'node:child_process';

export interface CollectedOutput {
  /** Every whole stdout line so far. */
  all: string[];
  /** The stdout lines so far that do not contain the hidden text (a sentinel's address). */
  lines: string[];
  /** stdout and stderr so far, whole. */
  out: string;
  err: string;
  /** The exit code, once the process has exited and its output has been read to the end. */
  closed: Promise<number | null>;
}

export function collectOutput(child: ChildProcess, hidden: string): CollectedOutput {
  const c: CollectedOutput = { all: [], lines: [], out: '', err: '', closed: new Promise((res) => child.on('close', (code) => res(code))) };
  let buf = '';
  child.stdout!.setEncoding('utf8');
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => (c.err += d));
  child.stdout!.on('data', (d: string) => {
    c.out += d;
    buf += d;
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      c.all.push(line);
      if (!line.includes(hidden)) c.lines.push(line);
    }
  });
  return c;
}
