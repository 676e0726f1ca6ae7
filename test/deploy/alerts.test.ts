// deploy/prometheusrule.yaml: the rule groups pass `promtool check rules`, and `promtool test
// rules` (test/deploy/alerts.promtool.yaml) fires each alert over its threshold and not under
// it. The unit tests are shown able to fail: a threshold or a `for` changed in the rules makes
// promtool report the case it breaks.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, expect, test } from 'vitest';
import { parse, stringify } from 'yaml';

const ROOT = join(__dirname, '..', '..');
interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
}
interface Groups {
  groups: { name: string; rules: Rule[] }[];
}
const spec = (): Groups =>
  (parse(readFileSync(join(ROOT, 'deploy', 'prometheusrule.yaml'), 'utf8')) as { spec: Groups }).spec;
const cases = parse(readFileSync(join(__dirname, 'alerts.promtool.yaml'), 'utf8')) as {
  tests: { alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[];
};
let dir = '';

/** `promtool test rules` of the cases against these rule groups. */
function promtoolTest(groups: Groups): { status: number | null; out: string } {
  writeFileSync(join(dir, 'rules.yml'), stringify(groups));
  const r = spawnSync('promtool', ['test', 'rules', join(dir, 'alerts.promtool.yaml')], { encoding: 'utf8' });
  return { status: r.status, out: r.stdout + r.stderr };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'nfct-alerts-'));
  copyFileSync(join(__dirname, 'alerts.promtool.yaml'), join(dir, 'alerts.promtool.yaml'));
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('the alerts asked for exist, each with a severity', () => {
  const rules = spec().groups.flatMap((g) => g.rules);
  expect(rules.map((r) => r.alert).sort()).toEqual([
    'NfctConntrackDropping',
    'NfctConntrackInsertFailing',
    'NfctConntrackTableNearlyFull',
    'NfctEventsLost',
    'NfctExporterDown',
    'NfctExporterNamespacesSkipped',
    'NfctIpfixRecordsLost',
  ]);
  for (const r of rules) expect(['warning', 'info'], r.alert).toContain(r.labels?.severity);
});

test('promtool check rules accepts them', () => {
  writeFileSync(join(dir, 'rules.yml'), stringify(spec()));
  expect(execFileSync('promtool', ['check', 'rules', join(dir, 'rules.yml')], { encoding: 'utf8' })).toContain(
    'SUCCESS: 7 rules found',
  );
});

test('promtool test rules: every alert has a case where it fires and one where it does not, and all pass', () => {
  const checks = cases.tests.flatMap((t) => t.alert_rule_test);
  for (const r of spec().groups.flatMap((g) => g.rules)) {
    const mine = checks.filter((c) => c.alertname === r.alert);
    expect(mine.some((c) => c.exp_alerts.length > 0), `${r.alert} fires somewhere`).toBe(true);
    expect(mine.some((c) => c.exp_alerts.length === 0), `${r.alert} stays quiet somewhere`).toBe(true);
  }
  const r = promtoolTest(spec());
  expect(r.out).toContain('SUCCESS');
  expect(r.status).toBe(0);
});

test('the cases catch a changed threshold or duration', () => {
  const mutate = (alert: string, change: (r: Rule) => void): Groups => {
    const g = spec();
    change(g.groups.flatMap((x) => x.rules).find((r) => r.alert === alert)!);
    return g;
  };
  const fill = promtoolTest(
    mutate('NfctConntrackTableNearlyFull', (r) => (r.expr = r.expr.replace('> 0.9', '>= 0.9'))),
  );
  expect(fill.status).toBe(1);
  expect(fill.out).toMatch(/alertname: NfctConntrackTableNearlyFull, time: 10m/);
  const early = promtoolTest(mutate('NfctExporterDown', (r) => (r.for = '2m')));
  expect(early.status).toBe(1);
  expect(early.out).toMatch(/alertname: NfctExporterDown, time: 3m/);
  const drops = promtoolTest(mutate('NfctConntrackDropping', (r) => (r.expr = r.expr.replace('> 0', '> 20'))));
  expect(drops.status).toBe(1);
  expect(drops.out).toMatch(/alertname: NfctConntrackDropping, time: 10m/);
});
