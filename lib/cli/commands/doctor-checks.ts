// The checks of `nfct doctor`: each turns what was read from one namespace into findings (what
// was seen, why it matters, what to run). Pure functions over a NamespaceReport, so they are
// tested on fixed inputs as well as against the kernel.
import type { CpuStats, Flow } from '../../conntrack/types.js';
import type { AddressOwner } from '../../k8s/node.js';
import { endpointText } from '../../k8s/rules.js';
import type { Services } from '../../k8s/services.js';
import { findStaleEntries, findUnanswered } from '../../k8s/stale.js';
import type { TraceTable } from '../../trace/state.js';
import { risingPerCpu, sysctlNumber, type Sysctls, WATCHED_STATS, type WatchedStat } from '../node-state.js';
import type { Finding, Severity } from './doctor-finding.js';
import { clientText, staleFindings } from './doctor-stale.js';

export type { Finding, Severity } from './doctor-finding.js';

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
  /** Destination-NATed entries at the start and at the end of the interval. */
  dnatBefore: Flow[];
  dnatAfter: Flow[];
  /** The namespace's Services (read when it has DNATed entries). */
  services?: Services;
  /** Why the Services could not be read, when they could not. */
  servicesError?: string;
  /** Which pod each address of the node belongs to (for naming clients). */
  owners: ReadonlyMap<string, AddressOwner>;
  /** The temporary trace tables in the namespace, each judged (lib/trace/state.ts), with who holds a live one. */
  traceTables: (TraceTable & { holder?: { pid: number; comm?: string } })[];
  /** NFLOG groups bound in the namespace, with who holds them. */
  nflogGroups: { group: number; portid: number; pid?: number; comm?: string }[];
  /** Whether it is the initial (host) namespace; undefined when that could not be told. */
  initial?: boolean;
  /**
   * Rules that write to the kernel log: nft `log` statements without `group` (iptables-nft
   * -j LOG among them), iptables-legacy/ip6tables-legacy -j LOG, and legacy -j TRACE rules.
   */
  logRules?: { nft: number; legacy: number; trace: number };
}

const int = (n: number): string => Math.round(n).toLocaleString('en-US');

/** Every check, by id, as `nfct doctor --help` lists them. */
export const CHECK_LIST: readonly (readonly [id: string, severity: string, what: string])[] = [
  ['table-full', 'error/warning', "a namespace's table at 90% / 75% of nf_conntrack_max"],
  ['hash-too-small', 'warning', 'more than 8 entries per hash bucket at the limit (node-wide)'],
  ['stats-rising', 'by counter', 'drop, early_drop, insert_failed, clash_resolve, chaintoolong rising'],
  ['stale-dnat', 'warning', "entries DNATed to an endpoint that is no longer one of its Service's"],
  ['unanswered-udp-dnat', 'warning', 'UDP towards a NAT target that never answers'],
  ['ruleset-unreadable', 'info', 'the NAT rules could not be read: entries not checked against Services'],
  ['events-off', 'warning', 'nf_conntrack_events=0: event listeners see nothing'],
  ['acct-off', 'info', 'nf_conntrack_acct=0: no packet and byte counters'],
  ['timestamp-off', 'info', 'nf_conntrack_timestamp=0: no start times'],
  ['nf-log-none', 'info', 'no nf_log backend: LOG and legacy TRACE rules log nothing'],
  ['nf-log-all-netns-off', 'info',
    "nf_log_all_netns=0: other namespaces' LOG lines never reach the kernel log (node-wide)"],
  ['log-lines-suppressed', 'warning', 'LOG rules in a namespace other than the initial one while nf_log_all_netns=0'],
  ['stale-trace-table', 'warning', 'a trace table left by a tracer that has ended'],
  ['trace-table-owner-unknown', 'warning', 'a trace table whose tracer cannot be told alive or gone'],
  ['trace-running', 'info', 'a trace table in use by a running tracer, and by whom'],
  ['nf-log-unheard', 'warning', 'nf_log bound to nfnetlink_log with nobody on NFLOG group 0'],
  ['nflog-group-held', 'info', 'an NFLOG group held, and by whom'],
];

/** The command that runs `cmd` in the initial network namespace (the node's). */
const INITIAL = (cmd: string): string => `nsenter --net=/proc/1/ns/net ${cmd}`;

export function checkTableFull(r: NamespaceReport): Finding[] {
  const max = sysctlNumber(r.sysctls, 'nf_conntrack_max');
  if (!max) return [];
  const percent = (100 * r.entries) / max;
  if (percent < 75) return [];
  const raise = `sysctl -w net.netfilter.nf_conntrack_max=${max * 2}`;
  return [{
    severity: percent >= 90 ? 'error' : 'warning',
    check: 'table-full',
    scope: 'namespace',
    netns: r.netns,
    title: `conntrack table ${percent.toFixed(1)}% full: ${int(r.entries)} of ${int(max)} entries`,
    seen: { entries: r.entries, max, percent: Number(percent.toFixed(2)) },
    why:
      'When the table is full the kernel drops the first packet of every new connection ("nf_conntrack: table full, dropping packet"), or evicts unassured entries (early_drop). nf_conntrack_max is one limit for the whole node, set in the initial network namespace (read-only in the others), and each namespace\'s entries count against it on their own: raising it raises it for every namespace.',
    fix: r.nsExec === ''
      ? `nfct top --by src   # who fills it; then raise the limit: ${raise}`
      : `nfct top${r.nsFlag} --by src   # who fills it; then raise the limit in the initial namespace (it is global): ${
        INITIAL(raise)
      }`,
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
    scope: 'node',
    netns: 'node',
    title: `hash table too small for the limit: ${int(buckets)} buckets for up to ${int(max)} entries (${
      chain.toFixed(1)
    } per bucket when full)`,
    seen: { buckets, max, entriesPerBucket: Number(chain.toFixed(2)) },
    why:
      "Every lookup walks a bucket's chain: long chains cost CPU on every packet, and the kernel gives up on chains that grow too long (chaintoolong), dropping the packet.",
    fix: `${r.nsExec === '' ? '' : 'nsenter --net=/proc/1/ns/net '}sysctl -w net.netfilter.nf_conntrack_buckets=${
      Math.ceil(max / 4)
    }   # global; or hashsize=N on the nf_conntrack module`,
  }];
}

const STAT_WHY: Record<WatchedStat, [Severity, string, string]> = {
  drop: ['error', 'packets were dropped because no entry could be made for them (table full and nothing to evict)',
    'nfct top NS   # who fills the table'],
  early_drop: ['warning',
    'unassured entries were evicted to make room: the table is full; short-lived flows are being cut',
    'nfct top NS   # who fills the table'],
  insert_failed: ['warning',
    'a new entry lost a race with another for the same tuple (the DNAT race behind 5-second DNS delays when two UDP packets of one socket leave at once)',
    'nfct -S NS   # per CPU; consider single-request-reopen for resolvers or a local DNS cache'],
  clash_resolve: ['info',
    'races between entries for the same tuple happened and the kernel resolved them (no packet lost)', 'nfct -S NS'],
  chaintoolong: ['warning',
    "hash chains grew past the kernel's bound and packets were dropped: too few buckets for the table, or an attack on the hash",
    'sysctl net.netfilter.nf_conntrack_buckets   # compare with nf_conntrack_max'],
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
      scope: 'namespace',
      netns: r.netns,
      title: `${k} rose by ${int(total)} in ${r.seconds.toFixed(1)} s (${(total / r.seconds).toFixed(1)}/s)`,
      seen: { counter: k, increase: total, seconds: r.seconds,
        perCpu: Object.fromEntries(cpus.map((c) => [c.cpu, c[k]])) },
      why: `The per-CPU counter ${k} rises: ${why}.`,
      fix: fix.replace(' NS', r.nsFlag),
    });
  }
  return out;
}

/**
 * Entries whose DNAT target is no longer an endpoint of the rule for their original destination
 * (ASSURED or not, any protocol), one finding per Service port and old endpoint.
 */
export function checkStaleDnat(r: NamespaceReport): Finding[] {
  if (!r.services) return [];
  return staleFindings(r.netns, r.nsFlag, r.seconds, findStaleEntries(r.dnatBefore, r.dnatAfter, r.services), r.owners);
}

/** UDP entries towards a DNAT target (still an endpoint, or no Service's) that never answered. */
export function checkUnansweredUdp(r: NamespaceReport): Finding[] {
  const out: Finding[] = [];
  for (const g of findUnanswered(r.dnatBefore, r.dnatAfter, r.services)) {
    // Entries with counters that did not grow are idle, not a client retrying: left out.
    if (g.withCounters === g.entries && g.growing === 0) continue;
    const target = endpointText(g.target);
    const clients = [...g.clients.keys()].slice(0, 5).map((a) => clientText(a, r.owners));
    const counters = g.withCounters === 0
      ? 'packet growth unknown: these entries carry no counters (made while nf_conntrack_acct was 0)'
      : `${int(g.packetsInInterval)} more packets sent to it in ${r.seconds.toFixed(1)} s by ${int(g.growing)} of ${
        int(g.withCounters)
      } entries with counters`;
    out.push({
      severity: 'warning',
      check: 'unanswered-udp-dnat',
      scope: 'namespace',
      netns: r.netns,
      title: `UDP to ${target}${g.service ? ` (an endpoint of ${g.service.name})` : ''} never answered: ${
        int(g.entries)
      } [UNREPLIED] ${g.entries === 1 ? 'entry' : 'entries'} from ${clients.join(', ')}; ${counters}`,
      seen: { target, service: g.service?.name ?? null, entries: g.entries, entriesWithCounters: g.withCounters,
        entriesGrowing: g.growing, packetsInInterval: g.withCounters > 0 ? g.packetsInInterval : null,
        seconds: r.seconds },
      why:
        'Packets keep going to a NAT target that does not answer, and each one refreshes the entry, so it never times out: the target is down or unreachable. Once it is back (or the rules name another), deleting the entries lets the next packet go through the current rules.',
      fix: `nfct -D${r.nsFlag} -p udp -r ${g.target.address}${
        g.target.port !== undefined ? ` --reply-port-src ${g.target.port}` : ''
      }`,
    });
  }
  if (r.servicesError && r.dnatAfter.length > 0) {
    out.push({
      severity: 'info',
      check: 'ruleset-unreadable',
      scope: 'namespace',
      netns: r.netns,
      title: 'the NAT rules could not be read: entries are not checked against the Services',
      seen: { error: r.servicesError },
      why: 'Stale entries are found by comparing each DNATed entry with the endpoints the rules name now.',
      fix: `${r.nsExec}nft -j list ruleset >/dev/null   # what fails`,
    });
  }
  return out;
}

export function checkSettings(r: NamespaceReport): Finding[] {
  const out: Finding[] = [];
  const s = r.sysctls;
  const set = (name: string, value: number | string): string =>
    `${r.nsExec}sysctl -w net.netfilter.${name.replace('/', '.')}=${value}`;
  const add = (severity: Severity, check: string, title: string, seen: Record<string, unknown>, why: string,
    fix: string): void =>
  {
    out.push({ severity, check, scope: 'namespace', netns: r.netns, title, seen, why, fix });
  };
  if (sysctlNumber(s, 'nf_conntrack_events') === 0) {
    add('warning', 'events-off', 'conntrack events are off (nf_conntrack_events=0)', { nf_conntrack_events: 0 },
      'No event is sent: nfct -E, conntrack -E, the new/destroy rates of nfct top and every event listener see nothing.',
      set('nf_conntrack_events', 1));
  }
  if (sysctlNumber(s, 'nf_conntrack_acct') === 0) {
    add('info', 'acct-off', 'packet and byte counters are off (nf_conntrack_acct=0)', { nf_conntrack_acct: 0 },
      'Entries carry no counters: nfct top cannot rank by packets or bytes, and a UDP flow that never gets an answer cannot be told from an idle one.',
      set('nf_conntrack_acct', 1));
  }
  if (sysctlNumber(s, 'nf_conntrack_timestamp') === 0) {
    add('info', 'timestamp-off', 'entry timestamps are off (nf_conntrack_timestamp=0)', { nf_conntrack_timestamp: 0 },
      'Entries carry no start time: how long a connection has lived cannot be seen (conntrack -o ktimestamp, Flow.timestamp).',
      set('nf_conntrack_timestamp', 1));
  }
  const none = ['2', '10'].filter((pf) => s[`nf_log/${pf}`] === 'NONE');
  if (none.length > 0) {
    add('info', 'nf-log-none',
      `no nf_log backend for ${none.map((pf) => (pf === '2' ? 'IPv4' : 'IPv6')).join(' and ')}`,
      Object.fromEntries(none.map((pf) => [`nf_log/${pf}`, 'NONE'])),
      'LOG rules and legacy iptables TRACE rules log nothing in this namespace until a backend is bound (nfct trace --bind-logger binds nfnetlink_log for its run).',
      `${r.nsExec}sh -c 'echo nf_log_ipv4 > /proc/sys/net/netfilter/nf_log/2'   # or nfct trace --bind-logger`);
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
        scope: 'namespace',
        netns: r.netns,
        title: `trace table ${table} left behind by a process that has ended`,
        seen: { table, pid: t.pid ?? null },
        why:
          'A tracer killed before it could clean up left its table: every matching packet is still marked for tracing (nftrace), which costs on each packet and floods any trace listener.',
        fix: `${r.nsExec}nft delete table inet ${table}   # nfct trace also removes such tables when it next runs here`,
      });
    } else if (t.owner === 'unknown') {
      out.push({
        severity: 'warning',
        check: 'trace-table-owner-unknown',
        scope: 'namespace',
        netns: r.netns,
        title: `trace table ${table}: whether its tracer still runs cannot be told`,
        seen: { table, pid: t.pid ?? null },
        why:
          'It is named after a pid alone (an older nfct), and a pid says nothing from another PID namespace or once it is reused, so no one removes it automatically. While it is in place every matching packet is marked for tracing.',
        fix:
          `${r.nsExec}nft list table inet ${table}   # made by an older nfct trace; remove it only once no such trace runs here`,
      });
    } else {
      const who = t.holder
        ? `pid ${t.holder.pid}${t.holder.comm ? ` (${t.holder.comm})` : ''}`
        : 'a process not visible from here (another PID namespace)';
      out.push({
        severity: 'info',
        check: 'trace-running',
        scope: 'namespace',
        netns: r.netns,
        title: `trace table ${table} is in use by ${who}`,
        seen: { table, ...(t.holder ? { holder: t.holder.pid } : {}) },
        why:
          'A running nfct trace marks the packets it traces with its own table; the table goes when that trace ends, however it ends.',
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
      scope: 'namespace',
      netns: r.netns,
      title: `nf_log bound to nfnetlink_log for ${
        bound.map((pf) => (pf === '2' ? 'IPv4' : 'IPv6')).join(' and ')
      } with nobody on NFLOG group 0`,
      seen: Object.fromEntries(bound.map((pf) => [`nf_log/${pf}`, 'nfnetlink_log'])),
      why:
        'LOG and legacy TRACE messages go to NFLOG group 0, where nothing listens: they are lost instead of reaching the kernel log. A tracer that died while bound leaves this behind.',
      fix: bound.map((pf) =>
        `${r.nsExec}sh -c 'echo ${pf === '2' ? 'nf_log_ipv4' : 'nf_log_ipv6'} > /proc/sys/net/netfilter/nf_log/${pf}'`
      ).join('; '),
    });
  }
  for (const g of r.nflogGroups) {
    const who = g.pid !== undefined ? `pid ${g.pid}${g.comm ? ` (${g.comm})` : ''}` : `netlink port ${g.portid}`;
    out.push({
      severity: 'info',
      check: 'nflog-group-held',
      scope: 'namespace',
      netns: r.netns,
      title: `NFLOG group ${g.group} is held by ${who}`,
      seen: { ...g },
      why:
        'One listener per group and namespace: another nfct log --group, ulogd or tcpdump -i nflog on it fails with EBUSY (group 0 is where legacy TRACE goes).',
      fix: g.pid !== undefined
        ? `ps -o pid,args -p ${g.pid}   # stop it, or use another group`
        : 'cat /proc/net/netfilter/nfnetlink_log',
    });
  }
  return out;
}

/** Rules of the namespace whose lines go to the kernel log (TRACE only with a syslog backend). */
function logRuleCount(r: NamespaceReport): number {
  const l = r.logRules;
  if (!l) return 0;
  const syslogTrace = ['2', '10'].some((pf) => /^nf_log_ipv[46]$/.test(r.sysctls[`nf_log/${pf}`] ?? ''));
  return l.nft + l.legacy + (syslogTrace ? l.trace : 0);
}

/**
 * LOG rules in a namespace other than the initial one while nf_log_all_netns=0: the kernel
 * writes none of their lines, so dmesg, the journal and nfct log --kmsg see nothing of them.
 */
export function checkLogSuppressed(r: NamespaceReport): Finding[] {
  const n = logRuleCount(r);
  if (n === 0 || r.initial !== false || sysctlNumber(r.sysctls, 'nf_log_all_netns') !== 0) return [];
  const l = r.logRules!;
  return [{
    severity: 'warning',
    check: 'log-lines-suppressed',
    scope: 'namespace',
    netns: r.netns,
    title: `${n} rule${n === 1 ? '' : 's'} here log${n === 1 ? 's' : ''} to the kernel log, which writes none of ${
      n === 1 ? 'its' : 'their'
    } lines (nf_log_all_netns=0)`,
    seen: { nftLog: l.nft, iptablesLegacyLog: l.legacy, legacyTrace: n - l.nft - l.legacy, nf_log_all_netns: 0 },
    why:
      'The kernel writes LOG and TRACE lines of a namespace other than the initial one only when net.netfilter.nf_log_all_netns=1 (global). These rules match packets and log nothing: dmesg, the journal and nfct log --kmsg see none of their lines. NFLOG (-j NFLOG, log group N) is not affected.',
    fix: `${
      INITIAL('sysctl -w net.netfilter.nf_log_all_netns=1')
    }   # global: every namespace; or log to NFLOG and read it with nfct log${r.nsFlag} --group N`,
  }];
}

/** nf_log_all_netns=0 with namespaces other than the initial one examined: said once for the node. */
export function checkLogAllNetns(reports: readonly NamespaceReport[]): Finding[] {
  // A namespace with rules that log there is told so by log-lines-suppressed, a warning of its own.
  const hidden = reports.filter((r) =>
    r.nsExec !== '' && sysctlNumber(r.sysctls, 'nf_log_all_netns') === 0 && logRuleCount(r) === 0
  );
  if (hidden.length === 0) return [];
  return [{
    severity: 'info',
    check: 'nf-log-all-netns-off',
    scope: 'node',
    netns: 'node',
    title: `LOG messages of ${
      hidden.length === 1 ? 'a namespace' : `${hidden.length} namespaces`
    } other than the initial one do not reach the kernel log (nf_log_all_netns=0)`,
    seen: { nf_log_all_netns: 0, namespaces: hidden.map((r) => r.netns) },
    why:
      'Outside the initial namespace, LOG rules write to the kernel log only when nf_log_all_netns=1, one setting for the whole node: dmesg shows nothing of them. NFLOG (nfct log) is not affected.',
    fix: INITIAL('sysctl -w net.netfilter.nf_log_all_netns=1   # global: every namespace'),
  }];
}

/** The checks of one namespace. */
export const CHECKS = [checkTableFull, checkStatsRising, checkStaleDnat, checkUnansweredUdp, checkSettings,
  checkLogSuppressed, checkTraceLeftovers];

const ORDER: Record<Severity, number> = { error: 0, warning: 1, info: 2 };

/** Whether a finding is at least as severe as `min`. */
export function atLeast(f: Finding, min: Severity): boolean {
  return ORDER[f.severity] <= ORDER[min];
}

/**
 * Every finding of the namespaces examined, errors first: each namespace's own, then what
 * concerns the whole node (global settings), once however many namespaces show it.
 */
export function diagnose(reports: readonly NamespaceReport[]): Finding[] {
  const node: Finding[] = [...checkLogAllNetns(reports)];
  const seen = new Set<string>();
  // A global setting reads the same in every namespace: the first report's finding stands for all.
  for (const r of reports) {
    for (const f of checkHashSize(r)) {
      if (!seen.has(f.check)) node.push(f);
      seen.add(f.check);
    }
  }
  return [...reports.flatMap((r) => CHECKS.flatMap((c) => c(r))), ...node].sort((a, b) =>
    ORDER[a.severity] - ORDER[b.severity]
  );
}
