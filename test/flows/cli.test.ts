// `nfct flows` as a user runs it: text and NDJSON lines of traffic through DNAT and SNAT, the
// summary at SIGTERM, IPFIX to nfcapd with --all-netns (each namespace its own observation
// domain), sysctls restored at exit, and clear errors for bad options and collectors.
import type { ChildProcess } from 'node:child_process';

import { describe, expect, test } from 'vitest';

import { createNetns, sysctl } from '../helpers/netns-core.js';
import { spawnNfct } from '../helpers/nfct.js';
import type { CollectedOutput } from '../helpers/output.js';
import { fillUdp } from '../helpers/streams.js';
import { startNfcapd } from './collectors.js';
import { ADDR, exchange, type Topology, useTopology } from './topology.js';

let t: Topology;
useTopology(10, (topology) => (t = topology));

function nfct(args: string[]): { child: ChildProcess; out: CollectedOutput } {
  return spawnNfct(args, { ns: t.router });
}

async function until(cond: () => boolean, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** SIGTERM, and the exit status; it must come within a second. */
async function term(c: { child: ChildProcess; out: CollectedOutput }): Promise<number | null> {
  const sent = Date.now();
  c.child.kill('SIGTERM');
  const code = await c.out.closed;
  expect(Date.now() - sent).toBeLessThan(1500);
  return code;
}

describe('nfct flows', () => {
  test('--json: a record per connection, then a summary line; sysctls enabled and put back', async () => {
    expect(await sysctl(t.router, 'net.netfilter.nf_conntrack_acct')).toBe('0');
    const c = nfct(['flows', '--json', '--enable-sysctls']);
    await until(() => c.out.err.includes('watching'), 'the readiness line');
    expect(await sysctl(t.router, 'net.netfilter.nf_conntrack_acct')).toBe('1');
    const { sport } = await exchange(t, 'udp', 100, 2);
    await t.router.execOk('conntrack', ['-D', '-p', 'udp', '--orig-port-src', String(sport)]);
    await until(() => c.out.lines.some((l) => l.includes(`"srcPort":${sport}`)), 'the record');
    expect(await term(c)).toBe(0);
    const lines = c.out.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const rec = lines.find((l) => l.type === 'flow' && JSON.stringify(l).includes(`"srcPort":${sport}`))!;
    expect(rec).toMatchObject({
      type: 'flow',
      reason: 'forced-end',
      packets: { original: 2, reply: 2 },
      bytes: { original: 256, reply: 256 },
      nat: {
        original: { pre: { src: ADDR.client, srcPort: sport, dst: ADDR.vip, dstPort: 5353 },
          post: { src: ADDR.routerOut, dst: ADDR.server, dstPort: 53 } },
      },
      netns: { names: [t.router.name] },
    });
    expect(rec.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const summary = lines.at(-1)!;
    expect(summary).toMatchObject({ type: 'summary', records: 1, overruns: 0, netns: { names: [t.router.name] } });
    expect(summary.time).toMatch(/Z$/);
    expect(c.out.err).toMatch(/1 flow records; no overruns/);
    expect(await sysctl(t.router, 'net.netfilter.nf_conntrack_acct')).toBe('0');
    expect(await sysctl(t.router, 'net.netfilter.nf_conntrack_timestamp')).toBe('0');
  });

  test('text lines say what a person needs; without counters it says why', async () => {
    const c = nfct(['flows', '-p', 'udp']);
    await until(() => c.out.err.includes('watching'), 'the readiness line');
    expect(c.out.err).toMatch(/nf_conntrack_acct is 0: records have no packet and byte counters; --enable-sysctls/);
    const { sport } = await exchange(t, 'udp', 20, 1);
    await t.router.execOk('conntrack', ['-D', '-p', 'udp', '--orig-port-src', String(sport)]);
    await until(() => c.out.lines.length > 0, 'a line');
    expect(await term(c)).toBe(0);
    expect(c.out.lines[0]).toMatch(
      new RegExp(
        `^\\S+Z forced-end udp ${ADDR.client}:${sport} > ${ADDR.vip}:5353 => ${ADDR.routerOut}:\\d+ > ${ADDR.server}:53 \\(no counters: nf_conntrack_acct off\\)$`,
      ),
    );
  });

  test('--ipfix with --all-netns: nfcapd gets the router namespace as its own observation domain', async () => {
    const nfcapd = await startNfcapd();
    // From the test's own namespace (where nfcapd listens), watching only this file's namespaces.
    const only = `^(${t.router.name}|${t.client.name})$`;
    const c = spawnNfct(['flows', '--all-netns', '--netns-regex', only, '--ipfix', `127.0.0.1:${nfcapd.port}`,
      '--enable-sysctls', '-p', 'udp']);
    try {
      await until(() => c.out.err.includes(`[${t.router.name}] watching`), 'the router namespace to be watched',
        30_000);
      const inode = Number(
        new RegExp(`\\[${t.router.name}\\] watching \\(IPFIX observation domain (\\d+)\\)`).exec(c.out.err)![1],
      );
      const { sport } = await exchange(t, 'udp', 100, 3);
      await t.router.execOk('conntrack', ['-D', '-p', 'udp', '--orig-port-src', String(sport)]);
      // Nothing on stdout when exporting; the summary says what was sent.
      await new Promise((r) => setTimeout(r, 500));
      expect(await term(c)).toBe(0);
      expect(c.out.out).toBe('');
      expect(c.out.err).toContain(`[${t.client.name}] watching`);
      expect(c.out.err).toMatch(
        /flow records from 2 namespaces; no overruns; udp:\/\/127\.0\.0\.1:\d+: [1-9]\d* sent, 0 lost/,
      );
      const { flows, log } = await nfcapd.stop();
      expect(log).toContain(`Observation domain ${inode} from: 127.0.0.1`);
      expect(flows.find((f) => f.src_port === sport)).toMatchObject({ src4_addr: ADDR.client, dst4_xlt_ip: ADDR.server,
        in_packets: 3, in_bytes: 384, out_packets: 3, out_bytes: 384 });
    } finally {
      if (c.child.exitCode === null) c.child.kill('SIGKILL');
      nfcapd.kill();
    }
  }, 60_000);
});

/** The router namespace's count of ICMP destination unreachables sent (/proc/net/snmp). */
async function icmpOutDestUnreachs(): Promise<number> {
  const lines = (await t.router.execOk('cat', ['/proc/net/snmp'])).stdout.split('\n')
    .filter((l) => l.startsWith('Icmp: '));
  const names = lines[0]!.split(' ');
  return Number(lines[1]!.split(' ')[names.indexOf('OutDestUnreachs')]);
}

describe('nfct flows --all-netns', () => {
  test('a namespace deleted while followed is said once; --json ends with the count of namespaces watched',
    async () => {
      const gone = await createNetns('nfct-flowgone');
      const c = spawnNfct(['flows', '--all-netns', '--json', '--netns-regex', `^(${t.router.name}|${gone.name})$`]);
      try {
        await until(
          () => c.out.err.includes(`[${gone.name}] watching`) && c.out.err.includes(`[${t.router.name}] watching`),
          'both namespaces to be watched',
          30_000,
        );
        await gone.remove();
        const said = `nfct: [${gone.name}] the namespace is gone: no longer followed`;
        // The next look at the node's namespaces finds it gone.
        await until(() => c.out.err.includes(said), 'the namespace gone', 120_000);
        expect(await term(c)).toBe(0);
        expect(c.out.err.split('\n').filter((l) => l === said)).toHaveLength(1);
        expect(c.out.err).toMatch(/^nfct flows: 0 flow records from 2 namespaces; no overruns\.$/m);
        const summary = JSON.parse(c.out.lines.at(-1)!) as Record<string, unknown>;
        expect(summary).toMatchObject({ type: 'summary', records: 0, overruns: 0, namespaces: 2 });
        expect(summary).not.toHaveProperty('netns');
        expect(summary).not.toHaveProperty('exported');
      } finally {
        if (c.child.exitCode === null) c.child.kill('SIGKILL');
        if (!gone.removed) await gone.remove();
      }
    }, 180_000);
});

describe('nfct flows: a consumer that could not read', () => {
  test('stopped while 120,000 entries were flushed: the overrun said, every record it printed counted', async () => {
    const ns = await createNetns('nfct-flowover');
    // Text lines: 50,000 NDJSON lines checked against the schema would take this test longer.
    const c = spawnNfct(['flows', '--netns', ns.name]);
    try {
      await until(() => c.out.err.includes('watching'), 'the readiness line');
      // Made after nfct listens: the kernel gives events only to entries made while a listener is there.
      const n = 120_000;
      await fillUdp(ns, n, 40, { dst: '10.1.1.1', timeout: 600 });
      // Nothing reads while the table is flushed: more DESTROY events than the socket holds.
      c.child.kill('SIGSTOP');
      await ns.execOk('conntrack', ['-F']);
      c.child.kill('SIGCONT');
      // An entry ended after the flush: once its record is printed, every event before it was
      // printed or dropped. Each try has its own source port (one ended while the socket was
      // still full is dropped too).
      for (let port = 2000, end = Date.now() + 60_000;; port++) {
        if (Date.now() > end) throw new Error('no record after the flush came');
        const entry = ['-p', 'udp', '-s', '10.250.0.1', '-d', '10.250.0.2', '--sport', String(port), '--dport', '53'];
        await ns.execOk('conntrack', ['-I', ...entry, '-t', '60']);
        await ns.execOk('conntrack', ['-D', ...entry]);
        const mark = `10.250.0.1:${port} > 10.250.0.2:53`;
        const seen = () => c.out.lines.some((l) => l.includes(mark));
        for (let wait = Date.now() + 3000; !seen() && Date.now() < wait;) await new Promise((r) => setTimeout(r, 50));
        if (seen()) break;
      }
      expect(await term(c)).toBe(0);
      const records = c.out.lines.length;
      expect(records).toBeGreaterThan(1);
      expect(records).toBeLessThan(n);
      const said =
        /^nfct flows: (\d+) flow records; (\d+) overruns? \(DESTROY events the kernel dropped, count unknown\)\.$/m
          .exec(c.out.err);
      expect(said, c.out.err).not.toBeNull();
      expect(Number(said![1])).toBe(records);
      expect(Number(said![2])).toBeGreaterThan(0);
      expect(said![0]).toContain(Number(said![2]) === 1 ? '1 overrun (' : 'overruns (');
    } finally {
      if (c.child.exitCode === null) c.child.kill('SIGKILL');
      await ns.remove();
    }
  }, 120_000);
});

describe('nfct flows: collectors nobody listens on', () => {
  test('--json with two: records printed, the refusal said once per collector, every record counted as lost',
    async () => {
      const dead = ['udp://127.0.0.1:9', 'udp://127.0.0.1:10'];
      const n = 12;
      const unreachables = await icmpOutDestUnreachs();
      const c = nfct(['flows', '--json', '-p', 'udp', '--ipfix', '127.0.0.1:9', '--ipfix', dead[1]!]);
      try {
        await until(() => c.out.err.includes('watching'), 'the readiness line');
        expect(c.out.err).toMatch(/; exporting to 2 collectors\n/);
        // Each record ends its own export: a message of its own, which the host refuses.
        for (let i = 0; i < n; i++) {
          const { sport } = await exchange(t, 'udp', 50, 1);
          await t.router.execOk('conntrack', ['-D', '-p', 'udp', '--orig-port-src', String(sport)]);
          await until(() => c.out.lines.some((l) => l.includes(`"srcPort":${sport}`)), `record ${i + 1}`);
        }
        expect(await term(c)).toBe(0);
      } finally {
        if (c.child.exitCode === null) c.child.kill('SIGKILL');
      }
      const lines = c.out.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines.filter((l) => l.type === 'flow')).toHaveLength(n);
      const summary = lines.at(-1) as { type: string; records: number; lost: number;
        exported: { collector: string; messages: number; records: number; refused: number; lost: number }[] };
      expect(summary).toMatchObject({ type: 'summary', records: n });
      expect(summary.exported.map((e) => e.collector)).toEqual(dead);
      // The oracle: every message went out and was answered with an ICMP destination unreachable,
      // as the namespace's own counter says; so every record was lost (refused, or not sent as a
      // refusal made the next send fail), none delivered.
      expect(await icmpOutDestUnreachs() - unreachables).toBe(summary.exported[0]!.messages +
        summary.exported[1]!.messages);
      for (const e of summary.exported) {
        expect([e.lost, e.records - e.refused]).toEqual([n, 0]);
        expect(c.out.err.split('\n').filter((l) => l.startsWith(`nfct flows: ${e.collector}: `))).toEqual([
          `nfct flows: ${e.collector}: send ECONNREFUSED (counted in the summary; said once)`,
        ]);
        expect(c.out.err).toContain(`${e.collector}: 0 sent, ${n} lost`);
      }
      expect(summary.lost).toBe(2 * n);
    }, 60_000);
});

describe('nfct flows: bad input', () => {
  test.each([
    [['flows', '--ipfix', 'nohost'], 2, /--ipfix must be HOST:PORT/],
    [['flows', '--ipfix', '127.0.0.1:70000'], 2, /--ipfix port must be between 1 and 65535/],
    [['flows', '--active-timeout', '0'], 2, /--active-timeout must be a whole number from 1 to 86400/],
    [['flows', '--all-netns', '--netns', 'x'], 2, /--all-netns cannot be combined with --netns/],
    [['flows', '-p', 'tcpx'], 2, /-p must be one of tcp, udp/],
    [['flows', '--bogus'], 2, /unknown option `--bogus'/],
    [['flows', '--netns-regex', 'x'], 2, /--netns-regex needs --all-netns/],
    [['flows', '--all-netns', '--netns-regex', '('], 2, /--netns-regex must be a regular expression/],
    [['flows', '--ipfix', 'no-such-host.invalid:4739'], 1, /cannot resolve "no-such-host.invalid"/],
  ])('%j exits %i with a message naming the flag', async (args, code, message) => {
    const c = nfct(args);
    expect(await c.out.closed).toBe(code);
    expect(c.out.err).toMatch(message);
  });
});
