// The exporter's own figures and texts, as Prometheus exporters give them: the standard process
// metrics (equal to what /proc and process.* say of this process), nfct_build_info, HELP texts
// that say what each metric counts and in which unit, and a registry's own names left alone.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { collectDefaultMetrics, Registry } from 'prom-client';
import { afterAll, beforeAll, expect, test } from 'vitest';

import { createExporter } from '../../lib/index.js';
import { createNetns, type Netns } from '../helpers/netns.js';

const VERSION =
  (JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
let ns: Netns;
const value = (text: string, name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);

beforeAll(async () => {
  ns = await createNetns('nfct-conv');
});
afterAll(async () => {
  await ns?.remove();
});

test("process_* figures are this process's, nfct_build_info names the versions", async () => {
  const exporter = await createExporter({ namespaces: (n) => n.names.includes(ns.name) });
  try {
    const before = process.cpuUsage();
    const text = await exporter.metrics();
    const after = process.cpuUsage();
    const cpu = value(text, 'process_cpu_seconds_total');
    expect(cpu).toBeGreaterThanOrEqual((before.user + before.system) / 1e6);
    expect(cpu).toBeLessThanOrEqual((after.user + after.system) / 1e6);
    expect(value(text, 'process_cpu_user_seconds_total') + value(text, 'process_cpu_system_seconds_total')).toBeCloseTo(
      cpu,
      2,
    );
    const started = value(text, 'process_start_time_seconds');
    expect(started).toBeLessThanOrEqual(Date.now() / 1000);
    expect(started).toBeGreaterThan(Date.now() / 1000 - process.uptime() - 2);
    const fds = readdirSync('/proc/self/fd').length;
    expect(Math.abs(value(text, 'process_open_fds') - fds)).toBeLessThanOrEqual(2);
    const soft = spawnSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).stdout.trim();
    expect(value(text, 'process_max_fds')).toBe(soft === 'unlimited' ? -1 : Number(soft));
    const vsize = Number(readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ')[20]);
    expect(value(text, 'process_virtual_memory_bytes') / vsize).toBeGreaterThan(0.5);
    expect(value(text, 'process_resident_memory_bytes')).toBeGreaterThan(10 << 20);
    expect(text).toContain(
      `nfct_build_info{version="${VERSION}",nodejs="${process.version}",napi="${process.versions.napi}"} 1\n`,
    );
    expect(text).toMatch(/^# TYPE process_cpu_seconds_total counter$/m);
  } finally {
    await exporter.close();
  }
});

test('every HELP text says what is counted and in which unit', async () => {
  const exporter = await createExporter({ namespaces: (n) => n.names.includes(ns.name), events: true,
    nflogGroups: [40000 + (process.pid % 1000)] });
  try {
    const helps = [...(await exporter.metrics()).matchAll(/^# HELP (\S+) (.*)$/gm)].map((m) => ({ name: m[1]!,
      help: m[2]! })
    );
    expect(helps.length).toBeGreaterThan(30);
    for (const { name, help } of helps) {
      expect(help.length, name).toBeGreaterThan(40);
      expect(help, name).toMatch(/\.$/);
      if (name.endsWith('_bytes')) expect(help, name).toMatch(/\bin bytes\b/);
      else if (/_seconds(_total)?$/.test(name)) expect(help, name).toMatch(/\bseconds\b/);
      else if (name.endsWith('_total')) expect(help, name).toMatch(/\ba count\b|\bin packets\b/);
      else if (name.endsWith('_info')) expect(help, name).toMatch(/^Always 1/);
      else expect(help, name).toMatch(/\bin (entries|events)\b|\ba count\b|file descriptors/i);
    }
  } finally {
    await exporter.close();
  }
});

test("a registry's own process metrics are kept; processMetrics: false leaves them out; a bad value is refused", async () => {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const shared = await createExporter({ namespaces: () => false, registry });
  try {
    const text = await shared.metrics();
    expect(text).toContain('# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.');
    expect(text.match(/^# HELP process_cpu_seconds_total /gm)).toHaveLength(1);
    expect(text).toMatch(/^nfct_build_info\{/m);
  } finally {
    await shared.close();
  }
  const bare = await createExporter({ namespaces: () => false, processMetrics: false });
  try {
    expect(await bare.metrics()).not.toMatch(/^(process_|nodejs_|nfct_build_info)/m);
  } finally {
    await bare.close();
  }
  await expect(createExporter({ processMetrics: 'yes' as never })).rejects.toThrow(/options\.processMetrics/);
});
