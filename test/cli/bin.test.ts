// The installed `nfct` (dist/cli/bin.js): it runs the one-file bundle dist/cli/nfct.js with
// V8's code cache beside it. Checked on a copy laid out as an installed package: the answers
// are conntrack's, node reads no other module of the package, the cache is written once and
// then used, a stale or damaged one is replaced, and a user who cannot write there still runs.
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { createNetns, type Netns, run } from '../helpers/netns.js';
import { runConntrack } from '../oracle/conntrack-cli.js';

const ROOT = resolve(__dirname, '..', '..');
let ns: Netns;
let pkg: string;
let bin: string;
let cache: string;

beforeAll(async () => {
  ns = await createNetns('nfct-bin');
  // World-readable, so that an unprivileged user can run it (a checkout under /root is not).
  pkg = mkdtempSync(join(tmpdir(), 'nfct-bin-'));
  chmodSync(pkg, 0o755);
  mkdirSync(join(pkg, 'dist', 'cli'), { recursive: true, mode: 0o755 });
  mkdirSync(join(pkg, 'build', 'Release'), { recursive: true, mode: 0o755 });
  for (const f of ['bin.js', 'nfct.js']) cpSync(join(ROOT, 'dist', 'cli', f), join(pkg, 'dist', 'cli', f));
  cpSync(join(ROOT, 'build', 'Release', 'nfct.node'), join(pkg, 'build', 'Release', 'nfct.node'));
  writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: '@x/nfct', version: '0.0.0-test' }));
  for (const d of [join(pkg, 'dist'), join(pkg, 'dist', 'cli'), join(pkg, 'build'), join(pkg, 'build', 'Release')]) {
    chmodSync(d, 0o755);
  }
  bin = join(pkg, 'dist', 'cli', 'bin.js');
  cache = join(pkg, 'dist', 'cli', 'nfct.js.cache');
  for (let i = 1; i <= 3; i++) {
    const r = await runConntrack(ns, ['-I', '-p', 'udp', '-s', `10.0.0.${i}`, '-d', '10.0.1.1', '--sport', '1000',
      '--dport', '53', '-t', '600']);
    if (r.code !== 0) throw new Error(r.stderr);
  }
}, 60_000);

afterAll(async () => {
  await ns?.remove();
  if (pkg) rmSync(pkg, { recursive: true, force: true });
});

const nfct = (args: string[]) => ns.exec('node', [bin, ...args]);

describe('the nfct command: one bundled file and its code cache', () => {
  test('answers as conntrack does, and the first run writes the cache for this node and this file', async () => {
    rmSync(cache, { force: true });
    const [mine, theirs] = [await nfct(['-C']), await runConntrack(ns, ['-C'])];
    expect(mine.code).toBe(0);
    expect(mine.stdout).toBe(theirs.stdout);
    expect(mine.stdout).toBe('3\n');
    const listed = await nfct(['-L', '-p', 'udp']);
    expect(listed.stdout.split('\n').filter(Boolean)).toHaveLength(3);
    expect(listed.stderr).toMatch(/3 flow entries have been shown/);
    const st = statSync(join(pkg, 'dist', 'cli', 'nfct.js'));
    expect(readFileSync(cache).toString('latin1').split('\n')[0]).toBe(
      `nfct-v8-cache ${process.version} ${process.arch} ${st.size} ${st.mtimeMs}`,
    );
  });

  test('a later run uses the cache and leaves it as it is', async () => {
    const before = readFileSync(cache);
    const r = await nfct(['-C']);
    expect(r.stdout).toBe('3\n');
    expect(readFileSync(cache).equals(before)).toBe(true);
  });

  test('a cache V8 refuses, or one made from another file, is replaced', async () => {
    const key = readFileSync(cache).toString('latin1').split('\n')[0]!;
    writeFileSync(cache, Buffer.concat([Buffer.from(`${key}\n`, 'latin1'), Buffer.alloc(4096, 0x5a)]));
    expect((await nfct(['-C'])).stdout).toBe('3\n');
    const rewritten = readFileSync(cache);
    expect(rewritten.length).toBeGreaterThan(10_000);
    expect(rewritten.subarray(key.length + 1, key.length + 65).equals(Buffer.alloc(64, 0x5a))).toBe(false);
    writeFileSync(cache, `nfct-v8-cache v0.0.0 ${process.arch} 1 1\nstale`);
    expect((await nfct(['-C'])).stdout).toBe('3\n');
    expect(readFileSync(cache).toString('latin1').split('\n')[0]).toBe(key);
  });

  test("node's module loader reads no module of the package but bin.js (bin.js compiles the bundle; the addon is dlopen()ed)", async () => {
    const hook = join(pkg, 'list-modules.cjs');
    writeFileSync(hook,
      "process.on('exit', () => process.stderr.write([...Object.keys(require.cache), ...require('fs').readFileSync('/proc/self/maps', 'latin1').split('\\n').map((l) => 'mapped ' + l.split(' ').pop())].join('\\n') + '\\n'));");
    const r = await nfct(['-C']).then(() => ns.exec('node', ['-r', hook, bin, '-C']));
    expect(r.stdout).toBe('3\n');
    const lines = r.stderr.split('\n');
    const ours = lines.filter((f) => f.startsWith(pkg) && f !== hook);
    expect(ours).toEqual([bin]);
    expect(lines).toContain(`mapped ${join(pkg, 'build', 'Release', 'nfct.node')}`);
  });

  test('a user who cannot write the cache runs nfct all the same, and writes nothing', async () => {
    rmSync(cache, { force: true });
    const r = await run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'node', bin, '--version']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('nfct v0.0.0-test (conntrack-tools compatible)\n');
    expect(r.stderr).toBe('');
    expect(() => statSync(cache)).toThrow(/ENOENT/);
  });

  test('the bundle needs no ES module loader (it runs in vm.Script): no import() is left in it', () => {
    expect(readFileSync(join(pkg, 'dist', 'cli', 'nfct.js'), 'utf8')).not.toMatch(/(?<![\w$.])import\(/);
  });
});
