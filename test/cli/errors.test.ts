// Errors in the operator's terms, each with its exit status: a namespace that does not exist,
// an NFLOG group another process holds (who, by pid and name), a table that is full (how much
// of a -R file went in), and conntrack-tools' signature only on conntrack command lines.
import { readFileSync } from 'node:fs';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { groupHolder } from '../../lib/cli/procs.js';
import { Conntrack } from '../../lib/index.js';
import { createNetns, type Netns } from '../helpers/netns.js';
import { execNfct, type SpawnedNfct, spawnNfct } from '../helpers/nfct.js';
import { countEntries } from '../oracle/conntrack-cli.js';

const SIGNED = /^nfct v\d+\.\d+\.\d+ \(conntrack-tools compatible\): /;
const NOPE = `nfct-nope-${process.pid}`;
const GONE_PID = '2147483646';

let ns: Netns;
beforeAll(async () => {
  ns = await createNetns('nfct-errors');
});
afterAll(async () => {
  await ns?.remove();
});

/** stderr's lines. */
const lines = (text: string): string[] => text.split('\n').filter(Boolean);

describe('a namespace that does not exist', () => {
  const missing = `network namespace "${NOPE}" does not exist (no /run/netns/${NOPE}; ip netns list shows the names)`;

  test.each([
    [['-L'], 'nfct v'],
    [['-E'], 'nfct v'],
    [['-C'], 'nfct v'],
    [['log', '--group', '5'], 'nfct log: '],
    [['trace', '-p', 'udp'], 'nfct trace: '],
    [['top', '--once'], 'nfct top: '],
    [['flows'], 'nfct flows: '],
  ])('nfct %j --netns NOPE: exit 1, said once', async (args, voice) => {
    const r = await execNfct([...args, '--netns', NOPE]);
    expect(r.code).toBe(1);
    expect(lines(r.stderr)).toHaveLength(1);
    expect(r.stderr.startsWith(voice)).toBe(true);
    expect(r.stderr).toContain(missing);
    expect(SIGNED.test(r.stderr)).toBe(voice === 'nfct v');
    expect(r.stdout).toBe('');
  });

  test('--pid of a process that is gone: no such process', async () => {
    const r = await execNfct(['-L', '--pid', GONE_PID]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      new RegExp(`${SIGNED.source}no process ${GONE_PID} \\(no /proc/${GONE_PID}/ns/net\\)\\n$`),
    );
  });

  test('nfct doctor --netns NOPE: exit 1 with the error alone (nothing examined, no summary of nothing)', async () => {
    const r = await execNfct(['doctor', '--netns', NOPE, '--interval', '0.1']);
    expect(r.code).toBe(1);
    expect(lines(r.stderr)).toEqual([`nfct doctor: [${NOPE}] ${missing}`]);
  });

  test('nfct doctor --pid of a process that is gone: no such process, exit 1', async () => {
    const r = await execNfct(['doctor', '--pid', GONE_PID, '--interval', '0.1']);
    expect(r.code).toBe(1);
    expect(lines(r.stderr)).toEqual([
      `nfct doctor: [pid:${GONE_PID}] no process ${GONE_PID} (no /proc/${GONE_PID}/ns/net)`,
    ]);
  });
});

/** Waits until NFLOG group `group` of the namespace is held by process `pid` (as nfct will name it). */
async function heldBy(group: number, pid: number | undefined): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if ((await groupHolder(ns.path, group)).startsWith(`pid ${pid} `)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`NFLOG group ${group} never held by pid ${pid}`);
}

async function stop(h: SpawnedNfct): Promise<void> {
  h.child.kill('SIGTERM');
  await h.out.closed;
}

describe('an NFLOG group someone else holds', () => {
  test('nfct log --group 5 while another nfct log holds it: the holder by pid and name, exit 1', async () => {
    const holder = spawnNfct(['log', '--group', '5', '--netns', ns.name]);
    try {
      await heldBy(5, holder.child.pid);
      const r = await execNfct(['log', '--group', '5', '--netns', ns.name]);
      expect(r.code).toBe(1);
      expect(lines(r.stderr)).toEqual([
        `nfct log: NFLOG group 5 is held by pid ${holder.child.pid} (nfct log): stop it, or log to another --group`,
      ]);
    } finally {
      await stop(holder);
    }
  });

  test('held by tcpdump -i nflog:6: named as tcpdump', async () => {
    const dump = ns.spawn('tcpdump', ['-i', 'nflog:6', '-w', '/dev/null'], { stdio: 'ignore' });
    try {
      await heldBy(6, dump.pid);
      const r = await execNfct(['log', '--group', '6', '--netns', ns.name]);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(
        `nfct log: NFLOG group 6 is held by pid ${dump.pid} (tcpdump): stop it, or log to another --group\n`,
      );
    } finally {
      dump.kill('SIGTERM');
      await new Promise((r) => dump.once('exit', r));
    }
  });

  test('nfct trace --legacy while another trace holds group 0: the holder, exit 1', async () => {
    const holder = spawnNfct(['trace', '--legacy', '--netns', ns.name, '-p', 'udp', '--dport', '9']);
    try {
      await heldBy(0, holder.child.pid);
      const r = await execNfct(['trace', '--legacy', '--netns', ns.name, '-p', 'udp', '--dport', '9']);
      expect(r.code).toBe(1);
      expect(lines(r.stderr).at(-1)).toBe(
        `nfct trace: NFLOG group 0, where legacy TRACE goes, is held in this namespace by pid ${holder.child.pid} (nfct trace): stop it, or trace nftables alone (--nftables)`,
      );
    } finally {
      await stop(holder);
    }
  });
});

describe('a full table', () => {
  let full: Netns;
  const max = Number(readFileSync('/proc/sys/net/netfilter/nf_conntrack_max', 'utf8'));
  beforeAll(async () => {
    full = await createNetns('nfct-errors-full');
    // Assured entries up to 10 short of the limit: the kernel evicts none of them (early_drop
    // takes unassured ones only), so a create past the limit fails.
    const ct = await Conntrack.open({ netns: full.name });
    try {
      function* fill() {
        for (let i = 0; i < max - 10; i++) {
          yield { protocol: 'tcp' as const, src: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
            dst: '10.255.0.1', srcPort: 1000, dstPort: 80, timeout: 600, status: ['ASSURED' as const],
            state: 'ESTABLISHED' as const };
        }
      }
      await ct.createMany(fill(), { batchSize: 4000 });
    } finally {
      await ct.close();
    }
  }, 120000);
  afterAll(async () => {
    await full?.remove();
  });

  test('-R of 25 lines into room for 10: table full, 10 of 25 applied, exit 1', async () => {
    const file = Array.from({ length: 25 },
      (_, i) =>
        `-I -p tcp -s 192.0.2.${i + 1} -d 192.0.2.200 --sport 1 --dport 2 -t 600 --state ESTABLISHED -u ASSURED`).join(
        '\n',
      );
    const r = await execNfct(['-R', '-', '--netns', full.name], { input: `${file}\n` });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      new RegExp(
        `${SIGNED.source}-R: the conntrack table is full \\(nf_conntrack_max ${max}, global, counted per namespace\\): 10 of 25 lines applied\\n$`,
      ),
    );
    expect(await countEntries(full)).toBe(max);
  });
});

describe('nfct exporter: a count out of its range is refused before anything runs, exit 2', () => {
  test.each([
    [['--max-connections'], '--max-connections must be a whole number from 1 to 65536, got ""'],
    [['--max-connections', '0'], '--max-connections must be a whole number from 1 to 65536, got "0"'],
    [['--max-connections', '65537'], '--max-connections must be a whole number from 1 to 65536, got "65537"'],
    [['--header-timeout', '1.5'], '--header-timeout must be a whole number from 1 to 600, got "1.5"'],
    [['--nflog-group', '-1'], '--nflog-group must be a whole number from 0 to 65535, got "-1"'],
    // 1e3 is a number, and 1000 within the range, but not written as a whole number
    [['--concurrency', '1e3'], '--concurrency must be a whole number from 1 to 1024, got "1e3"'],
    [['--max-namespaces', '0'], '--max-namespaces must be a whole number from 1 to 100000, got "0"'],
    [['--max-prefixes', '10001'], '--max-prefixes must be a whole number from 1 to 10000, got "10001"'],
    [['--per-cpu', '--events', '--web-config'], '--web-config needs a file name'],
    [['--pod-log-dir', 'pods'], '--pod-log-dir must be an absolute path, got "pods"'],
    [['--netns-regex', '('], '--netns-regex must be a regular expression, got "("'],
    [['--enable-sysctls', '--bogus'], "unknown option `--bogus'"],
  ])('nfct exporter %j', async (args, message) => {
    const r = await execNfct(['exporter', '--listen', '127.0.0.1:0', ...args]);
    expect(r).toMatchObject({ code: 2, stdout: '', stderr: `nfct exporter: ${message}\n` });
  });

  test('-h and --help: the usage, exit 0, nothing served', async () => {
    const help = await execNfct(['exporter', '--help']);
    expect(help).toMatchObject({ code: 0, stderr: '' });
    expect(help.stdout).toMatch(/^Usage: nfct exporter \[--listen \[HOST\]:PORT\]/);
    expect(await execNfct(['exporter', '--listen', '127.0.0.1:0', '-h'])).toEqual(help);
  });
});

describe("conntrack-tools' signature only on conntrack command lines", () => {
  test.each([
    [['-L', '--bogus'], true, 2],
    [['log', '--bogus'], false, 2],
    [['trace', '--bogus'], false, 2],
    [['top', '--bogus'], false, 2],
    [['doctor', '--bogus'], false, 2],
    [['exporter', '--listen', 'nowhere'], false, 2],
    [['flows', '--active-timeout', '0'], false, 2],
  ])('nfct %j', async (args, signed, code) => {
    const r = await execNfct(args);
    expect(r.code).toBe(code);
    expect(SIGNED.test(r.stderr)).toBe(signed);
    if (!signed) expect(r.stderr.startsWith(`nfct ${args[0]}: `)).toBe(true);
  });
});
