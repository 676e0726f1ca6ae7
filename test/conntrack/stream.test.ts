// Streaming: a dump of 100k entries keeps memory bounded by a few batches, a slow consumer
// slows the dump down instead of buffering the table, and leaving the loop frees the socket.
import { setTimeout as sleep } from 'node:timers/promises';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { Conntrack, type Flow } from '../../lib/index.js';
import { createNetns, type Netns } from '../helpers/netns.js';
import { type EntrySpec, loadEntries } from '../oracle/conntrack-cli.js';
import { fdCounts } from '../support/fds.js';

const N = 100_000;
let ns: Netns;
let ct: Conntrack;

beforeAll(async () => {
  ns = await createNetns('nfct-stream');
  const specs: EntrySpec[] = [];
  for (let i = 0; i < N; i++) {
    specs.push({ proto: 'udp', src: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, dst: '10.255.0.1',
      sport: 1024 + (i % 60000), dport: 53, timeout: 900 });
  }
  await loadEntries(ns, specs);
  ct = await Conntrack.open({ netns: ns.name });
}, 180_000);

afterAll(async () => {
  await ct?.close();
  await ns?.remove();
});

describe('list() of 100k entries', () => {
  test('yields every entry once', async () => {
    const seen = new Set<string>();
    let n = 0;
    for await (const f of ct.list()) {
      n++;
      seen.add(f.original.src);
    }
    expect(n).toBe(N);
    expect(seen.size).toBe(N);
  });

  test('a slow consumer holds the dump back: the reader never runs more than a few batches ahead', async () => {
    const batchSize = 1000;
    const stream = ct.list({ batchSize });
    let consumed = 0;
    let maxAhead = 0;
    for await (const _ of stream) {
      consumed++;
      if (consumed % batchSize === 0) {
        if (consumed <= 20 * batchSize) await sleep(10);
        maxAhead = Math.max(maxAhead, stream.stats.received - consumed);
      }
    }
    expect(consumed).toBe(N);
    // Three batches in flight, the one being decoded, the one being read: never the table.
    expect(maxAhead).toBeLessThanOrEqual(6 * batchSize);
    expect(maxAhead).toBeGreaterThan(0);
  });

  test('memory stays bounded by the batch, not the table', async () => {
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    const base = process.memoryUsage().heapUsed;
    let peak = 0;
    let n = 0;
    for await (const _ of ct.list()) {
      if (++n % 5000 === 0) {
        gc?.();
        peak = Math.max(peak, process.memoryUsage().heapUsed - base);
      }
    }
    gc?.();
    const all = await ct.list().toArray();
    gc?.();
    const held = process.memoryUsage().heapUsed - base;
    expect(all.length).toBe(N);
    // Holding the table costs far more than streaming it.
    expect(held).toBeGreaterThan(4 * peak);
    expect(peak).toBeLessThan(16 * 1024 * 1024);
  });

  test('break ends the dump and releases its socket', async () => {
    const before = fdCounts().socket;
    let during = 0;
    let n = 0;
    for await (const _ of ct.list({ batchSize: 100 })) {
      if (++n === 10) {
        during = fdCounts().socket;
        break;
      }
    }
    expect(during).toBe(before + 1);
    expect(fdCounts().socket).toBe(before);
    // The handle keeps working.
    expect(await ct.count()).toBe(N);
  });

  test('an exception inside the loop releases the socket too', async () => {
    const before = fdCounts().socket;
    await expect(
      (async () => {
        for await (const _ of ct.list()) throw new Error('consumer failed');
      })(),
    ).rejects.toThrow('consumer failed');
    expect(fdCounts().socket).toBe(before);
  });

  test('close() during a dump ends the iteration cleanly and frees everything', async () => {
    const own = await Conntrack.open({ netns: ns.name });
    const before = fdCounts().socket;
    let n = 0;
    for await (const _ of own.list({ batchSize: 500 })) {
      if (++n === 1000) void own.close();
    }
    expect(n).toBeGreaterThanOrEqual(1000);
    expect(n).toBeLessThan(N);
    expect(fdCounts().socket).toBe(before - 1); // the dump's socket and the control socket are gone
    await own.close();
  });

  test('a loop takes the dump in small native batches, made into flows one at a time', async () => {
    // No batchSize: a loop reads native batches of 256 (at most three waiting), batches() of 2048.
    const loop = ct.list();
    const looped: Flow[] = [];
    for await (const f of loop) looped.push(f);
    expect(looped.length).toBe(N);
    expect(loop.stats.peakRecords).toBeGreaterThan(0);
    expect(loop.stats.peakRecords).toBeLessThanOrEqual(3 * 256);
    const whole = ct.list();
    const batched: Flow[] = [];
    let max = 0;
    for await (const batch of whole.batches()) {
      max = Math.max(max, batch.length);
      batched.push(...batch);
    }
    expect(max).toBe(2048);
    expect(whole.stats.peakRecords).toBeGreaterThan(3 * 256);
    // Flow by flow, the same objects either way (the table does not change meanwhile; the
    // timeouts tick down between the two dumps).
    const key = (f: Flow) => `${f.original.src} ${'srcPort' in f.original ? f.original.srcPort : ''}`;
    const byKey = new Map(batched.map((f) => [key(f), f]));
    expect(byKey.size).toBe(N);
    for (const f of looped) {
      const g = byKey.get(key(f))!;
      expect(Math.abs(f.timeout! - g.timeout!)).toBeLessThanOrEqual(60);
      f.timeout = g.timeout;
      expect(f).toStrictEqual(g);
    }
  });

  test('a loop over listText() yields Buffers of whole lines, every entry once', async () => {
    let lines = 0;
    let chunks = 0;
    for await (const chunk of ct.listText()) {
      expect(Buffer.isBuffer(chunk)).toBe(true);
      expect(chunk.at(-1)).toBe(0x0a);
      chunks++;
      for (let at = chunk.indexOf(10); at !== -1; at = chunk.indexOf(10, at + 1)) lines++;
    }
    expect(lines).toBe(N);
    expect(chunks).toBeGreaterThan(1);
  });

  test('batches() yields arrays of at most batchSize flows', async () => {
    let total = 0;
    let max = 0;
    for await (const batch of ct.list({ batchSize: 777 }).batches()) {
      total += batch.length;
      max = Math.max(max, batch.length);
    }
    expect(total).toBe(N);
    expect(max).toBeLessThanOrEqual(777);
  });

  test('concurrent dumps on one handle each see the whole table', async () => {
    const counts = await Promise.all([0, 1, 2].map(async () => {
      let n = 0;
      for await (const _ of ct.list()) n++;
      return n;
    }));
    expect(counts).toEqual([N, N, N]);
  });
});
