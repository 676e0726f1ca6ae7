/**
 * The package as npm's install-script policy leaves it: installed with `--ignore-scripts` (what
 * `npm install` does to a dependency whose `install` script no `allowScripts` entry covers, once
 * npm enforces that; npm 11 warns today), it must load from prebuilds/ and work, with no script
 * run and nothing compiled. And where no prebuild fits and nothing was compiled, the first call
 * must say what to do: allow the script, or build.
 *
 * The package is packed from a staging copy of the tree (see package.test.ts for why a copy)
 * whose prebuilds/ holds the tree's own compiled addon under the name prebuildify gives it:
 * what is tested here is that loading needs no script, not prebuildify, which package.test.ts
 * runs (a second full compile would add minutes to every run).
 */
import { spawn } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, symlinkSync,
  writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { createNetns, type Netns } from '../helpers/netns.js';

const ROOT = resolve(__dirname, '..', '..');
const MINUTES = 60_000;
const PLATFORM = `${process.platform}-${process.arch}`;
const NOT_STAGED = new Set(['node_modules', '.git', 'build', 'prebuilds', 'dist', '.vitest-report.json']);

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end (asynchronously: a build takes minutes on a busy machine). */
function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}, ok = true): Promise<Run> {
  return new Promise((done, fail) => {
    const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 4 * MINUTES);
    child.on('error', fail);
    child.on('close', (status) => {
      clearTimeout(timer);
      const r = { status, stdout, stderr };
      if (ok && status !== 0) {
        fail(
          new Error(
            `${cmd} ${args.join(' ')} (in ${cwd}): exit ${status}\n${stdout.slice(-3000)}\n${stderr.slice(-3000)}`,
          ),
        );
      } else done(r);
    });
  });
}

let tmp = '';
let consumer = '';
let pkgDir = '';
let install: Run | undefined;
let ns: Netns | undefined;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'nfct-noscripts-'));
  const stage = join(tmp, 'stage');
  cpSync(ROOT, stage, {
    recursive: true,
    filter: (src) => {
      const rel = relative(ROOT, src);
      return !NOT_STAGED.has(rel.split('/')[0]!) && !rel.endsWith('.tgz');
    },
  });
  symlinkSync(join(ROOT, 'node_modules'), join(stage, 'node_modules'), 'dir');
  const addon = join(ROOT, 'build', 'Release', 'nfct.node');
  if (!existsSync(addon)) throw new Error(`${addon} is missing: build the addon first (npm run build:native)`);
  // This machine's binary only (a release packs every platform's: NFCT_PACK_SOURCE_ONLY lets
  // check-prebuilds pack one), named as a release names it, so node-gyp-build picks it by the
  // same tags.
  mkdirSync(join(stage, 'prebuilds', PLATFORM), { recursive: true });
  copyFileSync(addon, join(stage, 'prebuilds', PLATFORM, '@x+nfct.glibc.node'));
  const packDir = join(tmp, 'pack');
  mkdirSync(packDir);
  const pack = await run('npm', ['pack', '--json', '--pack-destination', packDir], stage, {
    NFCT_PACK_SOURCE_ONLY: '1',
  });
  const tarball = join(packDir,
    (JSON.parse(pack.stdout.slice(pack.stdout.indexOf('['))) as { filename: string }[])[0]!.filename);

  consumer = join(tmp, 'consumer');
  mkdirSync(consumer);
  await run('npm', ['init', '-y'], consumer);
  install = await run('npm', ['install', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund',
    '--foreground-scripts', tarball], consumer);
  pkgDir = join(consumer, 'node_modules', '@x', 'nfct');
  ns = await createNetns('nfct-noscripts');
}, 5 * MINUTES);

afterAll(async () => {
  await ns?.remove();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('installed with --ignore-scripts', () => {
  test('nothing was compiled or run: no build/ tree, the prebuild is there', () => {
    expect(existsSync(join(pkgDir, 'package.json'))).toBe(true);
    expect(existsSync(join(pkgDir, 'build')), 'a build/ tree: something compiled').toBe(false);
    expect(`${install?.stdout}${install?.stderr}`).not.toMatch(/gyp info|node-gyp-build/);
    expect(readdirSync(join(pkgDir, 'prebuilds', PLATFORM)).filter((f) => f.endsWith('.node'))).toHaveLength(1);
  });

  test('loads from prebuilds/ and works: an entry made, listed, keyed and watched', async () => {
    writeFileSync(
      join(consumer, 'use.mjs'),
      `import { Conntrack, flowKey } from '@x/nfct';
const ct = await Conntrack.open({ netns: process.argv[2] });
await ct.create({ protocol: 'udp', src: '10.77.0.1', dst: '10.77.0.2', srcPort: 1, dstPort: 53, timeout: 60 });
const listed = (await ct.list({ dstPort: 53 }).toArray()).map(flowKey);
const table = ct.watch({ dstPort: 53 });
await table.ready;
console.log(JSON.stringify({ listed, watched: [...table.flows.keys()] }));
await ct.close();
`,
    );
    const r = await run(process.execPath, ['use.mjs', ns!.name], consumer);
    const out = JSON.parse(r.stdout) as { listed: string[]; watched: string[] };
    expect(out.listed).toEqual(['udp 10.77.0.1:1 -> 10.77.0.2:53']);
    expect(out.watched).toEqual(out.listed);
  });

  test('without a fitting prebuild, the first call says to allow the install script or build', async () => {
    renameSync(join(pkgDir, 'prebuilds', PLATFORM), join(pkgDir, 'prebuilds', 'elsewhere'));
    try {
      writeFileSync(
        join(consumer, 'fail.mjs'),
        `import { Conntrack } from '@x/nfct';
try { await Conntrack.open(); console.log('opened'); } catch (e) { console.log(JSON.stringify({ name: e.name, code: e.code, message: e.message })); }
`,
      );
      const r = await run(process.execPath, ['fail.mjs'], consumer);
      const e = JSON.parse(r.stdout) as { name: string; code: string; message: string };
      expect(e).toMatchObject({ name: 'NativeLoadError', code: 'ERR_NFCT_NATIVE_LOAD' });
      expect(e.message).toContain('npm install-scripts approve @x/nfct');
      expect(e.message).toContain('npm rebuild @x/nfct');
      expect(e.message).toMatch(/allowScripts|--ignore-scripts/);
    } finally {
      renameSync(join(pkgDir, 'prebuilds', 'elsewhere'), join(pkgDir, 'prebuilds', PLATFORM));
    }
  });
});
