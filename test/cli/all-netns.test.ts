// nfct --all-netns: -C, -S, -L and -E in every namespace, each line marked with its namespace,
// NDJSON with a netns object; what conntrack prints inside each namespace is the oracle. And
// through the one writer: `nfct -L --all-netns | head -1` ends quietly.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { createNetns, type Netns } from '../helpers/netns.js';
import { NFCT_SHELL, spawnNfct } from '../helpers/nfct.js';
import { runNfct } from '../support/run-nfct.js';

let a: Netns;
let b: Netns;

/** Runs nfct as a child; stdout lines of our two namespaces only (others run on this machine too). */
async function nfct(args: string[],
  until?: (lines: string[]) => boolean): Promise<{ lines: string[]; stderr: string; code: number | null }>
{
  const { child, out } = spawnNfct(args);
  const ours = (l: string) => l.includes(a.name) || l.includes(b.name);
  if (until) {
    child.stdout!.on('data', () => {
      if (until(out.all.filter(ours))) child.kill('SIGINT');
    });
    setTimeout(() => child.kill('SIGINT'), 20_000).unref();
  }
  const code = await out.closed;
  return { lines: out.all.filter(ours), stderr: out.err, code };
}

beforeAll(async () => {
  [a, b] = await Promise.all([createNetns('nfct-alla'), createNetns('nfct-allb')]);
  // b holds 12: a summary of two digits (the sum is said once, whatever the digits).
  for (const [ns, n] of [[a, 3], [b, 12]] as const) {
    for (let i = 0; i < n; i++) {
      await ns.execOk('conntrack', ['-I', '-p', 'udp', '-s', `10.50.0.${i + 1}`, '-d', '10.50.1.1', '--sport', '5',
        '--dport', '53', '-t', '600']);
    }
  }
});
afterAll(async () => {
  await Promise.all([a?.remove(), b?.remove()]);
});

describe('nfct --all-netns', () => {
  test('-C: one line per namespace, its count as conntrack -C there; --json with a netns object', async () => {
    const text = await nfct(['-C', '--all-netns']);
    expect(text.code).toBe(0);
    for (const ns of [a, b]) {
      const count = (await ns.execOk('conntrack', ['-C'])).stdout.trim();
      expect(text.lines).toContain(`[${ns.name}] ${count}`);
    }
    const json = await nfct(['-C', '--all-netns', '--json']);
    const rows = json.lines.map((l) =>
      JSON.parse(l) as { count: number; netns: { label: string; names: string[]; inode: number; path: string } }
    );
    expect(rows.find((r) => r.netns.label === b.name)).toMatchObject({ count: 12,
      netns: { names: [b.name], path: `/run/netns/${b.name}` } });
  });

  test('-L: every line as conntrack -L prints it in its namespace, after [name]', async () => {
    const got = await nfct(['-L', '--all-netns', '-p', 'udp']);
    expect(got.code).toBe(0);
    // The timeout column counts down between the two reads: compared without it.
    const untimed = (l: string) => l.replace(/^(\[\S+\] \S+\s+\d+) \d+ /, '$1 T ');
    for (const ns of [a, b]) {
      const want = (await ns.execOk('conntrack', ['-L', '-p', 'udp'])).stdout.trim().split('\n').map((l) =>
        untimed(`[${ns.name}] ${l}`)
      ).sort();
      expect(want).toHaveLength(ns === a ? 3 : 12);
      expect(got.lines.filter((l) => l.startsWith(`[${ns.name}] `)).map(untimed).sort()).toEqual(want);
    }
    // One summary for all namespaces (others may run on this machine: at least ours).
    const summaries = got.stderr.split('\n').filter((l) => l.includes('have been shown'));
    expect(summaries).toHaveLength(1);
    const total = /^nfct v\S+ \(conntrack-tools compatible\): (\d+) flow entries have been shown\.$/.exec(
      summaries[0]!,
    );
    expect(Number(total?.[1])).toBeGreaterThanOrEqual(15);
    const json = await nfct(['-L', '--all-netns', '--json']);
    const flows = json.lines.map((l) => JSON.parse(l) as { original: { src: string }; netns: { label: string } });
    expect(flows.filter((f) => f.netns.label === a.name).map((f) => f.original.src).sort()).toEqual(['10.50.0.1',
      '10.50.0.2', '10.50.0.3']);
  });

  test('-S: conntrack -S of each namespace, each line marked', async () => {
    const got = await nfct(['-S', '--all-netns']);
    for (const ns of [a, b]) {
      const want = (await ns.execOk('conntrack', ['-S'])).stdout.replace(/\n$/, '').split('\n').map((l) =>
        `[${ns.name}] ${l}`
      );
      expect(got.lines.filter((l) => l.startsWith(`[${ns.name}] `))).toEqual(want);
    }
  });

  test('-E: events of every namespace, marked, as conntrack -E prints them there', async () => {
    const inA = (l: string) => l.startsWith(`[${a.name}] `) && l.includes('dport=54');
    const inB = (l: string) => l.startsWith(`[${b.name}] `) && l.includes('dport=55');
    let oracleOut = '';
    const oracleLine = (src: string) => oracleOut.split('\n').find((l) => l.includes(`src=${src} `));
    const srcOf = (l: string) => /src=(\S+)/.exec(l)![1]!;
    let lines: string[] = [];
    // Until both namespaces' events came through and conntrack -E (started alongside) printed one of them too.
    const paired = () => lines.some(inB) && lines.some((l) => inA(l) && oracleLine(srcOf(l)) !== undefined);
    const run = nfct(['-E', '--all-netns', '-e', 'NEW'], (seen) => ((lines = seen), paired()));
    const oracle = a.spawn('conntrack', ['-E', '-e', 'NEW'], { stdio: ['ignore', 'pipe', 'ignore'] });
    oracle.stdout!.on('data', (d: Buffer) => (oracleOut += d.toString()));
    // New entries each round: the streams open once the namespaces are listed, conntrack -E when it starts.
    for (let i = 1; i < 60 && !paired(); i++) {
      await a.execOk('conntrack', ['-I', '-p', 'udp', '-s', `10.51.${i}.1`, '-d', '10.51.0.9', '--sport', '7',
        '--dport', '54', '-t', '600']);
      await b.execOk('conntrack', ['-I', '-p', 'udp', '-s', `10.51.${i}.2`, '-d', '10.51.0.9', '--sport', '7',
        '--dport', '55', '-t', '600']);
      await sleep(250);
    }
    const got = await run;
    oracle.kill('SIGINT');
    let compared = 0;
    for (const line of got.lines.filter(inA)) {
      const want = oracleLine(srcOf(line));
      if (want === undefined) continue; // made before conntrack -E was listening
      // The inserting conntrack -I exits at once: whichever reader finds it gone in /proc prints
      // its portid without progname. Otherwise the lines are the same.
      const bare = (l: string) => l.replace(/ progname=\S+$/, '');
      expect(bare(line)).toBe(`[${a.name}] ${bare(want)}`);
      compared++;
    }
    expect(compared).toBeGreaterThan(0);
    expect(got.lines.some(inB)).toBe(true);
    expect(got.lines.every((l) => !l.includes('dport=55') || l.startsWith(`[${b.name}] `))).toBe(true);
  });

  test('nfct -L --all-netns | head -1: one marked line, a quiet end, exit 0', async () => {
    // A namespace with more than a pipe holds, so the reader leaves while nfct still writes.
    const big = await createNetns('nfct-allc');
    const dir = await mkdtemp(join(tmpdir(), 'nfct-allc-'));
    try {
      const lines: string[] = [];
      for (let i = 0; i < 20_000; i++) {
        lines.push(`-I -p udp -s 10.52.${i >> 8}.${i & 255} -d 10.52.255.1 --sport 9 --dport 53 -t 600`);
      }
      await writeFile(join(dir, 'table'), `${lines.join('\n')}\n`);
      await big.execOk('conntrack', ['-R', join(dir, 'table')]);
      const r = await promisify(execFile)('bash', ['-c',
        `${NFCT_SHELL} -L --all-netns | head -1; echo "status \${PIPESTATUS[0]}" >&2`]);
      expect(r.stdout.split('\n').filter(Boolean)).toHaveLength(1);
      expect(r.stdout).toMatch(/^\[\S+\] \S+ +\d+ /);
      expect(r.stderr).toBe('status 0\n');
    } finally {
      await big.remove();
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);

  test("refused: --all-netns with -D, or with --netns / --pid, in conntrack's words, exit 2", async () => {
    const err: string[] = [];
    for (const argv of [['-D', '--all-netns'], ['-L', '--all-netns', '--netns', 'x'], ['-E', '--pid', '1',
      '--all-netns']])
    {
      const r = await runNfct(argv);
      expect(r.code).toBe(2);
      err.push(r.stderr);
    }
    expect(err.join('')).toContain("Illegal option `--all-netns' with this command");
    expect(err.join('')).toContain("`--all-netns' cannot be combined with `--netns'");
    expect(err.join('')).toContain("`--all-netns' cannot be combined with `--pid'");
  });
});
