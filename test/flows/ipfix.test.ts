// IPFIX export against real collectors: Debian's nfcapd (UDP) read back with nfdump, and a TCP
// collector whose byte stream libfixbuf's ipfixDump decodes, including a collector that goes
// away and comes back. The records are those of traffic through DNAT and SNAT in a router
// namespace (see topology.ts).
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { Conntrack } from '../../lib/conntrack/handle.js';
import type { Flow } from '../../lib/conntrack/types.js';
import { NfctError } from '../../lib/core/errors.js';
import { IpfixExporter } from '../../lib/flows/exporter.js';
import { type FlowRecord, makeRecord } from '../../lib/flows/record.js';
import type { FlowRecordStream } from '../../lib/flows/stream.js';
import { startNfcapd, startTcpSink } from './collectors.js';
import { ADDR, createTopology, exchange, startServer, type Topology } from './topology.js';

let t: Topology;
let server: { stop(): void };
let ct: Conntrack;
let stream: FlowRecordStream;
const records: FlowRecord[] = [];
let exporters: IpfixExporter[] = [];
const waiters: (() => void)[] = [];

beforeAll(async () => {
  t = await createTopology();
  server = await startServer(t, 700);
  ct = await Conntrack.open({ netns: t.router.path });
  stream = ct.flows({ sysctls: 'enable' });
  await stream.ready;
  // One stream feeds whichever exporters the test has open, a batch at a time.
  void (async () => {
    for await (const batch of stream.batches()) {
      for (const e of exporters) e.export(batch);
      for (const r of batch) if (r.type === 'flow') records.push(r);
      for (const w of waiters.splice(0)) w();
    }
  })();
}, 60_000);

afterAll(async () => {
  await stream?.close();
  await ct?.close();
  server?.stop();
  await t?.remove();
});

async function recordOf(sport: number, ms = 15_000): Promise<FlowRecord> {
  const deadline = Date.now() + ms;
  for (;;) {
    const r = records.find((x) => x.nat.original.pre.srcPort === sport);
    if (r) return r;
    if (Date.now() > deadline) throw new Error(`no record for source port ${sport}`);
    await new Promise<void>((resolve) => {
      waiters.push(resolve);
      setTimeout(resolve, 200);
    });
  }
}

/** Ends the client's connection from `sport` now (a forced end). */
async function destroy(proto: 'tcp' | 'udp', sport: number): Promise<void> {
  await t.router.execOk('conntrack', ['-D', '-p', proto, '--orig-port-src', String(sport)]);
}

async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** nfdump's local time text of milliseconds since the epoch. */
function localMs(ms: number): string {
  const d = new Date(ms);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${
    p(d.getSeconds())
  }.${p(d.getMilliseconds(), 3)}`;
}

describe('UDP to nfcapd', () => {
  test('nfdump shows the same flows, NAT fields, packets and bytes both ways, times', async () => {
    const nfcapd = await startNfcapd();
    const ex = await IpfixExporter.open({ collectors: [`127.0.0.1:${nfcapd.port}`] });
    exporters = [ex];
    try {
      const udp = await exchange(t, 'udp', 300, 4);
      const tcp = await exchange(t, 'tcp', 5000);
      await destroy('udp', udp.sport);
      await destroy('tcp', tcp.sport);
      const mine = [await recordOf(udp.sport), await recordOf(tcp.sport)];
      await until(() => ex.stats.collectors[0]!.records >= 2, 'the records to be sent');
      exporters = [];
      await ex.close();
      const { flows, log } = await nfcapd.stop();
      expect(log).toMatch(/Sequence Errors: 0/);
      for (const r of mine) {
        const f = flows.find((x) => x.src_port === r.nat.original.pre.srcPort);
        expect(f, `nfdump has the flow from port ${r.nat.original.pre.srcPort}`).toBeDefined();
        expect(f).toMatchObject({
          proto: r.flow.protonum,
          src4_addr: ADDR.client,
          dst4_addr: ADDR.vip,
          dst_port: r.nat.original.pre.dstPort,
          src4_xlt_ip: ADDR.routerOut,
          dst4_xlt_ip: ADDR.server,
          src_xlt_port: String(r.nat.original.post.srcPort),
          dst_xlt_port: String(r.nat.original.post.dstPort),
          in_packets: r.counters!.original.packets,
          in_bytes: r.counters!.original.bytes,
          out_packets: r.counters!.reply.packets,
          out_bytes: r.counters!.reply.bytes,
          first: localMs(Number(r.start! / 1_000_000n)),
          last: localMs(Number(r.end / 1_000_000n)),
        });
      }
      // The UDP flow's sizes are known: 4 datagrams of 300 bytes + 28 each way.
      expect(flows.find((x) => x.src_port === udp.sport)).toMatchObject({ in_packets: 4, in_bytes: 4 * 328,
        out_packets: 4, out_bytes: 4 * 328 });
    } finally {
      exporters = [];
      await ex.close();
      nfcapd.kill();
    }
  });
});

describe('TCP transport (collector: a TCP listener; decoder: libfixbuf ipfixDump)', () => {
  test('a collector that goes away and comes back: reconnects, templates again, nothing lost', async () => {
    const sink = await startTcpSink();
    const errors: string[] = [];
    const ex = await IpfixExporter.open({ collectors: [`tcp://127.0.0.1:${sink.port}`],
      onError: (_c, e) => errors.push(e.message) });
    exporters = [ex];
    try {
      await until(() => ex.stats.collectors[0]!.connected, 'the connection');
      const first = await exchange(t, 'udp', 50, 1);
      await destroy('udp', first.sport);
      await recordOf(first.sport);
      await until(() => ex.stats.collectors[0]!.records >= 1, 'the first record to be sent');
      // The collector has read it (and its template) before it goes away.
      await until(() => sink.messages >= ex.stats.collectors[0]!.messages, 'the collector to read what was sent');
      await sink.down();
      await until(() => !ex.stats.collectors[0]!.connected, 'the exporter to see the collector gone');
      const second = await exchange(t, 'udp', 60, 2);
      await destroy('udp', second.sport);
      await recordOf(second.sport);
      await sink.up();
      await until(() => ex.stats.collectors[0]!.records >= 2, 'the second record after the reconnect', 20_000);
      // Handed to the kernel is not yet read: the collector reads all of it before it closes.
      await until(() => sink.messages >= ex.stats.collectors[0]!.messages, 'the collector to read the rest');
      const stats = ex.stats.collectors[0]!;
      expect(stats.reconnects).toBe(1);
      expect(stats.lost).toBe(0);
      exporters = [];
      await ex.close();
      const dump = await sink.finish();
      expect(sink.connections).toBe(2);
      // Templates went on each connection before its data.
      expect(dump.templates).toBeGreaterThanOrEqual(2);
      const ports = dump.records.map((r) => Number(r.sourceTransportPort));
      expect(ports).toEqual([first.sport, second.sport]);
      const r2 = dump.records[1]!;
      expect(r2).toMatchObject({
        sourceIPv4Address: ADDR.client,
        destinationIPv4Address: ADDR.vip,
        postNATSourceIPv4Address: ADDR.routerOut,
        postNATDestinationIPv4Address: ADDR.server,
        postNAPTDestinationTransportPort: '53',
        packetDeltaCount: '2',
        octetDeltaCount: String(2 * 88),
        reversePacketDeltaCount: '2',
        reverseOctetDeltaCount: String(2 * 88),
        flowEndReason: '4',
        biflowDirection: '1',
      });
    } finally {
      exporters = [];
      await ex.close();
      await sink.finish().catch(() => undefined);
    }
  }, 60_000);

  test('records that do not fit the queue while the collector is away are counted as lost', async () => {
    // Nothing listens on this port: the exporter keeps trying and queues up to maxQueueBytes.
    const sink = await startTcpSink();
    const port = sink.port;
    await sink.finish();
    const ex = await IpfixExporter.open({ collectors: [`tcp://127.0.0.1:${port}`], maxQueueBytes: 65_536 });
    try {
      const flow = { family: 'ipv4', protocol: 'udp', protonum: 17,
        original: { src: '10.0.0.1', dst: '10.0.0.2', protonum: 17, srcPort: 1, dstPort: 2 },
        reply: { src: '10.0.0.2', dst: '10.0.0.1', protonum: 17, srcPort: 2, dstPort: 1 },
        status: undefined } as unknown as Flow;
      const batch = Array.from({ length: 2000 },
        () => makeRecord(flow, 'idle-timeout', { time: 1_700_000_000_000_000_000n, source: 'received' }, undefined));
      ex.export(batch);
      const s = ex.stats.collectors[0]!;
      expect(s.connected).toBe(false);
      expect(s.lost).toBeGreaterThan(0);
      expect(s.queuedBytes).toBeLessThanOrEqual(65_536);
      await until(() => ex.stats.collectors[0]!.lastError !== undefined, 'the refused connection');
      await ex.close(100);
      // Never delivered: every record is counted, queued ones at close.
      expect(ex.stats.collectors[0]!.lost).toBe(2000);
      expect(ex.stats.collectors[0]!.lastError).toMatch(/ECONNREFUSED/);
    } finally {
      await ex.close();
    }
  });
});

describe('bad collectors and options', () => {
  test('clear errors before anything is sent', async () => {
    await expect(IpfixExporter.open({ collectors: ['no-such-host.invalid:4739'] })).rejects.toThrow(NfctError);
    await expect(IpfixExporter.open({ collectors: ['no-such-host.invalid:4739'] })).rejects.toThrow(
      /cannot resolve "no-such-host.invalid"/,
    );
    await expect(IpfixExporter.open({ collectors: ['127.0.0.1'] })).rejects.toThrow(
      /collectors\[0\] must be HOST:PORT/,
    );
    await expect(IpfixExporter.open({ collectors: ['127.0.0.1:0'] })).rejects.toThrow(RangeError);
    await expect(IpfixExporter.open({ collectors: ['sctp://127.0.0.1:4739'] })).rejects.toThrow(TypeError);
    await expect(IpfixExporter.open({ collectors: ['[10.0.0.1]:4739'] })).rejects.toThrow(/not an IPv6 address/);
    await expect(IpfixExporter.open({ collectors: [] })).rejects.toThrow(/non-empty array/);
    await expect(IpfixExporter.open({ collectors: ['127.0.0.1:4739'], maxMessageSize: 100 })).rejects.toThrow(
      /maxMessageSize must be between 256 and 65507/,
    );
    await expect(
      IpfixExporter.open({ collectors: ['127.0.0.1:4739'], colectors: [] } as object as { collectors: string[] }),
    ).rejects.toThrow(/unknown option 'colectors'/);
  });

  test('UDP to a port nobody listens on: the refused sends are counted and said', async () => {
    const errors: string[] = [];
    const sink = await startTcpSink(); // a free port number, for UDP nobody listens on it either
    const port = sink.port;
    await sink.finish();
    const ex = await IpfixExporter.open({ collectors: [`127.0.0.1:${port}`],
      onError: (_c, e) => errors.push((e as NodeJS.ErrnoException).code ?? '') });
    try {
      const flow = { family: 'ipv4', protocol: 'udp', protonum: 17,
        original: { src: '10.0.0.1', dst: '10.0.0.2', protonum: 17, srcPort: 1, dstPort: 2 },
        reply: { src: '10.0.0.2', dst: '10.0.0.1', protonum: 17, srcPort: 2, dstPort: 1 } } as unknown as Flow;
      // Five records, each its own message, 20 ms apart: the host refuses each (an ICMP port
      // unreachable, reported on the socket before the next send), so all five are lost.
      for (let i = 0; i < 5; i++) {
        ex.export([
          makeRecord(flow, 'idle-timeout', { time: 1_700_000_000_000_000_000n, source: 'received' }, undefined),
        ]);
        await new Promise((r) => setTimeout(r, 20));
      }
      for (let end = Date.now() + 5000; ex.stats.collectors[0]!.lost < 5 && Date.now() < end;) {
        await new Promise((r) => setTimeout(r, 20));
      }
      // (A send the refusal of the one before made fail is lost without being handed over.)
      const c = ex.stats.collectors[0]!;
      expect([c.lost, c.records - c.refused]).toEqual([5, 0]);
      expect(c.refused).toBeGreaterThan(0);
      expect(errors).toContain('ECONNREFUSED');
    } finally {
      await ex.close();
    }
  });
});
