// ct.watch(): a snapshot, then changes, and `flows` always the table `conntrack -L` shows once
// the namespace is quiet; entries made before anyone listened (which send no destroy event)
// found gone by a refresh; a resynchronisation after an overrun; filters on fields an entry can
// change; the socket released on every way out.
import { readdirSync, readlinkSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

import { describe, expect, test } from 'vitest';

import { Conntrack, type Flow, flowKey, type TableWatch, type WatchItem } from '../../lib/index.js';
import { createNetns, type Netns, setSysctl, useNetnsWith } from '../helpers/netns.js';
import { eventBurst } from '../helpers/streams.js';
import { type CtEntry, listEntries, runConntrackOk } from '../oracle/conntrack-cli.js';

let ns: Netns;
let ct: Conntrack;

useNetnsWith('nfct-watch', async (n) => ((ns = n), (ct = await Conntrack.open({ netns: n.name }))));

/** conntrack's view of an entry, in flowKey()'s words (the tests use TCP and UDP only). */
const keyOfEntry = (e: CtEntry): string =>
  `${e.l4proto} ${e.orig.src}:${e.orig.sport} -> ${e.orig.dst}:${e.orig.dport}${e.zone ? ` zone ${e.zone}` : ''}`;
const oracleKeys = async (n: Netns, args: string[] = []): Promise<string[]> =>
  (await listEntries(n, args)).entries.map(keyOfEntry).sort();
const heldKeys = (w: TableWatch): string[] => [...w.flows.keys()].sort();

/** Takes items in the background; `until(pred)` waits (bounded) for one that matches. */
function follow(w: TableWatch) {
  const items: WatchItem[] = [];
  let waiters: (() => void)[] = [];
  const done = (async () => {
    for await (const item of w) {
      items.push(item);
      for (const wake of waiters) wake();
      waiters = [];
    }
  })();
  const until = async (pred: (i: WatchItem) => boolean, what: string, ms = 20_000): Promise<WatchItem> => {
    const end = Date.now() + ms;
    for (;;) {
      const hit = items.find(pred);
      if (hit) return hit;
      if (Date.now() > end) {
        throw new Error(
          `timed out waiting for ${what}; items: ${
            JSON.stringify(
              items.map((
                i,
              ) => (i.type === 'snapshot' ? `snapshot ${i.reason} ${i.flows.length}` : `${i.type} ${i.key}`)),
            )
          }`,
        );
      }
      await Promise.race([new Promise<void>((ok) => waiters.push(ok)), sleep(100)]);
    }
  };
  return { items, done, until };
}

const udp = (src: string,
  dport = 53) => ['-I', '-p', 'udp', '-s', src, '-d', '10.61.0.1', '--sport', '1000', '--dport', String(dport), '-t',
  '300'];

describe('watch()', () => {
  test('a snapshot of the table, then each change; flows equals conntrack -L at each step', async () => {
    await runConntrackOk(ns, udp('10.60.0.1'));
    await runConntrackOk(ns, ['-I', '-p', 'tcp', '-s', '10.60.0.2', '-d', '10.61.0.1', '--sport', '1000', '--dport',
      '80', '--state', 'ESTABLISHED', '-t', '300']);
    await using w = ct.watch({ refresh: 0 });
    await w.ready;
    expect(heldKeys(w)).toEqual(await oracleKeys(ns));
    const f = follow(w);
    const first = await f.until((i) => i.type === 'snapshot', 'the snapshot');
    expect(first.type === 'snapshot' && first.reason).toBe('start');
    expect(first.type === 'snapshot' && first.flows.map(flowKey).sort()).toEqual(await oracleKeys(ns));

    await runConntrackOk(ns, udp('10.60.0.3'));
    const added = await f.until((i) => i.type === 'new', 'the new entry');
    expect(added).toMatchObject({ type: 'new', key: 'udp 10.60.0.3:1000 -> 10.61.0.1:53', origin: 'event' });
    await runConntrackOk(ns, ['-U', '-p', 'udp', '-s', '10.60.0.3', '-m', '9']);
    const changed = await f.until((i) => i.type === 'update', 'the update');
    expect(changed.type === 'update' && changed.flow.mark).toBe(9);
    expect(w.flows.get('udp 10.60.0.3:1000 -> 10.61.0.1:53')?.mark).toBe(9);
    await runConntrackOk(ns, ['-D', '-p', 'udp', '-s', '10.60.0.3']);
    await f.until((i) => i.type === 'destroy', 'the destroy');
    expect(heldKeys(w)).toEqual(await oracleKeys(ns));
    await w.close();
    await f.done;
    // What came, in order: the snapshot, then one item per change.
    expect(f.items.map((i) => i.type)).toEqual(['snapshot', 'new', 'update', 'destroy']);
  });

  test('an entry made while events were off sends no destroy event: a refresh finds it gone', async () => {
    const own = await createNetns('nfct-watch-silent');
    const c = await Conntrack.open({ netns: own.name });
    try {
      // With events off, the kernel gives new entries no event extension: they never send
      // one (nor do entries made while no socket of the machine listened, with the default 2).
      await setSysctl(own, 'net.netfilter.nf_conntrack_events', 0);
      await runConntrackOk(own, udp('10.62.0.1'));
      await runConntrackOk(own, udp('10.62.0.2'));
      await setSysctl(own, 'net.netfilter.nf_conntrack_events', 1);
      // Without refresh: the kernel never says the deleted one went.
      const blind = c.watch({ refresh: 0 });
      await blind.ready;
      const fb = follow(blind);
      // With a refresh every 0.3 s: found gone.
      const w = c.watch({ refresh: 0.3 });
      await w.ready;
      const fw = follow(w);
      await runConntrackOk(own, ['-D', '-p', 'udp', '-s', '10.62.0.1']);
      const gone = await fw.until((i) => i.type === 'destroy', 'the refresh');
      expect(gone).toMatchObject({ type: 'destroy', key: 'udp 10.62.0.1:1000 -> 10.61.0.1:53', origin: 'refresh' });
      expect(heldKeys(w)).toEqual(await oracleKeys(own));
      // A change made while listened to comes as an event, also to the watch without refresh.
      await runConntrackOk(own, udp('10.62.0.3'));
      await fb.until((i) => i.type === 'new', 'the new entry');
      await runConntrackOk(own, ['-D', '-p', 'udp', '-s', '10.62.0.3']);
      await fb.until((i) => i.type === 'destroy', 'its destroy event');
      expect(fb.items.filter((i) => i.type === 'destroy').map((i) => i.type !== 'snapshot' && [i.key, i.origin]))
        .toEqual([['udp 10.62.0.3:1000 -> 10.61.0.1:53', 'event']]);
      expect(blind.flows.has('udp 10.62.0.1:1000 -> 10.61.0.1:53')).toBe(true);
      await Promise.all([w.close(), blind.close()]);
      await Promise.all([fw.done, fb.done]);
    } finally {
      await c.close();
      await own.remove();
    }
  });

  test('events lost to an overrun: a snapshot read afterwards, and flows equals conntrack -L', async () => {
    const own = await createNetns('nfct-watch-overrun');
    const c = await Conntrack.open({ netns: own.name });
    try {
      const w = c.watch({ bufferSize: 4096, maxBufferSize: 4096, maxQueueBytes: 256 << 10, refresh: 0 });
      await w.ready;
      const it = w[Symbol.asyncIterator]();
      expect((await it.next()).value).toMatchObject({ type: 'snapshot', reason: 'start', flows: [] });
      const pending = it.next(); // reading; the consumer then stays away
      await sleep(100);
      await eventBurst(c, { net: 63, dst: '10.61.0.1', srcPort: 1000, dstPort: 53 });
      let snapshot: WatchItem | undefined;
      for (let next = pending; !snapshot; next = it.next()) {
        const r = await next;
        expect(r.done).toBe(false);
        if (r.value.type === 'snapshot') snapshot = r.value;
      }
      expect(snapshot).toMatchObject({ type: 'snapshot', reason: 'overrun' });
      expect(w.overruns).toBeGreaterThan(0);
      // Drain what followed the snapshot, then compare with the quiet table.
      await c.create({ protocol: 'udp', src: '10.64.9.9', dst: '10.61.0.1', srcPort: 1000, dstPort: 53, timeout: 60 });
      for (;;) {
        const r = await it.next();
        expect(r.done).toBe(false);
        if (w.flows.has('udp 10.64.9.9:1000 -> 10.61.0.1:53')) break;
      }
      expect(heldKeys(w)).toEqual(await oracleKeys(own));
      await it.return();
    } finally {
      await c.close();
      await own.remove();
    }
  }, 120_000);

  test('a filter on a field an entry can change: leaving it is a destroy, coming back a new', async () => {
    await using w = ct.watch({ mark: 5, refresh: 0 });
    await w.ready;
    const f = follow(w);
    await runConntrackOk(ns, [...udp('10.65.0.1'), '-m', '5']);
    await f.until((i) => i.type === 'new', 'the entry with mark 5');
    await runConntrackOk(ns, ['-U', '-p', 'udp', '-s', '10.65.0.1', '-m', '6']);
    const left = await f.until((i) => i.type === 'destroy', 'the entry leaving the filter');
    expect(left.type === 'destroy' && left.flow.mark).toBe(6);
    expect(w.flows.size).toBe(0);
    await runConntrackOk(ns, ['-U', '-p', 'udp', '-s', '10.65.0.1', '-m', '5']);
    await f.until((i) => i.type === 'new' && f.items.indexOf(i) > f.items.indexOf(left), 'the entry back');
    expect(heldKeys(w)).toEqual(await oracleKeys(ns, ['-m', '5']));
    await runConntrackOk(ns, ['-D', '-p', 'udp', '-s', '10.65.0.1']);
    await w.close();
    await f.done;
  });

  test('bad options are refused before any socket, naming the option', () => {
    expect(() => ct.watch({ refresh: -1 })).toThrow(RangeError);
    expect(() => ct.watch({ refresh: -1 })).toThrow(/watch\(\) options\.refresh/);
    expect(() => ct.watch({ refresh: '5' as never })).toThrow(/watch\(\) options\.refresh must be a number/);
    expect(() => ct.watch({ state: 'NOPE' as never })).toThrow(/watch\(\) options\.state/);
    expect(() => ct.watch({ types: ['new'] } as never)).toThrow(/watch\(\) options: unknown option 'types'/);
  });

  test('close(), break, the signal and the handle ending each release the socket', async () => {
    const sockets = (): number =>
      readdirSync('/proc/self/fd').filter((fd) => {
        try {
          return readlinkSync(`/proc/self/fd/${fd}`).startsWith('socket:');
        } catch {
          return false;
        }
      }).length;
    const before = sockets();
    const a = ct.watch();
    await a.ready;
    await a.close();
    for await (const item of ct.watch()) if (item.type === 'snapshot') break;
    const ac = new AbortController();
    const b = ct.watch({ signal: ac.signal });
    const ended = (async () => {
      const seen: Flow[][] = [];
      for await (const item of b) if (item.type === 'snapshot') seen.push(item.flows);
      return seen.length;
    })();
    await b.ready;
    ac.abort();
    expect(await ended).toBe(1);
    {
      await using c = ct.watch();
      await c.ready;
    }
    // The handle's close() ends a watch on it: the loop finishes.
    const other = await Conntrack.open({ netns: ns.name });
    const d = other.watch();
    const looped = (async () => {
      let n = 0;
      for await (const _ of d) n++;
      return n;
    })();
    await d.ready;
    await other.close();
    expect(await looped).toBe(1);
    for (let i = 0; i < 50 && sockets() > before; i++) await sleep(20);
    expect(sockets()).toBe(before);
  });
});
