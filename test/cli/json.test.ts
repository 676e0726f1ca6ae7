// --json: every command prints one JSON object per line, each of the schema docs/cli.md gives
// for that command. Checked against the real kernel in a namespace of its own.
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';

import { flowJson } from '../../lib/conntrack/flow.js';
import { Conntrack } from '../../lib/conntrack/handle.js';
import { createNetns, type Netns } from '../helpers/netns.js';
import { until } from '../helpers/sentinel.js';
import { ping, tcpFlow, udpFlow } from '../helpers/traffic.js';
import { listEntries, runConntrack, runConntrackOk } from '../oracle/conntrack-cli.js';
import { compareJson, parseConntrackXml, type XmlFlow } from '../oracle/conntrack-xml.js';
import { runNfct } from '../support/run-nfct.js';

let ns: Netns;

async function nfct(...argv: string[]): Promise<{ code: number; rows: Record<string, unknown>[]; stderr: string }> {
  return nfctWatching(() => undefined, ...argv);
}

async function nfctWatching(onStdout: (text: string) => void,
  ...argv: string[]): Promise<{ code: number; rows: Record<string, unknown>[]; stderr: string }>
{
  const r = await runNfct(['--netns', ns.name, ...argv], { onStdout });
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
function conforms(row: Record<string, unknown>, required: Record<string, Check>,
  optional: Record<string, Check> = {}): string[]
{
  const problems: string[] = [];
  for (const [k, check] of Object.entries(required)) {
    if (!(k in row) || !check(row[k])) problems.push(`${k}: ${JSON.stringify(row[k])}`);
  }
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
  zone: num,
  secmark: num,
  labels: (v: unknown) => Array.isArray(v) && v.every(num),
  counters: obj,
  timestamp: (v: unknown) => obj(v) && decimal((v as { start: unknown }).start),
  helper: str,
  secctx: str,
  tcp: obj,
  sctp: obj,
  dccp: obj,
  nat: obj,
  master: tuple,
  synproxy: obj,
  seqAdjOriginal: obj,
  seqAdjReply: obj,
};
/** What every line has (schema/common.json), and the netns object of a namespace named with --netns. */
const HEAD = (type: string) => ({ type: (v: unknown) => v === type,
  time: (v: unknown) => typeof v === 'string' && !Number.isNaN(Date.parse(v)),
  timeSource: (v: unknown) => v === 'received' || v === 'kernel' });
const NETNS = {
  netns: (v: unknown) => obj(v) && str((v as { label: unknown }).label) && num((v as { inode: unknown }).inode),
};
const flowProblems = (row: Record<string, unknown>): string[] =>
  conforms(row, { ...HEAD('entry'), ...FLOW_REQUIRED }, { ...FLOW_OPTIONAL, ...NETNS });

beforeAll(async () => {
  ns = await createNetns('nfct-json');
  for (const line of [
    ['-I', '-p', 'tcp', '-s', '10.5.0.1', '-d', '10.5.0.2', '--sport', '1', '--dport', '2', '-t', '100', '--state',
      'ESTABLISHED', '-u', 'ASSURED', '-m', '4'],
    ['-I', '-p', 'udp', '-s', '2001:db8::1', '-d', '2001:db8::2', '--sport', '3', '--dport', '4', '-t', '100', '-w',
      '3', '--dst-nat', '[2001:db8::9]:53'],
    ['-I', '-p', 'icmp', '-s', '10.5.0.1', '-d', '10.5.0.3', '--icmp-type', '8', '--icmp-code', '0', '--icmp-id', '1',
      '-t', '30'],
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
    const r = await nfct('-G', '-p', 'tcp', '-s', '10.5.0.1', '-d', '10.5.0.2', '--sport', '1', '--dport', '2',
      '--json');
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
    // Watching once its event stream is made (events() returns subscribed); done once the
    // event is written (runNfct gathers stdout as it is written).
    const events = vi.spyOn(Conntrack.prototype, 'events');
    let out = '';
    let done: ReturnType<typeof nfct>;
    try {
      done = nfctWatching((t) => (out += t), '-E', '--json', '-p', 'udp');
      await until(() => events.mock.results.some((x) => x.type === 'return'), 'nfct -E to subscribe');
      await runConntrack(ns, ['-I', '-p', 'udp', '-s', '10.5.0.7', '-d', '10.5.0.8', '--sport', '7', '--dport', '8',
        '-t', '50']);
      await until(() => out.includes('10.5.0.7'), 'nfct -E to write the event');
    } finally {
      events.mockRestore();
    }
    process.emit('SIGTERM', 'SIGTERM');
    const r = await done;
    expect(r.code).toBe(0);
    expect(r.rows.length).toBeGreaterThanOrEqual(1);
    const ev = r.rows[0]!;
    expect(conforms(ev, { ...HEAD('new'), flow: obj, timestamp: decimal }, { portid: num, ...NETNS })).toEqual([]);
    expect(
      conforms(ev.flow as Record<string, unknown>, { family: str, protocol: str, protonum: num, original: tuple,
        reply: tuple, status: names, timeout: num }, { ...FLOW_OPTIONAL, mark: num, use: num, id: num }),
    ).toEqual([]);
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
      await ct.close();
    }
  });

  test('-C, -S, -V', async () => {
    const c = await nfct('-C', '--json');
    expect(c.rows).toEqual([{ type: 'count', time: expect.any(String), timeSource: 'received', table: 'conntrack',
      count: 4, netns: expect.objectContaining({ label: ns.name }) }]);
    const s = await nfct('-S', '--json');
    expect(s.rows.length).toBeGreaterThan(0);
    const counters = ['found', 'invalid', 'insert', 'insert_failed', 'drop', 'early_drop', 'error', 'search_restart',
      'clash_resolve', 'chaintoolong'];
    for (const row of s.rows) {
      expect(
        conforms(row, { ...HEAD('stats'), table: (v) => v === 'conntrack',
          ...Object.fromEntries([['cpu', num], ...counters.map((k) => [k, num])]) }, NETNS),
      ).toEqual([]);
    }
    const v = await nfct('-V', '--json');
    expect(v.rows).toEqual([{ type: 'version', time: expect.any(String), timeSource: 'received', program: 'nfct',
      version: expect.stringMatching(/^\d+\.\d+\.\d+$/), compatible: 'conntrack-tools 1.4.7',
      schemas: expect.objectContaining({ entry: 1 }) }]);
  });

  test('-L expect: none here, so no line', async () => {
    const r = await nfct('-L', 'expect', '--json');
    expect(r.code).toBe(0);
    expect(r.rows).toEqual([]);
    expect(r.stderr).toMatch(/0 expectations have been shown/);
  });
});

// The values, not only the shape: each row against conntrack's XML of the same entry (its id),
// with accounting and timestamps on, entries made by conntrack -I and by real traffic.
describe('nfct --json: the values conntrack -L -o xml shows for the same entries', () => {
  let vns: Netns;
  beforeAll(async () => {
    vns = await createNetns('nfct-jsonval', {
      sysctls: { 'net.netfilter.nf_conntrack_acct': 1, 'net.netfilter.nf_conntrack_timestamp': 1 },
    });
    for (const line of [
      '-p tcp -s 10.6.0.1 -d 10.6.0.2 --sport 11 --dport 22 -t 100 --state ESTABLISHED -u ASSURED -m 4',
      '-p tcp -s 10.6.0.1 -d 10.6.0.3 --sport 12 --dport 443 -t 100 --state SYN_SENT -m 0x7fffffff',
      '-p udp -s 2001:db8::1 -d 2001:db8::2 --sport 3 --dport 4 -t 100 -w 3 --dst-nat [2001:db8::9]:53',
      '-p udp -s 10.6.0.1 -d 10.6.0.4 --sport 5 --dport 6 -t 100 --src-nat 172.16.0.1:2000 -u SEEN_REPLY',
      '-p icmp -s 10.6.0.1 -d 10.6.0.5 --icmp-type 8 --icmp-code 0 --icmp-id 77 -t 30',
      '-p icmpv6 -s 2001:db8::1 -d 2001:db8::5 --icmpv6-type 128 --icmpv6-code 0 --icmpv6-id 78 -t 30',
      '-p 200 -s 10.6.0.1 -d 10.6.0.6 -t 100 --orig-zone 9',
    ]) await runConntrackOk(vns, ['-I', ...line.split(' ')]);
    // Real traffic: counters, SEEN_REPLY and ASSURED set by the kernel.
    await tcpFlow(vns, { bytes: 300 });
    await udpFlow(vns, { family: 6, count: 3 });
    await ping(vns);
  });
  afterAll(async () => {
    await vns?.remove();
  });

  /** conntrack's XML (and text, for ICMP fields) of the table now, by entry id. */
  async function theirs(
    args: string[] = [],
  ): Promise<
    { xml: Map<number, XmlFlow>; text: Map<number, Awaited<ReturnType<typeof listEntries>>['entries'][number]> }
  > {
    const x = await runConntrackOk(vns, ['-L', '-o', 'xml,id', ...args]);
    const xml = new Map(parseConntrackXml(x.stdout).map((f) => [f.id!, f]));
    const text = new Map((await listEntries(vns, args)).entries.map((e) => [e.id!, e]));
    return { xml, text };
  }

  async function rows(...argv: string[]): Promise<Record<string, unknown>[]> {
    const r = await runNfct(['--netns', vns.name, ...argv, '--json']);
    expect(r.code, r.stderr).toBe(0);
    return r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  function differences(got: Record<string, unknown>[], ref: Awaited<ReturnType<typeof theirs>>,
    extraUse = 0): string[]
  {
    const nowNs = BigInt(Date.now()) * 1_000_000n;
    return got.flatMap((row) => {
      const id = row.id as number;
      const x = ref.xml.get(id);
      if (!x) return [`id ${id}: not in conntrack's listing`];
      return compareJson(row, x, ref.text.get(id), { nowNs, extraUse }).map((p) =>
        `id ${id} (${(row.original as { src: string }).src} ${row.protocol as string}): ${p}`
      );
    });
  }

  test('-L: every entry, field by field', async () => {
    const got = await rows('-L');
    const ref = await theirs();
    expect(got.length).toBe(ref.xml.size);
    expect(got.length).toBeGreaterThanOrEqual(10);
    expect(differences(got, ref)).toEqual([]);
    // The traffic's entries carry non-zero counters, so the comparison covers them.
    expect(got.some((r) => ((r.counters as { reply: { packets: number } }).reply.packets) > 0)).toBe(true);
    expect(got.some((r) => (r.status as string[]).includes('SEEN_REPLY'))).toBe(true);
  });

  test('-L with a filter, and -G: the same values', async () => {
    expect(differences(await rows('-L', '-p', 'udp'), await theirs(['-p', 'udp']))).toEqual([]);
    const g = await rows('-G', '-p', 'icmp', '-s', '10.6.0.1', '-d', '10.6.0.5', '--icmp-type', '8', '--icmp-code', '0',
      '--icmp-id', '77');
    expect(g).toHaveLength(1);
    // As conntrack -G prints it: the get holds one more reference.
    expect(differences(g, await theirs(), 1)).toEqual([]);
  });

  test('-U: each entry as it is after the change (as a get returns it: one more reference)', async () => {
    const got = await rows('-U', '-s', '10.6.0.1', '-p', 'tcp', '-m', '9');
    expect(got).toHaveLength(2);
    const ref = await theirs();
    expect(differences(got, ref, 1)).toEqual([]);
    expect(got.map((r) => r.mark)).toEqual([9, 9]);
  });

  test('-D: each entry as it was', async () => {
    const ref = await theirs();
    const got = await rows('-D', '-p', 'icmpv6');
    expect(got).toHaveLength(1);
    expect(differences(got, ref)).toEqual([]);
  });
});
