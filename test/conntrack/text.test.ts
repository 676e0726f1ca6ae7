// lib/conntrack/text.ts against conntrack 1.4.7 itself: a varied table (made with conntrack -I,
// the library and real traffic) is read with the library, formatted, and compared line by line
// with what `conntrack -L` prints in each -o mode, -S, -C, -L expect; a scripted sequence of
// events is compared with what several `conntrack -E` processes print. Only what changes by
// itself between two reads is masked: the timeout countdown and delta-time (within 2 s), and
// the `[sec.usec]` stamp conntrack -E takes from its own clock (within 1 s).
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { formatCount, formatCpuStats, formatEvent, XML_FOOTER, XML_HEADER } from '../../lib/conntrack/text.js';
import { formatExpectation, formatExpectationEvent, formatFlow } from '../../lib/conntrack/text.js';
import { formatFlushMessage, formatSave, formatSummary, formatXml } from '../../lib/conntrack/text.js';
import { formatXmlDocument } from '../../lib/conntrack/text.js';
import { Conntrack, type ConntrackEvent, type Expectation, type ExpectationEvent, type Flow, type FlowEvent,
  Status } from '../../lib/index.js';
import { createNetns, type Netns } from '../helpers/netns.js';
import { collectOutput } from '../helpers/output.js';
import { until } from '../helpers/sentinel.js';
import { dnatFlow, everyKindOfFlow, ping, tcpFlow, udpFlow } from '../helpers/traffic.js';
import { buildEntryArgs, type EntrySpec, insertEntry, type LabelMap, runConntrack,
  runConntrackOk } from '../oracle/conntrack-cli.js';
import { everyKind } from '../support/tables.js';

// conntrack prints [start=...] in local time; both sides use UTC here.
process.env.TZ = 'UTC';

/** Names used to create labels; bit 7 is left out of LIST_LABELS so one entry has no named bit. */
const INSERT_LABELS: LabelMap = { 1: 'web', 5: 'db', 7: 'seven', 100: 'far' };
const LIST_LABELS: LabelMap = { 1: 'web', 5: 'db', 100: 'far' };

const SYSCTLS = {
  'net.netfilter.nf_conntrack_acct': 1,
  'net.netfilter.nf_conntrack_timestamp': 1,
  // Entries from traffic must outlive the test, or the two reads would see different tables.
  'net.netfilter.nf_conntrack_udp_timeout': 600,
  'net.netfilter.nf_conntrack_udp_timeout_stream': 600,
  'net.netfilter.nf_conntrack_icmp_timeout': 600,
  'net.netfilter.nf_conntrack_icmpv6_timeout': 600,
  'net.netfilter.nf_conntrack_tcp_timeout_time_wait': 600,
};

/** everyKind, and the states, NAT, labels and protocols only the text formats show apart. */
const specs: EntrySpec[] = [
  ...everyKind,
  { proto: 'tcp', src: '10.1.0.1', dst: '10.1.0.2', sport: 40012, dport: 81, state: 'TIME_WAIT',
    status: ['SEEN_REPLY', 'FIXED_TIMEOUT'], timeout: 450 },
  { proto: 'tcp', src: '10.1.0.1', dst: '10.1.0.2', sport: 40013, dport: 82, state: 'SYN_SENT2', timeout: 450 },
  { proto: 'udp', src: '10.1.0.9', dst: '10.1.0.12', sport: 40014, dport: 5000, timeout: 300,
    snat: '192.168.8.8:7000' },
  { proto: 'udp', src: '2001:db8::9', dst: '2001:db8::10', sport: 40015, dport: 5000, timeout: 300,
    dnat: '[2001:db8::77]:6000' },
  { proto: 'udp', src: '10.1.0.9', dst: '10.1.0.13', sport: 40016, dport: 5000, timeout: 300, labels: ['seven'] },
  { proto: 'sctp', src: '2001:db8::1', dst: '2001:db8::2', sport: 40017, dport: 3868, state: 'SHUTDOWN_ACK_SENT',
    timeout: 300 },
  { proto: 99, src: '10.1.0.1', dst: '10.1.0.2', timeout: 300 },
  { proto: 253, src: '2001:db8::1', dst: '2001:db8::2', timeout: 300, mark: 3 },
];

// ---- comparing -------------------------------------------------------------------------

/** `(prefix)(number)` patterns for the values that count down or up between two reads. */
type Moving = RegExp[];
const TEXT_MOVING: Moving = [/^((?:ipv[46] +\d+ +)?[a-z0-9]+ +\d+ )(\d+)/, /( delta-time=)(\d+)/];
const SAVE_MOVING: Moving = [/^(-A -t )(\d+)/];
const XML_MOVING: Moving = [/(<timeout>)(\d+)/, /(<deltatime>)(\d+)/];
const EXPECT_MOVING: Moving = [/^()(\d+)/];

function splitMoving(line: string, moving: Moving): { key: string; values: number[] } {
  const values: number[] = [];
  let key = line;
  for (const re of moving) {
    key = key.replace(re, (_m, pre: string, n: string) => {
      values.push(Number(n));
      return `${pre}#`;
    });
  }
  return { key, values };
}

interface Matched {
  /** Lines equal byte for byte. */
  exact: number;
  /** Lines equal once the moving values (each within `tolerance`) are masked. */
  masked: number;
  onlyMine: string[];
  onlyTheirs: string[];
}

/** Pairs our lines with conntrack's (any order): exact first, then equal up to moving values. */
function matchLines(mine: readonly string[], theirs: readonly string[], moving: Moving, tolerance = 2): Matched {
  const left = [...mine];
  const unmatched: string[] = [];
  let exact = 0;
  for (const t of theirs) {
    const i = left.indexOf(t);
    if (i >= 0) {
      left.splice(i, 1);
      exact++;
    } else {
      unmatched.push(t);
    }
  }
  const onlyTheirs: string[] = [];
  let masked = 0;
  for (const t of unmatched) {
    const tk = splitMoving(t, moving);
    const i = left.findIndex((m) => {
      const mk = splitMoving(m, moving);
      return mk.key === tk.key && mk.values.length === tk.values.length &&
        mk.values.every((v, k) => Math.abs(v - tk.values[k]!) <= tolerance);
    });
    if (i >= 0) {
      left.splice(i, 1);
      masked++;
    } else {
      onlyTheirs.push(t);
    }
  }
  return { exact, masked, onlyMine: left, onlyTheirs };
}

function lines(stdout: string): string[] {
  expect(stdout === '' || stdout.endsWith('\n')).toBe(true);
  return stdout === '' ? [] : stdout.slice(0, -1).split('\n');
}

function expectMatched(m: Matched, count: number): void {
  expect({ onlyMine: m.onlyMine, onlyTheirs: m.onlyTheirs }).toEqual({ onlyMine: [], onlyTheirs: [] });
  expect(m.exact + m.masked).toBe(count);
}

// ---- the table -------------------------------------------------------------------------

let ns: Netns;
let ct: Conntrack;

const ftpMaster4 = { protocol: 'tcp' as const, src: '10.0.0.1', dst: '10.0.0.2', srcPort: 40000, dstPort: 21 };
const ftpMaster6 = { protocol: 'tcp' as const, src: '2001:db8::21', dst: '2001:db8::22', srcPort: 40001, dstPort: 21 };

beforeAll(async () => {
  ns = await createNetns('nfct-format', { labels: true, sysctls: SYSCTLS });
  for (const spec of specs) await insertEntry(ns, spec, { labelMap: INSERT_LABELS });
  await everyKindOfFlow(ns, { dnatUdpCount: 4 });
  ct = await Conntrack.open({ netns: ns.name });
  // FTP control connections with the helper attached, and what the helper expects of them.
  await ct.create({ ...ftpMaster4, timeout: 600, state: 'ESTABLISHED', helper: 'ftp' });
  await ct.create({ ...ftpMaster6, timeout: 600, state: 'ESTABLISHED', helper: 'ftp' });
  // A state conntrack -I cannot set (its -o save table has no name for it).
  await ct.create({ protocol: 'sctp', src: '10.2.0.1', dst: '10.2.0.2', srcPort: 7, dstPort: 8, timeout: 600,
    state: 'HEARTBEAT_SENT', vtag: { original: 5, reply: 0xdeadbeef } });
  await ct.expectations.create({
    master: ftpMaster4,
    tuple: { protocol: 'tcp', src: '10.0.0.2', dst: '10.0.0.1', srcPort: 0, dstPort: 50000 },
    mask: { srcPort: 0 },
    timeout: 300,
  });
  await ct.expectations.create({
    master: ftpMaster6,
    tuple: { protocol: 'tcp', src: '2001:db8::22', dst: '2001:db8::21', srcPort: 0, dstPort: 50001 },
    mask: { srcPort: 0 },
    timeout: 300,
    flags: ['PERMANENT', 'INACTIVE'],
  });
}, 120_000);

afterAll(async () => {
  await ct?.close();
  await ns?.remove();
});

/** The table through the library, then conntrack -L with these args, read right after. */
async function both(args: string[], opts: { labelMap?: LabelMap } = {}) {
  const flows = await ct.list().toArray();
  const r = await runConntrackOk(ns, ['-L', ...args], opts);
  return { flows, stdout: r.stdout, stderr: r.stderr, now: BigInt(Date.now()) * 1_000_000n };
}

describe('conntrack -L', () => {
  const modes: { o: string | null; opts: Parameters<typeof formatFlow>[1]; labelMap?: LabelMap }[] = [
    { o: null, opts: {} },
    { o: 'extended', opts: { extended: true } },
    { o: 'id', opts: { id: true } },
    { o: 'extended,id', opts: { extended: true, id: true } },
    { o: 'ktimestamp', opts: { ktimestamp: true } },
    { o: 'labels', opts: { labels: LIST_LABELS }, labelMap: LIST_LABELS },
    { o: 'extended,id,ktimestamp,labels', opts: { extended: true, id: true, ktimestamp: true, labels: LIST_LABELS },
      labelMap: LIST_LABELS },
    // `-o timestamp` changes nothing in a listing.
    { o: 'timestamp', opts: { timestamp: true } },
  ];

  for (const mode of modes) {
    test(`formatFlow() equals conntrack -L${mode.o ? ` -o ${mode.o}` : ''}`, async () => {
      const { flows, stdout, stderr, now } = await both(mode.o ? ['-o', mode.o] : [], { labelMap: mode.labelMap });
      const theirs = lines(stdout);
      const mine = flows.map((f) => formatFlow(f, { ...mode.opts, now }));
      // The specs, 8 flows of traffic, 2 FTP masters, 1 SCTP entry.
      expect(theirs.length).toBe(specs.length + 11);
      expectMatched(matchLines(mine, theirs, TEXT_MOVING), theirs.length);
      expect(stderr).toBe(`${formatSummary('list', theirs.length)}\n`);
    });
  }

  // listText(): the same lines, formatted by the native reader (no Flow made).
  for (const mode of modes.filter((m) => m.o === null || ['extended', 'id', 'extended,id'].includes(m.o))) {
    test(`listText() equals conntrack -L${mode.o ? ` -o ${mode.o}` : ''} and formatFlow()`, async () => {
      const chunks = await ct.listText({ extended: mode.opts?.extended, id: mode.opts?.id, batchSize: 7 }).toArray();
      const flows = await ct.list().toArray();
      const r = await runConntrackOk(ns, ['-L', ...(mode.o ? ['-o', mode.o] : [])]);
      // Batches of at most 7 whole lines.
      expect(chunks.length).toBeGreaterThan(1);
      for (const c of chunks) {
        expect(c.at(-1)).toBe(10);
        expect(c.toString('latin1').split('\n').length - 1).toBeLessThanOrEqual(7);
      }
      const mine = lines(Buffer.concat(chunks).toString('latin1'));
      const theirs = lines(r.stdout);
      expect(theirs.length).toBe(specs.length + 11);
      expectMatched(matchLines(mine, theirs, TEXT_MOVING), theirs.length);
      expectMatched(matchLines(mine, flows.map((f) => formatFlow(f, mode.opts)), TEXT_MOVING), theirs.length);
    });
  }

  test("listText() takes list()'s filter, and refuses what is not an option", async () => {
    const text = Buffer.concat(await ct.listText({ protocol: 'udp', family: 'ipv4' }).toArray()).toString('latin1');
    const r = await runConntrackOk(ns, ['-L', '-p', 'udp', '-f', 'ipv4']);
    expectMatched(matchLines(lines(text), lines(r.stdout), TEXT_MOVING), lines(r.stdout).length);
    expect(() => ct.listText({ extended: 'yes' as never })).toThrow(/listText\(\) options\.extended must be a boolean/);
    expect(() => ct.listText({ labels: true } as never)).toThrow(/listText\(\) options.*labels/);
    // Services come from readServices(): a plain object of the same look is not one.
    expect(() => ct.listText({ services: { services: [] } as never })).toThrow(
      /^listText\(\) options\.services must be a Services object \(readServices\(\)\), got an object$/,
    );
    // Not an object: said as list() says it (was "Cannot read properties of null").
    expect(() => ct.listText(null as never)).toThrow(/^listText\(\) options must be an object, got null$/);
  });

  test('the table has what the modes must show', async () => {
    const { stdout } = await both(['-o', 'extended,id,ktimestamp,labels'], { labelMap: LIST_LABELS });
    for (const needle of [
      '[UNREPLIED]',
      '[ASSURED]',
      'zone=7',
      'zone-orig=3',
      'zone-reply=4',
      'mark=4294967295',
      'helper=ftp',
      'labels=web,far',
      ' labels\n',
      'srckey=0x1234 dstkey=0xabcd',
      'type=128 code=0 id=99',
      'unknown  99 ',
      'unknown  253 ',
      'sctp     132 ',
      'SHUTDOWN_ACK_SENT',
      'SYN_SENT2',
      'ipv6     10 ',
      'delta-time=',
      '[start=',
      'src=192.168.7.7',
      'dst=192.168.8.8',
      'src=2001:db8::77',
      'HEARTBEAT_SENT',
    ]) {
      expect(stdout, needle).toContain(needle);
    }
    // Counters from real traffic, through a DNAT.
    expect(stdout).toMatch(/dst=127\.0\.0\.99 sport=\d+ dport=\d+ packets=[1-9]\d* bytes=[1-9]\d* src=127\.0\.0\.1 /);
  });

  test('formatSave() equals conntrack -L -o save', async () => {
    const { flows, stdout, stderr } = await both(['-o', 'save']);
    const theirs = lines(stdout);
    expectMatched(matchLines(flows.map((f) => formatSave(f)), theirs, SAVE_MOVING), theirs.length);
    expect(stderr).toBe(`${formatSummary('list', theirs.length)}\n`);
    // NAT shows as -g/-n, SCTP vtags as conntrack shows them (swapped against the kernel's value).
    expect(stdout).toContain('-g 192.168.7.7');
    expect(stdout).toContain('-n 192.168.8.8');
    expect(stdout).toContain('--orig-vtag 11 --reply-vtag 16909060');
    expect(stdout).toContain('--state (null)');
  });

  for (const o of ['xml', 'xml,ktimestamp,labels']) {
    test(`formatXmlDocument() equals conntrack -L -o ${o}`, async () => {
      const labelMap = o.includes('labels') ? LIST_LABELS : undefined;
      const { flows, stdout, now } = await both(['-o', o], { labelMap });
      const opts = { ktimestamp: o.includes('ktimestamp'), labels: labelMap, now };
      const doc = formatXmlDocument(flows, opts);
      expect(stdout.startsWith(XML_HEADER)).toBe(true);
      expect(stdout.endsWith(XML_FOOTER)).toBe(true);
      expect(doc.startsWith(XML_HEADER) && doc.endsWith(XML_FOOTER)).toBe(true);
      const body = (s: string) => lines(s.slice(XML_HEADER.length, -XML_FOOTER.length));
      const theirs = body(stdout);
      expect(theirs.length).toBe(flows.length);
      expectMatched(matchLines(body(doc), theirs, XML_MOVING), theirs.length);
      expect(flows.map((f) => formatXml(f, opts))).toEqual(body(doc));
    });
  }

  test('formatCpuStats() equals conntrack -S, formatCount() conntrack -C', async () => {
    const stats = await ct.stats();
    const s = await runConntrackOk(ns, ['-S']);
    expect(formatCpuStats(stats)).toBe(s.stdout);
    expect(s.stderr).toBe('');
    const count = await ct.count();
    const c = await runConntrackOk(ns, ['-C']);
    expect(`${formatCount(count)}\n`).toBe(c.stdout);
  });

  // conntrack -L expect lists one family, IPv4 unless -f says otherwise.
  for (const family of ['ipv4', 'ipv6'] as const) {
    test(`formatExpectation() equals conntrack -L expect -f ${family}`, async () => {
      const exps: Expectation[] = await ct.expectations.list({ family }).toArray();
      const r = await runConntrackOk(ns, ['-L', 'expect', '-f', family]);
      const theirs = lines(r.stdout);
      expect(theirs.length).toBe(1);
      expectMatched(matchLines(exps.map((e) => formatExpectation(e)), theirs, EXPECT_MOVING), 1);
      if (family === 'ipv6') expect(r.stdout).toContain(' PERMANENT,INACTIVE class=0 helper=ftp\n');
      expect(r.stderr).toBe(`${formatSummary('expect-list', 1)}\n`);
    });
  }
});

// ---- events ----------------------------------------------------------------------------

const SENTINEL = '127.0.0.254';
const USERSPACE = / \[USERSPACE\] portid=(\d+)(?: progname=(.*))?$/;

interface RawWatch {
  output: string | null;
  /** stdout lines so far, the sentinel's left out. */
  lines: string[];
  /** Every stdout line, sentinel included. */
  all: string[];
  stdout(): string;
  stderr(): string;
  stop(): Promise<void>;
}

/**
 * `conntrack -E [-o output]` printing raw lines (conntrack-cli's watchEvents trims them, and
 * the padding of the event tags is what is tested here). Ready once it printed a sentinel entry.
 */
interface WatchOptions {
  labelMap?: LabelMap;
  /** `conntrack -E expect` instead. */
  expect?: boolean;
  /** Makes an event with the sentinel address and this port (default: a UDP entry). */
  poke?: (port: number) => Promise<void>;
  /** Clears what poke made (default: deletes the UDP entries). */
  cleanup?: (ports: number[]) => Promise<void>;
}

async function watchRaw(ns: Netns, output: string | null, opts: WatchOptions = {}): Promise<RawWatch> {
  const { labelMap } = opts;
  const args = ['-E', ...(opts.expect ? ['expect'] : []), ...(output ? ['-o', output] : [])];
  const poke = opts.poke ??
    (async (port: number) => {
      await runConntrack(ns, ['-I',
        ...buildEntryArgs({ proto: 'udp', src: SENTINEL, dst: SENTINEL, sport: 9, dport: port, timeout: 30 })]);
    });
  const cleanup = opts.cleanup ??
    (async (ports: number[]) => {
      for (const port of ports) await runConntrack(ns, ['-D', '-p', 'udp', '-s', SENTINEL, '--dport', String(port)]);
    });
  let dir: string | undefined;
  let child;
  if (labelMap) {
    dir = await mkdtemp(join(tmpdir(), 'nfct-fmt-labels-'));
    await mkdir(join(dir, 'upper', 'xtables'), { recursive: true });
    await mkdir(join(dir, 'work'));
    await writeFile(join(dir, 'upper', 'xtables', 'connlabel.conf'),
      Object.entries(labelMap).map(([b, n]) => `${b} ${n}\n`).join(''));
    const script =
      'mount -t overlay nfct-labels -o "lowerdir=/etc,upperdir=$1,workdir=$2" /etc || exit 97; shift 2; exec conntrack "$@"';
    child = ns.spawn('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script, 'sh', join(dir, 'upper'),
      join(dir, 'work'), ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, TZ: 'UTC' },
    });
  } else {
    child = ns.spawn('conntrack', args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TZ: 'UTC' } });
  }
  const w = collectOutput(child, SENTINEL);
  const stop = async () => {
    child.kill('SIGTERM');
    await w.closed;
    if (dir) await rm(dir, { recursive: true, force: true });
  };
  const base = 1 + Math.floor(Math.random() * 60_000);
  const ports: number[] = [];
  const deadline = Date.now() + 5000;
  try {
    for (let k = 0;; k++) {
      if (Date.now() > deadline) {
        throw new Error(`conntrack ${args.join(' ')}: no sentinel event within 5 s: ${w.err} ${JSON.stringify(w.all)}`);
      }
      const port = base + k;
      ports.push(port);
      await poke(port);
      // How long to wait for this sentinel before making the next: not a pass/fail criterion.
      const next = Date.now() + 150;
      const seen = () => w.all.some((l) => l.includes(SENTINEL) && new RegExp(`\\b${port}\\b`).test(l));
      while (!seen() && Date.now() < next) await sleep(5);
      if (seen()) break;
    }
    await cleanup(ports);
  } catch (e) {
    await stop();
    throw e;
  }
  return { output, lines: w.lines, all: w.all, stdout: () => w.out, stderr: () => w.err, stop };
}

describe('conntrack -E', () => {
  let ens: Netns;
  let ect: Conntrack;
  beforeAll(async () => {
    ens = await createNetns('nfct-format-ev', { labels: true,
      sysctls: { ...SYSCTLS, 'net.netfilter.nf_conntrack_udp_timeout': 1 } });
    ect = await Conntrack.open({ netns: ens.name });
  });
  afterAll(async () => {
    await ect?.close();
    await ens?.remove();
  });

  test('formatEvent() equals what conntrack -E prints in each -o mode', async () => {
    const stream = ect.events();
    const got: FlowEvent[] = [];
    const marker = (e: ConntrackEvent) => e.type === 'new' && e.flow.original.src === '10.39.9.9';
    const collecting = (async () => {
      const timer = setTimeout(() => void stream.close(), 60_000);
      try {
        for await (const e of stream) {
          if (e.type === 'new' || e.type === 'update' || e.type === 'destroy') {
            if (e.flow.original.src !== SENTINEL) got.push(e);
          }
          if (marker(e)) break;
        }
      } finally {
        clearTimeout(timer);
      }
    })();
    const modes: { o: string | null; opts: Parameters<typeof formatEvent>[1]; labelMap?: LabelMap }[] = [
      { o: null, opts: {} },
      { o: 'extended,id', opts: { extended: true, id: true } },
      { o: 'timestamp', opts: { timestamp: true } },
      { o: 'ktimestamp,id', opts: { ktimestamp: true, id: true } },
      { o: 'labels,extended', opts: { labels: LIST_LABELS, extended: true }, labelMap: LIST_LABELS },
      { o: 'save', opts: { save: true } },
      { o: 'xml', opts: { xml: true } },
    ];
    const watches: RawWatch[] = [];
    try {
      for (const m of modes) watches.push(await watchRaw(ens, m.o, { labelMap: m.labelMap }));

      // Real traffic: no [USERSPACE] suffix.
      await tcpFlow(ens, { family: 4, bytes: 50 });
      await udpFlow(ens, { family: 6, count: 2 });
      await ping(ens, { family: 4 });
      await dnatFlow(ens, { proto: 'udp' });
      // An unreplied UDP flow expires after 1 s; the next packet of the same tuple finds it
      // expired and the kernel destroys it then (or the GC did before): a DESTROY from the
      // kernel alone, with counters and start/stop timestamps.
      const ports = { localPort: 30_000 + Math.floor(Math.random() * 10_000),
        listenPort: 41_000 + Math.floor(Math.random() * 10_000) };
      const lone = await udpFlow(ens, { family: 4, count: 1, reply: false, ...ports });
      // Expired once a lookup no longer finds it (a lookup does not refresh it).
      const loneTuple = { protocol: 'udp' as const, src: lone.orig.src, dst: lone.orig.dst, srcPort: lone.orig.sport,
        dstPort: lone.orig.dport };
      await until(async () => (await ect.get(loneTuple)) === null, 'the lone UDP entry to expire (1 s)', {
        every: 100,
      });
      await udpFlow(ens, { family: 4, count: 1, reply: false, ...ports });
      const expired = (e: FlowEvent) =>
        e.type === 'destroy' && e.flow.protocol === 'udp' && e.flow.original.srcPort === lone.orig.sport;
      await until(() => got.some(expired), 'the DESTROY of the expired entry');
      // Changes over netlink (conntrack, the library): with the suffix.
      const udp = ['-p', 'udp', '-s', '10.30.0.1', '-d', '10.30.0.2', '--sport', '1000', '--dport', '53'];
      const ins = await runConntrackOk(ens, ['-I', ...udp, '-t', '60', '--label-add', 'db'], {
        labelMap: INSERT_LABELS,
      });
      expect(ins.stderr).toBe(`${formatSummary('create', 1)}\n`);
      const upd = await runConntrackOk(ens, ['-U', ...udp, '-m', '7']);
      expect(upd.stderr).toBe(`${formatSummary('update', 1)}\n`);
      const del = await runConntrackOk(ens, ['-D', ...udp]);
      expect(del.stderr).toBe(`${formatSummary('delete', 1)}\n`);
      await ect.create({ protocol: 'tcp', src: '10.30.0.5', dst: '10.30.0.6', srcPort: 1, dstPort: 2, timeout: 60,
        state: 'ESTABLISHED' });
      await runConntrackOk(ens, ['-I', '-p', 'gre', '-s', '10.30.0.7', '-d', '10.30.0.8', '--srckey', '17', '--dstkey',
        '4660', '-t', '60']);
      await runConntrackOk(ens, ['-D', '-p', 'tcp']);
      await runConntrackOk(ens, ['-I', '-p', 'udp', '-s', '10.39.9.9', '-d', '10.39.9.8', '--sport', '1', '--dport',
        '2', '-t', '60']);
      await collecting;
      await until(() => watches.every((w) => w.all.some((l) => l.includes('10.39.9.9'))),
        'every watcher to print the marker 10.39.9.9');
      // conntrack's SIGTERM handler prints its summary with stdio and exits from inside the
      // handler: an event that arrives as it is stopped can be printed but not counted, or
      // printed twice. Entries with 1 s timeouts expire at any moment, so the table is emptied
      // first and each watcher left to go quiet: then nothing can arrive while it stops.
      await ect.flush();
      // Every watcher has printed the flush's events once it prints an entry made after it (a
      // sentinel, left in the table so that nothing changes while the watchers stop).
      const quiet = 60_000 + Math.floor(Math.random() * 5_000);
      await runConntrackOk(ens, ['-I',
        ...buildEntryArgs({ proto: 'udp', src: SENTINEL, dst: SENTINEL, sport: 9, dport: quiet, timeout: 600 })]);
      await until(
        () => watches.every((w) => w.all.some((l) => l.includes(SENTINEL) && new RegExp(`\\b${quiet}\\b`).test(l))),
        'every watcher to print the entry made after the flush',
      );
    } finally {
      for (const w of watches) await w.stop();
      await stream.close();
    }

    expect(got.length).toBeGreaterThanOrEqual(20);
    expect(got.some((e) => e.type === 'destroy' && e.flow.timestamp?.stop !== undefined)).toBe(true);
    for (const [k, m] of modes.entries()) {
      const w = watches[k]!;
      let theirs = w.lines.filter((l) =>
        !(m.o === 'xml' && (l.startsWith('<?xml') || l === '<conntrack>' || l === '</conntrack>'))
      );
      // Up to the marker: conntrack may have printed more before it was stopped.
      const end = theirs.findIndex((l) => l.includes('10.39.9.9'));
      expect(end, `${m.o}: marker`).toBeGreaterThan(0);
      theirs = theirs.slice(0, end + 1);
      const suffixes = theirs.map((l) => USERSPACE.exec(l));
      const stripped = theirs.map((l) => l.replace(USERSPACE, ''));
      let mine = got.map((e) => formatEvent(e, m.opts));
      if (m.o === 'timestamp') {
        // conntrack stamps the line when it reads the event; the library has the kernel's time.
        const stamp = /^\[(\d{8,})\.(\d{6})\]\t/;
        const secs = (l: string) => {
          const x = stamp.exec(l);
          return x ? Number(x[1]) + Number(x[2]) / 1e6 : NaN;
        };
        expect(stripped.every((l, i) => Math.abs(secs(l) - secs(mine[i] ?? '')) < 1)).toBe(true);
        mine = mine.map((l) => l.replace(stamp, '[#]\t'));
        for (let i = 0; i < stripped.length; i++) stripped[i] = stripped[i]!.replace(stamp, '[#]\t');
      }
      expect(mine, `conntrack -E ${m.o ?? ''}`).toEqual(stripped);
      // The suffix is there exactly for the changes made over netlink, and formatEvent() writes
      // it when given the port id.
      // (-D -p tcp deleted every TCP entry; the UDP ones from traffic expired by themselves.)
      const fromUser = got.map((e) =>
        e.flow.original.src.startsWith('10.3') || (e.type === 'destroy' && e.flow.protocol === 'tcp')
      );
      expect(suffixes.map((x) => x !== null)).toEqual(fromUser);
      for (const [i, s] of suffixes.entries()) {
        if (s) {
          expect(
            formatEvent(got[i]!, { ...m.opts, userspace: { portid: Number(s[1]), progname: s[2] } }).replace(
              /^\[\d+\.\d+\]/,
              '',
            ),
          ).toBe(theirs[i]!.replace(/^\[\d+\.\d+\]/, ''));
        }
      }
      // The summary conntrack writes when it is stopped counts every event it printed.
      const printed = w.all.filter((l) => !(m.o === 'xml' && !l.startsWith('<flow'))).length;
      expect(w.stderr()).toBe(`${formatSummary('events', printed)}\n`);
      if (m.o === 'xml') expect(w.stdout().endsWith(XML_FOOTER)).toBe(true);
    }
    // Both kinds were there.
    const suffixed = watches[0]!.lines.filter((l) => USERSPACE.test(l)).length;
    expect(suffixed).toBeGreaterThanOrEqual(7);
    expect(watches[0]!.lines.length - suffixed).toBeGreaterThanOrEqual(10);
  }, 120_000);

  test('formatExpectationEvent() equals what conntrack -E expect prints', async () => {
    const master = (src: string, srcPort: number) => ({ protocol: 'tcp' as const, src, dst: '10.40.0.2', srcPort,
      dstPort: 21 });
    const sentinelMaster = { protocol: 'tcp' as const, src: SENTINEL, dst: SENTINEL, srcPort: 9, dstPort: 21 };
    const expected = (m: ReturnType<typeof master>, dport: number, extra: object = {}) => ({
      master: m,
      tuple: { protocol: 'tcp' as const, src: m.dst, dst: m.src, srcPort: 0, dstPort: dport },
      mask: { srcPort: 0 },
      timeout: 300,
      ...extra,
    });
    const stream = ect.events({ types: ['expect-new', 'expect-destroy'] });
    // The kernel reports a master's expectations only if someone listened when the master was
    // made (nf_conntrack_events=2, the default): make them now that the stream listens.
    for (const m of [sentinelMaster, master('10.40.0.1', 40000), master('10.40.0.3', 40001),
      master('10.49.9.9', 40002)])
    {
      await ect.create({ ...m, timeout: 600, state: 'ESTABLISHED', helper: 'ftp' });
    }
    const got: ExpectationEvent[] = [];
    const collecting = (async () => {
      const timer = setTimeout(() => void stream.close(), 30_000);
      try {
        for await (const e of stream) {
          if (e.type !== 'expect-new' && e.type !== 'expect-destroy') continue;
          if (e.expectation.master.src !== SENTINEL) got.push(e);
          if (e.expectation.master.src === '10.49.9.9') break;
        }
      } finally {
        clearTimeout(timer);
      }
    })();
    // The ftp helper keeps one expectation per master: each poke replaces the last one.
    const sentinelOpts: WatchOptions = {
      expect: true,
      poke: (port) => ect.expectations.create(expected(sentinelMaster, port)),
      cleanup: () => ect.expectations.flush({ helper: 'ftp' }),
    };
    const modes = [null, 'timestamp'];
    const watches: RawWatch[] = [];
    try {
      for (const o of modes) watches.push(await watchRaw(ens, o, sentinelOpts));
      await ect.expectations.create(expected(master('10.40.0.1', 40000), 50000));
      await ect.expectations.create(expected(master('10.40.0.3', 40001), 50001, { flags: ['PERMANENT'] }));
      await ect.expectations.create(expected(master('10.40.0.1', 40000), 50002));
      await ect.expectations.delete({ protocol: 'tcp', src: '10.40.0.2', dst: '10.40.0.3', srcPort: 0,
        dstPort: 50001 });
      await ect.expectations.create(expected(master('10.49.9.9', 40002), 50003));
      await collecting;
      await until(() => watches.every((w) => w.all.some((l) => l.includes('10.49.9.9'))),
        'every watcher to print the marker 10.49.9.9');
    } finally {
      for (const w of watches) await w.stop();
      await stream.close();
    }
    expect(got.map((e) => e.type)).toEqual(['expect-new', 'expect-new', 'expect-destroy', 'expect-new',
      'expect-destroy', 'expect-new']);
    for (const [k, o] of modes.entries()) {
      const w = watches[k]!;
      const theirs = w.lines.slice(0, w.lines.findIndex((l) => l.includes('10.49.9.9')) + 1);
      let mine = got.map((e) => formatExpectationEvent(e, { timestamp: o === 'timestamp' }));
      let stripped = theirs;
      if (o === 'timestamp') {
        // `[%-8ld.%-6ld]`: microseconds padded with blanks on the right.
        const stamp = /^\[(\d{10})\.(\d{1,6} *)\]\t/;
        const secs = (l: string) => {
          const x = stamp.exec(l);
          return x?.[2]?.length === 6 ? Number(x[1]) + Number(x[2].trim()) / 1e6 : NaN;
        };
        expect(theirs.every((l, i) => Math.abs(secs(l) - secs(mine[i] ?? '')) < 1)).toBe(true);
        mine = mine.map((l) => l.replace(stamp, '[#]\t'));
        stripped = theirs.map((l) => l.replace(stamp, '[#]\t'));
      }
      expect(mine, `conntrack -E expect ${o ?? ''}`).toEqual(stripped);
      expect(w.stderr()).toBe(`${formatSummary('expect-events', w.all.length)}\n`);
    }
    expect(watches[0]!.lines.join('\n')).toContain('[DESTROY] ');
  });

  test('formatFlushMessage() and an empty -o xml listing', async () => {
    const f = await runConntrackOk(ens, ['-F']);
    expect(f.stderr).toBe(`${formatFlushMessage()}\n`);
    const x = await runConntrackOk(ens, ['-L', '-o', 'xml']);
    expect(formatXmlDocument(await ect.list().toArray())).toBe(x.stdout);
    expect(x.stdout).toBe('');
    expect(x.stderr).toBe(`${formatSummary('list', 0)}\n`);
    const fe = await runConntrackOk(ens, ['-F', 'expect']);
    expect(fe.stderr).toBe(`${formatFlushMessage('expect')}\n`);
  });
});

// ---- what this kernel cannot produce ------------------------------------------------------

describe('hand-made flows (offload flags, secctx, a listed [stop=], labels without names)', () => {
  const base = {
    family: 'ipv4' as const,
    protocol: 'udp' as const,
    protonum: 17,
    original: { src: '10.0.0.1', dst: '10.0.0.2', protonum: 17, srcPort: 5353, dstPort: 53 },
    reply: { src: '10.0.0.2', dst: '10.0.0.1', protonum: 17, srcPort: 53, dstPort: 5353 },
    status: new Status(0x0a),
    timeout: 29,
    mark: 0,
    use: 2,
    id: 2,
  };

  test('match the lines conntrack-tools prints for them (test/fixtures/conntrack-synthetic.txt)', () => {
    const ext = { extended: true, id: true };
    expect(formatFlow({ ...base, status: new Status(0x8000 | 0x4000 | 0x0e) }, ext)).toBe(
      'ipv4     2 udp      17 29 src=10.0.0.1 dst=10.0.0.2 sport=5353 dport=53 src=10.0.0.2 dst=10.0.0.1 sport=53 dport=5353 [HW_OFFLOAD] mark=0 use=2 id=2',
    );
    const v6: Flow = {
      ...base,
      family: 'ipv6',
      protocol: 'tcp',
      protonum: 6,
      original: { src: 'fe80::1', dst: 'fe80::2', protonum: 6, srcPort: 1, dstPort: 2 },
      reply: { src: 'fe80::2', dst: 'fe80::1', protonum: 6, srcPort: 2, dstPort: 1 },
      status: new Status(0x08),
      timeout: 10,
      tcp: { state: 'CLOSE', stateNum: 8, wscaleOriginal: 0, wscaleReply: 0, flagsOriginal: 0, flagsReply: 0,
        maskOriginal: 0, maskReply: 0 },
      mark: 3,
      secmark: 12,
      secctx: 'system_u:object_r:ssh_packet_t:s0',
      zone: 5,
      use: 1,
      id: 3,
    };
    expect(formatFlow(v6, ext)).toBe(
      'ipv6     10 tcp      6 10 CLOSE src=fe80::1 dst=fe80::2 sport=1 dport=2 [UNREPLIED] src=fe80::2 dst=fe80::1 sport=2 dport=1 mark=3 secmark=12 secctx=system_u:object_r:ssh_packet_t:s0 zone=5 use=1 id=3',
    );
    const stopped = {
      ...base,
      original: { ...base.original, srcPort: 1, dstPort: 2 },
      reply: { ...base.reply, srcPort: 2, dstPort: 1 },
      timeout: 0,
      use: 1,
      id: 4,
      timestamp: { start: 1762059843_900000000n, stop: 1762146243_500000000n },
    } as Flow;
    expect(formatFlow(stopped, { ...ext, ktimestamp: true })).toBe(
      'ipv4     2 udp      17 0 src=10.0.0.1 dst=10.0.0.2 sport=1 dport=2 src=10.0.0.2 dst=10.0.0.1 sport=2 dport=1 mark=0 delta-time=86400 [start=Sun Nov  2 05:04:03 2025] [stop=Mon Nov  3 05:04:03 2025] use=1 id=4',
    );
    const labelled = { ...base, status: new Status(0x08), timeout: 30, use: 1, id: 5, labels: [7] } as Flow;
    expect(formatFlow(labelled, { ...ext, labels: LIST_LABELS })).toMatch(/ use=1 id=5 labels$/);
    expect(formatFlow(labelled, ext)).toMatch(/ id=5$/);
    // XML divides the nanosecond difference (the text rounds each time down first); the event
    // type, <when>.
    expect(formatXml(stopped, { type: 'destroy', when: 1762059843_000000000n, ktimestamp: true })).toContain(
      '<timestamp><start>1762059843900000000</start><stop>1762146243500000000</stop></timestamp><deltatime>86399</deltatime></meta><when><hour>5</hour><min>04</min><sec>03</sec><wday>1</wday><day>2</day><month>11</month><year>2025</year></when></flow>',
    );
  });
});
