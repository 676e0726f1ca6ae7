// What TRACE changes in the kernel is put back however a stream or the process ends: the
// temporary nfct_trace_<pid>_<token>_<n> tables (close() racing the install, process.exit(),
// SIGHUP to `nfct trace`, and a process killed outright, whose tables the next Trace use
// removes, judged by the owner name its process held, never by a pid: a tracer in another PID
// namespace keeps its table and its trace), and the nf_log backend binding, counted per
// namespace across handles. Also: an
// already aborted signal starts nothing, and the external commands failing or missing give an
// NfctError instead of an uncaught EPIPE.
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { addon } from '../../lib/core/native.js';
import { NfctError, Nflog, Trace } from '../../lib/index.js';
import { createNetns, type Netns, run } from '../helpers/netns.js';
import { CLI } from '../helpers/nfct.js';
import { until } from '../helpers/sentinel.js';
import { startNfct } from '../support/run-nfct.js';

let ns: Netns;
const VITE_NODE = join(__dirname, '..', '..', 'node_modules', '.bin', 'vite-node');

beforeAll(async () => {
  ns = await createNetns('nfct-tstate', { conntrack: false });
  await ns.execOk('ip', ['link', 'set', 'lo', 'up']);
});
/** Every tracer started, killed outright at the end whatever happened (SIGKILL to unshare ends its PID namespace). */
const started: ChildProcess[] = [];
afterAll(async () => {
  for (const c of started) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await ns?.remove();
});

const tables = async (): Promise<string> => (await ns.execOk('nft', ['list', 'tables'])).stdout;
const backend = async (pf = 2): Promise<string> =>
  (await ns.execOk('cat', [`/proc/sys/net/netfilter/nf_log/${pf}`])).stdout.trim();

interface Tracer {
  /** Its temporary table (in place once startTracer resolved). */
  table: string;
  out(): string;
  err(): string;
  /** Sends the signal (SIGKILL: to the whole PID namespace) and resolves [code, signal]. */
  end(signal: NodeJS.Signals): Promise<[number | null, NodeJS.Signals | null]>;
}

/**
 * `nfct trace --netns NS -p udp --dport PORT`; with pidns, in a PID namespace of its own under
 * a pid no process on the host has (so its pid means nothing here). Resolves once its table is in place.
 */
async function startTracer(port: number,
  o: { pidns?: boolean; nftablesOnly?: boolean; said?: RegExp } = {}): Promise<Tracer>
{
  const before = new Set((await tables()).match(/nfct_trace_\S+/g) ?? []);
  // --show-own-hops: the hop of its own marking rule is the sentinel.
  const args = [CLI, 'trace', '--show-own-hops', '--netns', ns.name, ...(o.nftablesOnly ? ['--nftables'] : []), '-p',
    'udp', '--dport', String(port)];
  let child: ChildProcess;
  if (o.pidns) {
    let pid = 20000 + Math.floor(Math.random() * 10000);
    while (existsSync(`/proc/${pid}`)) pid++;
    // sh is the namespace's pid 1; nfct its child, under `pid`. --kill-child: killing unshare kills them all.
    child = spawn('unshare', ['--pid', '--fork', '--kill-child', '--mount-proc', 'sh', '-c',
      `echo ${pid - 1} > /proc/sys/kernel/ns_last_pid; "$0" "$@"`, process.execPath, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } else child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exit = new Promise<[number | null, NodeJS.Signals | null]>((r) => child.once('exit', (c, s) => r([c, s])));
  let table: string | undefined;
  // With `said`, once stderr says it (a first attempt's table may come and go before).
  for (let i = 0; i < 500 && !table; i++) {
    if (!o.said || o.said.test(err)) {
      table = ((await tables()).match(/nfct_trace_\S+/g) ?? []).find((t) => !before.has(t));
    }
    if (!table) await sleep(20);
  }
  if (!table) {
    child.kill('SIGKILL');
    throw new Error(`no trace table appeared: ${err}`);
  }
  // unshare does not pass SIGINT/SIGTERM on: those go to nfct itself (SIGKILL to unshare kills all).
  const target = (): number => {
    let pid = child.pid!;
    for (let depth = 0; o.pidns && depth < 3; depth++) {
      const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
      if (kids.length === 0) break;
      pid = Number(kids[0]);
    }
    return pid;
  };
  return { table, out: () => out, err: () => err,
    end: (signal) => (process.kill(signal === 'SIGKILL' ? child.pid! : target(), signal), exit) };
}

/** UDP datagrams to 127.0.0.1:port in the namespace until `seen` holds (bounded). */
async function sendUntil(port: number, seen: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !seen(); i++) {
    await ns.execOk('bash', ['-c', `echo x > /dev/udp/127.0.0.1/${port}`]);
    await sleep(25);
  }
  expect(seen()).toBe(true);
}

/** Resolves as `p` does, or to 'pending' once `ms` have passed. */
const settledWithin = <T>(p: Promise<T>, ms: number): Promise<T | 'pending'> =>
  Promise.race([p, sleep(ms).then(() => 'pending' as const)]);

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
    const r = await run(VITE_NODE, [join(__dirname, '..', 'support', 'trace-exit-child.ts'), ns.name], {
      timeoutMs: 30_000,
    });
    expect(r.stdout).toBe('installed\n');
    expect(r.code).toBe(3);
    expect(await tables()).not.toContain('nfct_trace');
    expect(await backend()).toBe(before);
    expect(await backend(10)).toBe(before6);
  }, 40_000);

  test('SIGHUP to `nfct trace` ends it like SIGINT: the rule is removed, the count printed', async () => {
    const running = startNfct(['trace', '--netns', ns.name, '--nftables', '-p', 'udp', '--dport', '9412']);
    try {
      await until(async () => (await tables()).includes('nfct_trace'), 'nfct trace to install its rule');
    } finally {
      process.emit('SIGHUP');
    }
    const code = await settledWithin(running.done.then((r) => r.code), 5000);
    expect(code).toBe(0);
    const { stderr } = await running.done;
    expect(stderr).toContain('0 packets traced');
    expect(await tables()).not.toContain('nfct_trace');
  });

  test('a table whose tracer was killed outright (SIGKILL) is removed by the next Trace use; so is one named after a live pid whose owner is gone', async () => {
    const tracer = await startTracer(9421, { pidns: true, nftablesOnly: true });
    await tracer.end('SIGKILL');
    expect(await tables()).toContain(tracer.table);
    // pid 1 lives in every PID namespace: a pid says nothing, the owner's name does.
    const orphan = 'nfct_trace_1_0badc0de_0';
    await ns.execOk('nft', ['add', 'table', 'inet', orphan]);
    const trace = await Trace.open({ netns: ns.name, legacy: false });
    await trace.close();
    const after = await tables();
    expect(after).not.toContain(tracer.table);
    expect(after).not.toContain(orphan);
  });

  test('a table named after a pid alone (an older nfct) is never removed automatically: whose it is cannot be told', async () => {
    const child = spawn('true');
    await new Promise((r) => child.once('exit', r));
    const old = `nfct_trace_${child.pid}_0`;
    await ns.execOk('nft', ['add', 'table', 'inet', old]);
    try {
      const trace = await Trace.open({ netns: ns.name, legacy: false });
      await trace.close();
      expect(await tables()).toContain(old);
    } finally {
      await ns.execOk('nft', ['delete', 'table', 'inet', old]);
    }
  });

  test('two tracers in one namespace, the first in a PID namespace of its own (its pid unknown here): the second leaves its table, says who holds NFLOG group 0, and both trace', async () => {
    const first = await startTracer(9422, { pidns: true });
    const said =
      /nfct trace: NFLOG group 0 \(legacy TRACE\) is held in this namespace by pid \d+ \(nfct trace\): tracing nftables alone\n/;
    const second = await startTracer(9423, { said });
    try {
      expect(await tables()).toContain(first.table);
      // Each sees the packets its own rule marks (the sentinel: the hop of its own rule).
      await Promise.all([
        sendUntil(9422, () => first.out().includes(`inet ${first.table} out rule`)),
        sendUntil(9423, () => second.out().includes(`inet ${second.table} out rule`)),
      ]);
      expect(await tables()).toContain(first.table);
    } finally {
      const [a, b] = await Promise.all([first.end('SIGINT'), second.end('SIGINT')]);
      expect(a).toEqual([0, null]);
      expect(b).toEqual([0, null]);
    }
    expect(first.err()).toMatch(/nfct: [1-9]\d* packets traced; none lost\.\n$/);
    expect(second.err()).toMatch(/nfct: [1-9]\d* packets traced; none lost\.\n$/);
    expect(await tables()).not.toContain('nfct_trace');
  });

  test('an owner name held by another process: the owner lock says so from any namespace path', async () => {
    const held = await addon.ownerLock(ns.path, 'nfct_trace/test_lock', true);
    try {
      expect(await addon.ownerLock(ns.path, 'nfct_trace/test_lock', false)).toBe(1);
      await expect(addon.ownerLock(ns.path, 'nfct_trace/test_lock', true)).rejects.toMatchObject({
        code: 'EADDRINUSE',
      });
      // another namespace has its own names
      expect(await addon.ownerLock(null, 'nfct_trace/test_lock', false)).toBe(0);
    } finally {
      closeSync(held);
    }
    expect(await addon.ownerLock(ns.path, 'nfct_trace/test_lock', false)).toBe(0);
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
    const [c, d] = await Promise.all(
      [0, 1].map(() => Trace.open({ netns: ns.name, nftables: false, bindLogger: true })),
    );
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
      const streams = [trace.events({ signal, match: { protocol: 'icmp' } }),
        trace.packets({ signal, match: { protocol: 'icmp' } })];
      for (const stream of streams) {
        expect(await settledWithin<unknown>(stream.next(), 2000)).toEqual({ value: undefined, done: true });
        // ready resolves once a rule would be in place.
        await stream.ready;
      }
      expect(await tables()).not.toContain('nfct_trace');
      // Group 0 is free: a subscription binds it (no EBUSY) and gets what is logged to it.
      const sub = nf.subscribe({ group: 0 });
      const pending = sub.next();
      await ns.execOk('nft', ['-f', '-'], {
        input: 'table inet g0 {\n chain out { type filter hook output priority 0; udp dport 9415 log group 0; }\n}\n',
      });
      try {
        await ns.execOk('bash', ['-c', 'echo x > /dev/udp/127.0.0.1/9415']);
        const r = await settledWithin(pending, 5000);
        expect(r !== 'pending' && !r.done && r.value.type).toBe('packet');
      } finally {
        await sub.close();
        await ns.execOk('nft', ['delete', 'table', 'inet', 'g0']);
      }
    } finally {
      await nf.close();
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
    writeFileSync(join(fake, 'nsenter'),
      '#!/bin/sh\nexec 0<&-\nsleep 0.2\necho "nsenter: reassociate to namespace: Operation not permitted" >&2\nexit 1\n');
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
      await s.close();
    } finally {
      process.env.PATH = path;
      await trace.close();
    }
  });
});
