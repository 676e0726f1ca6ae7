// nfct doctor's findings on fixed inputs: a global setting found once for the node however many
// namespaces show it; the table-full advice says the limit is global and where to raise it;
// --min-severity; --help names every check a finding can carry, as docs/cli.md's table does.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, test } from 'vitest';

import { atLeast, CHECK_LIST, checkTableFull, diagnose,
  type NamespaceReport } from '../../lib/cli/commands/doctor-checks.js';
import { DOCTOR_HELP } from '../../lib/cli/commands/doctor.js';
import type { CpuStats } from '../../lib/conntrack/types.js';

const cpu = (n: number, v: Partial<CpuStats> = {}): CpuStats => ({ cpu: n, found: 0, invalid: 0, insert: 0,
  insert_failed: 0, drop: 0, early_drop: 0, error: 0, search_restart: 0, clash_resolve: 0, chaintoolong: 0, ...v });

function report(netns: string, over: Partial<NamespaceReport> = {}): NamespaceReport {
  const host = netns === 'host';
  return {
    netns,
    nsFlag: host ? '' : ` --netns ${netns}`,
    nsExec: host ? '' : `ip netns exec ${netns} `,
    sysctls: { nf_conntrack_max: '1000', nf_conntrack_buckets: '100', nf_conntrack_acct: '0', nf_conntrack_events: '1',
      nf_conntrack_timestamp: '1', nf_log_all_netns: '0' },
    entries: 0,
    statsBefore: [cpu(0)],
    statsAfter: [cpu(0)],
    seconds: 2,
    dnatBefore: [],
    dnatAfter: [],
    owners: new Map(),
    traceTables: [],
    nflogGroups: [{ group: 3, portid: 9, pid: 42, comm: 'ulogd' }],
    ...over,
  };
}

describe('node-wide findings', () => {
  const ten = ['host', ...Array.from({ length: 9 }, (_, i) => `ns${i}`)].map((n) => report(n));
  const findings = diagnose(ten);
  const byCheck = (id: string) => findings.filter((f) => f.check === id);

  test('nf_log_all_netns=0 and a hash too small: once each, for the node, naming the namespaces it hides', () => {
    for (const id of ['nf-log-all-netns-off', 'hash-too-small']) {
      expect(byCheck(id)).toHaveLength(1);
      expect(byCheck(id)[0]).toMatchObject({ scope: 'node', netns: 'node' });
    }
    expect(byCheck('nf-log-all-netns-off')[0]!.seen).toEqual({ nf_log_all_netns: 0,
      namespaces: ten.slice(1).map((r) => r.netns) });
    expect(byCheck('nf-log-all-netns-off')[0]!.fix).toBe(
      'nsenter --net=/proc/1/ns/net sysctl -w net.netfilter.nf_log_all_netns=1   # global: every namespace',
    );
  });

  test('per-namespace settings stay per namespace', () => {
    expect(byCheck('acct-off').map((f) => f.netns)).toEqual(ten.map((r) => r.netns));
    expect(byCheck('acct-off').every((f) => f.scope === 'namespace')).toBe(true);
  });

  test('the host alone: no nf_log_all_netns finding (its own LOG lines reach the log)', () => {
    expect(diagnose([report('host')]).map((f) => f.check)).not.toContain('nf-log-all-netns-off');
  });

  test('--min-severity: warning keeps warnings and errors, error keeps errors', () => {
    const all = diagnose([report('a', { entries: 950 })]);
    expect(all.filter((f) => atLeast(f, 'warning')).map((f) => f.severity).sort()).toEqual(['error', 'warning']);
    expect(all.filter((f) => atLeast(f, 'error')).map((f) => f.check)).toEqual(['table-full']);
    expect(all.filter((f) => atLeast(f, 'info'))).toHaveLength(all.length);
  });
});

describe('table-full', () => {
  test('in another namespace: the limit is global, raised from the initial namespace', () => {
    const [f] = checkTableFull(report('pods', { entries: 950 }));
    expect(f!.why).toMatch(
      /one limit for the whole node, set in the initial network namespace \(read-only in the others\)/,
    );
    expect(f!.fix).toBe(
      'nfct top --netns pods --by src   # who fills it; then raise the limit in the initial namespace (it is global): nsenter --net=/proc/1/ns/net sysctl -w net.netfilter.nf_conntrack_max=2000',
    );
  });
  test('in the initial namespace: sysctl as it is', () => {
    expect(checkTableFull(report('host', { entries: 950 }))[0]!.fix).toBe(
      'nfct top --by src   # who fills it; then raise the limit: sysctl -w net.netfilter.nf_conntrack_max=2000',
    );
  });
});

describe('--help', () => {
  test('lists every check by its id, and every id a finding carries is listed', () => {
    const ids = CHECK_LIST.map(([id]) => id);
    for (const id of ids) expect(DOCTOR_HELP).toMatch(new RegExp(`^  ${id} `, 'm'));
    // Findings of every kind these inputs make: each one's check is in the list.
    const made = diagnose([
      report('host', { entries: 990,
        sysctls: { nf_conntrack_max: '1000', nf_conntrack_buckets: '10', nf_conntrack_acct: '0',
          nf_conntrack_events: '0', nf_conntrack_timestamp: '0', 'nf_log/2': 'NONE' } }),
      report('b', { traceTables: [{ name: 'nfct_trace_1_0', owner: 'dead', pid: 1 }],
        sysctls: { nf_conntrack_max: '1000', nf_log_all_netns: '0', 'nf_log/2': 'nfnetlink_log' },
        statsAfter: [cpu(0, { drop: 5 })] }),
    ]);
    const checks = new Set(made.map((f) => f.check));
    expect(checks.size).toBeGreaterThanOrEqual(10);
    for (const c of checks) expect(ids).toContain(c);
    // The severity the list gives a check is the one its findings carry ('by counter': any),
    // and each check says what it looks at.
    for (const f of made) {
      const [, severity, what] = CHECK_LIST.find(([id]) => id === f.check)!;
      if (severity !== 'by counter') expect(severity.split('/')).toContain(f.severity);
      expect(what.length).toBeGreaterThan(20);
    }
    for (const [, severity, what] of CHECK_LIST) expect(DOCTOR_HELP).toContain(`${severity.padEnd(14)}${what}\n`);
  });

  test("docs/cli.md's table of checks is the list --help prints, row for row", () => {
    const docs = readFileSync(join(__dirname, '..', '..', 'docs', 'cli.md'), 'utf8');
    const section = docs.slice(docs.indexOf('\n## nfct doctor\n'),
      docs.indexOf('\n## ', docs.indexOf('\n## nfct doctor\n') + 1));
    const rows = [...section.matchAll(/^\| `([a-z-]+)` \| ([^|]+) \| (.+) \|$/gm)].map((
      m,
    ) => [m[1], m[2]!.trim(), m[3]]);
    expect(rows).toEqual(CHECK_LIST.map((c) => [...c]));
  });
});
