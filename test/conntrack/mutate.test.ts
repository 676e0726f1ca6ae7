// Changing the table: every change the library makes is seen by conntrack, and every change
// conntrack makes is seen by the library.
import { beforeAll, describe, expect, test } from 'vitest';

import { Conntrack, type CreateManyStop, type FlowInput, NfctError } from '../../lib/index.js';
import { createNetns, type Netns, useNetnsWith } from '../helpers/netns.js';
import { insertEntry, listEntries, runConntrack, runConntrackOk } from '../oracle/conntrack-cli.js';

const labelMap = { 3: 'red', 7: 'blue' };
let ns: Netns;
let ct: Conntrack;

useNetnsWith('nfct-mutate', async (n) => ((ns = n), (ct = await Conntrack.open({ netns: n.name }))), { labels: true });

async function get(args: string[]) {
  const r = await runConntrack(ns, ['-G', '-o', 'extended,id,labels', ...args], { labelMap });
  return r.code === 0
    ? (await import('../oracle/conntrack-parse.js')).parseConntrackLine(r.stdout.trim().split('\n')[0]!)
    : null;
}

describe('create() and add()', () => {
  test('entries of each kind appear in conntrack -G as given', async () => {
    await ct.create({ protocol: 'tcp', src: '10.0.0.1', dst: '10.0.0.2', srcPort: 1000, dstPort: 80, timeout: 300,
      state: 'ESTABLISHED', status: 'ASSURED', mark: 42 });
    const tcp = await get(['-p', 'tcp', '-s', '10.0.0.1', '-d', '10.0.0.2', '--sport', '1000', '--dport', '80']);
    expect(tcp).toMatchObject({ l4proto: 'tcp', state: 'ESTABLISHED', assured: true, mark: 42, seenReply: false });
    expect(tcp!.reply).toMatchObject({ src: '10.0.0.2', dst: '10.0.0.1', sport: 80, dport: 1000 });
    expect(tcp!.timeout).toBeGreaterThan(295);

    await ct.create({ protocol: 'icmp', src: '10.0.0.1', dst: '10.0.0.2', type: 8, code: 0, id: 9, timeout: 60 });
    const icmp = await get(['-p', 'icmp', '-s', '10.0.0.1', '-d', '10.0.0.2', '--icmp-type', '8', '--icmp-code', '0',
      '--icmp-id', '9']);
    expect(icmp!.reply).toMatchObject({ icmpType: 0, icmpCode: 0, icmpId: 9 });

    await ct.create({ protocol: 'udp', src: 'fd00::1', dst: 'fd00::2', srcPort: 5000, dstPort: 53, timeout: 60,
      zone: 4 });
    const udp6 = (await listEntries(ns, ['-f', 'ipv6', '-p', 'udp', '-s', 'fd00::1', '-w', '4'])).entries;
    expect(udp6.length).toBe(1);
    expect(udp6[0]).toMatchObject({ family: 6, zone: 4 });

    await ct.create({ protocol: 'udp', src: '10.0.0.5', dst: '10.0.0.6', srcPort: 7, dstPort: 8, timeout: 60,
      origZone: 2 });
    const oz = (await listEntries(ns, ['-s', '10.0.0.5', '--orig-zone', '2'])).entries;
    expect(oz.length).toBe(1);
    expect(oz[0]!.orig.zone).toBe(2);

    await ct.create({ protocol: 'sctp', src: '10.0.0.1', dst: '10.0.0.2', srcPort: 9, dstPort: 10, timeout: 60,
      state: 'ESTABLISHED', vtag: { original: 1, reply: 2 } });
    const sctp = await get(['-p', 'sctp', '-s', '10.0.0.1', '-d', '10.0.0.2', '--sport', '9', '--dport', '10']);
    expect(sctp).toMatchObject({ l4proto: 'sctp', state: 'ESTABLISHED' });

    await ct.create({ protocol: 'udp', src: '10.0.0.7', dst: '10.0.0.8', srcPort: 11, dstPort: 12, timeout: 60,
      labels: [3, 7] });
    const labeled = await get(['-p', 'udp', '-s', '10.0.0.7', '-d', '10.0.0.8', '--sport', '11', '--dport', '12']);
    expect(labeled!.labels).toEqual(['red', 'blue']);
  });

  test('snat/dnat rewrite the reply tuple as conntrack --src-nat/--dst-nat does', async () => {
    await ct.create({ protocol: 'udp', src: '10.1.0.1', dst: '10.1.0.2', srcPort: 100, dstPort: 53, timeout: 60,
      dnat: { address: '10.1.9.9', port: 5353 } });
    await insertEntry(ns, { proto: 'udp', src: '10.1.0.1', dst: '10.1.0.3', sport: 100, dport: 53, timeout: 60,
      dnat: '10.1.9.9:5353' });
    await ct.create({ protocol: 'tcp', src: '10.1.0.1', dst: '10.1.0.2', srcPort: 101, dstPort: 80, timeout: 60,
      state: 'ESTABLISHED', snat: { address: '192.0.2.1', port: 40000 } });
    await insertEntry(ns, { proto: 'tcp', src: '10.1.0.1', dst: '10.1.0.3', sport: 101, dport: 80, timeout: 60,
      snat: '192.0.2.1:40000' });
    const { entries } = await listEntries(ns, ['-s', '10.1.0.1']);
    const find = (proto: string, dst: string) => entries.find((e) => e.l4proto === proto && e.orig.dst === dst)!;
    // Ours, as conntrack -L shows them.
    expect(find('udp', '10.1.0.2').reply).toMatchObject({ src: '10.1.9.9', dst: '10.1.0.1', sport: 5353, dport: 100 });
    expect(find('tcp', '10.1.0.2').reply).toMatchObject({ src: '10.1.0.2', dst: '192.0.2.1', sport: 80, dport: 40000 });
    // conntrack's own rewrite the same addresses and ports.
    expect(find('udp', '10.1.0.3').reply).toMatchObject({ src: '10.1.9.9', sport: 5353 });
    expect(find('tcp', '10.1.0.3').reply).toMatchObject({ dst: '192.0.2.1', dport: 40000 });
    expect(find('udp', '10.1.0.2').flags).toEqual(find('udp', '10.1.0.3').flags);
    const lib = await ct.get({ protocol: 'udp', src: '10.1.0.1', dst: '10.1.0.2', srcPort: 100, dstPort: 53 });
    expect(lib?.status.dstNat).toBe(true);
    expect(lib?.nat).toEqual({ dst: { address: '10.1.9.9', port: 5353 } });
  });

  test('a reply given only in part takes the rest from the original, swapped: ports, ICMP reply type, GRE keys', async () => {
    await ct.create({ protocol: 'gre', src: '10.2.0.1', dst: '10.2.0.2', srcKey: 0x11, dstKey: 0x22, timeout: 60,
      reply: { src: '10.2.0.9' } });
    await ct.create({ protocol: 'udp', src: '10.2.0.1', dst: '10.2.0.2', srcPort: 300, dstPort: 53, timeout: 60,
      reply: { src: '10.2.0.9' } });
    await ct.create({ protocol: 'icmp', src: '10.2.0.1', dst: '10.2.0.2', type: 8, code: 0, id: 77, timeout: 60,
      reply: { src: '10.2.0.9' } });
    const { entries } = await listEntries(ns, ['-s', '10.2.0.1']);
    const find = (proto: string) => entries.find((e) => e.l4proto === proto)!;
    expect(find('gre').reply).toMatchObject({ src: '10.2.0.9', dst: '10.2.0.1', greSrcKey: 0x22, greDstKey: 0x11 });
    expect(find('udp').reply).toMatchObject({ src: '10.2.0.9', dst: '10.2.0.1', sport: 53, dport: 300 });
    expect(find('icmp').reply).toMatchObject({ src: '10.2.0.9', dst: '10.2.0.1', icmpType: 0, icmpCode: 0,
      icmpId: 77 });
  });

  test('create() of an existing entry fails with EEXIST; add() leaves it and says so', async () => {
    const flow: FlowInput = { protocol: 'udp', src: '10.2.0.1', dst: '10.2.0.2', srcPort: 1, dstPort: 2, timeout: 60,
      mark: 1 };
    expect(await ct.add(flow)).toBe(true);
    const err = await ct.create(flow).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NfctError);
    expect((err as NfctError).code).toBe('EEXIST');
    expect(await ct.add({ ...flow, mark: 2 })).toBe(false);
    expect((await get(['-p', 'udp', '-s', '10.2.0.1', '-d', '10.2.0.2', '--sport', '1', '--dport', '2']))!.mark).toBe(
      1,
    );
  });
});

describe('update()', () => {
  const a = { protocol: 'udp' as const, src: '10.3.0.1', dst: '10.3.0.2', srcPort: 1, dstPort: 2 };
  const b = { protocol: 'udp' as const, src: '10.3.0.1', dst: '10.3.0.3', srcPort: 1, dstPort: 2 };
  const bArgs = ['-p', 'udp', '-s', '10.3.0.1', '-d', '10.3.0.3', '--sport', '1', '--dport', '2'];

  beforeAll(async () => {
    await ct.create({ ...a, timeout: 60, mark: 0x1234 });
    await ct.create({ ...b, timeout: 60, mark: 0x1234 });
  });

  test('mark with a mask has the effect of conntrack -U -m VALUE/MASK', async () => {
    await ct.update(a, { mark: { value: 0x50, mask: 0xf0 } });
    await runConntrackOk(ns, ['-U', ...bArgs, '-m', '0x50/0xf0']);
    const libMark = (await ct.get(a))!.mark;
    const cliMark = (await ct.get(b))!.mark;
    expect(libMark).toBe(cliMark);
    expect(libMark).toBe(0x1254);
  });

  test('timeout, status and a plain mark', async () => {
    await ct.update(a, { timeout: 1000, status: 'ASSURED', mark: 7 });
    const e = (await get(['-p', 'udp', '-s', '10.3.0.1', '-d', '10.3.0.2', '--sport', '1', '--dport', '2']))!;
    expect(e.timeout).toBeGreaterThan(990);
    expect(e.assured).toBe(true);
    expect(e.mark).toBe(7);
  });

  test('labels are added and removed, as conntrack -U --label-add/--label-del', async () => {
    await ct.update(a, { labels: { add: [3, 7] } });
    expect((await ct.get(a))!.labels).toEqual([3, 7]);
    await ct.update(a, { labels: { remove: 3 } });
    expect((await ct.get(a))!.labels).toEqual([7]);
    await runConntrackOk(ns, ['-U', ...bArgs, '--label-add', 'red'], { labelMap });
    expect((await ct.get(b))!.labels).toEqual([3]);
  });

  test('changes made by conntrack -U are seen by the library', async () => {
    await runConntrackOk(ns, ['-U', ...bArgs, '-m', '99']);
    expect((await ct.get(b))!.mark).toBe(99);
  });

  test('an update of a missing entry fails with ENOENT', async () => {
    const err = await ct.update({ ...a, dst: '10.3.9.9' }, { mark: 1 }).catch((e: unknown) => e);
    expect((err as NfctError).code).toBe('ENOENT');
  });
});

describe('delete()', () => {
  test('by tuple, by Flow and by id, each gone from conntrack -L', async () => {
    const base = { protocol: 'tcp' as const, dst: '10.4.0.9', srcPort: 1, dstPort: 2, timeout: 60,
      state: 'ESTABLISHED' as const };
    for (const src of ['10.4.0.1', '10.4.0.2', '10.4.0.3']) await ct.create({ ...base, src });
    await ct.delete({ protocol: 'tcp', src: '10.4.0.1', dst: '10.4.0.9', srcPort: 1, dstPort: 2 });
    const flow = (await ct.get({ protocol: 'tcp', src: '10.4.0.2', dst: '10.4.0.9', srcPort: 1, dstPort: 2 }))!;
    await ct.delete(flow);
    const third = (await ct.get({ protocol: 'tcp', src: '10.4.0.3', dst: '10.4.0.9', srcPort: 1, dstPort: 2 }))!;
    await ct.delete({ id: third.id! });
    expect((await listEntries(ns, ['-d', '10.4.0.9'])).entries).toEqual([]);
  });

  test('a missing entry fails with ENOENT; a Flow whose id no longer matches too', async () => {
    const err = await ct.delete({ protocol: 'udp', src: '10.4.1.1', dst: '10.4.1.2', srcPort: 1, dstPort: 2 }).catch((
      e: unknown,
    ) => e);
    expect((err as NfctError).code).toBe('ENOENT');
    await ct.create({ protocol: 'udp', src: '10.4.1.1', dst: '10.4.1.2', srcPort: 1, dstPort: 2, timeout: 60 });
    const current = (await ct.get({ protocol: 'udp', src: '10.4.1.1', dst: '10.4.1.2', srcPort: 1, dstPort: 2 }))!;
    // A Flow read earlier whose entry was replaced since: same tuple, another id.
    const stale = { ...current, id: (current.id! + 1) >>> 0 };
    const err2 = await ct.delete(stale).catch((e: unknown) => e);
    expect((err2 as NfctError).code).toBe('ENOENT');
    expect(await ct.get(current)).not.toBeNull();
  });

  test('conntrack -D is seen by the library', async () => {
    await ct.create({ protocol: 'udp', src: '10.4.2.1', dst: '10.4.2.2', srcPort: 1, dstPort: 2, timeout: 60 });
    await runConntrackOk(ns, ['-D', '-s', '10.4.2.1']);
    expect(await ct.get({ protocol: 'udp', src: '10.4.2.1', dst: '10.4.2.2', srcPort: 1, dstPort: 2 })).toBeNull();
  });
});

describe('createMany()', () => {
  test('creates in batches and reports each failure without stopping', async () => {
    const own = await createNetns('nfct-many');
    const c = await Conntrack.open({ netns: own.name });
    try {
      const flows: FlowInput[] = [];
      for (let i = 0; i < 5000; i++) {
        flows.push({ protocol: 'udp', src: `10.5.${i >> 8}.${i & 255}`, dst: '10.6.0.1', srcPort: 1, dstPort: 2,
          timeout: 300 });
      }
      flows.splice(1234, 0, { ...flows[10]! }); // a duplicate: EEXIST
      flows.splice(4000, 0, { protocol: 'icmp', src: '10.7.0.1', dst: '10.7.0.2', type: 3, code: 1, id: 0,
        reply: { type: 3, code: 1, id: 0 }, timeout: 30 }); // ICMP errors are not tracked: refused
      const r = await c.createMany(flows, { batchSize: 700 });
      expect(r.created).toBe(5000);
      expect(r.failed.map((f) => [f.index, f.error.code])).toEqual([[1234, 'EEXIST'], [4000, expect.any(String)]]);
      expect(r.failed[0]!.flow).toBe(flows[1234]);
      // Each failure says which entry, as an NfctError of the kernel's reply.
      expect(r.failed[0]!.error).toBeInstanceOf(NfctError);
      expect(r.failed[0]!.error.message).toBe(
        'createMany entry 1234: netlink failed with EEXIST: the entry already exists',
      );
      expect([r.failed[0]!.error.syscall, r.failed[0]!.error.detail]).toEqual(['netlink', '']);
      expect(Number((await runConntrackOk(own, ['-C'])).stdout.trim())).toBe(5000);
      const again = await c.createMany(flows.slice(0, 100), { ifExists: 'skip' });
      expect(again).toMatchObject({ created: 0, existed: 100, failed: [] });
    } finally {
      await c.close();
      await own.remove();
    }
  });

  test('takes an async iterable', async () => {
    async function* gen() {
      for (let i = 0; i < 50; i++) {
        yield { protocol: 'udp' as const, src: '10.8.0.1', dst: '10.8.0.2', srcPort: 1000 + i, dstPort: 53,
          timeout: 60 };
      }
    }
    const r = await ct.createMany(gen(), { batchSize: 16 });
    expect(r.created).toBe(50);
    expect((await listEntries(ns, ['-s', '10.8.0.1'])).entries.length).toBe(50);
  });
});

// Issue 13: createMany applied part of its input and then only threw, without saying how much.
describe('createMany() with bad input', () => {
  const flow = (i: number): FlowInput => ({ protocol: 'udp', src: `10.40.${i >> 8}.${i & 255}`, dst: '10.41.0.1',
    srcPort: 1, dstPort: 2, timeout: 300 });
  const many = (n: number): FlowInput[] => Array.from({ length: n }, (_, i) => flow(i));

  async function stopped(p: Promise<unknown>): Promise<Error & CreateManyStop> {
    const e = await p.then(() => undefined, (err: unknown) => err);
    if (!(e instanceof Error)) throw new Error(`expected createMany to throw, got ${String(e)}`);
    return e as Error & CreateManyStop;
  }

  async function inNs(fn: (c: Conntrack, count: () => Promise<number>) => Promise<void>): Promise<void> {
    const own = await createNetns('nfct-manybad');
    const c = await Conntrack.open({ netns: own.name });
    try {
      await fn(c, async () => Number((await runConntrackOk(own, ['-C'])).stdout.trim()));
    } finally {
      await c.close();
      await own.remove();
    }
  }

  test('an array with an invalid entry at 3000 of 4000: a RangeError naming it, nothing created (checked by conntrack -C)', async () => {
    await inNs(async (c, count) => {
      const flows = many(4000);
      flows[3000] = { ...flows[3000]!, dstPort: 70000 };
      const e = await stopped(c.createMany(flows, { batchSize: 500 }));
      expect(e).toBeInstanceOf(RangeError);
      expect(e.message).toContain('createMany() flows[3000].dstPort');
      expect(e).toMatchObject({ index: 3000, created: 0, existed: 0, failed: [] });
      expect(await count()).toBe(0);
    });
  });

  test('a generator yielding an invalid address at 3000: the batches before it were sent, and the error says how many were created', async () => {
    await inNs(async (c, count) => {
      function* gen() {
        for (let i = 0; i < 4000; i++) yield i === 3000 ? { ...flow(i), src: '999.1.1.1' } : flow(i);
      }
      const e = await stopped(c.createMany(gen(), { batchSize: 500 }));
      expect(e).toBeInstanceOf(TypeError);
      expect(e.message).toContain('createMany() flows[3000].src');
      expect(e.index).toBe(3000);
      expect(e.created).toBe(3000); // six whole batches of 500; the seventh held the bad entry
      expect(await count()).toBe(e.created);
    });
  });

  test('a generator that throws at 3100, and an async one: the error is its own, with what was created', async () => {
    await inNs(async (c, count) => {
      function* gen() {
        for (let i = 0; i < 4000; i++) {
          if (i === 3100) throw new Error('source failed');
          yield flow(i);
        }
      }
      const e = await stopped(c.createMany(gen(), { batchSize: 500 }));
      expect(e.message).toBe('source failed');
      expect(e).toMatchObject({ index: 3100, created: 3000 });
      expect(await count()).toBe(3000);
      async function* agen() {
        for (let i = 0; i < 1200; i++) yield i === 1100 ? { ...flow(5000 + i), timeout: -1 } : flow(5000 + i);
      }
      const e2 = await stopped(c.createMany(agen(), { batchSize: 500 }));
      expect(e2).toBeInstanceOf(RangeError);
      expect(e2).toMatchObject({ index: 1100, created: 1000 });
      expect(await count()).toBe(4000);
    });
  });
});

describe('flush()', () => {
  test('flush({ family }) and flush() remove what conntrack -F would', async () => {
    const own = await createNetns('nfct-flush');
    const c = await Conntrack.open({ netns: own.name });
    try {
      await c.createMany([
        { protocol: 'udp', src: '10.9.0.1', dst: '10.9.0.2', srcPort: 1, dstPort: 2, timeout: 60 },
        { protocol: 'udp', src: 'fd00::9', dst: 'fd00::8', srcPort: 1, dstPort: 2, timeout: 60 },
        { protocol: 'tcp', src: 'fd00::9', dst: 'fd00::8', srcPort: 1, dstPort: 2, timeout: 60, state: 'ESTABLISHED' },
      ]);
      await c.flush({ family: 'ipv6' });
      const left = (await listEntries(own)).entries;
      expect(left.map((e) => e.family)).toEqual([4]);
      await c.flush();
      expect((await listEntries(own)).entries).toEqual([]);
    } finally {
      await c.close();
      await own.remove();
    }
  });
});

describe('the other tables and zeroing counters', () => {
  test('list({ table }) reads the dying and unconfirmed tables as conntrack -L does', async () => {
    for (const table of ['dying', 'unconfirmed'] as const) {
      const mine = await ct.list({ table }).toArray();
      const r = await runConntrackOk(ns, ['-L', table]);
      expect(r.stderr).toMatch(/(\d+) flow entries have been shown/);
      expect(mine.length).toBe(Number(/(\d+) flow entries/.exec(r.stderr)![1]));
    }
  });

  test('list({ zeroCounters: true }) reads the counters and resets them, as conntrack -L -z', async () => {
    const own = await createNetns('nfct-zero', { sysctls: { 'net.netfilter.nf_conntrack_acct': 1 } });
    try {
      await own.execOk('ping', ['-c', '2', '-i', '0.2', '127.0.0.1']);
      const c = await Conntrack.open({ netns: own.name });
      const [first] = await c.list({ zeroCounters: true, protocol: 'icmp' }).toArray();
      expect(first!.counters!.original.packets).toBe(2);
      const [after] = await c.list({ protocol: 'icmp' }).toArray();
      expect(after!.counters!.original.packets).toBe(0);
      await c.close();
      const { entries } = await listEntries(own, ['-p', 'icmp']);
      expect(entries[0]!.orig.packets).toBe(0);
    } finally {
      await own.remove();
    }
  });
});
