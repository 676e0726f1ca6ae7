// ct.aggregate(): the groups and counts match those a script makes from `conntrack -L` over the
// same table of thousands of mixed entries (IPv4 and IPv6, TCP/UDP/ICMP, marks, zones, DNAT),
// and one grouping matches a literal `conntrack -L | awk` pipeline.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { keyTexts } from '../../lib/conntrack/aggregate.js';
import { AggGroupWord } from '../../lib/core/layout.js';
import { type AggregateKey, type AggregateResult, Conntrack } from '../../lib/index.js';
import { createNetns, type Netns } from '../helpers/netns.js';
import { type CtEntry, type EntrySpec, insertEntry, listEntries, loadEntries,
  runConntrack } from '../oracle/conntrack-cli.js';
import { mixedEntries } from '../support/tables.js';

const { AGG_MAX_KEYS } = AggGroupWord;
let ns: Netns;
let ct: Conntrack;
let entries: CtEntry[];
const specs = mixedEntries();

beforeAll(async () => {
  ns = await createNetns('nfct-agg');
  ct = await Conntrack.open({ netns: ns.name });
  await runConntrack(ns, ['-F']);
  await loadEntries(ns, specs);
  entries = (await listEntries(ns)).entries;
  expect(entries.length).toBe(specs.length);
});
afterAll(async () => {
  await ct?.close();
  await ns?.remove();
});

const hostPort = (addr: string, port: number | undefined): string =>
  port === undefined ? addr : addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`;

/** What each key is, read from a conntrack -L line: the oracle's side. */
const oracleKey: Record<string, (e: CtEntry) => string> = {
  family: (e) => (e.family === 6 ? 'ipv6' : 'ipv4'),
  protocol: (e) => e.l4proto,
  src: (e) => e.orig.src,
  dst: (e) => e.orig.dst,
  dstPort: (e) => (e.orig.dport === undefined ? '-' : String(e.orig.dport)),
  state: (e) => e.state ?? '-',
  mark: (e) => String(e.mark ?? 0),
  zone: (e) => String(e.zone ?? 0),
  // conntrack prints the reply tuple; a DNATed entry answers from somewhere else than its dst.
  dnat: (e) => (e.reply.src !== e.orig.dst ? hostPort(e.reply.src, e.reply.sport) : '-'),
  replySrc: (e) => e.reply.src,
};

function oracleCounts(by: readonly string[], list: readonly CtEntry[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const e of list) {
    const k = by.map((b) => oracleKey[b]!(e)).join(' ');
    m.set(k, (m.get(k) ?? 0) + 1);
  }
  return m;
}

function ours(r: AggregateResult): Map<string, number> {
  return new Map(r.groups.map((g) => [keyTexts(g.key, r.by).join(' '), g.count]));
}

describe('aggregate() counts what conntrack -L shows', () => {
  const cases: AggregateKey[][] = [
    ['src'],
    ['dst'],
    ['protocol'],
    ['family', 'protocol'],
    ['dstPort'],
    ['state'],
    ['mark'],
    ['zone'],
    ['dnat'],
    ['replySrc'],
    ['protocol', 'dst', 'dstPort'],
    // As many keys as it takes (AGG_MAX_KEYS).
    ['family', 'protocol', 'src', 'dst', 'dstPort', 'state', 'mark', 'zone'],
  ];
  for (const by of cases) {
    test(`by ${by.join(', ')}`, async () => {
      const r = await ct.aggregate({ by, top: 0 });
      expect(r.total.count).toBe(entries.length);
      expect(r.groupCount).toBe(r.groups.length);
      expect(ours(r)).toEqual(oracleCounts(by, entries));
    });
  }

  test('a filter narrows the entries first, as conntrack -L with the same filter', async () => {
    const r = await ct.aggregate({ by: ['dst'], top: 0, protocol: 'tcp', dstPort: 443 });
    const theirs = (await listEntries(ns, ['-p', 'tcp', '--dport', '443'])).entries;
    expect(theirs.length).toBeGreaterThan(0);
    expect(r.total.count).toBe(theirs.length);
    expect(ours(r)).toEqual(oracleCounts(['dst'], theirs));
  });

  test('top N: the N biggest groups, biggest first, ties by key', async () => {
    const all = await ct.aggregate({ by: 'src', top: 0 });
    const top = await ct.aggregate({ by: 'src', top: 5 });
    expect(top.groups).toHaveLength(5);
    expect(top.groupCount).toBe(all.groups.length);
    expect(top.groups).toEqual(all.groups.slice(0, 5));
    const counts = all.groups.map((g) => g.count);
    expect(counts).toEqual([...counts].sort((a, b) => b - a));
    expect(all.groups.reduce((s, g) => s + g.count, 0)).toBe(entries.length);
  });

  test('status groups name their bits as conntrack does', async () => {
    const r = await ct.aggregate({ by: 'status', top: 0 });
    const assured = r.groups.filter((g) => g.key.status!.includes('ASSURED')).reduce((s, g) => s + g.count, 0);
    expect(assured).toBe(entries.filter((e) => e.assured).length);
    // As text (nfct top's columns): the names joined by commas; a key with no name is '-'.
    const texts = r.groups.map((g) => keyTexts(g.key, ['status'])[0]!);
    expect(texts).toContain('ASSURED,CONFIRMED');
    expect(texts).toEqual(r.groups.map((g) => g.key.status!.join(',')));
    expect(keyTexts({ status: [] }, ['status'])).toEqual(['-']);
    // A key the group does not carry reads '-' too.
    expect(keyTexts({ src: '10.0.0.1' }, ['src', 'dst'])).toEqual(['10.0.0.1', '-']);
  });

  test('by src matches `conntrack -L | awk` grouping', async () => {
    const script =
      `conntrack -L 2>/dev/null | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^src=/) { n[substr($i, 5)]++; break } } END { for (k in n) print n[k], k }'`;
    const r = await ns.shOk(script);
    const theirs = new Map<string, number>();
    for (const line of r.stdout.trim().split('\n')) {
      const [n, k] = line.split(' ');
      theirs.set(k!, Number(n));
    }
    const mine = await ct.aggregate({ by: 'src', top: 0 });
    expect(ours(mine)).toEqual(theirs);
  });

  test('by snat and by sport: source-NATed entries name what the source became', async () => {
    const extra = [
      { proto: 'tcp' as const, src: '10.77.0.1', dst: '10.78.0.1', sport: 1111, dport: 80, state: 'ESTABLISHED',
        timeout: 600, snat: '192.0.2.7:40000' },
      { proto: 'tcp' as const, src: '10.77.0.2', dst: '10.78.0.1', sport: 1111, dport: 80, state: 'ESTABLISHED',
        timeout: 600, snat: '192.0.2.7:40001' },
      { proto: 'udp' as const, src: 'fd00::1', dst: 'fd00::2', sport: 1111, dport: 53, timeout: 600,
        snat: '[fd00::99]:5000' },
    ];
    await loadEntries(ns, extra);
    try {
      const all = (await listEntries(ns)).entries;
      const snat = (e: CtEntry): string => (e.reply.dst !== e.orig.src ? hostPort(e.reply.dst, e.reply.dport) : '-');
      const theirs = new Map<string, number>();
      for (const e of all) theirs.set(snat(e), (theirs.get(snat(e)) ?? 0) + 1);
      const r = await ct.aggregate({ by: 'snat', top: 0 });
      expect(ours(r)).toEqual(theirs);
      expect(r.groups.map((g) => g.key.snat)).toContain('[fd00::99]:5000');
      // The keys and the filter's fields have the same names.
      const srcPort = await ct.aggregate({ by: 'srcPort', top: 1, src: '10.77.0.0/16' });
      // Strictly: a group without counters (accounting is off here) has no counters field at all.
      expect(srcPort.groups).toStrictEqual([{ key: { srcPort: 1111 }, count: 2 }]);
      // The deprecated form still works for one minor version: the old key name is given too,
      // and each form warns once.
      const warnings: { code?: string; message: string }[] = [];
      const onWarning = (w: Error & { code?: string }): void =>
        void warnings.push({ code: w.code, message: w.message });
      process.on('warning', onWarning);
      try {
        // eslint-disable-next-line @typescript-eslint/no-deprecated -- the old form is what is tested
        const old = await ct.aggregate({ by: 'sport', top: 1, filter: { src: '10.77.0.0/16' } });
        expect(old.groups).toEqual([{ key: { srcPort: 1111, sport: 1111 }, count: 2 }]);
        // eslint-disable-next-line @typescript-eslint/no-deprecated -- the old form is what is tested
        await ct.aggregate({ by: 'sport', top: 1, filter: { src: '10.77.0.0/16' } });
        await new Promise((ok) => setImmediate(ok));
      } finally {
        process.off('warning', onWarning);
      }
      expect(warnings.map((w) => w.code).sort()).toEqual(['NFCT_DEP004', 'NFCT_DEP005']);
      expect(warnings.find((w) => w.code === 'NFCT_DEP004')?.message).toMatch(/aggregate\(\{ by, \.\.\.filter \}\)/);
      expect(warnings.find((w) => w.code === 'NFCT_DEP005')?.message).toBe(
        "aggregate() key 'sport' is deprecated: the port keys are named as the filter's fields, 'srcPort' and 'dstPort'",
      );
    } finally {
      await runConntrack(ns, ['-D', '-s', '10.77.0.0/16']);
      await runConntrack(ns, ['-D', '-f', 'ipv6', '-s', 'fd00::1']);
    }
    expect((await ct.aggregate({ by: 'src' })).total.count).toBe(entries.length);
  });

  test('empty table: a total of zero and no groups', async () => {
    const r = await ct.aggregate({ by: 'src', src: '192.0.2.99' });
    expect(r).toEqual({ by: ['src'], sort: 'count', groups: [], total: { count: 0 }, groupCount: 0 });
  });
});

/**
 * Entries the mixed table has none of: SCTP states by their SCTP names (recent kernels no longer
 * track DCCP: on 6.18 a DCCP entry is generic, without a state, so its names cannot be shown
 * here), a protocol the kernel tracks generically (its number is the key), a DNAT of an ICMP
 * entry (an address without a port). Its entries are deleted at its end: the tests above count
 * the table beforeAll loaded.
 */
describe('SCTP, a generic protocol, DNAT without a port', () => {
  const mark = 0x5c7;
  const specs: EntrySpec[] = [
    ...([['ESTABLISHED', 1], ['COOKIE_WAIT', 2], ['ESTABLISHED', 3]] as const).map(([state, sport]): EntrySpec => ({
      proto: 'sctp',
      src: '10.88.0.1',
      dst: '10.88.0.2',
      sport,
      dport: 9,
      state,
      mark,
    })),
    { proto: 99, src: '10.88.0.1', dst: '10.88.0.2', mark },
    { proto: 'icmp', src: '10.88.0.3', dst: '10.88.0.4', icmpType: 8, icmpCode: 0, icmpId: 5, dnat: '10.88.0.9', mark },
  ];
  let shown: CtEntry[];
  beforeAll(async () => {
    for (const spec of specs) await insertEntry(ns, spec);
    shown = (await listEntries(ns, ['-m', String(mark)])).entries;
    expect(shown).toHaveLength(specs.length);
  });
  afterAll(async () => {
    await runConntrack(ns, ['-D', '-m', String(mark)]);
  });

  test.each([['state'], ['dnat']] as const)('by %s: as conntrack -L shows them', async (by) => {
    const r = await ct.aggregate({ by, top: 0, mark });
    expect(ours(r)).toEqual(oracleCounts([by], shown));
  });

  test('the states are the SCTP names, the DNAT an address alone', () => {
    expect(shown.flatMap((e) => (e.state ? [e.state] : [])).sort()).toEqual(['COOKIE_WAIT', 'ESTABLISHED',
      'ESTABLISHED']);
    expect(shown.filter((e) => e.reply.src === '10.88.0.9')).toHaveLength(1);
  });

  test('by protocol: a protocol tracked generically is its number', async () => {
    const r = await ct.aggregate({ by: 'protocol', top: 0, mark });
    const theirs = new Map<string | number, number>();
    for (const e of shown) {
      const p = e.l4proto === 'unknown' ? e.l4protonum : e.l4proto;
      theirs.set(p, (theirs.get(p) ?? 0) + 1);
    }
    expect(new Map(r.groups.map((g) => [g.key.protocol!, g.count]))).toEqual(theirs);
    expect(theirs.get(99)).toBe(1);
  });
});

describe('the deprecated form, aggregate({ filter })', () => {
  test('takes no filter at all, and kernelFilter beside it', async () => {
    const r = await ct.aggregate({ by: 'protocol', top: 0, filter: undefined, kernelFilter: false } as never);
    expect(r.total.count).toBe(entries.length);
  });
});

describe('aggregate() refuses bad options before any syscall', () => {
  test.each([
    [null, /^aggregate\(\) options must be an object, got null$/],
    [{}, /options\.by is required \(one of family, protocol, src, dst, /],
    [{ by: 'src', filter: {}, colour: 1 }, /^aggregate\(\) options: unknown option 'colour'/],
    [{ by: 'nope' }, /options\.by\[0\] must be one of family, protocol, src, .*, got "nope"$/],
    [{ by: [] }, /options\.by must not be an empty array/],
    [{ by: ['src', 'src'] }, /names a key twice/],
    [{ by: Array<string>(AGG_MAX_KEYS + 1).fill('src') },
      new RegExp(`options\\.by must name at most ${AGG_MAX_KEYS} keys, got ${AGG_MAX_KEYS + 1}`)],
    [{ by: 'src', top: -1 }, /options\.top/],
    [{ by: 'src', sort: 'size' }, /^aggregate\(\) options\.sort must be one of count, packets, bytes, got "size"$/],
    [{ by: 'src', colour: 1 }, /colour/],
    [{ by: 'src', src: 'x' }, /aggregate\(\) options\.src is not an IPv4\/IPv6 address/],
    [{ by: 'src', filter: { src: 'x' } }, /aggregate\(\) options\.filter\.src/],
    [{ by: 'src', filter: { dryRun: true } }, /options\.filter: unknown option 'dryRun'/],
  ])('%o', async (opts, message) => {
    await expect(ct.aggregate(opts as never)).rejects.toThrow(message);
  });
});
