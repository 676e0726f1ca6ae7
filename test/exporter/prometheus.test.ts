// A real Prometheus server (Debian's) scrapes `nfct exporter` while two namespaces hold known
// numbers of entries; its query API must give, per namespace, what `conntrack -C` there says.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { afterAll, beforeAll, expect, test } from 'vitest';

import { Conntrack } from '../../lib/index.js';
import { createNetns, type Netns } from '../helpers/netns.js';
import { CLI } from '../helpers/nfct.js';


let a: Netns;
let b: Netns;
let dir: string;
const children: ChildProcess[] = [];

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise((r) => server.close(r));
  return port;
}

function start(cmd: string, args: string[]): ChildProcess {
  const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
  Object.defineProperty(child, 'log', { get: () => err });
  children.push(child);
  return child;
}

async function fill(ns: Netns, n: number, net: number): Promise<void> {
  const ct = await Conntrack.open({ netns: ns.name });
  try {
    const flows = Array.from({ length: n }, (_, i) => ({ protocol: 'udp' as const, src: `10.${net}.${i >> 8}.${i & 255}`, dst: '10.201.0.1', srcPort: 1000, dstPort: 53, timeout: 900 }));
    expect((await ct.createMany(flows)).failed).toEqual([]);
  } finally {
    ct.close();
  }
}

beforeAll(async () => {
  [a, b] = await Promise.all([createNetns('nfct-proma'), createNetns('nfct-promb')]);
  await Promise.all([fill(a, 1234, 41), fill(b, 321, 42)]);
  dir = mkdtempSync(join(tmpdir(), 'nfct-prometheus-'));
});

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await Promise.all(children.map((c) => (c.exitCode === null && c.signalCode === null ? new Promise((r) => c.once('exit', r)) : undefined)));
  if (dir) rmSync(dir, { recursive: true, force: true });
  await Promise.all([a?.remove(), b?.remove()]);
});

test('Prometheus scrapes nfct exporter: per-namespace entries equal conntrack -C in each', async () => {
  const exporterPort = await freePort();
  const exporter = start(process.execPath, [CLI, 'exporter', '--listen', `127.0.0.1:${exporterPort}`, '--netns-regex', `^(${a.name}|${b.name})$`]);
  const promPort = await freePort();
  writeFileSync(join(dir, 'prometheus.yml'), [
    'global:',
    '  scrape_interval: 1s',
    '  scrape_timeout: 1s',
    'scrape_configs:',
    '  - job_name: nfct',
    '    static_configs:',
    `      - targets: ['127.0.0.1:${exporterPort}']`,
    '',
  ].join('\n'));
  execFileSync('promtool', ['check', 'config', join(dir, 'prometheus.yml')]);
  const prom = start('prometheus', [
    `--config.file=${join(dir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${promPort}`,
  ]);

  const query = async (q: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> => {
    const res = await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(q)}`);
    const body = (await res.json()) as { status: string; data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
    expect(body.status).toBe('success');
    return body.data.result;
  };

  let result: Awaited<ReturnType<typeof query>> = [];
  for (let i = 0; i < 120 && result.length < 2; i++) {
    await sleep(500);
    if (prom.exitCode !== null || exporter.exitCode !== null) break;
    try {
      result = await query('nfct_conntrack_entries{job="nfct"}');
    } catch {
      // not up yet
    }
  }
  const logs = () => `prometheus: ${(prom as unknown as { log: string }).log}\nexporter: ${(exporter as unknown as { log: string }).log}`;
  expect(result.length, logs()).toBe(2);
  const byNs = new Map(result.map((r) => [r.metric.netns, Number(r.value[1])]));
  for (const ns of [a, b]) {
    const count = Number((await ns.execOk('conntrack', ['-C'])).stdout.trim());
    expect(byNs.get(ns.name)).toBe(count);
  }
  expect(byNs.get(a.name)).toBe(1234);
  expect(byNs.get(b.name)).toBe(321);

  // The target is healthy and its statistics arrive as counters Prometheus can take rate() of.
  const up = await query('up{job="nfct"}');
  expect(up.map((r) => r.value[1])).toEqual(['1']);
  const inserts = await query(`sum by (netns) (nfct_conntrack_stat_insert_total{netns="${a.name}"})`);
  expect(Number(inserts[0]?.value[1])).toBeGreaterThanOrEqual(1234);
  const info = await query(`nfct_netns_info{netns="${b.name}"}`);
  expect(info[0]?.metric.names).toBe(b.name);

  // promtool's linter passes the exporter's own output.
  const text = await (await fetch(`http://127.0.0.1:${exporterPort}/metrics`)).text();
  execFileSync('promtool', ['check', 'metrics'], { input: text });
});
