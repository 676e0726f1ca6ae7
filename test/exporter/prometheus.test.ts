// A real Prometheus server (Debian's) scrapes `nfct exporter` while two namespaces hold known
// numbers of entries; its query API must give, per namespace, what `conntrack -C` there says.
import { type ChildProcess, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { afterAll, beforeAll, expect, test } from 'vitest';

import { freePort, killAll, type LoggedChild, spawnLogged } from '../helpers/children.js';
import { createNetns, type Netns } from '../helpers/netns.js';
import { CLI } from '../helpers/nfct.js';
import { fillUdp } from '../helpers/streams.js';

let a: Netns;
let b: Netns;
let dir: string;
const children: ChildProcess[] = [];
const fill = (ns: Netns, n: number, net: number) => fillUdp(ns, n, net, { dst: '10.201.0.1', timeout: 900 });

function start(cmd: string, args: string[]): LoggedChild {
  const started = spawnLogged(cmd, args);
  children.push(started.child);
  return started;
}

beforeAll(async () => {
  [a, b] = await Promise.all([createNetns('nfct-proma'), createNetns('nfct-promb')]);
  await Promise.all([fill(a, 1234, 41), fill(b, 321, 42)]);
  dir = mkdtempSync(join(tmpdir(), 'nfct-prometheus-'));
});

afterAll(async () => {
  await killAll(children);
  if (dir) rmSync(dir, { recursive: true, force: true });
  await Promise.all([a?.remove(), b?.remove()]);
});

/** Prometheus with these scrape jobs (YAML lines under scrape_configs); its query API. */
async function prometheus(jobs: string[], name: string): Promise<
  { query: (q: string) => Promise<{ metric: Record<string, string>; value: [number, string] }[]>; log: () => string }
> {
  const promPort = await freePort();
  const config = join(dir, `${name}.yml`);
  writeFileSync(config,
    ['global:', '  scrape_interval: 1s', '  scrape_timeout: 1s', 'scrape_configs:', ...jobs, ''].join('\n'));
  execFileSync('promtool', ['check', 'config', config]);
  const prom = start('prometheus', [`--config.file=${config}`, `--storage.tsdb.path=${join(dir, `${name}-data`)}`,
    `--web.listen-address=127.0.0.1:${promPort}`]);
  const query = async (q: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> => {
    const res = await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(q)}`);
    const body = (await res.json()) as { status: string;
      data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
    expect(body.status).toBe('success');
    return body.data.result;
  };
  return { query, log: prom.log };
}

/** Polls a query until it gives `n` series (Prometheus starting, then scraping every second; bounded). */
async function until(query: (q: string) => Promise<unknown[]>, q: string, n: number,
  alive: () => boolean): Promise<Awaited<ReturnType<typeof query>>>
{
  let result: unknown[] = [];
  for (let i = 0; i < 120 && result.length < n; i++) {
    await sleep(500);
    if (!alive()) break;
    try {
      result = await query(q);
    } catch {
      // not up yet
    }
  }
  return result;
}

test('Prometheus scrapes nfct exporter: per-namespace entries equal conntrack -C in each', async () => {
  const exporterPort = await freePort();
  const exporter = start(process.execPath, [CLI, 'exporter', '--listen', `127.0.0.1:${exporterPort}`, '--netns-regex',
    `^(${a.name}|${b.name})$`]);
  const prom = await prometheus(['  - job_name: nfct', '    static_configs:',
    `      - targets: ['127.0.0.1:${exporterPort}']`], 'plain');
  const { query } = prom;
  const result =
    (await until(query, 'nfct_conntrack_entries{job="nfct"}', 2, () => exporter.child.exitCode === null)) as Awaited<
      ReturnType<typeof query>
    >;
  const logs = () => `prometheus: ${prom.log()}\nexporter: ${exporter.log()}`;
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

test('Prometheus scrapes over TLS with basic auth (--web-config): the right password is up with the figures, a wrong one is refused', async () => {
  // A CA and a certificate for 127.0.0.1 (openssl), a bcrypt hash (htpasswd), the exporter toolkit's web configuration.
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  ssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out',
    'ca.crt', '-days', '2', '-subj', '/CN=nfct test CA');
  ssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'server.key', '-out',
    'server.csr', '-subj', '/CN=nfct exporter');
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1\n');
  ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt',
    '-days', '2', '-extfile', 'server.ext');
  const hash = execFileSync('htpasswd', ['-nbBC', '10', 'prometheus', 'scrape-pass'], { encoding: 'utf8' }).trim()
    .split(':')[1]!;
  writeFileSync(join(dir, 'web.yml'),
    ['tls_server_config:', '  cert_file: server.crt', '  key_file: server.key', 'basic_auth_users:',
      `  prometheus: '${hash}'`, ''].join('\n'));

  const exporterPort = await freePort();
  const exporter = start(process.execPath, [CLI, 'exporter', '--listen', `127.0.0.1:${exporterPort}`, '--web-config',
    join(dir, 'web.yml'), '--netns-regex', `^(${a.name}|${b.name})$`]);
  const job = (name: string, password: string) => [
    `  - job_name: ${name}`,
    '    scheme: https',
    '    tls_config:',
    `      ca_file: ${join(dir, 'ca.crt')}`,
    '    basic_auth:',
    '      username: prometheus',
    `      password: ${password}`,
    '    static_configs:',
    `      - targets: ['127.0.0.1:${exporterPort}']`,
  ];
  const prom = await prometheus([...job('nfct-tls', 'scrape-pass'), ...job('nfct-tls-wrong', 'not-it')], 'tls');
  const result =
    (await until(prom.query, 'nfct_conntrack_entries{job="nfct-tls"}', 2,
      () => exporter.child.exitCode === null)) as Awaited<
        ReturnType<typeof prom.query>
      >;
  expect(result.length, `prometheus: ${prom.log()}\nexporter: ${exporter.log()}`).toBe(2);
  expect(new Map(result.map((r) => [r.metric.netns, Number(r.value[1])]))).toEqual(
    new Map([[a.name, 1234], [b.name, 321]]),
  );
  expect((await prom.query('up{job="nfct-tls"}')).map((r) => r.value[1])).toEqual(['1']);
  // The wrong password: scraped (up is there) and refused (0), with nothing of ours.
  const wrong = (await until(prom.query, 'up{job="nfct-tls-wrong"}', 1, () => true)) as Awaited<
    ReturnType<typeof prom.query>
  >;
  expect(wrong.map((r) => r.value[1])).toEqual(['0']);
  expect(await prom.query('nfct_conntrack_entries{job="nfct-tls-wrong"}')).toEqual([]);
});
