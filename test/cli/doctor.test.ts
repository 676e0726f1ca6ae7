// nfct doctor: each check triggered for real in a throwaway namespace, and the finding asserted
// (a table filled to the limit with new connections arriving, a DNAT to an address that never
// answers with traffic going to it, a stale trace table, an nf_log binding nobody hears, an
// NFLOG group held, events off, a hash table too small for the limit).
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import type { Finding } from '../../lib/cli/commands/doctor-checks.js';
import { Conntrack, Nflog, Trace } from '../../lib/index.js';
import { createNetns, enableConntrack, type Netns, setSysctl } from '../helpers/netns.js';
import { execNfct } from '../helpers/nfct.js';
import { until } from '../helpers/sentinel.js';
import { listEntries } from '../oracle/conntrack-cli.js';

const CT_MAX = '/proc/sys/net/netfilter/nf_conntrack_max';

/** A finding as --json prints it: its netns object instead of the label. */
type JsonFinding = Omit<Finding, 'netns'> & { netns?: { label: string; inode: number } };

async function doctor(...args: string[]): Promise<{ findings: JsonFinding[]; code: number; stderr: string }> {
  const r = await execNfct(['doctor', '--json', ...args], { timeout: 60000 });
  return { findings: r.rows as unknown as JsonFinding[], code: r.code ?? -1, stderr: r.stderr };
}

/** A bounded traffic generator inside the namespace, running until stopped. */
function background(ns: Netns, script: string): ChildProcess {
  return spawn('ip', ['netns', 'exec', ns.name, 'bash', '-c', script], { stdio: 'ignore' });
}
function stop(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    p.once('close', () => resolve());
    p.kill('SIGTERM');
  });
}

describe('table full: entries against nf_conntrack_max, early drops while connections keep coming', () => {
  let ns: Netns;
  beforeAll(async () => {
    ns = await createNetns('nfct-doc-full');
    await enableConntrack(ns);
  });
  afterAll(async () => {
    await ns?.remove();
  });

  test('an error with the count and the limit, early_drop rising, exit status 1', async () => {
    // The limit is global: fill this namespace to it, relative to whatever it is now.
    const max = Number(readFileSync(CT_MAX, 'utf8'));
    const ct = await Conntrack.open({ netns: ns.name });
    try {
      function* flows() {
        for (let i = 0; i < max; i++) {
          // Unassured UDP entries: the kernel may evict them (early_drop) to make room.
          yield { protocol: 'udp' as const, src: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
            dst: '10.255.0.1', srcPort: 1000, dstPort: 53, timeout: 600 };
        }
      }
      const r = await ct.createMany(flows(), { batchSize: 2000, ifExists: 'skip' });
      expect(r.created).toBeGreaterThan(max * 0.9);
    } finally {
      await ct.close();
    }
    // New connections arriving while the doctor watches (bounded: at most 20,000 datagrams).
    const gen = background(ns,
      'for i in $(seq 1 20000); do echo x > /dev/udp/127.0.0.1/$((10000 + i % 50000)); done 2>/dev/null');
    let res;
    try {
      res = await doctor('--netns', ns.name, '--interval', '2');
    } finally {
      await stop(gen);
    }
    const full = res.findings.find((f) => f.check === 'table-full');
    expect(full, JSON.stringify(res.findings)).toBeDefined();
    expect(full!.severity).toBe('error');
    expect(full!.netns?.label).toBe(ns.name);
    expect(full!.seen.max).toBe(max);
    expect(full!.seen.entries as number).toBeGreaterThan(max * 0.9);
    expect(full!.fix).toContain(`nfct top --netns ${ns.name}`);
    const rising = res.findings.filter((f) => f.check === 'stats-rising').map((f) => f.seen.counter);
    expect(rising.some((c) => c === 'early_drop' || c === 'drop'), JSON.stringify(res.findings)).toBe(true);
    expect(res.code).toBe(1);
  });
});

describe('stale UDP: a DNAT to an address that never answers, with traffic going to it', () => {
  let ns: Netns;
  beforeAll(async () => {
    ns = await createNetns('nfct-doc-udp');
    await setSysctl(ns, 'net.netfilter.nf_conntrack_acct', 1);
    // A "service" address 10.96.0.10:53 DNATed to a backend 10.98.0.99:53 that is gone: its
    // packets leave on a veth whose other end has no such address and answers nothing.
    await ns.shOk([
      'ip link add vA type veth peer name vB && ip link set vA up && ip link set vB up',
      'ip addr add 10.98.0.1/24 dev vA && ip neigh add 10.98.0.99 lladdr 02:00:00:00:00:99 dev vA',
      'ip route add 10.96.0.0/16 dev vA',
      "nft -f - <<'EOF'",
      'table ip svc {',
      '  chain out { type nat hook output priority -100; ip daddr 10.96.0.10 udp dport 53 dnat to 10.98.0.99:53; }',
      '}',
      'EOF',
    ].join('\n'));
  });
  afterAll(async () => {
    await ns?.remove();
  });

  // One socket (one source port), as a resolver that keeps retrying: one entry, its packets growing.
  const client = 'exec 3>/dev/udp/10.96.0.10/53; for i in $(seq 1 400); do echo q >&3; sleep 0.02; done';
  // The sentinel: the client's entry is in the table (conntrack -L), so it is sending.
  const clientEntry = () =>
    until(async () => (await listEntries(ns, ['-p', 'udp', '-d', '10.96.0.10'])).entries.length > 0,
      "the client's entry towards 10.96.0.10", { every: 50 });
  /** `nfct doctor` over `interval` seconds while the client sends; the client stopped after. */
  const doctorWhileSending = async (interval: string) => {
    const gen = background(ns, client);
    try {
      await clientEntry();
      return await doctor('--netns', ns.name, '--interval', interval);
    } finally {
      await stop(gen);
    }
  };

  test('a warning naming the target, the packets sent to it, and the delete that clears it', async () => {
    const res = await doctorWhileSending('1.5');
    const stale = res.findings.find((f) => f.check === 'unanswered-udp-dnat');
    expect(stale, JSON.stringify(res.findings)).toBeDefined();
    // The plain DNAT rule names the target: it is the rule's current one, not a stale entry.
    expect(stale!.seen).toMatchObject({ target: '10.98.0.99:53', service: 'out', entries: 1, entriesWithCounters: 1,
      entriesGrowing: 1 });
    expect(res.findings.some((f) => f.check === 'stale-dnat')).toBe(false);
    expect(stale!.seen.packetsInInterval as number).toBeGreaterThan(5);
    expect(stale!.fix).toBe(`nfct -D --netns ${ns.name} -p udp -r 10.98.0.99 --reply-port-src 53`);
    expect(res.findings.some((f) => f.check === 'acct-off')).toBe(false);
    expect(res.code).toBe(0);

    // The command it gives does clear the entry (conntrack -L as the judge).
    expect((await listEntries(ns, ['-p', 'udp', '-r', '10.98.0.99'])).entries).toHaveLength(1);
    await execNfct(stale!.fix.split(' ').slice(1));
    expect((await listEntries(ns, ['-p', 'udp', '-r', '10.98.0.99'])).entries).toHaveLength(0);
  });

  test('with nf_conntrack_acct=0 it says that packet growth cannot be seen', async () => {
    await setSysctl(ns, 'net.netfilter.nf_conntrack_acct', 0);
    const res = await doctorWhileSending('0.5');
    const stale = res.findings.find((f) => f.check === 'unanswered-udp-dnat');
    // Counters are judged per entry: this client's entry was made while accounting was off.
    expect(stale?.title, JSON.stringify(res.findings)).toContain(
      'packet growth unknown: these entries carry no counters',
    );
    expect(stale?.seen).toMatchObject({ target: '10.98.0.99:53', entriesWithCounters: 0, packetsInInterval: null });
    expect(res.findings.find((f) => f.check === 'acct-off')?.fix).toBe(
      `ip netns exec ${ns.name} sysctl -w net.netfilter.nf_conntrack_acct=1`,
    );
  });
});

describe('leftovers of tracing and settings that hide things', () => {
  let ns: Netns;
  let deadPid: number;
  beforeAll(async () => {
    ns = await createNetns('nfct-doc-left');
    const child = spawn('true');
    await new Promise((r) => child.once('close', r));
    deadPid = child.pid!;
    // Named after a pid alone (an older nfct): cannot be judged.
    await ns.execOk('nft', ['add', 'table', 'inet', `nfct_trace_${deadPid}_0`]);
    await ns.shOk('echo nfnetlink_log > /proc/sys/net/netfilter/nf_log/2');
    await setSysctl(ns, 'net.netfilter.nf_conntrack_events', 0);
  });
  afterAll(async () => {
    await ns?.remove();
  });

  test('stale trace table, one that cannot be judged, one in use, nf_log bound with nobody on group 0, an NFLOG group held, events off', async () => {
    const trace = await Trace.open({ netns: ns.name, legacy: false });
    const tracing = trace.events({ match: { protocol: 'udp', dstPort: 9431 } });
    await tracing.ready;
    // Named after its owner, who holds no name: ended (made after the trace above started,
    // which removes such tables).
    await ns.execOk('nft', ['add', 'table', 'inet', `nfct_trace_${deadPid}_0123abcd_0`]);
    const nf = await Nflog.open({ netns: ns.name });
    const ac = new AbortController();
    const held = (async () => {
      for await (const _ of nf.subscribe({ group: 7, signal: ac.signal })) void _;
    })();
    let res;
    try {
      // The sentinel: the kernel lists group 7 as bound (/proc/net/netfilter/nfnetlink_log).
      await until(
        async () =>
          (await ns.execOk('cat', ['/proc/net/netfilter/nfnetlink_log'])).stdout.split('\n').some((l) =>
            /^\s*7\s/.test(l)
          ),
        'NFLOG group 7 bound',
        { every: 50 },
      );
      res = await doctor('--netns', ns.name, '--interval', '0.2');
    } finally {
      ac.abort();
      await held.catch(() => undefined);
      await nf.close();
      await trace.close();
    }
    const by = (check: string) => res.findings.filter((f) => f.check === check);
    expect(by('stale-trace-table').map((f) => f.seen.table)).toEqual([`nfct_trace_${deadPid}_0123abcd_0`]);
    expect(by('stale-trace-table')[0]!.fix).toContain(
      `ip netns exec ${ns.name} nft delete table inet nfct_trace_${deadPid}_0123abcd_0`,
    );
    // An older nfct's table: said, never with a delete to run blindly.
    expect(by('trace-table-owner-unknown').map((f) => f.seen.table)).toEqual([`nfct_trace_${deadPid}_0`]);
    expect(by('trace-table-owner-unknown')[0]!.fix).not.toMatch(/^\S*\s*nft delete/);
    // The running trace's table: in use, by this process; never called left behind.
    expect(by('trace-running').map((f) => f.seen)).toEqual([{
      table: expect.stringMatching(new RegExp(`^nfct_trace_${process.pid}_[0-9a-f]{8}_\\d+$`)),
      holder: process.pid,
    }]);
    expect(by('trace-running')[0]!.severity).toBe('info');
    expect(by('nf-log-unheard')[0]?.seen).toEqual({ 'nf_log/2': 'nfnetlink_log' });
    expect(by('nflog-group-held').map((f) => f.seen)).toEqual([
      expect.objectContaining({ group: 7, pid: process.pid }),
    ]);
    expect(by('events-off')[0]?.severity).toBe('warning');
    expect(res.code).toBe(0);

    // Once fixed as told, the findings are gone.
    await ns.execOk('nft', ['delete', 'table', 'inet', `nfct_trace_${deadPid}_0123abcd_0`]);
    await ns.execOk('nft', ['delete', 'table', 'inet', `nfct_trace_${deadPid}_0`]);
    await setSysctl(ns, 'net.netfilter.nf_conntrack_events', 1);
    // The group is free once the kernel has released the closed socket (its reader thread
    // closes it; under load that can come a little after close()).
    for (let i = 0; i < 50; i++) {
      const r = await ns.execOk('cat', ['/proc/net/netfilter/nfnetlink_log']);
      if (!r.stdout.split('\n').some((l) => /^\s*7\s/.test(l))) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const again = await doctor('--netns', ns.name, '--interval', '0.2');
    expect(again.findings.map((f) => f.check)).not.toContain('stale-trace-table');
    expect(again.findings.map((f) => f.check)).not.toContain('trace-running');
    expect(again.findings.map((f) => f.check)).not.toContain('events-off');
    expect(again.findings.map((f) => f.check)).not.toContain('nflog-group-held');
  });
});

describe('hash table too small for the limit', () => {
  let ns: Netns;
  let saved: string;
  beforeAll(async () => {
    ns = await createNetns('nfct-doc-hash');
    saved = readFileSync(CT_MAX, 'utf8');
  });
  afterAll(async () => {
    writeFileSync(CT_MAX, saved); // global: put back whatever happens
    await ns?.remove();
  });

  test('a limit 16 times the buckets is a warning with both numbers', async () => {
    const buckets = Number(readFileSync('/proc/sys/net/netfilter/nf_conntrack_buckets', 'utf8'));
    // Raising the global limit for a moment harms nobody (run under /tmp/nfct-heavy.lock).
    writeFileSync(CT_MAX, String(buckets * 16));
    let res;
    try {
      res = await doctor('--netns', ns.name, '--interval', '0.1');
    } finally {
      writeFileSync(CT_MAX, saved);
    }
    const f = res.findings.find((x) => x.check === 'hash-too-small');
    expect(f?.seen).toEqual({ buckets, max: buckets * 16, entriesPerBucket: 16 });
    expect(f?.severity).toBe('warning');
  });
});

test('bad arguments: exit status 2 and a message naming the flag', async () => {
  const r = await doctor('--interval', 'soon');
  expect(r.code).toBe(2);
  expect(r.stderr).toContain('--interval');
});
