/**
 * Bounded traffic generators that run INSIDE a test namespace, so the kernel makes conntrack
 * entries there. Each returns the tuples a test needs to find its entries.
 *
 * Traffic goes only to loopback addresses (127.0.0.0/8, ::1) of the namespace. Every generator
 * is bounded in count and time (the agent gives up after `maxMs`, a held connection closes
 * after `holdMs`, at most 120 s).
 *
 * The namespace must track connections: createNetns() loads a conntrack rule by default.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { existsSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';

import type { Netns } from './netns-core.js';

// vitest gives every module __dirname (ESM or not); `import.meta` would not type-check in a
// package compiled as CommonJS. Outside vitest, fall back to the repository layout.
const HERE = typeof __dirname === 'string' ? __dirname : resolve('test', 'helpers');
const AGENT = join(HERE, 'traffic-agent.mjs');

export type Family = 4 | 6;

/** One direction of a flow, as conntrack prints it. */
export interface FlowTuple {
  src: string;
  dst: string;
  sport: number;
  dport: number;
}

export interface Flow {
  proto: 'tcp' | 'udp';
  family: Family;
  /** The original-direction tuple conntrack should show. */
  orig: FlowTuple;
  /** The reply-direction tuple conntrack should show (differs from the inverse of orig under NAT). */
  reply: FlowTuple;
  /** TCP: bytes echoed back. UDP: datagrams sent / echoes received. */
  bytes?: number;
  sent?: number;
  received?: number;
}

/** A TCP connection kept ESTABLISHED until close() (or its holdMs runs out). */
export interface HeldFlow extends Flow {
  /** Close the connection orderly (FIN both ways) and wait for the agent to exit. */
  close(): Promise<void>;
}

export interface IcmpFlow {
  proto: 'icmp' | 'icmpv6';
  family: Family;
  src: string;
  dst: string;
  /** echo identifier (set explicitly with ping -e) */
  id: number;
  /** 8 / 128 in the orig tuple, 0 / 129 in the reply tuple */
  type: number;
  replyType: number;
  code: number;
}

export interface TcpOptions {
  family?: Family;
  /** Bytes the client sends and the server echoes. Default 64. */
  bytes?: number;
  /** Client source port; default ephemeral. */
  localPort?: number;
  /** Server port; default ephemeral. */
  listenPort?: number;
  /** The agent gives up after this many ms (default 10 000). */
  maxMs?: number;
}

export interface HeldTcpOptions extends TcpOptions {
  /** Close by itself after this many ms even if close() is never called. Default 30 000, max 120 000. */
  holdMs?: number;
}

export interface UdpOptions {
  family?: Family;
  /** Datagrams to send (each waits up to 2 s for its echo). Default 1, at most 10 000. */
  count?: number;
  /** Payload size. Default 32. */
  size?: number;
  /** Whether the server echoes (false leaves the entry [UNREPLIED]). Default true. */
  reply?: boolean;
  localPort?: number;
  listenPort?: number;
  maxMs?: number;
}

interface AgentResult {
  event: 'ready' | 'done';
  sport: number;
  dport: number;
  src: string;
  dst: string;
  serverPort: number;
  bytes?: number;
  sent?: number;
  received?: number;
}

interface AgentRun {
  first: Promise<AgentResult>;
  /** Resolves with the 'done' line when the agent exits (after first). */
  done: Promise<AgentResult>;
  closeStdin(): void;
}

interface AgentSpec {
  op: 'tcp' | 'udp';
  maxMs?: number | undefined;
  holdMs?: number | undefined;
  [option: string]: unknown;
}

function startAgent(ns: Netns, spec: AgentSpec): AgentRun {
  const maxMs = spec.maxMs ?? 10_000;
  const holdMs = Math.min(spec.holdMs ?? 30_000, 120_000);
  const child = ns.spawn(process.execPath, [AGENT, JSON.stringify(spec)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  let buf = '';
  let resolveFirst!: (r: AgentResult) => void;
  let rejectFirst!: (e: Error) => void;
  let resolveDone!: (r: AgentResult) => void;
  let rejectDone!: (e: Error) => void;
  const first = new Promise<AgentResult>((res, rej) => {
    resolveFirst = res;
    rejectFirst = rej;
  });
  const done = new Promise<AgentResult>((res, rej) => {
    resolveDone = res;
    rejectDone = rej;
  });
  // Never leave an unhandled rejection behind if the caller only awaits one of them.
  first.catch(() => undefined);
  done.catch(() => undefined);

  // Hard stop on our side too, in case the agent hangs before its own timer runs.
  const killer = setTimeout(() => child.kill('SIGKILL'), maxMs + holdMs + 5_000);

  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (d: string) => {
    buf += d;
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (!line.trim()) continue;
      let msg: { event?: string; message?: string };
      try {
        msg = JSON.parse(line) as { event?: string; message?: string };
      } catch {
        continue;
      }
      if (msg.event === 'error') {
        const e = new Error(`traffic agent ${spec.op}: ${msg.message}`);
        rejectFirst(e);
        rejectDone(e);
      } else if (msg.event === 'ready' || msg.event === 'done') {
        const result = msg as AgentResult;
        resolveFirst(result);
        if (result.event === 'done') resolveDone(result);
      }
    }
  });
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => {
    stderr += d;
  });
  child.stdin!.on('error', () => undefined);
  child.on('error', (e) => {
    clearTimeout(killer);
    rejectFirst(e);
    rejectDone(e);
  });
  child.on('exit', (code, signal) => {
    clearTimeout(killer);
    const e = new Error(
      `traffic agent ${spec.op} exited (code ${code}, signal ${signal}) without a result: ${stderr.trim()}`,
    );
    rejectFirst(e);
    rejectDone(e);
  });
  return {
    first,
    done,
    closeStdin: () => child.stdin!.end(),
  };
}

function loopback(family: Family): string {
  return family === 6 ? '::1' : '127.0.0.1';
}

function toFlow(proto: 'tcp' | 'udp', family: Family, r: AgentResult, replySrc?: string, replySport?: number): Flow {
  const orig: FlowTuple = { src: r.src, dst: r.dst, sport: r.sport, dport: r.dport };
  const reply: FlowTuple = {
    src: replySrc ?? r.dst,
    dst: r.src,
    sport: replySport ?? r.dport,
    dport: r.sport,
  };
  const flow: Flow = { proto, family, orig, reply };
  if (r.bytes !== undefined) flow.bytes = r.bytes;
  if (r.sent !== undefined) flow.sent = r.sent;
  if (r.received !== undefined) flow.received = r.received;
  return flow;
}

/**
 * A TCP connection over 127.0.0.1 (or ::1): connect, exchange `bytes`, close both ways.
 * conntrack then shows it ASSURED in TIME_WAIT (or CLOSE).
 */
export async function tcpFlow(ns: Netns, opts: TcpOptions = {}): Promise<Flow> {
  const family = opts.family ?? 4;
  const host = loopback(family);
  const run = startAgent(ns, { op: 'tcp', listenHost: host, ...opts, hold: false });
  return toFlow('tcp', family, await run.done);
}

/** A TCP connection left ESTABLISHED until close() is called (or holdMs passes). */
export async function openTcpFlow(ns: Netns, opts: HeldTcpOptions = {}): Promise<HeldFlow> {
  const family = opts.family ?? 4;
  const host = loopback(family);
  const run = startAgent(ns, { op: 'tcp', listenHost: host, ...opts, hold: true });
  const ready = await run.first;
  const flow = toFlow('tcp', family, ready);
  return {
    ...flow,
    async close() {
      run.closeStdin();
      await run.done;
    },
  };
}

/** `count` UDP datagrams to a loopback port, each echoed back unless `reply: false`. */
export async function udpFlow(ns: Netns, opts: UdpOptions = {}): Promise<Flow> {
  const family = opts.family ?? 4;
  const host = loopback(family);
  const count = Math.min(Math.max(opts.count ?? 1, 1), 10_000);
  const run = startAgent(ns, { op: 'udp', family, listenHost: host, ...opts, count });
  return toFlow('udp', family, await run.done);
}

let pingPath: string | null | undefined;

/** Absolute path of `ping`, or null when it is not installed. */
export function findPing(): string | null {
  if (pingPath !== undefined) return pingPath;
  const dirs = (process.env.PATH ?? '').split(delimiter).concat(['/usr/bin', '/bin', '/usr/sbin', '/sbin']);
  pingPath = dirs.map((d) => join(d, 'ping')).find((p) => existsSync(p)) ?? null;
  return pingPath;
}

export interface PingOptions {
  family?: Family;
  /** ICMP echo identifier; default random in 1..65535. */
  id?: number;
}

/**
 * `ping -c1` to 127.0.0.1 or ::1 inside the namespace with an explicit echo id (`-e`), so the
 * entry is findable. Needs iputils-ping (Debian package `iputils-ping`).
 */
export async function ping(ns: Netns, opts: PingOptions = {}): Promise<IcmpFlow> {
  const bin = findPing();
  if (!bin) throw new Error('ping is not installed: apt-get install -y iputils-ping');
  const family = opts.family ?? 4;
  const dst = loopback(family);
  const id = opts.id ?? randomInt(1, 65536);
  await ns.execOk(bin, [family === 6 ? '-6' : '-4', '-c1', '-W2', '-w3', '-e', String(id), dst], {
    timeoutMs: 10_000,
  });
  return family === 6
    ? { proto: 'icmpv6', family, src: dst, dst, id, type: 128, replyType: 129, code: 0 }
    : { proto: 'icmp', family, src: dst, dst, id, type: 8, replyType: 0, code: 0 };
}

export interface DnatOptions {
  proto?: 'tcp' | 'udp';
  family?: Family;
  /** Address the client connects to. Default 127.0.0.99 (IPv4) / ::1 (IPv6: only the port changes). */
  vip?: string;
  /** Port the client connects to. Default random in 20000..24999. */
  vport?: number;
  /** Where the server really listens. Default 127.0.0.1 / ::1. */
  target?: string;
  /** Port the server really listens on. Default random in 25000..29999. */
  tport?: number;
  /** Keep the nat table after the exchange (default false: the table is deleted). */
  keepRule?: boolean;
  /** TCP bytes / UDP datagrams, as in tcpFlow/udpFlow. */
  bytes?: number;
  count?: number;
  maxMs?: number;
}

export interface DnatFlow extends Flow {
  /** The nft table that held the rule (`ip nfct_dnat_xxxx` / `ip6 ...`). */
  table: string;
}

/**
 * A DNAT'd exchange: an nft `nat output` rule rewrites vip:vport to target:tport, then a TCP
 * (closed after the exchange) or UDP (echoed) flow goes to vip:vport. The entry's reply tuple
 * then starts at target:tport instead of vip:vport.
 */
export async function dnatFlow(ns: Netns, opts: DnatOptions = {}): Promise<DnatFlow> {
  const proto = opts.proto ?? 'tcp';
  const family = opts.family ?? 4;
  const vip = opts.vip ?? (family === 6 ? '::1' : '127.0.0.99');
  const target = opts.target ?? loopback(family);
  const vport = opts.vport ?? randomInt(20_000, 25_000);
  const tport = opts.tport ?? randomInt(25_000, 30_000);
  const nftFamily = family === 6 ? 'ip6' : 'ip';
  const table = `nfct_dnat_${randomBytes(3).toString('hex')}`;
  const to = family === 6 ? `[${target}]:${tport}` : `${target}:${tport}`;
  const rules = [
    `table ${nftFamily} ${table} {`,
    '  chain output {',
    '    type nat hook output priority -100; policy accept;',
    `    ${nftFamily} daddr ${vip} ${proto} dport ${vport} dnat to ${to}`,
    '  }',
    '}',
    '',
  ].join('\n');
  await ns.execOk('nft', ['-f', '-'], { input: rules });
  try {
    const common = { listenHost: target, listenPort: tport, connectHost: vip, connectPort: vport, maxMs: opts.maxMs };
    const run = proto === 'tcp'
      ? startAgent(ns, { op: 'tcp', ...common, bytes: opts.bytes ?? 64, hold: false })
      : startAgent(ns, { op: 'udp', family, ...common, count: Math.min(opts.count ?? 1, 10_000), reply: true });
    const r = await run.done;
    return { ...toFlow(proto, family, r, target, tport), table: `${nftFamily} ${table}` };
  } finally {
    if (!opts.keepRule) await ns.exec('nft', ['delete', 'table', nftFamily, table]);
  }
}

/**
 * One flow of every kind the table tests read back: TCP and UDP over IPv4 and IPv6 (the IPv6
 * UDP flow never answered), pings over both, and destination-NATed TCP and UDP (`dnatUdpCount`
 * UDP packets, default as dnatFlow()'s).
 */
export async function everyKindOfFlow(ns: Netns, opts: { dnatUdpCount?: number } = {}): Promise<void> {
  await tcpFlow(ns, { family: 4, bytes: 100 });
  await tcpFlow(ns, { family: 6, bytes: 200 });
  await udpFlow(ns, { family: 4, count: 3 });
  await udpFlow(ns, { family: 6, count: 2, reply: false });
  await ping(ns, { family: 4 });
  await ping(ns, { family: 6 });
  await dnatFlow(ns, { proto: 'tcp' });
  await dnatFlow(ns, opts.dnatUdpCount === undefined ? { proto: 'udp' } : { proto: 'udp', count: opts.dnatUdpCount });
}
