// createExporter(): the figures a scrape reports, per namespace, against conntrack -C / -S run
// in each, event and NFLOG counters against what was done, and promtool's linter.
import { execFileSync } from 'node:child_process';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { parseListen } from '../../lib/exporter/server.js';
import { Conntrack, createExporter, type Exporter, serveExporter } from '../../lib/index.js';
import { createNetns, type Netns } from '../helpers/netns.js';
import { fillUdp } from '../helpers/streams.js';

let a: Netns;
let b: Netns;
const mine = (names: string[]) => names.includes(a.name) || names.includes(b.name);

/** The value of one sample line (`name{labels} value`) of a scrape, or undefined. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const inner = line.slice(name.length + 1, line.lastIndexOf('}'));
    if (want.every((w) => inner.split(',').includes(w))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

const fill = (ns: Netns, n: number, net: number) => fillUdp(ns, n, net, { dst: '10.200.0.1', timeout: 600 });

beforeAll(async () => {
  [a, b] = await Promise.all([createNetns('nfct-expa'), createNetns('nfct-expb')]);
  await Promise.all([fill(a, 700, 31), fill(b, 260, 32)]);
});
afterAll(async () => {
  await Promise.all([a?.remove(), b?.remove()]);
});

describe('createExporter()', () => {
  test('entries, limit and statistics per namespace equal conntrack -C and -S there; promtool accepts the text', async () => {
    const exporter = await createExporter({ namespaces: (ns) => mine(ns.names) });
    try {
      const text = await exporter.metrics();
      for (const ns of [a, b]) {
        const count = Number((await ns.execOk('conntrack', ['-C'])).stdout.trim());
        expect(sample(text, 'nfct_conntrack_entries', { netns: ns.name })).toBe(count);
        const max = Number(execFileSync('cat', ['/proc/sys/net/netfilter/nf_conntrack_max'], { encoding: 'utf8' }));
        expect(sample(text, 'nfct_conntrack_entries_limit', { netns: ns.name })).toBe(max);
        // conntrack -S: one line per CPU, `cpu=N found=.. invalid=.. insert=..`; the sum over CPUs.
        const sums = new Map<string, number>();
        for (const line of (await ns.execOk('conntrack', ['-S'])).stdout.trim().split('\n')) {
          for (const m of line.matchAll(/(\w+)=(\d+)/g)) {
            if (m[1] !== 'cpu') sums.set(m[1]!, (sums.get(m[1]!) ?? 0) + Number(m[2]));
          }
        }
        for (const stat of ['found', 'invalid', 'insert', 'insert_failed', 'drop', 'early_drop', 'error',
          'search_restart'])
        {
          expect(sample(text, `nfct_conntrack_stat_${stat}_total`, { netns: ns.name }), stat).toBe(sums.get(stat));
        }
        const inode = execFileSync('stat', ['-L', '-c', '%i', ns.path], { encoding: 'utf8' }).trim();
        expect(sample(text, 'nfct_netns_info', { netns: ns.name, inode, names: ns.name })).toBe(1);
      }
      expect(sample(text, 'nfct_conntrack_entries', { netns: a.name })).toBe(700);
      expect(text).not.toMatch(/nfct_conntrack_entries\{netns="(?!nfct-exp)/);
      execFileSync('promtool', ['check', 'metrics'], { input: text });

      // perCpu: one series per CPU, summing to the total.
      const perCpu = await createExporter({ namespaces: (ns) => mine(ns.names), perCpu: true });
      const rows = (await perCpu.metrics()).split('\n').filter((l) =>
        l.startsWith(`nfct_conntrack_stat_insert_total{netns="${b.name}"`)
      );
      await perCpu.close();
      expect(rows.length).toBe(Number(execFileSync('nproc', { encoding: 'utf8' })));
      expect(rows.reduce((s, l) => s + Number(l.split(' ')[1]), 0)).toBe(
        sample(text, 'nfct_conntrack_stat_insert_total', { netns: b.name }),
      );
    } finally {
      await exporter.close();
    }
  });

  test('event counters by type and NFLOG packets by prefix, capped, equal what happened', async () => {
    await a.execOk('nft', ['-f', '-'], {
      input:
        'table inet logx {\n chain out { type filter hook output priority 0; udp dport 9 log group 7 prefix "drop-a: "; udp dport 10 log group 7 prefix "drop-b: "; }\n}\n',
    });
    const exporter = await createExporter({ namespaces: (ns) => ns.names.includes(a.name), events: true,
      nflogGroups: [7], maxPrefixes: 1 });
    try {
      expect(sample(await exporter.metrics(), 'nfct_conntrack_events_total', { netns: a.name, type: 'new' })).toBe(0);
      // The logged packets come first (they make conntrack entries too), then the entries counted.
      await a.execOk('bash', ['-c',
        'for i in $(seq 20); do echo x > /dev/udp/127.0.0.1/9; done; for i in $(seq 6); do echo y > /dev/udp/127.0.0.1/10; done']);
      let text = '';
      const until = async (done: () => boolean) => {
        for (let i = 0; i < 100; i++) {
          text = await exporter.metrics();
          if (done()) return;
          await sleep(100);
        }
      };
      await until(() =>
        (sample(text, 'nfct_nflog_packets_total', { netns: a.name, group: '7', prefix: 'other' }) ?? 0) >= 6
      );
      const before = (type: string) => sample(text, 'nfct_conntrack_events_total', { netns: a.name, type })!;
      const [new0, destroy0] = [before('new'), before('destroy')];
      const ct = await Conntrack.open({ netns: a.name });
      const flows = Array.from({ length: 12 },
        (_, i) => ({ protocol: 'tcp' as const, src: '10.33.0.1', dst: '10.33.0.2', srcPort: 2000 + i, dstPort: 80,
          timeout: 60, state: 'ESTABLISHED' as const }));
      await ct.createMany(flows);
      for (const { timeout: _t, state: _s, ...tuple } of flows.slice(0, 5)) await ct.delete(tuple);
      await ct.close();
      await until(() =>
        sample(text, 'nfct_conntrack_events_total', { netns: a.name, type: 'destroy' }) === destroy0 + 5
      );
      expect(sample(text, 'nfct_conntrack_events_total', { netns: a.name, type: 'new' })).toBe(new0 + 12);
      expect(sample(text, 'nfct_conntrack_events_total', { netns: a.name, type: 'destroy' })).toBe(destroy0 + 5);
      // Only the first prefix seen gets a series; the second is counted as "other".
      expect(sample(text, 'nfct_nflog_packets_total', { netns: a.name, group: '7', prefix: 'drop-a:' })).toBe(20);
      expect(sample(text, 'nfct_nflog_packets_total', { netns: a.name, group: '7', prefix: 'other' })).toBe(6);
      expect(sample(text, 'nfct_nflog_packets_total', { netns: a.name, group: '7', prefix: 'drop-b:' }))
        .toBeUndefined();
      expect(sample(text, 'nfct_nflog_packets_lost_total', { netns: a.name, group: '7' })).toBe(0);
      expect(sample(text, 'nfct_conntrack_event_overruns_total', { netns: a.name })).toBe(0);
      execFileSync('promtool', ['check', 'metrics'], { input: text });
    } finally {
      await exporter.close();
      await a.execOk('nft', ['delete', 'table', 'inet', 'logx']);
    }
  });

  test('served over HTTP: /metrics in the Prometheus content type, other paths 404', async () => {
    const exporter: Exporter = await createExporter({ namespaces: (ns) => mine(ns.names) });
    const server = await serveExporter(exporter, { host: '127.0.0.1', port: 0 });
    const get = (path: string) =>
      new Promise<{ status: number; type: string; body: string }>((resolve, reject) => {
        request({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, path }, (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode!, type: String(res.headers['content-type']), body }));
        }).on('error', reject).end();
      });
    try {
      const ok = await get('/metrics');
      expect(ok.status).toBe(200);
      expect(ok.type).toMatch(/^text\/plain; version=0\.0\.4/);
      expect(sample(ok.body, 'nfct_conntrack_entries', { netns: b.name })).toBe(260);
      expect((await get('/nope')).status).toBe(404);
    } finally {
      server.close();
      await exporter.close();
      await exporter.close();
    }
    // After close() the registry reports no namespace.
    expect(await exporter.metrics()).not.toContain('nfct_conntrack_entries{');
  });

  test('bad options are refused naming the option', async () => {
    await expect(createExporter({ concurrency: 0 })).rejects.toThrow(/options\.concurrency must be between 1/);
    await expect(createExporter({ nflogGroups: [70000] })).rejects.toThrow(/options\.nflogGroups\[0\]/);
    await expect(createExporter({ namespaces: 'some' as never })).rejects.toThrow(
      /options\.namespaces must be 'all' or a function/,
    );
    await expect(createExporter({ port: 1 } as never)).rejects.toThrow(/unknown option 'port'/);
  });

  test('--listen forms', () => {
    expect(parseListen(':9477')).toEqual({ host: '', port: 9477 });
    expect(parseListen('9477')).toEqual({ host: undefined, port: 9477 });
    expect(parseListen('127.0.0.1:80')).toEqual({ host: '127.0.0.1', port: 80 });
    expect(parseListen('[::1]:9')).toEqual({ host: '::1', port: 9 });
    expect(() => parseListen('localhost')).toThrow(/--listen must be HOST:PORT/);
    expect(() => parseListen(':70000')).toThrow(RangeError);
  });
});
