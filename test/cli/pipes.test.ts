// nfct in pipes and under signals, as a separate process on a table of 50,000 entries:
// `nfct -L | head -1` ends quietly; a reader that stops reading holds nfct back (its memory
// stays flat) and SIGTERM/SIGINT/SIGHUP end it cleanly with the count so far.
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { createNetns, type Netns } from '../helpers/netns.js';
import { CLI, NFCT_SHELL } from '../helpers/nfct.js';
import { runConntrack } from '../oracle/conntrack-cli.js';

const N = 50_000;
let ns: Netns;
let dir: string;

beforeAll(async () => {
  ns = await createNetns('nfct-pipes');
  dir = await mkdtemp(join(tmpdir(), 'nfct-pipes-'));
  const lines: string[] = [];
  for (let i = 0; i < N; i++) {
    lines.push(
      `-I -p udp -s 10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255} -d 10.200.0.1 --sport 1000 --dport 53 -t 600`,
    );
  }
  await writeFile(join(dir, 'table'), `${lines.join('\n')}\n`);
  const r = await runConntrack(ns, ['-R', join(dir, 'table')]);
  if (r.code !== 0) throw new Error(r.stderr);
}, 60_000);
afterAll(async () => {
  await ns?.remove();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('pipes and signals', () => {
  test('nfct -L | head -1: one line, a quiet end, exit 0', async () => {
    const b = await ns.exec('bash', ['-c', `${NFCT_SHELL} -L | head -1; echo "status \${PIPESTATUS[0]}" >&2`]);
    expect(b.stdout.split('\n').filter(Boolean)).toHaveLength(1);
    expect(b.stdout).toMatch(/^udp {6}17 \d+ src=10\./);
    expect(b.stderr).toBe('status 0\n');
  });

  test('nfct -E | head -1 ends at the first event after the reader left, not 4096 events later', async () => {
    const child = ns.spawn('bash', ['-c', `${NFCT_SHELL} -E -p tcp | head -1; echo "status \${PIPESTATUS[0]}" >&2`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = once(child, 'exit');
    let over = false;
    void exited.then(() => (over = true));
    // One event at a time, each written on its own: head takes the first line and leaves; the
    // write of a later event finds the pipe closed, and nfct must end then (a bound of 100
    // events, well below the 4096 between the writer's checks).
    let made = 0;
    for (; made < 100 && !over; made++) {
      await runConntrack(ns, ['-I', '-p', 'tcp', '-s', '10.9.0.1', '-d', '10.9.0.2', '--sport', `${2000 + made}`,
        '--dport', '80', '--state', 'ESTABLISHED', '-t', '60']);
      await new Promise((r) => setTimeout(r, 50));
    }
    // A failure bound only; the namespace's removal kills what is left.
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    expect(over, 'nfct -E still running after the reader left').toBe(true);
    expect(stdout.split('\n').filter(Boolean)).toHaveLength(1);
    expect(stderr).toBe('status 0\n');
    expect(made).toBeLessThan(100);
  });

  // Plain lines come from the library's native formatter; -o save lines are made in JavaScript,
  // one batch of entries at a time: each way of listing must stop at the signal.
  const STOPS = [['SIGTERM', []], ['SIGINT', []], ['SIGHUP', []], ['SIGTERM', ['-o', 'save']]] as const;
  for (const [signal, args] of STOPS) {
    test(`a reader that stops: nfct ${['-L', ...args].join(' ')} waits (memory flat); ${signal} ends it after the count so far`, async () => {
      const child = ns.spawn(process.execPath, [CLI, '-L', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      // Read the first chunk, then stop reading: the pipe fills and nfct must wait, and the
      // signal must still end it.
      await once(child.stdout!, 'data');
      child.stdout!.pause();
      await new Promise((r) => setTimeout(r, 500));
      // `ip netns exec` execs the command: the child's pid is nfct's.
      const rss = Number(/VmRSS:\s+(\d+)/.exec(await readFile(`/proc/${child.pid}/status`, 'utf8'))?.[1]);
      child.kill(signal);
      const [code, how] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
      // Its last write still waits for the reader: having said how far it got, nfct ends by the
      // signal, as conntrack (which has no handler for it) ends.
      expect([code, how]).toEqual([null, signal]);
      const m = /^nfct v\d+\.\d+\.\d+ \(conntrack-tools compatible\): (\d+) flow entries have been shown\.\n$/.exec(
        stderr,
      );
      expect(m, stderr).not.toBeNull();
      expect(Number(m![1])).toBeGreaterThan(0);
      expect(Number(m![1])).toBeLessThan(N);
      expect(rss).toBeLessThan(200 * 1024);
    });
  }
});
