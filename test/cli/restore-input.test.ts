// nfct -R reads its input as a stream, killable whatever the input is: endless input (/dev/zero,
// directly or as stdin) is read with flat memory and ends at SIGTERM/SIGINT; garbage
// (/dev/urandom) ends at its first line, as conntrack ends (exit 2, the table unchanged); a
// FIFO nobody writes to waits, and a signal ends the wait; a FIFO written in parts is read to
// its end. conntrack, in a twin namespace, is the reference where it ends by itself.
import { type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { createNetns, type Netns } from '../helpers/netns.js';
import { CLI, NFCT_SHELL } from '../helpers/nfct.js';
import { runConntrack } from '../oracle/conntrack-cli.js';

let ns: Netns;
let peer: Netns;
let dir: string;

beforeAll(async () => {
  [ns, peer] = await Promise.all([createNetns('nfct-rinput'), createNetns('nfct-rinputp')]);
  dir = await mkdtemp(join(tmpdir(), 'nfct-rinput-'));
});
afterAll(async () => {
  await Promise.all([ns?.remove(), peer?.remove()]);
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A field of /proc/PID/status or /proc/PID/io, as a number. */
async function procField(pid: number, file: 'status' | 'io', field: string): Promise<number> {
  const m = new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(await readFile(`/proc/${pid}/${file}`, 'utf8'));
  return Number(m?.[1]);
}

/** Polls `cond` until it holds (the test's timeout is the failure bound). */
async function until(cond: () => Promise<boolean>): Promise<void> {
  while (!(await cond())) await sleep(20);
}

function collect(child: ChildProcess): { stderr: () => string; exit: Promise<[number | null, NodeJS.Signals | null]> } {
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  return { stderr: () => err, exit: once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]> };
}

async function count(n: Netns): Promise<number> {
  return Number((await n.execOk('conntrack', ['-C'])).stdout.trim());
}

describe('nfct -R: endless and hostile input', () => {
  for (const [how, args, signal] of [
    ['-R /dev/zero', [CLI, '-R', '/dev/zero'], 'SIGTERM'],
    ['-R - </dev/zero', ['-c', `exec ${NFCT_SHELL} -R - </dev/zero`], 'SIGINT'],
  ] as const) {
    test(`${how}: a GiB read with flat memory, then ${signal} ends it by the signal`, async () => {
      const child = how.startsWith('-R -')
        ? ns.spawn('sh', args, { stdio: ['ignore', 'ignore', 'pipe'] })
        : ns.spawn('node', args, { stdio: ['ignore', 'ignore', 'pipe'] });
      const { stderr, exit } = collect(child);
      const pid = child.pid!;
      // `ip netns exec` and `sh -c exec` exec: the pid is nfct's. A GiB of NUL bytes is about
      // 100,000 pieces of conntrack's 10,239 bytes, each a line without a command.
      await until(async () => (await procField(pid, 'io', 'rchar').catch(() => 0)) > 1 << 30);
      const rssKb = await procField(pid, 'status', 'VmRSS');
      child.kill(signal);
      expect(await exit, stderr()).toEqual([null, signal]);
      expect(rssKb).toBeLessThan(256 * 1024);
      expect(await count(ns)).toBe(0);
    });
  }

  test('-R /dev/urandom: ends at its first line with exit 2 and the table unchanged, as conntrack', async () => {
    const [ours, theirs] = await Promise.all([ns.exec(process.execPath, [CLI, '-R', '/dev/urandom']),
      runConntrack(peer, ['-R', '/dev/urandom'])]);
    expect(theirs.code).toBe(2);
    expect(ours.code, ours.stderr).toBe(2);
    // The error ends the output; before it may come the warnings conntrack also gives for what
    // the random line happened to hold (a label option warns that connlabel.conf is missing).
    const lines = ours.stderr.trimEnd().split('\n');
    expect(lines.at(-1), ours.stderr).toBe("Try `nfct -h' or 'nfct --help' for more information.");
    expect(lines.at(-2), ours.stderr).toMatch(/^nfct v[\d.]+ \(conntrack-tools compatible\): /);
    for (const warning of lines.slice(0, -2)) expect(warning, ours.stderr).toMatch(/^nfct: /);
    expect([await count(ns), await count(peer)]).toEqual([0, 0]);
  });
});

describe('nfct -R FIFO', () => {
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    test(`no writer: nfct waits for one, and ${signal} ends the wait by the signal`, async () => {
      const fifo = join(dir, `fifo-${signal}`);
      await ns.execOk('mkfifo', [fifo]);
      const child = ns.spawn(process.execPath, [CLI, '-R', fifo], { stdio: ['ignore', 'ignore', 'pipe'] });
      const { stderr, exit } = collect(child);
      const pid = child.pid!;
      // The sentinel: nfct holds the FIFO open (a blocking open would still be waiting for a writer).
      await until(async () => {
        const fds = await readdir(`/proc/${pid}/fd`).catch(() => []);
        const links = await Promise.all(fds.map((fd) => readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')));
        return links.includes(fifo);
      });
      child.kill(signal);
      expect(await exit, stderr()).toEqual([null, signal]);
      expect(stderr()).toBe('');
    });
  }

  test('a writer that writes in two parts: every line is read, the same entries as conntrack -R of the same', async () => {
    const lines = ['-I -p udp -s 10.9.0.1 -d 10.9.0.2 --sport 1 --dport 2 -t 300',
      '-I -p udp -s 10.9.0.3 -d 10.9.0.2 --sport 1 --dport 2 -t 300'];
    const run = async (n: Netns, cmd: string, name: string): Promise<number | null> => {
      const fifo = join(dir, name);
      await n.execOk('mkfifo', [fifo]);
      const reader = n.spawn('sh', ['-c', `exec ${cmd} -R ${fifo}`], { stdio: ['ignore', 'ignore', 'inherit'] });
      const exit = once(reader, 'exit');
      const writer = n.spawn('sh', ['-c', `exec 3>${fifo}; echo '${lines[0]}' >&3; sleep 0.2; echo '${lines[1]}' >&3`],
        { stdio: 'ignore' });
      await once(writer, 'exit');
      return ((await exit) as [number | null])[0];
    };
    expect(await Promise.all([run(ns, NFCT_SHELL, 'fifo-ours'), run(peer, 'conntrack', 'fifo-peer')])).toEqual([0, 0]);
    const table = async (n: Netns): Promise<string[]> =>
      (await n.execOk('conntrack', ['-L', '-s', '10.9.0.0/24'])).stdout.split('\n').filter(Boolean).map((l) =>
        l.replace(/ \d+ src=/, ' T src=')
      ).sort();
    const [a, b] = await Promise.all([table(ns), table(peer)]);
    expect(a).toHaveLength(2);
    expect(a).toEqual(b);
    await Promise.all([ns.execOk('conntrack', ['-F']), peer.execOk('conntrack', ['-F'])]);
  });
});

describe('nfct -R while it applies the lines', () => {
  test('SIGTERM between two lines ends it by the signal, the lines before it done, within a second', async () => {
    // 2,000 entries, then a file of 2,000 -U lines: each is a dump of the whole table, so the
    // file takes seconds to apply and the signal comes in the middle.
    const N = 2000;
    const at = (i: number) => `10.8.${i >> 8}.${i & 255}`;
    const file = join(dir, 'updates');
    const creates = Array.from({ length: N },
      (_, i) => `-I -p udp -s ${at(i)} -d 10.8.99.1 --sport 1 --dport 2 -t 300`);
    await writeFile(file, `${creates.join('\n')}\n`);
    await ns.execOk('conntrack', ['-R', file]);
    await writeFile(file, `${Array.from({ length: N }, (_, i) => `-U -s ${at(i)} -m 1`).join('\n')}\n`);
    const marked = async () =>
      (await ns.execOk('conntrack', ['-L', '-m', '1'])).stdout.split('\n').filter(Boolean).length;
    try {
      const child = ns.spawn(process.execPath, [CLI, '-R', file], { stdio: ['ignore', 'ignore', 'pipe'] });
      const { stderr, exit } = collect(child);
      // The sentinel: some lines applied (entries marked), not all.
      await until(async () => (await marked()) > 0);
      const sent = Date.now();
      child.kill('SIGTERM');
      expect(await exit, stderr()).toEqual([null, 'SIGTERM']);
      expect(Date.now() - sent).toBeLessThan(1000);
      const done = await marked();
      expect(done).toBeGreaterThan(0);
      expect(done).toBeLessThan(N);
    } finally {
      await ns.execOk('conntrack', ['-F']);
    }
  }, 60_000);
});
