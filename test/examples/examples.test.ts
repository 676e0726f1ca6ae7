// The programs in examples/ run against a namespace of their own, each bounded: the flow-map
// service follows conntrack -I/-D over HTTP, the monitor alerts on a full table and on the
// drops that follow, and pod-trace (installed as a dependent package would be) reports the
// connection and the rules a packet passed.
import { type ChildProcess, spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { Conntrack, type FlowInput } from '../../lib/index.js';
import { createNetns, useNetns } from '../helpers/netns.js';
import { runConntrackOk } from '../oracle/conntrack-cli.js';

const ROOT = resolve(__dirname, '..', '..');
const EXAMPLES = join(ROOT, 'examples');

interface Running {
  child: ChildProcess;
  out: () => string;
  err: () => string;
}

function start(script: string, args: string[], cwd = ROOT): Running {
  const child = spawn(process.execPath, [script, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return { child, out: () => out, err: () => err };
}

async function stop(r: Running): Promise<number | null> {
  if (r.child.exitCode !== null) return r.child.exitCode;
  const done = new Promise<number | null>((ok) => r.child.once('exit', (code) => ok(code)));
  r.child.kill('SIGTERM');
  return done;
}

/** Waits (bounded) until `check` holds; returns its last value. */
async function until<T>(check: () => Promise<T> | T, ok: (v: T) => boolean, what: string, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(v)?.slice(0, 500)}`);
    await sleep(100);
  }
}

const ns = useNetns('nfct-examples');

describe('examples/flow-map-service.mjs', () => {
  test('serves the table and follows the kernel as entries come and go', async () => {
    await runConntrackOk(ns, ['-I', '-p', 'tcp', '-s', '10.9.0.1', '-d', '10.9.0.2', '--sport', '1000', '--dport', '80',
      '--state', 'ESTABLISHED', '-t', '300']);
    const svc = start(join(EXAMPLES, 'flow-map-service.mjs'), ['--netns', ns.name, '--port', '0', '--refresh', '0.5']);
    try {
      const line = await until(() => svc.out(), (o) => /listening on (\S+)/.test(o) || svc.child.exitCode !== null,
        'the service to listen');
      const base = /listening on (\S+)/.exec(line)?.[1];
      expect(base, svc.err()).toBeDefined();
      const flows = async (): Promise<{ original: { src: string; dstPort?: number } }[]> =>
        (await fetch(`${base}/flows`)).json() as never;

      // The entry made before it started, read from the table.
      expect((await flows()).map((f) => f.original.src)).toEqual(['10.9.0.1']);
      // Entries made while it runs appear; deleted ones go (by their destroy event, or, for the
      // one made before anyone listened, which gets none, by the refresh).
      await runConntrackOk(ns, ['-I', '-p', 'udp', '-s', '10.9.0.3', '-d', '10.9.0.4', '--sport', '5', '--dport', '53',
        '-t', '300']);
      await runConntrackOk(ns, ['-I', '-p', 'udp', '-s', '10.9.0.5', '-d', '10.9.0.4', '--sport', '5', '--dport', '53',
        '-t', '300']);
      await until(flows,
        (f) => f.some((x) => x.original.src === '10.9.0.3') && f.some((x) => x.original.src === '10.9.0.5'),
        'the new entries');
      await runConntrackOk(ns, ['-D', '-p', 'tcp', '-s', '10.9.0.1']);
      await runConntrackOk(ns, ['-D', '-p', 'udp', '-s', '10.9.0.5']);
      const after = await until(flows, (f) => f.length === 1, 'the deleted entries to go');
      expect(after.map((f) => [f.original.src, f.original.dstPort])).toEqual([['10.9.0.3', 53]]);
      const summary = (await (await fetch(`${base}/summary`)).json()) as { flows: number; by: Record<string, number> };
      expect(summary).toMatchObject({ flows: 1, by: { udp: 1 } });
    } finally {
      expect(await stop(svc)).toBe(0);
    }
  });
});

describe('examples/table-monitor.mjs', () => {
  const max = Number(readFileSync('/proc/sys/net/netfilter/nf_conntrack_max', 'utf8'));

  test('no alert on a quiet table', async () => {
    const m = start(join(EXAMPLES, 'table-monitor.mjs'), ['--netns', ns.name, '--interval', '0.1', '--samples', '3']);
    await until(() => m.child.exitCode, (c) => c !== null, 'the monitor to finish');
    expect(m.child.exitCode, m.err()).toBe(0);
    expect(m.out()).toBe('');
    expect(m.err().trim().split('\n')).toHaveLength(3);
    expect(m.err()).toMatch(new RegExp(`^\\d+/${max} entries`));
  });

  // A namespace filled to nf_conntrack_max (global, ~1M here: a few seconds of batched creates).
  test.skipIf(!(max > 0 && max <= 2_000_000))(
    'alerts when the table nears nf_conntrack_max, then on the drops of a full table',
    async () => {
      const full = await createNetns('nfct-examples-full');
      const ct = await Conntrack.open({ netns: full.name });
      const m = start(join(EXAMPLES, 'table-monitor.mjs'), ['--netns', full.name, '--interval', '0.2', '--threshold',
        '0.9']);
      try {
        await until(() => m.err(), (e) => e.includes(' entries'), 'a first sample');
        // ASSURED entries: the kernel cannot evict them to make room, so new packets are dropped.
        function* entries(): Generator<FlowInput> {
          for (let i = 0; i < max; i++) {
            yield { protocol: 'udp', src: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, dst: '10.255.0.1',
              srcPort: 1000, dstPort: 53, timeout: 600, status: 'ASSURED' };
          }
        }
        const r = await ct.createMany(entries());
        expect(r.created).toBe(max);
        const alerts = () =>
          m.out().trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
        const near = await until(alerts, (a) => a.some((x) => x.alert === 'table-near-full'), 'the near-full alert');
        const alert = near.find((x) => x.alert === 'table-near-full')!;
        expect(alert).toMatchObject({ netns: full.name, max, threshold: 0.9 });
        expect(Number(alert.count) / max).toBeGreaterThanOrEqual(0.9);
        expect(Number(alert.count)).toBeLessThanOrEqual(max);
        // A new connection in the full namespace: conntrack cannot track it and drops the packet.
        await full.exec('ping', ['-c', '2', '-i', '0.2', '-W', '1', '127.0.0.1']);
        const withDrops = await until(alerts, (a) => a.some((x) => x.alert === 'drops'), 'the drops alert');
        const drops = withDrops.find((x) => x.alert === 'drops')!;
        expect(Number(drops.drop ?? 0) + Number(drops.early_drop ?? 0)).toBeGreaterThan(0);
      } finally {
        expect(await stop(m)).toBe(0);
        await ct.flush().catch(() => undefined);
        await ct.close();
        await full.remove();
      }
    },
    120_000,
  );
});

describe('examples/pod-trace', () => {
  // A project of its own with @x/nfct in node_modules, as `npm install` would leave it.
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'nfct-pod-trace-'));
    cpSync(join(EXAMPLES, 'pod-trace'), dir, { recursive: true });
    mkdirSync(join(dir, 'node_modules', '@x'), { recursive: true });
    symlinkSync(ROOT, join(dir, 'node_modules', '@x', 'nfct'), 'dir');
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('installed as a dependent package: the connection and every rule its packets pass', async () => {
    await ns.execOk('nft', ['-f', '-'], {
      input:
        'table ip pod {\n  chain out {\n    type filter hook output priority 0; policy accept;\n    udp dport 7777 counter accept\n  }\n}\n',
    });
    const t = start(join(dir, 'pod-trace.mjs'), ['--netns', ns.name, '--protocol', 'udp', '--port', '7777', '--seconds',
      '20'], dir);
    try {
      // A datagram each round until the example shows one (it traces once its rule is in).
      await until(
        async () => {
          await ns.execOk('node', ['-e',
            "const s=require('dgram').createSocket('udp4');s.send('x',7777,'127.0.0.1',()=>s.close())"]);
          return t.out();
        },
        (o) =>
          /conn new +udp 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:7777/.test(o) &&
          o.includes('pod out rule accept udp dport 7777 counter'),
        'the connection and the trace',
      );
      expect(t.out()).toMatch(/^packet [0-9a-f]+ accept$/m);
      // The library's own trace rule is not among the hops it prints.
      expect(t.out()).not.toContain('nfct_trace_');
    } finally {
      expect(await stop(t), t.err()).toBe(0);
      await ns.exec('nft', ['delete', 'table', 'ip', 'pod']);
    }
  });

  test('--help, and a usage error without --netns', async () => {
    for (const [args, code] of [[['--help'], 0], [[], 2]] as const) {
      const h = start(join(dir, 'pod-trace.mjs'), [...args], dir);
      await until(() => h.child.exitCode, (c) => c !== null, 'the usage');
      expect(h.out(), h.err()).toContain('usage: pod-trace --netns NS');
      expect(h.child.exitCode).toBe(code);
    }
  });
});
