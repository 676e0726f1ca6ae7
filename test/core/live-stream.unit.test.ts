/**
 * LiveStream's own steps, with a source made by hand (the kernel's streams take them for
 * granted): items that end by time (a trace group) come after idleWait() with no batch, and not
 * before; a reader that fails ends the stream with its error rather than being asked again.
 * test/kmsg/kmsg.test.ts shows the first on the kernel (a legacy TRACE packet ends while the
 * log is quiet).
 */
import { describe, expect, test, vi } from 'vitest';

import type { BatchSource, RawBatch } from '../../lib/core/reader.js';
import { LiveStream } from '../../lib/core/stream.js';

/** A source whose next() answers are set by the test, one at a time. */
class HandSource {
  closed = false;
  asked = 0;
  readonly stats = { received: 0, matched: 0, malformed: 0, overruns: 0 };
  readonly dropped = 0;
  #answer: { resolve: (b: RawBatch | null) => void; reject: (e: unknown) => void } | undefined;

  next(): Promise<RawBatch | null> {
    this.asked++;
    return new Promise((resolve, reject) => (this.#answer = { resolve, reject }));
  }

  /** Answers the next() asked last: a batch of `count` records, the end (null), or an error. */
  answer(with_: number | null | Error): void {
    const a = this.#answer!;
    this.#answer = undefined;
    if (with_ instanceof Error) a.reject(with_);
    else {
      a.resolve(
        with_ === null ?
          null :
          { tag: 0, buffer: new ArrayBuffer(0), strings: '', count: with_, overruns: 0, rcvbuf: 0 } as RawBatch,
      );
    }
  }

  release(): void {}
  endEarly(): void {}
  close(): void {
    this.closed = true;
  }
}

/** Items `batch:N` per batch; while `wait` is set, idle() gives `idle` once and ends the wait. */
class Timed extends LiveStream<string> {
  wait: number | undefined;
  idleCalls = 0;

  constructor(readonly hand: HandSource, wait: number | undefined) {
    super(hand as unknown as BatchSource, undefined, () => {});
    this.wait = wait;
  }

  protected override decode(batch: RawBatch): string[] {
    return [`batch:${batch.count}`];
  }

  protected override idleWait(): number | undefined {
    return this.wait;
  }

  protected override idle(): string[] {
    this.idleCalls++;
    this.wait = undefined;
    return ['idle'];
  }
}

describe('items that end by time', () => {
  test('idle() gives its items once idleWait() passes without a batch, and the batch asked for still comes', async () => {
    const s = new Timed(new HandSource(), 20);
    expect(await s.next()).toEqual({ value: 'idle', done: false });
    expect(s.idleCalls).toBe(1);
    const later = s.next();
    s.hand.answer(3);
    expect(await later).toEqual({ value: 'batch:3', done: false });
    // The batch asked for before the wait passed was waited for, not asked for again.
    expect(s.hand.asked).toBe(1);
    await s.close();
  });

  test('idle() is not asked before its wait: a batch that comes first is all there is', async () => {
    const s = new Timed(new HandSource(), 60_000);
    const first = s.next();
    // Time for a reader that woke up early (a wait of 0 instead of a minute) to ask idle().
    await new Promise((r) => setTimeout(r, 30));
    s.hand.answer(1);
    expect(await first).toEqual({ value: 'batch:1', done: false });
    expect(s.idleCalls).toBe(0);
    await s.close();
  });
});

describe('a reader that fails', () => {
  test.each([['no idle wait', undefined], ['an idle wait set', 60_000]] as const)(
    'next() rejects with its error and the stream is closed; the reader is not asked again (%s)',
    async (_, wait) => {
      const s = new Timed(new HandSource(), wait);
      const first = s.next();
      await vi.waitFor(() => expect(s.hand.asked).toBe(1));
      const boom = new Error('the reader failed');
      s.hand.answer(boom);
      await expect(first).rejects.toBe(boom);
      expect(s.hand.closed).toBe(true);
      expect([s.hand.asked, s.idleCalls]).toEqual([1, 0]);
      expect(await s.next()).toEqual({ value: undefined, done: true });
    },
  );
});
