// A child process's output gathered as it comes, for tests that watch a long-running command
// (conntrack -E, nfct -E) and stop it later. nfct's JSON lines are validated against
// schema/*.json as they come (./schema.ts): a line that breaks the contract makes `closed`
// reject with the line and the reasons.
import type { ChildProcess } from 'node:child_process';

import { checkLine } from './schema.js';

export interface CollectedOutput {
  /** Every whole stdout line so far. */
  all: string[];
  /** The stdout lines so far that do not contain the hidden text (a sentinel's address). */
  lines: string[];
  /** stdout and stderr so far, whole. */
  out: string;
  err: string;
  /**
   * The exit code, once the process has exited and its output has been read to the end;
   * rejects when a JSON line broke the schema.
   */
  closed: Promise<number | null>;
  /** The first schema violation seen so far. */
  violation?: Error;
}

export interface CollectOptions {
  /**
   * The command was given --json: every line must be a JSON object of the contract. Otherwise
   * only the lines that start with `{` are checked (text output has none; conntrack's none).
   */
  json?: boolean;
  /** What ran, for messages. */
  where?: string;
}

export function collectOutput(child: ChildProcess, hidden: string, o: CollectOptions = {}): CollectedOutput {
  const exited = new Promise<number | null>((res) => child.on('close', (code) => res(code)));
  const c: CollectedOutput = {
    all: [],
    lines: [],
    out: '',
    err: '',
    closed: exited.then((code) => {
      if (c.violation) throw c.violation;
      return code;
    }),
  };
  c.closed.catch(() => undefined); // reported to whoever awaits it
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
      if (!c.violation && (line.startsWith('{') || (o.json && line !== ''))) {
        try {
          checkLine(line, o.where);
        } catch (e) {
          c.violation = e as Error;
        }
      }
    }
  });
  return c;
}
