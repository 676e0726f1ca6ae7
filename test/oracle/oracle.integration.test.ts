/**
 * The test helpers and the conntrack-tools oracle against the real kernel, in a throwaway
 * netns: traffic generators make the entries they describe, entries inserted with
 * `conntrack -I` / `-R` read back as specified, events are seen. Needs root.
 */
import { describe, expect, test } from 'vitest';

import { createNetns, listNetnsSync, sysctl, useNetns } from '../helpers/netns.js';
import { dnatFlow, openTcpFlow, ping, tcpFlow, udpFlow } from '../helpers/traffic.js';
import { countEntries, type CtEntry, type EntrySpec, flushEntries, insertEntry, listEntries, loadEntries,
  watchEvents } from './conntrack-cli.js';

const ns = useNetns('nfct-test', {
  labels: true,
  sysctls: { 'net.netfilter.nf_conntrack_acct': 1, 'net.netfilter.nf_conntrack_timestamp': 1 },
});

function byOrig(entries: CtEntry[], proto: string, sport: number | undefined, dport: number | undefined): CtEntry {
  const hits = entries.filter((e) => e.l4proto === proto && e.orig.sport === sport && e.orig.dport === dport);
  expect(hits).toHaveLength(1);
  return hits[0]!;
}

describe('netns helpers', () => {
  test('the namespace exists, is named after our pid, has its own sysctls', async () => {
    expect(ns.name).toMatch(new RegExp(`^nfct-test-${process.pid}-[0-9a-f]{6}$`));
    expect(listNetnsSync()).toContain(ns.name);
    expect(await sysctl(ns, 'net.netfilter.nf_conntrack_acct')).toBe('1');
    const lo = await ns.execOk('ip', ['-o', 'link', 'show', 'lo']);
    expect(lo.stdout).toMatch(/state UNKNOWN|UP/);
  });

  test('createNetns/remove leave nothing behind; exec reports failures', async () => {
    const other = await createNetns('nfct-test-tmp', { conntrack: false });
    expect(listNetnsSync()).toContain(other.name);
    const bad = await other.exec('sh', ['-c', 'echo oops >&2; exit 3']);
    expect(bad).toMatchObject({ code: 3, stderr: 'oops\n', timedOut: false });
    await expect(other.execOk('false')).rejects.toThrow(/exited with code 1/);
    const slow = await other.exec('sleep', ['5'], { timeoutMs: 100 });
    expect(slow.timedOut).toBe(true);
    await other.remove();
    await other.remove(); // idempotent
    expect(listNetnsSync()).not.toContain(other.name);
    expect(other.removed).toBe(true);
  });

  test('refuses a prefix the clean-up would not recognise', async () => {
    await expect(createNetns('test')).rejects.toThrow(RangeError);
  });
});

describe('traffic generators make the entries they describe', () => {
  test('TCP over 127.0.0.1 and ::1, closed: ASSURED, TIME_WAIT, counters', async () => {
    const f4 = await tcpFlow(ns, { bytes: 100 });
    const f6 = await tcpFlow(ns, { family: 6, bytes: 100 });
    const { entries, shown } = await listEntries(ns, ['-p', 'tcp']);
    expect(shown).toBe(entries.length);
    for (const f of [f4, f6]) {
      const e = byOrig(entries, 'tcp', f.orig.sport, f.orig.dport);
      expect(e.family).toBe(f.family);
      expect(e.orig).toMatchObject(f.orig);
      expect(e.reply).toMatchObject(f.reply);
      expect(e.state).toBe('TIME_WAIT');
      expect(e.assured).toBe(true);
      expect(e.orig.packets).toBeGreaterThanOrEqual(4);
      expect(e.orig.bytes).toBeGreaterThan(100);
    }
  });

  test('TCP held open is ESTABLISHED, then TIME_WAIT after close()', async () => {
    const f = await openTcpFlow(ns, { holdMs: 10_000 });
    try {
      const e = byOrig((await listEntries(ns, ['-p', 'tcp', '--dport', String(f.orig.dport)])).entries, 'tcp',
        f.orig.sport, f.orig.dport);
      expect(e.state).toBe('ESTABLISHED');
    } finally {
      await f.close();
    }
    const e = byOrig((await listEntries(ns, ['-p', 'tcp', '--dport', String(f.orig.dport)])).entries, 'tcp',
      f.orig.sport, f.orig.dport);
    expect(e.state).toBe('TIME_WAIT');
  });

  test('UDP with and without reply', async () => {
    const a = await udpFlow(ns, { count: 3 });
    const b = await udpFlow(ns, { family: 6, reply: false });
    expect(a).toMatchObject({ sent: 3, received: 3 });
    expect(b).toMatchObject({ sent: 1, received: 0 });
    const { entries } = await listEntries(ns, ['-p', 'udp']);
    const ea = byOrig(entries, 'udp', a.orig.sport, a.orig.dport);
    expect(ea.seenReply).toBe(true);
    expect(ea.orig.packets).toBe(3);
    expect(ea.reply.packets).toBe(3);
    const eb = byOrig(entries, 'udp', b.orig.sport, b.orig.dport);
    expect(eb.family).toBe(6);
    expect(eb.seenReply).toBe(false);
    expect(eb.reply.packets).toBe(0);
  });

  test('ping 127.0.0.1 and ::1 with a chosen echo id', async () => {
    const p4 = await ping(ns);
    const p6 = await ping(ns, { family: 6 });
    const { entries } = await listEntries(ns);
    for (const p of [p4, p6]) {
      const hits = entries.filter((e) => e.l4proto === p.proto && e.orig.icmpId === p.id);
      expect(hits).toHaveLength(1);
      expect(hits[0]!.orig).toMatchObject({ src: p.src, dst: p.dst, icmpType: p.type, icmpCode: 0 });
      expect(hits[0]!.reply).toMatchObject({ icmpType: p.replyType, icmpId: p.id });
      expect(hits[0]!.seenReply).toBe(true);
    }
  });

  test("DNAT'd TCP and UDP: the reply tuple comes from the real target", async () => {
    const t = await dnatFlow(ns, { proto: 'tcp' });
    const u = await dnatFlow(ns, { proto: 'udp', count: 2 });
    const { entries } = await listEntries(ns);
    for (const f of [t, u]) {
      expect(f.orig.dst).toBe('127.0.0.99');
      const e = byOrig(entries, f.proto, f.orig.sport, f.orig.dport);
      expect(e.orig).toMatchObject(f.orig);
      expect(e.reply).toMatchObject(f.reply);
      expect(e.reply.src).toBe('127.0.0.1');
      expect(e.reply.sport).not.toBe(f.orig.dport);
    }
    // the rule tables were removed again
    const tables = await ns.execOk('nft', ['list', 'tables']);
    expect(tables.stdout).not.toContain('nfct_dnat_');
  });
});

describe('conntrack -I / -R / -E', () => {
  const labelMap = { 3: 'three', 64: 'sixtyfour' };

  test('inserted entries read back as specified', async () => {
    const cases: [EntrySpec, (e: CtEntry) => void][] = [
      [
        { proto: 'tcp', src: '192.0.2.1', dst: '198.51.100.1', sport: 1, dport: 2, mark: 7,
          status: ['ASSURED', 'SEEN_REPLY'], timeout: 500 },
        (e) => expect(e).toMatchObject({ state: 'ESTABLISHED', mark: 7, assured: true, seenReply: true }),
      ],
      [
        { proto: 'udp', src: '2001:db8::1', dst: '2001:db8::2', sport: 1, dport: 2, zone: 12 },
        (e) => expect(e).toMatchObject({ family: 6, zone: 12, seenReply: false }),
      ],
      [{ proto: 'udp', src: '192.0.2.1', dst: '198.51.100.1', sport: 1, dport: 3, origZone: 5 },
        (e) => expect(e.orig.zone).toBe(5)],
      [{ proto: 'udp', src: '192.0.2.1', dst: '198.51.100.1', sport: 1, dport: 4, replyZone: 6 },
        (e) => expect(e.reply.zone).toBe(6)],
      [
        { proto: 'icmp', src: '192.0.2.1', dst: '198.51.100.1', icmpId: 9 },
        (e) => expect(e.reply).toMatchObject({ icmpType: 0, icmpId: 9 }),
      ],
      [
        { proto: 'gre', src: '192.0.2.1', dst: '198.51.100.1', greSrcKey: 10, greDstKey: 11 },
        (e) => expect(e.reply).toMatchObject({ greSrcKey: 11, greDstKey: 10 }),
      ],
      [
        { proto: 'tcp', src: '192.0.2.1', dst: '198.51.100.1', sport: 1, dport: 5, dnat: '203.0.113.9:80' },
        (e) => expect(e.reply).toMatchObject({ src: '203.0.113.9', sport: 80, dst: '192.0.2.1', dport: 1 }),
      ],
      [
        { proto: 'udp', src: '192.0.2.1', dst: '198.51.100.1', sport: 1, dport: 6, labels: ['three', 'sixtyfour'] },
        (e) => expect(e.labels).toEqual(['three', 'sixtyfour']),
      ],
    ];
    for (const [spec] of cases) await insertEntry(ns, spec, { labelMap });
    const { entries, rejected } = await listEntries(ns, ['-s', '192.0.2.1'], { labelMap });
    const v6 = (await listEntries(ns, ['-s', '2001:db8::1'])).entries;
    expect(rejected).toEqual([]);
    for (const [spec, check] of cases) {
      const pool = spec.src!.includes(':') ? v6 : entries;
      const hits = pool.filter(
        (e) =>
          e.l4proto === spec.proto &&
          e.orig.dport === spec.dport &&
          e.orig.icmpId === spec.icmpId &&
          e.orig.greSrcKey === spec.greSrcKey,
      );
      expect(hits, JSON.stringify(spec)).toHaveLength(1);
      check(hits[0]!);
    }
    await expect(insertEntry(ns, cases[0]![0])).rejects.toThrow(/exists/);
  });

  test('loadEntries: 5000 entries via -R; -A skips duplicates, -I stops at one', async () => {
    await flushEntries(ns);
    const specs: EntrySpec[] = Array.from({ length: 5000 }, (_, i) => ({
      proto: 'udp',
      src: `10.1.${i >> 8}.${i & 255}`,
      dst: '10.2.0.1',
      sport: 1000,
      dport: 53,
      timeout: 600,
    }));
    const r = await loadEntries(ns, specs);
    expect(r.lines).toBe(5000);
    expect(await countEntries(ns)).toBe(5000);
    await loadEntries(ns, specs.slice(0, 10), { mode: 'add' });
    await expect(loadEntries(ns, specs.slice(0, 10))).rejects.toThrow(/exists/);
    expect(await countEntries(ns)).toBe(5000);
    const { entries, shown } = await listEntries(ns, ['-s', '10.1.0.7']);
    expect(shown).toBe(1);
    expect(entries[0]!.orig).toMatchObject({ src: '10.1.0.7', dst: '10.2.0.1', sport: 1000, dport: 53 });
    await flushEntries(ns);
    expect(await countEntries(ns)).toBe(0);
  });

  test('watchEvents sees NEW and DESTROY of a flow', async () => {
    const w = await watchEvents(ns);
    try {
      const f = await udpFlow(ns);
      const isFlow = (e: CtEntry) => e.orig.sport === f.orig.sport && e.orig.dport === f.orig.dport;
      const created = await w.waitFor((e) => e.event === 'NEW' && isFlow(e));
      expect(created.l4proto).toBe('udp');
      await insertEntry(ns, { proto: 'udp', src: '192.0.2.77', dst: '198.51.100.77', sport: 7, dport: 7 });
      await ns.execOk('conntrack', ['-D', '-s', '192.0.2.77']);
      const gone = await w.waitFor((e) => e.event === 'DESTROY' && e.orig.src === '192.0.2.77');
      expect(gone.orig.packets).toBe(0);
      expect(w.events.some((e) => e.orig.src === '127.0.0.254')).toBe(false);
      expect(w.rejected).toEqual([]);
    } finally {
      await w.stop();
    }
  });
});
