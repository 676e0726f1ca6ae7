// scripts/check-prebuilds.mjs (prepack): refuses to pack without both release binaries and
// their bundled libraries, each for its own machine; NFCT_PACK_SOURCE_ONLY=1 lets it through.
// Run on a copy of the script in a folder of its own with ELF headers made here.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, expect, test } from 'vitest';

const SCRIPT = join(__dirname, '..', '..', 'scripts', 'check-prebuilds.mjs');
const FILES = ['@x+nfct.glibc.node', 'libnetfilter_conntrack.so.3', 'libnetfilter_log.so.1', 'libnfnetlink.so.0',
  'libmnl.so.0'];
let dir = '';

/** The first 20 bytes of a 64-bit little-endian ELF shared object for `machine`. */
const elf = (machine: number): Buffer => {
  const b = Buffer.alloc(64);
  b.writeUInt32BE(0x7f454c46, 0);
  b[4] = 2;
  b[5] = 1;
  b.writeUInt16LE(3, 16);
  b.writeUInt16LE(machine, 18);
  return b;
};

function release(machines: Record<string, number> = { 'linux-x64': 62, 'linux-arm64': 183 }): void {
  for (const [platform, machine] of Object.entries(machines)) {
    mkdirSync(join(dir, 'prebuilds', platform), { recursive: true });
    for (const f of FILES) writeFileSync(join(dir, 'prebuilds', platform, f), elf(machine));
  }
  mkdirSync(join(dir, 'prebuilds', 'sources'), { recursive: true });
  writeFileSync(join(dir, 'prebuilds', 'sources', 'libmnl_1.0.4-3.dsc'), 'Format: 3.0 (quilt)\n');
}

const check = (env: Record<string, string> = {}) => {
  const r = spawnSync(process.execPath, [join(dir, 'scripts', 'check-prebuilds.mjs')], { encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', ...env } });
  return { status: r.status, stderr: r.stderr };
};

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'nfct-check-prebuilds-'));
  mkdirSync(join(dir, 'scripts'));
  copyFileSync(SCRIPT, join(dir, 'scripts', 'check-prebuilds.mjs'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

test('refuses an empty prebuilds/, naming each missing file and both ways out', () => {
  const r = check();
  expect(r.status).toBe(1);
  for (const platform of ['linux-x64', 'linux-arm64']) {
    for (const f of FILES) expect(r.stderr).toContain(`prebuilds/${platform}/${f} is missing`);
  }
  expect(r.stderr).toContain('npm run release:prebuilds');
  expect(r.stderr).toContain('NFCT_PACK_SOURCE_ONLY=1');
});

test('NFCT_PACK_SOURCE_ONLY=1 packs without them, and says so', () => {
  const r = check({ NFCT_PACK_SOURCE_ONLY: '1' });
  expect(r.status).toBe(0);
  expect(r.stderr).toMatch(/NFCT_PACK_SOURCE_ONLY=1: packing without the release binaries/);
});

test('passes both binaries with their libraries and sources', () => {
  release();
  const r = check();
  expect(r.stderr).toBe('check-prebuilds: linux-x64 and linux-arm64 binaries, each with 4 bundled libraries\n');
  expect(r.status).toBe(0);
});

test('refuses a file built for the other machine, a missing library, a file that is not ELF, no sources', () => {
  release({ 'linux-x64': 62, 'linux-arm64': 62 });
  expect(check().stderr).toContain('prebuilds/linux-arm64/@x+nfct.glibc.node: ELF machine 62, not 183');
  release();
  rmSync(join(dir, 'prebuilds', 'linux-x64', 'libmnl.so.0'));
  writeFileSync(join(dir, 'prebuilds', 'linux-arm64', 'libmnl.so.0'), 'INPUT(libmnl.so.0.2.0)\n');
  rmSync(join(dir, 'prebuilds', 'sources'), { recursive: true });
  const r = check();
  expect(r.status).toBe(1);
  expect(r.stderr).toContain('prebuilds/linux-x64/libmnl.so.0 is missing');
  expect(r.stderr).toContain('prebuilds/linux-arm64/libmnl.so.0: not an ELF file');
  expect(r.stderr).toContain('prebuilds/sources/ holds no .dsc');
});
