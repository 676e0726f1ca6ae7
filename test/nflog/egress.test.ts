/**
 * NFLOG at the netdev family's egress hook, against the kernel's own LOG line for the same
 * packet (an nft `log` statement without a group beside the `log group` one, read back with
 * `dmesg -r`; nf_log_all_netns is held for the run and put back after). At egress the kernel
 * copies the packet from its link-layer header on, and its IPv4 logger, finding the IP header
 * after that header, writes no UID, GID or MARK (the IPv6 logger writes them): the packet must
 * come out named EGRESS, with a payload that starts at the network header (empty when the copy
 * range ends inside the link-layer header), and formatLogLine and `nfct log` must give the
 * kernel's line.
 */
import { randomBytes } from 'node:crypto';

import { afterAll, beforeAll, expect, test } from 'vitest';

import { Nflog, type NflogPacketEvent } from '../../lib/index.js';
import { formatLogLine } from '../../lib/nflog/logline-format.js';
import { createNetns, type Netns } from '../helpers/netns.js';
import { spawnNfct } from '../helpers/nfct.js';
import { BOUND_MS, until, WaitTimeout } from '../helpers/sentinel.js';
import { holdSysctl } from '../helpers/sysctl-hold.js';

const TAG = `ne${process.pid.toString(36)}${randomBytes(2).toString('hex')}`;
/** The library reads the first group, `nfct log` the second (a group has one reader). */
const GROUP = 41;
const CLI_GROUP = 42;
/** Groups whose copy range ends inside the link-layer header, or at its end. */
const SHORT = [{ group: 43, range: 10 }, { group: 44, range: 14 }];
let ns: Netns;
let release: (() => void) | undefined;

beforeAll(async () => {
  ns = await createNetns('nfct-egress', { conntrack: false });
  release = holdSysctl('net.netfilter.nf_log_all_netns', '1');
  // va's peer answers nothing: fixed neighbours let the datagrams leave without ARP or ND.
  for (
    const cmd of [
      'ip link add va type veth peer name vb',
      'ip link set va up',
      'ip link set vb up',
      'ip addr add 10.78.0.1/24 dev va',
      'ip addr add fd00:78::1/64 dev va nodad',
      'ip neigh add 10.78.0.2 lladdr 02:00:00:00:00:02 dev va',
      'ip neigh add fd00:78::2 lladdr 02:00:00:00:00:02 dev va',
    ]
  ) {
    const [c, ...args] = cmd.split(' ');
    await ns.execOk(c!, args);
  }
  await ns.execOk('nft', ['-f', '-'], {
    input: `table netdev ${TAG} {\n chain out {\n  type filter hook egress device va priority 0;\n`
      + `  udp dport 9 meta mark set 0x7 log prefix "${TAG} " flags skuid log group ${GROUP} prefix "${TAG} "`
      + ` log group ${CLI_GROUP} prefix "${TAG} "`
      + SHORT.map(({ group }) => ` log group ${group} prefix "${TAG} "`).join('') + '\n }\n}\n',
  });
});
afterAll(async () => {
  await ns?.remove();
  release?.();
});

/** The kernel's LOG lines of this run, from the prefix on (dmesg -r). */
async function kernelLines(): Promise<string[]> {
  const r = await ns.execOk('dmesg', ['-r']);
  return r.stdout.split('\n').filter((l) => l.includes(`${TAG} `)).map((l) => l.slice(l.indexOf(`${TAG} `)));
}

let sent = 0;
/** One datagram to port 9 of va's peer, sent by uid/gid 1234. */
function send(host: string): Promise<unknown> {
  sent++;
  return ns.execOk('setpriv', ['--reuid=1234', '--regid=1234', '--clear-groups', 'bash', '-c',
    `echo x > /dev/udp/${host}/9`]);
}

test('IPv4 and IPv6 datagrams at netdev egress: EGRESS, the payload from the IP header, the lines the kernel wrote', async () => {
  const nf = await Nflog.open({ netns: ns.name });
  const { child, out } = spawnNfct(['log', '--group', String(CLI_GROUP), '--netns', ns.name]);
  try {
    const stream = nf.subscribe({ group: GROUP });
    const short = SHORT.map((o) => nf.subscribe(o));
    // nfct log is ready once it has a packet of its own group: one marker datagram until then.
    await until(async () => {
      if (out.all.length > 0) return true;
      if (out.err) throw new Error(`nfct log: ${out.err}`);
      await send('10.78.0.2');
      return false;
    }, 'nfct log to print a packet', { every: 200 });
    await send('10.78.0.2');
    await send('fd00:78::2');
    const kernel = await until(async () => {
      const lines = await kernelLines();
      return lines.some((l) => l.includes('SRC=fd00:')) && lines;
    }, 'the kernel to log the IPv6 datagram');
    const got: NflogPacketEvent[] = [];
    const timer = setTimeout(() => void stream.close(), BOUND_MS);
    // One packet for each datagram sent (the markers too).
    for await (const e of stream) {
      if (e.type === 'packet') got.push(e);
      if (got.length >= sent) break;
    }
    clearTimeout(timer);
    if (got.length < sent) throw new WaitTimeout(`${sent} packets`, BOUND_MS, `${got.length} came`);
    await stream.close();

    for (const p of got) {
      expect({ family: p.family, hook: p.hook, hookName: p.hookName, outdev: p.outdev?.name, mark: p.mark, uid: p.uid })
        .toEqual({ family: 'netdev', hook: 1, hookName: 'EGRESS', outdev: 'va', mark: 7, uid: 1234 });
      // The link-layer header is l2Header, not the start of the payload.
      expect(p.l2Header?.length).toBe(14);
      expect([0x45, 0x60]).toContain(p.payload![0]);
    }
    // Every line the kernel still holds is one of ours (a test flooding the kernel log may have
    // pushed the first markers out), and its last two, the datagrams sent last, are our last two.
    const ours = got.map((p) => formatLogLine(p, { uid: true }));
    for (const l of kernel) expect(ours, l).toContain(l);
    expect(ours.slice(-2)).toEqual(kernel.slice(-2));
    expect(ours.at(-2)).toMatch(/ SRC=10\.78\.0\.1 .* PROTO=UDP SPT=\d+ DPT=9 LEN=10 $/);
    expect(ours.at(-1)).toMatch(/ SRC=fd00:0078:.* UID=1234 GID=1234 MARK=0x7 $/);

    // A copy range that ends inside the link-layer header (10), or at its end (14), copies
    // nothing of the packet from its network header on: an empty payload, the link-layer header
    // in l2Header. (The range of 10 is the case a payload shorter than the header once got wrong.)
    for (const [i, s] of short.entries()) {
      const { group, range } = SHORT[i]!;
      let n = 0;
      const bound = setTimeout(() => void s.close(), BOUND_MS);
      try {
        for await (const e of s) {
          if (e.type !== 'packet') continue;
          expect([e.l2Header?.length, e.payload?.length], `group ${group}, range ${range}`).toEqual([14, 0]);
          if (++n === sent) break;
        }
      } finally {
        clearTimeout(bound);
      }
      if (n < sent) throw new WaitTimeout(`${sent} packets of group ${group}`, BOUND_MS, `${n} came`);
    }

    // nfct log prints the same lines after its time, as a rule without `flags skuid` writes them.
    await until(() => out.all.some((l) => l.includes('SRC=fd00:')), 'nfct log to print the IPv6 datagram');
    const printed = out.all.map((l) => l.slice(l.indexOf(' ') + 1));
    const withoutUid = kernel.map((l) => l.replace(' UID=1234 GID=1234 ', ' '));
    // (It missed the markers sent before it subscribed; the kernel may have lost the first ones.)
    expect(printed.slice(-2)).toEqual(withoutUid.slice(-2));
  } finally {
    child.kill('SIGINT');
    await out.closed;
    await nf.close();
  }
});
