// A Flow read from one namespace's table creates the same entry in another: add(), create()
// and createMany() take what list() yields. conntrack makes the source table and is the
// judge of both.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { Conntrack, type Flow } from '../../lib/index.js';
import { createNetns, type Netns } from '../helpers/netns.js';
import { runConntrackOk } from '../oracle/conntrack-cli.js';

const labelMap = { 3: 'red', 7: 'blue' };
let from: Netns;
let to: Netns;
let a: Conntrack;
let b: Conntrack;

// Each line: the arguments of one conntrack -I in the source namespace.
const ENTRIES = [
  '-p tcp -s 10.0.0.1 -d 10.0.0.2 --sport 40000 --dport 443 --state ESTABLISHED -u ASSURED,SEEN_REPLY -m 42 -t 300',
  '-p tcp -s 10.0.0.1 -d 10.0.0.3 --sport 40001 --dport 22 --state SYN_SENT -t 100',
  '-p udp -s 10.0.0.1 -d 10.96.0.10 --sport 5000 --dport 53 --dst-nat 10.244.1.5:5353 -t 30',
  '-p udp -s 10.0.0.7 -d 192.0.2.1 --sport 6000 --dport 123 --src-nat 198.51.100.1:7000 -t 30',
  '-p udp -s fd00::1 -d fd00::2 --sport 5000 --dport 53 -w 4 -t 60',
  '-p udp -s 10.0.0.5 -d 10.0.0.6 --sport 7 --dport 8 --orig-zone 2 -t 60',
  '-p icmp -s 10.0.0.1 -d 10.0.0.2 --icmp-type 8 --icmp-code 0 --icmp-id 9 -t 60',
  '-p icmpv6 -s fd00::1 -d fd00::2 --icmpv6-type 128 --icmpv6-code 0 --icmpv6-id 3 -t 60',
  '-p sctp -s 10.0.0.1 -d 10.0.0.2 --sport 9 --dport 10 --state ESTABLISHED --orig-vtag 1 --reply-vtag 2 -t 60',
  '-p tcp -s 10.0.0.9 -d 10.0.0.10 --sport 1 --dport 2 --state ESTABLISHED --label-add red,blue -t 200',
  // GRE keys (conntrack sends the reply keys, the kernel makes them of the original's).
  '-p gre -s 10.0.0.11 -d 10.0.0.12 --srckey 1 --dstkey 2 --reply-key-src 3 --reply-key-dst 4 -t 60',
];

/** The table as conntrack -L -o extended,labels prints it, sorted, remaining timeouts left out. */
async function saved(ns: Netns): Promise<string[]> {
  const out: string[] = [];
  for (const family of ['ipv4', 'ipv6']) {
    const r = await runConntrackOk(ns, ['-L', '-f', family, '-o', 'extended,labels'], { labelMap });
    out.push(...r.stdout.split('\n').filter(Boolean).map((l) => l.replace(/^(\S+\s+\d+\s+\S+\s+\d+\s+)\d+ /, '$1')));
  }
  return out.sort();
}

async function clear(ns: Netns): Promise<void> {
  for (const family of ['ipv4', 'ipv6']) await runConntrackOk(ns, ['-F', '-f', family]);
}

beforeAll(async () => {
  from = await createNetns('nfct-copy-a', { labels: true });
  to = await createNetns('nfct-copy-b', { labels: true });
  for (const e of ENTRIES) await runConntrackOk(from, ['-I', ...e.split(' ')], { labelMap });
  a = await Conntrack.open({ netns: from.name });
  b = await Conntrack.open({ netns: to.name });
});
afterAll(async () => {
  await a?.close();
  await b?.close();
  await from?.remove();
  await to?.remove();
});

describe('a Flow read with list() creates the same entry elsewhere', () => {
  test('the source table holds every entry', async () => {
    expect(await saved(from)).toHaveLength(ENTRIES.length);
  });

  test('for await (const f of a.list()) await b.add(f)', async () => {
    await clear(to);
    let added = 0;
    for await (const f of a.list()) if (await b.add(f)) added++;
    expect(added).toBe(ENTRIES.length);
    expect(await saved(to)).toEqual(await saved(from));
    // A second copy finds them all there.
    for await (const f of a.list()) expect(await b.add(f)).toBe(false);
  });

  test('create() of each Flow, and the remaining timeout carried over', async () => {
    await clear(to);
    const flows: Flow[] = await a.list().toArray();
    for (const f of flows) await b.create(f);
    expect(await saved(to)).toEqual(await saved(from));
    const copied = await b.list().toArray();
    for (const f of flows) {
      const c = copied.find((x) => JSON.stringify(x.original) === JSON.stringify(f.original))!;
      expect(c, JSON.stringify(f.original)).toBeDefined();
      expect(c.timeout).toBeLessThanOrEqual(f.timeout!);
      expect(c.timeout).toBeGreaterThanOrEqual(f.timeout! - 5);
    }
  });

  test('createMany(a.list()) streams one table into the other', async () => {
    await clear(to);
    const r = await b.createMany(a.list());
    expect(r.failed.map((x) => x.error.message)).toEqual([]);
    expect(r.created).toBe(ENTRIES.length);
    expect(await saved(to)).toEqual(await saved(from));
  });

  test('a Flow without a timeout is refused, naming it', async () => {
    const [f] = await a.list({ protocol: 'icmp' }).toArray();
    const { timeout: _t, ...noTimeout } = f!;
    await expect(b.add(noTimeout as Flow)).rejects.toThrow(/add\(\) flow: the Flow has no timeout/);
  });
});
