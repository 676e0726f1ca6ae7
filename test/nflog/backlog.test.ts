// NFLOG under a consumer slower than the kernel: the reader drains the socket into memory
// (bounded in bytes by maxQueueBytes) so a flood is held, not dropped; past the bound the kernel
// drops and, with sequence numbers, the stream says exactly how many, where. The oracle: an nft
// counter on the logging rule (the packets the kernel logged).
import { setTimeout as sleep } from 'node:timers/promises';

import { describe, expect, test } from 'vitest';

import { Nflog, type NflogEvent } from '../../lib/index.js';
import { type Netns, useNetnsWith } from '../helpers/netns.js';
import { BOUND_MS, WaitTimeout } from '../helpers/sentinel.js';
import { flood, nftCounter, readCounting, timedReader, withLogRule } from '../helpers/streams.js';

let ns: Netns;
let nf: Nflog;

useNetnsWith('nfct-nfbacklog', async (n) => ((ns = n), (nf = await Nflog.open({ netns: n.name }))));

describe('a consumer that waits 1 ms per packet loses nothing of a flood, with default options', () => {
  test('NFLOG: a 20,000-packet flood; every packet the kernel logged arrives', async () => {
    await withLogRule(ns, 'backlog', 9901, 21, async () => {
      const stream = nf.subscribe({ group: 21 });
      // 20,000 packets: several times what the socket buffer holds, and at 1 ms each the test
      // stays well under vitest's 60 s limit for one test's messages to its runner.
      const sent = 20_000;
      let packets = 0;
      const other: NflogEvent[] = [];
      let logged = Infinity;
      const consumer = (async () => {
        for await (const e of stream) {
          if (e.type === 'packet') packets++;
          else other.push(e);
          if (packets >= logged) break;
          await sleep(1);
        }
      })();
      await flood(ns, 9901, sent);
      logged = await nftCounter(ns, 'backlog');
      expect(logged).toBeGreaterThan(sent * 0.99); // the sender's own socket may refuse a few
      expect(stream.stats.queuedRecords).toBeGreaterThan(5_000);
      const timer = setTimeout(() => void stream.close(), 150_000);
      await consumer;
      clearTimeout(timer);
      expect(other).toEqual([]);
      expect(packets).toBe(logged);
      expect(stream.stats.queuedRecords).toBe(0);
      expect(stream.stats.peakRecords).toBeGreaterThan(5_000);
      await stream.close();
    });
  }, 200_000);
});

describe('the default socket buffer holds a flood while the reader thread cannot read', () => {
  test('NFLOG: 100,000 packets queued in the kernel (the reader at its bound) all arrive, no loss', async () => {
    await withLogRule(ns, 'held', 9904, 24, async () => {
      // With 64 KiB of decoded packets the reader stops at once: the kernel's socket buffer
      // holds the rest, as it does while the reader waits for a core. A logged 64-byte datagram
      // takes ~330 bytes there (measured: 9.8 MB for 30,000): ~33 MB for 100,000, within the
      // default (32 MiB, charged against 64 MiB), past what 8 MiB (16 MiB) holds.
      const stream = nf.subscribe({ group: 24, sequence: true, maxQueueBytes: 64 << 10 });
      const it = stream[Symbol.asyncIterator]();
      const next = timedReader(it, it.next());
      await flood(ns, 9904, 100_000);
      const logged = await nftCounter(ns, 'held');
      const { n: packets, other } = await readCounting(next, (e) => e.type === 'packet', logged);
      await stream.close();
      expect(logged).toBeGreaterThan(99_000); // the sender's own socket may refuse a few
      expect(other).toEqual([]);
      expect(packets).toBe(logged);
      expect(stream.stats.lost).toBe(0);
    });
  }, 120_000);
});

describe('past maxQueueBytes the kernel drops; the stream reports it in order and goes on', () => {
  test('NFLOG with sequence numbers: the overrun comes in order and says exactly how many were lost', async () => {
    await withLogRule(ns, 'bound', 9902, 22, async () => {
      // 64 KiB of decoded packets and a 256 KiB socket buffer hold a few thousand packets at
      // most; nobody reads while 20,000 are logged.
      const stream = nf.subscribe({ group: 22, sequence: true, maxQueueBytes: 64 << 10, bufferSize: 256 << 10,
        maxBufferSize: 256 << 10 });
      const it = stream[Symbol.asyncIterator]();
      const next = timedReader(it, it.next());
      await flood(ns, 9902, 20_000);
      const items: NflogEvent[] = [];
      const packets = () => items.filter((e) => e.type === 'packet').length;
      const reported = () =>
        items.reduce((n, e) => n + (e.type === 'overrun' ? (e.lost ?? 0) : e.type === 'gap' ? e.missing : 0), 0);
      // Read until every packet the rule logged has arrived or been reported lost. A loss at the
      // end of the flood is known only from the next packet's sequence number: one more datagram
      // whenever nothing has come for a while (the pause decides nothing; the count does).
      let total = await nftCounter(ns, 'bound');
      const deadline = Date.now() + BOUND_MS;
      while (packets() + reported() !== total) {
        if (Date.now() > deadline) {
          throw new WaitTimeout('every logged packet to arrive or be reported lost', BOUND_MS,
            JSON.stringify({ total, packets: packets(), reported: reported(), stats: stream.stats }));
        }
        const e = await next(300);
        if (e !== null) items.push(e);
        else {
          await flood(ns, 9902, 1);
          total = await nftCounter(ns, 'bound');
        }
      }
      await stream.close();
      const seqs = items.flatMap((e) => (e.type === 'packet' ? [e.seq!] : []));
      const overrunAt = items.findIndex((e) => e.type === 'overrun');
      expect(overrunAt).toBeGreaterThan(0);
      const overrun = items[overrunAt] as Extract<NflogEvent, { type: 'overrun' }>;
      expect(overrun.lost).toBeGreaterThan(0);
      // In order: where the loss is, the packet before the item and the one after it are `lost`
      // sequence numbers apart.
      const before = items[overrunAt - 1]!;
      const after = items[overrunAt + 1]!;
      expect(before.type).toBe('packet');
      expect(after.type).toBe('packet');
      if (before.type === 'packet' && after.type === 'packet') expect(after.seq! - before.seq! - 1).toBe(overrun.lost);
      // Later packets arrived, and the loss the stream reports is exactly what did not arrive.
      expect(items.slice(overrunAt + 1).filter((e) => e.type === 'packet').length).toBeGreaterThan(0);
      expect(seqs.length + stream.stats.lost!).toBe(total);
      expect(reported()).toBe(stream.stats.lost);
      // The bound held: the queue filled to within a packet of it, never past it.
      expect(stream.stats.peakBytes).toBeGreaterThan((64 << 10) - 4096);
      expect(stream.stats.peakBytes).toBeLessThanOrEqual(64 << 10);
    });
  }, 120_000);
});

describe('JSON of packet items', () => {
  test('every item type stringifies: bigints as decimal strings, binary fields as hex', async () => {
    await withLogRule(ns, 'json', 9903, 23, async () => {
      const stream = nf.subscribe({ group: 23, sequence: true });
      const it = stream[Symbol.asyncIterator]();
      const first = it.next();
      await flood(ns, 9903, 1);
      const pkt = (await first).value as NflogEvent;
      await stream.close();
      expect(pkt.type).toBe('packet');
      const json = JSON.parse(JSON.stringify(pkt)) as Record<string, unknown>;
      if (pkt.type !== 'packet') return;
      expect(json.payload).toBe(pkt.payload!.toString('hex'));
      if (pkt.timestamp !== undefined) expect(json.timestamp).toBe(pkt.timestamp.toString());
      expect(json.seq).toBe(pkt.seq);
      expect(json.type).toBe('packet');
      expect(json).not.toHaveProperty('conntrack');
    });
  });
});
