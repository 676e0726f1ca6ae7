/**
 * The packaging contract: the package builds its prebuild and its JavaScript, packs into a
 * tarball holding what a user needs (and none of the tests, benchmarks or build tree), installs
 * into a fresh project without compiling, and loads both as an ES module and as CommonJS, with
 * the same exports, from that project's node_modules.
 *
 * The build runs in a staging copy of the working tree, not in the working tree itself:
 * prebuildify runs `node-gyp rebuild` and then *moves* build/Release/nfct.node into prebuilds/,
 * which would pull the addon out from under every other test (and developer) using the tree.
 * The copy holds everything but node_modules (a symlink), .git, and build outputs, so what is
 * packed is decided by package.json's "files" exactly as it would be in the tree.
 */
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync,
  writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

const ROOT = resolve(__dirname, '..', '..');
const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string };
const PLATFORM = `${process.platform}-${process.arch}`;
const MINUTES = 60_000;

/** Top-level entries of the tree that are not copied into the staging copy. */
const NOT_STAGED = new Set(['node_modules', '.git', 'build', 'prebuilds', 'dist', '.vitest-report.json']);

interface Run {
  cmd: string;
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command to completion; throws with its output when it fails. Asynchronous: a build
 * takes minutes on a busy machine, and a worker whose event loop is blocked that long misses
 * the test runner's calls (vitest reports "Timeout calling onTaskUpdate").
 */
function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 4 * MINUTES);
    const fail = (why: string, r: Run): void =>
      reject(
        new Error(
          `${r.cmd} (in ${cwd}) failed: ${why}\n--- stdout\n${r.stdout.slice(-4000)}\n--- stderr\n${
            r.stderr.slice(-4000)
          }`,
        ),
      );
    child.on('error', (e) => {
      clearTimeout(timer);
      fail(e.message, { cmd: `${cmd} ${args.join(' ')}`, status: null, stdout: '', stderr: '' });
    });
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      const r: Run = { cmd: `${cmd} ${args.join(' ')}`, status, stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8') };
      if (status !== 0) fail(`exit ${status}, signal ${signal}`, r);
      else resolvePromise(r);
    });
  });
}

const files = (dir: string,
  ext: string): string[] => (existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith(ext)) : []);

describe('package', () => {
  let tmp = '';
  let stage = '';
  let consumer = '';
  let tarball = '';
  let entries: string[] = [];
  let install: Run | undefined;
  let refused = '';
  let esm: Record<string, unknown> = {};
  let cjs: Record<string, unknown> = {};

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'nfct-package-'));
    stage = join(tmp, 'stage');
    consumer = join(tmp, 'consumer');
    const packDir = join(tmp, 'pack');
    mkdirSync(packDir);

    // 1. A staging copy of the working tree, with the tree's node_modules.
    cpSync(ROOT, stage, {
      recursive: true,
      filter: (src) => {
        const rel = relative(ROOT, src);
        const top = rel.split('/')[0]!;
        return !NOT_STAGED.has(top) && !rel.endsWith('.tgz');
      },
    });
    symlinkSync(join(ROOT, 'node_modules'), join(stage, 'node_modules'), 'dir');

    // 2. The prebuild (prebuildify --napi --strip --tag-libc); npm pack builds the JavaScript
    // itself (prepack).
    await run('npm', ['run', 'build:prebuild'], stage, { JOBS: 'max' });

    // 3. The tarball. Without both release binaries (scripts/release/prebuilds.sh) prepack
    // refuses; this one holds only the local build, so it is packed as source-only.
    refused = await run('npm', ['pack', '--dry-run'], stage).then(
      () => 'packed',
      (e: unknown) => (e as Error).message,
    );
    const pack = await run('npm', ['pack', '--json', '--pack-destination', packDir], stage, {
      NFCT_PACK_SOURCE_ONLY: '1',
    });
    const json = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('['))) as { filename: string }[];
    tarball = join(packDir, json[0]!.filename);
    entries = (await run('tar', ['-tzf', tarball], tmp))
      .stdout.split('\n')
      .filter(Boolean)
      .map((e) => e.replace(/^package\//, ''));

    // 4. A fresh project that installs the tarball.
    mkdirSync(consumer);
    await run('npm', ['init', '-y'], consumer);
    install = await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--foreground-scripts',
      tarball], consumer);

    // 5. Load it both ways, in child processes, from the project's directory.
    writeFileSync(
      join(consumer, 'esm.mjs'),
      `import * as mod from '${PKG.name}';
import { Conntrack, NfctError } from '${PKG.name}';
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const cjs = require('${PKG.name}');
const ct = await Conntrack.open();
const opened = ct.closed === false;
ct.close();
console.log(JSON.stringify({
  open: typeof Conntrack.open,
  nfctError: typeof NfctError,
  keys: Object.keys(mod).filter((k) => k !== 'default').sort(),
  sameClassAsRequire: cjs.Conntrack === Conntrack && cjs.NfctError === NfctError,
  resolved: import.meta.resolve('${PKG.name}'),
  opened,
}));
`,
    );
    writeFileSync(
      join(consumer, 'cjs.cjs'),
      `const mod = require('${PKG.name}');
const { join, dirname } = require('node:path');
const root = dirname(require.resolve('${PKG.name}/package.json'));
console.log(JSON.stringify({
  open: typeof mod.Conntrack.open,
  nfctError: typeof mod.NfctError,
  keys: Object.keys(mod).filter((k) => k !== '__esModule').sort(),
  resolved: require.resolve('${PKG.name}'),
  root,
  binary: require('node-gyp-build').path(root),
}));
`,
    );
    esm = JSON.parse((await run(process.execPath, ['esm.mjs'], consumer)).stdout) as Record<string, unknown>;
    cjs = JSON.parse((await run(process.execPath, ['cjs.cjs'], consumer)).stdout) as Record<string, unknown>;
  }, 5 * MINUTES);

  afterAll(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  test('npm run build:prebuild makes a prebuild for this platform, tagged glibc', () => {
    const built = files(join(stage, 'prebuilds', PLATFORM), '.node');
    expect(built).toHaveLength(1);
    expect(built[0]).toMatch(/\.glibc\.node$/);
    expect(statSync(join(stage, 'prebuilds', PLATFORM, built[0]!)).size).toBeGreaterThan(10_000);
  });

  test('npm pack (prepack) refuses without both release binaries unless NFCT_PACK_SOURCE_ONLY=1', () => {
    expect(refused).toMatch(/check-prebuilds: prebuilds\/linux-arm64\/@x\+nfct\.glibc\.node is missing/);
    expect(refused).toMatch(
      /refusing to pack\. Make the binaries first \(as root\): npm run release:prebuilds\. .*NFCT_PACK_SOURCE_ONLY=1/,
    );
    // The source-only tarball was packed (beforeAll), with the one local binary it had.
    expect(entries.filter((e) => e.startsWith('prebuilds/'))).toEqual([
      `prebuilds/${PLATFORM}/${PKG.name.replace('/', '+')}.glibc.node`,
    ]);
  });

  test('npm pack (prepack) builds the CommonJS, ES module and declaration entries', () => {
    for (const f of ['index.js', 'index.mjs', 'index.d.ts', 'index.d.mts']) {
      expect(existsSync(join(stage, 'dist', f)), f).toBe(true);
    }
  });

  test('the licence files and NOTICE are in the tarball', () => {
    for (const f of ['LICENSE', 'LICENSE.GPL-2.0', 'LICENSE.LGPL-2.1', 'NOTICE']) expect(entries, f).toContain(f);
  });

  test('arethetypeswrong finds no problem for node16 (CJS and ESM) and bundlers', async () => {
    const r = await run(process.execPath, [join(ROOT, 'node_modules', '@arethetypeswrong', 'cli', 'dist', 'index.js'),
      tarball, '--profile', 'node16', '--format', 'json'], tmp);
    const report = JSON.parse(r.stdout) as { analysis: { problems: unknown[] } };
    expect(report.analysis.problems).toEqual([]);
  });

  test('the tarball holds the entries, the prebuild and what a fallback compile needs', () => {
    expect(tarball).toMatch(/\.tgz$/);
    for (const f of ['package.json', 'dist/index.js', 'dist/index.mjs', 'dist/index.d.ts', 'dist/index.d.mts',
      'binding.gyp'])
    {
      expect(entries, f).toContain(f);
    }
    expect(entries.filter((e) => new RegExp(`^prebuilds/${PLATFORM}/[^/]+\\.node$`).test(e))).toHaveLength(1);
    expect(entries.filter((e) => /^native\/[^/]+\.cc$/.test(e)).length).toBeGreaterThan(0);
    // Every source binding.gyp names, and every header in the tree's native/, so that
    // `node-gyp rebuild` works from the tarball on a platform without a prebuild.
    const gyp = readFileSync(join(stage, 'binding.gyp'), 'utf8');
    for (const src of gyp.match(/"native\/[^"]+\.cc"/g) ?? []) expect(entries, src).toContain(src.slice(1, -1));
    const headers = (dir: string): string[] =>
      readdirSync(join(stage, dir), { withFileTypes: true }).flatMap((d) =>
        d.isDirectory() ? headers(`${dir}/${d.name}`) : d.name.endsWith('.h') ? [`${dir}/${d.name}`] : []
      );
    for (const h of headers('native')) expect(entries, h).toContain(h);
    // Every file dist/ declares or compiles to.
    for (const f of readdirSync(join(stage, 'dist')).filter((f) => /\.(js|mjs|d\.ts|d\.mts)$/.test(f))) {
      expect(entries, f).toContain(`dist/${f}`);
    }
  });

  test('the tarball leaves out tests, benchmarks and the build tree', () => {
    expect(existsSync(join(stage, 'test')), 'the staging copy has a test/ to leave out').toBe(true);
    const bad = entries.filter((e) => /^(test|bench|build|node_modules|\.git)\//.test(e) || e.endsWith('.tgz'));
    expect(bad).toEqual([]);
  });

  test('installing the tarball uses the prebuild, without compiling', () => {
    const pkgDir = join(consumer, 'node_modules', ...PKG.name.split('/'));
    expect(existsSync(join(pkgDir, 'package.json'))).toBe(true);
    expect(existsSync(join(pkgDir, 'build')), 'node-gyp-build compiled the addon at install time').toBe(false);
    expect(`${install?.stdout}\n${install?.stderr}`).not.toMatch(/gyp info (spawn|ok)|\bg\+\+ |\bc\+\+ /);
    expect(cjs.binary).toBe(
      join(pkgDir, 'prebuilds', PLATFORM, files(join(pkgDir, 'prebuilds', PLATFORM), '.node')[0]!),
    );
  });

  test('import and require both work and export the same names', () => {
    expect(esm.open).toBe('function');
    expect(cjs.open).toBe('function');
    expect(esm.nfctError).toBe('function');
    expect(cjs.nfctError).toBe('function');
    expect(esm.keys).toEqual(cjs.keys);
    expect(esm.keys).toEqual(expect.arrayContaining(['Conntrack', 'NfctError', 'ClosedError', 'Status', 'jsonSafe']));
    // One implementation behind both entries (no dual-package hazard).
    expect(esm.sameClassAsRequire).toBe(true);
    // The addon loaded: a handle opened (in this process's own namespace) and closed.
    expect(esm.opened).toBe(true);
  });

  test("both resolve into the fresh project's node_modules, not the working tree", () => {
    const inProject = join(consumer, 'node_modules', ...PKG.name.split('/')) + '/';
    expect(cjs.resolved).toBe(`${inProject}dist/index.js`);
    expect(fileURLToPath(esm.resolved as string)).toBe(`${inProject}dist/index.mjs`);
    for (const p of [cjs.resolved, fileURLToPath(esm.resolved as string), cjs.binary]) {
      expect(p as string).not.toContain(ROOT + '/');
      expect(p as string).not.toContain(stage);
    }
  });

  test('the declarations type-check for ESM and CommonJS consumers (node16 resolution)', async () => {
    writeFileSync(
      join(consumer, 'check.mts'),
      `import { Conntrack, NfctError, ClosedError, type Flow, type FlowFilter } from '${PKG.name}';
const filter: FlowFilter = { protocol: 'tcp', dstPort: 80 };
export async function main(): Promise<Flow[]> {
  const ct: Conntrack = await Conntrack.open({ netns: 'x' });
  const err: NfctError | ClosedError | undefined = undefined;
  void err;
  return ct.list(filter).toArray();
}
`,
    );
    writeFileSync(
      join(consumer, 'check.cts'),
      `import { Conntrack, type Flow } from '${PKG.name}';
import nfct = require('${PKG.name}');
export async function main(): Promise<Flow | null> {
  const ct: Conntrack = await nfct.Conntrack.open();
  return ct.get({ protocol: 'udp', src: '::1', dst: '::1', srcPort: 1, dstPort: 2 });
}
`,
    );
    await run(
      process.execPath,
      [
        join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'),
        '--noEmit',
        '--strict',
        '--module',
        'node16',
        '--moduleResolution',
        'node16',
        '--target',
        'es2022',
        '--lib',
        'es2022,esnext.disposable',
        '--typeRoots',
        join(ROOT, 'node_modules', '@types'),
        '--types',
        'node',
        'check.mts',
        'check.cts',
      ],
      consumer,
    );
  });
});
