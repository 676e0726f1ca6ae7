// nfct log --kmsg | --file and nfct trace --kmsg | --file: what they print (the kernel's LOG
// lines after their time, NDJSON with type and time, trace blocks with iptables-legacy-save's
// rule texts), the summary on exit, SIGTERM ending a follow at once, and the flags they refuse
// (naming the flag). And nfct doctor's count of the rules that write to the kernel log.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { checkLogSuppressed, type NamespaceReport } from '../../lib/cli/commands/doctor-checks.js';
import { countLogRules } from '../../lib/cli/commands/doctor-logrules.js';
import { createNetns, useNetns } from '../helpers/netns.js';
import { NFCT_SHELL, spawnNfct } from '../helpers/nfct.js';
import { collectOutput } from '../helpers/output.js';
import { holdSysctl } from '../helpers/sysctl-hold.js';
import { runNfct } from '../support/run-nfct.js';

const TAG = `nc${process.pid.toString(36)}${randomBytes(2).toString('hex')}`;
const dir = mkdtempSync(join(tmpdir(), 'nfct-kmsg-cli-'));
// Every namespace's LOG lines reach the kernel log while the tests run; the namespace is removed
// before the setting is let go (hooks after all run last-registered first).
let release: (() => void) | undefined;
beforeAll(() => {
  release = holdSysctl('net.netfilter.nf_log_all_netns', '1');
});
afterAll(() => {
  release?.();
  rmSync(dir, { recursive: true, force: true });
});
const ns = useNetns('nfct-kmsgcli', { conntrack: false });

const body = (port: number, prefix: string): string =>
  `${prefix}IN=eth0 OUT= MAC=52:54:00:12:34:56:52:54:00:65:43:21:08:00 SRC=10.0.0.1 DST=10.0.0.2 LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=${port} DF PROTO=TCP SPT=40000 DPT=${port} WINDOW=64240 RES=0x00 SYN URGP=0 `;

/** A file of three LOG lines, two TRACE hops of one packet and a line that is neither. */
function kernLog(): { file: string; lines: string[] } {
  const lines = [
    `2024-06-13T19:58:21.000001+00:00 gw kernel: ${body(1, 'fw: ')}`,
    '2024-06-13T19:58:21.000002+00:00 gw kernel: e1000e: eth0 NIC Link is Up',
    `2024-06-13T19:58:21.000003+00:00 gw kernel: ${body(2, 'fw: ')}`,
    `2024-06-13T19:58:21.000004+00:00 gw kernel: ${body(3, 'TRACE: raw:PREROUTING:rule:1 ')}`,
    `2024-06-13T19:58:21.000005+00:00 gw kernel: ${body(3, 'TRACE: filter:INPUT:policy:2 ')}`,
    `2024-06-13T19:58:21.000006+00:00 gw kernel: ${body(4, 'other: ')}`,
  ];
  const file = join(dir, `kern-${randomBytes(3).toString('hex')}.log`);
  writeFileSync(file, `${lines.join('\n')}\n`);
  return { file, lines };
}

describe('nfct log --file', () => {
  test('each LOG line after its time; filters; the summary', async () => {
    const { file } = kernLog();
    const r = await runNfct(['log', '--file', file]);
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n').filter(Boolean)).toEqual([
      `2024-06-13T19:58:21.000Z ${body(1, 'fw: ')}`,
      `2024-06-13T19:58:21.000Z ${body(2, 'fw: ')}`,
      `2024-06-13T19:58:21.000Z ${body(3, 'TRACE: raw:PREROUTING:rule:1 ')}`,
      `2024-06-13T19:58:21.000Z ${body(3, 'TRACE: filter:INPUT:policy:2 ')}`,
      `2024-06-13T19:58:21.000Z ${body(4, 'other: ')}`,
    ]);
    expect(r.stderr).toBe(`nfct: 5 packets logged from ${file}; none lost.\n`);
    const f = await runNfct(['log', '--file', file, '--prefix', 'fw', '--dport', '2']);
    expect(f.stdout).toBe(`2024-06-13T19:58:21.000Z ${body(2, 'fw: ')}\n`);
    const p = await runNfct(['log', '--file', file, '--prefix-only', '-p', 'udp']);
    expect([p.stdout, p.stderr]).toEqual(['', `nfct: 0 packets logged from ${file}; none lost.\n`]);
  });

  test('--json: one object per packet with type, time and the fields of the line', async () => {
    const { file } = kernLog();
    const r = await runNfct(['log', '--file', file, '--json', '--prefix', 'fw']);
    const objs = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(objs).toHaveLength(2);
    expect(objs[0]).toMatchObject({ type: 'packet', time: '2024-06-13T19:58:21.000Z', source: 'file', prefix: 'fw: ',
      indev: { name: 'eth0' }, hwHeader: '525400123456525400654321' + '0800', src: '10.0.0.1', dpt: 1,
      tcp: { flags: ['SYN'] }, host: 'gw', timestamp: '1718308701000001000' });
    expect(Object.keys(objs[0]!).slice(0, 3)).toEqual(['type', 'time', 'timeSource']);
    expect(objs[0]!.timeSource).toBe('log');
  });

  test('- reads standard input', async () => {
    const { file, lines } = kernLog();
    const child = spawn('sh', ['-c', `cat ${file} | ${NFCT_SHELL} log --file - --prefix other`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out = collectOutput(child, '\0');
    expect(await out.closed).toBe(0);
    expect(out.all).toEqual([`2024-06-13T19:58:21.000Z ${lines[5]!.slice(lines[5]!.indexOf('other: '))}`]);
    expect(out.err).toBe('nfct: 1 packet logged from standard input; none lost.\n');
  });

  test('flags it refuses name the flag (exit status 2)', async () => {
    for (const [args, text] of [
      [['log', '--file', 'x', '--kmsg'], /one of --kmsg and --file/],
      [['log', '--kmsg', '-p', 'tcpp'], /-p "tcpp" is not a protocol/],
      [['log', '--kmsg', '-s', '1.2.3'], /-s "1.2.3" is not an address/],
      [['log', '--kmsg', '--dport', '70000'], /--dport "70000" is not a port/],
      [['log', '--kmsg', '--group', '3'], /unknown option `--group' with --kmsg or --file/],
      [['log', '--file', 'x', '--from-start'], /--from-start is for --kmsg/],
      [['trace', '--kmsg', '--prefix', 'x'], /unknown option `--prefix'/],
      [['log', '--file'], /--file needs a value/],
    ] as const) {
      const r = await runNfct([...args]);
      expect([r.code, r.stderr]).toEqual([2, expect.stringMatching(text)]);
      // one line, then where to look
      expect(r.stderr).toMatch(
        new RegExp(`^nfct ${args[0]}: [^\\n]+\\nTry \`nfct ${args[0]} --help' for more information\\.\\n$`),
      );
    }
    const missing = await runNfct(['log', '--file', join(dir, 'missing')]);
    expect(missing.code).toBe(1);
  });
});

describe('nfct trace --file', () => {
  test('one block per packet, its hops in order', async () => {
    const { file } = kernLog();
    const r = await runNfct(['trace', '--file', file]);
    expect(r.code).toBe(0);
    const id = r.stdout.split('\n')[0]!.split(' ')[1];
    expect(r.stdout).toBe(
      [`packet ${id} file ipv4 tcp 10.0.0.1:40000 -> 10.0.0.2:3 iif eth0`, '  ipv4 raw PREROUTING rule 1',
        '  ipv4 filter INPUT policy 2', '  => unknown', ''].join('\n'),
    );
    expect(r.stderr).toBe(`nfct: 1 packet traced from ${file}; none lost.\n`);
    const j = await runNfct(['trace', '--file', file, '--json']);
    const obj = JSON.parse(j.stdout) as { type: string; time: string; hops: { log: { message: string } }[] };
    expect(obj).toMatchObject({ type: 'trace', time: '2024-06-13T19:58:21.000Z', source: 'file' });
    expect(obj.hops.map((h) => h.log.message)).toEqual([body(3, 'TRACE: raw:PREROUTING:rule:1 '),
      body(3, 'TRACE: filter:INPUT:policy:2 ')]);
  });
});

/** `nfct ARGS` in its own process, its output collected as it comes. */
function nfct(args: string[]) {
  // Its JSON lines are checked against schema/*.json as they come.
  const { child, out } = spawnNfct(args);
  const guard = setTimeout(() => child.kill('SIGKILL'), 60_000);
  void out.closed.then(() => clearTimeout(guard));
  return { child, out };
}

/** Runs `act` (traffic) every 250 ms until `ok`; fails after `ms`. */
async function until(what: string, act: () => Promise<unknown>, ok: () => boolean, ms = 15_000): Promise<void> {
  for (let end = Date.now() + ms, last = 0; !ok(); await new Promise((r) => setTimeout(r, 20))) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    if (Date.now() - last >= 250) {
      last = Date.now();
      void act();
    }
  }
}

describe('nfct log --kmsg', () => {
  test('--follow: the LOG lines dmesg shows, after their time; SIGTERM ends it with the summary', async () => {
    const P = `${TAG}f `;
    await ns.execOk('iptables-legacy', ['-A', 'OUTPUT', '-p', 'icmp', '-j', 'LOG', '--log-prefix', P]);
    const run = nfct(['log', '--kmsg', '--follow', '--prefix', P]);
    // Ready once it reads: a first packet logged after it started comes out.
    await until('the first line', () => ns.exec('ping', ['-c', '1', '-W', '1', '127.0.0.1']),
      () => run.out.all.length >= 2);
    run.child.kill('SIGTERM');
    expect(await run.out.closed).toBe(0);
    const shown = (await ns.execOk('dmesg')).stdout.split('\n').filter((l) => l.includes(P)).map((l) =>
      l.slice(l.indexOf('] ') + 2)
    );
    const printed = run.out.all.map((l) => l.slice(l.indexOf(' ') + 1));
    for (const l of printed) expect(shown).toContain(l);
    expect(run.out.all.every((l) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z /.test(l))).toBe(true);
    expect(run.out.err).toMatch(new RegExp(`^nfct: ${printed.length} packets logged; none lost\\.\\n$`));
  });

  test('without --follow: what the ring buffer holds, then it ends', async () => {
    const P = `${TAG}b `;
    await ns.execOk('iptables-legacy', ['-A', 'OUTPUT', '-p', 'udp', '--dport', '9', '-j', 'LOG', '--log-prefix', P]);
    await ns.execOk('node', ['-e',
      "const s=require('dgram').createSocket('udp4');s.send('x',9,'127.0.0.1',()=>s.close())"]);
    const run = nfct(['log', '--kmsg', '--prefix', P, '--json']);
    expect(await run.out.closed).toBe(0);
    expect(run.out.all).toHaveLength(1);
    expect(JSON.parse(run.out.all[0]!)).toMatchObject({ type: 'packet', source: 'kmsg', prefix: P, dpt: 9, level: 4 });
    expect(run.out.err).toBe('nfct: 1 packet logged; none lost.\n');
  });
});

describe('nfct trace --kmsg', () => {
  test('--follow --netns: blocks with the rules as iptables-legacy-save prints them, and the hook', async () => {
    const dport = 35000 + (process.pid % 1000);
    await ns.execOk('iptables-legacy', ['-t', 'raw', '-A', 'OUTPUT', '-p', 'udp', '--dport', String(dport), '-j',
      'TRACE']);
    await ns.execOk('iptables-legacy', ['-t', 'raw', '-A', 'OUTPUT', '-p', 'udp', '--dport', String(dport), '-j',
      'ACCEPT']);
    const run = nfct(['trace', '--kmsg', '--follow', '--dport', String(dport), '--netns', ns.name]);
    await until('a packet',
      () =>
        ns.exec('node', ['-e',
          `const s=require('dgram').createSocket('udp4');s.send('x',${dport},'127.0.0.1',()=>s.close())`]),
      () => run.out.all.some((l) => l.startsWith('  => ')));
    run.child.kill('SIGTERM');
    expect(await run.out.closed).toBe(0);
    const rule =
      (await ns.execOk('iptables-legacy-save', ['-t', 'raw'])).stdout.split('\n').filter((l) =>
        l.startsWith('-A OUTPUT ')
      )[1];
    const block = run.out.all.slice(0, run.out.all.indexOf('  => unknown') + 1);
    expect(block[0]).toMatch(
      new RegExp(
        `^packet [0-9a-f]{8} kmsg ipv4 udp 127\\.0\\.0\\.1:\\d+ -> 127\\.0\\.0\\.1:${dport} oif lo hook output$`,
      ),
    );
    expect(block[1]).toBe(`  ipv4 raw OUTPUT rule 2: ${rule}`);
    expect(run.out.err).toMatch(/^nfct: \d+ packets? traced; none lost\.\n$/);
  });
});

describe('nfct doctor: rules that write to the kernel log', () => {
  test('counted in the namespace: nft log without group, -j LOG, -j TRACE', async () => {
    const d = await createNetns('nfct-kmsgdoc', { conntrack: false });
    try {
      await d.execOk('nft', ['-f', '-'], {
        input:
          'table inet t {\n chain c {\n  type filter hook input priority 0;\n  log prefix "a log group 1 " level debug\n  log prefix "b" group 3\n  counter\n }\n}\n',
      });
      await d.execOk('iptables-nft', ['-A', 'OUTPUT', '-j', 'LOG']);
      await d.execOk('iptables-legacy', ['-A', 'INPUT', '-j', 'LOG']);
      await d.execOk('ip6tables-legacy', ['-A', 'INPUT', '-j', 'LOG']);
      await d.execOk('iptables-legacy', ['-t', 'raw', '-A', 'PREROUTING', '-j', 'TRACE']);
      expect(await countLogRules(d.path)).toEqual({ nft: 2, legacy: 2, trace: 1 });
    } finally {
      await d.remove();
    }
  });

  test('said for a namespace other than the host one while nf_log_all_netns=0, and only then', () => {
    const report = (over: Partial<NamespaceReport>): NamespaceReport => ({
      netns: 'ns1',
      nsFlag: ' --netns ns1',
      nsExec: 'ip netns exec ns1 ',
      sysctls: { nf_log_all_netns: '0', 'nf_log/2': 'nf_log_ipv4', 'nf_log/10': 'nf_log_ipv6' },
      entries: 0,
      statsBefore: [],
      statsAfter: [],
      seconds: 1,
      dnatBefore: [],
      dnatAfter: [],
      owners: new Map(),
      traceTables: [],
      nflogGroups: [],
      initial: false,
      logRules: { nft: 1, legacy: 2, trace: 1 },
      ...over,
    });
    expect(checkLogSuppressed(report({}))).toEqual([
      expect.objectContaining({ severity: 'warning', check: 'log-lines-suppressed',
        seen: { nftLog: 1, iptablesLegacyLog: 2, legacyTrace: 1, nf_log_all_netns: 0 } }),
    ]);
    expect(checkLogSuppressed(report({}))[0]!.title).toMatch(/^4 rules here log to the kernel log/);
    expect(checkLogSuppressed(report({ sysctls: { nf_log_all_netns: '1' } }))).toEqual([]);
    expect(checkLogSuppressed(report({ initial: true }))).toEqual([]);
    expect(checkLogSuppressed(report({ logRules: { nft: 0, legacy: 0, trace: 0 } }))).toEqual([]);
    // TRACE lines go to NFLOG when the backend is nfnetlink_log: not counted then.
    expect(
      checkLogSuppressed(
        report({ logRules: { nft: 0, legacy: 0, trace: 2 },
          sysctls: { nf_log_all_netns: '0', 'nf_log/2': 'nfnetlink_log' } }),
      ),
    ).toEqual([]);
  });
});
