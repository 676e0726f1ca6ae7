// nfct top's operator keys in a real terminal (tmux): ? shows the keys, / filters the groups,
// the arrows select one and d deletes its entries after y (conntrack -L is the judge), each
// group's change since the previous frame is shown; --by src/16 (and /64 for IPv6) groups by
// prefix; --json snapshots agree with themselves (entries, change).
import { beforeAll, describe, expect, test } from 'vitest';

import { useNetns } from '../helpers/netns.js';
import { CLI, execNfct, spawnNfct } from '../helpers/nfct.js';
import { useTmux } from '../helpers/tmux.js';
import { type EntrySpec, listEntries, loadEntries } from '../oracle/conntrack-cli.js';

const ns = useNetns('nfct-top-keys');
const { tmux, paneWhen } = useTmux('nfct-top-keys');

const udp = (src: string, dst: string, sport: number): EntrySpec => ({ proto: 'udp', src, dst, sport, dport: 53,
  timeout: 600 });
/** 10.1.0.0/16: 65 entries (40 + 25); 10.2.0.0/16: 10; fd00:1::/64: 8; fd00:2::/64: 2. */
function distribution(): EntrySpec[] {
  const out: EntrySpec[] = [];
  const add = (src: string, dst: string, n: number) => {
    for (let i = 0; i < n; i++) out.push(udp(src, dst, 20000 + out.length));
  };
  add('10.1.0.1', '10.3.0.1', 40);
  add('10.1.0.2', '10.3.0.1', 25);
  add('10.2.0.3', '10.3.0.1', 10);
  add('fd00:1::1', 'fd00:3::1', 5);
  add('fd00:1::2', 'fd00:3::1', 3);
  add('fd00:2::1', 'fd00:3::1', 2);
  return out;
}

/** The data rows under the header line: [count, change, source prefix]. */
function rows(text: string): string[][] {
  const lines = text.split('\n');
  const h = lines.findIndex((l) => /COUNT\s+%\s+CHANGE\s+RATE/.test(l));
  if (h < 0) return [];
  const out: string[][] = [];
  for (const l of lines.slice(h + 1)) {
    const m = /^[> ]\s*(\d[\d,]*)\s+[\d.]+\s+(\S+)\s+\S+\s+(\S+)\s*$/.exec(l);
    if (!m) break;
    out.push([m[1]!, m[2]!, m[3]!]);
  }
  return out;
}

beforeAll(async () => {
  await loadEntries(ns, distribution());
});

describe('--by src/16 (IPv6 /64)', () => {
  test('--once --json: a group per prefix; entries the sum of the namespaces; matched the groups', async () => {
    const r = await execNfct(['top', '--netns', ns.name, '--once', '--json', '--interval', '0.2', '--by', 'src/16']);
    expect(r.code).toBe(0);
    const s = r.rows[0]!;
    expect(s.by).toEqual(['src/16']);
    expect((s.groups as { key: unknown; count: number }[]).map((g) => [g.key, g.count])).toEqual([
      [{ src: '10.1.0.0/16' }, 65],
      [{ src: '10.2.0.0/16' }, 10],
      [{ src: 'fd00:1::/64' }, 8],
      [{ src: 'fd00:2::/64' }, 2],
    ]);
    const spaces = s.namespaces as { entries: number; matched: number }[];
    expect(s.entries).toBe(spaces.reduce((n, x) => n + x.entries, 0));
    expect(s.matched).toBe(85);
    expect(s.entries).toBe(85);
    expect(s).not.toHaveProperty('filter');
    // -p: said as the frame's filter; every entry here is UDP.
    const udp =
      (await execNfct(['top', '--netns', ns.name, '--once', '--json', '--interval', '0.2', '--by', 'src/16', '-p',
        'udp'])).rows[0]!;
    expect(udp).toMatchObject({ filter: 'protocol udp', matched: 85 });
    const tcp = (await execNfct(['top', '--netns', ns.name, '--once', '--json', '--interval', '0.2', '-p', 'tcp']))
      .rows[0]!;
    expect(tcp).toMatchObject({ filter: 'protocol tcp', matched: 0, groups: [] });
  });

  test('--by src/8/16 cuts IPv4 at /8 and IPv6 at /16: one group each', async () => {
    const r = await execNfct(['top', '--netns', ns.name, '--once', '--json', '--interval', '0.2', '--by', 'src/8/16']);
    const groups = r.rows[0]!.groups as { key: { src: string }; count: number }[];
    expect(groups.map((g) => [g.key.src, g.count])).toEqual([['10.0.0.0/8', 75], ['fd00::/16', 10]]);
  });

  test('--json frames: a group that grew by 5 shows change 5 and a positive rate', async () => {
    const w = spawnNfct(['top', '--netns', ns.name, '--json', '--interval', '0.3', '--by', 'src/16']);
    try {
      const frames = () =>
        w.out.lines.map((l) =>
          JSON.parse(l) as {
            groups: { key: { src: string }; count: number; change: number | null; rate: number | null }[];
          }
        );
      for (let i = 0; i < 100 && frames().length < 2; i++) await new Promise((r) => setTimeout(r, 50));
      expect(frames()[0]!.groups.every((g) => g.change === null && g.rate === null)).toBe(true);
      await loadEntries(ns, [0, 1, 2, 3, 4].map((i) => udp('10.2.7.7', '10.3.0.9', 30000 + i)));
      let grown: ReturnType<typeof frames>[number] | undefined;
      for (let i = 0; i < 100 && !grown; i++) {
        grown = frames().find((f) => f.groups.some((g) => g.key.src === '10.2.0.0/16' && g.count === 15));
        if (!grown) await new Promise((r) => setTimeout(r, 50));
      }
      const g = grown!.groups.find((x) => x.key.src === '10.2.0.0/16')!;
      expect(g.change).toBe(5);
      expect(g.rate).toBeGreaterThan(0);
      expect(grown!.groups.find((x) => x.key.src === '10.1.0.0/16')!.change).toBe(0);
    } finally {
      w.child.kill('SIGTERM');
      await w.out.closed;
      await ns.execOk('conntrack', ['-D', '-s', '10.2.7.7']);
    }
  });
});

describe('the keys, in a terminal (tmux)', () => {
  test('? lists the keys; / filters; the arrows select; d asks, n keeps, y deletes the group through deleteWhere', async () => {
    await tmux('new-session', '-d', '-s', 'top', '-x', '132', '-y', '30',
      `${process.execPath} ${CLI} top --netns ${ns.name} --by src/16 --interval 0.5; sleep 30`);
    let text = await paneWhen((t) => rows(t).length === 4);
    expect(rows(text).map((r) => [r[0], r[2]])).toEqual([['65', '10.1.0.0/16'], ['10', '10.2.0.0/16'], ['8',
      'fd00:1::/64'], ['2', 'fd00:2::/64']]);
    expect(text).toContain('?: keys');

    await tmux('send-keys', '-t', 'top', '?');
    text = await paneWhen((t) => t.includes("delete the selected group's entries"));
    for (const k of ['g / G', '/', 'd', 'q, Ctrl-C']) expect(text).toContain(k);
    await tmux('send-keys', '-t', 'top', 'x');
    text = await paneWhen((t) => rows(t).length === 4);

    // What is typed shows as it is typed, before Enter applies it.
    await tmux('send-keys', '-t', 'top', '/', 'f', 'd');
    await paneWhen((t) => /^\/fd_$/m.test(t));
    await tmux('send-keys', '-t', 'top', '0', '0', ':', '1', 'Enter');
    text = await paneWhen((t) => rows(t).length === 1);
    expect(rows(text)[0]![2]).toBe('fd00:1::/64');
    expect(text).toContain('filter: fd00:1');
    await tmux('send-keys', '-t', 'top', 'Escape');
    text = await paneWhen((t) => rows(t).length === 4);

    // The change column: 5 more from 10.2/16 show as +5 in the next frame.
    await loadEntries(ns, [0, 1, 2, 3, 4].map((i) => udp('10.2.8.8', '10.3.0.9', 31000 + i)));
    text = await paneWhen((t) => rows(t).some((r) => r[2] === '10.2.0.0/16' && r[0] === '15'));
    expect(rows(text).find((r) => r[2] === '10.2.0.0/16')![1]).toBe('+5');

    await tmux('send-keys', '-t', 'top', 'Down');
    text = await paneWhen((t) => /^>.*10\.2\.0\.0\/16/m.test(t));
    await tmux('send-keys', '-t', 'top', 'd');
    text = await paneWhen((t) => t.includes('delete the 15 entries of src 10.2.0.0/16? y/N'));
    await tmux('send-keys', '-t', 'top', 'n');
    text = await paneWhen((t) => t.includes('nothing deleted'));
    expect((await listEntries(ns, ['-s', '10.2.0.0/16'])).entries).toHaveLength(15);

    await tmux('send-keys', '-t', 'top', 'd');
    await paneWhen((t) => t.includes('y/N'));
    await tmux('send-keys', '-t', 'top', 'y');
    text = await paneWhen((t) => t.includes('deleted 15 entries of src 10.2.0.0/16'));
    expect((await listEntries(ns, ['-s', '10.2.0.0/16'])).entries).toHaveLength(0);
    expect((await listEntries(ns, ['-s', '10.1.0.0/16'])).entries).toHaveLength(65);
    text = await paneWhen((t) => rows(t).length === 3);

    await tmux('send-keys', '-t', 'top', 'q');
    text = await paneWhen((t) => !t.includes('COUNT'));
  });

  test('-p keeps its protocol in a delete; a group no filter selects exactly is refused before the question', async () => {
    await loadEntries(ns, [
      ...[1, 2, 3].map((i): EntrySpec => ({ proto: 'sctp', src: `10.7.0.${i}`, dst: '10.8.0.1', sport: 5000 + i,
        dport: 80, timeout: 600 })
      ),
      // To one destination: a TCP entry, and a UDP one that a delete under -p tcp must leave.
      { proto: 'tcp', src: '10.7.0.9', dst: '10.8.0.9', sport: 6000, dport: 443, timeout: 600 },
      { proto: 'udp', src: '10.7.0.10', dst: '10.8.0.9', sport: 6001, dport: 443, timeout: 600 },
    ]);
    await tmux('new-session', '-d', '-s', 'sctp', '-x', '132', '-y', '30',
      `${process.execPath} ${CLI} top --netns ${ns.name} -p sctp --by state --interval 0.5; sleep 30`);
    let text = await paneWhen((t) => rows(t).length === 1, 'sctp');
    expect([rows(text)[0]![0], rows(text)[0]![2]]).toEqual(['3', 'ESTABLISHED']);
    await tmux('send-keys', '-t', 'sctp', 'd');
    text = await paneWhen((t) => t.includes('cannot delete'), 'sctp');
    expect(text).toContain('cannot delete the selected group: only TCP states can be selected');
    expect(text).not.toContain('y/N');
    expect((await listEntries(ns, ['-p', 'sctp'])).entries).toHaveLength(3);
    await tmux('send-keys', '-t', 'sctp', 'q');

    await tmux('new-session', '-d', '-s', 'tcp', '-x', '132', '-y', '30',
      `${process.execPath} ${CLI} top --netns ${ns.name} -p tcp --by dst --interval 0.5; sleep 30`);
    text = await paneWhen((t) => rows(t).length === 1, 'tcp');
    expect([rows(text)[0]![0], rows(text)[0]![2]]).toEqual(['1', '10.8.0.9']);
    await tmux('send-keys', '-t', 'tcp', 'd');
    await paneWhen((t) => t.includes('delete the 1 entry of dst 10.8.0.9 (protocol tcp)? y/N'), 'tcp');
    await tmux('send-keys', '-t', 'tcp', 'y');
    await paneWhen((t) => t.includes('deleted 1 entry of dst 10.8.0.9 (protocol tcp)'), 'tcp');
    // conntrack is the judge: the TCP entry went; the UDP entry to the same destination, and
    // the SCTP entries, stayed.
    expect((await listEntries(ns, ['-d', '10.8.0.9'])).entries.map((e) => e.l4proto)).toEqual(['udp']);
    expect((await listEntries(ns, ['-p', 'sctp'])).entries).toHaveLength(3);
    await tmux('send-keys', '-t', 'tcp', 'q');
  });
});
