// Bulk delete: deleteWhere(filter) removes exactly what `conntrack -D` with the same filter
// removes, from two identical tables of thousands of mixed entries; a dry run removes nothing
// and counts the same.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { Conntrack } from '../../lib/index.js';
import { createNetns, type Netns } from '../helpers/netns.js';
import { type CtEntry, insertEntry, listEntries, loadEntries, runConntrack } from '../oracle/conntrack-cli.js';
import { everyKind, filterCases, labeledEntries, labelMap, mixedEntries } from '../support/tables.js';

let theirs: Netns;
let ours: Netns;
let ct: Conntrack;
const specs = mixedEntries();

async function fill(ns: Netns): Promise<void> {
  await runConntrack(ns, ['-F']);
  await loadEntries(ns, specs);
  for (const spec of labeledEntries) await insertEntry(ns, spec, { labelMap });
}

function key(e: CtEntry): string {
  const t = (x: CtEntry['orig']) => `${x.src}|${x.dst}|${x.sport}|${x.dport}|${x.icmpType}|${x.icmpId}`;
  return `${e.l4proto}/${t(e.orig)}/${t(e.reply)}/${e.zone}/${e.mark}`;
}

async function remaining(ns: Netns): Promise<string[]> {
  return (await listEntries(ns)).entries.map(key).sort();
}

beforeAll(async () => {
  theirs = await createNetns('nfct-delw-a', { labels: true });
  ours = await createNetns('nfct-delw-b', { labels: true });
  ct = await Conntrack.open({ netns: ours.name });
});
afterAll(async () => {
  await ct?.close();
  await theirs?.remove();
  await ours?.remove();
});

describe('deleteWhere(filter) removes what conntrack -D removes', () => {
  for (const [name, filter, args] of filterCases) {
    test(name, async () => {
      await Promise.all([fill(theirs), fill(ours)]);
      const total = specs.length + labeledEntries.length;
      const r = await runConntrack(theirs, ['-D', ...args], { labelMap });
      const shown = /(\d+) flow entries have been deleted/.exec(r.stderr);
      expect(shown, r.stderr).not.toBeNull();
      const n = Number(shown![1]);
      expect(n).toBeGreaterThan(0);

      expect(await ct.deleteWhere({ ...filter, dryRun: true })).toBe(n);
      expect(await ct.count()).toBe(total);
      expect(await ct.deleteWhere(filter)).toBe(n);
      expect(await ct.count()).toBe(total - n);
      expect(await remaining(ours)).toEqual(await remaining(theirs));
    });
  }

  test('matches nothing: deletes nothing', async () => {
    await fill(ours);
    expect(await ct.deleteWhere({ src: '192.0.2.0/24' })).toBe(0);
    expect(await ct.deleteWhere({ mark: 0xdead })).toBe(0);
  });

  // A match function deletes entry by entry, each named by its tuple: GRE by its keys, ICMP by
  // type, code and id, SCTP by ports.
  test.each(['gre', 'icmp', 'sctp'] as const)(
    'deleteEach() with a match function on protocol %s deletes what conntrack -D -p deletes',
    async (protocol) => {
      const kinds = everyKind.filter((e) => e.labels === undefined);
      await Promise.all([theirs, ours].map(async (ns) => {
        await fill(ns);
        for (const spec of kinds) await insertEntry(ns, spec);
      }));
      const r = await runConntrack(theirs, ['-D', '-p', protocol]);
      const n = Number(/(\d+) flow entries have been deleted/.exec(r.stderr)?.[1]);
      expect(n, r.stderr).toBeGreaterThan(0);
      expect(await ct.deleteEach({ match: (f) => f.protocol === protocol })).toBe(n);
      expect(await remaining(ours)).toEqual(await remaining(theirs));
    },
  );

  test('the userspace path deletes the same as the kernel path', async () => {
    await fill(ours);
    const before = await ct.count();
    const n = await ct.deleteWhere({ mark: 5, kernelFilter: false });
    expect(n).toBeGreaterThan(0);
    expect(await ct.count()).toBe(before - n);
    expect(await ct.list({ mark: 5 }).toArray()).toEqual([]);
  });
});
