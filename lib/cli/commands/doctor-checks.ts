// The checks of `nfct doctor`: each turns what was read from one namespace into findings (what
// was seen, why it matters, what to run). Pure functions over a NamespaceReport, so they are
// tested on fixed inputs as well as against the kernel.
import type { AggregateResult } from '../../conntrack/aggregate.js';
import type { CpuStats } from '../../conntrack/types.js';
import { risingPerCpu, type Sysctls, sysctlNumber, WATCHED_STATS, type WatchedStat } from '../node-state.js';
import type { TraceTable } from '../../trace/state.js';

export type Severity = 'error' | 'warning' | 'info';

export interface Finding {
  severity: Severity;
  /** A stable name for the check ('table-full', 'stats-rising', ...). */
  check: string;
  /** The namespace it concerns. */
  netns: string;
  /** One line: what is wrong. */
  title: string;
  /** The numbers behind it. */
  seen: Record<string, unknown>;
  why: string;
  /** The command that fixes or investigates it. */
  fix: string;
}

/** Everything a namespace's checks look at, read by doctor.ts. */
export interface NamespaceReport {
  netns: string;
  /** How to name it on a command line, with a leading space: ' --netns NAME', or '' for our own. */
  nsFlag: string;
  /** `ip netns exec NAME ` (or '' for our own): the prefix of commands run inside it. */
  nsExec: string;
  sysctls: Sysctls;
  entries: number;
  /** Per-CPU statistics at the start and at the end of the sampling interval. */
  statsBefore: CpuStats[];
  statsAfter: CpuStats[];
  seconds: number;
  /** UDP destination-NATed entries grouped by (dnat, status), at the start and at the end. */
  udpDnatBefore: AggregateResult;
  udpDnatAfter: AggregateResult;
  /** The temporary trace tables in the namespace, each judged (lib/trace/state.ts), with who holds a live one. */
  traceTables: Array<TraceTable & { holder?: { pid: number; comm?: string } }>;
  /** NFLOG groups bound in the namespace, with who holds them. */
  nflogGroups: Array<{ group: number; portid: number; pid?: number; comm?: string }>;
}

const int = (n: number): string => Math.round(n).toLocaleString('en-US');

export function checkTableFull(r: NamespaceReport): Finding[] {
  const max = sysctlNumber(r.sysctls, 'nf_conntrack_max');
  if (!max) return [];
  const percent = (100 * r.entries) / max;
  if (percent < 75) return [];
  return [{
    severity: percent >= 90 ? 'error' : 'warning',
    check: 'table-full',
    netns: r.netns,
    title: `conntrack table ${percent.toFixed(1)}% full: ${int(r.entries)} of ${int(max)} entries`,
    seen: { entries: r.entries, max, percent: Number(percent.toFixed(2)) },
    why: 'When the table is full the kernel drops the first packet of every new connection ("nf_conntrack: table full, dropping packet"), or evicts unassured entries (early_drop). nf_conntrack_max is global but counted per namespace.',
    fix: `nfct top${r.nsFlag} --by src   # who fills it; then raise the limit: sysctl -w net.netfilter.nf_conntrack_max=${max * 2}`,
  }];
}

export function checkHashSize(r: NamespaceReport): Finding[] {
  const max = sysctlNumber(r.sysctls, 'nf_conntrack_max');
  const buckets = sysctlNumber(r.sysctls, 'nf_conntrack_buckets');
  if (!max || !buckets) return [];
  const chain = max / buckets;
  if (chain <= 8) return [];
  return [{
    severity: 'warning',
    check: 'hash-too-small',
    netns: r.netns,
    title: `hash table too small for the limit: ${int(buckets)} buckets for up to ${int(max)} entries (${chain.toFixed(1)} per bucket when full)`,
    seen: { buckets, max, entriesPerBucket: Number(chain.toFixed(2)) },
    why: 'Every lookup walks a bucket\'s chain: long chains cost CPU on every packet, and the kernel gives up on chains that grow too long (chaintoolong), dropping the packet.',
    fix: `sysctl -w net.netfilter.nf_conntrack_buckets=${Math.ceil(max / 4)}   # or hashsize=N on the nf_conntrack module`,
  }];
}

const STAT_WHY: Record<WatchedStat, [Severity, string, string]> = {
  drop: ['error', 'packets were dropped because no entry could be made for them (table full and nothing to evict)', 'nfct top NS   # who fills the table'],
  early_drop: ['warning', 'unassured entries were evicted to make room: the table is full; short-lived flows are being cut', 'nfct top NS   # who fills the table'],
  insert_failed: ['warning', 'a new entry lost a race with another for the same tuple (the DNAT race behind 5-second DNS delays when two UDP packets of one socket leave at once)', 'nfct -S NS   # per CPU; consider single-request-reopen for resolvers or a local DNS cache'],
  clash_resolve: ['info', 'races between entries for the same tuple happened and the kernel resolved them (no packet lost)', 'nfct -S NS'],
  chaintoolong: ['warning', 'hash chains grew past the kernel\'s bound and packets were dropped: too few buckets for the table, or an attack on the hash', 'sysctl net.netfilter.nf_conntrack_buckets   # compare with nf_conntrack_max'],
};

export function checkStatsRising(r: NamespaceReport): Finding[] {
  const rising = risingPerCpu(r.statsBefore, r.statsAfter);
  const out: Finding[] = [];
  for (const k of WATCHED_STATS) {
    const cpus = rising.filter((c) => c[k] > 0);
    if (cpus.length === 0) continue;
    const total = cpus.reduce((s, c) => s + c[k], 0);
    const [severity, why, fix] = STAT_WHY[k];
    out.push({
      severity,
      check: 'stats-rising',
      netns: r.netns,
      title: `${k} rose by ${int(total)} in ${r.seconds.toFixed(1)} s (${(total / r.seconds).toFixed(1)}/s)`,
      seen: { counter: k, increase: total, seconds: r.seconds, perCpu: Object.fromEntries(cpus.map((c) => [c.cpu, c[k]])) },
      why: `The per-CPU counter ${k} rises: ${why}.`,
      fix: fix.replace(' NS', r.nsFlag),
    });
  }
  return out;
}

function unreplied(result: AggregateResult): Map<string, { count: number; packets: number; acct: boolean }> {
  const m = new Map<string, { count: number; packets: number; acct: boolean }>();
  for (const g of result.groups) {
    if (!g.key.dnat || g.key.status?.includes('SEEN_REPLY')) continue;
    const e = m.get(g.key.dnat) ?? { count: 0, packets: 0, acct: false };
    e.count += g.count;
    if (g.counters) {
      e.packets += g.counters.original.packets;
      e.acct = true;
    }
    m.set(g.key.dnat, e);
  }
  return m;
}

export function checkStaleUdp(r: NamespaceReport): Finding[] {
  const acct = sysctlNumber(r.sysctls, 'nf_conntrack_acct') === 1;
  const before = unreplied(r.udpDnatBefore);
  const after = unreplied(r.udpDnatAfter);
  const out: Finding[] = [];
  for (const [target, now] of after) {
    const then = before.get(target);
    const growth = acct && then ? now.packets - then.packets : undefined;
    if (acct && (growth === undefined || growth <= 0)) continue;
    const [addr, port] = splitHostPort(target);
    out.push({
      severity: 'warning',
      check: 'stale-udp-dnat',
      netns: r.netns,
      title: acct
        ? `UDP to ${target} never answered: ${int(now.count)} [UNREPLIED] entries, ${int(growth!)} more packets sent to it in ${r.seconds.toFixed(1)} s`
        : `UDP to ${target} never answered: ${int(now.count)} [UNREPLIED] destination-NATed entries (packet growth unknown: nf_conntrack_acct=0)`,
      seen: { target, entries: now.count, packets: acct ? now.packets : null, packetsInInterval: growth ?? null, seconds: r.seconds, acct },
      why: 'Packets keep going to a NAT target that does not answer, and each one refreshes the entry, so it never times out: after a service change (a backend gone), clients keep talking to the old one until the entry is deleted.',
      fix: `nfct -D${r.nsFlag} -p udp -r ${addr}${port ? ` --reply-port-src ${port}` : ''}`,
    });
  }
  return out;
}

function splitHostPort(target: string): [string, string | undefined] {
  const v6 = /^\[(.*)\]:(\d+)$/.exec(target);
  if (v6) return [v6[1]!, v6[2]];
  const v4 = /^([^:]+):(\d+)$/.exec(target);
  return v4 ? [v4[1]!, v4[2]] : [target, undefined];
}

export function checkSettings(r: NamespaceReport): Finding[] {
  const out: Finding[] = [];
  const s = r.sysctls;
  const set = (name: string, value: number | string): string => `${r.nsExec}sysctl -w net.netfilter.${name.replace('/', '.')}=${value}`;
  const add = (severity: Severity, check: string, title: string, seen: Record<string, unknown>, why: string, fix: string): void => {
    out.push({ severity, check, netns: r.netns, title, seen, why, fix });
  };
  if (sysctlNumber(s, 'nf_conntrack_events') === 0) {
    add('warning', 'events-off', 'conntrack events are off (nf_conntrack_events=0)', { nf_conntrack_events: 0 },
      'No event is sent: nfct -E, conntrack -E, the new/destroy rates of nfct top and every event listener see nothing.', set('nf_conntrack_events', 1));
  }
  if (sysctlNumber(s, 'nf_conntrack_acct') === 0) {
    add('info', 'acct-off', 'packet and byte counters are off (nf_conntrack_acct=0)', { nf_conntrack_acct: 0 },
      'Entries carry no counters: nfct top cannot rank by packets or bytes, and a UDP flow that never gets an answer cannot be told from an idle one.', set('nf_conntrack_acct', 1));
  }
  if (sysctlNumber(s, 'nf_conntrack_timestamp') === 0) {
    add('info', 'timestamp-off', 'entry timestamps are off (nf_conntrack_timestamp=0)', { nf_conntrack_timestamp: 0 },
      'Entries carry no start time: how long a connection has lived cannot be seen (conntrack -o ktimestamp, Flow.timestamp).', set('nf_conntrack_timestamp', 1));
  }
  const none = ['2', '10'].filter((pf) => s[`nf_log/${pf}`] === 'NONE');
  if (none.length > 0) {
    add('info', 'nf-log-none', `no nf_log backend for ${none.map((pf) => (pf === '2' ? 'IPv4' : 'IPv6')).join(' and ')}`, Object.fromEntries(none.map((pf) => [`nf_log/${pf}`, 'NONE'])),
      'LOG rules and legacy iptables TRACE rules log nothing in this namespace until a backend is bound (nfct trace --bind-logger binds nfnetlink_log for its run).', `${r.nsExec}sh -c 'echo nf_log_ipv4 > /proc/sys/net/netfilter/nf_log/2'   # or nfct trace --bind-logger`);
  }
  if (r.nsExec !== '' && sysctlNumber(s, 'nf_log_all_netns') === 0) {
    add('info', 'nf-log-all-netns-off', 'LOG messages of this namespace do not reach the kernel log (nf_log_all_netns=0)', { nf_log_all_netns: 0 },
      'Outside the host namespace, LOG rules write to the kernel log only when nf_log_all_netns=1 (global): dmesg shows nothing of them. NFLOG (nfct log) is not affected.', 'sysctl -w net.netfilter.nf_log_all_netns=1   # global, from the host namespace');
  }
  return out;
}

export function checkTraceLeftovers(r: NamespaceReport): Finding[] {
  const out: Finding[] = [];
  for (const t of r.traceTables) {
    const table = t.name;
    if (t.owner === 'dead') {
      out.push({
        severity: 'warning',
        check: 'stale-trace-table',
        netns: r.netns,
        title: `trace table ${table} left behind by a process that has ended`,
        seen: { table, pid: t.pid ?? null },
        why: 'A tracer killed before it could clean up left its table: every matching packet is still marked for tracing (nftrace), which costs on each packet and floods any trace listener.',
        fix: `${r.nsExec}nft delete table inet ${table}   # nfct trace also removes such tables when it next runs here`,
      });
    } else if (t.owner === 'unknown') {
      out.push({
        severity: 'warning',
        check: 'trace-table-owner-unknown',
        netns: r.netns,
        title: `trace table ${table}: whether its tracer still runs cannot be told`,
        seen: { table, pid: t.pid ?? null },
        why: 'It is named after a pid alone (an older nfct), and a pid says nothing from another PID namespace or once it is reused, so no one removes it automatically. While it is in place every matching packet is marked for tracing.',
        fix: `${r.nsExec}nft list table inet ${table}   # made by an older nfct trace; remove it only once no such trace runs here`,
      });
    } else {
      const who = t.holder ? `pid ${t.holder.pid}${t.holder.comm ? ` (${t.holder.comm})` : ''}` : 'a process not visible from here (another PID namespace)';
      out.push({
        severity: 'info',
        check: 'trace-running',
        netns: r.netns,
        title: `trace table ${table} is in use by ${who}`,
        seen: { table, ...(t.holder ? { holder: t.holder.pid } : {}) },
        why: 'A running nfct trace marks the packets it traces with its own table; the table goes when that trace ends, however it ends.',
        fix: t.holder ? `ps -o pid,args -p ${t.holder.pid}` : `${r.nsExec}nft list table inet ${table}`,
      });
    }
  }
  const group0 = r.nflogGroups.some((g) => g.group === 0);
  const bound = ['2', '10'].filter((pf) => r.sysctls[`nf_log/${pf}`] === 'nfnetlink_log');
  if (bound.length > 0 && !group0) {
    out.push({
      severity: 'warning',
      check: 'nf-log-unheard',
      netns: r.netns,
      title: `nf_log bound to nfnetlink_log for ${bound.map((pf) => (pf === '2' ? 'IPv4' : 'IPv6')).join(' and ')} with nobody on NFLOG group 0`,
      seen: Object.fromEntries(bound.map((pf) => [`nf_log/${pf}`, 'nfnetlink_log'])),
      why: 'LOG and legacy TRACE messages go to NFLOG group 0, where nothing listens: they are lost instead of reaching the kernel log. A tracer that died while bound leaves this behind.',
      fix: bound.map((pf) => `${r.nsExec}sh -c 'echo ${pf === '2' ? 'nf_log_ipv4' : 'nf_log_ipv6'} > /proc/sys/net/netfilter/nf_log/${pf}'`).join('; '),
    });
  }
  for (const g of r.nflogGroups) {
    const who = g.pid !== undefined ? `pid ${g.pid}${g.comm ? ` (${g.comm})` : ''}` : `netlink port ${g.portid}`;
    out.push({
      severity: 'info',
      check: 'nflog-group-held',
      netns: r.netns,
      title: `NFLOG group ${g.group} is held by ${who}`,
      seen: { ...g },
      why: 'One listener per group and namespace: another nfct log --group, ulogd or tcpdump -i nflog on it fails with EBUSY (group 0 is where legacy TRACE goes).',
      fix: g.pid !== undefined ? `ps -o pid,args -p ${g.pid}   # stop it, or use another group` : 'cat /proc/net/netfilter/nfnetlink_log',
    });
  }
  return out;
}

export const CHECKS = [checkTableFull, checkHashSize, checkStatsRising, checkStaleUdp, checkSettings, checkTraceLeftovers];

const ORDER: Record<Severity, number> = { error: 0, warning: 1, info: 2 };

/** Every finding of one namespace, errors first. */
export function diagnose(r: NamespaceReport): Finding[] {
  return CHECKS.flatMap((c) => c(r)).sort((a, b) => ORDER[a.severity] - ORDER[b.severity]);
}
