// --json: every command prints one JSON object per line, each of the schema the README gives
// for that command. Checked against the real kernel in a namespace of its own.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { Conntrack } from '../../lib/conntrack/handle.js';
import { flowJson } from '../../lib/conntrack/flow.js';
import { createNetns, type Netns } from '../helpers/netns.js';
import { runConntrack } from '../oracle/conntrack-cli.js';
import { runNfct } from '../support/run-nfct.js';

let ns: Netns;

async function nfct(...argv: string[]): Promise<{ code: number; rows: Record<string, unknown>[]; stderr: string }> {
  const r = await runNfct(['--netns', ns.name, ...argv]);
  const rows = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  return { code: r.code, rows, stderr: r.stderr };
}

type Check = (v: unknown) => boolean;
const str: Check = (v) => typeof v === 'string';
const num: Check = (v) => typeof v === 'number' && Number.isInteger(v);
const decimal: Check = (v) => typeof v === 'string' && /^\d+$/.test(v);
const names: Check = (v) => Array.isArray(v) && v.every((x) => typeof x === 'string' && /^[A-Z_]+$/.test(x));
const tuple: Check = (v) => {
  if (v === null || typeof v !== 'object') return false;
  const t = v as Record<string, unknown>;
  return str(t.src) && str(t.dst) && num(t.protonum);
};
const obj: Check = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Required fields with their checks; optional ones checked when present; nothing else. */
function conforms(row: Record<string, unknown>, required: Record<string, Check>, optional: Record<string, Check> = {}): string[] {
  const problems: string[] = [];
  for (const [k, check] of Object.entries(required)) if (!(k in row) || !check(row[k])) problems.push(`${k}: ${JSON.stringify(row[k])}`);
  for (const [k, v] of Object.entries(row)) {
    if (k in required) continue;
    if (!(k in optional)) problems.push(`unexpected field ${k}`);
    else if (!optional[k]!(v)) problems.push(`${k}: ${JSON.stringify(v)}`);
  }
  return problems;
}

const FLOW_REQUIRED = {
  family: (v: unknown) => v === 'ipv4' || v === 'ipv6',
  protocol: str,
  protonum: num,
  original: tuple,
  reply: tuple,
  status: names,
  timeout: num,
  mark: num,
  use: num,
  id: num,
};
const FLOW_OPTIONAL = {
  zone: num, secmark: num, labels: (v: unknown) => Array.isArray(v) && v.every(num), counters: obj,
  timestamp: (v: unknown) => obj(v) && decimal((v as { start: unknown }).start), helper: str, secctx: str,
  tcp: obj, sctp: obj, dccp: obj, nat: obj, master: tuple, synproxy: obj, seqAdjOriginal: obj, seqAdjReply: obj,
};
/** What every line has (schema/common.json), and the netns object of a namespace named with --netns. */
const HEAD = (type: string) => ({ type: (v: unknown) => v === type, time: (v: unknown) => typeof v === 'string' && !Number.isNaN(Date.parse(v)), timeSource: (v: unknown) => v === 'received' || v === 'kernel' });
const NETNS = { netns: (v: unknown) => obj(v) && str((v as { label: unknown }).label) && num((v as { inode: unknown }).inode) };
const flowProblems = (row: Record<string, unknown>): string[] => conforms(row, { ...HEAD('entry'), ...FLOW_REQUIRED }, { ...FLOW_OPTIONAL, ...NETNS });

beforeAll(async () => {
  ns = await createNetns('nfct-json');
  for (const line of [
    ['-I', '-p', 'tcp', '-s', '10.5.0.1', '-d', '10.5.0.2', '--sport', '1', '--dport', '2', '-t', '100', '--state', 'ESTABLISHED', '-u', 'ASSURED', '-m', '4'],
    ['-I', '-p', 'udp', '-s', '2001:db8::1', '-d', '2001:db8::2', '--sport', '3', '--dport', '4', '-t', '100', '-w', '3', '--dst-nat', '[2001:db8::9]:53'],
    ['-I', '-p', 'icmp', '-s', '10.5.0.1', '-d', '10.5.0.3', '--icmp-type', '8', '--icmp-code', '0', '--icmp-id', '1', '-t', '30'],
    ['-I', '-p', 'udp', '-s', '10.5.0.1', '-d', '10.5.0.4', '--sport', '5', '--dport', '6', '-t', '100'],
  ]) {
    const r = await runConntrack(ns, line);
    if (r.code !== 0) throw new Error(r.stderr);
  }
});
afterAll(async () => {
  await ns?.remove();
});

describe('nfct --json: one object per line, one schema per command', () => {
  test('-L: one flow object per entry', async () => {
    const r = await nfct('-L', '--json');
    expect(r.code).toBe(0);
    expect(r.rows).toHaveLength(4);
    for (const row of r.rows) expect(flowProblems(row)).toEqual([]);
    const nat = r.rows.find((x) => (x.original as { src: string }).src === '2001:db8::1')!;
    expect(nat.nat).toEqual({ dst: { address: '2001:db8::9', port: 53 } });
    expect(nat.zone).toBe(3);
    expect(r.stderr).toMatch(/4 flow entries have been shown\.\n$/);
  });

  test('-G: the entry', async () => {
    const r = await nfct('-G', '-p', 'tcp', '-s', '10.5.0.1', '-d', '10.5.0.2', '--sport', '1', '--dport', '2', '--json');
    expect(r.rows).toHaveLength(1);
    expect(flowProblems(r.rows[0]!)).toEqual([]);
    expect(r.rows[0]!.status).toEqual(expect.arrayContaining(['ASSURED']));
  });

  test('-U: each entry as it is after the change', async () => {
    const r = await nfct('-U', '-s', '10.5.0.1', '-p', 'udp', '-m', '9', '--json');
    expect(r.code).toBe(0);
    expect(r.rows).toHaveLength(1);
    expect(flowProblems(r.rows[0]!)).toEqual([]);
    expect(r.rows[0]!.mark).toBe(9);
  });

  test('-E: one event object per event', async () => {
    const done = nfct('-E', '--json', '-p', 'udp');
    await new Promise((resolve) => setTimeout(resolve, 300));
    await runConntrack(ns, ['-I', '-p', 'udp', '-s', '10.5.0.7', '-d', '10.5.0.8', '--sport', '7', '--dport', '8', '-t', '50']);
    await new Promise((resolve) => setTimeout(resolve, 300));
    process.emit('SIGTERM', 'SIGTERM');
    const r = await done;
    expect(r.code).toBe(0);
    expect(r.rows.length).toBeGreaterThanOrEqual(1);
    const ev = r.rows[0]!;
    expect(conforms(ev, { ...HEAD('new'), flow: obj, timestamp: decimal }, { portid: num, ...NETNS })).toEqual([]);
    expect(conforms(ev.flow as Record<string, unknown>, { family: str, protocol: str, protonum: num, original: tuple, reply: tuple, status: names, timeout: num }, { ...FLOW_OPTIONAL, mark: num, use: num, id: num })).toEqual([]);
    expect(r.stderr).toMatch(/1 flow events have been shown\.\n/);
  });

  test('-D: each entry deleted, as it was', async () => {
    const r = await nfct('-D', '-p', 'icmp', '--json');
    expect(r.rows).toHaveLength(1);
    expect(flowProblems(r.rows[0]!)).toEqual([]);
    expect((r.rows[0]!.original as Record<string, unknown>).type).toBe(8);
  });

  test('flowJson(flow) is JSON.stringify(flow), for every kind of entry here', async () => {
    const ct = await Conntrack.open({ netns: ns.name });
    try {
      const flows = await ct.list().toArray();
      expect(flows.length).toBeGreaterThan(2);
      for (const f of flows) expect(flowJson(f)).toBe(JSON.stringify(f));
    } finally {
      ct.close();
    }
  });

  test('-C, -S, -V', async () => {
    const c = await nfct('-C', '--json');
    expect(c.rows).toEqual([{ type: 'count', time: expect.any(String), timeSource: 'received', table: 'conntrack', count: 4, netns: expect.objectContaining({ label: ns.name }) }]);
    const s = await nfct('-S', '--json');
    expect(s.rows.length).toBeGreaterThan(0);
    const counters = ['found', 'invalid', 'insert', 'insert_failed', 'drop', 'early_drop', 'error', 'search_restart', 'clash_resolve', 'chaintoolong'];
    for (const row of s.rows) expect(conforms(row, { ...HEAD('stats'), table: (v) => v === 'conntrack', ...Object.fromEntries([['cpu', num], ...counters.map((k) => [k, num])]) }, NETNS)).toEqual([]);
    const v = await nfct('-V', '--json');
    expect(v.rows).toEqual([{ type: 'version', time: expect.any(String), timeSource: 'received', program: 'nfct', version: expect.stringMatching(/^\d+\.\d+\.\d+$/), compatible: 'conntrack-tools 1.4.7', schemas: expect.objectContaining({ entry: 1 }) }]);
  });

  test('-L expect: none here, so no line', async () => {
    const r = await nfct('-L', 'expect', '--json');
    expect(r.code).toBe(0);
    expect(r.rows).toEqual([]);
    expect(r.stderr).toMatch(/0 expectations have been shown/);
  });
});
