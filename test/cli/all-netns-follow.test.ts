// -E / log --all-netns follow every namespace: with more than ten namespaces nothing warns of
// listeners (one listener ends every stream), and past the bound on streams the namespaces
// left out are named and started as soon as room frees, not at a later rescan.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { followNamespaces, type NamespaceStream } from '../../lib/cli/commands/all-netns.js';
import { type Context, makeContext } from '../../lib/cli/context.js';
import type { NetworkNamespace } from '../../lib/core/netns-discovery.js';
import { createNetns, type Netns } from '../helpers/netns.js';
import { CLI } from '../helpers/nfct.js';

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
    const child = spawn(process.execPath, [CLI, '-E', '--all-netns', '-e', 'NEW'], { stdio: ['ignore', 'pipe', 'pipe'] });
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
      await Promise.all(spaces.filter((ns) => !seen(ns)).map((ns) => ns.execOk('conntrack', ['-I', '-p', 'udp', '-s', `10.61.${round & 255}.1`, '-d', '10.61.0.9', '--sport', '7', '--dport', '54', '-t', '60'])));
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
    const c: Context = { ...ctx, stop: stop.signal, err: (line) => void (warnings.push(line), warned()) };
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
});
