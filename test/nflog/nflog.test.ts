// NFLOG: packets logged by nft `log group` and iptables `-j NFLOG` rules arrive with the count,
// prefix, interfaces and payload bytes that tcpdump -i nflog captures for the same traffic.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { decodePacket, formatLogLine, Nflog, type NflogEvent, type NflogPacketEvent, NfctError, type PacketStream, parseLogLine } from '../../lib/index.js';
import { createNetns, type Netns } from '../helpers/netns.js';
import { tcpFlow, udpFlow } from '../helpers/traffic.js';
import { readNflogPcap } from '../support/pcap-nflog.js';

let ns: Netns;
let nf: Nflog;
let dir: string;

beforeAll(async () => {
  ns = await createNetns('nfct-nflog');
  nf = await Nflog.open({ netns: ns.name });
  dir = mkdtempSync(join(tmpdir(), 'nfct-nflog-'));
});
afterAll(async () => {
  nf?.close();
  await ns?.remove();
  rmSync(dir, { recursive: true, force: true });
});

/** Collects packets until `count` have arrived or `ms` pass. */
async function collect(stream: PacketStream, count: number, ms = 5000): Promise<NflogEvent[]> {
  const out: NflogEvent[] = [];
  const timer = setTimeout(() => stream.close(), ms);
  try {
    for await (const e of stream) {
      out.push(e);
      if (out.filter((x) => x.type === 'packet').length >= count) break;
    }
  } finally {
    clearTimeout(timer);
  }
  return out;
}

/** Starts tcpdump on an nflog group inside the namespace; stop() returns the captured packets. */
async function tcpdump(group: number) {
  const file = join(dir, `g${group}.pcap`);
  const child = ns.spawn('tcpdump', ['-i', `nflog:${group}`, '-Z', 'root', '-w', file, '-U'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  for (let i = 0; i < 100 && !stderr.includes('listening'); i++) await sleep(50);
  return {
    async stop() {
      // libpcap leaves the kernel's defaults: a partial batch is flushed after 1 s.
      await sleep(1500);
      child.kill('SIGINT');
      await new Promise((r) => child.once('exit', r));
      return readNflogPcap(file);
    },
  };
}

function comparable(p: { prefix?: string; payload?: Buffer; indev?: number | { index?: number }; outdev?: number | { index?: number } }) {
  const idx = (d: number | { index?: number } | undefined) => (typeof d === 'object' ? d.index : d);
  return { prefix: p.prefix, payload: p.payload?.toString('hex'), indev: idx(p.indev), outdev: idx(p.outdev) };
}

describe('subscribe()', () => {
  test('nft log group: the same packets tcpdump -i nflog captures, prefix, devices and bytes', async () => {
    // Every packet of the test traffic is logged to two groups: 5 for us, 6 for tcpdump.
    await ns.execOk('nft', ['-f', '-'], {
      input: 'table inet logt {\n chain out { type filter hook output priority 0; ip daddr 127.0.0.0/8 meta l4proto { tcp, udp, icmp } log group 5 prefix "nft5: " log group 6 prefix "nft5: "; }\n}\n',
    });
    try {
      const stream = nf.subscribe({ group: 5 });
      const mine = collect(stream, 1000, 4000);
      const cap = await tcpdump(6);
      await sleep(100);
      await ns.execOk('ping', ['-c', '3', '-i', '0.2', '127.0.0.1']);
      await udpFlow(ns, { count: 3 });
      await tcpFlow(ns, { bytes: 500 });
      const theirs = await cap.stop();
      await sleep(300);
      stream.close();
      const got = (await mine).filter((e): e is NflogPacketEvent => e.type === 'packet');
      expect(theirs.length).toBeGreaterThanOrEqual(12);
      expect(got.length).toBe(theirs.length);
      expect(got.map(comparable)).toEqual(theirs.map(comparable));
      for (const p of got) {
        expect(p.group).toBe(5);
        expect(p.family).toBe('ipv4');
        expect(p.hookName).toBe('OUTPUT');
        expect(p.outdev).toEqual({ index: 1, name: 'lo' });
        // The prefix is the rule's, trailing space included, and survives a LOG line both ways.
        expect(p.prefix).toBe('nft5: ');
        expect(parseLogLine(formatLogLine(p)).prefix).toBe(p.prefix);
        // The headers decode, and the LOG line reads them back the same.
        const d = decodePacket(p.payload!, 'ipv4');
        expect(d.ipv4?.dst).toBe('127.0.0.1');
        const line = formatLogLine(p);
        expect(line.startsWith('nft5: IN= OUT=lo SRC=127.0.0.1 DST=127.0.0.1 ')).toBe(true);
        const parsed = parseLogLine(line);
        expect(parsed.proto).toBe(d.udp ? 'UDP' : d.tcp ? 'TCP' : 'ICMP');
        if (d.udp) expect(parsed.dpt).toBe(d.udp.dstPort);
        if (d.tcp) expect(parsed.spt).toBe(d.tcp.srcPort);
      }
      expect(got.some((p) => decodePacket(p.payload!, 'ipv4').tcp?.flags.includes('SYN'))).toBe(true);
    } finally {
      await ns.execOk('nft', ['delete', 'table', 'inet', 'logt']);
    }
  });

  test('iptables -j NFLOG --nflog-group --nflog-prefix: the same as tcpdump sees', async () => {
    const rule = (g: number) => ['-p', 'udp', '-d', '127.0.0.1', '-j', 'NFLOG', '--nflog-group', String(g), '--nflog-prefix', 'ipt: '];
    await ns.execOk('iptables', ['-A', 'OUTPUT', ...rule(7)]);
    await ns.execOk('iptables', ['-A', 'OUTPUT', ...rule(8)]);
    try {
      const stream = nf.subscribe({ group: 7, sequence: true });
      const mine = collect(stream, 100, 3000);
      const cap = await tcpdump(8);
      await sleep(100);
      await udpFlow(ns, { count: 4, size: 100 });
      const theirs = await cap.stop();
      await sleep(200);
      stream.close();
      const got = (await mine).filter((e): e is NflogPacketEvent => e.type === 'packet');
      expect(theirs.length).toBe(8); // 4 datagrams and their echoes
      expect(got.map(comparable)).toEqual(theirs.map(comparable));
      expect(got.every((p) => p.prefix === 'ipt: ')).toBe(true);
      expect(got.map((p) => p.seq)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
      expect(stream.gaps).toBe(0);
    } finally {
      await ns.execOk('iptables', ['-F', 'OUTPUT']);
    }
  });

  test('copy meta and range: no payload, or a cut one', async () => {
    await ns.execOk('nft', ['-f', '-'], {
      input: 'table inet logm {\n chain out { type filter hook output priority 0; ip daddr 127.0.0.1 icmp type echo-request log group 9 log group 10; }\n}\n',
    });
    try {
      const meta = nf.subscribe({ group: 9, copy: 'meta' });
      const cut = nf.subscribe({ group: 10, range: 20 });
      const a = collect(meta, 1);
      const b = collect(cut, 1);
      await sleep(100);
      await ns.execOk('ping', ['-c', '1', '127.0.0.1']);
      const [[pa], [pb]] = await Promise.all([a, b]);
      expect(pa?.type === 'packet' && pa.payload).toBeUndefined();
      expect(pb?.type === 'packet' && pb.payload?.length).toBe(20);
    } finally {
      await ns.execOk('nft', ['delete', 'table', 'inet', 'logm']);
    }
  });
});

describe('errors and lifecycle', () => {
  test('a group another socket holds: EBUSY naming the group', async () => {
    const first = nf.subscribe({ group: 11 });
    const it = first[Symbol.asyncIterator]();
    const pending = it.next();
    await sleep(100);
    // subscribe() itself throws (it returns bound, or not at all), not the first next().
    let err: unknown;
    try {
      nf.subscribe({ group: 11 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(NfctError);
    expect((err as NfctError).code).toBe('EBUSY');
    expect((err as NfctError).message).toContain('NFLOG group 11');
    first.close();
    expect((await pending).done).toBe(true);
    // Once released, the group can be bound again.
    const third = nf.subscribe({ group: 11 });
    const p3 = third[Symbol.asyncIterator]().next();
    await sleep(100);
    third.close();
    expect((await p3).done).toBe(true);
  });

  test('conntrack: true either attaches the entry or says the kernel cannot', async () => {
    await ns.execOk('nft', ['-f', '-'], { input: 'table inet logc {\n chain out { type filter hook output priority 0; ip daddr 127.0.0.1 icmp type echo-request log group 12; }\n}\n' });
    try {
      // A kernel that cannot refuses it at subscribe() itself.
      let r: unknown;
      try {
        const s = nf.subscribe({ group: 12, conntrack: true });
        const got = collect(s, 1, 2000).catch((e: unknown) => e);
        await sleep(100);
        await ns.execOk('ping', ['-c', '1', '127.0.0.1']);
        r = await got;
      } catch (e) {
        r = e;
      }
      if (r instanceof NfctError) {
        expect(r.code).toBe('EOPNOTSUPP');
        expect(r.message).toContain('CONFIG_NETFILTER_NETLINK_GLUE_CT');
      } else {
        const p = (r as NflogEvent[])[0];
        expect(p?.type === 'packet' && p.conntrack?.protocol).toBe('icmp');
      }
    } finally {
      await ns.execOk('nft', ['delete', 'table', 'inet', 'logc']);
    }
  });

  test('a burst into a tiny buffer: overrun items and sequence gaps, the stream goes on', async () => {
    await ns.execOk('nft', ['-f', '-'], { input: 'table inet logb {\n chain out { type filter hook output priority 0; udp dport 9999 log group 13; }\n}\n' });
    try {
      const s = nf.subscribe({ group: 13, bufferSize: 4096, maxBufferSize: 4096, maxQueueBytes: 64 << 10, qthreshold: 1, sequence: true });
      const it = s[Symbol.asyncIterator]();
      const first = it.next();
      await sleep(100);
      // 3000 datagrams as fast as a loop sends them, nobody reading meanwhile.
      await ns.execOk('node', ['-e', "const s=require('dgram').createSocket('udp4');let n=0;const b=Buffer.alloc(64);(function go(){for(let i=0;i<100&&n<3000;i++,n++)s.send(b,9999,'127.0.0.1');if(n<3000)setImmediate(go);else setTimeout(()=>s.close(),100)})()"]);
      const seen: NflogEvent[] = [(await first).value];
      // Read until quiet: 2 s without an item (a loaded machine may pause that long between
      // batches) and every overrun the stream counted seen as its item, at most 15 s in all.
      // One next() at a time: a call left waiting would take the next item unseen.
      // An overrun waits for the next packet, whose sequence number says how many were lost:
      // when the burst ended in the loss, a few more datagrams (once) bring that packet.
      const deadline = Date.now() + 15_000;
      let pending = it.next();
      let followed = false;
      while (Date.now() < deadline) {
        const r = await Promise.race([pending, sleep(2000).then(() => undefined)]);
        if (!r) {
          if (seen.filter((e) => e.type === 'overrun').length >= s.overruns) break;
          if (!followed) {
            followed = true;
            await ns.execOk('node', ['-e', "const s=require('dgram').createSocket('udp4');const b=Buffer.alloc(64);let n=0;(function go(){s.send(b,9999,'127.0.0.1');if(++n<5)setTimeout(go,20);else setTimeout(()=>s.close(),50)})()"]);
          }
          continue;
        }
        seen.push(r.value);
        pending = it.next();
      }
      const kinds: Record<string, number> = {};
      for (const e of seen) kinds[e.type] = (kinds[e.type] ?? 0) + 1;
      const state = JSON.stringify({ kinds, overruns: s.overruns, gaps: s.gaps, stats: s.stats });
      expect(seen.some((e) => e.type === 'overrun'), state).toBe(true);
      expect(s.overruns).toBeGreaterThan(0);
      // With sequence numbers the overrun item says how many were lost (gap items count losses
      // the kernel did not report); every loss is counted.
      const reported = seen.reduce((n, e) => n + (e.type === 'overrun' ? (e.lost ?? 0) : e.type === 'gap' ? e.missing : 0), 0);
      expect(s.gaps).toBeGreaterThan(0);
      expect(reported).toBe(s.gaps);
      expect(s.stats.lost).toBe(s.gaps);
      s.close();
    } finally {
      await ns.execOk('nft', ['delete', 'table', 'inet', 'logb']);
    }
  });
});
