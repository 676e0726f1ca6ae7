// What Nflog.subscribe() asks of the kernel for each option (the group configuration handed to the
// native reader), and the handle's own life: closed, disposed, used after close. A native handle
// that records what it is asked stands in for the socket; no kernel access.
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';

import { addon, type NativeGroupConfig, type ReaderTuning } from '../../lib/core/native.js';
import { Nflog } from '../../lib/index.js';

const TUNING = { rcvbuf: 1 << 20, rcvbufMax: 1 << 22, maxQueueBytes: 1 << 24 };
const asked: { config: NativeGroupConfig; tuning: ReaderTuning }[] = [];

beforeAll(() => {
  vi.spyOn(addon, 'openNflog').mockImplementation(async () => ({
    subscribe: (config: NativeGroupConfig, _onBatch: unknown, tuning: ReaderTuning) => {
      asked.push({ config, tuning });
      return { release: () => undefined, stats: () => new Float64Array(32), close: () => undefined };
    },
    close: () => undefined,
  }));
});
afterAll(() => {
  vi.restoreAllMocks();
});

/** The configuration subscribe() hands over for these options. */
async function configFor(options: Parameters<Nflog['subscribe']>[0]): Promise<NativeGroupConfig> {
  await using nf = await Nflog.open();
  asked.length = 0;
  nf.subscribe(options);
  expect(asked).toHaveLength(1);
  return asked[0]!.config;
}

describe('subscribe(): the group configuration', () => {
  test('defaults: the whole packet, 128 KiB or 100 packets per batch, 0.1 s flush, no flags', async () => {
    expect(await configFor({ group: 4 })).toEqual({ group: 4, copyMode: 2, range: 0xffff, nlbufsiz: 131072,
      qthreshold: 100, timeout: 10, flags: 0 });
  });

  test('every option given', async () => {
    expect(
      await configFor({ group: 3, copy: 'meta', range: 100, nlbufsiz: 8192, qthreshold: 5, timeout: 0.25,
        sequence: 'both', conntrack: true }),
    ).toEqual({ group: 3, copyMode: 1, range: 100, nlbufsiz: 8192, qthreshold: 5, timeout: 25, flags: 7 });
    expect((await configFor({ group: 3, copy: 'none' })).copyMode).toBe(0);
    expect((await configFor({ group: 3, timeout: 0 })).timeout).toBe(0);
    expect((await configFor({ group: 3, conntrack: false })).flags).toBe(0);
  });

  test.each([[true, 1], ['local', 1], ['global', 2], ['both', 3], [false, 0]] as const)(
    'sequence %p: flags %i',
    async (sequence, flags) => {
      expect((await configFor({ group: 1, sequence })).flags).toBe(flags);
    },
  );

  test('the reader hands packets over in batches of up to 1024, unbounded by count', async () => {
    await using nf = await Nflog.open();
    asked.length = 0;
    nf.subscribe({ group: 1, bufferSize: 1 << 20 });
    expect(asked[0]!.tuning).toMatchObject({ maxQueueRecords: 0, maxBatch: 1024 });
  });

  test("a reader started for another source (Trace) is tuned as subscribe()'s", async () => {
    await using nf = await Nflog.open();
    asked.length = 0;
    nf.startReader({ group: 2, copyMode: 2, range: 0xffff, nlbufsiz: 131072, qthreshold: 100, timeout: 10, flags: 0 },
      TUNING, () => undefined);
    expect(asked[0]!.tuning).toEqual({ ...TUNING, maxQueueRecords: 0, maxBatch: 1024 });
  });

  test.each([[Number.NaN], [Number.POSITIVE_INFINITY]])('timeout %p is refused, naming the option', async (timeout) => {
    await using nf = await Nflog.open();
    expect(() => nf.subscribe({ group: 1, timeout })).toThrow(
      new TypeError(`subscribe() options.timeout must be a number of seconds, got ${String(timeout)}`),
    );
    expect(() => nf.subscribe({ group: 1, timeout: 40_000_001 })).toThrow(RangeError);
  });
});

describe('the handle', () => {
  test('closed: false while open, true after close() and after an await using block', async () => {
    const nf = await Nflog.open();
    expect(nf.closed).toBe(false);
    await nf.close();
    expect(nf.closed).toBe(true);
    let kept: Nflog | undefined;
    {
      await using scoped = await Nflog.open();
      kept = scoped;
      expect(scoped.closed).toBe(false);
    }
    expect(kept.closed).toBe(true);
  });

  test('used after close(): ClosedError saying what was called', async () => {
    const nf = await Nflog.open();
    await nf.close();
    expect(() => nf.subscribe({ group: 1 })).toThrow('Nflog handle (subscribe() after close())');
    expect(() =>
      nf.startReader({ group: 1, copyMode: 2, range: 0xffff, nlbufsiz: 131072, qthreshold: 100, timeout: 10, flags: 0 },
        TUNING, () => undefined)
    ).toThrow('Nflog handle (subscribe() after close())');
  });
});
