// ct.flows() against the real kernel: traffic of known sizes from a client namespace through a
// router namespace that DNATs and SNATs it to a server namespace. The router's flow records
// must carry the addresses before and after NAT both ways and exactly the packets and bytes the
// kernel counted (`conntrack -L -o extended` just before the entry is destroyed is the oracle).
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { Conntrack } from '../../lib/conntrack/handle.js';
import type { FlowRecord } from '../../lib/flows/record.js';
import type { FlowItem, FlowRecordStream } from '../../lib/flows/stream.js';
import { sysctl } from '../helpers/netns-core.js';
import { type CtEntry, parseConntrackOutput } from '../oracle/conntrack-parse.js';
import { ADDR, exchange, type Topology, useTopology } from './topology.js';

let t: Topology;
useTopology(1000, (topology) => (t = topology));

/** Collects a stream's items in the background; waitFor() resolves the first record matching. */
function collect(stream: FlowRecordStream) {
  const items: FlowItem[] = [];
  const waiters: { pred: (r: FlowRecord) => boolean; resolve: (r: FlowRecord) => void }[] = [];
  const done = (async () => {
    for await (const item of stream) {
      items.push(item);
      if (item.type !== 'flow') continue;
      for (const w of [...waiters]) {
        if (!w.pred(item)) continue;
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(item);
      }
    }
  })();
  return {
    items,
    done,
    waitFor(pred: (r: FlowRecord) => boolean, ms = 15_000): Promise<FlowRecord> {
      const found = items.find((i): i is FlowRecord => i.type === 'flow' && pred(i));
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        // An expired entry is destroyed when the kernel's garbage collector reaches it, which on
        // a machine with large tables elsewhere can take longer than the bound; a dump of the
        // table destroys the expired entries it walks past, so one is asked for while we wait.
        const nudge = setInterval(() => void t.router.exec('conntrack', ['-L']).catch(() => undefined), 500);
        const timer = setTimeout(() => {
          clearInterval(nudge);
          reject(new Error('no such flow record in time'));
        }, ms);
        waiters.push({ pred, resolve: (r) => {
          clearTimeout(timer);
          clearInterval(nudge);
          resolve(r);
        } });
      });
    },
  };
}

/** The router's entry of the client's connection from `sport`, read with conntrack -L -o extended. */
async function oracle(proto: 'tcp' | 'udp', sport: number, family: 4 | 6 = 4): Promise<CtEntry> {
  const r = await t.router.execOk('conntrack', ['-L', '-o', 'extended', '-f', family === 6 ? 'ipv6' : 'ipv4', '-p',
    proto, '--orig-port-src', String(sport)]);
  const { entries } = parseConntrackOutput(r.stdout);
  expect(entries).toHaveLength(1);
  return entries[0]!;
}

/** Lets the entry expire on its own, a second from now (the kernel destroys it: portid 0). */
async function expireSoon(proto: 'tcp' | 'udp', sport: number, family: 4 | 6 = 4): Promise<void> {
  await t.router.execOk('conntrack', ['-U', '-f', family === 6 ? 'ipv6' : 'ipv4', '-p', proto, '--orig-port-src',
    String(sport), '-t', '1']);
}

function expectCounters(r: FlowRecord, e: CtEntry): void {
  expect(r.counters).toEqual({ original: { packets: e.orig.packets, bytes: e.orig.bytes },
    reply: { packets: e.reply.packets, bytes: e.reply.bytes } });
}

describe('ct.flows() through DNAT and SNAT', () => {
  let ct: Conntrack;
  let stream: FlowRecordStream;
  let c: ReturnType<typeof collect>;

  beforeAll(async () => {
    ct = await Conntrack.open({ netns: t.router.path });
    stream = ct.flows({ sysctls: 'enable' });
    const ready = await stream.ready;
    expect(ready.enabled.sort()).toEqual(['nf_conntrack_acct', 'nf_conntrack_timestamp']);
    expect(ready.netns.names).toEqual([t.router.name]);
    c = collect(stream);
  });

  afterAll(async () => {
    await stream?.close();
    await ct?.close();
  });

  test('UDP of known sizes: exact counters, addresses before and after NAT both ways, idle timeout', async () => {
    const count = 5;
    const size = 100;
    const { sport, received } = await exchange(t, 'udp', size, count);
    expect(received).toBe(count);
    const e = await oracle('udp', sport);
    await expireSoon('udp', sport);
    const r = await c.waitFor((x) => x.flow.protocol === 'udp' && x.nat.original.pre.srcPort === sport);
    // Known sizes: each datagram is 100 bytes of payload + 8 (UDP) + 20 (IPv4).
    expect(r.counters).toEqual({ original: { packets: count, bytes: count * (size + 28) },
      reply: { packets: count, bytes: count * (size + 28) } });
    expectCounters(r, e);
    expect(r.nat.original.pre).toEqual({ src: ADDR.client, srcPort: sport, dst: ADDR.vip, dstPort: 5353 });
    expect(r.nat.original.post).toEqual({ src: ADDR.routerOut, srcPort: e.reply.dport, dst: ADDR.server, dstPort: 53 });
    expect(r.nat.reply.pre).toEqual({ src: ADDR.server, srcPort: 53, dst: ADDR.routerOut, dstPort: e.reply.dport });
    expect(r.nat.reply.post).toEqual({ src: ADDR.vip, srcPort: 5353, dst: ADDR.client, dstPort: sport });
    expect(r.reason).toBe('idle-timeout');
    expect(r.timeSource).toBe('kernel-stop');
    expect(r.start).toBeDefined();
    expect(r.end).toBeGreaterThan(r.start!);
    expect(r.netns?.names).toEqual([t.router.name]);
    const line = JSON.parse(JSON.stringify(r)) as Record<string, unknown>;
    expect(line.type).toBe('flow');
    expect(line.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect((line.netns as { inode: number }).inode).toBe(r.netns!.inode);
  });

  test('TCP: counters equal conntrack -L -o extended just before the end; end of flow in TIME_WAIT', async () => {
    const { sport, received } = await exchange(t, 'tcp', 3000);
    expect(received).toBe(1000);
    // The client saw the server's FIN: the router's entry is in TIME_WAIT with every packet counted.
    let e = await oracle('tcp', sport);
    for (let i = 0; i < 50 && e.state !== 'TIME_WAIT'; i++) e = await oracle('tcp', sport);
    expect(e.state).toBe('TIME_WAIT');
    await expireSoon('tcp', sport);
    const r = await c.waitFor((x) => x.flow.protocol === 'tcp' && x.nat.original.pre.srcPort === sport);
    expectCounters(r, e);
    expect(r.counters!.original.bytes).toBeGreaterThan(3000);
    expect(r.counters!.reply.bytes).toBeGreaterThan(1000);
    expect(r.reason).toBe('end-of-flow');
    expect(r.tcpState).toBe('TIME_WAIT');
    expect(r.nat.original.post.dst).toBe(ADDR.server);
    expect(r.nat.original.post.dstPort).toBe(80);
    expect(r.nat.original.post.src).toBe(ADDR.routerOut);
  });

  test('an entry deleted by a process is a forced end', async () => {
    const { sport } = await exchange(t, 'udp', 10, 1);
    const e = await oracle('udp', sport);
    await t.router.execOk('conntrack', ['-D', '-p', 'udp', '--orig-port-src', String(sport)]);
    const r = await c.waitFor((x) => x.flow.protocol === 'udp' && x.nat.original.pre.srcPort === sport);
    expect(r.reason).toBe('forced-end');
    expectCounters(r, e);
  });

  test('IPv6 through NAT66: exact counters and the translated addresses', async () => {
    const { sport } = await exchange(t, 'udp', 200, 3, 6);
    const e = await oracle('udp', sport, 6);
    await expireSoon('udp', sport, 6);
    const r = await c.waitFor((x) => x.flow.family === 'ipv6' && x.nat.original.pre.srcPort === sport);
    // 200 bytes + 8 (UDP) + 40 (IPv6).
    expect(r.counters!.original).toEqual({ packets: 3, bytes: 3 * 248 });
    expectCounters(r, e);
    expect(r.nat.original.pre).toMatchObject({ src: ADDR.client6, dst: ADDR.vip6, dstPort: 5353 });
    expect(r.nat.original.post).toMatchObject({ src: ADDR.routerOut6, dst: ADDR.server6, dstPort: 53 });
  });

  test('stats: records counted, no overruns', () => {
    expect(stream.records).toBeGreaterThanOrEqual(4);
    expect(stream.overruns).toBe(0);
    expect(stream.stats.overruns).toBe(0);
  });
});

describe('sysctls', () => {
  test("'enable' turns on what is off and puts it back on close; 'keep' says what is missing", async () => {
    expect(await sysctl(t.router, 'net.netfilter.nf_conntrack_acct')).toBe('0');
    const ct = await Conntrack.open({ netns: t.router.path });
    try {
      const keep = ct.flows();
      const k = await keep.ready;
      expect(k.missing.sort()).toEqual(['nf_conntrack_acct', 'nf_conntrack_timestamp']);
      expect(k.enabled).toEqual([]);
      const c = collect(keep);
      const { sport } = await exchange(t, 'udp', 10, 1);
      await expireSoon('udp', sport);
      const r = await c.waitFor((x) => x.nat.original.pre.srcPort === sport);
      // Nothing counted nor timed by the kernel: absent, not zero.
      expect(r.counters).toBeUndefined();
      expect(r.start).toBeUndefined();
      // Without timestamps this kernel sends no event time either: the time it was read.
      expect(['kernel-event', 'received']).toContain(r.timeSource);
      expect(Number(r.end / 1_000_000n)).toBeGreaterThan(Date.now() - 60_000);
      await keep.close();

      const on = ct.flows({ sysctls: 'enable' });
      await on.ready;
      expect(await sysctl(t.router, 'net.netfilter.nf_conntrack_acct')).toBe('1');
      expect(await sysctl(t.router, 'net.netfilter.nf_conntrack_timestamp')).toBe('1');
      await on.close();
      expect(await sysctl(t.router, 'net.netfilter.nf_conntrack_acct')).toBe('0');
      expect(await sysctl(t.router, 'net.netfilter.nf_conntrack_timestamp')).toBe('0');
    } finally {
      await ct.close();
    }
  });
});

describe('active timeout', () => {
  test('a long-lived flow gets records of its deltas; they add up to what the kernel counted', async () => {
    const ct = await Conntrack.open({ netns: t.router.path });
    const stream = ct.flows({ sysctls: 'enable', activeTimeout: 1, protocol: 'udp' });
    try {
      await stream.ready;
      const c = collect(stream);
      // 12 datagrams 250 ms apart: about 3 s open.
      const { sport } = await exchange(t, 'udp', 50, 12, 4, 250);
      const e = await oracle('udp', sport);
      await expireSoon('udp', sport);
      const end = await c.waitFor((x) => x.reason !== 'active-timeout' && x.nat.original.pre.srcPort === sport);
      const all = c.items.filter((x): x is FlowRecord => x.type === 'flow' && x.nat.original.pre.srcPort === sport);
      const active = all.filter((x) => x.reason === 'active-timeout');
      expect(active.length).toBeGreaterThanOrEqual(1);
      const sum = (k: 'original' | 'reply', f: 'packets' | 'bytes') => all.reduce((n, x) => n + x.counters![k][f], 0);
      expect({ op: sum('original', 'packets'), ob: sum('original', 'bytes'), rp: sum('reply', 'packets'),
        rb: sum('reply', 'bytes') }).toEqual({ op: e.orig.packets, ob: e.orig.bytes, rp: e.reply.packets,
          rb: e.reply.bytes });
      // Each record starts where the one before ended.
      for (let i = 1; i < all.length; i++) expect(all[i]!.start).toBe(all[i - 1]!.end);
      expect(end.reason).toBe('idle-timeout');
    } finally {
      await stream.close();
      await ct.close();
    }
  }, 30_000);

  test('a protocol filter keeps the other protocols out (the kernel-side filter)', async () => {
    const ct = await Conntrack.open({ netns: t.router.path });
    const stream = ct.flows({ protocol: 'udp' });
    try {
      await stream.ready;
      const c = collect(stream);
      const tcp = await exchange(t, 'tcp', 10);
      await t.router.execOk('conntrack', ['-D', '-p', 'tcp', '--orig-port-src', String(tcp.sport)]);
      const udp = await exchange(t, 'udp', 10, 1);
      await t.router.execOk('conntrack', ['-D', '-p', 'udp', '--orig-port-src', String(udp.sport)]);
      await c.waitFor((x) => x.nat.original.pre.srcPort === udp.sport);
      expect(c.items.filter((x) => x.type === 'flow' && x.flow.protocol === 'tcp')).toEqual([]);
      // The kernel sent only the UDP destroy to the socket.
      expect(stream.stats.received).toBe(stream.stats.matched);
    } finally {
      await stream.close();
      await ct.close();
    }
  });
});

describe('bad options', () => {
  test('refused before any syscall, naming the option', async () => {
    const ct = await Conntrack.open({ netns: t.router.path });
    try {
      expect(() => ct.flows({ activeTimeout: 0 })).toThrow(
        /flows\(\) options\.activeTimeout must be between 1 and 86400/,
      );
      expect(() => ct.flows({ sysctls: 'on' as 'enable' })).toThrow(
        /flows\(\) options\.sysctls must be 'enable' or 'keep'/,
      );
      expect(() => ct.flows({ protocl: 'tcp' } as object)).toThrow(/unknown option 'protocl'/);
      expect(() => ct.flows({ src: '10.0.0.300' })).toThrow(TypeError);
    } finally {
      await ct.close();
    }
  });
});
