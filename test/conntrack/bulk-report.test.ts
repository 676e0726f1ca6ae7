// deleteEach(), updateWhere() and parseSave() against the kernel, with conntrack as the oracle:
// what they report is what changed in the table conntrack lists.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { Conntrack } from '../../lib/conntrack/handle.js';
import { parseSave } from '../../lib/conntrack/save.js';
import type { Flow } from '../../lib/conntrack/types.js';
import { createNetns, type Netns } from '../helpers/netns.js';
import { listEntries, runConntrack } from '../oracle/conntrack-cli.js';

let ns: Netns;
let ct: Conntrack;

async function load(n: number): Promise<void> {
  await runConntrack(ns, ['-F']);
  for (let i = 0; i < n; i++) {
    const proto = i % 2 ? ['-p', 'tcp', '--state', 'ESTABLISHED'] : ['-p', 'udp'];
    const r = await runConntrack(ns, ['-I', ...proto, '-s', `10.7.0.${i + 1}`, '-d', '10.7.1.1', '--sport', String(1000 + i), '--dport', '53', '-t', '300', '-m', String(i % 3)]);
    if (r.code !== 0) throw new Error(r.stderr);
  }
}

const key = (f: { original: { src: string } }): string => f.original.src;

beforeAll(async () => {
  ns = await createNetns('nfct-bulkrep');
  ct = await Conntrack.open({ netns: ns.name });
});
afterAll(async () => {
  ct?.close();
  await ns?.remove();
});

describe('deleteEach', () => {
  test('native path: reports each deleted entry once, and conntrack no longer lists them', async () => {
    await load(12);
    const reported: Flow[] = [];
    const n = await ct.deleteEach({ protocol: 'udp' }, { onDeleted: (flows) => void reported.push(...flows), batchSize: 4 });
    expect(n).toBe(6);
    expect(reported.map(key).sort()).toEqual(['10.7.0.1', '10.7.0.11', '10.7.0.3', '10.7.0.5', '10.7.0.7', '10.7.0.9']);
    const left = (await listEntries(ns)).entries;
    expect(left).toHaveLength(6);
    expect(left.every((e) => e.l4proto === 'tcp')).toBe(true);
  });

  test('with match: only the entries the function accepts', async () => {
    await load(12);
    const reported: Flow[] = [];
    const n = await ct.deleteEach({ protocol: 'tcp' }, { match: (f) => f.mark === 1, onDeleted: (flows) => void reported.push(...flows) });
    expect(n).toBe(reported.length);
    expect(reported.every((f) => f.protocol === 'tcp' && f.mark === 1)).toBe(true);
    const left = (await listEntries(ns)).entries;
    expect(left).toHaveLength(12 - n);
    expect(left.some((e) => e.l4proto === 'tcp' && e.mark === 1)).toBe(false);
  });

  test('bad options: a TypeError naming the option, before any change', async () => {
    await load(2);
    await expect(ct.deleteEach({}, { match: 5 as never })).rejects.toThrow(/deleteEach\(\) options\.match must be a function/);
    expect((await listEntries(ns)).entries).toHaveLength(2);
  });
});

describe('updateWhere', () => {
  test('the same changes for every match; onUpdated gets the entries as they are after', async () => {
    await load(8);
    const reported: Flow[] = [];
    const n = await ct.updateWhere({ protocol: 'udp' }, { mark: 7 }, { onUpdated: (flows) => void reported.push(...flows) });
    expect(n).toBe(4);
    expect(reported.every((f) => f.mark === 7)).toBe(true);
    const entries = (await listEntries(ns)).entries;
    expect(entries.filter((e) => e.l4proto === 'udp').every((e) => e.mark === 7)).toBe(true);
    expect(entries.filter((e) => e.l4proto === 'tcp').some((e) => e.mark === 7)).toBe(false);
  });

  test('a function of each entry: null leaves it as it is; status bits are added to its own', async () => {
    await load(8);
    const n = await ct.updateWhere({}, (f) => (f.mark === 2 ? { mark: { value: 0x100, mask: 0xf00 }, status: 'ASSURED' } : null));
    const entries = (await listEntries(ns)).entries;
    const changed = entries.filter((e) => e.mark === 0x102);
    expect(changed).toHaveLength(n);
    expect(n).toBeGreaterThan(0);
    expect(changed.every((e) => e.assured)).toBe(true);
    expect(entries.filter((e) => e.mark !== 0x102).every((e) => e.mark === 0 || e.mark === 1)).toBe(true);
  });
});

describe('parseSave', () => {
  test('conntrack -L -o save, parsed and created in another namespace, lists the same table', async () => {
    await load(10);
    const saved = (await runConntrack(ns, ['-L', '-o', 'save'])).stdout;
    const other = await createNetns('nfct-bulkrep2');
    try {
      const ct2 = await Conntrack.open({ netns: other.name });
      try {
        const result = await ct2.createMany(parseSave(saved));
        expect(result.failed).toEqual([]);
        expect(result.created).toBe(10);
      } finally {
        ct2.close();
      }
      const mask = (t: string): string[] => t.split('\n').filter(Boolean).map((l) => l.replace(/ -t \d+/, ' -t T')).sort();
      expect(mask((await runConntrack(other, ['-L', '-o', 'save'])).stdout)).toEqual(mask(saved));
    } finally {
      await other.remove();
    }
  });
});
