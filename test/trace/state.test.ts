// What TRACE changes in the kernel is put back however a stream or the process ends (issue 13):
// the temporary nfct_trace_<pid>_<n> tables (close() racing the install, process.exit(),
// SIGHUP to `nfct trace`, and a process killed outright, whose tables the next Trace use
// removes), and the nf_log backend binding, counted per namespace across handles. Also: an
// already aborted signal starts nothing, and the external commands failing or missing give an
// NfctError instead of an uncaught EPIPE.
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { Nflog, NfctError, Trace } from '../../lib/index.js';
import { main } from '../../lib/cli/main.js';
import { until } from '../helpers/sentinel.js';
import { createNetns, type Netns, run } from '../helpers/netns.js';

let ns: Netns;
const VITE_NODE = join(__dirname, '..', '..', 'node_modules', '.bin', 'vite-node');

beforeAll(async () => {
  ns = await createNetns('nfct-tstate', { conntrack: false });
});
afterAll(async () => {
  await ns?.remove();
});

const tables = async (): Promise<string> => (await ns.execOk('nft', ['list', 'tables'])).stdout;
const backend = async (pf = 2): Promise<string> => (await ns.execOk('cat', [`/proc/sys/net/netfilter/nf_log/${pf}`])).stdout.trim();

/** Resolves as `p` does, or to 'pending' once `ms` have passed. */
const settledWithin = <T>(p: Promise<T>, ms: number): Promise<T | 'pending'> => Promise.race([p, sleep(ms).then(() => 'pending' as const)]);

describe('temporary trace tables', () => {
  test('close() right after packets({ match }), with the install still running: when close() resolves the table is gone (8 rounds)', async () => {
    for (let round = 0; round < 8; round++) {
      const trace = await Trace.open({ netns: ns.name, legacy: false });
      const stream = trace.packets({ match: { protocol: 'udp', dstPort: 9411 } });
      const first = stream.next();
      if (round % 2 === 1) await sleep(round); // 0-7 ms into the install
      await trace.close();
      expect(await tables(), `round ${round}`).not.toContain('nfct_trace');
      expect((await first).done).toBe(true);
    }
  });

  test('process.exit() with a rule installed and the nf_log backend bound: both are put back', async () => {
    const before = await backend();
    const before6 = await backend(10);
    expect(before).not.toBe('nfnetlink_log');
    const r = await run(VITE_NODE, [join(__dirname, '..', 'support', 'trace-exit-child.ts'), ns.name], { timeoutMs: 30_000 });
    expect(r.stdout).toBe('installed\n');
    expect(r.code).toBe(3);
    expect(await tables()).not.toContain('nfct_trace');
    expect(await backend()).toBe(before);
    expect(await backend(10)).toBe(before6);
  }, 40_000);

  test('SIGHUP to `nfct trace` ends it like SIGINT: the rule is removed, the count printed', async () => {
    let stderr = '';
    const ow = process.stdout.write.bind(process.stdout);
    const ew = process.stderr.write.bind(process.stderr);
    process.stdout.write = (() => true) as typeof process.stdout.write;
    process.stderr.write = ((s: string | Uint8Array) => ((stderr += String(s)), true)) as typeof process.stderr.write;
    try {
      const running = main(['trace', '--netns', ns.name, '--nftables', '-p', 'udp', '--dport', '9412']);
      await until(async () => (await tables()).includes('nfct_trace'), 'nfct trace to install its rule');
      process.emit('SIGHUP');
      expect(await settledWithin(running, 5000)).toBe(0);
    } finally {
      process.stdout.write = ow;
      process.stderr.write = ew;
    }
    expect(stderr).toContain('0 packets traced');
    expect(await tables()).not.toContain('nfct_trace');
  });

  test('tables of a process that no longer exists (killed before it could clean up) are removed by the next Trace.open; a live process keeps its own', async () => {
    const child = spawn('true');
    const dead = child.pid!;
    await new Promise((r) => child.once('exit', r));
    const stale = `nfct_trace_${dead}_0`;
    const live = 'nfct_trace_1_0'; // pid 1 exists
    for (const name of [stale, live]) {
      await ns.execOk('nft', ['-f', '-'], { input: `table inet ${name} {\n chain pre { type filter hook prerouting priority -350; meta nftrace set 1; }\n}\n` });
    }
    try {
      expect(await tables()).toContain(stale);
      const trace = await Trace.open({ netns: ns.name, legacy: false });
      await trace.close();
      const after = await tables();
      expect(after).not.toContain(stale);
      expect(after).toContain(live);
    } finally {
      await ns.exec('nft', ['delete', 'table', 'inet', stale]);
      await ns.execOk('nft', ['delete', 'table', 'inet', live]);
    }
  });
});

describe('the nf_log binding, shared by several handles', () => {
  test('open A, open B, close A, close B: bound until the last one closes, then the original backend is back', async () => {
    const before = await backend();
    const before6 = await backend(10);
    expect(before).not.toBe('nfnetlink_log');
    const a = await Trace.open({ netns: ns.name, nftables: false, bindLogger: true });
    const b = await Trace.open({ netns: ns.name, nftables: false, bindLogger: true });
    expect(await backend()).toBe('nfnetlink_log');
    await a.close();
    expect(await backend()).toBe('nfnetlink_log');
    expect(await backend(10)).toBe('nfnetlink_log');
    await b.close();
    expect(await backend()).toBe(before);
    expect(await backend(10)).toBe(before6);
    // And in the other order, opened at once.
    const [c, d] = await Promise.all([0, 1].map(() => Trace.open({ netns: ns.name, nftables: false, bindLogger: true })));
    await d!.close();
    expect(await backend()).toBe('nfnetlink_log');
    await c!.close();
    expect(await backend()).toBe(before);
  });
});

describe('an already aborted signal', () => {
  test('events() and packets() end at once: no rule installed, NFLOG group 0 not held', async () => {
    const trace = await Trace.open({ netns: ns.name });
    const nf = await Nflog.open({ netns: ns.name });
    try {
      const signal = AbortSignal.abort();
      const streams = [trace.events({ signal, match: { protocol: 'icmp' } }), trace.packets({ signal, match: { protocol: 'icmp' } })];
      for (const stream of streams) {
        expect(await settledWithin<unknown>(stream.next(), 2000)).toEqual({ value: undefined, done: true });
        // ready resolves once a rule would be in place.
        await stream.ready;
      }
      expect(await tables()).not.toContain('nfct_trace');
      // Group 0 is free: a subscription binds it (no EBUSY) and gets what is logged to it.
      const sub = nf.subscribe({ group: 0 });
      const pending = sub.next();
      await ns.execOk('nft', ['-f', '-'], { input: 'table inet g0 {\n chain out { type filter hook output priority 0; udp dport 9415 log group 0; }\n}\n' });
      try {
        await ns.execOk('bash', ['-c', 'echo x > /dev/udp/127.0.0.1/9415']);
        const r = await settledWithin(pending, 5000);
        expect(r !== 'pending' && !r.done && r.value.type).toBe('packet');
      } finally {
        sub.close();
        await ns.execOk('nft', ['delete', 'table', 'inet', 'g0']);
      }
    } finally {
      nf.close();
      await trace.close();
    }
  });
});

describe('external commands', () => {
  let dir: string;
  let path: string | undefined;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'nfct-tstate-'));
    path = process.env.PATH;
  });
  afterAll(() => {
    process.env.PATH = path;
    rmSync(dir, { recursive: true, force: true });
  });

  test('an nsenter that exits without reading its input: the stream fails with an NfctError naming it, nothing is thrown elsewhere (6 rounds)', async () => {
    const fake = join(dir, 'closing-bin');
    await run('mkdir', ['-p', fake]);
    writeFileSync(join(fake, 'nsenter'), '#!/bin/sh\nexec 0<&-\nsleep 0.2\necho "nsenter: reassociate to namespace: Operation not permitted" >&2\nexit 1\n');
    chmodSync(join(fake, 'nsenter'), 0o755);
    const uncaught: unknown[] = [];
    const onUncaught = (e: unknown): void => void uncaught.push(e);
    process.on('uncaughtException', onUncaught);
    const trace = await Trace.open({ netns: ns.name, legacy: false });
    process.env.PATH = `${fake}:${path}`;
    try {
      for (let round = 0; round < 6; round++) {
        const stream = trace.events({ match: { protocol: 'udp', dstPort: 9414 }, resolveRules: false });
        const r = await stream.next().then(() => undefined, (e: unknown) => e);
        expect(r, `round ${round}`).toBeInstanceOf(NfctError);
        expect(r).toMatchObject({ code: 'EPERM', syscall: 'spawn' });
        expect((r as Error).message).toContain('installing the trace rule');
        expect((r as Error).message).toContain('nsenter exited with status 1');
        expect((r as Error).message).toContain('Operation not permitted');
        expect(await stream.next()).toEqual({ value: undefined, done: true });
      }
      // The fake nsenter closed its input at once and exited 0.2 s later: a write error on that
      // input came before the failure it reported, so anything thrown elsewhere has been by now.
      await new Promise(setImmediate);
    } finally {
      process.env.PATH = path;
      process.off('uncaughtException', onUncaught);
      await trace.close();
    }
    expect(uncaught).toEqual([]);
    expect(await tables()).not.toContain('nfct_trace');
  });

  test('nft or nsenter missing: events({ match }) throws at once, naming the command and the Debian package', async () => {
    const trace = await Trace.open({ netns: ns.name, legacy: false });
    const empty = join(dir, 'empty');
    await run('mkdir', ['-p', empty]);
    try {
      process.env.PATH = empty;
      let err: unknown;
      try {
        trace.events({ match: { protocol: 'icmp' } });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(NfctError);
      expect(err).toMatchObject({ code: 'ENOENT', syscall: 'spawn' });
      expect((err as Error).message).toContain('nft is not on PATH: install the nftables package');
      // Without a match nothing external is needed: the stream runs.
      const s = trace.events({ resolveRules: false });
      s.close();
    } finally {
      process.env.PATH = path;
      await trace.close();
    }
  });
});
