// The installed `nfct` (dist/cli/bin.js): it runs the one-file bundle dist/cli/nfct.js with
// V8's code cache beside it. Checked on a copy laid out as an installed package: the answers
// are conntrack's, node reads no other module of the package, the cache is written once and
// then used, a stale or damaged one is replaced, and a user who cannot write there still runs.
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { createNetns, type Netns, run } from '../helpers/netns.js';
import { loadEntries, runConntrack } from '../oracle/conntrack-cli.js';

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
  await loadEntries(ns,
    Array.from({ length: 3 },
      (_, i) => ({ proto: 'udp', src: `10.0.0.${i + 1}`, dst: '10.0.1.1', sport: 1000, dport: 53, timeout: 600 })));
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

  test('the bundles need no ES module loader (they run in vm.Script): no import() is left in them', () => {
    for (const f of ['nfct.js', 'nfct-count.js']) {
      expect(readFileSync(join(ROOT, 'dist', 'cli', f), 'utf8')).not.toMatch(/(?<![\w$.])import\(/);
    }
  });
});

// The command lines that count start with the small bundle, nfct-count.js (lib/cli/quick-count.ts):
// checked on a copy that has it and bin.js, and not the whole CLI (no nfct.js, no main.js),
// so a count that went to the whole CLI would fail here.
describe('nfct -C: the count bundle alone', () => {
  let countPkg: string;
  let countBin: string;

  beforeAll(() => {
    countPkg = mkdtempSync(join(tmpdir(), 'nfct-bin-count-'));
    mkdirSync(join(countPkg, 'dist', 'cli'), { recursive: true });
    mkdirSync(join(countPkg, 'build', 'Release'), { recursive: true });
    for (const f of ['bin.js', 'nfct-count.js']) cpSync(join(ROOT, 'dist', 'cli', f), join(countPkg, 'dist', 'cli', f));
    cpSync(join(ROOT, 'build', 'Release', 'nfct.node'), join(countPkg, 'build', 'Release', 'nfct.node'));
    writeFileSync(join(countPkg, 'package.json'), JSON.stringify({ name: '@x/nfct', version: '0.0.0-test' }));
    countBin = join(countPkg, 'dist', 'cli', 'bin.js');
  });

  afterAll(() => {
    if (countPkg) rmSync(countPkg, { recursive: true, force: true });
  });

  const counting = (args: string[]) => ns.exec('node', [countBin, ...args]);
  const signed = (text: string) =>
    text.replace(/^(conntrack v1\.4\.7 \(conntrack-tools\)|nfct v0\.0\.0-test \(conntrack-tools compatible\)): /gm,
      'SIGNED: ').replace(/Try `(conntrack|nfct) -h' or '(conntrack|nfct) --help'/g, 'TRY-HELP');

  test('counts as conntrack does, and writes the count bundle its own code cache', async () => {
    for (const args of [['-C'], ['--counter'], ['--co'], ['-C', 'conntrack'], ['-C', '-a', 'x']]) {
      const [mine, theirs] = [await counting(args), await runConntrack(ns, args)];
      expect({ args, code: mine.code, stdout: mine.stdout, stderr: signed(mine.stderr) }).toEqual({ args,
        code: theirs.code, stdout: theirs.stdout, stderr: signed(theirs.stderr) });
      expect(mine.stdout).toBe('3\n');
    }
    expect(readFileSync(join(countPkg, 'dist', 'cli', 'nfct-count.js.cache')).toString('latin1')).toMatch(
      /^nfct-v8-cache /,
    );
  });

  test('refuses what conntrack refuses with -C, in its words and with its status', async () => {
    for (const args of [['-C', '-p', 'tcp'], ['-C', '-f', 'ipv6'], ['-C', '-C'], ['-C', 'dying'], ['--c'], ['-C',
      '-a']])
    {
      const [mine, theirs] = [await counting(args), await runConntrack(ns, args)];
      expect({ args, code: mine.code, stdout: mine.stdout, stderr: signed(mine.stderr) }).toEqual({ args,
        code: theirs.code, stdout: theirs.stdout, stderr: signed(theirs.stderr) });
      expect(mine.code).toBe(2);
      expect(mine.stderr).toMatch(/^nfct v0\.0\.0-test/);
    }
  });

  test('counts in a namespace named with --netns, and says which one does not exist', async () => {
    const r = await run('node', [countBin, '-C', '--netns', ns.name]);
    expect(r).toMatchObject({ code: 0, stdout: '3\n', stderr: '' });
    const json = await run('node', [countBin, '-C', '--json']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ type: 'count', table: 'conntrack' });
    const missing = await run('node', [countBin, '-C', '--netns', 'nfct-no-such-netns']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/network namespace "nfct-no-such-netns" does not exist/);
  });

  test("starts no thread beyond node's own: no libuv pool for the open, the count or the write", async () => {
    const hook = join(countPkg, 'threads.cjs');
    writeFileSync(hook,
      "process.on('exit', () => process.stderr.write('threads ' + require('fs').readdirSync('/proc/self/task').length + '\\n'));");
    const idle = await ns.exec('node', ['-r', hook, '-e', '0']);
    const counted = await ns.exec('sh', ['-c', 'node -r "$1" "$2" -C | cat', 'sh', hook, countBin]);
    expect(counted.stdout).toBe('3\n');
    expect(counted.stderr).toBe(idle.stderr);
    expect(idle.stderr).toMatch(/^threads \d+\n$/);
  });

  test('leaves any other line to the whole CLI, which this copy lacks (so -C above ran without it)', async () => {
    for (const args of [['-L', '-m', '-C'], ['-C', 'expect'], ['-C', '--all-netns'], ['-C', '--json', '--netns',
      'x']])
    {
      const r = await counting(args);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/Cannot find module '\.\/main\.js'/);
    }
  });
});
