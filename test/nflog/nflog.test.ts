// NFLOG: packets logged by nft `log group` and iptables `-j NFLOG` rules arrive with the count,
// prefix, interfaces and payload bytes that tcpdump -i nflog captures for the same traffic.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { decodePacket, formatLogLine, NfctError, Nflog, type NflogEvent, type NflogPacketEvent, type PacketStream,
  parseLogLine } from '../../lib/index.js';
import { kernelConfig } from '../helpers/kernel-config.js';
import { createNetns, type Netns } from '../helpers/netns.js';
import { BOUND_MS, stderrLine, until, WaitTimeout } from '../helpers/sentinel.js';
import { flood, nftCounter } from '../helpers/streams.js';
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
  await nf?.close();
  await ns?.remove();
  rmSync(dir, { recursive: true, force: true });
});

/**
 * Reads `stream` until `count` packets have arrived; with them, any other item that came.
 * The bound only fails the test (the caller compares what arrived with what it expects).
 */
async function take(stream: PacketStream, count: number, what: string): Promise<NflogEvent[]> {
  const out: NflogEvent[] = [];
  const packets = () => out.filter((x) => x.type === 'packet').length;
  const timer = setTimeout(() => void stream.close(), BOUND_MS);
  try {
    for await (const e of stream) {
      out.push(e);
      if (packets() >= count) break;
    }
  } finally {
    clearTimeout(timer);
  }
  if (packets() < count) throw new WaitTimeout(`${count} packets ${what}`, BOUND_MS, `${packets()} arrived`);
  return out;
}

/** Packets counted by each rule of `chain` (iptables -nvxL), in rule order. */
async function iptablesPackets(chain: string): Promise<number[]> {
  const r = await ns.execOk('iptables', ['-w', '-nvxL', chain]);
  return r.stdout.split('\n').slice(2).filter((l) => l.trim()).map((l) => Number(l.trim().split(/\s+/)[0]));
}

/**
 * Starts tcpdump on an nflog group inside the namespace, resolving once it says it listens
 * (libpcap has bound the group by then). stop(n) waits for the capture file to hold the n
 * packets the kernel logged (tcpdump -U writes each as it comes; the kernel hands a partial
 * batch to tcpdump's socket after its flush timeout), stops tcpdump and returns them.
 */
async function tcpdump(group: number) {
  const file = join(dir, `g${group}.pcap`);
  const child = ns.spawn('tcpdump', ['-i', `nflog:${group}`, '-Z', 'root', '-w', file, '-U'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  await stderrLine(child, /listening on/, `tcpdump -i nflog:${group} to listen`);
  const captured = () => (existsSync(file) ? readNflogPcap(file) : []);
  return {
    async stop(count: number) {
      try {
        await until(() => captured().length >= count, `tcpdump to capture ${count} packets`, {
          detail: () => `${captured().length} captured`,
        });
      } finally {
        child.kill('SIGINT');
        if (child.exitCode === null) await new Promise((r) => child.once('exit', r));
      }
      return captured();
    },
  };
}

function comparable(
  p: { prefix?: string; payload?: Buffer; indev?: number | { index?: number }; outdev?: number | { index?: number } },
) {
  const idx = (d: number | { index?: number } | undefined) => (typeof d === 'object' ? d.index : d);
  return { prefix: p.prefix, payload: p.payload?.toString('hex'), indev: idx(p.indev), outdev: idx(p.outdev) };
}

describe('subscribe()', () => {
  test('nft log group: the same packets tcpdump -i nflog captures, prefix, devices and bytes', async () => {
    // Every packet of the test traffic is logged to two groups: 5 for us, 6 for tcpdump.
    await ns.execOk('nft', ['-f', '-'], {
      input:
        'table inet logt {\n chain out { type filter hook output priority 0; ip daddr 127.0.0.0/8 meta l4proto { tcp, udp, icmp } counter log group 5 prefix "nft5: " log group 6 prefix "nft5: "; }\n}\n',
    });
    try {
      // subscribe() returns with the group bound: what is logged from now on is queued for us.
      const stream = nf.subscribe({ group: 5 });
      const cap = await tcpdump(6);
      await ns.execOk('ping', ['-c', '3', '-i', '0.2', '127.0.0.1']);
      await udpFlow(ns, { count: 3 });
      await tcpFlow(ns, { bytes: 500 });
      // The rule's counter: how many packets the kernel logged, to each group.
      const logged = await nftCounter(ns, 'logt');
      const theirs = await cap.stop(logged);
      const mine = await take(stream, logged, 'logged to group 5');
      await stream.close();
      const got = mine.filter((e): e is NflogPacketEvent => e.type === 'packet');
      expect(mine.length).toBe(logged);
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
    const rule = (
      g: number,
    ) => ['-p', 'udp', '-d', '127.0.0.1', '-j', 'NFLOG', '--nflog-group', String(g), '--nflog-prefix', 'ipt: '];
    await ns.execOk('iptables', ['-A', 'OUTPUT', ...rule(7)]);
    await ns.execOk('iptables', ['-A', 'OUTPUT', ...rule(8)]);
    try {
      const stream = nf.subscribe({ group: 7, sequence: true });
      const cap = await tcpdump(8);
      await udpFlow(ns, { count: 4, size: 100 });
      // Each rule's counter: 4 datagrams and their echoes, logged by each.
      const logged = await iptablesPackets('OUTPUT');
      expect(logged).toEqual([8, 8]);
      const theirs = await cap.stop(8);
      const mine = await take(stream, 8, 'logged to group 7');
      await stream.close();
      const got = mine.filter((e): e is NflogPacketEvent => e.type === 'packet');
      expect(mine.length).toBe(8);
      expect(theirs.length).toBe(8);
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
      input:
        'table inet logm {\n chain out { type filter hook output priority 0; ip daddr 127.0.0.1 icmp type echo-request log group 9 log group 10; }\n}\n',
    });
    try {
      const meta = nf.subscribe({ group: 9, copy: 'meta' });
      const cut = nf.subscribe({ group: 10, range: 20 });
      const a = take(meta, 1, 'logged to group 9');
      const b = take(cut, 1, 'logged to group 10');
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
    // subscribe() itself throws (it returns bound, or not at all), not the first next().
    let err: unknown;
    try {
      nf.subscribe({ group: 11 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(NfctError);
    expect((err as NfctError).code).toBe('EBUSY');
    // Said first (the stream's context), and again in the reason the bind failed.
    expect((err as NfctError).message).toMatch(/^NFLOG group 11: nfnetlink_log failed with EBUSY\b.*NFLOG group 11/);
    await first.close();
    expect((await pending).done).toBe(true);
    // Once released, the group can be bound again.
    const third = nf.subscribe({ group: 11 });
    const p3 = third[Symbol.asyncIterator]().next();
    await third.close();
    expect((await p3).done).toBe(true);
  });

  // The kernel attaches the entry only when built with CONFIG_NETFILTER_NETLINK_GLUE_CT; the
  // kernel's own configuration says which of the two must happen here.
  test('conntrack: true attaches the entry on a kernel built with the glue, and is refused at subscribe() on one without', async () => {
    const glue = kernelConfig('CONFIG_NETFILTER_NETLINK_GLUE_CT');
    await ns.execOk('nft', ['-f', '-'], {
      input:
        'table inet logc {\n chain out { type filter hook output priority 0; ip daddr 127.0.0.1 icmp type echo-request log group 12; }\n}\n',
    });
    try {
      if (glue === 'y') {
        const s = nf.subscribe({ group: 12, conntrack: true });
        const got = take(s, 1, 'logged to group 12');
        await ns.execOk('ping', ['-c', '1', '127.0.0.1']);
        const [p] = await got;
        await s.close();
        expect(p?.type).toBe('packet');
        if (p?.type !== 'packet') return;
        expect(p.conntrack?.protocol).toBe('icmp');
        expect(p.conntrack?.original.src).toBe('127.0.0.1');
        expect(p.conntrack?.original.dst).toBe('127.0.0.1');
      } else {
        let err: unknown;
        try {
          await nf.subscribe({ group: 12, conntrack: true }).close();
        } catch (e) {
          err = e;
        }
        expect(err).toBeInstanceOf(NfctError);
        expect((err as NfctError).code).toBe('EOPNOTSUPP');
        expect((err as NfctError).message).toContain('CONFIG_NETFILTER_NETLINK_GLUE_CT');
        // The group is free again: the same subscription without conntrack works.
        const s = nf.subscribe({ group: 12 });
        const got = take(s, 1, 'logged to group 12');
        await ns.execOk('ping', ['-c', '1', '127.0.0.1']);
        const [p] = await got;
        await s.close();
        expect(p?.type === 'packet' && p.conntrack).toBeUndefined();
      }
    } finally {
      await ns.execOk('nft', ['delete', 'table', 'inet', 'logc']);
    }
  });

  test('a burst into a tiny buffer: overrun items and sequence gaps, the stream goes on; packets received + lost = packets the kernel logged', async () => {
    // One rule with a counter logs the burst (port 9999) and the markers (port 9998) that follow it.
    await ns.execOk('nft', ['-f', '-'], {
      input:
        'table inet logb {\n chain out { type filter hook output priority 0; udp dport { 9998, 9999 } counter log group 13; }\n}\n',
    });
    try {
      const s = nf.subscribe({ group: 13, bufferSize: 4096, maxBufferSize: 4096, maxQueueBytes: 64 << 10, qthreshold: 1,
        sequence: true });
      const it = s[Symbol.asyncIterator]();
      // 3000 datagrams as fast as a loop sends them, nobody reading meanwhile.
      await flood(ns, 9999, 3000);
      // Then read. An overrun waits for the next packet, whose sequence number says how many
      // were lost, so when the burst ended in a loss a marker datagram brings that packet.
      // Everything is accounted for once the packets received plus those the stream reports
      // lost equal the rule's counter. A marker is sent whenever nothing has come for a while
      // (that pause decides nothing: only the count ends the loop).
      const seen: NflogEvent[] = [];
      const packets = () => seen.filter((e) => e.type === 'packet').length;
      const reported = () =>
        seen.reduce((n, e) => n + (e.type === 'overrun' ? (e.lost ?? 0) : e.type === 'gap' ? e.missing : 0), 0);
      const marker = () => ns.execOk('bash', ['-c', 'echo m > /dev/udp/127.0.0.1/9998']);
      const deadline = Date.now() + BOUND_MS;
      let pending = it.next();
      let logged = await nftCounter(ns, 'logb');
      let markers = 0;
      while (packets() + reported() !== logged) {
        const state = () =>
          JSON.stringify({ logged, packets: packets(), reported: reported(), markers, stats: s.stats });
        if (Date.now() > deadline) {
          throw new WaitTimeout('every logged packet to arrive or be reported lost', BOUND_MS, state());
        }
        const r = await Promise.race([pending, sleep(300).then(() => undefined)]);
        if (r === undefined) {
          await marker();
          markers++;
          logged = await nftCounter(ns, 'logb');
        } else {
          expect(r.done, state()).toBe(false);
          seen.push(r.value);
          pending = it.next();
        }
      }
      await s.close();
      const kinds: Record<string, number> = {};
      for (const e of seen) kinds[e.type] = (kinds[e.type] ?? 0) + 1;
      const state = JSON.stringify({ kinds, logged, overruns: s.overruns, gaps: s.gaps, stats: s.stats });
      expect(logged, state).toBeGreaterThanOrEqual(3000);
      expect(seen.some((e) => e.type === 'overrun'), state).toBe(true);
      expect(s.overruns).toBeGreaterThan(0);
      expect(packets(), state).toBeLessThan(logged);
      // The loss the stream reports, in its items and in its counters, is the kernel's count
      // of logged packets minus those that arrived.
      expect(reported(), state).toBe(logged - packets());
      expect(s.gaps).toBe(logged - packets());
      expect(s.stats.lost).toBe(logged - packets());
    } finally {
      await ns.execOk('nft', ['delete', 'table', 'inet', 'logb']);
    }
  });
});

describe('packet fields', () => {
  // tcpdump -i nflog reads the same NFLOG messages with libpcap's own parser: the oracle for every
  // field the kernel sends without a group flag. The rules say what mark and hooks must be seen,
  // setpriv which user sent the datagram.
  test('mark, uid/gid, hook, link layer and time as tcpdump reads them; sequence numbers and conntrack as asked', async () => {
    const glue = kernelConfig('CONFIG_NETFILTER_NETLINK_GLUE_CT') === 'y';
    await ns.execOk('nft', ['-f', '-'], {
      input: 'table inet logf {\n'
        + ' chain out { type filter hook output priority 0; udp dport 9 meta mark set 0x2a log group 21 log group 22; }\n'
        + ' chain in { type filter hook input priority 0; udp dport 9 log group 21 log group 22; }\n}\n',
    });
    try {
      const stream = nf.subscribe({ group: 21, sequence: 'both', conntrack: glue });
      const cap = await tcpdump(22);
      await ns.execOk('setpriv', ['--reuid=1234', '--regid=1234', '--clear-groups', 'bash', '-c',
        'echo x > /dev/udp/127.0.0.1/9']);
      const got = (await take(stream, 2, 'logged at output and input')).filter(
        (e): e is NflogPacketEvent => e.type === 'packet',
      );
      await stream.close();
      const ref = await cap.stop(2);
      expect(got.map((p) => p.hookName)).toEqual(['OUTPUT', 'INPUT']);
      for (const [i, p] of got.entries()) {
        const r = ref[i]!;
        expect({ hook: p.hook, hwProtocol: p.hwProtocol, mark: p.mark, uid: p.uid, gid: p.gid, hwType: p.hwType,
          hwHeader: p.hwHeader?.toString('hex') }).toEqual({ hook: r.hook, hwProtocol: r.hwProtocol, mark: r.mark,
            uid: r.uid, gid: r.gid, hwType: r.hwType, hwHeader: r.hwHeader?.toString('hex') });
        // The kernel stamps a packet without a time of its own when it builds each group's message:
        // the two copies may be a microsecond apart.
        expect(p.timestamp === undefined).toBe(r.time === undefined);
        if (p.timestamp !== undefined && r.time) {
          const theirs = r.time.sec * 1_000_000_000n + r.time.usec * 1000n;
          expect(p.timestamp % 1000n).toBe(0n);
          expect(Number(p.timestamp - theirs)).toBeGreaterThanOrEqual(-1_000_000);
          expect(Number(p.timestamp - theirs)).toBeLessThanOrEqual(1_000_000);
        }
      }
      const [out, inp] = got as [NflogPacketEvent, NflogPacketEvent];
      expect(out).toMatchObject({ hook: 3, hwProtocol: 0x0800, mark: 0x2a, uid: 1234, gid: 1234 });
      expect(inp).toMatchObject({ hook: 1, indev: { index: 1, name: 'lo' }, hwType: 772 });
      expect(inp.timestamp).toBeTypeOf('bigint');
      // One group, both packets: its own numbers and the global ones each go up by one.
      expect(inp.seq).toBe(out.seq! + 1);
      expect(inp.seqGlobal).toBe(out.seqGlobal! + 1);
      if (glue) {
        // IP_CT_NEW: the datagram has no reply yet, at either hook.
        expect([out.ctinfo, inp.ctinfo]).toEqual([2, 2]);
        expect(out.conntrack).toMatchObject({ protocol: 'udp', original: { dst: '127.0.0.1', dport: 9 } });
      } else {
        expect(out.ctinfo).toBeUndefined();
      }
    } finally {
      await ns.execOk('nft', ['delete', 'table', 'inet', 'logf']);
    }
  });
});
