/**
 * Waiting in tests: for a sentinel (an event, a readiness line, a counter reaching a value),
 * never for a fixed time. The time limit of each helper is only a failure bound: reaching it
 * fails the test with what was being waited for, it never lets a test pass.
 */
import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';

import type { CollectedOutput } from './output.js';

/** The default failure bound: generous, as the machine may be busy with other work. */
export const BOUND_MS = 20_000;

export class WaitTimeout extends Error {
  constructor(what: string, ms: number, detail?: string) {
    super(`timed out after ${ms} ms waiting for ${what}${detail ? `: ${detail}` : ''}`);
    this.name = 'WaitTimeout';
  }
}

/**
 * Calls `probe` (every `every` ms) until it returns something other than undefined, null or
 * false, and resolves that. A counter read from the kernel, a file's size, a list's length.
 */
export async function until<T>(
  probe: () => T | Promise<T>,
  what: string,
  opts: { ms?: number; every?: number; detail?: () => string } = {},
): Promise<Exclude<T, undefined | null | false>> {
  const ms = opts.ms ?? BOUND_MS;
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== null && v !== false) return v as Exclude<T, undefined | null | false>;
    if (Date.now() > deadline) throw new WaitTimeout(what, ms, opts.detail?.());
    await sleep(opts.every ?? 10);
  }
}

/**
 * Resolves once a child's output holds a line `match` accepts (also one already there):
 * a readiness line (`listening on`, `serving /metrics on`), an event a watcher printed.
 */
export function lineIn(c: CollectedOutput, match: (line: string) => boolean, what: string,
  ms = BOUND_MS): Promise<string>
{
  return until(() => c.all.find(match), what, { ms,
    detail: () => `stdout ${JSON.stringify(c.all.slice(-5))} stderr ${JSON.stringify(c.err.slice(-500))}` });
}

/** Resolves with the first stderr text of `child` that `match` accepts (tcpdump's `listening on ...`). */
export function stderrLine(child: ChildProcess, match: RegExp, what: string, ms = BOUND_MS): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (d: Buffer | string): void => {
      text += String(d);
      const m = match.exec(text);
      if (m) done(() => resolve(m[0]));
    };
    const onExit = (code: number | null): void =>
      done(() => reject(new Error(`${what}: the process exited (${code}) first: ${text}`)));
    const timer = setTimeout(() => done(() => reject(new WaitTimeout(what, ms, text))), ms);
    const done = (f: () => void): void => {
      clearTimeout(timer);
      child.stderr!.off('data', onData);
      child.off('exit', onExit);
      f();
    };
    child.stderr!.on('data', onData);
    child.once('exit', onExit);
  });
}

/**
 * Makes sure long-running watchers (conntrack -E, nfct -E ...) are subscribed before a test
 * acts: `poke(k)` makes a sentinel event (a conntrack entry, a logged packet) numbered k, and
 * `seen(k)` says whether every watcher printed it. A watcher may not be subscribed yet when a
 * sentinel happens and never print it, so new sentinels are made until one is seen by all;
 * the ones made are returned (to be removed, or left out of what the test compares).
 */
export async function watchersReady(
  poke: (k: number) => Promise<void>,
  seen: (k: number) => boolean,
  what: string,
  ms = BOUND_MS,
): Promise<number[]> {
  const deadline = Date.now() + ms;
  const made: number[] = [];
  for (let k = 0;; k++) {
    if (Date.now() > deadline) throw new WaitTimeout(`${what} to see a sentinel`, ms);
    made.push(k);
    await poke(k);
    // How long to wait for this one before making the next: not a pass/fail criterion.
    const next = Date.now() + 200;
    while (!seen(k) && Date.now() < next) await sleep(5);
    if (seen(k)) return made;
  }
}
