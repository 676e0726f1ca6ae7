// What a script reads from nfct --json, against the kernel and independent tools: every line
// has type, time and timeSource (the kernel's time where it gives one, which it does for
// events with nf_conntrack_timestamp=1 and for packets received, not for packets sent); lines
// of a namespace named on the command line carry its netns object; nfct log gives the packet
// decoded beside its hex; nfct trace gives the packet once and its hops as references to the
// rules nft lists, with the id nft monitor trace prints. (Every line is also validated against
// schema/*.json by the helpers.)
import { statSync } from 'node:fs';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { createNetns, type Netns } from '../helpers/netns.js';
import { execNfct, type SpawnedNfct, spawnNfct } from '../helpers/nfct.js';
import { runConntrackOk } from '../oracle/conntrack-cli.js';

let ns: Netns;
beforeAll(async () => {
  ns = await createNetns('nfct-ndjson');
});
afterAll(async () => {
  await ns?.remove();
});

type Row = Record<string, unknown>;
const iso = (ns: string): string => new Date(Number(BigInt(ns) / 1_000_000n)).toISOString();
const parsed = (lines: readonly string[]): Row[] => lines.filter(Boolean).map((l) => JSON.parse(l) as Row);

/** Polls `ready` (bounded); fails with `what` when it never holds. */
async function until(ready: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await ready()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`never: ${what}`);
}

async function stop(h: SpawnedNfct): Promise<number | null> {
  h.child.kill('SIGTERM');
  return h.out.closed;
}

describe('conntrack command lines', () => {
  test('-L --netns: type entry, the time it was read, the netns object of the namespace', async () => {
    await runConntrackOk(ns, ['-I', '-p', 'udp', '-s', '10.9.0.1', '-d', '10.9.0.2', '--sport', '1', '--dport', '2',
      '-t', '100']);
    const before = Date.now();
    const r = await execNfct(['-L', '--json', '--netns', ns.name]);
    const after = Date.now();
    expect(r.code).toBe(0);
    expect(r.rows).toHaveLength(1);
    const row = r.rows[0]!;
    expect(row).toMatchObject({ type: 'entry', timeSource: 'received', family: 'ipv4', original: { src: '10.9.0.1' } });
    const t = Date.parse(row.time as string);
    expect(t).toBeGreaterThanOrEqual(before - 1);
    expect(t).toBeLessThanOrEqual(after + 1);
    expect(row.netns).toEqual({ label: ns.name, inode: statSync(ns.path).ino, names: [ns.name], path: ns.path });
    expect(Object.keys(row).slice(0, 3)).toEqual(['type', 'time', 'timeSource']);
  });

  test('-L in its own namespace (no --netns): no netns object', async () => {
    const r = await execNfct(['-L', '--json'], { ns });
    expect(r.rows.length).toBeGreaterThan(0);
    for (const row of r.rows) expect(row).not.toHaveProperty('netns');
  });

  test('-C, -S, -V: types count, stats, version', async () => {
    expect((await execNfct(['-C', '--json', '--netns', ns.name])).rows).toEqual([
      expect.objectContaining({ type: 'count', table: 'conntrack', count: 1 }),
    ]);
    const stats = (await execNfct(['-S', '--json', '--netns', ns.name])).rows;
    expect(stats.length).toBeGreaterThan(0);
    for (const s of stats) expect(s).toMatchObject({ type: 'stats', table: 'conntrack', cpu: expect.any(Number) });
    expect((await execNfct(['-V', '--json'])).rows).toEqual([
      expect.objectContaining({ type: 'version', program: 'nfct' }),
    ]);
  });

  describe('-E: the kernel time of the event with nf_conntrack_timestamp=1, the receive time without', () => {
    const cases: [number, 'kernel' | 'received'][] = [[1, 'kernel'], [0, 'received']];
    test.each(cases)('nf_conntrack_timestamp=%i: timeSource %s', async (value, source) => {
      await ns.execOk('sysctl', ['-qw', `net.netfilter.nf_conntrack_timestamp=${value}`]);
      const w = spawnNfct(['-E', '--json', '--netns', ns.name, '-p', 'udp'], { hidden: '10.99.' });
      try {
        // Subscribed once a sentinel entry's event comes through.
        let n = 0;
        await until(async () => {
          await runConntrackOk(ns, ['-I', '-p', 'udp', '-s', `10.99.${value}.${++n}`, '-d', '10.9.9.9', '--sport', '1',
            '--dport', '2', '-t', '30']);
          return w.out.all.some((l) => l.includes('"10.99.'));
        }, 'nfct -E subscribed');
        const before = Date.now();
        await runConntrackOk(ns, ['-I', '-p', 'udp', '-s', `10.8.${value}.1`, '-d', '10.9.9.9', '--sport', '1',
          '--dport', '2', '-t', '30']);
        await until(() => w.out.lines.length > 0, 'the event');
        const after = Date.now();
        expect(await stop(w)).toBe(0);
        const ev = parsed(w.out.lines)[0]!;
        expect(ev).toMatchObject({ type: 'new', timeSource: source, netns: { label: ns.name } });
        expect(ev.time).toBe(iso(ev.timestamp as string));
        const flow = ev.flow as Row;
        if (source === 'kernel') expect(flow.eventTime).toBe(ev.timestamp);
        else expect(flow).not.toHaveProperty('eventTime');
        expect(Date.parse(ev.time as string)).toBeGreaterThanOrEqual(before - 1);
        expect(Date.parse(ev.time as string)).toBeLessThanOrEqual(after + 1);
      } finally {
        if (w.child.exitCode === null) await stop(w);
      }
    });
  });
});

describe('nfct log --json', () => {
  const GROUP = 17;
  beforeAll(async () => {
    await ns.execOk('nft', ['-f', '-'], {
      input: `table inet ndlog {
  chain out { type filter hook output priority 0; udp dport 9999 log group ${GROUP}; icmp type echo-request log group ${GROUP}; }
  chain in { type filter hook input priority 0; udp dport 9999 log group ${GROUP}; }
}
`,
    });
  });

  /** Waits until the group is bound in the namespace (nfct log is then listening). */
  const bound = () =>
    until(
      async () =>
        (await ns.execOk('cat', ['/proc/net/netfilter/nfnetlink_log'])).stdout.split('\n').some((l) =>
          Number(l.trim().split(/\s+/)[0]) === GROUP
        ),
      `group ${GROUP} bound`,
    );

  test('a datagram sent and received: OUTPUT has the receive time, INPUT the kernel time; ip and udp decoded beside the hex', async () => {
    const w = spawnNfct(['log', '--group', String(GROUP), '--netns', ns.name, '--json']);
    try {
      await bound();
      const before = Date.now();
      // A datagram from a port of our choosing, so the decoded header can be checked against it.
      await ns.execOk(process.execPath, ['-e',
        "const s=require('dgram').createSocket('udp4');s.bind(40123,'127.0.0.1',()=>s.send('hello nfct',9999,'127.0.0.1',()=>s.close()))"]);
      await until(() => w.out.lines.length >= 2, 'both packets');
      const after = Date.now();
      expect(await stop(w)).toBe(0);
      const [out, inp] = parsed(w.out.lines);
      for (const p of [out!, inp!]) {
        expect(p).toMatchObject({
          type: 'packet',
          source: 'nflog',
          group: GROUP,
          family: 'ipv4',
          ip: { version: 4, src: '127.0.0.1', dst: '127.0.0.1', protocol: 17, totalLength: 20 + 8 + 10 },
          udp: { srcPort: 40123, dstPort: 9999, length: 8 + 10 },
          netns: { label: ns.name },
        });
        // The decoded fields and the hex are the same packet.
        const bytes = Buffer.from(p.payload as string, 'hex');
        expect(bytes.subarray(28).toString()).toBe('hello nfct');
        expect(bytes.readUInt16BE(20)).toBe(40123);
      }
      expect(out).toMatchObject({ hookName: 'OUTPUT', timeSource: 'received' });
      expect(out).not.toHaveProperty('timestamp');
      expect(Date.parse(out!.time as string)).toBeGreaterThanOrEqual(before - 1);
      expect(Date.parse(out!.time as string)).toBeLessThanOrEqual(after + 1);
      expect(inp).toMatchObject({ hookName: 'INPUT', timeSource: 'kernel' });
      expect(inp!.time).toBe(iso(inp!.timestamp as string));
    } finally {
      if (w.child.exitCode === null) await stop(w);
    }
  });

  test('ping: icmp decoded with the type, code and sequence ping sent', async () => {
    const w = spawnNfct(['log', '--group', String(GROUP), '--netns', ns.name, '--json']);
    try {
      await bound();
      await ns.execOk('ping', ['-c', '1', '-W', '1', '127.0.0.1']);
      await until(() => w.out.lines.length >= 1, 'the echo request');
      await stop(w);
      const p = parsed(w.out.lines)[0]!;
      expect(p).toMatchObject({ ip: { version: 4, protocol: 1 }, protocolName: 'ICMP',
        icmp: { type: 8, code: 0, seq: 1 } });
      expect((p.icmp as Row).id).toBe(Buffer.from(p.payload as string, 'hex').readUInt16BE(24));
    } finally {
      if (w.child.exitCode === null) await stop(w);
    }
  });
});

describe('nfct trace --json', () => {
  beforeAll(async () => {
    await ns.execOk('nft', ['-f', '-'], {
      input: `table ip ndtr {
  chain c1 { udp dport 9412 counter; return; }
  chain output { type filter hook output priority 0; policy accept; jump c1; udp dport 9412 counter accept; }
}
`,
    });
  });

  test('the packet once, rules once with their nft handles, hops by index; the id nft monitor trace prints, in text and JSON alike', async () => {
    const monitor = ns.spawn('nft', ['-a', 'monitor', 'trace'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let monitored = '';
    monitor.stdout!.on('data', (d: Buffer) => (monitored += d.toString()));
    const tables = async (): Promise<string> => (await ns.execOk('nft', ['list', 'tables'])).stdout;
    const send = () =>
      ns.execOk(process.execPath, ['-e',
        "const s=require('dgram').createSocket('udp4');s.send('x',9412,'127.0.0.1',()=>s.close())"]);
    try {
      const ids: Record<'json' | 'text', string[]> = { json: [], text: [] };
      let packet: Row | undefined;
      for (const mode of ['json', 'text'] as const) {
        const w = spawnNfct(['trace', '--nftables', '--netns', ns.name, '-p', 'udp', '--dport', '9412',
          ...(mode === 'json' ? ['--json'] : [])]);
        await until(async () => (await tables()).includes('nfct_trace'), 'the trace table');
        await send();
        await until(() => (mode === 'json' ? w.out.lines.length >= 1 : w.out.lines.some((l) => l.startsWith('  => '))),
          'a traced packet');
        await stop(w);
        if (mode === 'json') {
          packet = parsed(w.out.lines)[0]!;
          ids.json.push(packet.id as string);
        } else {
          ids.text.push(
            ...w.out.lines.map((l) => /^packet ([0-9a-f]{8}) /.exec(l)?.[1]).filter((x): x is string =>
              x !== undefined
            ),
          );
        }
      }
      await until(() => ids.json.concat(ids.text).every((id) => monitored.includes(`trace id ${id} `)),
        'nft monitor trace printed both ids');
      expect(ids.json[0]).toMatch(/^[0-9a-f]{8}$/);
      expect(ids.text.length).toBeGreaterThan(0);
      const p = packet!;
      expect(p).toMatchObject({ type: 'trace', timeSource: 'received', source: 'nftables',
        packet: { ip: { version: 4, dst: '127.0.0.1' }, udp: { dstPort: 9412 } }, netns: { label: ns.name } });
      const rules = p.rules as Row[];
      const hops = p.hops as Row[];
      for (const h of hops) {
        expect(h).not.toHaveProperty('packet');
        expect(rules[h.rule as number]).toBeDefined();
      }
      // Each rule hop of ours is a rule nft lists with that handle.
      const listed = (await ns.execOk('nft', ['-a', 'list', 'table', 'ip', 'ndtr'])).stdout;
      const ruleHops = hops.filter((h) => h.kind === 'rule' && (rules[h.rule as number]!.table as string) === 'ndtr');
      expect(ruleHops.length).toBeGreaterThanOrEqual(3);
      for (const h of ruleHops) expect(listed).toContain(`# handle ${rules[h.rule as number]!.handle as number}`);
      // Rules are listed once however often the packet passed them.
      const keys = rules.map((r) => JSON.stringify([r.family, r.table, r.chain, r.handle ?? null]));
      expect(new Set(keys).size).toBe(keys.length);
    } finally {
      monitor.kill();
    }
  });
});
