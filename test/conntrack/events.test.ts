// Conntrack events: the same events in the same order as `conntrack -E` prints; the kernel-side
// filter; overruns that do not end the stream; resync; the socket released on every way out.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

import { describe, expect, test } from 'vitest';

import { Conntrack, type ConntrackEvent, type EventStream, type FlowEvent, NfctError } from '../../lib/index.js';
import { createNetns, type Netns, setSysctl, useNetnsWith } from '../helpers/netns.js';
import { until } from '../helpers/sentinel.js';
import { eventBurst, eventDrops } from '../helpers/streams.js';
import { tcpFlow, udpFlow } from '../helpers/traffic.js';
import { type CtEntry, listEntries, runConntrackOk, watchEvents } from '../oracle/conntrack-cli.js';

let ns: Netns;
let ct: Conntrack;

useNetnsWith('nfct-events', async (n) => ((ns = n), (ct = await Conntrack.open({ netns: n.name }))));

function socketInodes(): Set<string> {
  const out = new Set<string>();
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const link = readlinkSync(`/proc/self/fd/${fd}`);
      if (link.startsWith('socket:')) out.add(link);
    } catch {
      // closed while listing
    }
  }
  return out;
}

function socketFds(): number {
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`).startsWith('socket:')) n++;
    } catch {
      // closed while listing
    }
  }
  return n;
}

/** Collects a stream's events in the background until `until` matches one. */
function collect(stream: EventStream, until: (e: ConntrackEvent) => boolean, timeoutMs = 20_000) {
  const events: ConntrackEvent[] = [];
  const done = (async () => {
    const timer = setTimeout(() => void stream.close(), timeoutMs);
    try {
      for await (const e of stream) {
        events.push(e);
        if (until(e)) break;
      }
    } finally {
      clearTimeout(timer);
    }
    return events;
  })();
  return { events, done };
}

const isMarker = (src: string) => (e: ConntrackEvent) => e.type === 'new' && e.flow.original.src === src;
const notSentinel = (e: ConntrackEvent) =>
  !(e.type !== 'overrun' && e.type !== 'resync' && 'flow' in e && e.flow.original.src === '127.0.0.254');

function key(type: string, proto: string,
  t: { src: string; dst: string; srcPort?: number; dstPort?: number; sport?: number; dport?: number }): string
{
  return `${type} ${proto} ${t.src} ${t.dst} ${t.srcPort ?? t.sport ?? ''} ${t.dstPort ?? t.dport ?? ''}`;
}
const ours = (e: FlowEvent) => key(e.type, e.flow.protocol, e.flow.original);
const theirs = (e: CtEntry) => key(e.event!.toLowerCase(), e.l4proto, e.orig);

describe('events()', () => {
  test('a scripted sequence yields the events conntrack -E prints, in the same order', async () => {
    const stream = ct.events();
    const mine = collect(stream, isMarker('10.20.9.9'));
    const watch = await watchEvents(ns);
    try {
      const udp = ['-p', 'udp', '-s', '10.20.0.1', '-d', '10.20.0.2', '--sport', '1000', '--dport', '53'];
      await runConntrackOk(ns, ['-I', ...udp, '-t', '60']);
      await runConntrackOk(ns, ['-U', ...udp, '-m', '7']);
      await tcpFlow(ns, { family: 4 });
      await udpFlow(ns, { family: 4, count: 2 });
      await tcpFlow(ns, { family: 6 });
      await runConntrackOk(ns, ['-D', ...udp]);
      await ct.create({ protocol: 'tcp', src: '10.20.0.5', dst: '10.20.0.6', srcPort: 1, dstPort: 2, timeout: 60,
        state: 'ESTABLISHED' });
      await ct.delete({ protocol: 'tcp', src: '10.20.0.5', dst: '10.20.0.6', srcPort: 1, dstPort: 2 });
      await runConntrackOk(ns, ['-I', '-p', 'udp', '-s', '10.20.9.9', '-d', '10.20.9.8', '--sport', '1', '--dport', '2',
        '-t', '60']);
      await watch.waitFor((e) => e.orig.src === '10.20.9.9');
      const got = (await mine.done).filter(notSentinel) as FlowEvent[];
      const want = watch.events.map(theirs);
      expect(want.length).toBeGreaterThanOrEqual(10);
      expect(got.map(ours)).toEqual(want);
      // Marks, states and timestamps come along.
      const update = got.find((e) => e.type === 'update' && e.flow.original.src === '10.20.0.1');
      expect(update?.flow.mark).toBe(7);
      expect(got.every((e) => typeof e.timestamp === 'bigint' && e.timestamp > 1_600_000_000_000_000_000n)).toBe(true);
    } finally {
      await watch.stop();
      await stream.close();
    }
  });

  test('the filter runs in the kernel: unmatched events never reach userspace', async () => {
    const filtered = ct.events({ protocol: 'udp', src: '10.21.0.0/16' });
    const unfiltered = ct.events({ protocol: 'udp', src: '10.21.0.0/16', kernelFilter: false });
    const a = collect(filtered, isMarker('10.21.9.9'));
    const b = collect(unfiltered, isMarker('10.21.9.9'));
    // events() returns subscribed (tested below): no wait before the changes.
    const flows = [];
    for (let i = 0; i < 50; i++) {
      flows.push({ protocol: 'tcp' as const, src: `10.21.1.${i}`, dst: '10.21.0.1', srcPort: 1, dstPort: 2, timeout: 60,
        state: 'ESTABLISHED' as const });
    }
    for (let i = 0; i < 50; i++) {
      flows.push({ protocol: 'udp' as const, src: `10.22.1.${i}`, dst: '10.21.0.1', srcPort: 1, dstPort: 2,
        timeout: 60 });
    }
    for (let i = 0; i < 5; i++) {
      flows.push({ protocol: 'udp' as const, src: `10.21.2.${i}`, dst: '10.21.0.1', srcPort: 1, dstPort: 2,
        timeout: 60 });
    }
    // One bit outside the prefix (10.20.0.0/15 holds them): the program's mask has every bit.
    for (let i = 0; i < 5; i++) {
      flows.push({ protocol: 'udp' as const, src: `10.20.1.${i}`, dst: '10.21.0.1', srcPort: 1, dstPort: 2,
        timeout: 60 });
    }
    await ct.createMany(flows);
    await ct.create({ protocol: 'udp', src: '10.21.9.9', dst: '10.21.0.1', srcPort: 1, dstPort: 2, timeout: 60 });
    const [fa, fb] = await Promise.all([a.done, b.done]);
    const srcs = (x: ConntrackEvent[]) => x.map((e) => (e as FlowEvent).flow.original.src);
    expect(srcs(fa)).toEqual(['10.21.2.0', '10.21.2.1', '10.21.2.2', '10.21.2.3', '10.21.2.4', '10.21.9.9']);
    expect(srcs(fb)).toEqual(srcs(fa));
    // The BPF program dropped the TCP events and the UDP ones from elsewhere in the kernel.
    expect(filtered.stats.received).toBe(6);
    expect(unfiltered.stats.received).toBeGreaterThanOrEqual(111);
  });

  test('a filter on mark 0 passes the events of entries without a mark (their events carry none)', async () => {
    const stream = ct.events({ protocol: 'udp', src: '10.24.0.0/16', mark: 0 });
    const got = collect(stream, isMarker('10.24.9.9'));
    await ct.create({ protocol: 'udp', src: '10.24.0.1', dst: '10.24.0.9', srcPort: 1, dstPort: 2, timeout: 60 });
    await ct.create({ protocol: 'udp', src: '10.24.0.2', dst: '10.24.0.9', srcPort: 1, dstPort: 2, timeout: 60,
      mark: 5 });
    await ct.create({ protocol: 'udp', src: '10.24.9.9', dst: '10.24.0.9', srcPort: 1, dstPort: 2, timeout: 60 });
    const events = await got.done;
    expect(events.map((e) => (e as FlowEvent).flow.original.src)).toEqual(['10.24.0.1', '10.24.9.9']);
  });

  test('expectation events', async () => {
    const stream = ct.events({ types: ['expect-new', 'expect-destroy'] });
    const got = collect(stream, (e) => e.type === 'expect-destroy');
    const master = { protocol: 'tcp' as const, src: '10.23.0.1', dst: '10.23.0.2', srcPort: 40000, dstPort: 21 };
    await ct.create({ ...master, timeout: 60, state: 'ESTABLISHED', helper: 'ftp' });
    await ct.expectations.create({ master,
      tuple: { protocol: 'tcp', src: '10.23.0.2', dst: '10.23.0.1', srcPort: 0, dstPort: 50000 }, mask: { srcPort: 0 },
      timeout: 60 });
    await ct.expectations.flush();
    const events = await got.done;
    expect(events.map((e) => e.type)).toEqual(['expect-new', 'expect-destroy']);
    expect(events[0]!.type === 'expect-new' && events[0]!.expectation.master).toMatchObject({ srcPort: 40000,
      dstPort: 21 });
  });
});

describe('countEvents()', () => {
  test('counts by type what conntrack -E prints, and ends with close(), releasing the socket', async () => {
    const watch = await watchEvents(ns);
    const before = socketInodes();
    const counter = ct.countEvents({ src: '10.41.0.0/16', types: ['new', 'destroy', 'update'] });
    const mine = [...socketInodes()].filter((s) => !before.has(s));
    expect(mine, 'subscribed when countEvents() returns: one socket').toHaveLength(1);
    try {
      // In steps conntrack -E keeps up with (its socket buffer holds ~160 events).
      const srcs = Array.from({ length: 64 }, (_, i) => `10.41.0.${i}`);
      const seen = (type: string, chunk: string[]) =>
        Promise.all(chunk.map((src) => watch.waitFor((e) => e.event === type && e.orig.src === src)));
      for (let i = 0; i < 64; i += 16) {
        const chunk = srcs.slice(i, i + 16);
        await ct.createMany(
          chunk.map((src) => ({ protocol: 'udp' as const, src, dst: '10.41.200.1', srcPort: 1, dstPort: 2,
            timeout: 60 })
          ),
        );
        await seen('NEW', chunk);
      }
      // Outside the filter: not counted.
      await ct.create({ protocol: 'udp', src: '10.42.0.1', dst: '10.41.200.1', srcPort: 1, dstPort: 2, timeout: 60 });
      for (let i = 0; i < 7; i++) {
        await runConntrackOk(ns, ['-U', '-p', 'udp', '-s', srcs[i]!, '-d', '10.41.200.1', '--sport', '1', '--dport',
          '2', '-m', '9']);
      }
      for (let i = 0; i < 48; i += 16) {
        await ct.deleteWhere({ src: `10.41.0.${i}/28` });
        await seen('DESTROY', srcs.slice(i, i + 16));
      }
      await runConntrackOk(ns, ['-I', '-p', 'udp', '-s', '10.41.9.9', '-d', '10.41.200.1', '--sport', '1', '--dport',
        '2', '-t', '60']);
      await watch.waitFor((e) => e.orig.src === '10.41.9.9');
      const want: Record<string, number> = { new: 0, update: 0, destroy: 0 };
      for (const e of watch.events) if (e.orig.src.startsWith('10.41.')) want[e.event!.toLowerCase()]!++;
      expect(want).toEqual({ new: 65, update: 7, destroy: 48 });
      await until(() => counter.stats.matched >= 120, 'the counter to count the 120 events', {
        detail: () => JSON.stringify(counter.stats),
      });
      expect(counter.counts).toEqual(want);
      expect(counter.stats).toMatchObject({ matched: 120, malformed: 0, overruns: 0, queuedRecords: 0 });
      await counter.close();
      await counter.done;
      expect(socketInodes().has(mine[0]!), 'its socket is closed').toBe(false);
    } finally {
      await counter.close();
      await watch.stop();
    }
    // The totals stay readable after close().
    expect(counter.counts).toEqual({ new: 65, update: 7, destroy: 48 });
  });

  test('an overrun is counted and counting goes on; the handle closing ends it', async () => {
    const own = await createNetns('nfct-count');
    const c = await Conntrack.open({ netns: own.name });
    try {
      const counter = c.countEvents({ types: 'new', bufferSize: 4096, maxBufferSize: 4096 });
      const flows = [];
      for (let i = 0; i < 20000; i++) {
        flows.push({ protocol: 'udp' as const, src: `10.30.${i >> 8}.${i & 255}`, dst: '10.31.0.1', srcPort: 1,
          dstPort: 2, timeout: 120 });
      }
      await c.createMany(flows);
      // The kernel counts what it dropped on the counter's socket (the only one in the
      // namespace subscribed to events): every event is either counted or dropped.
      const dropped = await eventDrops(own);
      expect(dropped).toBeGreaterThan(0);
      const n = 20000 - dropped;
      await until(() => counter.counts.new === n && counter.stats.overruns > 0,
        `the counter to count ${n} events and an overrun`, {
        detail: () => JSON.stringify({ counts: counter.counts, stats: counter.stats }),
      });
      await c.create({ protocol: 'udp', src: '10.39.9.9', dst: '10.31.0.1', srcPort: 1, dstPort: 2, timeout: 60 });
      await until(() => counter.counts.new === n + 1, 'the counter to count one more event');
      expect(counter.counts).toEqual({ new: n + 1 });
      expect(await eventDrops(own)).toBe(dropped);
      await c.close();
      await counter.done;
    } finally {
      await c.close();
      await own.remove();
    }
  });

  test('bad options are refused naming countEvents()', () => {
    expect(() => ct.countEvents({ resync: true } as never)).toThrow(/countEvents\(\) options.*resync/);
    expect(() => ct.countEvents({ types: 'bogus' as never })).toThrow(
      /countEvents\(\) options\.types: unknown event type/,
    );
  });
});

describe('subscribed when events() returns', () => {
  test('a change made right after events() returns, without waiting, is an event of the stream', async () => {
    for (let i = 0; i < 30; i++) {
      const src = `10.38.0.${i + 1}`;
      const before = socketFds();
      const stream = ct.events({ src });
      expect(socketFds(), 'the stream has its socket when events() returns').toBe(before + 1);
      const got = collect(stream, isMarker(src), 5000);
      await ct.create({ protocol: 'udp', src, dst: '10.31.0.1', srcPort: 1, dstPort: 2, timeout: 30 });
      const events = await got.done;
      expect(events.some(isMarker(src)), `round ${i}`).toBe(true);
    }
  });
});

describe('the reader thread', () => {
  test('a stream reads on a thread of its own, named nfct-stream, at nice -10 (root), so that it gets a core before the JS thread and other work', async () => {
    const threads = () =>
      readdirSync('/proc/self/task').map((tid) => {
        const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        return { tid: Number(tid), name: readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim(),
          nice: Number(fields[16]) };
      });
    const before = threads().filter((t) => t.name === 'nfct-stream').length;
    // The main thread's nice before the stream, 0 unless the suite runs under nice(1).
    const mainNice = threads().find((t) => t.tid === process.pid)?.nice;
    const stream = ct.events();
    try {
      const ours = threads().filter((t) => t.name === 'nfct-stream');
      expect(ours).toHaveLength(before + 1);
      expect(ours.every((t) => t.nice === -10)).toBe(true);
      // The process's other threads keep their own.
      expect(threads().find((t) => t.tid === process.pid)?.nice).toBe(mainNice);
    } finally {
      await stream.close();
    }
    expect(threads().filter((t) => t.name === 'nfct-stream')).toHaveLength(before);
  });
});

describe('stats.socketBuffer', () => {
  test("the socket's receive buffer as the kernel reports it (twice what was asked), known when events() returns and kept once closed", async () => {
    const asked = ct.events({ bufferSize: 1_000_000 });
    const byDefault = ct.events();
    try {
      // root: SO_RCVBUFFORCE, past net.core.rmem_max
      expect(asked.stats.socketBuffer).toBe(2_000_000);
      expect(byDefault.stats.socketBuffer).toBe(64 << 20);
    } finally {
      await asked.close();
      await byDefault.close();
    }
    expect(asked.stats.socketBuffer).toBe(2_000_000);
  });
});

describe('overruns', () => {
  test('a burst into a tiny buffer: an overrun item, the stream goes on, resync equals conntrack -L', async () => {
    const own = await createNetns('nfct-overrun');
    const c = await Conntrack.open({ netns: own.name });
    try {
      const stream = c.events({ bufferSize: 4096, maxBufferSize: 4096, maxQueueBytes: 256 << 10, resync: true });
      const it = stream[Symbol.asyncIterator]();
      const first = it.next(); // the consumer then stays away
      await eventBurst(c, { net: 30, dst: '10.31.0.1', srcPort: 1, dstPort: 2 });
      let overrun = false;
      let resync: ConntrackEvent | undefined;
      let next = first;
      while (!resync) {
        const r = await next;
        next = it.next();
        expect(r.done).toBe(false);
        if (r.value.type === 'overrun') overrun = true;
        if (r.value.type === 'resync') resync = r.value;
      }
      expect(overrun).toBe(true);
      expect(stream.overruns).toBeGreaterThan(0);
      // The snapshot is the table as conntrack sees it (quiet since the burst).
      const table = (await listEntries(own)).entries.map((e) => `${e.orig.src}|${e.orig.dst}`).sort();
      expect(resync.type === 'resync' && resync.flows.map((f) => `${f.original.src}|${f.original.dst}`).sort()).toEqual(
        table,
      );
      // Events after the overrun still arrive: as an event, or, when the tail of the burst
      // overruns the tiny buffer again, in the resync that follows that overrun.
      await c.create({ protocol: 'udp', src: '10.39.9.9', dst: '10.31.0.1', srcPort: 1, dstPort: 2, timeout: 60 });
      for (;;) {
        const r = await next;
        next = it.next();
        expect(r.done).toBe(false);
        if (isMarker('10.39.9.9')(r.value)) break;
        if (r.value.type === 'resync' &&
          r.value.flows.some((f: { original: { src: string } }) => f.original.src === '10.39.9.9')) break;
      }
      await it.return!();
    } finally {
      await c.close();
      await own.remove();
    }
  });
});

describe('ending a stream', () => {
  test('break, return(), close() and an AbortSignal each end it and release the socket', async () => {
    const before = socketFds();
    const trigger = () =>
      ct.create({ protocol: 'udp', src: '10.40.0.1', dst: '10.40.0.2', srcPort: Math.floor(Math.random() * 60000) + 1,
        dstPort: 2, timeout: 5 });
    // break
    const s1 = ct.events();
    const loop = (async () => {
      for await (const _ of s1) break;
    })();
    await trigger();
    await loop;
    expect(socketFds()).toBe(before);
    // close() while waiting
    const s2 = ct.events();
    const waiting = s2[Symbol.asyncIterator]().next();
    await s2.close();
    expect((await waiting).done).toBe(true);
    // AbortSignal
    const ac = new AbortController();
    const s3 = ct.events({ signal: ac.signal });
    const collected = collect(s3, () => false);
    ac.abort();
    await collected.done;
    expect(socketFds()).toBe(before);
    // Conntrack.close() ends its streams too.
    const own = await Conntrack.open({ netns: ns.name });
    const s4 = own.events();
    const w4 = s4[Symbol.asyncIterator]().next();
    await own.close();
    expect((await w4).done).toBe(true);
    expect(socketFds()).toBe(before);
  });

  test('with net.netfilter.nf_conntrack_events=0 the stream fails at once, saying so', async () => {
    const own = await createNetns('nfct-noevents');
    try {
      await setSysctl(own, 'net.netfilter.nf_conntrack_events', 0);
      const c = await Conntrack.open({ netns: own.name });
      const err = await (async () => {
        for await (const _ of c.events()) return undefined;
        return undefined;
      })().catch((e: unknown) => e);
      await c.close();
      expect(err).toBeInstanceOf(NfctError);
      expect((err as NfctError).message).toContain('nf_conntrack_events');
      // Issue 13: it also said "the running kernel does not support this operation".
      expect((err as NfctError).message).toContain('set it to 1');
      expect((err as NfctError).message).not.toContain('does not support');
    } finally {
      await own.remove();
    }
  });
});
