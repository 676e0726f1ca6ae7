// The two stream classes every reader shares (lib/core/stream.ts), as a user meets them: a dump
// (list(), expectations) is iterated once and ends when closed or disposed; a live stream
// (events, NFLOG, TRACE) counts what it read and nobody consumed, lets go of its AbortSignal
// when closed, and ends at once for a signal already aborted. Its options are checked against
// the documented bounds and defaults.
import { getEventListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { normalizeLiveOptions } from '../../lib/core/stream.js';
import { Conntrack, type FlowInput } from '../../lib/index.js';
import { createNetns, type Netns } from '../helpers/netns.js';
import { until } from '../helpers/sentinel.js';

const MiB = 1 << 20;
let ns: Netns;
let ct: Conntrack;

const udp = (i: number): FlowInput => ({ protocol: 'udp', src: '10.1.0.1', dst: '10.1.0.2', srcPort: 20000 + i,
  dstPort: 53, timeout: 600 });

beforeAll(async () => {
  ns = await createNetns('nfct-core-stream');
  ct = await Conntrack.open({ netns: ns.name });
  for (let i = 0; i < 3; i++) await ct.create(udp(i));
});

afterAll(async () => {
  await ct?.close();
  await ns?.remove();
});

/** Resolves as `p` does, or to 'pending' once `ms` have passed (a bound for a failure only). */
const within = <T>(p: Promise<T>, ms = 5000): Promise<T | 'pending'> =>
  Promise.race([p, sleep(ms).then(() => 'pending' as const)]);

describe('live stream options', () => {
  test('bufferSize and maxBufferSize stop at 2^31 - 1 bytes, what the kernel takes in an int', () => {
    expect(() => ct.events({ bufferSize: 2 ** 31 })).toThrow(/events\(\) options\.bufferSize/);
    expect(() => ct.events({ maxBufferSize: 2 ** 31 })).toThrow(/events\(\) options\.maxBufferSize/);
    expect(normalizeLiveOptions({ bufferSize: 2 ** 31 - 1 }, 'o').tuning.rcvbuf).toBe(2 ** 31 - 1);
  });

  test('the documented defaults: a 32 MiB buffer that may grow to 256 MiB, 256 MiB of decoded items', () => {
    expect(normalizeLiveOptions({}, 'o').tuning).toEqual({ rcvbuf: 32 * MiB, rcvbufMax: 256 * MiB,
      maxQueueBytes: 256 * MiB });
    // A larger start raises the bound with it.
    expect(normalizeLiveOptions({ bufferSize: 300 * MiB }, 'o').tuning.rcvbufMax).toBe(300 * MiB);
  });
});

describe('a dump', () => {
  test('is iterated once: a second loop, or a loop over a closed one, is refused with what to do', async () => {
    const once = ct.list();
    expect(await once.toArray()).toHaveLength(3);
    expect(() => once[Symbol.asyncIterator]()).toThrow('a stream can be iterated once; call list() again');
    const closed = ct.list();
    await closed.close();
    expect(() => closed[Symbol.asyncIterator]()).toThrow('a stream can be iterated once; call list() again');
    await expect(closed.toArray()).rejects.toThrow('a stream can be iterated once');
  });

  test('close() inside the loop ends it after the item at hand, though the batch holds more', async () => {
    const stream = ct.list();
    let n = 0;
    for await (const _ of stream) {
      n++;
      await stream.close();
    }
    expect(n).toBe(1);
  });

  test('disposal ends it as close() does', async () => {
    const stream = ct.list();
    const it = stream[Symbol.asyncIterator]();
    expect((await it.next()).done).toBe(false);
    await stream[Symbol.asyncDispose]();
    expect(await it.next()).toEqual({ value: undefined, done: true });
  });

  test('of expectations, iterated item by item, gives what toArray() gives', async () => {
    const master = (port: number) =>
      ({ protocol: 'tcp', src: '10.0.0.1', dst: '10.0.0.2', srcPort: port, dstPort: 21 }) as const;
    for (const port of [40001, 40002]) {
      await ct.create({ ...master(port), timeout: 600, state: 'ESTABLISHED', helper: 'ftp' });
      await ct.expectations.create({ master: master(port),
        tuple: { protocol: 'tcp', src: '10.0.0.2', dst: '10.0.0.1', srcPort: 0, dstPort: port + 10000 },
        mask: { srcPort: 0 }, timeout: 120 });
    }
    const looped = [];
    for await (const e of ct.expectations.list()) looped.push(e);
    const all = await ct.expectations.list().toArray();
    expect(all).toHaveLength(2);
    expect(looped.map((e) => (e.tuple as { dstPort: number }).dstPort).sort()).toEqual([50001, 50002]);
    // The timeouts count down between the two reads.
    const steady = (list: typeof all) => list.map((e) => ({ ...e, timeout: undefined }));
    expect(steady(looped)).toEqual(steady(all));
  });
});

describe('a live stream', () => {
  test('closed with items read and not consumed: dropped counts each of them', async () => {
    const stream = ct.events({ types: ['new'] });
    // Ten at once: the reader takes them from the kernel in one go, one batch.
    await ct.createMany(Array.from({ length: 10 }, (_, i) => udp(10 + i)));
    await until(() => stream.stats.received >= 10, 'the ten events read');
    const first = await stream.next();
    expect(first.done).toBe(false);
    expect(stream.dropped).toBe(0);
    await stream.close();
    expect(stream.dropped).toBe(9);
  });

  test('lets go of its AbortSignal when closed: a long-lived signal collects no listeners', async () => {
    const ac = new AbortController();
    const before = getEventListeners(ac.signal, 'abort').length;
    const streams = [ct.events({ signal: ac.signal }), ct.events({ signal: ac.signal })];
    expect(getEventListeners(ac.signal, 'abort').length).toBeGreaterThan(before);
    for (const s of streams) await s.close();
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(before);
  });

  test('with a signal already aborted: ends at once', async () => {
    const stream = ct.events({ signal: AbortSignal.abort() });
    expect(await within(stream.next())).toEqual({ value: undefined, done: true });
  });

  test('disposal ends it as close() does', async () => {
    const stream = ct.events();
    const pending = stream.next();
    await stream[Symbol.asyncDispose]();
    expect(await within(pending)).toEqual({ value: undefined, done: true });
    expect(await stream.next()).toEqual({ value: undefined, done: true });
  });
});
