// ct.aggregate({ prefix }): address keys grouped by prefix, per family, in native code. The
// oracle is conntrack -L: its entries' sources cut to the prefix by the test and counted.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { Conntrack } from '../../lib/index.js';
import { createNetns, type Netns } from '../helpers/netns.js';
import { type EntrySpec, listEntries, loadEntries } from '../oracle/conntrack-cli.js';

let ns: Netns;
let ct: Conntrack;

const SOURCES = ['10.1.2.3', '10.1.200.9', '10.1.255.255', '10.2.0.1', '192.168.7.1', 'fd00:1:2:3::1',
  'fd00:1:2:3:ffff::9', 'fd00:1:2:4::1', '2001:db8::1'];

beforeAll(async () => {
  ns = await createNetns('nfct-agg-prefix');
  const specs: EntrySpec[] = SOURCES.flatMap((src, i) =>
    Array.from({ length: i + 1 },
      (_, k) => ({ proto: 'udp' as const, src, dst: src.includes(':') ? 'fd00:ff::1' : '10.255.0.1', sport: 1000 + k,
        dport: 53, timeout: 600 }))
  );
  await loadEntries(ns, specs);
  ct = await Conntrack.open({ netns: ns.name });
});
afterAll(async () => {
  await ct?.close();
  await ns?.remove();
});

/** An address cut to `bits`, as CIDR text in the form inet_ntop gives (the test's own code). */
function cut(addr: string, bits: number): string {
  if (!addr.includes(':')) {
    const n = addr.split('.').reduce((v, o) => v * 256 + Number(o), 0);
    const masked = bits === 0 ? 0 : Number((BigInt(n) >> BigInt(32 - bits)) << BigInt(32 - bits));
    return `${[24, 16, 8, 0].map((s) => (masked >>> s) & 255).join('.')}/${bits}`;
  }
  const [head, tail = ''] = addr.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t].map((g) => parseInt(g, 16));
  let v = groups.reduce((acc, g) => (acc << 16n) | BigInt(g), 0n);
  v = bits === 0 ? 0n : (v >> BigInt(128 - bits)) << BigInt(128 - bits);
  const words = Array.from({ length: 8 }, (_, i) => Number((v >> BigInt(112 - 16 * i)) & 0xffffn));
  // The longest run of zero words (two or more) becomes '::', as inet_ntop writes it.
  let best = -1;
  let len = 0;
  for (let i = 0; i < 8; i++) {
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > len && j - i > 1) [best, len] = [i, j - i];
    i = Math.max(i, j);
  }
  const hex = words.map((w) => w.toString(16));
  const text = best < 0 ? hex.join(':') : `${hex.slice(0, best).join(':')}::${hex.slice(best + len).join(':')}`;
  return `${text}/${bits}`;
}

async function expected(v4: number, v6: number): Promise<Map<string, number>> {
  const m = new Map<string, number>();
  for (const e of (await listEntries(ns)).entries) {
    const src = e.orig.src;
    const k = cut(src, src.includes(':') ? v6 : v4);
    m.set(k, (m.get(k) ?? 0) + 1);
  }
  return m;
}

describe('aggregate by prefix', () => {
  test.each([
    [16, 64],
    [24, 48],
    [8, 16],
    [32, 128],
    [0, 0],
  ])('IPv4 /%i, IPv6 /%i: the counts conntrack -L gives, cut the same way', async (v4, v6) => {
    const r = await ct.aggregate({ by: 'src', prefix: { src: { ipv4: v4, ipv6: v6 } }, top: 0 });
    const ours = new Map(r.groups.map((g) => [g.key.src!, g.count]));
    expect(ours).toEqual(await expected(v4, v6));
    expect(r.total.count).toBe(SOURCES.reduce((n, _, i) => n + i + 1, 0));
  });

  test('a family without a length keeps whole addresses; the prefix joins other keys', async () => {
    const r = await ct.aggregate({ by: ['src', 'dstPort'], prefix: { src: { ipv4: 16 } }, top: 0 });
    const keys = r.groups.map((g) => g.key.src);
    expect(keys).toContain('10.1.0.0/16');
    expect(keys).toContain('fd00:1:2:3::1');
    expect(r.groups.every((g) => g.key.dstPort === 53)).toBe(true);
  });

  test.each([
    [{ src: { ipv4: 33 } }, /options\.prefix\.src\.ipv4 must be/],
    [{ src: { ipv6: -1 } }, /options\.prefix\.src\.ipv6 must be/],
    [{ dst: { ipv4: 8 } }, /dst is not a key of options\.by/],
    [{ dport: { ipv4: 8 } }, /options\.prefix/],
    [{ src: 24 }, /^aggregate\(\) options\.prefix\.src must be an object, got 24$/],
    [{ src: { ipv5: 8 } }, /^aggregate\(\) options\.prefix\.src: unknown option 'ipv5'/],
  ])('%j is refused before any syscall', async (prefix, re) => {
    await expect(ct.aggregate({ by: 'src', prefix: prefix as never })).rejects.toThrow(re);
  });

  test('a key given as undefined is no key (a spread of optional settings)', async () => {
    const r = await ct.aggregate({ by: 'src', prefix: { src: { ipv4: 16 }, dst: undefined }, top: 0 });
    expect(r.groups.map((g) => g.key.src)).toContain('10.1.0.0/16');
  });
});
