// nfct log|trace --file|--kmsg, flag by flag: each filter flag keeps the packets a reader of the
// lines would pick by hand, --lines the other lines too, --from-end nothing of what a file held,
// -h its help; the values it refuses, named; the summary's words for skipped lines and for
// records the ring buffer overwrote (their count checked against the kernel's sequence numbers
// around the loss); and a TRACE line's rule as iptables-legacy-save prints it in the namespace
// named by --netns or --pid, which --no-rules leaves out.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, test } from 'vitest';

import { enteredNamespace } from '../helpers/netns-core.js';
import { useNetns } from '../helpers/netns.js';
import { spawnNfct } from '../helpers/nfct.js';
import { runNfct } from '../support/run-nfct.js';

const dir = mkdtempSync(join(tmpdir(), 'nfct-kernel-log-flags-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const MAC = 'MAC=52:54:00:12:34:56:52:54:00:65:43:21';
/** Three LOG lines told apart by their prefixes (p1 to p3), and a line that is none. */
const LINES = [
  `p1: IN=eth0 OUT= ${MAC}:08:00 SRC=10.0.0.1 DST=10.0.0.2 LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=1 DF PROTO=TCP SPT=40000 DPT=1 WINDOW=64240 RES=0x00 SYN URGP=0 `,
  'e1000e: eth0 NIC Link is Up',
  `p2: IN=eth0 OUT= ${MAC}:08:00 SRC=10.0.0.3 DST=10.0.0.1 LEN=48 TOS=0x00 PREC=0x00 TTL=64 ID=2 PROTO=UDP SPT=1 DPT=53 LEN=28 `,
  `p3: IN=eth0 OUT= ${MAC}:86:dd SRC=fd00:0000:0000:0000:0000:0000:0000:0001 DST=fd00:0000:0000:0000:0000:0000:0000:0002 LEN=80 TC=0 HOPLIMIT=64 FLOWLBL=0 PROTO=TCP SPT=40001 DPT=80 WINDOW=64240 RES=0x00 SYN URGP=0 `,
];
const TIME = '2024-06-13T19:58:21.000Z';

/** A syslog file of these messages, one a microsecond. */
function logFile(messages: readonly string[]): string {
  const file = join(dir, `kern-${randomBytes(3).toString('hex')}.log`);
  writeFileSync(file,
    messages.map((m, i) => `2024-06-13T19:58:21.${String(i + 1).padStart(6, '0')}+00:00 gw kernel: ${m}\n`).join(''));
  return file;
}

describe('nfct log --file: the filter flags', () => {
  const file = logFile(LINES);
  test.each([
    [['-s', '10.0.0.1'], ['p1']],
    [['--src', '10.0.0.0/24'], ['p1', 'p2']],
    [['-d', '10.0.0.1'], ['p2']],
    [['--dst', 'fd00::2'], ['p3']],
    [['--sport', '1'], ['p2']],
    [['--dport', '1'], ['p1']],
    [['--port', '1'], ['p1', 'p2']],
    [['-f', 'ipv6'], ['p3']],
    [['--family', 'ipv4'], ['p1', 'p2']],
    [['-p', '17'], ['p2']],
    [['-p', '255'], []],
    [['--proto', 'tcp'], ['p1', 'p3']],
  ] as const)('%j: %j', async (flags, prefixes) => {
    const r = await runNfct(['log', '--file', file, ...flags]);
    expect(r.code).toBe(0);
    const want = LINES.filter((l) => prefixes.some((p) => l.startsWith(`${p}: `)));
    expect(r.stdout).toBe(want.map((l) => `${TIME} ${l}\n`).join(''));
    expect(r.stderr).toBe(
      `nfct: ${want.length} packet${want.length === 1 ? '' : 's'} logged from ${file}; none lost.\n`,
    );
  });

  test('--lines: the lines that are not LOG lines too, after their time; only packets are counted', async () => {
    const r = await runNfct(['log', '--file', file, '--lines']);
    expect(r.stdout).toBe(LINES.map((l) => `${TIME} ${l}\n`).join(''));
    expect(r.stderr).toBe(`nfct: 3 packets logged from ${file}; none lost.\n`);
  });

  test('--from-end: only what is written after it opened the file, so nothing without --follow', async () => {
    const r = await runNfct(['log', '--file', file, '--from-end']);
    expect([r.code, r.stdout, r.stderr]).toEqual([0, '', `nfct: 0 packets logged from ${file}; none lost.\n`]);
  });
});

describe('help and refusals', () => {
  test('-h is --help; trace has its own', async () => {
    const log = await runNfct(['log', '--kmsg', '--help']);
    const trace = await runNfct(['trace', '--file', 'x', '--help']);
    expect(log.code).toBe(0);
    expect(log.stdout).toMatch(/--prefix/);
    expect(trace.stdout).toMatch(/--no-rules/);
    expect(trace.stdout).not.toBe(log.stdout);
    expect(await runNfct(['log', '--kmsg', '-h'])).toEqual(log);
    expect(await runNfct(['trace', '--file', 'x', '-h'])).toEqual(trace);
  });

  test.each([
    [['log', '--kmsg', '-p', '256'], 'log: -p "256" is not a protocol ('],
    [['log', '--kmsg', '--family', 'inet'], `log: --family "inet" is not 'ipv4' or 'ipv6'`],
    [['log', '--kmsg', '--sport', '65536'], 'log: --sport "65536" is not a port (0-65535)'],
    [['log', '--kmsg', '--port', 'x'], 'log: --port "x" is not a port (0-65535)'],
    [['trace', '--file', 'x', '--pid', '12x'], 'trace: --pid "12x" is not a process id'],
    [['trace', '--file', 'x', '--pid', '12345678901'], 'trace: --pid "12345678901" is not a process id'],
    [['log', '--kmsg', '--from-end'], 'log: --from-end is for --file'],
  ] as const)('%j: exit status 2, %s', async (args, text) => {
    const r = await runNfct([...args]);
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n')[0]).toContain(`nfct ${text}`);
  });
});

describe('the summary', () => {
  test('lines longer than the bound are skipped, counted and said', async () => {
    const long = 'y'.repeat(70_000);
    const one = logFile([LINES[0]!, long, LINES[2]!]);
    const r = await runNfct(['log', '--file', one]);
    expect(r.stdout).toBe(`${TIME} ${LINES[0]}\n${TIME} ${LINES[2]}\n`);
    expect(r.stderr).toBe(`nfct: 2 packets logged from ${one}; 1 line skipped (too long or malformed).\n`);
    const two = logFile([long, LINES[0]!, long]);
    expect((await runNfct(['log', '--file', two])).stderr).toBe(
      `nfct: 1 packet logged from ${two}; 2 lines skipped (too long or malformed).\n`,
    );
  });

  test('records the ring buffer overwrote while nfct was stopped: said as they are met and in the summary, counted from the sequence numbers', async () => {
    const tag = `nfct-klf-${process.pid}-${randomBytes(2).toString('hex')}`;
    const { child, out } = spawnNfct(['log', '--kmsg', '--follow', '--lines', '--json']);
    const guard = setTimeout(() => child.kill('SIGKILL'), 60_000);
    try {
      const lines = () => out.all.map((l) => JSON.parse(l) as { type: string; message?: string; seq?: number });
      /** Writes `text` to the kernel log until nfct prints it (a marker: it reads). */
      const marker = async (text: string): Promise<void> => {
        for (let end = Date.now() + 15_000; !lines().some((l) => l.message === text);) {
          if (Date.now() > end) throw new Error(`nfct never printed ${text}`);
          writeFileSync('/dev/kmsg', `${text}\n`);
          await new Promise((r) => setTimeout(r, 50));
        }
      };
      await marker(`${tag} ready`);
      child.kill('SIGSTOP');
      // Twice what the ring buffer holds (the kernel's log_buf_len, klogctl's SIZE_BUFFER), in
      // records of 170 bytes.
      const ring = Number(
        execFileSync('python3', ['-c', 'import ctypes;print(ctypes.CDLL(None).klogctl(10,None,0))'], {
          encoding: 'utf8',
        }),
      );
      expect(ring).toBeGreaterThan(0);
      const n = Math.ceil((2 * ring) / 170);
      for (let i = 0; i < n; i++) writeFileSync('/dev/kmsg', `${tag} ${i} ${'x'.repeat(150)}\n`);
      child.kill('SIGCONT');
      await marker(`${tag} end`);
      child.kill('SIGTERM');
      expect(await out.closed).toBe(0);
      // Other tests may write to the kernel log meanwhile: what is counted is checked against
      // what was printed, and the loss against the sequence numbers around it.
      const items = lines();
      const losses = items.flatMap((l, at) => (l.type === 'loss' ? [at] : []));
      expect(losses.length).toBeGreaterThan(0);
      let lost = 0;
      for (const at of losses) {
        const loss = items[at] as unknown as { lost: number; after: number; before: number };
        // The records around it are the kernel's: the last read before, the first after.
        expect(items[at - 1]!.seq).toBe(loss.after);
        expect(items[at + 1]!.seq).toBe(loss.before);
        expect(loss.lost).toBe(loss.before - loss.after - 1);
        lost += loss.lost;
      }
      const mine = items.filter((l) => l.message?.startsWith(`${tag} `) && /^\S+ \d+ /.test(l.message)).length;
      expect(n - mine).toBeGreaterThan(0);
      expect(n - mine).toBeLessThanOrEqual(lost);
      const packets = items.filter((l) => l.type === 'packet').length;
      const said = losses.map((at) =>
        `nfct: ${
          (items[at] as unknown as { lost: number }).lost
        } kernel log records lost: the ring buffer overwrote them before they were read\n`
      );
      const overruns = `${losses.length} overrun${losses.length === 1 ? '' : 's'}`;
      expect(out.err).toBe(
        `${said.join('')}nfct: ${packets} packet${
          packets === 1 ? '' : 's'
        } logged; ${lost} kernel log records lost (${overruns}).\n`,
      );
    } finally {
      clearTimeout(guard);
      child.kill('SIGKILL');
    }
  });
});

describe('nfct trace --file: the rules of a namespace', () => {
  const ns = useNetns('nfct-klflags', { conntrack: false });
  const TRACE = (hop: string) =>
    `TRACE: ${hop} IN=eth0 OUT= ${MAC}:08:00 SRC=10.0.0.1 DST=10.0.0.2 LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=3 DF PROTO=TCP SPT=40000 DPT=3 WINDOW=64240 RES=0x00 SYN URGP=0 `;

  test('--netns and --pid: rule 1 as iptables-legacy-save prints it there; --no-rules: its number only', async () => {
    await ns.execOk('iptables-legacy', ['-t', 'raw', '-A', 'PREROUTING', '-p', 'tcp', '--dport', '3', '-j', 'TRACE']);
    const saved = (await ns.execOk('iptables-legacy-save', ['-t', 'raw'])).stdout.split('\n')
      .filter((l) => l.startsWith('-A PREROUTING'));
    expect(saved).toHaveLength(1);
    const file = logFile([TRACE('raw:PREROUTING:rule:1'), TRACE('filter:INPUT:policy:2')]);
    const hops = (stdout: string) => stdout.split('\n').filter((l) => l.startsWith('  ipv4 '));
    const named = await runNfct(['trace', '--file', file, '--netns', ns.name]);
    expect(hops(named.stdout)).toEqual([`  ipv4 raw PREROUTING rule 1: ${saved[0]}`, '  ipv4 filter INPUT policy 2']);
    const bare = ['  ipv4 raw PREROUTING rule 1', '  ipv4 filter INPUT policy 2'];
    expect(hops((await runNfct(['trace', '--file', file, '--netns', ns.name, '--no-rules'])).stdout)).toEqual(bare);
    // A file may come from another host: without a namespace, no rule is looked up.
    expect(hops((await runNfct(['trace', '--file', file])).stdout)).toEqual(bare);
    const sleeper = ns.spawn('sleep', ['30']);
    try {
      const pid = await enteredNamespace(sleeper);
      const byPid = await runNfct(['trace', '--file', file, '--pid', String(pid)]);
      expect(byPid.stdout).toBe(named.stdout);
    } finally {
      sleeper.kill();
    }
  });
});
