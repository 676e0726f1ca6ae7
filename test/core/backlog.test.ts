// Live streams under a consumer slower than the kernel: the reader drains the socket into
// memory (bounded in bytes by maxQueueBytes) so a burst is held, not dropped; past the bound the
// kernel drops and the stream says so, in order, with the exact count where sequence numbers
// give one; once the consumer has caught up the stream's memory is back to a small steady state.
// The oracles: the number of entries the burst made (each makes one NEW and one DESTROY event)
// and an nft counter on the logging rule (the packets the kernel logged).
import { setTimeout as sleep } from 'node:timers/promises';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { type ConntrackEvent, Conntrack, type FlowInput, Nflog, type NflogEvent } from '../../lib/index.js';
import { createNetns, type Netns } from '../helpers/netns.js';

const MiB = 1 << 20;

let ns: Netns;
let ct: Conntrack;
let nf: Nflog;

beforeAll(async () => {
  ns = await createNetns('nfct-backlog');
  ct = await Conntrack.open({ netns: ns.name });
  nf = await Nflog.open({ netns: ns.name });
});
afterAll(async () => {
  ct?.close();
  nf?.close();
  await ns?.remove();
});

/** `n` UDP entries 10.99.x.y:port -> 10.98.0.1:53 (one NEW event each, one DESTROY when flushed). */
function* udpEntries(n: number, base = 0): Generator<FlowInput> {
  for (let i = base; i < base + n; i++) {
    yield { protocol: 'udp', src: `10.99.${(i >> 8) & 0xff}.${i & 0xff}`, dst: '10.98.0.1', srcPort: 1024 + (i >> 16), dstPort: 53, timeout: 300 };
  }
}

/** Sends `count` 64-byte UDP datagrams to 127.0.0.1:port from inside the namespace, as fast as a loop can. */
async function flood(port: number, count: number): Promise<void> {
  const script = `const s=require('dgram').createSocket('udp4');const b=Buffer.alloc(64);let n=0;
(function go(){for(let i=0;i<200&&n<${count};i++,n++)s.send(b,${port},'127.0.0.1');if(n<${count})setImmediate(go);else setTimeout(()=>s.close(),200)})()`;
  await ns.execOk('node', ['-e', script], { timeoutMs: 60_000 });
}

/** Packets the rule with this comment has counted. */
async function nftCounter(table: string): Promise<number> {
  const r = await ns.execOk('nft', ['-j', 'list', 'table', 'inet', table]);
  const rules = (JSON.parse(r.stdout) as { nftables: { rule?: { expr: { counter?: { packets: number } }[] } }[] }).nftables;
  for (const item of rules) for (const e of item.rule?.expr ?? []) if (e.counter) return e.counter.packets;
  throw new Error(`no counter in table ${table}`);
}

/**
 * Reads an iterator with a time limit per item; a next() that timed out stays pending and
 * gives the following call its item (a second next() beside it would take a later one).
 */
function timedReader<T>(it: AsyncIterator<T>, first?: Promise<IteratorResult<T>>) {
  let pending: Promise<IteratorResult<T>> | undefined = first;
  return async (ms: number): Promise<T | null> => {
    pending ??= it.next();
    const r = await Promise.race([pending, sleep(ms).then(() => null)]);
    if (r === null) return null;
    pending = undefined;
    return r.done ? null : r.value;
  };
}

async function logRule(table: string, port: number, group: number): Promise<void> {
  await ns.execOk('nft', ['-f', '-'], { input: `table inet ${table} {\n chain out { type filter hook output priority 0; udp dport ${port} counter log group ${group}; }\n}\n` });
}

describe('a consumer that waits 1 ms per item loses nothing of a burst, with default options', () => {
  test('conntrack events: 50,000 events (25,000 entries created, then flushed)', async () => {
    const stream = ct.events({ types: ['new', 'destroy'] });
    const entries = 25_000;
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
    await sleep(500);
    const during = stream.stats;
    expect(during.queuedRecords).toBeGreaterThan(10_000);
    expect(during.queuedBytes).toBeGreaterThan(during.queuedRecords * 100);
    const timer = setTimeout(() => stream.close(), 150_000);
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
    stream.close();
  }, 200_000);

  test('NFLOG: a 50,000-packet flood; every packet the kernel logged arrives', async () => {
    await logRule('backlog', 9901, 21);
    try {
      const stream = nf.subscribe({ group: 21 });
      const sent = 50_000;
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
      await flood(9901, sent);
      logged = await nftCounter('backlog');
      expect(logged).toBeGreaterThan(sent * 0.99); // the sender's own socket may refuse a few
      expect(stream.stats.queuedRecords).toBeGreaterThan(5_000);
      const timer = setTimeout(() => stream.close(), 150_000);
      await consumer;
      clearTimeout(timer);
      expect(other).toEqual([]);
      expect(packets).toBe(logged);
      expect(stream.stats.queuedRecords).toBe(0);
      expect(stream.stats.peakRecords).toBeGreaterThan(5_000);
      stream.close();
    } finally {
      await ns.execOk('nft', ['delete', 'table', 'inet', 'backlog']);
    }
  }, 200_000);
});

describe('past maxQueueBytes the kernel drops; the stream reports it in order and goes on', () => {
  test('NFLOG with sequence numbers: the overrun comes in order and says exactly how many were lost', async () => {
    await logRule('bound', 9902, 22);
    try {
      // 64 KiB of decoded packets and a 256 KiB socket buffer hold a few thousand packets at
      // most; nobody reads while 20,000 are logged.
      const stream = nf.subscribe({ group: 22, sequence: true, maxQueueBytes: 64 << 10, bufferSize: 256 << 10, maxBufferSize: 256 << 10 });
      const it = stream[Symbol.asyncIterator]();
      const next = timedReader(it, it.next());
      await flood(9902, 20_000);
      const items: NflogEvent[] = [];
      const readUntilQuiet = async () => {
        for (let e = await next(1000); e !== null; e = await next(1000)) items.push(e);
      };
      await readUntilQuiet();
      // Packets after the loss, once the socket has room again: they arrive, and show the loss.
      await flood(9902, 10);
      await readUntilQuiet();
      const total = await nftCounter('bound');
      stream.close();
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
      const reported = items.reduce((n, e) => n + (e.type === 'overrun' ? (e.lost ?? 0) : e.type === 'gap' ? e.missing : 0), 0);
      expect(reported).toBe(stream.stats.lost);
      expect(stream.stats.peakBytes).toBeGreaterThanOrEqual(64 << 10);
    } finally {
      await ns.execOk('nft', ['delete', 'table', 'inet', 'bound']);
    }
  }, 120_000);

  test('conntrack events: with the reader at its bound the kernel drops; the overrun item comes, later events still arrive', async () => {
    // 64 KiB of decoded events and the default 8 MiB socket buffer hold ~7,000 events; nobody
    // reads while 20,000 entries are created.
    const stream = ct.events({ types: 'new', maxQueueBytes: 64 << 10 });
    const next = timedReader(stream[Symbol.asyncIterator]());
    const made = await ct.createMany(udpEntries(20_000, 30_000), { batchSize: 5000 });
    expect(made.created).toBe(20_000);
    await sleep(200);
    expect(stream.stats.queuedBytes).toBeGreaterThanOrEqual(64 << 10);
    const items: ConntrackEvent[] = [];
    const read = async (until: (e: ConntrackEvent) => boolean) => {
      for (let e = await next(1000); e !== null; e = await next(1000)) {
        items.push(e);
        if (until(e)) return;
      }
    };
    // Read what was held and what the socket kept; then a marker entry.
    await read(() => false);
    await ct.create({ protocol: 'udp', src: '10.97.0.1', dst: '10.98.0.1', srcPort: 5, dstPort: 53, timeout: 300 });
    await read((e) => e.type === 'new' && e.flow.original.src === '10.97.0.1');
    stream.close();
    const overrunAt = items.findIndex((e) => e.type === 'overrun');
    expect(overrunAt).toBeGreaterThan(0);
    expect(items.at(-1)).toMatchObject({ type: 'new', flow: { original: { src: '10.97.0.1' } } });
    expect(items.filter((e) => e.type === 'new').length).toBeLessThan(20_001);
    expect(stream.stats.overruns).toBeGreaterThan(0);
    await ct.flush();
  }, 120_000);
});

describe('JSON of stream items', () => {
  test('every item type stringifies: bigints as decimal strings, binary fields as hex', async () => {
    await logRule('json', 9903, 23);
    try {
      const stream = nf.subscribe({ group: 23, sequence: true });
      const it = stream[Symbol.asyncIterator]();
      const first = it.next();
      await flood(9903, 1);
      const pkt = (await first).value as NflogEvent;
      stream.close();
      expect(pkt.type).toBe('packet');
      const json = JSON.parse(JSON.stringify(pkt)) as Record<string, unknown>;
      if (pkt.type !== 'packet') return;
      expect(json.payload).toBe(pkt.payload!.toString('hex'));
      if (pkt.timestamp !== undefined) expect(json.timestamp).toBe(pkt.timestamp.toString());
      expect(json.seq).toBe(pkt.seq);
      expect(json.type).toBe('packet');
      expect(json).not.toHaveProperty('conntrack');
    } finally {
      await ns.execOk('nft', ['delete', 'table', 'inet', 'json']);
    }
    const events = ct.events();
    const it = events[Symbol.asyncIterator]();
    const next = it.next();
    await ct.create({ protocol: 'tcp', src: '10.96.0.1', dst: '10.96.0.2', srcPort: 1, dstPort: 2, timeout: 60, state: 'ESTABLISHED' });
    const ev = (await next).value as ConntrackEvent;
    events.close();
    expect(ev.type).toBe('new');
    const j = JSON.parse(JSON.stringify(ev)) as { type: string; timestamp: string; flow: { status: string[]; original: { src: string } } };
    expect(j.type).toBe('new');
    if (ev.type === 'new') expect(j.timestamp).toBe(ev.timestamp.toString());
    expect(j.flow.original.src).toBe('10.96.0.1');
    expect(j.flow.status).toContain('CONFIRMED');
    await ct.flush();
  });
});
