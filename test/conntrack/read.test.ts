// Reading the table: every entry, made by conntrack -I or by real traffic, reads back through
// list() and get() with every field equal to what `conntrack -L -o extended,id,labels` prints.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { Conntrack, type Flow } from '../../lib/index.js';
import { createNetns, type Netns } from '../helpers/netns.js';
import { everyKindOfFlow } from '../helpers/traffic.js';
import { insertEntry, listEntries, runConntrackOk } from '../oracle/conntrack-cli.js';
import { diffFlow, pairById } from '../support/compare.js';
import { everyKind } from '../support/tables.js';

const labelMap = { 1: 'web', 5: 'db', 100: 'far' };

const specs = everyKind;

let ns: Netns;
let ct: Conntrack;

beforeAll(async () => {
  ns = await createNetns('nfct-read', {
    labels: true,
    sysctls: { 'net.netfilter.nf_conntrack_acct': 1, 'net.netfilter.nf_conntrack_timestamp': 1 },
  });
  for (const spec of specs) await insertEntry(ns, spec, { labelMap });
  await everyKindOfFlow(ns);
  ct = await Conntrack.open({ netns: ns.name });
});

afterAll(async () => {
  await ct?.close();
  await ns?.remove();
});

async function oracle(args: string[] = []) {
  const oracleTime = Date.now() / 1000;
  const listing = await listEntries(ns, args, { labelMap });
  expect(listing.rejected).toEqual([]);
  return { ...listing, oracleTime };
}

function expectSame(flows: Flow[], listing: Awaited<ReturnType<typeof oracle>>, ignore: string[] = []): void {
  const { pairs, onlyLibrary, onlyConntrack } = pairById(flows, listing.entries);
  expect(onlyLibrary.map((f) => f.id)).toEqual([]);
  expect(onlyConntrack.map((e) => e.line)).toEqual([]);
  const diffs = pairs.flatMap(([f, e]) =>
    diffFlow(f, e, { labelNames: labelMap, oracleTime: listing.oracleTime, ignore }).map((d) => `${e.line}\n    ${d}`)
  );
  expect(diffs).toEqual([]);
}

describe('list()', () => {
  test('reads every entry with every field equal to conntrack -L', async () => {
    const flows = await ct.list().toArray();
    const listing = await oracle();
    // All the entries above plus the traffic (2 TCP, 2 UDP, 2 ICMP, 2 DNAT).
    expect(listing.entries.length).toBe(specs.length + 8);
    expect(flows.length).toBe(listing.entries.length);
    expectSame(flows, listing);
  });

  test('decodes what conntrack -L shows for each protocol and option', async () => {
    const flows = await ct.list().toArray();
    const find = (port: number) => flows.find((f) => 'srcPort' in f.original && f.original.srcPort === port)!;
    const tcp = find(40001);
    expect(tcp.protocol).toBe('tcp');
    expect(tcp.protocol === 'tcp' && tcp.tcp?.state).toBe('ESTABLISHED');
    expect(tcp.mark).toBe(5);
    expect(tcp.status.assured).toBe(true);
    expect(find(40003).zone).toBe(7);
    expect(find(40004).original.zone).toBe(3);
    expect(find(40005).reply.zone).toBe(4);
    const dnat = find(40006);
    expect(dnat.reply.src).toBe('192.168.7.7');
    expect(dnat.status.dstNat).toBe(true);
    expect(dnat.nat).toEqual({ dst: { address: '192.168.7.7', port: 6000 } });
    expect(find(40007).labels).toEqual([1, 100]);
    expect(find(40011).mark).toBe(0xffffffff);
    const sctp = find(40008);
    expect(sctp.protocol === 'sctp' && sctp.sctp?.state).toBe('ESTABLISHED');
    const gre = flows.find((f) => f.protocol === 'gre')!;
    expect(gre.original).toMatchObject({ srcKey: 0x1234, dstKey: 0xabcd });
    const icmp6 = flows.find((f) => f.protocol === 'icmpv6' && f.original.src === '2001:db8::1')!;
    expect(icmp6.original).toMatchObject({ type: 128, code: 0, id: 99 });
    expect(icmp6.reply).toMatchObject({ type: 129, code: 0, id: 99 });
    for (const f of flows) {
      expect(f.timestamp?.start).toBeTypeOf('bigint');
      expect(f.counters).toBeDefined();
    }
  });

  test('a DNAT flow from real traffic carries its counters and the rewritten reply tuple', async () => {
    const flows = await ct.list({ dst: '127.0.0.99' }).toArray();
    expect(flows.length).toBe(2);
    for (const f of flows) {
      expect(f.status.dstNat).toBe(true);
      expect(f.reply.src).not.toBe('127.0.0.99');
      expect(f.counters!.original.packets).toBeGreaterThan(0);
      expect(f.counters!.reply.bytes).toBeGreaterThan(0);
      expect(f.nat?.dst?.address).toBe(f.reply.src);
    }
  });
});

describe('get()', () => {
  test('finds each entry by its original tuple, equal to conntrack -L', async () => {
    const listing = await oracle();
    const got: Flow[] = [];
    for (const f of await ct.list().toArray()) {
      const again = await ct.get(f);
      expect(again, `get(${f.protocol} ${f.original.src} -> ${f.original.dst})`).not.toBeNull();
      got.push(again!);
    }
    // A get holds one more reference while the kernel answers (conntrack -G shows use=2 too).
    expectSame(got, listing, ['use']);
    expect(got.every((f) => f.use === 2)).toBe(true);
  });

  test('takes a tuple given by hand, zone included', async () => {
    const f = await ct.get({ protocol: 'udp', src: '10.1.0.1', dst: '10.1.0.3', srcPort: 40003, dstPort: 53, zone: 7 });
    expect(f?.zone).toBe(7);
    expect(await ct.get({ protocol: 'udp', src: '10.1.0.1', dst: '10.1.0.3', srcPort: 40003, dstPort: 53 })).toBeNull();
    const z = await ct.get({ protocol: 'udp', src: '10.1.0.1', dst: '10.1.0.4', srcPort: 40004, dstPort: 53,
      origZone: 3 });
    expect(z?.original.zone).toBe(3);
    const g = await ct.get({ protocol: 'icmp', src: '10.1.0.1', dst: '10.1.0.2', type: 8, code: 0, id: 77 });
    expect(g?.protocol).toBe('icmp');
    const h = await ct.get({ protocol: 'tcp', src: '2001:db8::1', dst: '2001:db8::2', srcPort: 40002, dstPort: 443 });
    expect(h?.family).toBe('ipv6');
  });

  test('resolves null when there is no such entry (conntrack -G fails the same way)', async () => {
    const spec = { protocol: 'udp' as const, src: '10.9.9.9', dst: '10.9.9.8', srcPort: 1, dstPort: 2 };
    expect(await ct.get(spec)).toBeNull();
    const r = await ns.exec('conntrack', ['-G', '-p', 'udp', '-s', spec.src, '-d', spec.dst, '--sport', '1', '--dport',
      '2']);
    expect(r.code).not.toBe(0);
  });
});

describe('count() and stats()', () => {
  test('count() equals conntrack -C', async () => {
    const r = await runConntrackOk(ns, ['-C']);
    expect(await ct.count()).toBe(Number(r.stdout.trim()));
  });

  test('stats() has one row per CPU with the counters conntrack -S prints', async () => {
    const r = await runConntrackOk(ns, ['-S']);
    const rows = r.stdout.trim().split('\n').map((line) =>
      Object.fromEntries(line.trim().split(/\s+/).map((kv) => kv.split('=') as [string, string]))
    );
    const stats = await ct.stats();
    expect(stats.length).toBe(rows.length);
    for (const row of rows) {
      const mine = stats.find((s) => s.cpu === Number(row.cpu));
      expect(mine).toBeDefined();
      for (const [k, v] of Object.entries(row)) {
        if (k === 'cpu') continue;
        // The netns is quiet: counters do not move between the two reads.
        expect(mine![k], k).toBe(Number(v));
      }
    }
  });
});
