// The shipped alert rules and dashboard against real data: a real Prometheus (Debian's) scrapes
// `nfct exporter` while one namespace's table is filled past 90% of nf_conntrack_max and
// another holds a few entries. NfctConntrackTableNearlyFull must fire for the full one only;
// once the exporter is stopped, NfctExporterDown must fire. Every query of
// deploy/grafana-dashboard.json must run, and those of the tables and the exporter must return
// series; every metric the rules and the dashboard name must be one the exporter serves.
// The rules' `for` durations are set to 0s here (promtool test rules checks them, alerts.test.ts):
// their expressions and labels are the shipped ones.
// The full table's entries live 60 s at most and are flushed once the exporter is done with them.
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { afterAll, beforeAll, expect, test } from 'vitest';
import { parse, stringify } from 'yaml';

import { freePort, killAll, type LoggedChild, running, spawnLogged } from '../helpers/children.js';
import { createNetns, type Netns } from '../helpers/netns.js';
import { fillUdp } from '../helpers/streams.js';

const ROOT = join(__dirname, '..', '..');
const CLI = join(ROOT, 'dist', 'cli', 'main.js');
const MAX = Number(readFileSync('/proc/sys/net/netfilter/nf_conntrack_max', 'utf8'));
const FULL = Math.ceil(MAX * 0.92);
const GROUP = 41000 + (process.pid % 1000);

let full: Netns;
let calm: Netns;
let dir = '';
let promPort = 0;
let exporterPort = 0;
let prom: LoggedChild | undefined;
let exporter: LoggedChild | undefined;

const why = (): string => `prometheus: ${prom?.log() ?? ''}\nexporter: ${exporter?.log() ?? ''}`;
const fill = (ns: Netns, n: number, net: number) =>
  fillUdp(ns, n, net, { dst: '10.203.0.1', timeout: 60, batchSize: 5000 });

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}
async function api<T>(path: string): Promise<T> {
  const res = await fetch(`http://127.0.0.1:${promPort}/api/v1/${path}`);
  const body = (await res.json()) as { status: string; data: T; error?: string };
  if (body.status !== 'success') throw new Error(`${path}: ${body.error ?? body.status}`);
  return body.data;
}
const query = async (q: string): Promise<Sample[]> =>
  (await api<{ result: Sample[] }>(`query?query=${encodeURIComponent(q)}`)).result;
const firing = async (alert: string): Promise<Record<string, string>[]> =>
  (await query(`ALERTS{alertname="${alert}",alertstate="firing"}`)).map((s) => s.metric);

/** Polls `check` every 250 ms until it returns a value, for at most `seconds`. */
async function until<T>(seconds: number, check: () => Promise<T | undefined>): Promise<T | undefined> {
  for (const end = Date.now() + seconds * 1000; Date.now() < end && running(prom?.child);) {
    const v = await check().catch(() => undefined);
    if (v !== undefined) return v;
    await sleep(250);
  }
  return undefined;
}

/** The shipped rule groups with every `for` at 0s. */
function rulesNow(): string {
  const spec = (parse(readFileSync(join(ROOT, 'deploy', 'prometheusrule.yaml'), 'utf8')) as {
    spec: { groups: { rules: { for?: string }[] }[] };
  }).spec;
  for (const g of spec.groups) for (const r of g.rules) if (r.for) r.for = '0s';
  return stringify(spec);
}

interface Panel {
  title: string;
  targets?: { expr: string }[];
}
const dashboard = JSON.parse(readFileSync(join(ROOT, 'deploy', 'grafana-dashboard.json'), 'utf8')) as {
  panels: Panel[];
};
const grafanaToProm = (expr: string): string => expr.replaceAll('$instance', '.*').replaceAll('$__rate_interval', '1m');
const metricNames = (expr: string): string[] =>
  [...expr.matchAll(/\b((?:nfct|process|nodejs)_[a-z_]+)\b/g)].map((m) => m[1]!).concat(
    /\bup\{/.test(expr) ? ['up'] : [],
  );

beforeAll(async () => {
  [full, calm] = await Promise.all([createNetns('nfct-alfull', { conntrack: false }),
    createNetns('nfct-alcalm', { conntrack: false })]);
  await fill(full, FULL, 60);
  await fill(calm, 25, 90);
  dir = mkdtempSync(join(tmpdir(), 'nfct-alerts-prometheus-'));
  exporterPort = await freePort();
  promPort = await freePort();
  // Every kind of stream, so that every metric the rules and the dashboard name is served: events,
  // an NFLOG group, and flow records sent as IPFIX to a UDP port of this machine (no flow ends).
  exporter = spawnLogged(process.execPath, [CLI, 'exporter', '--listen', `127.0.0.1:${exporterPort}`, '--netns-regex',
    `^(${full.name}|${calm.name})$`, '--events', '--nflog-group', String(GROUP), '--ipfix',
    `127.0.0.1:${await freePort()}`]);
  writeFileSync(join(dir, 'rules.yml'), rulesNow());
  writeFileSync(join(dir, 'prometheus.yml'), stringify({
    global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
    rule_files: [join(dir, 'rules.yml')],
    scrape_configs: [{ job_name: 'nfct-exporter', static_configs: [{ targets: [`127.0.0.1:${exporterPort}`] }] }],
  }));
  execFileSync('promtool', ['check', 'config', join(dir, 'prometheus.yml')]);
  prom = spawnLogged('prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${promPort}`]);
}, 180_000);

afterAll(async () => {
  await killAll([exporter?.child, prom?.child]);
  if (dir) rmSync(dir, { recursive: true, force: true });
  await Promise.all([full?.remove(), calm?.remove()]);
}, 60_000);

test(`NfctConntrackTableNearlyFull fires for the namespace filled past 90% (${FULL} of ${MAX}), not for the other`,
  async () => {
    const alerts = await until(90, async () => {
      const a = await firing('NfctConntrackTableNearlyFull');
      return a.length > 0 ? a : undefined;
    });
    expect(alerts, why()).toBeDefined();
    expect(alerts!.map((a) => a.netns)).toEqual([full.name]);
    expect(alerts![0]).toMatchObject({ job: 'nfct-exporter', severity: 'warning',
      instance: `127.0.0.1:${exporterPort}` });
    // What Prometheus stored is what conntrack -C says in each namespace.
    for (const [ns, n] of [[full, FULL], [calm, 25]] as const) {
      const count = Number((await ns.execOk('conntrack', ['-C'])).stdout.trim());
      expect(count).toBe(n);
      expect((await query(`nfct_conntrack_entries{netns="${ns.name}"}`)).map((s) => Number(s.value[1]))).toEqual([
        count,
      ]);
    }
    expect(await firing('NfctExporterDown')).toEqual([]);
    expect(await firing('NfctConntrackDropping')).toEqual([]);
    expect(await firing('NfctEventsLost')).toEqual([]);
    // The dashboard's fill panel shows it.
    const fill = await query(
      grafanaToProm(dashboard.panels.find((p) => p.title === 'Table fill, fullest namespaces')!.targets![0]!.expr),
    );
    expect(Number(fill.find((s) => s.metric.netns === full.name)?.value[1])).toBeCloseTo(FULL / MAX, 6);
  }, 120_000);

test('every dashboard query runs; those of the tables and the exporter return series', async () => {
  const wantData = new Set(['Table fill, fullest namespaces', 'Entries, largest tables', 'Collectors up', 'Namespaces',
    'Scrape duration', 'CPU and memory', 'Versions']);
  for (const panel of dashboard.panels) {
    for (const t of panel.targets ?? []) {
      const result = await query(grafanaToProm(t.expr));
      if (!wantData.has(panel.title) || t !== panel.targets![0] || result.length > 0) continue;
      // A rate needs two scrapes in its window: wait for them.
      const later = await until(30, async () => ((await query(grafanaToProm(t.expr))).length > 0 ? true : undefined));
      expect(later, `${panel.title}: ${t.expr} returned no series`).toBe(true);
    }
  }
  const info = await query('nfct_build_info');
  expect(info[0]?.metric).toMatchObject({
    version: (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version,
    nodejs: process.version,
    napi: process.versions.napi,
  });
}, 60_000);

test('every metric the rules and the dashboard name is one the exporter serves', async () => {
  const served = new Set(await api<string[]>('label/__name__/values'));
  const rules = (parse(readFileSync(join(ROOT, 'deploy', 'prometheusrule.yaml'), 'utf8')) as {
    spec: { groups: { rules: { expr: string }[] }[] };
  }).spec.groups.flatMap((g) => g.rules);
  const named = new Set(
    [...rules.map((r) => r.expr), ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr))].flatMap(
      metricNames,
    ),
  );
  expect(named.size).toBeGreaterThan(15);
  // Counters of no sample yet (nothing dropped) are not in Prometheus: those the exporter's own
  // text names (# HELP) count as served.
  const text = await (await fetch(`http://127.0.0.1:${exporterPort}/metrics`)).text();
  for (const m of text.matchAll(/^# HELP (\S+)/gm)) served.add(m[1]!);
  expect([...named].filter((n) => !served.has(n))).toEqual([]);
}, 60_000);

test('NfctExporterDown fires once the exporter is gone', async () => {
  const child = exporter!.child;
  const exited = running(child) ? once(child, 'exit') : undefined;
  child.kill('SIGTERM');
  await exited;
  // Done with the full table (nothing counts its DESTROY events any more).
  await full.execOk('conntrack', ['-F']);
  const down = await until(60, async () => {
    const a = await firing('NfctExporterDown');
    return a.length > 0 ? a : undefined;
  });
  expect(down, why()).toEqual([{ __name__: 'ALERTS', alertname: 'NfctExporterDown', alertstate: 'firing',
    job: 'nfct-exporter', instance: `127.0.0.1:${exporterPort}`, severity: 'warning' }]);
}, 90_000);
