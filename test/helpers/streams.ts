// Shared by the tests of live streams under load (test/conntrack/backlog.test.ts,
// test/nflog/backlog.test.ts) and of the exporter: bounded generators inside a test namespace
// and the oracles.
import { setTimeout as sleep } from 'node:timers/promises';

import { expect } from 'vitest';

import { Conntrack, type FlowInput } from '../../lib/index.js';
import type { Netns } from './netns.js';

/** `n` UDP entries 10.99.x.y:port -> 10.98.0.1:53 (one NEW event each, one DESTROY when flushed). */
export function* udpEntries(n: number, base = 0): Generator<FlowInput> {
  for (let i = base; i < base + n; i++) {
    yield { protocol: 'udp', src: `10.99.${(i >> 8) & 0xff}.${i & 0xff}`, dst: '10.98.0.1', srcPort: 1024 + (i >> 16),
      dstPort: 53, timeout: 300 };
  }
}

/**
 * Fills the table of `ns` with `n` UDP entries 10.<net>.x.y:1000 -> dst:53 (the second octet
 * goes up every 65,536 entries), created in one createMany(), none refused.
 */
export async function fillUdp(ns: Netns, n: number, net: number,
  opts: { dst: string; timeout: number; batchSize?: number }): Promise<void>
{
  const ct = await Conntrack.open({ netns: ns.name });
  try {
    const flows = Array.from({ length: n },
      (_, i) => ({ protocol: 'udp' as const, src: `10.${net + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`, dst: opts.dst,
        srcPort: 1000, dstPort: 53, timeout: opts.timeout }));
    const batch = opts.batchSize === undefined ? {} : { batchSize: opts.batchSize };
    expect((await ct.createMany(flows, batch)).failed).toEqual([]);
  } finally {
    await ct.close();
  }
}

/** Sends `count` 64-byte UDP datagrams to 127.0.0.1:port from inside the namespace, as fast as a loop can. */
export async function flood(ns: Netns, port: number, count: number): Promise<void> {
  const script = `const s=require('dgram').createSocket('udp4');const b=Buffer.alloc(64);let n=0;
(function go(){for(let i=0;i<200&&n<${count};i++,n++)s.send(b,${port},'127.0.0.1');if(n<${count})setImmediate(go);else setTimeout(()=>s.close(),200)})()`;
  await ns.execOk('node', ['-e', script], { timeoutMs: 60_000 });
}

/** Packets the counter of the one rule in `table` (inet) has counted. */
export async function nftCounter(ns: Netns, table: string): Promise<number> {
  const r = await ns.execOk('nft', ['-j', 'list', 'table', 'inet', table]);
  const rules =
    (JSON.parse(r.stdout) as { nftables: { rule?: { expr: { counter?: { packets: number } }[] } }[] }).nftables;
  for (const item of rules) for (const e of item.rule?.expr ?? []) if (e.counter) return e.counter.packets;
  throw new Error(`no counter in table ${table}`);
}

/**
 * Reads an iterator with a time limit per item; a next() that timed out stays pending and
 * gives the following call its item (a second next() beside it would take a later one).
 */
export function timedReader<T>(it: AsyncIterator<T>, first?: Promise<IteratorResult<T>>) {
  let pending: Promise<IteratorResult<T>> | undefined = first;
  return async (ms: number): Promise<T | null> => {
    pending ??= it.next();
    const r = await Promise.race([pending, sleep(ms).then(() => null)]);
    if (r === null) return null;
    pending = undefined;
    return r.done ? null : r.value;
  };
}

export async function logRule(ns: Netns, table: string, port: number, group: number): Promise<void> {
  await ns.execOk('nft', ['-f', '-'], {
    input:
      `table inet ${table} {\n chain out { type filter hook output priority 0; udp dport ${port} counter log group ${group}; }\n}\n`,
  });
}

export interface NetlinkSocket {
  /** Eth column: 12 is NETLINK_NETFILTER. */
  protocol: number;
  portid: number;
  /** Multicast groups subscribed (conntrack events: NEW 1, UPDATE 2, DESTROY 4, ...). */
  groups: number;
  /** Messages the kernel dropped because the socket's buffer was full. */
  drops: number;
  /** Bytes queued in the socket, not yet read. */
  rmem: number;
}

/** The namespace's netlink sockets as the kernel lists them (/proc/net/netlink read inside it). */
export async function netlinkSockets(ns: Pick<Netns, 'execOk'>): Promise<NetlinkSocket[]> {
  const r = await ns.execOk('cat', ['/proc/net/netlink']);
  // Columns: sk Eth Pid Groups Rmem Wmem Dump Locks Drops Inode
  return r.stdout
    .trim()
    .split('\n')
    .slice(1)
    .map((l) => l.trim().split(/\s+/))
    .map((f) => ({ protocol: Number(f[1]), portid: Number(f[2]), groups: parseInt(f[3]!, 16), drops: Number(f[8]),
      rmem: Number(f[4]) })
    );
}

/**
 * Whether everything the kernel has for the namespace's netfilter sockets was handed over: none
 * holds unread bytes, and no NFLOG instance holds packets not yet sent (qlen in
 * /proc/net/netfilter/nfnetlink_log). A reader for which this holds has read all there was.
 */
export async function netfilterDrained(ns: Pick<Netns, 'execOk'>): Promise<boolean> {
  if ((await netlinkSockets(ns)).some((s) => s.protocol === 12 && s.rmem > 0)) return false;
  const r = await ns.execOk('sh', ['-c', 'cat /proc/net/netfilter/nfnetlink_log 2>/dev/null || true']);
  // group portid qlen copy_mode copy_range flushtimeout use
  return r.stdout.trim().split('\n').filter(Boolean).every((l) => Number(l.trim().split(/\s+/)[2]) === 0);
}

/** Conntrack events the kernel dropped on the namespace's sockets subscribed to them. */
export async function eventDrops(ns: Pick<Netns, 'execOk'>): Promise<number> {
  return (await netlinkSockets(ns)).filter((s) => s.protocol === 12 && s.groups !== 0).reduce((n, s) => n + s.drops, 0);
}

/** Runs `use` while logRule()'s table logs the datagrams to `port`; the table deleted after. */
export async function withLogRule(ns: Netns, table: string, port: number, group: number,
  use: () => Promise<void>): Promise<void>
{
  await logRule(ns, table, port, group);
  try {
    await use();
  } finally {
    await ns.execOk('nft', ['delete', 'table', 'inet', table]);
  }
}

/**
 * Reads with a timedReader() (2 s at most per item) until `want` items pass `counts` or the
 * stream is quiet; how many passed, and the items that did not.
 */
export async function readCounting<T>(next: (ms: number) => Promise<T | null>, counts: (item: T) => boolean,
  want: number): Promise<{ n: number; other: T[] }>
{
  let n = 0;
  const other: T[] = [];
  for (let e = await next(2000); e !== null; e = await next(2000)) {
    if (counts(e)) n++;
    else other.push(e);
    if (n === want) break;
  }
  return { n, other };
}

/**
 * A burst of events for a small socket buffer: 20,000 UDP entries 10.<net>.x.y -> dst made
 * (NEW), then the 256 of 10.<net>.0.0/24 deleted (DESTROY).
 */
export async function eventBurst(c: Conntrack,
  o: { net: number; dst: string; srcPort: number; dstPort: number }): Promise<void>
{
  const flows = Array.from({ length: 20000 },
    (_, i) => ({ protocol: 'udp' as const, src: `10.${o.net}.${i >> 8}.${i & 255}`, dst: o.dst, srcPort: o.srcPort,
      dstPort: o.dstPort, timeout: 120 }));
  await c.createMany(flows);
  await c.deleteWhere({ src: `10.${o.net}.0.0/24` });
}
