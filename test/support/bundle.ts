// The library as one plain CommonJS file, built from lib/ at test time, for code that cannot go
// through vitest's or vite-node's TypeScript transform: worker_threads scripts and children run
// as another user. Laid out as a package (dist/ beside build/ and node_modules/, both linked to
// the checkout's) so lib/core/native.ts finds the addon the way an installed package does, and
// world-readable so that an unprivileged child can load it.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { build } from 'esbuild';

const ROOT = resolve(__dirname, '..', '..');

export interface LibraryBundle {
  /** A world-readable directory for this bundle and whatever else a test puts there. */
  dir: string;
  /** The bundle: `require(entry)` gives what `@x/nfct` exports. */
  entry: string;
  remove(): void;
}

export async function bundleLibrary(): Promise<LibraryBundle> {
  const dir = mkdtempSync(join(tmpdir(), 'nfct-bundle-'));
  try {
    const pkg = join(dir, 'pkg');
    mkdirSync(join(pkg, 'dist'), { recursive: true });
    symlinkSync(join(ROOT, 'build'), join(pkg, 'build'));
    symlinkSync(join(ROOT, 'node_modules'), join(pkg, 'node_modules'));
    const entry = join(pkg, 'dist', 'index.js');
    writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: '@x/nfct-bundle', private: true }));
    chmodSync(join(pkg, 'package.json'), 0o644);
    await build({
      entryPoints: [join(ROOT, 'lib', 'index.ts')],
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      outfile: entry,
      logLevel: 'silent',
    });
    for (const p of [dir, pkg, join(pkg, 'dist')]) chmodSync(p, 0o755);
    chmodSync(entry, 0o644);
    return { dir, entry, remove: () => rmSync(dir, { recursive: true, force: true }) };
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}
