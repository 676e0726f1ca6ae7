// The pure halves of nfct top and nfct doctor on fixed inputs: the frame's colours and layout,
// merging namespaces, and the thresholds of the doctor's checks.
import { describe, expect, test } from 'vitest';

import { checkHashSize, checkStaleDnat, checkStatsRising, checkTableFull, checkUnansweredUdp, diagnose,
  type NamespaceReport } from '../../lib/cli/commands/doctor-checks.js';
import { renderFrame, type TopSnapshot } from '../../lib/cli/commands/top-view.js';
import { mergeGroups } from '../../lib/cli/commands/top.js';
import type { AggregateResult } from '../../lib/conntrack/aggregate.js';
import { Status } from '../../lib/conntrack/status.js';
import type { CpuStats } from '../../lib/conntrack/types.js';
import type { Flow } from '../../lib/conntrack/types.js';
import { parseServices } from '../../lib/k8s/services.js';

const empty: AggregateResult = { by: ['dnat', 'status'], sort: 'count', groups: [], total: { count: 0 },
  groupCount: 0 };
const cpu = (n: number, v: Partial<CpuStats> = {}): CpuStats => ({ cpu: n, found: 0, invalid: 0, insert: 0,
  insert_failed: 0, drop: 0, early_drop: 0, error: 0, search_restart: 0, clash_resolve: 0, chaintoolong: 0, ...v });

function report(over: Partial<NamespaceReport> = {}): NamespaceReport {
  return {
    netns: 'ns1',
    nsFlag: ' --netns ns1',
    nsExec: 'ip netns exec ns1 ',
    sysctls: { nf_conntrack_max: '1000', nf_conntrack_buckets: '1000', nf_conntrack_acct: '1', nf_conntrack_events: '1',
      nf_conntrack_timestamp: '1' },
    entries: 0,
    statsBefore: [cpu(0), cpu(1)],
    statsAfter: [cpu(0), cpu(1)],
    seconds: 2,
    dnatBefore: [],
    dnatAfter: [],
    owners: new Map(),
    traceTables: [],
    nflogGroups: [],
    ...over,
  };
}

describe('doctor checks', () => {
  test.each([
    [749, []],
    [750, ['warning']],
    [899, ['warning']],
    [900, ['error']],
  ])('table-full at %i of 1000 entries: %j', (entries, severities) => {
    expect(checkTableFull(report({ entries })).map((f) => f.severity)).toEqual(severities);
  });

  test('hash-too-small past 8 entries per bucket', () => {
    expect(checkHashSize(report({ sysctls: { nf_conntrack_max: '8000', nf_conntrack_buckets: '1000' } }))).toEqual([]);
    const [f] = checkHashSize(report({ sysctls: { nf_conntrack_max: '8001', nf_conntrack_buckets: '1000' } }));
    expect(f?.seen).toEqual({ buckets: 1000, max: 8001, entriesPerBucket: 8 });
  });

  test('stats-rising: per-CPU increases, one finding per counter, drop is an error', () => {
    const r = report({ statsBefore: [cpu(0, { drop: 5 }), cpu(1, { insert_failed: 1 })],
      statsAfter: [cpu(0, { drop: 9 }), cpu(1, { insert_failed: 4, drop: 1 })] });
    const f = checkStatsRising(r);
    expect(f.map((x) => [x.seen.counter, x.severity, x.seen.increase, x.seen.perCpu])).toEqual([
      ['drop', 'error', 5, { 0: 4, 1: 1 }],
      ['insert_failed', 'warning', 3, { 1: 3 }],
    ]);
    expect(checkStatsRising(report())).toEqual([]);
  });

  // DST_NAT | CONFIRMED, with SEEN_REPLY | ASSURED when answered.
  const entry = (id: number, sport: number, target: string, packets: number | undefined, answered: boolean): Flow =>
    ({
      family: 'ipv4',
      protocol: 'udp',
      protonum: 17,
      id,
      status: new Status(0x20 | 0x8 | (answered ? 0x2 | 0x4 : 0)),
      original: { src: '10.244.1.5', dst: '10.96.0.10', srcPort: sport, dstPort: 53, protonum: 17 },
      reply: { src: target, dst: '10.244.1.5', srcPort: 53, dstPort: sport, protonum: 17 },
      ...(packets !== undefined
        ? { counters: { original: { packets, bytes: 0 }, reply: { packets: 0, bytes: 0 } } }
        : {}),
    }) as unknown as Flow;
  const services = parseServices({ iptablesSave: [{ ruleset: 'iptables-nft', family: 'ipv4', text: [
    '*nat',
    ':KUBE-SERVICES - [0:0]',
    ':KUBE-SVC-TCOU7JCQXEZGVUNU - [0:0]',
    ':KUBE-SEP-B - [0:0]',
    '-A KUBE-SERVICES -d 10.96.0.10/32 -p udp -m comment --comment "kube-system/kube-dns:dns cluster IP" -m udp --dport 53 -j KUBE-SVC-TCOU7JCQXEZGVUNU',
    '-A KUBE-SVC-TCOU7JCQXEZGVUNU -m comment --comment "kube-system/kube-dns:dns -> 10.244.1.8:53" -j KUBE-SEP-B',
    '-A KUBE-SEP-B -p udp -m comment --comment kube-system/kube-dns:dns -m udp -j DNAT --to-destination 10.244.1.8:53',
    'COMMIT',
    '',
  ].join('\n') }] });
  test('stale-dnat: an entry towards an endpoint the Service no longer has, ASSURED or not, counters per entry', () => {
    // Answered and ASSURED towards the old endpoint, one entry with counters that grew, one without counters.
    const before = [entry(1, 40001, '10.244.1.7', 10, true), entry(2, 40002, '10.244.1.7', undefined, false)];
    const after = [entry(1, 40001, '10.244.1.7', 14, true), entry(2, 40002, '10.244.1.7', undefined, false),
      entry(3, 40003, '10.244.1.8', 2, true)];
    const owners = new Map([['10.244.1.5', { label: 'default/client-1', inode: 1,
      pod: { namespace: 'default', name: 'client-1', uid: 'u', containers: [] } }]]);
    const [f, more] = checkStaleDnat(report({ dnatBefore: before, dnatAfter: after, services, owners }));
    expect(more).toBeUndefined();
    expect(f!.check).toBe('stale-dnat');
    expect(f!.title).toBe(
      'UDP to kube-system/kube-dns:dns (10.96.0.10:53) still DNATed to 10.244.1.7:53, no longer one of its endpoints: 2 entries (1 [ASSURED]) from default/client-1 (10.244.1.5)',
    );
    expect(f!.seen).toMatchObject({ service: 'kube-system/kube-dns:dns', oldEndpoint: '10.244.1.7:53',
      endpoints: ['10.244.1.8:53'], entries: 2, assured: 1, entriesWithCounters: 1, entriesGrowing: 1,
      packetsInInterval: 4, clients: [{ address: '10.244.1.5', entries: 2, pod: 'default/client-1' }] });
    expect(f!.why).toContain('1 entry of 1 with counters sent 4 more packets towards it in 2.0 s');
    expect(f!.fix).toBe('nfct -D --netns ns1 -p udp -d 10.96.0.10 --dport 53 -r 10.244.1.7 --reply-port-src 53');
    // Without the ruleset, nothing is judged.
    expect(checkStaleDnat(report({ dnatBefore: before, dnatAfter: after }))).toEqual([]);
  });

  test('unanswered-udp-dnat: unreplied entries to a current endpoint whose counters grew, or that carry none', () => {
    expect(
      checkUnansweredUdp(
        report({ dnatBefore: [entry(1, 40001, '10.244.1.8', 10, false)],
          dnatAfter: [entry(1, 40001, '10.244.1.8', 10, false)], services }),
      ),
    ).toEqual([]);
    const [f] = checkUnansweredUdp(
      report({ dnatBefore: [entry(1, 40001, '10.244.1.8', 10, false)],
        dnatAfter: [entry(1, 40001, '10.244.1.8', 30, false)], services }),
    );
    expect(f?.seen).toMatchObject({ target: '10.244.1.8:53', service: 'kube-system/kube-dns:dns', entries: 1,
      packetsInInterval: 20 });
    expect(f?.fix).toBe('nfct -D --netns ns1 -p udp -r 10.244.1.8 --reply-port-src 53');
    const [g] = checkUnansweredUdp(report({ dnatAfter: [entry(1, 40001, '10.0.0.9', undefined, false)] }));
    expect(g?.title).toContain('packet growth unknown: these entries carry no counters');
  });

  test('errors come first', () => {
    const f = diagnose([
      report({ entries: 950,
        sysctls: { nf_conntrack_max: '1000', nf_conntrack_buckets: '1000', nf_conntrack_acct: '0' } }),
    ]);
    expect(f[0]?.severity).toBe('error');
    expect(f.map((x) => x.check)).toContain('acct-off');
  });
});

describe('top frame', () => {
  const snap = (percent: number): TopSnapshot => ({
    time: '2026-12-02T01:02:03.000Z',
    interval: 2,
    by: ['src'],
    keys: ['src'],
    sort: 'count',
    entries: 4,
    matched: 3,
    groupCount: 2,
    namespaces: [{ netns: 'a', entries: 4, matched: 3, max: 4, percent, newPerSec: 1.5, destroyPerSec: 0,
      eventOverruns: 0, drop: 0, early_drop: 2, insert_failed: null }],
    groups: [{ key: { src: '10.0.0.1' }, count: 2, change: 1, rate: 0.5 }, { key: { src: null }, count: 1, change: null,
      rate: null }],
  });

  test('plain: header figures, groups with their share of the matched entries, change and rate, "-" for what is not known', () => {
    const lines = renderFrame(snap(75), { colour: false, title: 'a' });
    expect(lines[0]).toBe('nfct top - a  every 2s  by src  sort count  01:02:03 UTC');
    expect(lines[1]).toBe(
      'entries 4 / 4 (75.0% full)  new 1.5/s  destroy 0/s  drop 0/s  early_drop 2/s  insert_failed -/s',
    );
    expect(lines.slice(3)).toEqual(['COUNT     %  CHANGE    RATE  SRC', '    2  66.7      +1  +0.5/s  10.0.0.1',
      '    1  33.3       -       -  -']);
  });

  test('a screen: the selected row marked, the key help in place of the groups, a prompt on the last line', () => {
    const screen = { selected: 1, help: false, keys: [['q', 'quit']] as const };
    const lines = renderFrame(snap(10), { colour: false, title: 'a', screen });
    expect(lines.slice(3)).toEqual(['  COUNT     %  CHANGE    RATE  SRC', '      2  66.7      +1  +0.5/s  10.0.0.1',
      '>     1  33.3       -       -  -']);
    expect(renderFrame(snap(10), { colour: false, title: 'a', screen: { ...screen, help: true } }).slice(3)).toEqual([
      'Keys',
      '  q                 quit',
      '',
      '(any key returns)',
    ]);
    expect(
      renderFrame(snap(10), { colour: false, title: 'a', rows: 12, screen: { ...screen, prompt: '/10._' } }).at(-1),
    ).toBe('/10._');
  });

  test.each([
    [50, '\x1b[32m'],
    [75, '\x1b[1;33m'],
    [90, '\x1b[1;31m'],
  ])('%i%% full is coloured %j', (percent, colour) => {
    expect(renderFrame(snap(percent), { colour: true, title: 'a' })[1]).toContain(
      `${colour}${percent.toFixed(1)}% full\x1b[0m`,
    );
  });

  test('cut to the terminal: rows keep the help line, columns cut the text', () => {
    const lines = renderFrame(snap(10), { colour: false, title: 'a', rows: 5, columns: 20, help: true });
    expect(lines).toHaveLength(5);
    expect(lines[4]).toBe('g/G: group by  s: so');
    expect(lines.every((l) => l.length <= 20)).toBe(true);
  });

  test('merging namespaces: netns as a key keeps them apart, without it sums', () => {
    const part = (netns: string, n: number) => ({ netns,
      result: { ...empty, by: ['src' as const], groups: [{ key: { src: '10.0.0.1' }, count: n }], groupCount: 1 } });
    expect(mergeGroups([part('a', 2), part('b', 3)], ['netns', 'src'], 'count', 10).groups).toEqual([
      { key: { netns: 'b', src: '10.0.0.1' }, count: 3 },
      { key: { netns: 'a', src: '10.0.0.1' }, count: 2 },
    ]);
    expect(mergeGroups([part('a', 2), part('b', 3)], ['src'], 'count', 10)).toEqual({
      groups: [{ key: { src: '10.0.0.1' }, count: 5 }],
      groupCount: 1,
    });
  });
});
