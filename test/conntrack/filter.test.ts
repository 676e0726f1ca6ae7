// Filters: each filter gives exactly the entries the same `conntrack -L` filter gives, whether
// the kernel applies it (kernelFilter: true, the default) or userspace does (false).
import { describe, expect, test } from 'vitest';

import { Conntrack, type ListOptions } from '../../lib/index.js';
import { type Netns, useNetnsWith } from '../helpers/netns.js';
import { insertEntry, listEntries, loadEntries } from '../oracle/conntrack-cli.js';
import { filterCases, labeledEntries, labelMap, mixedEntries } from '../support/tables.js';

let ns: Netns;
let ct: Conntrack;
let total = 0;

useNetnsWith('nfct-filter', async (n) => {
  ns = n;
  const specs = mixedEntries();
  await loadEntries(ns, specs);
  for (const spec of labeledEntries) await insertEntry(ns, spec, { labelMap });
  total = specs.length + labeledEntries.length;
  return (ct = await Conntrack.open({ netns: ns.name }));
}, { labels: true });

describe('list(filter) equals conntrack -L with the same filter', () => {
  test('the table is as big as made', async () => {
    expect(await ct.count()).toBe(total);
  });

  for (const [name, filter, args] of filterCases) {
    test(name, async () => {
      const listing = await listEntries(ns, args, { labelMap });
      const want = listing.entries.map((e) => e.id).sort();
      expect(want.length, 'the oracle should select something').toBeGreaterThan(0);
      expect(want.length, 'the oracle should not select everything').toBeLessThan(total);
      for (const kernelFilter of [true, false]) {
        const stream = ct.list({ ...filter, kernelFilter });
        const got = (await stream.toArray()).map((f) => f.id).sort();
        expect(got, `kernelFilter ${kernelFilter}`).toEqual(want);
        if (!kernelFilter) expect(stream.stats.received).toBe(total);
      }
    });
  }
});

describe('the kernel applies what it can', () => {
  // What the kernel filtered never reaches userspace: fewer messages received than the table.
  const kernelSide: [string, ListOptions][] = [
    ['mark', { mark: 5 }],
    ['family', { family: 'ipv6' }],
    ['status', { status: 'ASSURED' }],
    ['protocol and port', { family: 'ipv4', protocol: 'tcp', dstPort: 443 }],
    ['exact addresses', { src: '10.0.1.5', dst: '10.9.0.1' }],
  ];
  for (const [name, filter] of kernelSide) {
    test(name, async () => {
      const stream = ct.list(filter);
      const flows = await stream.toArray();
      expect(flows.length).toBeGreaterThan(0);
      expect(stream.stats.received).toBe(flows.length);
      expect(stream.stats.received).toBeLessThan(total);
    });
  }

  test('a CIDR is matched in userspace after the kernel narrowed by family', async () => {
    const stream = ct.list({ src: '10.0.3.0/24' });
    const flows = await stream.toArray();
    expect(flows.length).toBeGreaterThan(0);
    expect(flows.every((f) => f.original.src.startsWith('10.0.3.'))).toBe(true);
    expect(stream.stats.received).toBeGreaterThan(flows.length);
    expect(stream.stats.received).toBeLessThan(total);
  });
});
