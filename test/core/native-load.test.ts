// When the native addon cannot load: importing the package, the CLI's --help and --version and
// the pure helpers still work, and the first call that needs the addon throws a NativeLoadError
// naming what is missing. The failing addon is real: a shared object that needs a library which
// is not there (NFCT_ADDON points the package at it), so the message is the dynamic loader's own.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { loadError, NativeLoadError } from '../../lib/core/load-error.js';
import { execNfct } from '../helpers/nfct.js';

const ROOT = resolve(__dirname, '..', '..');
let dir = '';
let broken = '';

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'nfct-load-'));
  writeFileSync(join(dir, 'gone.c'), 'int nfct_gone(void) { return 1; }\n');
  writeFileSync(join(dir, 'addon.c'), 'int nfct_gone(void);\nint call(void) { return nfct_gone(); }\n');
  execFileSync('cc', ['-shared', '-fPIC', '-o', join(dir, 'libnfctgone.so.7'), '-Wl,-soname,libnfctgone.so.7',
    join(dir, 'gone.c')]);
  broken = join(dir, 'broken.node');
  execFileSync('cc', ['-shared', '-fPIC', '-o', broken, join(dir, 'addon.c'), join(dir, 'libnfctgone.so.7')]);
  rmSync(join(dir, 'libnfctgone.so.7'));
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A script importing the package, with the broken addon. */
const run = (script: string) =>
  spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, NFCT_ADDON: broken },
  });
/** nfct with the broken addon. */
const cli = (args: string[]) => execNfct(args, { cwd: ROOT, env: { ...process.env, NFCT_ADDON: broken } });

describe('an addon that cannot load', () => {
  test('nfct --version and --help work; a command says what is missing and exits 1', async () => {
    const version = await cli(['--version']);
    expect(version.code).toBe(0);
    expect(version.stdout).toMatch(/^nfct v\d+\.\d+\.\d+ \(conntrack-tools compatible\)\n$/);
    const help = await cli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('-L');
    const list = await cli(['-L']);
    expect(list.code).toBe(1);
    expect(list.stderr).toContain(
      'the native addon could not be loaded: the shared library libnfctgone.so.7 is missing',
    );
  });

  test('import works, the pure helpers work, Conntrack.open() rejects with NativeLoadError', () => {
    const r = run(`
      import { Conntrack, decodePacket, parseLogLine, formatLogLine, NativeLoadError } from '@x/nfct';
      const udp = Buffer.from('4500001c000040004011f8b80a0000010a0000021388003500080000', 'hex');
      const p = decodePacket(udp, 'ipv4');
      const line = parseLogLine('IN=eth0 OUT= SRC=10.0.0.1 DST=10.0.0.2 LEN=28 PROTO=UDP SPT=5000 DPT=53 LEN=8');
      let err;
      try { await Conntrack.open(); } catch (e) { err = e; }
      console.log(JSON.stringify({ src: p.ipv4.src, dport: p.udp.dstPort, parsed: line.src ?? line.fields?.SRC ?? null,
        format: typeof formatLogLine, isLoadError: err instanceof NativeLoadError, code: err?.code, library: err?.library }));
    `);
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({
      src: '10.0.0.1',
      dport: 53,
      parsed: '10.0.0.1',
      format: 'function',
      isLoadError: true,
      code: 'ERR_NFCT_NATIVE_LOAD',
      library: 'libnfctgone.so.7',
    });
  });
});

describe('loadError() names the package for each library the addon links', () => {
  // The dynamic loader's words, as glibc prints them.
  const dlopen = (lib: string) => new Error(`${lib}: cannot open shared object file: No such file or directory`);

  test.each([
    ['libnetfilter_conntrack.so.3', 'libnetfilter-conntrack3', 'libnetfilter_conntrack'],
    ['libnetfilter_log.so.1', 'libnetfilter-log1', 'libnetfilter_log'],
    ['libmnl.so.0', 'libmnl0', 'libmnl'],
    ['libnfnetlink.so.0', 'libnfnetlink0', 'libnfnetlink'],
  ])('%s', (lib, debian, rpm) => {
    const e = loadError(dlopen(lib));
    expect(e).toBeInstanceOf(NativeLoadError);
    expect(e.library).toBe(lib);
    expect(e.message).toContain(`Debian/Ubuntu \`${debian}\``);
    expect(e.message).toContain(`Fedora/RHEL \`${rpm}\``);
    expect(e.message).toContain(`Alpine \`${rpm}\``);
  });

  test('a C library too old, and no prebuilt binary for the platform: how to compile it', () => {
    const old = loadError(
      new Error("/lib/x86_64-linux-gnu/libc.so.6: version `GLIBC_2.33' not found (required by nfct.node)"),
    );
    expect(old.message).toContain('it needs GLIBC_2.33');
    expect(old.message).toContain('libnetfilter-conntrack-dev');
    const musl = loadError(
      new Error(
        'No native build was found for platform=linux arch=x64 runtime=node abi=115 uv=1 libc=musl node=20.20.2',
      ),
    );
    expect(musl.message).toContain('no prebuilt binary fits this system');
    expect(musl.message).toContain('apk add build-base');
    expect(musl.message).toContain('npm rebuild @x/nfct');
  });
});
