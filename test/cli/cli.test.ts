// nfct: the same output as conntrack for the same table, the same effects for the same
// commands, the same event lines, and traces with the hops nft monitor trace prints.
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';

import { BANNER, TRY_HELP } from '../../lib/cli/messages.js';
import { Conntrack } from '../../lib/conntrack/handle.js';
import { NfctError } from '../../lib/core/errors.js';
import { Nflog } from '../../lib/nflog/handle.js';
import { createNetns, type Netns } from '../helpers/netns.js';
import { CLI } from '../helpers/nfct.js';
import { until, watchersReady } from '../helpers/sentinel.js';
import { nftCounter } from '../helpers/streams.js';
import { tcpFlow, udpFlow } from '../helpers/traffic.js';
import { type EntrySpec, insertEntry, listEntries, runConntrack } from '../oracle/conntrack-cli.js';
import { compareJson, parseConntrackXml } from '../oracle/conntrack-xml.js';
import { runNfct, startNfct } from '../support/run-nfct.js';

/** The built library, for a child process. */
const LIB = join(__dirname, '..', '..', 'dist', 'index.js');

let ns: Netns;

/** nfct in this process, its messages in conntrack's words (nfct signs them with its own name). */
async function nfct(...argv: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  const r = await runNfct(argv);
  const stderr = r.stderr.replaceAll(BANNER, 'conntrack v1.4.7 (conntrack-tools): ').replaceAll(TRY_HELP,
    "Try `conntrack -h' or 'conntrack --help' for more information.");
  return { ...r, stderr };
}

const specs: EntrySpec[] = [
  { proto: 'tcp', src: '10.1.0.1', dst: '10.1.0.2', sport: 40001, dport: 80, state: 'ESTABLISHED', status: ['ASSURED'],
    mark: 5, timeout: 500 },
  { proto: 'tcp', src: '2001:db8::1', dst: '2001:db8::2', sport: 40002, dport: 443, state: 'SYN_SENT', timeout: 400 },
  { proto: 'udp', src: '10.1.0.1', dst: '10.1.0.3', sport: 40003, dport: 53, timeout: 300, zone: 7 },
  { proto: 'udp', src: '10.1.0.9', dst: '10.1.0.10', sport: 40006, dport: 5000, timeout: 300,
    dnat: '192.168.7.7:6000' },
  { proto: 'icmp', src: '10.1.0.1', dst: '10.1.0.2', icmpType: 8, icmpCode: 0, icmpId: 77, timeout: 30 },
  { proto: 'icmpv6', src: '2001:db8::1', dst: '2001:db8::2', icmpType: 128, icmpCode: 0, icmpId: 99, timeout: 30 },
  { proto: 'sctp', src: '10.1.0.1', dst: '10.1.0.2', sport: 40008, dport: 3868, state: 'ESTABLISHED', sctpOrigVtag: 11,
    sctpReplyVtag: 22, timeout: 300 },
  { proto: 'gre', src: '10.1.0.1', dst: '10.1.0.2', greSrcKey: 0x1234, greDstKey: 0x5678, timeout: 300 },
  { proto: 99, src: '10.1.0.1', dst: '10.1.0.2', timeout: 300 },
];

beforeAll(async () => {
  ns = await createNetns('nfct-cli', { sysctls: { 'net.netfilter.nf_conntrack_acct': 1 } });
  for (const s of specs) await insertEntry(ns, s);
  await tcpFlow(ns, { family: 4 });
  await udpFlow(ns, { family: 6, count: 2 });
});
afterAll(async () => {
  await ns?.remove();
});

/** Lines with the timeout countdown (`-t` in save lines) and delta-time masked (they move between two reads). */
function masked(text: string): string[] {
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) =>
      l.replace(/^(\S+\s+\d+\s+\S+\s+\d+\s+)\d+ /, '$1T ').replace(/^(\S+\s+\d+\s+)\d+ /, '$1T ').replace(
        /delta-time=\d+/,
        'delta-time=D',
      ).replace(/ -t \d+ /, ' -t T ')
    )
    .sort();
}

describe('nfct -L as conntrack -L', () => {
  for (const output of ['', 'extended', 'id', 'extended,id', 'save']) {
    test(`-o ${output || '(default)'}`, async () => {
      const args = output ? ['-L', '-o', output] : ['-L'];
      const mine = await nfct(...args, '--netns', ns.name);
      const theirs = await runConntrack(ns, args);
      expect(mine.code).toBe(0);
      expect(masked(mine.stdout)).toEqual(masked(theirs.stdout));
      expect(mine.stderr).toBe(theirs.stderr);
    });
  }

  test("a protocol filter without -f over a table of both families: the kernel's order, as conntrack lists it", async () => {
    // The timeout counts down between the two reads: masked (after -o extended's family too).
    const inOrder = (text: string): string[] =>
      text.split('\n').filter(Boolean).map((l) => l.replace(/^((?:ipv[46]\s+\d+\s+)?\S+\s+\d+\s+)\d+ /, '$1T '));
    const families = new Set<string>();
    for (const args of [['-p', 'tcp'], ['-p', 'udp'], ['-p', 'tcp', '-o', 'extended'], ['-p', 'udp', '-o', 'save']]) {
      const mine = await nfct('-L', ...args, '--netns', ns.name);
      const theirs = await runConntrack(ns, ['-L', ...args]);
      expect(inOrder(mine.stdout).map((l) => l.replace(/ -t \d+ /, ' -t T ')), args.join(' ')).toEqual(
        inOrder(theirs.stdout).map((l) => l.replace(/ -t \d+ /, ' -t T ')),
      );
      for (const l of inOrder(theirs.stdout)) families.add(l.includes(':') ? '6' : '4');
    }
    // The table holds both families for these filters (or the test shows nothing).
    expect([...families].sort()).toEqual(['4', '6']);
  });

  test("-u UNSET: the kernel refuses a status filter that tests no bit, as it refuses conntrack's", async () => {
    for (const args of [['-u', 'UNSET'], ['-u', 'UNSET', '-p', 'tcp']]) {
      const mine = await nfct('-L', ...args, '--netns', ns.name);
      const theirs = await runConntrack(ns, ['-L', ...args]);
      expect([mine.code, mine.stdout, mine.stderr], args.join(' ')).toEqual([theirs.code, theirs.stdout,
        theirs.stderr]);
      expect(mine.code).toBe(1);
    }
  });

  test('filters: the same entries', async () => {
    for (const args of [['-p', 'udp'], ['-f', 'ipv6'], ['-s', '10.1.0.0/24'], ['-m', '5'], ['-w', '7'], ['-p', 'tcp',
      '--state', 'ESTABLISHED'], ['-u', 'ASSURED']])
    {
      const mine = await nfct('-L', ...args, '--netns', ns.name);
      const theirs = await runConntrack(ns, ['-L', ...args]);
      expect(masked(mine.stdout), args.join(' ')).toEqual(masked(theirs.stdout));
      expect(mine.stderr, args.join(' ')).toBe(theirs.stderr);
    }
  });

  test('-C and -S', async () => {
    expect((await nfct('-C', '--netns', ns.name)).stdout).toBe((await runConntrack(ns, ['-C'])).stdout);
    expect((await nfct('-S', '--netns', ns.name)).stdout).toBe((await runConntrack(ns, ['-S'])).stdout);
  });

  test('--json: one object per entry, each with the values conntrack -L -o xml shows for it', async () => {
    const { stdout } = await nfct('-L', '--json', '--netns', ns.name);
    const rows = stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const xml = new Map(
      parseConntrackXml((await runConntrack(ns, ['-L', '-o', 'xml,id'])).stdout).map((f) => [f.id, f]),
    );
    const text = new Map((await listEntries(ns)).entries.map((e) => [e.id, e]));
    expect(rows.length).toBe(xml.size);
    const nowNs = BigInt(Date.now()) * 1_000_000n;
    const problems = rows.flatMap((row) => {
      const id = row.id as number;
      const x = xml.get(id);
      return x
        ? compareJson(row, x, text.get(id), { nowNs }).map((p) => `${row.protocol as string} ${id}: ${p}`)
        : [`${id}: not listed by conntrack`];
    });
    expect(problems).toEqual([]);
    expect(new Set(rows.map((r) => r.protocol))).toEqual(
      new Set(['tcp', 'udp', 'icmp', 'icmpv6', 'sctp', 'gre', 'unknown']),
    );
  });
});

describe('changing the table: the same effects as conntrack', () => {
  test('-I, -U, -D, -F', async () => {
    const other = await createNetns('nfct-cli2', { sysctls: { 'net.netfilter.nf_conntrack_acct': 1 } });
    try {
      const tuple = ['-p', 'udp', '-s', '10.9.0.1', '-d', '10.9.0.2', '--sport', '1', '--dport', '2'];
      const a = await nfct('-I', ...tuple, '-t', '100', '-m', '3', '--netns', ns.name);
      const b = await runConntrack(other, ['-I', ...tuple, '-t', '100', '-m', '3']);
      expect(a.stderr).toBe(b.stderr);
      expect(a.code).toBe(0);
      const dupA = await nfct('-I', ...tuple, '-t', '100', '--netns', ns.name);
      const dupB = await runConntrack(other, ['-I', ...tuple, '-t', '100']);
      expect([dupA.code, dupA.stderr]).toEqual([dupB.code, dupB.stderr]);
      const ua = await nfct('-U', '-s', '10.9.0.1', '-m', '9', '--netns', ns.name);
      const ub = await runConntrack(other, ['-U', '-s', '10.9.0.1', '-m', '9']);
      expect(ua.stderr).toBe(ub.stderr);
      expect(masked(ua.stdout)).toEqual(masked(ub.stdout));
      const find = async (n: Netns) => (await listEntries(n, ['-s', '10.9.0.1'])).entries.map((e) => e.mark);
      expect(await find(ns)).toEqual(await find(other));
      const da = await nfct('-D', '-s', '10.9.0.1', '--netns', ns.name);
      const db = await runConntrack(other, ['-D', '-s', '10.9.0.1']);
      expect([da.code, da.stderr]).toEqual([db.code, db.stderr]);
      expect(masked(da.stdout)).toEqual(masked(db.stdout));
      const none = await nfct('-D', '-s', '10.9.0.1', '--netns', ns.name);
      const noneB = await runConntrack(other, ['-D', '-s', '10.9.0.1']);
      expect([none.code, none.stderr]).toEqual([noneB.code, noneB.stderr]);
      const fa = await nfct('-F', '--netns', other.name);
      expect(fa.stderr).toBe('conntrack v1.4.7 (conntrack-tools): connection tracking table has been emptied.\n');
      expect((await listEntries(other)).entries).toEqual([]);
    } finally {
      await other.remove();
    }
  });

  test('a kernel error in the middle of -U or -D: only the failure, as conntrack says it (no count line), exit status 1', async () => {
    // conntrack -U over thousands of entries ends so: its dump socket overflows (ENOBUFS).
    const spies = [
      vi.spyOn(Conntrack.prototype, 'updateWhere').mockRejectedValueOnce(new NfctError(105, 'recv')),
      vi.spyOn(Conntrack.prototype, 'deleteEach').mockRejectedValueOnce(new NfctError(105, 'recv')),
    ];
    try {
      const u = await nfct('-U', '-p', 'udp', '-m', '5', '--netns', ns.name);
      expect([u.code, u.stderr]).toEqual([1,
        'conntrack v1.4.7 (conntrack-tools): Operation failed: No buffer space available\n']);
      const d = await nfct('-D', '-p', 'udp', '--netns', ns.name);
      expect([d.code, d.stderr]).toEqual([1,
        'conntrack v1.4.7 (conntrack-tools): Operation failed: No buffer space available\n']);
    } finally {
      for (const s of spies) s.mockRestore();
    }
  });
});

describe('errors as conntrack gives them', () => {
  test('an unknown option and an illegal one: exit 2', async () => {
    const a = await nfct('-L', '--bogus');
    expect(a.code).toBe(2);
    expect(a.stderr).toContain("unknown option `--bogus'");
    const get = ['-G', '-p', 'udp', '-s', '10.1.0.1', '-d', '10.1.0.3', '--sport', '40003', '--dport', '53', '-w', '7'];
    const b = await nfct(...get, '--netns', ns.name);
    const c = await runConntrack(ns, get);
    expect(b.code).toBe(c.code);
    expect(b.stderr.split('\n')[0]).toBe(c.stderr.split('\n')[0]);
  });

  test('--help explains the commands', async () => {
    const h = await nfct('--help');
    expect(h.code).toBe(0);
    for (const word of ['-L', '-E', '--json', '--netns', 'nfct log', 'nfct trace']) expect(h.stdout).toContain(word);
    expect((await nfct('log', '--help')).stdout).toContain('--group');
    expect((await nfct('trace', '--help')).stdout).toContain('--nftables');
  });
});

/**
 * Marker entries for two -E watchers (source NET.9.9, source port 1000 + k): `marker(k)` makes
 * one, `printed(k)` says whether every watcher printed it (in text or XML lines), `marked(l)`
 * whether a line is one. Markers are left out of comparisons.
 */
function eventMarkers(net: string, lines: () => string[][], form: 'text' | 'xml' = 'text') {
  const MARK = `${net}.9.9`;
  const marker = (k: number) =>
    runConntrack(ns, ['-I', '-p', 'udp', '-s', MARK, '-d', `${net}.9.8`, '--sport', String(1000 + k), '--dport', '9',
      '-t', '50']).then(() => undefined);
  const marked = (l: string) => l.includes(form === 'xml' ? `<src>${MARK}</src>` : `src=${MARK} `);
  const ofPort = (l: string, k: number) =>
    l.includes(form === 'xml' ? `<sport>${1000 + k}</sport>` : ` sport=${1000 + k} `);
  const printed = (k: number) => lines().every((ls) => ls.some((l) => marked(l) && ofPort(l, k)));
  /** conntrack -I, -U and -D of one entry (source NET.0.1), then the last marker, printed by both. */
  const changeOne = async () => {
    const tuple = ['-p', 'udp', '-s', `${net}.0.1`, '-d', `${net}.0.2`, '--sport', '1', '--dport', '2'];
    await runConntrack(ns, ['-I', ...tuple, '-t', '50']);
    await runConntrack(ns, ['-U', ...tuple, '-m', '4']);
    await runConntrack(ns, ['-D', ...tuple]);
    await marker(999);
    await until(() => printed(999), 'both to print the last marker');
  };
  return { MARK, marker, printed, marked, changeOne };
}

describe('nfct -E as conntrack -E', () => {
  test('the same lines for the same traffic and the same conntrack -I/-U/-D', async () => {
    const watch = runConntrackEvents();
    const mine = nfctEvents();
    // Both watch once both print a marker entry made now (markers are left out of the comparison).
    const { MARK, marker, printed } = eventMarkers('10.30', () => [watch.lines(), mine.lines]);
    await watchersReady(marker, printed, 'conntrack -E and nfct -E');
    await tcpFlow(ns, { family: 4 });
    await udpFlow(ns, { family: 4, count: 1 });
    const tuple = ['-p', 'udp', '-s', '10.30.0.1', '-d', '10.30.0.2', '--sport', '1', '--dport', '2'];
    await runConntrack(ns, ['-I', ...tuple, '-t', '50']);
    await runConntrack(ns, ['-U', ...tuple, '-m', '4']);
    await runConntrack(ns, ['-D', ...tuple]);
    // A change by a process that outlives the lookup of its name: a node process whose first
    // netlink socket in the namespace has its pid as port id, and that waits a second to exit.
    // Its second socket's port id is no pid: the name is that of the process holding it.
    const script = `const { Conntrack } = require(${
      JSON.stringify(LIB)
    }); (async () => { const ct = await Conntrack.open(); await ct.create({ protocol: 'udp', src: '10.30.0.3', dst: '10.30.0.4', srcPort: 3, dstPort: 4, timeout: 50 }); const second = await Conntrack.open(); await second.create({ protocol: 'udp', src: '10.30.0.5', dst: '10.30.0.4', srcPort: 3, dstPort: 4, timeout: 50 }); console.log(process.pid); await new Promise((r) => setTimeout(r, 1000)); ct.close(); second.close(); })();`;
    const child = await ns.exec(process.execPath, ['-e', script]);
    expect(child.code).toBe(0);
    const pid = child.stdout.trim();
    // Everything before the last marker has been printed once both print it.
    await marker(999);
    await until(() => printed(999), 'conntrack -E and nfct -E to print the last marker');
    const unmarked = (lines: string[]) => lines.filter((l) => !l.includes(`src=${MARK} `));
    const [theirs, ours] = (await Promise.all([watch.stop(), mine.stop()])).map(unmarked) as [string[], string[]];
    expect(ours.length).toBeGreaterThan(3);
    // The process name of a [USERSPACE] change is looked up while its process lives, which a
    // short conntrack -U or -D may not outlive (conntrack -E misses it too then): compared
    // without it; the long-lived process's change carries its name in both.
    const strip = (l: string) => l.replace(/ progname=.*$/, '');
    expect(ours.map(strip)).toEqual(theirs.map(strip));
    const named = (lines: string[]) =>
      lines.filter((l) => l.includes('src=10.30.0.3') && l.includes(`[USERSPACE] portid=${pid} progname=node`));
    expect(named(ours)).toHaveLength(1);
    expect(named(theirs)).toHaveLength(1);
    const second = (lines: string[]) =>
      lines.filter((l) => l.includes('src=10.30.0.5') && / \[USERSPACE\] portid=\d+ progname=node$/.test(l));
    expect(second(ours)).toEqual(second(theirs));
    expect(second(ours)).toHaveLength(1);
    expect(second(ours)[0]).not.toContain(`portid=${pid} `);
  });
});

describe('nfct -E with a filter as conntrack -E with it', () => {
  test.each([
    { only: ['-e', 'NEW,DESTROY'], net: '10.33', events: ['[NEW]', '[DESTROY]'] },
    // (the entry from another network is made before those of this one: neither prints it)
    { only: ['-s', '10.34.0.0/16'], net: '10.34', events: ['[NEW]', '[UPDATE]', '[DESTROY]'], other: '10.35.0.1' },
  ])('$only: the events it selects, the same lines as conntrack prints', async ({ only, net, events, other }) => {
    const watch = runConntrackEvents(only);
    const mine = nfctEvents(only);
    const { marker, printed, marked, changeOne } = eventMarkers(net, () => [watch.lines(), mine.lines]);
    await watchersReady(marker, printed, `conntrack -E ${only.join(' ')} and nfct -E ${only.join(' ')}`);
    if (other) {
      await runConntrack(ns, ['-I', '-p', 'udp', '-s', other, '-d', `${net}.0.2`, '--sport', '1', '--dport', '2', '-t',
        '50']);
    }
    await changeOne();
    const strip = (l: string) => l.replace(/ progname=.*$/, '');
    const [theirs, ours] = (await Promise.all([watch.stop(), mine.stop()])).map((ls) =>
      ls.filter((l) => !marked(l)).map(strip)
    ) as [string[], string[]];
    expect(theirs.map((l) => l.trim().split(' ')[0])).toEqual(events);
    expect(ours).toEqual(theirs);
  });
});

describe('nfct -E -o xml as conntrack -E -o xml', () => {
  test('the same document: its header before the first event, each event, its footer at the end', async () => {
    const watch = runConntrackEvents(['-o', 'xml']);
    const mine = nfctEvents(['-o', 'xml']);
    const { marker, printed, marked, changeOne } = eventMarkers('10.31', () => [watch.lines(), mine.lines], 'xml');
    await watchersReady(marker, printed, 'conntrack -E -o xml and nfct -E -o xml');
    await changeOne();
    const unmarked = (lines: string[]) => lines.filter((l) => !marked(l));
    const [allTheirs, allOurs] = await Promise.all([watch.stop(), mine.stop()]);
    const [theirs, ours] = [unmarked(allTheirs), unmarked(allOurs)];
    expect(theirs[0]).toBe('<?xml version="1.0" encoding="utf-8"?>');
    expect(theirs.at(-1)).toBe('</conntrack>');
    expect(theirs.filter((l) => l.startsWith('<flow type='))).toHaveLength(3);
    // (the name of the short-lived conntrack process may be looked up too late, as above)
    const strip = (l: string) => l.replace(/ progname=.*$/, '');
    expect(ours.map(strip)).toEqual(theirs.map(strip));
    // The summary counts the events printed, markers too (each program may have seen a different
    // number of them), as conntrack's does; nothing else (no events were lost).
    const unsigned = (text: string) =>
      text.replace(/^(conntrack|nfct) v\S+ \(conntrack-tools(?: compatible)?\): /gm, '');
    const summary = (all: string[]) =>
      `${all.filter((l) => l.startsWith('<flow ')).length} flow events have been shown.\n`;
    expect(unsigned(watch.stderr)).toBe(summary(allTheirs));
    expect(unsigned(mine.stderr)).toBe(summary(allOurs));
  });
});

describe('nfct -E when the kernel drops events', () => {
  test('a warning as the overrun comes, and at the end that events were lost; fewer lines than entries made', async () => {
    const child = ns.spawn(process.execPath, [CLI, '-E', '-b', '4096', '-p', 'udp'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const MARK = '10.32.9.9';
      const marker = (k: number) =>
        runConntrack(ns, ['-I', '-p', 'udp', '-s', MARK, '-d', '10.32.9.8', '--sport', String(1000 + k), '--dport', '9',
          '-t', '50']).then(() => undefined);
      await watchersReady(marker, (k) => out.includes(` sport=${1000 + k} `), 'nfct -E -b 4096');
      // Stopped, it reads nothing: 300 creates fill its 8 KiB socket buffer many times over.
      child.kill('SIGSTOP');
      const file = Array.from({ length: 300 },
        (_, i) => `-I -p udp -s 10.32.${i >> 8}.${i & 255} -d 10.32.8.8 --sport 1 --dport 2 -t 50`).join('\n');
      // (through sh: conntrack cannot open a socket as /dev/stdin, and node hands children sockets)
      const made = await ns.exec('sh', ['-c', 'cat | conntrack -R -'], { input: `${file}\n` });
      expect(made.stderr).toBe('');
      expect(made.code).toBe(0);
      child.kill('SIGCONT');
      await until(() => err.includes('WARNING: the kernel dropped events'), 'nfct -E to report the overrun');
      await marker(999);
      await until(() => out.includes(' sport=1999 '), 'nfct -E to print the last marker');
    } finally {
      child.kill('SIGCONT');
      child.kill('SIGINT');
    }
    expect(await exited).toBe(0);
    const lines = out.split('\n').filter(Boolean);
    const made = lines.filter((l) => l.includes(' dst=10.32.8.8 '));
    expect(made.length).toBeLessThan(300);
    expect(err).toMatch(/^WARNING: the kernel dropped events \(\d+ overruns so far\); raise --buffer-size$/m);
    const summary = new RegExp(
      `^nfct v\\S+ \\(conntrack-tools compatible\\): ${lines.length} flow events have been shown\\.$`,
      'm',
    );
    expect(err).toMatch(summary);
    const lost =
      /^nfct: events were lost: the kernel reported (\d+) overruns \(the number of events it dropped is not known\); at most \d+ events waited in memory$/m
        .exec(err);
    expect(Number(lost?.[1])).toBeGreaterThanOrEqual(1);
  });
});

describe('nfct -E -b', () => {
  /** The NOTICE line a program prints for -E -b SIZE, once it is watching; then Ctrl-C. */
  async function notice(program: string[], size: string): Promise<string> {
    const child = ns.spawn(program[0]!, [...program.slice(1), '-E', '-b', size], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let text = '';
    try {
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no NOTICE line from ${program.join(' ')}: ${text}`)), 20_000);
        child.stderr!.on('data', (d: Buffer) => {
          text += d.toString();
          if (text.includes('\n')) {
            clearTimeout(t);
            resolve();
          }
        });
      });
    } finally {
      child.kill('SIGINT');
      await new Promise((r) => child.once('exit', r));
    }
    return text.split('\n')[0]!;
  }

  test.each(['2000000', '300000000', '1200000000'])('-b %s: the size the kernel set, as conntrack says it',
    async (size) => {
      const theirs = await notice(['conntrack'], size);
      expect(theirs).toMatch(/^NOTICE: Netlink socket buffer size has been set to \d+ bytes\.$/);
      expect(await notice([process.execPath, CLI], size)).toBe(theirs);
    });
});

/** conntrack -E: its stdout lines so far; stop() (Ctrl-C) resolves them, `stderr` is then its summary. */
function runConntrackEvents(args: string[] = []) {
  const child = ns.spawn('conntrack', ['-E', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (text += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return {
    lines: () => text.split('\n').filter(Boolean),
    get stderr() {
      return stderr;
    },
    async stop() {
      child.kill('SIGINT');
      await new Promise((r) => child.once('exit', r));
      return text.split('\n').filter(Boolean);
    },
  };
}

/** nfct -E, run in this process, as runConntrackEvents() runs conntrack -E. */
function nfctEvents(args: string[] = []) {
  const run = startNfct(['-E', '--netns', ns.name, ...args]);
  let stderr = '';
  return {
    get lines() {
      return run.lines.filter(Boolean);
    },
    get stderr() {
      return stderr;
    },
    async stop() {
      process.emit('SIGINT');
      stderr = (await run.done).stderr;
      return run.lines.filter(Boolean);
    },
  };
}

/**
 * Runs a streaming nfct command, then `act` (given the stdout lines so far: it waits for its
 * own sentinels, the command's readiness first), then Ctrl-C; returns its stdout lines.
 */
async function streaming(argv: string[],
  act: (lines: string[]) => Promise<unknown>): Promise<{ lines: string[]; stderr: string; code: number }>
{
  const run = startNfct(argv);
  try {
    await act(run.lines);
  } finally {
    process.emit('SIGINT');
  }
  const { code, stderr } = await run.done;
  return { lines: run.lines.filter(Boolean), stderr, code };
}

describe('nfct log and nfct trace', () => {
  test('nfct log prints the LOG line of each packet', async () => {
    await ns.execOk('nft', ['-f', '-'], {
      input:
        'table inet clilog {\n chain out { type filter hook output priority 0; icmp type echo-request counter log group 21 prefix "cli: "; }\n}\n',
    });
    // Ready once its subscription is made (subscribe() returns with the group bound).
    const subscribe = vi.spyOn(Nflog.prototype, 'subscribe');
    try {
      const r = await streaming(['log', '--group', '21', '--netns', ns.name], async (lines) => {
        await until(() => subscribe.mock.results.some((x) => x.type === 'return'), 'nfct log to subscribe');
        await ns.execOk('ping', ['-c', '2', '-i', '0.2', '127.0.0.1']);
        const logged = await nftCounter(ns, 'clilog');
        await until(() => lines.length >= logged, `nfct log to print the ${logged} packets logged`);
      });
      expect(r.code).toBe(0);
      expect(r.lines.length).toBe(2);
      for (const l of r.lines) {
        expect(l).toMatch(
          /^\d{4}-\d\d-\d\dT\S+Z cli: IN= OUT=lo SRC=127\.0\.0\.1 DST=127\.0\.0\.1 LEN=84 .* PROTO=ICMP TYPE=8 CODE=0 ID=\d+ SEQ=[12] $/,
        );
      }
      expect(r.stderr).toContain('2 packets logged');
    } finally {
      subscribe.mockRestore();
      await ns.execOk('nft', ['delete', 'table', 'inet', 'clilog']);
    }
  });

  test('nfct trace prints the hops nft monitor trace prints, and removes its rule', async () => {
    await ns.execOk('nft', ['-f', '-'], {
      input:
        'table ip clitr {\n chain c1 { ip protocol icmp counter; return; }\n chain output { type filter hook output priority 0; policy accept; jump c1; icmp type echo-reply drop; }\n}\n',
    });
    const monitor = ns.spawn('nft', ['-a', 'monitor', 'trace'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let text = '';
    monitor.stdout!.on('data', (d: Buffer) => (text += d.toString()));
    const hops = () => [...text.matchAll(/ip clitr (\S+) rule .* # handle (\d+) \(verdict (\w+)/g)];
    const missing = (lines: string[]) =>
      hops().filter(([, chain, handle, verdict]) =>
        !lines.some((l) => l.includes(`ip clitr ${chain} rule handle ${handle}`) && l.includes(`(verdict ${verdict}`))
      );
    try {
      const r = await streaming(['trace', '--nftables', '-p', 'icmp', '--netns', ns.name], async (lines) => {
        // nft monitor and nfct trace both listen (nfct's rule is installed) once both show a
        // ping: one every 100 ms until then.
        await until(async () => {
          const both = hops().length > 0 && lines.some((l) => l.trim() === '=> drop');
          if (!both) await ns.exec('ping', ['-c', '1', '-W', '1', '127.0.0.1']);
          return both;
        }, 'nft monitor trace and nfct trace to show a ping', { every: 100 });
        await until(() => missing(lines).length === 0, 'nfct trace to print every hop nft monitor trace printed', {
          detail: () => JSON.stringify(missing(lines)),
        });
      });
      monitor.kill();
      expect(r.code).toBe(0);
      // Each rule hop nft printed (handle and verdict) is a line of ours.
      expect(hops().length).toBeGreaterThan(0);
      expect(missing(r.lines)).toEqual([]);
      expect(r.lines.some((l) => l.trim() === '=> drop')).toBe(true);
      expect((await ns.execOk('nft', ['list', 'tables'])).stdout).not.toContain('nfct_trace');
    } finally {
      monitor.kill();
      await ns.execOk('nft', ['delete', 'table', 'ip', 'clitr']);
    }
  });
});
