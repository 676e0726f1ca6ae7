// createExporter({ flows }) and `nfct exporter --ipfix`: the exporter starts a flow stream in
// each namespace it tracks, nfcapd receives the records, and the scrape counts them, the
// overruns and what each collector was sent and lost.
import { execFileSync } from 'node:child_process';

import { expect, test } from 'vitest';

import { createExporter } from '../../lib/exporter/exporter.js';
import { sysctl } from '../helpers/netns-core.js';
import { runNfct } from '../support/run-nfct.js';
import { startNfcapd } from './collectors.js';
import { ADDR, exchange, type Topology, useTopology } from './topology.js';

let t: Topology;
useTopology(10, (topology) => (t = topology));

function value(text: string, metric: string, labels: string): number | undefined {
  const m = new RegExp(`^${metric}\\{${labels}\\} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

test('the exporter forwards flow records as IPFIX and counts them in its metrics', async () => {
  const nfcapd = await startNfcapd();
  const exporter = await createExporter({ namespaces: (ns) => ns.names.includes(t.router.name),
    flows: { collectors: [`127.0.0.1:${nfcapd.port}`], sysctls: 'enable' } });
  try {
    // The first scrape starts the namespace's flow stream, which turns the sysctls on.
    await exporter.metrics();
    for (let i = 0; i < 100 && (await sysctl(t.router, 'net.netfilter.nf_conntrack_acct')) !== '1'; i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const { sport } = await exchange(t, 'udp', 100, 2);
    await t.router.execOk('conntrack', ['-D', '-p', 'udp', '--orig-port-src', String(sport)]);
    let text = '';
    for (let i = 0; i < 100; i++) {
      text = await exporter.metrics();
      if (value(text, 'nfct_ipfix_records_sent_total', `collector="udp://127.0.0.1:${nfcapd.port}"`) === 1) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(value(text, 'nfct_flow_records_total', `netns="${t.router.name}"`)).toBe(1);
    expect(value(text, 'nfct_flow_overruns_total', `netns="${t.router.name}"`)).toBe(0);
    expect(value(text, 'nfct_ipfix_records_sent_total', `collector="udp://127.0.0.1:${nfcapd.port}"`)).toBe(1);
    expect(value(text, 'nfct_ipfix_records_lost_total', `collector="udp://127.0.0.1:${nfcapd.port}"`)).toBe(0);
    expect(value(text, 'nfct_ipfix_collector_up', `collector="udp://127.0.0.1:${nfcapd.port}"`)).toBe(1);
    execFileSync('promtool', ['check', 'metrics'], { input: text });
    await exporter.close();
    // Closing puts the sysctls back.
    expect(await sysctl(t.router, 'net.netfilter.nf_conntrack_acct')).toBe('0');
    const { flows } = await nfcapd.stop();
    expect(flows.find((f) => f.src_port === sport)).toMatchObject({ src4_addr: ADDR.client, src4_xlt_ip: ADDR.routerOut,
      dst4_xlt_ip: ADDR.server, in_packets: 2, in_bytes: 256, out_packets: 2, out_bytes: 256 });
  } finally {
    await exporter.close();
    nfcapd.kill();
  }
});

test('bad flow options are refused by createExporter() and nfct exporter', async () => {
  await expect(createExporter({ flows: { collectors: ['x'] } })).rejects.toThrow(/collectors\[0\] must be HOST:PORT/);
  await expect(createExporter({ flows: { collectors: ['127.0.0.1:4739'], sysctls: 'yes' as 'enable' } })).rejects
    .toThrow(/options\.flows\.sysctls must be 'enable' or 'keep'/);
  const r = await runNfct(['exporter', '--ipfix', 'nohost']);
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(/--ipfix must be HOST:PORT/);
});
