// ct.aggregate() with accounting on: each group's packets and bytes, and the total's, are the
// sums of what `conntrack -L` prints for the same entries (made by real datagrams of known
// sizes), and sort: 'packets' / 'bytes' ranks the groups by them.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { type AggregateResult, Conntrack } from '../../lib/index.js';
import { createNetns, type Netns } from '../helpers/netns.js';
import { until } from '../helpers/sentinel.js';
import { type CtEntry, listEntries } from '../oracle/conntrack-cli.js';

let ns: Netns;
let ct: Conntrack;
let entries: CtEntry[];

/** Flows to 127.0.0.1: [source port, destination port, datagrams, payload bytes each]. */
const FLOWS: [number, number, number, number][] = [
  [41001, 7001, 3, 10],
  [41002, 7001, 1, 500],
  [41003, 7002, 6, 1],
  [41004, 7003, 2, 200],
];

beforeAll(async () => {
  ns = await createNetns('nfct-aggacct', { sysctls: { 'net.netfilter.nf_conntrack_acct': 1 } });
  ct = await Conntrack.open({ netns: ns.name });
  const script = `const d=require('dgram');const flows=${JSON.stringify(FLOWS)};let left=flows.length;
for(const [sp,dp,n,size] of flows){const s=d.createSocket('udp4');s.bind(sp,'127.0.0.1',()=>{let i=0;
const go=()=>{if(i++>=n){s.close();if(--left===0)process.exit(0);return}s.send(Buffer.alloc(size,120),dp,'127.0.0.1',go)};go()})}
setTimeout(()=>process.exit(1),10000)`;
  await ns.execOk('node', ['-e', script]);
  const sent = FLOWS.reduce((s, [, , n]) => s + n, 0);
  // conntrack -L is the oracle, read once every datagram is counted.
  await until(async () => {
    entries = (await listEntries(ns, ['-p', 'udp', '-s', '127.0.0.1'])).entries.filter((e) =>
      FLOWS.some(([sp]) => sp === e.orig.sport)
    );
    return entries.reduce((s, e) => s + (e.orig.packets ?? 0), 0) === sent;
  }, 'conntrack -L to count every datagram sent');
}, 60_000);

afterAll(async () => {
  await ct?.close();
  await ns?.remove();
});

interface Sums {
  packets: number;
  bytes: number;
  replyPackets: number;
  replyBytes: number;
  count: number;
}

function theirs(): Map<number, Sums> {
  const m = new Map<number, Sums>();
  for (const e of entries) {
    const s = m.get(e.orig.dport!) ?? { packets: 0, bytes: 0, replyPackets: 0, replyBytes: 0, count: 0 };
    s.packets += e.orig.packets!;
    s.bytes += e.orig.bytes!;
    s.replyPackets += e.reply.packets!;
    s.replyBytes += e.reply.bytes!;
    s.count++;
    m.set(e.orig.dport!, s);
  }
  return m;
}

function ours(r: AggregateResult): Map<number, Sums> {
  return new Map(
    r.groups.map((
      g,
    ) => [g.key.dstPort!, { packets: g.counters!.original.packets, bytes: g.counters!.original.bytes,
      replyPackets: g.counters!.reply.packets, replyBytes: g.counters!.reply.bytes, count: g.count }]
    ),
  );
}

describe('aggregate() with accounting', () => {
  const filter = { protocol: 'udp', src: '127.0.0.1' } as const;

  test('each group sums the packets and bytes conntrack -L prints for its entries', async () => {
    const r = await ct.aggregate({ by: 'dstPort', top: 0, ...filter });
    expect(entries).toHaveLength(FLOWS.length);
    expect(ours(r)).toEqual(theirs());
    // Datagrams of different sizes: the bytes are the IP lengths (28 bytes of headers each).
    expect(theirs().get(7001)!.bytes).toBe(3 * 38 + 528);
  });

  test('the total sums every entry', async () => {
    const r = await ct.aggregate({ by: 'dstPort', top: 1, ...filter });
    const all = [...theirs().values()].reduce((a, s) => ({ packets: a.packets + s.packets, bytes: a.bytes + s.bytes,
      replyPackets: a.replyPackets + s.replyPackets, replyBytes: a.replyBytes + s.replyBytes,
      count: a.count + s.count })
    );
    expect(r.total).toEqual({ count: all.count,
      counters: { original: { packets: all.packets, bytes: all.bytes },
        reply: { packets: all.replyPackets, bytes: all.replyBytes } } });
  });

  test.each([
    ['count', [7001, 7002, 7003]],
    ['packets', [7002, 7001, 7003]],
    ['bytes', [7001, 7003, 7002]],
  ] as const)('sort: %s ranks the groups by it', async (sort, order) => {
    const r = await ct.aggregate({ by: 'dstPort', top: 0, sort, ...filter });
    expect(r.groups.map((g) => g.key.dstPort)).toEqual(order);
  });
});
