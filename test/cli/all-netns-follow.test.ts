// -E / log --all-netns follow every namespace: with more than ten namespaces nothing warns of
// listeners (one listener ends every stream), past the bound on streams the namespaces left
// out are named and started as soon as room frees, not at a later rescan, and a namespace
// given the inode number of one gone (the kernel reuses them) is followed as the new one it is.
import { spawn } from 'node:child_process';
import { closeSync, openSync, statSync } from 'node:fs';
import { PassThrough } from 'node:stream';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { followNamespaces, type NamespaceStream } from '../../lib/cli/commands/all-netns.js';
import { type Context, makeContext } from '../../lib/cli/context.js';
import { listNamespaces, type NetworkNamespace } from '../../lib/core/netns-discovery.js';
import { createNetns, type Netns } from '../helpers/netns.js';
import { CLI } from '../helpers/nfct.js';
import { until } from '../helpers/sentinel.js';

const N = 12;
let spaces: Netns[] = [];

beforeAll(async () => {
  spaces = await Promise.all(Array.from({ length: N }, () => createNetns('nfct-follow')));
});
afterAll(async () => {
  await Promise.all(spaces.map((ns) => ns.remove()));
});

describe('--all-netns with many namespaces', () => {
  test(`-E --all-netns across ${N} namespaces of ours: events of each, no listener warning, a clean end`, async () => {
    const child = spawn(process.execPath, [CLI, '-E', '--all-netns', '-e', 'NEW'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<[number | null, string | null]>((r) => child.on('exit', (code, sig) => r([code, sig])));
    const seen = (ns: Netns): boolean => stdout.includes(`[${ns.name}] `);
    // The sentinel: an event of every one of our namespaces came through (the streams open as
    // the namespaces are listed; a new entry each round until each is seen).
    for (let round = 1; !spaces.every(seen); round++) {
      if (round > 200) throw new Error(`not every namespace was followed:\n${stderr}`);
      await Promise.all(
        spaces.filter((ns) => !seen(ns)).map((ns) =>
          ns.execOk('conntrack', ['-I', '-p', 'udp', '-s', `10.61.${round & 255}.1`, '-d', '10.61.0.9', '--sport', '7',
            '--dport', '54', '-t', '60'])
        ),
      );
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill('SIGINT');
    const [code] = await exited;
    expect(code).toBe(0);
    expect(stderr).not.toMatch(/Warning/i);
    expect(stderr).toMatch(/^nfct v\S+ \(conntrack-tools compatible\): \d+ flow events have been shown\.\n$/);
  });

  test('past the bound: the namespaces left out are named, and one starts as soon as a stream ends', async () => {
    const mine = new Set(spaces.slice(0, 3).map((ns) => ns.name));
    const { ctx, dispose } = makeContext(new PassThrough());
    const warnings: string[] = [];
    const stop = new AbortController();
    let warned = (): void => undefined;
    const warning = new Promise<string>((resolve) => (warned = () => {
      const w = warnings.find((l) => l.startsWith('WARNING: 2 namespaces are followed at most'));
      if (w) resolve(w);
    }));
    const c: Context = { ...ctx, stop: stop.signal, err: (line) => {
      warnings.push(line);
      warned();
    } };
    const started: string[] = [];
    const finish = new Map<string, () => void>();
    let onStart = (): void => undefined;
    const open = async (ns: NetworkNamespace): Promise<NamespaceStream | null> => {
      const name = ns.names.find((n) => mine.has(n));
      if (!name) return null; // other namespaces on this machine are skipped
      return {
        run: (nc) =>
          new Promise<number>((resolve) => {
            started.push(name);
            finish.set(name, () => resolve(0));
            nc.stop.addEventListener('abort', () => resolve(0), { once: true });
            onStart();
          }),
        close: () => undefined,
      };
    };
    const startedCount = (n: number): Promise<void> =>
      new Promise((resolve) => {
        onStart = () => started.length >= n && resolve();
        onStart();
      });
    // A rescan an hour away: only the end of a stream can start the namespace left out.
    const run = followNamespaces(c, { json: false, open, maxStreams: 2, rescanMs: 3_600_000 });
    try {
      await startedCount(2);
      const out = [...mine].find((n) => !started.includes(n))!;
      const text = await warning;
      expect(text).toContain(out);
      for (const name of started) expect(text).not.toContain(name);
      finish.get(started[0]!)!();
      await startedCount(3);
      expect(started[2]).toBe(out);
    } finally {
      stop.abort();
      await run;
      dispose();
    }
  });

  test('a namespace made with the inode number of one gone (skipped or followed) is followed: the number alone is not its identity', async () => {
    const { ctx, dispose } = makeContext(new PassThrough());
    const stop = new AbortController();
    const said: string[] = [];
    const c: Context = { ...ctx, stop: stop.signal, err: (line) => void said.push(line) };
    const opened = new Set<string>();
    const started = new Set<string>();
    const gone = new Set<string>();
    const ours = (ns: NetworkNamespace): string | undefined => ns.names.find((n) => n.startsWith('nfct-reuse-'));
    // As the real streams do, a stream holds its namespace (an open descriptor) until closed;
    // the namespaces named nfct-reuse-skip-* are skipped, as when the group is held there.
    const open = async (ns: NetworkNamespace): Promise<NamespaceStream | null> => {
      const name = ours(ns);
      if (!name) return null;
      opened.add(name);
      if (name.startsWith('nfct-reuse-skip-')) return null;
      const fd = openSync(ns.path, 'r');
      return {
        run: (nc) =>
          new Promise<number>((resolve) => {
            started.add(name);
            nc.stop.addEventListener('abort', () => resolve(0), { once: true });
          }),
        close: () => closeSync(fd),
      };
    };
    const made: Netns[] = [];
    const make = async (prefix: string): Promise<Netns> => {
      const n = await createNetns(prefix);
      made.push(n);
      return n;
    };
    const inode = (ns: Netns): number => statSync(`/run/netns/${ns.name}`).ino;
    /**
     * The namespace shown with each number: the kernel's, but for one made to stand in for a
     * namespace gone when the kernel gave its number to another test first.
     */
    const renumbered = new Map<string, number>();
    const list = async (): Promise<NetworkNamespace[]> =>
      (await listNamespaces()).flatMap((ns) => {
        const name = ours(ns);
        if (!name) return [];
        const shown = renumbered.get(name);
        return [shown === undefined ? ns : { ...ns, inode: shown }];
      });
    /**
     * A new namespace with the number `freed`. The kernel hands out the lowest free number once
     * a namespace is freed, ~0.2 s after its removal: new namespaces are made until one gets
     * it (the others kept until then, so that their numbers do not come back instead). Other
     * test files make namespaces and interfaces (whose /proc entries take numbers from the same
     * pool) meanwhile and may take it first: then, after 5 s, a new namespace is listed with the
     * number, as the kernel would have listed it.
     */
    const reuse = async (freed: number): Promise<Netns> => {
      const others: Netns[] = [];
      const end = Date.now() + 5000;
      try {
        while (Date.now() < end) {
          const n = await make('nfct-reuse-new');
          if (inode(n) === freed) return n;
          others.push(n);
        }
        const n = await make('nfct-reuse-new');
        renumbered.set(n.name, freed);
        return n;
      } finally {
        await Promise.all(others.map((n) => n.remove()));
      }
    };
    /** Makes a namespace, has it looked at, removes it and makes one with its number. */
    const replaced = async (prefix: string, looked: (n: Netns) => boolean,
      gone?: (n: Netns) => boolean): Promise<[Netns, Netns]> =>
    {
      const first = await make(prefix);
      await until(() => looked(first), `${first.name} looked at`, { ms: 10_000 });
      const number = inode(first);
      await first.remove();
      if (gone) await until(() => gone(first), `${first.name} said gone`, { ms: 10_000 });
      return [first, await reuse(number)];
    };
    // Looks 1.5 s apart: each namespace below is made with the number of one gone before the
    // next look at the node's namespaces.
    const run = followNamespaces(c, {
      json: false,
      open,
      gone: (ns) => void gone.add(ours(ns) ?? ''),
      rescanMs: 1500,
      list,
    });
    try {
      // A followed namespace goes away; its stream ends, and a new namespace gets its number.
      const [followed, second] = await replaced('nfct-reuse-run', (n) => started.has(n.name), (n) => gone.has(n.name));
      await until(() => started.has(second.name), `${second.name} (the inode number ${followed.name} had) followed`, {
        ms: 10_000,
      });
      // A skipped namespace goes away and a new one gets its number before the next look.
      const [skipped, third] = await replaced('nfct-reuse-skip', (n) => opened.has(n.name));
      await until(() => started.has(third.name), `${third.name} (the inode number ${skipped.name} had) followed`, {
        ms: 10_000,
      });
      expect(said).toEqual([]);
    } finally {
      stop.abort();
      await run;
      dispose();
      await Promise.all(made.filter((m) => !m.removed).map((m) => m.remove()));
    }
  });
});
