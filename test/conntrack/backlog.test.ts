// Conntrack events under a consumer slower than the kernel: the reader drains the socket into
// memory (bounded in bytes by maxQueueBytes) so a burst is held, not dropped; past the bound the
// kernel drops and the stream says so, in order; once the consumer has caught up the stream's
// memory is back to a small steady state. The oracle: the entries the burst made (each makes
// one NEW and one DESTROY event).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { describe, expect, test } from 'vitest';

import { Conntrack, type ConntrackEvent } from '../../lib/index.js';
import { type Netns, useNetnsWith } from '../helpers/netns.js';
import { BOUND_MS, until, WaitTimeout } from '../helpers/sentinel.js';
import { eventDrops, netfilterDrained, readCounting, timedReader, udpEntries } from '../helpers/streams.js';

const MiB = 1 << 20;

let ns: Netns;
let ct: Conntrack;

useNetnsWith('nfct-ctbacklog', async (n) => ((ns = n), (ct = await Conntrack.open({ netns: n.name }))));

describe('a consumer that waits 1 ms per event loses nothing of a burst, with default options', () => {
  test('conntrack events: 20,000 events (10,000 entries created, then flushed)', async () => {
    const stream = ct.events({ types: ['new', 'destroy'] });
    // 20,000 events: three times what the default socket buffer holds, and at 1 ms each the test
    // stays well under vitest's 60 s limit for one test's messages to its runner.
    const entries = 10_000;
    let news = 0;
    let destroys = 0;
    let overruns = 0;
    const consumer = (async () => {
      for await (const e of stream) {
        if (e.type === 'new') news++;
        else if (e.type === 'destroy') destroys++;
        else if (e.type === 'overrun') overruns++;
        if (news + destroys === 2 * entries) break;
        await sleep(1);
      }
    })();
    const made = await ct.createMany(udpEntries(entries), { batchSize: 5000 });
    expect(made.created).toBe(entries);
    await ct.flush();
    // The whole burst is out of the kernel long before the consumer is through it: it waits in
    // the stream's queue.
    await until(() => stream.stats.received >= 2 * entries, 'the reader to take the whole burst from the kernel', {
      detail: () => JSON.stringify(stream.stats),
    });
    const during = stream.stats;
    expect(during.queuedRecords).toBeGreaterThan(10_000);
    expect(during.queuedBytes).toBeGreaterThan(during.queuedRecords * 100);
    const timer = setTimeout(() => void stream.close(), 150_000);
    await consumer;
    clearTimeout(timer);
    expect({ news, destroys, overruns }).toEqual({ news: entries, destroys: entries, overruns: 0 });
    const after = stream.stats;
    expect(after.overruns).toBe(0);
    expect(after.peakRecords).toBeGreaterThanOrEqual(during.queuedRecords);
    // Caught up: nothing queued, and what the reader keeps for reuse is capped.
    expect(after.queuedRecords).toBe(0);
    expect(after.queuedBytes).toBe(0);
    expect(after.peakBytes).toBeGreaterThan(4 * MiB);
    expect(after.pooledBytes).toBeLessThanOrEqual(4 * MiB);
    await stream.close();
  }, 200_000);
});

describe('the default socket buffer holds a burst while the reader thread cannot read', () => {
  test('conntrack events: 40,000 events queued in the kernel (the reader at its bound) all arrive, no overrun',
    async () => {
      // With 64 KiB of decoded events the reader stops at once: the kernel's socket buffer holds
      // the rest, as it does while the reader waits for a core. 40,000 events take ~51 MB there
      // (~1,280 bytes each): within the default (32 MiB, charged against 64 MiB), past what
      // 8 MiB (charged against 16 MiB) holds.
      const entries = 40_000;
      const stream = ct.events({ types: 'new', maxQueueBytes: 64 << 10 });
      const next = timedReader(stream[Symbol.asyncIterator]());
      const made = await ct.createMany(udpEntries(entries, 50_000), { batchSize: 5000 });
      expect(made.created).toBe(entries);
      const { n: news, other } = await readCounting(next, (e) => e.type === 'new', entries);
      await stream.close();
      expect(other).toEqual([]);
      expect(news).toBe(entries);
      expect(stream.stats.overruns).toBe(0);
      await ct.flush();
    }, 120_000);
});

describe('past maxQueueBytes the kernel drops; the stream reports it in order and goes on', () => {
  test(
    'conntrack events: with the reader at its bound the kernel drops; the overrun item comes, later events still arrive',
    async () => {
      // 64 KiB of decoded events and an 8 MiB socket buffer hold ~7,000 events; nobody reads
      // while 20,000 entries are created.
      const stream = ct.events({ types: 'new', maxQueueBytes: 64 << 10, bufferSize: 8 << 20 });
      const next = timedReader(stream[Symbol.asyncIterator]());
      const made = await ct.createMany(udpEntries(20_000, 30_000), { batchSize: 5000 });
      expect(made.created).toBe(20_000);
      // At its bound: full to within a few records, never past it.
      await until(() => stream.stats.queuedBytes > (64 << 10) - 4096, 'the reader to fill its queue to maxQueueBytes');
      expect(stream.stats.peakBytes).toBeLessThanOrEqual(64 << 10);
      // What the kernel could not queue it dropped, and counted: the events to read are the rest.
      const dropped = await eventDrops(ns);
      expect(dropped).toBeGreaterThan(0);
      const items: ConntrackEvent[] = [];
      const news = () => items.filter((e) => e.type === 'new').length;
      const read = async (done: () => boolean, what: string) => {
        while (!done()) {
          const e = await next(BOUND_MS);
          if (e === null) throw new WaitTimeout(what, BOUND_MS, `${news()} events read`);
          items.push(e);
        }
      };
      // Read what was held and what the socket kept; then a marker entry.
      await read(() => news() === 20_000 - dropped, `the ${20_000 - dropped} events the kernel did not drop`);
      await ct.create({ protocol: 'udp', src: '10.97.0.1', dst: '10.98.0.1', srcPort: 5, dstPort: 53, timeout: 300 });
      const last = items.length;
      await read(() => items.slice(last).some((e) => e.type === 'new' && e.flow.original.src === '10.97.0.1'),
        "the marker entry's event");
      expect(await eventDrops(ns)).toBe(dropped);
      await stream.close();
      const overrunAt = items.findIndex((e) => e.type === 'overrun');
      expect(overrunAt).toBeGreaterThan(0);
      expect(items.at(-1)).toMatchObject({ type: 'new', flow: { original: { src: '10.97.0.1' } } });
      expect(news()).toBe(20_001 - dropped);
      expect(stream.stats.overruns).toBeGreaterThan(0);
      expect(stream.stats.peakBytes).toBeLessThanOrEqual(64 << 10);
      await ct.flush();
    },
    120_000,
  );
});

/**
 * Makes `n` UDP entries 10.<net>.x.y -> 10.98.0.1:53 with `conntrack -R`, run synchronously: this
 * process's JS thread is blocked until the whole burst is made (a stall of the consumer).
 */
function burstWhileBlocked(n: number, net: number): void {
  const dir = mkdtempSync(join(tmpdir(), 'nfct-stall-'));
  try {
    const lines: string[] = [];
    for (let i = 0; i < n; i++) {
      lines.push(`-I -p udp -s 10.${net}.${(i >> 8) & 255}.${i & 255} -d 10.98.0.1 --sport 1024 --dport 53 -t 300`);
    }
    writeFileSync(join(dir, 'table'), `${lines.join('\n')}\n`);
    execFileSync('ip', ['netns', 'exec', ns.name, 'conntrack', '-R', join(dir, 'table')], { stdio: 'ignore',
      timeout: 60_000 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('a stall of the JS thread loses nothing; end() lets what was read come, close() counts it', () => {
  test('conntrack events: 20,000 made while the JS thread is blocked all arrive; after end() the stream ends by itself',
    async () => {
      const entries = 20_000;
      const stream = ct.events({ types: 'new' });
      burstWhileBlocked(entries, 95);
      // The reader thread took it all from the kernel meanwhile (or takes the rest now).
      await until(() => netfilterDrained(ns), 'the reader to take the whole burst from the kernel');
      stream.end();
      const bound = setTimeout(() => void stream.close(), 60_000);
      let news = 0;
      const other: ConntrackEvent[] = [];
      for await (const e of stream) {
        if (e.type === 'new') news++;
        else other.push(e);
      }
      clearTimeout(bound);
      expect(other).toEqual([]);
      expect(news).toBe(entries);
      expect(stream.stats.overruns).toBe(0);
      expect(await eventDrops(ns)).toBe(0);
      expect(stream.dropped).toBe(0);
      await ct.flush();
    }, 120_000);

  test('conntrack events: close() after 100 of 5,000 read events counts the other 4,900 as dropped', async () => {
    const entries = 5_000;
    const stream = ct.events({ types: 'new' });
    burstWhileBlocked(entries, 94);
    await until(() => netfilterDrained(ns), 'the reader to take the whole burst from the kernel');
    const it = stream[Symbol.asyncIterator]();
    for (let i = 0; i < 100; i++) expect((await it.next()).value).toMatchObject({ type: 'new' });
    expect(stream.dropped).toBe(0);
    await stream.close();
    expect(stream.dropped).toBe(entries - 100);
    await ct.flush();
  }, 120_000);
});

describe('JSON of event items', () => {
  test('every item type stringifies: bigints as decimal strings', async () => {
    const events = ct.events();
    const it = events[Symbol.asyncIterator]();
    const next = it.next();
    await ct.create({ protocol: 'tcp', src: '10.96.0.1', dst: '10.96.0.2', srcPort: 1, dstPort: 2, timeout: 60,
      state: 'ESTABLISHED' });
    const ev = (await next).value as ConntrackEvent;
    await events.close();
    expect(ev.type).toBe('new');
    const j = JSON.parse(JSON.stringify(ev)) as { type: string; timestamp: string;
      flow: { status: string[]; original: { src: string } } };
    expect(j.type).toBe('new');
    if (ev.type === 'new') expect(j.timestamp).toBe(ev.timestamp.toString());
    expect(j.flow.original.src).toBe('10.96.0.1');
    expect(j.flow.status).toContain('CONFIRMED');
    await ct.flush();
  });
});
