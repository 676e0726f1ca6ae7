// eachUntilStopped() when the stop came before it started (a signal during the command's
// start-up): the stream is ended at once and what it had received is still handed over, then
// closed. And when stdout was already gone: closed at once, nothing handed over.
import { describe, expect, test } from 'vitest';

import { eachUntilStopped, type Endable, unwrittenLine } from '../../lib/cli/commands/stop-gently.js';

/** A stream holding `items`, that goes on (never done) until end() or close(). */
function stream(items: number[]): Endable<number> & { ended: boolean; closed: boolean } {
  const queue = [...items];
  let wake: (() => void) | undefined;
  const s = {
    ended: false,
    closed: false,
    dropped: 0,
    end() {
      s.ended = true;
      wake?.();
    },
    async close() {
      s.closed = true;
      s.dropped += queue.length;
      queue.length = 0;
      wake?.();
    },
    async next(): Promise<IteratorResult<number>> {
      while (queue.length === 0 && !s.ended && !s.closed) await new Promise<void>((r) => (wake = r));
      const v = queue.shift();
      return v === undefined ? { done: true, value: undefined } : { done: false, value: v };
    },
  };
  return s;
}

const out = (gone = new AbortController().signal) => ({ ready: async () => undefined, gone });

describe('eachUntilStopped()', () => {
  test('a stop given before it starts: the items received are handed over, then the stream ends and is closed', async () => {
    const s = stream([1, 2, 3]);
    const got: number[] = [];
    await eachUntilStopped(s, AbortSignal.abort(), out(), (v) => void got.push(v));
    expect(got).toEqual([1, 2, 3]);
    expect([s.ended, s.closed, s.dropped]).toEqual([true, true, 0]);
  });

  test('a stop that comes later ends it the same way', async () => {
    const s = stream([1, 2]);
    const stop = new AbortController();
    const got: number[] = [];
    const run = eachUntilStopped(s, stop.signal, out(), (v) => {
      got.push(v);
      if (got.length === 2) stop.abort();
    });
    await run;
    expect(got).toEqual([1, 2]);
    expect([s.ended, s.closed]).toEqual([true, true]);
  });

  test('stdout gone before it starts: the stream is closed at once, nothing handed over', async () => {
    const s = stream([1, 2, 3]);
    const got: number[] = [];
    await eachUntilStopped(s, new AbortController().signal, out(AbortSignal.abort()), (v) => void got.push(v));
    expect(got).toEqual([]);
    expect([s.closed, s.dropped]).toEqual([true, 3]);
  });
});

// The line nfct says when it dropped items: named by the signal that stopped it, or without one
// when the stop was nfct's own (a namespace of --all-netns gone while its stream was busy).
describe('unwrittenLine()', () => {
  test('none dropped: no line', () => {
    expect(unwrittenLine(0, 'events', 'SIGTERM')).toBeUndefined();
  });
  test('dropped after a signal: the line names it', () => {
    expect(unwrittenLine(3, 'events', 'SIGTERM')).toBe(
      'nfct: 3 events received from the kernel were not written: stopped by SIGTERM, nfct wrote for 750 ms and ended',
    );
  });
  test('dropped after a stop of its own: no signal named', () => {
    expect(unwrittenLine(2, 'packets', undefined)).toBe(
      'nfct: 2 packets received from the kernel were not written: stopped, nfct wrote for 750 ms and ended',
    );
  });
});
