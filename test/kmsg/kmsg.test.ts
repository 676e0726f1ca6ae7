/**
 * KernelLog on /dev/kmsg with the real kernel, in a throwaway namespace (LOG lines of a
 * namespace other than the initial one reach the log only with nf_log_all_netns=1: held for
 * the run and put back after): -j LOG of iptables-legacy and iptables-nft and nft `log`
 * statements give the packets that were sent, field for field, with the text, level and time
 * dmesg -r shows and the raw /dev/kmsg record holds; legacy -j TRACE with the syslog logger
 * gives per-packet traces whose rule texts are iptables-legacy-save's; a ring buffer that
 * overwrote records gives a loss item of the exact count; a stream read from the start has
 * every record dmesg still shows. Every prefix and port is this run's own: lines of other
 * tests running on the machine do not count.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, constants, openSync, readSync, writeSync } from 'node:fs';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { KernelLog, type KernelLogItem, type KernelLogPacket, type KernelLogStream,
  type TracePacket } from '../../lib/index.js';
import { createNetns, type Netns } from '../helpers/netns.js';
import { holdSysctl } from '../helpers/sysctl-hold.js';
import { collect as collectItems } from './collect.js';

const TAG = `nk${process.pid.toString(36)}${randomBytes(2).toString('hex')}`;
let ns: Netns;
let release: (() => void) | undefined;

beforeAll(async () => {
  ns = await createNetns('nfct-kmsg', { conntrack: false });
  release = holdSysctl('net.netfilter.nf_log_all_netns', '1');
});
afterAll(async () => {
  await ns?.remove();
  release?.();
});

/** Items until `done`, reading while `act` runs; a timeout only bounds a failure. */
const collect = (stream: KernelLogStream, done: (items: KernelLogItem[]) => boolean, act: () => Promise<unknown>,
  ms = 15_000): Promise<KernelLogItem[]> => collectItems(stream, done, act, ms);

/** One UDP datagram from inside the namespace: `size` bytes from sport to host:dport. */
function sendUdp(host: string, sport: number, dport: number, size: number): Promise<unknown> {
  const family = host.includes(':') ? 'udp6' : 'udp4';
  return ns.execOk('node', ['-e',
    `const s=require('dgram').createSocket('${family}');s.bind(${sport},'${host}',()=>s.send(Buffer.alloc(${size},120),${dport},'${host}',()=>s.close()))`]);
}

/** The records /dev/kmsg holds now, read raw (header split by hand, text unescaped), by sequence number. */
function rawRecords(): Map<number, { level: number; usec: number; text: string }> {
  const out = new Map<number, { level: number; usec: number; text: string }>();
  const fd = openSync('/dev/kmsg', constants.O_RDONLY | constants.O_NONBLOCK);
  const buf = Buffer.alloc(16384);
  try {
    for (;;) {
      let n: number;
      try {
        n = readSync(fd, buf, 0, buf.length, null);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EPIPE') continue;
        if (code === 'EAGAIN') break;
        throw e;
      }
      const rec = buf.toString('latin1', 0, n);
      const semi = rec.indexOf(';');
      const [prio, seq, usec] = rec.slice(0, semi).split(',');
      const text = rec.slice(semi + 1, rec.indexOf('\n')).replace(/\\x([0-9a-f]{2})/g,
        (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
      out.set(Number(seq), { level: Number(prio) & 7, usec: Number(usec), text });
    }
  } finally {
    closeSync(fd);
  }
  return out;
}

/** `dmesg -r` lines holding `tag`: level, the time as printed, the text. */
async function dmesg(tag: string): Promise<{ level: number; time: string; text: string }[]> {
  const r = await ns.execOk('dmesg', ['-r']);
  return r.stdout
    .split('\n')
    .filter((l) => l.includes(tag))
    .map((l) => {
      const m = /^<(\d+)>\[\s*([\d.]+)\] (.*)$/.exec(l)!;
      return { level: Number(m[1]) & 7, time: m[2]!, text: m[3]! };
    });
}

const packets = (items: KernelLogItem[]): KernelLogPacket[] =>
  items.filter((i): i is KernelLogPacket => i.type === 'packet');

describe('LOG lines of iptables-legacy, iptables-nft and nft log', () => {
  test('the datagram sent, field for field; the text, level and time dmesg -r shows and the raw record holds', async () => {
    const P = `${TAG}u`;
    const dport = 31000 + (process.pid % 1000);
    await ns.execOk('iptables-legacy', ['-A', 'OUTPUT', '-p', 'udp', '--dport', String(dport), '-j', 'LOG',
      '--log-prefix', `${P}L `, '--log-level', '6', '--log-uid']);
    await ns.execOk('iptables-nft', ['-A', 'OUTPUT', '-p', 'udp', '--dport', String(dport), '-j', 'LOG', '--log-prefix',
      `${P}N `]);
    await ns.execOk('nft', ['-f', '-'], {
      input:
        `table inet ${P} {\n chain out {\n  type filter hook output priority 10;\n  udp dport ${dport} log prefix "${P}F " level info\n }\n}\n`,
    });
    const stream = KernelLog.follow({ prefix: P });
    const sent = Date.now();
    const items = packets(await collect(stream, (got) => got.length >= 3, () => sendUdp('127.0.0.1', 4242, dport, 11)));
    expect(items.map((p) => p.prefix).sort()).toEqual([`${P}F `, `${P}L `, `${P}N `]);
    for (const p of items) {
      expect(p).toMatchObject({ source: 'kmsg', family: 'ipv4', src: '127.0.0.1', dst: '127.0.0.1', proto: 'UDP',
        protocol: 17, spt: 4242, dpt: dport, len: 28 + 11, udpLen: 8 + 11, ttl: 64, outdev: { name: 'lo' }, extra: [],
        unparsed: [] });
      expect(p.indev).toBeUndefined();
      expect(Math.abs(Number(p.timestamp! / 1_000_000n) - sent)).toBeLessThan(5000);
    }
    expect(items.find((p) => p.prefix === `${P}L `)).toMatchObject({ level: 6, uid: 0, gid: 0 });
    expect(items.find((p) => p.prefix === `${P}N `)).toMatchObject({ level: 4 });
    // The oracles: what dmesg prints, and the records as /dev/kmsg gives them.
    const shown = await dmesg(P);
    const raw = rawRecords();
    expect(shown).toHaveLength(3);
    for (const p of items) {
      const d = shown.find((s) => s.text.startsWith(p.prefix))!;
      expect([p.message, p.level, p.kernelTime!.toFixed(6)]).toEqual([d.text, d.level, d.time]);
      expect(raw.get(p.seq!)).toEqual({ level: p.level, usec: Math.round(p.kernelTime! * 1e6), text: p.message });
    }
  });

  test('TCP with sequence and options, an ICMP error quoting the datagram it answers, IPv6', async () => {
    const P = `${TAG}t`;
    const tport = 32000 + (process.pid % 1000);
    const uport = tport + 1;
    await ns.execOk('iptables-legacy', ['-A', 'OUTPUT', '-p', 'tcp', '--dport', String(tport), '--syn', '-j', 'LOG',
      '--log-prefix', `${P}S `, '--log-tcp-sequence', '--log-tcp-options']);
    await ns.execOk('iptables-legacy', ['-A', 'OUTPUT', '-p', 'icmp', '--icmp-type', 'port-unreachable', '-j', 'LOG',
      '--log-prefix', `${P}I `]);
    await ns.execOk('ip6tables-legacy', ['-A', 'OUTPUT', '-p', 'udp', '--dport', String(uport), '-j', 'LOG',
      '--log-prefix', `${P}6 `]);
    const stream = KernelLog.follow({ prefix: P });
    const items = packets(
      await collect(stream, (got) => got.length >= 3, async () => {
        await ns.exec('node', ['-e', `const c=require('net').connect(${tport},'127.0.0.1');c.on('error',()=>{})`]);
        await sendUdp('127.0.0.1', 4343, uport, 5);
        await sendUdp('::1', 4444, uport, 7);
      }),
    );
    const syn = items.find((p) => p.prefix === `${P}S `)!;
    expect(syn).toMatchObject({ dst: '127.0.0.1', dpt: tport, proto: 'TCP', tcp: { flags: ['SYN'] } });
    expect(syn.tcp!.seq).toEqual(expect.any(Number));
    expect(syn.tcp!.options).toMatch(/^[0-9A-F]+$/);
    const icmp = items.find((p) => p.prefix === `${P}I `)!;
    expect(icmp).toMatchObject({ proto: 'ICMP', icmp: { type: 3, code: 3 },
      inner: { src: '127.0.0.1', dst: '127.0.0.1', proto: 'UDP', spt: 4343, dpt: uport, udpLen: 8 + 5 } });
    const v6 = items.find((p) => p.prefix === `${P}6 `)!;
    expect(v6).toMatchObject({ family: 'ipv6', src: '0000:0000:0000:0000:0000:0000:0000:0001', spt: 4444, dpt: uport,
      udpLen: 8 + 7, len: 40 + 8 + 7 });
    const shown = await dmesg(P);
    for (const p of items) expect(shown.map((s) => s.text)).toContain(p.message);
  });
});

describe('legacy TRACE with the syslog logger', () => {
  test('one trace per packet, its hops and rule texts those of iptables-legacy-save', async () => {
    const dport = 33000 + (process.pid % 1000);
    const before = (await ns.execOk('cat', ['/proc/sys/net/netfilter/nf_log/2'])).stdout.trim();
    await ns.shOk('echo nf_log_ipv4 > /proc/sys/net/netfilter/nf_log/2');
    try {
      const ipt = (...a: string[]) => ns.execOk('iptables-legacy', a);
      // The rule numbers below are those of this test's rules alone.
      await ipt('-F');
      await ipt('-t', 'raw', '-F');
      await ipt('-t', 'raw', '-A', 'OUTPUT', '-p', 'udp', '--dport', String(dport), '-j', 'TRACE');
      await ipt('-N', `${TAG}C`);
      await ipt('-A', `${TAG}C`, '-p', 'udp', '--dport', '1', '-j', 'ACCEPT');
      await ipt('-A', 'OUTPUT', '-p', 'tcp', '-j', 'ACCEPT');
      await ipt('-A', 'OUTPUT', '-p', 'udp', '--dport', String(dport), '-j', `${TAG}C`);
      const stream = KernelLog.follow({ dstPort: dport, packets: false, netns: ns.path, idleMs: 500 });
      const items = await collect(stream, (got) => got.some((i) => i.type === 'trace'),
        () => sendUdp('127.0.0.1', 4545, dport, 3));
      const traces = items.filter((i): i is TracePacket => i.type === 'trace');
      // Out through lo and back in: one packet, one trace (legacy TRACE has no id).
      expect(traces).toHaveLength(1);
      const t = traces[0]!;
      expect(t).toMatchObject({ type: 'trace', source: 'kmsg', family: 'ipv4' });
      const where = t.hops.map((h) => `${h.table}:${h.chain}:${h.kind}:${h.source === 'nftables' ? h.handle : h.rule}`);
      // The TRACE rule itself is not logged; the packet then leaves and comes back through lo.
      expect(where).toEqual(['raw:OUTPUT:policy:2', 'filter:OUTPUT:rule:2', `filter:${TAG}C:return:2`,
        'filter:OUTPUT:policy:3', 'raw:PREROUTING:policy:1', 'filter:INPUT:policy:1']);
      expect(t.hops.map((h) => [h.oif?.name, h.iif?.name])).toEqual([...Array(4).fill(['lo', undefined]),
        ...Array(2).fill([undefined, 'lo'])]);
      expect(t.hops.every((h) => h.log?.dpt === dport && h.log.message.startsWith('TRACE: '))).toBe(true);
      // The oracle of the rule texts: iptables-legacy-save, the Nth -A line of the chain.
      for (const h of t.hops.filter((x) => x.kind === 'rule')) {
        const save = (await ns.execOk('iptables-legacy-save', ['-t', h.table])).stdout.split('\n').filter((l) =>
          l.startsWith(`-A ${h.chain} `)
        );
        expect(h.ruleText).toBe(save[(h.source === 'nftables' ? 0 : h.rule) - 1]);
      }
      const shown = await dmesg(`DPT=${dport} `);
      expect(t.hops.map((h) => h.log!.message)).toEqual(
        shown.filter((s) => s.text.startsWith('TRACE: ')).map((s) => s.text),
      );
    } finally {
      await ns.shOk(`echo ${before} > /proc/sys/net/netfilter/nf_log/2`);
    }
    expect((await ns.execOk('cat', ['/proc/sys/net/netfilter/nf_log/2'])).stdout.trim()).toBe(before);
  });
});

/** Writes lines to /dev/kmsg (facility user), ten per open: the kernel limits each open to ten a burst. */
function writeKmsg(lines: string[]): void {
  for (let i = 0; i < lines.length; i += 10) {
    const fd = openSync('/dev/kmsg', 'w');
    try {
      for (const l of lines.slice(i, i + 10)) writeSync(fd, `${l}\n`);
    } finally {
      closeSync(fd);
    }
  }
}

describe('the ring buffer', () => {
  test('overwritten while the reader waited: a loss item, in order, with the count of the records missed', async () => {
    const mark = `${TAG}loss`;
    // A reader bounded to 64 KiB of unread items stops reading; the ring buffer (the kernel's
    // log_buf_len, 128 KiB here) then overwrites what it did not read.
    const stream = KernelLog.follow({ lines: true, maxQueueBytes: 64 * 1024 });
    const n = 4000;
    writeKmsg(Array.from({ length: n }, (_, i) => `${mark} ${i} ${'x'.repeat(150)}`));
    const items = await collect(stream,
      (got) => got.some((i) => i.type === 'line' && i.message.startsWith(`${mark} ${n - 1} `)), async () => undefined);
    const losses = items.filter((i) => i.type === 'loss');
    expect(losses.length).toBeGreaterThan(0);
    // Every record is an item (lines: true): the sequence numbers go up by one, except where a
    // loss item stands, which spans exactly the records missed.
    let prev: number | undefined;
    let lost = 0;
    for (let i = 0; i < items.length; i++) {
      const it = items[i]!;
      if (it.type === 'loss') {
        expect(it.after).toBe(prev);
        const next = items[i + 1] as { seq?: number };
        expect(it.before).toBe(next.seq);
        expect(it.lost).toBe(it.before - it.after! - 1);
        lost += it.lost!;
        prev = undefined;
        continue;
      }
      const seq = (it as { seq?: number }).seq!;
      if (prev !== undefined) expect(seq).toBe(prev + 1);
      prev = seq;
    }
    expect(stream.lostRecords).toBe(lost);
    expect(stream.stats.lost).toBe(lost);
    // Our own lines: in order, and those missing are what was lost.
    const mine = items.flatMap((
      i,
    ) => (i.type === 'line' && i.message.startsWith(`${mark} `) ? [Number(i.message.split(' ')[1])] : []));
    expect(mine).toEqual([...mine].sort((a, b) => a - b));
    expect(n - mine.length).toBeGreaterThan(0);
    expect(n - mine.length).toBeLessThanOrEqual(lost);
  });

  test('read from the start with a consumer that keeps up: every record dmesg -r still shows, none lost', async () => {
    const mark = `${TAG}keep`;
    // TRACE lines (other tests on the machine write them) as packets: a hop of a trace still
    // open when the stream is closed would not be counted.
    const stream = KernelLog.kmsg({ follow: true, from: 'start', lines: true, traces: false });
    const n = 200;
    const items = await collect(stream, (got) => got.some((i) => i.type === 'line' && i.message === `${mark} ${n - 1}`),
      async () => writeKmsg(Array.from({ length: n }, (_, i) => `${mark} ${i}`)));
    const losses = items.filter((i) => i.type === 'loss');
    const ours = new Set(
      items.flatMap((
        i,
      ) => (i.type === 'line' || i.type === 'packet' ? [`${(i.kernelTime ?? 0).toFixed(6)} ${i.message}`] : [])),
    );
    const first = Math.min(...items.flatMap((i) => (i.type === 'line' || i.type === 'packet' ? [i.kernelTime!] : [])));
    // dmesg -r: every record the ring buffer holds, from the first our stream read up to our last line.
    const all = (await ns.execOk('dmesg', ['-r'])).stdout.split('\n').flatMap((l) => {
      const m = /^<\d+>\[\s*([\d.]+)\] (.*)$/.exec(l);
      return m ? [{ time: m[1]!, text: m[2]! }] : [];
    });
    // No loss, unless the ring buffer overwrote records this stream had not read yet (other
    // tests on the machine may flood the log meanwhile): then dmesg holds nothing older than
    // the first record the stream read. That record may be the oldest left (the records lost
    // went between the stream's start and its first read) or gone too (they went later).
    if (losses.length > 0) expect(Number(all[0]!.time), JSON.stringify(losses)).toBeGreaterThanOrEqual(first);
    const last = all.findIndex((d) => d.text === `${mark} ${n - 1}`);
    const window = all.slice(0, last + 1).filter((d) => Number(d.time) >= first && !/[^\x20-\x7e]/.test(d.text));
    expect(window.length).toBeGreaterThanOrEqual(n);
    expect(window.filter((d) => !ours.has(`${d.time} ${d.text}`))).toEqual([]);
  });
});

describe('stopping', () => {
  test('close() ends a stream waiting on an idle /dev/kmsg, and a for await loop with it', async () => {
    const stream = KernelLog.follow({ prefix: `${TAG}never` });
    const loop = (async () => {
      const got: KernelLogItem[] = [];
      for await (const item of stream) got.push(item);
      return got.length;
    })();
    await new Promise((r) => setImmediate(r));
    void stream.close();
    expect(await loop).toBe(0);
    const ac = new AbortController();
    const s2 = KernelLog.follow({ prefix: `${TAG}never`, signal: ac.signal });
    const l2 = (async () => {
      for await (const _ of s2) return 'item';
      return 'ended';
    })();
    ac.abort();
    expect(await l2).toBe('ended');
  });
});
