// Side by side with ulogd2 (Debian's 2.0.8: NFCT input, IPFIX output) in the same router
// namespace on the same traffic: the same flows reach nfcapd from both. The differences the
// docs explain are asserted here, so that a change in either is seen: ulogd2 sends one
// direction's 5-tuple with both directions' counters summed, no NAT fields, no times nfdump
// reads, and only whole messages (13 flows at its 512-byte MTU); the flows still in its buffer
// when it stops are lost (it says how many).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, expect, test } from 'vitest';

import { Conntrack } from '../../lib/conntrack/handle.js';
import { IpfixExporter } from '../../lib/flows/exporter.js';
import type { FlowRecord } from '../../lib/flows/record.js';
import { startNfcapd } from './collectors.js';
import { ADDR, exchange, type Topology, useTopology } from './topology.js';

let t: Topology;
const dir = mkdtempSync(join(tmpdir(), 'nfct-ulogd-'));
useTopology(10, (topology) => (t = topology));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function ulogdConfig(): string {
  return [
    '[global]',
    `logfile="${dir}/ulogd.log"`,
    'loglevel=1',
    'plugin="/usr/lib/x86_64-linux-gnu/ulogd/ulogd_inpflow_NFCT.so"',
    'plugin="/usr/lib/x86_64-linux-gnu/ulogd/ulogd_output_IPFIX.so"',
    'stack=ct1:NFCT,ipfix1:IPFIX',
    '[ct1]',
    // DESTROY events only (with its default, NEW events become flows of zero counts), no hash
    'event_mask=0x00000004',
    'hash_enable=0',
    'netlink_socket_buffer_size=8388608',
    '[ipfix1]',
    'oid=29',
    'host="127.0.0.1"',
    'port=4739',
    'proto="udp"',
    'send_template="always"',
    '',
  ].join('\n');
}

test('the same flows reach nfcapd from ulogd2 and from nfct; the differences are the documented ones', async () => {
  const ctU = await startNfcapd(t.router.name); // ulogd2's collector, in the router namespace
  const ctN = await startNfcapd(); // ours, on the test's loopback
  const ct = await Conntrack.open({ netns: t.router.path });
  const stream = ct.flows({ sysctls: 'enable' });
  await stream.ready;
  writeFileSync(join(dir, 'ulogd.conf'), ulogdConfig());
  const ulogd = t.router.spawn('ulogd', ['-c', join(dir, 'ulogd.conf'), '-p', join(dir, 'ulogd.pid')], {
    stdio: 'ignore',
  });
  const ex = await IpfixExporter.open({ collectors: [`127.0.0.1:${ctN.port}`] });
  try {
    // ulogd2 logs once its IPFIX output has started.
    for (let i = 0; i < 100 && !safeRead(join(dir, 'ulogd.log')).includes('entering main loop'); i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(safeRead(join(dir, 'ulogd.log'))).toMatch(/entering main loop/);
    const mine: FlowRecord[] = [];
    const pump = (async () => {
      for await (const batch of stream.batches()) {
        ex.export(batch);
        for (const r of batch) if (r.type === 'flow') mine.push(r);
      }
    })();
    // 26 flows of one datagram each (100 + i bytes): two whole ulogd2 messages.
    const { sports } = await exchange(t, 'udp-many', 100, 26);
    await t.router.execOk('conntrack', ['-D', '-p', 'udp']);
    for (let i = 0; i < 200 && (mine.length < 26 || ex.stats.collectors[0]!.records < 26); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(mine).toHaveLength(26);
    // ulogd2's flows are in its collector once it says it sent them; stop it (SIGTERM) and read both.
    await new Promise((r) => setTimeout(r, 500));
    ulogd.kill('SIGTERM');
    await new Promise<void>((resolve) => (ulogd.exitCode !== null ? resolve() : ulogd.once('exit', () => resolve())));
    await stream.close();
    await pump;
    await ex.close();
    const ours = (await ctN.stop()).flows;
    const theirs = (await ctU.stop()).flows;
    expect(ours.map((f) => f.src_port).sort()).toEqual([...sports!].sort());
    // ulogd2 sent whole messages of 13; what remained in its buffer at exit it reports lost.
    expect(theirs.length % 13).toBe(0);
    expect(theirs.length).toBeGreaterThanOrEqual(13);
    const lostLine = /(\d+) flows have been lost/.exec(safeRead(join(dir, 'ulogd.log')));
    expect(theirs.length + Number(lostLine?.[1] ?? 0)).toBe(26);
    for (const u of theirs) {
      const n = ours.find((f) => f.src_port === u.src_port)!;
      const r = mine.find((x) => x.nat.original.pre.srcPort === u.src_port)!;
      // The same connection: the original direction's addresses and ports before NAT.
      expect({ src: u.src4_addr, dst: u.dst4_addr, dport: u.dst_port, proto: u.proto }).toEqual({ src: n.src4_addr,
        dst: n.dst4_addr, dport: n.dst_port, proto: n.proto });
      expect(u.src4_addr).toBe(ADDR.client);
      // ulogd2: both directions summed in one counter; nfct: each direction.
      expect(u.in_packets).toBe(n.in_packets + n.out_packets!);
      expect(u.in_bytes).toBe(n.in_bytes + n.out_bytes!);
      expect(n.in_bytes).toBe(r.counters!.original.bytes);
      // ulogd2 has no NAT fields and no times nfdump reads; nfct has both.
      expect(u.src4_xlt_ip).toBeUndefined();
      expect(n.src4_xlt_ip).toBe(ADDR.routerOut);
      expect(u.first).toMatch(/^(1970-01-01|<unknown>|0)/);
    }
  } finally {
    if (ulogd.exitCode === null) ulogd.kill('SIGKILL');
    await stream.close();
    await ex.close();
    await ct.close();
    ctU.kill();
    ctN.kill();
  }
}, 60_000);

function safeRead(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}
