/**
 * Three throwaway namespaces joined by veth pairs: a client (10.29.1.2, fd29:1::2), a router
 * that tracks, DNATs and SNATs what it forwards, and a server (10.29.2.2, fd29:2::2):
 *
 *   client c0 ── r0 router r1 ── s0 server
 *
 * On the router: 10.29.1.1:8080/tcp and :5353/udp are DNATed to the server's :80 and :53
 * (a "service address"), and everything leaving towards the server is SNATed to 10.29.2.1
 * (IPv6: [fd29:1::1]:8080 to [fd29:2::2]:80, SNAT to fd29:2::1). Traffic of known sizes comes
 * from small node programs started in the client and server namespaces.
 */
import { afterAll, beforeAll } from 'vitest';

import { createNetns, type Netns } from '../helpers/netns-core.js';

export const ADDR = {
  client: '10.29.1.2',
  vip: '10.29.1.1',
  routerOut: '10.29.2.1',
  server: '10.29.2.2',
  client6: 'fd29:1::2',
  vip6: 'fd29:1::1',
  routerOut6: 'fd29:2::1',
  server6: 'fd29:2::2',
} as const;

export interface Topology {
  client: Netns;
  router: Netns;
  server: Netns;
  remove(): Promise<void>;
}

const NAT = `
table inet nfct_flows_nat {
  chain pre {
    type nat hook prerouting priority dstnat; policy accept;
    ip daddr ${ADDR.vip} tcp dport 8080 dnat ip to ${ADDR.server}:80
    ip daddr ${ADDR.vip} udp dport 5353 dnat ip to ${ADDR.server}:53
    ip6 daddr ${ADDR.vip6} tcp dport 8080 dnat ip6 to [${ADDR.server6}]:80
    ip6 daddr ${ADDR.vip6} udp dport 5353 dnat ip6 to [${ADDR.server6}]:53
  }
  chain post {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "r1" meta nfproto ipv4 snat ip to ${ADDR.routerOut}
    oifname "r1" meta nfproto ipv6 snat ip6 to ${ADDR.routerOut6}
  }
}
`;

export async function createTopology(): Promise<Topology> {
  const made: Netns[] = [];
  try {
    const client = await createNetns('nfct-flowc', { conntrack: false });
    made.push(client);
    const router = await createNetns('nfct-flowr');
    made.push(router);
    const server = await createNetns('nfct-flows', { conntrack: false });
    made.push(server);
    const sh = (ns: Netns, script: string) => ns.shOk(script);
    await sh(router,
      `ip link add r0 type veth peer name c0 netns ${client.name} && ip link add r1 type veth peer name s0 netns ${server.name}`);
    await sh(router, [
      `ip addr add ${ADDR.vip}/24 dev r0`,
      `ip addr add ${ADDR.routerOut}/24 dev r1`,
      `ip -6 addr add ${ADDR.vip6}/64 dev r0 nodad`,
      `ip -6 addr add ${ADDR.routerOut6}/64 dev r1 nodad`,
      'ip link set r0 up',
      'ip link set r1 up',
      'sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1',
    ].join(' && '));
    await sh(client,
      `ip addr add ${ADDR.client}/24 dev c0 && ip -6 addr add ${ADDR.client6}/64 dev c0 nodad && ip link set c0 up && ip route add default via ${ADDR.vip} && ip -6 route add default via ${ADDR.vip6}`);
    await sh(server,
      `ip addr add ${ADDR.server}/24 dev s0 && ip -6 addr add ${ADDR.server6}/64 dev s0 nodad && ip link set s0 up && ip route add default via ${ADDR.routerOut} && ip -6 route add default via ${ADDR.routerOut6}`);
    await router.execOk('nft', ['-f', '-'], { input: NAT });
    return { client, router, server,
      remove: async () => void (await Promise.all(made.map((n) => n.remove().catch(() => undefined)))) };
  } catch (e) {
    await Promise.all(made.map((n) => n.remove().catch(() => undefined)));
    throw e;
  }
}

// The server (IPv4 and IPv6 on one socket each): TCP on :80 reads until the client's FIN, then answers `reply` bytes and closes;
// UDP on :53 echoes each datagram. Prints "ready" once both listen. Ends after maxMs.
const SERVER = `
const net = require('node:net'); const dgram = require('node:dgram');
const [reply, maxMs] = [Number(process.argv[1]), Number(process.argv[2])];
setTimeout(() => process.exit(0), maxMs).unref();
const t = net.createServer((s) => { s.on('data', () => {}); s.on('end', () => s.end(Buffer.alloc(reply, 0x62))); s.on('error', () => {}); });
const u = dgram.createSocket({ type: 'udp6', ipv6Only: false });
u.on('message', (m, r) => u.send(m, r.port, r.address));
let n = 0; const up = () => { if (++n === 2) console.log('ready'); };
t.listen({ port: 80, host: '::', ipv6Only: false }, up); u.bind({ port: 53, address: '::' }, up);
setInterval(() => {}, 1000);
`;

// The client: mode tcp sends `size` bytes then FIN and reads the answer to its end; mode udp
// sends `count` datagrams of `size` bytes, each after the echo of the one before. Prints
// {"sport":N,"received":N}.
const CLIENT = `
const net = require('node:net'); const dgram = require('node:dgram');
const [mode, host, port, size, count, gap] = [process.argv[1], process.argv[2], Number(process.argv[3]), Number(process.argv[4]), Number(process.argv[5]), Number(process.argv[6] ?? 0)];
setTimeout(() => { console.error('client timed out'); process.exit(3); }, 20000).unref();
if (mode === 'tcp') {
  let sport = 0;
  const s = net.connect(port, host, () => { sport = s.localPort; s.end(Buffer.alloc(size, 0x61)); });
  let got = 0; s.on('data', (d) => (got += d.length));
  s.on('close', () => console.log(JSON.stringify({ sport, received: got })));
} else if (mode === 'udp-many') {
  // count flows of one datagram each, size + i bytes for the i-th, one after the other. Every
  // socket stays open to the end: a port closed could be the next socket's, and two datagrams
  // from one port are one flow.
  const sports = [];
  const open = [];
  const one = (i) => {
    if (i === count) {
      for (const s of open) s.close();
      return console.log(JSON.stringify({ sport: sports[0], sports, received: count }));
    }
    const u = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    open.push(u);
    u.on('message', () => one(i + 1));
    u.bind(0, () => { sports.push(u.address().port); u.send(Buffer.alloc(size + i, 0x61), port, host); });
  };
  one(0);
} else {
  const u = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
  let got = 0;
  u.on('message', () => { if (++got === count) { console.log(JSON.stringify({ sport: u.address().port, received: got })); u.close(); } else setTimeout(() => u.send(Buffer.alloc(size, 0x61), port, host), gap); });
  u.bind(0, () => u.send(Buffer.alloc(size, 0x61), port, host));
}
`;

/** Starts the server in the server namespace; resolves once it listens. `stop()` ends it. */
export async function startServer(t: Topology, replyBytes: number): Promise<{ stop(): void }> {
  const child = t.server.spawn(process.execPath, ['-e', SERVER, String(replyBytes), '120000'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready')) resolve();
    });
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code) => reject(new Error(`server exited (${code}): ${err}`)));
  });
  return { stop: () => child.kill('SIGKILL') };
}

/** One exchange from the client to the service address; resolves the client's source port. */
export async function exchange(t: Topology, mode: 'tcp' | 'udp' | 'udp-many', size: number, count = 1,
  family: 4 | 6 = 4, gapMs = 0): Promise<{ sport: number; received: number; sports?: number[] }>
{
  const r = await t.client.execOk(process.execPath, ['-e', CLIENT, mode, family === 6 ? ADDR.vip6 : ADDR.vip,
    mode === 'tcp' ? '8080' : '5353', String(size), String(count), String(gapMs)], { timeoutMs: 25_000 });
  return JSON.parse(r.stdout.trim()) as { sport: number; received: number; sports?: number[] };
}

/**
 * The topology with its server (answering `replyBytes`) for the tests of a file: made in
 * beforeAll, handed to `keep`, and removed in afterAll, also when tests fail.
 */
export function useTopology(replyBytes: number, keep: (t: Topology) => void): void {
  let topology: Topology | undefined;
  let server: { stop(): void } | undefined;
  beforeAll(async () => {
    topology = await createTopology();
    keep(topology);
    server = await startServer(topology, replyBytes);
  }, 60_000);
  afterAll(async () => {
    server?.stop();
    await topology?.remove();
  });
}
