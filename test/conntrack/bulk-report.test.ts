// deleteEach(), updateWhere(), parseSave() and restore() against the kernel, with conntrack as the oracle:
// what they report is what changed in the table conntrack lists.
import { describe, expect, test } from 'vitest';

import { Conntrack } from '../../lib/conntrack/handle.js';
import { parseSave } from '../../lib/conntrack/save.js';
import { formatFlow } from '../../lib/conntrack/text.js';
import type { Flow } from '../../lib/conntrack/types.js';
import { createNetns, type Netns, useNetnsWith } from '../helpers/netns.js';
import { listEntries, runConntrack } from '../oracle/conntrack-cli.js';

let ns: Netns;
let ct: Conntrack;

async function load(n: number): Promise<void> {
  await runConntrack(ns, ['-F']);
  for (let i = 0; i < n; i++) {
    const proto = i % 2 ? ['-p', 'tcp', '--state', 'ESTABLISHED'] : ['-p', 'udp'];
    const r = await runConntrack(ns, ['-I', ...proto, '-s', `10.7.0.${i + 1}`, '-d', '10.7.1.1', '--sport',
      String(1000 + i), '--dport', '53', '-t', '300', '-m', String(i % 3)]);
    if (r.code !== 0) throw new Error(r.stderr);
  }
}

const key = (f: { original: { src: string } }): string => f.original.src;

useNetnsWith('nfct-bulkrep', async (n) => ((ns = n), (ct = await Conntrack.open({ netns: n.name }))));

describe('deleteEach', () => {
  test('native path: reports each deleted entry once, and conntrack no longer lists them', async () => {
    await load(12);
    const reported: Flow[] = [];
    const n = await ct.deleteEach({ protocol: 'udp', onDeleted: (flows) => void reported.push(...flows),
      batchSize: 4 });
    expect(n).toBe(6);
    expect(reported.map(key).sort()).toEqual(['10.7.0.1', '10.7.0.11', '10.7.0.3', '10.7.0.5', '10.7.0.7', '10.7.0.9']);
    const left = (await listEntries(ns)).entries;
    expect(left).toHaveLength(6);
    expect(left.every((e) => e.l4proto === 'tcp')).toBe(true);
  });

  test('with match: only the entries the function accepts', async () => {
    await load(12);
    const reported: Flow[] = [];
    const n = await ct.deleteEach({ protocol: 'tcp', match: (f) => f.mark === 1,
      onDeleted: (flows) => void reported.push(...flows) });
    expect(n).toBe(reported.length);
    expect(reported.every((f) => f.protocol === 'tcp' && f.mark === 1)).toBe(true);
    const left = (await listEntries(ns)).entries;
    expect(left).toHaveLength(12 - n);
    expect(left.some((e) => e.l4proto === 'tcp' && e.mark === 1)).toBe(false);
  });

  test('onDeletedText: the deleted entries as conntrack -D prints them, native or after match', async () => {
    for (const match of [undefined, (f: Flow) => f.mark !== 2]) {
      await load(12);
      const before = new Map((await ct.list().toArray()).map((f) => [key(f), f]));
      const chunks: string[] = [];
      let counted = 0;
      const n = await ct.deleteEach({
        protocol: 'udp',
        match,
        batchSize: 4,
        lineFormat: { extended: true, id: true },
        onDeletedText: (lines, count) => {
          chunks.push(lines.toString('latin1'));
          counted += count;
        },
      });
      const text = chunks.join('');
      expect(text.endsWith('\n')).toBe(true);
      const lines = text.slice(0, -1).split('\n');
      expect(lines).toHaveLength(n);
      expect(counted).toBe(n);
      expect(n).toBe(match ? 4 : 6);
      // Each line is the entry as it was, formatted as formatFlow() does with these flags.
      for (const line of lines) {
        const src = /src=(\S+)/.exec(line)![1]!;
        expect(line).toBe(formatFlow(before.get(src)!, { extended: true, id: true }));
      }
      const left = (await listEntries(ns)).entries;
      expect(left).toHaveLength(12 - n);
    }
  });

  test('onDeletedText: refused with onDeleted, or with a format option it does not know', async () => {
    await load(2);
    await expect(ct.deleteEach({ onDeleted: () => undefined, onDeletedText: () => undefined })).rejects.toThrow(
      /deleteEach\(\) options: onDeleted and onDeletedText cannot both be given/,
    );
    await expect(ct.deleteEach({ onDeletedText: () => undefined, lineFormat: { labels: true } as never })).rejects
      .toThrow(/deleteEach\(\) options\.lineFormat.*labels/);
    await expect(ct.deleteEach({ onDeletedText: 'x' as never })).rejects.toThrow(
      /deleteEach\(\) options\.onDeletedText must be a function/,
    );
    await expect(ct.deleteEach({ onDeletedText: () => undefined, lineFormat: null as never })).rejects.toThrow(
      /deleteEach\(\) options\.lineFormat must be an object/,
    );
    for (const key of ['extended', 'id'] as const) {
      await expect(ct.deleteEach({ onDeletedText: () => undefined, lineFormat: { [key]: 'yes' } })).rejects
        .toThrow(new RegExp(`^deleteEach\\(\\) options\\.lineFormat\\.${key} must be a boolean, got "yes"$`));
    }
    expect((await listEntries(ns)).entries).toHaveLength(2);
  });

  test('bad options: a TypeError naming the option, before any change', async () => {
    await load(2);
    await expect(ct.deleteEach({ match: 5 as never })).rejects.toThrow(
      /deleteEach\(\) options\.match must be a function/,
    );
    expect((await listEntries(ns)).entries).toHaveLength(2);
  });
});

describe('updateWhere', () => {
  test('the same changes for every match; onUpdated gets the entries as they are after', async () => {
    await load(8);
    const reported: Flow[] = [];
    const n = await ct.updateWhere({ protocol: 'udp', onUpdated: (flows) => void reported.push(...flows) }, {
      mark: 7,
    });
    expect(n).toBe(4);
    expect(reported.every((f) => f.mark === 7)).toBe(true);
    const entries = (await listEntries(ns)).entries;
    expect(entries.filter((e) => e.l4proto === 'udp').every((e) => e.mark === 7)).toBe(true);
    expect(entries.filter((e) => e.l4proto === 'tcp').some((e) => e.mark === 7)).toBe(false);
  });

  test('a function of each entry: null leaves it as it is; status bits are added to its own', async () => {
    await load(8);
    const n = await ct.updateWhere({},
      (f) => (f.mark === 2 ? { mark: { value: 0x100, mask: 0xf00 }, status: 'ASSURED' } : null));
    const entries = (await listEntries(ns)).entries;
    const changed = entries.filter((e) => e.mark === 0x102);
    expect(changed).toHaveLength(n);
    expect(n).toBeGreaterThan(0);
    expect(changed.every((e) => e.assured)).toBe(true);
    expect(entries.filter((e) => e.mark !== 0x102).every((e) => e.mark === 0 || e.mark === 1)).toBe(true);
  });
});

/** Runs `use` with a handle on a namespace of its own; both closed and removed after, also on failure. */
async function inAnotherNetns(prefix: string, use: (ct2: Conntrack, other: Netns) => Promise<void>): Promise<void> {
  const other = await createNetns(prefix);
  try {
    const ct2 = await Conntrack.open({ netns: other.name });
    try {
      await use(ct2, other);
    } finally {
      await ct2.close();
    }
  } finally {
    await other.remove();
  }
}

/** A save listing's lines, sorted, their timeouts (which count down) masked. */
const maskTimeouts = (t: string): string[] =>
  t.split('\n').filter(Boolean).map((l) => l.replace(/ -t \d+/, ' -t T')).sort();

describe('parseSave', () => {
  test('conntrack -L -o save, parsed and created in another namespace, lists the same table', async () => {
    await load(10);
    const saved = (await runConntrack(ns, ['-L', '-o', 'save'])).stdout;
    await inAnotherNetns('nfct-bulkrep2', async (ct2, other) => {
      const result = await ct2.createMany(parseSave(saved));
      expect(result.failed).toEqual([]);
      expect(result.created).toBe(10);
      expect(maskTimeouts((await runConntrack(other, ['-L', '-o', 'save'])).stdout)).toEqual(maskTimeouts(saved));
    });
  });
});

describe('signal: a bulk operation stops when it is aborted', () => {
  /** n UDP entries (mark 0) made with createMany, checked with conntrack -C. */
  async function many(n: number): Promise<void> {
    await runConntrack(ns, ['-F']);
    const flows = Array.from({ length: n },
      (_, i) => ({ protocol: 'udp' as const, src: `10.8.${i >> 8}.${i & 255}`, dst: '10.9.0.1', srcPort: 1000,
        dstPort: 53, timeout: 300 }));
    expect((await ct.createMany(flows)).created).toBe(n);
    expect((await runConntrack(ns, ['-C'])).stdout.trim()).toBe(String(n));
  }

  test('deleteEach: aborted in onDeleted after the first batch, the dump stops; what it resolves and reported is what conntrack no longer lists', async () => {
    await many(20000);
    const ac = new AbortController();
    let reported = 0;
    const n = await ct.deleteEach({
      protocol: 'udp',
      signal: ac.signal,
      onDeleted: (flows) => {
        reported += flows.length;
        ac.abort();
      },
    });
    expect(n).toBe(reported);
    expect(n).toBeGreaterThan(0);
    const left = Number((await runConntrack(ns, ['-C'])).stdout.trim());
    expect(left).toBe(20000 - n);
    expect(left).toBeGreaterThan(0);
  });

  test('deleteEach without onDeleted: counts what it deleted (no entry decoded); aborted before it starts, it changes nothing', async () => {
    await many(500);
    const ac = new AbortController();
    ac.abort();
    expect(await ct.deleteEach({ protocol: 'udp', signal: ac.signal })).toBe(0);
    expect(await ct.updateWhere({ protocol: 'udp', signal: ac.signal }, { mark: 7 })).toBe(0);
    expect((await runConntrack(ns, ['-C'])).stdout.trim()).toBe('500');
    expect(await ct.deleteEach({ protocol: 'udp', batchSize: 64 })).toBe(500);
    expect((await runConntrack(ns, ['-C'])).stdout.trim()).toBe('0');
  });

  test('updateWhere: aborted after the first batch, the batch with the kernel finishes; what it resolves is what conntrack lists changed', async () => {
    await many(3000);
    const ac = new AbortController();
    let reported = 0;
    const n = await ct.updateWhere({ protocol: 'udp', batchSize: 100, signal: ac.signal,
      onUpdated: (flows) => {
        reported += flows.length;
        ac.abort();
      } }, { mark: 7 });
    expect(n).toBe(reported);
    // The next batch, packed while the first was with the kernel, is not sent.
    expect(n).toBe(100);
    const marked = await runConntrack(ns, ['-L', '-m', '7']);
    expect(marked.stderr).toContain(`${n} flow entries have been shown`);
  });

  test('a signal that is not an AbortSignal: a TypeError naming the option', async () => {
    await expect(ct.deleteEach({ signal: 'stop' as never })).rejects.toThrow(
      /deleteEach\(\) options\.signal must be an AbortSignal/,
    );
    await expect(ct.updateWhere({ signal: {} as never }, { mark: 1 })).rejects.toThrow(
      /updateWhere\(\) options\.signal must be an AbortSignal/,
    );
  });
});

describe('restore', () => {
  test('conntrack -L -o save restored into another namespace lists the same table; -A lines of entries already there are counted, -I lines fail with their line number', async () => {
    await load(10);
    const saved = (await runConntrack(ns, ['-L', '-o', 'save'])).stdout;
    await inAnotherNetns('nfct-bulkrep3', async (ct2, other) => {
      const first = await ct2.restore(`# a comment\n\n${saved}`);
      expect(first).toEqual({ created: 10, existed: 0, failed: [] });
      expect(maskTimeouts((await runConntrack(other, ['-L', '-o', 'save'])).stdout)).toEqual(maskTimeouts(saved));
      // Again (-o save writes -A lines): the first two as they are (there already: existed),
      // the rest as -I (EEXIST, by line).
      const lines = saved.trim().split('\n');
      expect(lines.every((l) => l.startsWith('-A '))).toBe(true);
      const again = [...lines.slice(0, 2), ...lines.slice(2).map((l) => l.replace(/^-A /, '-I '))].join('\n');
      const second = await ct2.restore(again, { batchSize: 3 });
      expect(second.created).toBe(0);
      expect(second.existed).toBe(2);
      expect(second.failed.map((f) => [f.line, f.command, f.error.code])).toEqual(
        lines.slice(2).map((_, i) => [i + 3, 'create', 'EEXIST']),
      );
      // From the file's bytes: ASCII ones read where they are, others (UTF-8) as their text.
      for (const bytes of [Buffer.from(`# ascii\n${saved}`),
        new TextEncoder().encode(`# caf\u00e9\n${saved.replace('\n', '\u00a0\n')}`)])
      {
        await ct2.flush();
        expect(await ct2.restore(bytes)).toEqual({ created: 10, existed: 0, failed: [] });
        expect(maskTimeouts((await runConntrack(other, ['-L', '-o', 'save'])).stdout)).toEqual(maskTimeouts(saved));
      }
    });
  });

  test('a line it cannot read: a TypeError with its line number, before anything is created', async () => {
    await inAnotherNetns('nfct-bulkrep4', async (ct2, other) => {
      const text = ['-I -p udp -s 10.9.0.1 -d 10.9.0.2 --sport 1 --dport 2 -t 60', '', '-D -p udp'].join('\n');
      const e = await ct2.restore(text).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(TypeError);
      expect((e as TypeError & { line: number }).line).toBe(3);
      expect((e as Error).message).toContain('line 3');
      // An ICMP type with no reply type (3): the reply tuple cannot be derived, so the line is not one it reads.
      const e2 = await ct2.restore('-I -p icmp -s 10.9.0.1 -d 10.9.0.2 --icmp-type 3 --icmp-code 0 --icmp-id 1 -t 60')
        .catch((x: unknown) => x);
      expect(e2).toBeInstanceOf(TypeError);
      expect((e2 as TypeError & { line: number }).line).toBe(1);
      expect(await ct2.count()).toBe(0);
      const e3 = await ct2.restore(Buffer.from(`  ${text}`)).catch((x: unknown) => x);
      expect(e3).toBeInstanceOf(TypeError);
      expect((e3 as TypeError & { line: number }).line).toBe(3);
      expect((e3 as Error).message).toBe((e as Error).message);
      expect((e as Error).message).toContain('-D -p udp');
      await expect(ct2.restore(42 as unknown as string)).rejects.toThrow(
        'restore() text must be a string or a Uint8Array (the bytes of a save file), got 42',
      );
      await expect(ct2.restore('', { batchSize: 0 })).rejects.toThrow('restore() options.batchSize');
      expect((await runConntrack(other, ['-C'])).stdout.trim()).toBe('0');
    });
  });
});

describe('the deprecated two-object forms', () => {
  test('deleteWhere(filter, options), deleteEach(filter, options), updateWhere(filter, changes, options) still work and warn once each', async () => {
    await runConntrack(ns, ['-F']);
    const flows = Array.from({ length: 30 },
      (_, i) => ({ protocol: 'udp' as const, src: `10.8.0.${i}`, dst: '10.9.0.1', srcPort: 1000, dstPort: 53,
        timeout: 300 }));
    expect((await ct.createMany(flows)).created).toBe(30);
    const warnings: { code?: string; message: string }[] = [];
    const onWarning = (w: Error & { code?: string }): void => void warnings.push({ code: w.code, message: w.message });
    process.on('warning', onWarning);
    try {
      /* eslint-disable @typescript-eslint/no-deprecated -- the old forms are what is tested */
      expect(await ct.deleteWhere({ protocol: 'udp' }, { dryRun: true })).toBe(30);
      expect(await ct.deleteWhere({ protocol: 'udp' }, { dryRun: true })).toBe(30);
      expect(await ct.updateWhere({ protocol: 'udp' }, { mark: 3 }, { batchSize: 7 })).toBe(30);
      const seen: number[] = [];
      expect(await ct.deleteEach({ protocol: 'udp', mark: 3 }, { onDeleted: (f) => void seen.push(f.length) })).toBe(
        30,
      );
      /* eslint-enable @typescript-eslint/no-deprecated */
      expect(seen.reduce((a, b) => a + b, 0)).toBe(30);
      await new Promise((ok) => setImmediate(ok));
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.map((w) => w.code).sort()).toEqual(['NFCT_DEP001', 'NFCT_DEP002', 'NFCT_DEP003']);
    expect(warnings.find((w) => w.code === 'NFCT_DEP001')?.message).toContain('deleteWhere({ ...filter, dryRun })');
    expect((await runConntrack(ns, ['-C'])).stdout.trim()).toBe('0');
  });
});
