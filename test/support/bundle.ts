// The library as one plain CommonJS file, built from lib/ at test time, for code that cannot go
// through vitest's or vite-node's TypeScript transform: worker_threads scripts and children run
// as another user. Laid out as a package (dist/ beside build/Release/nfct.node and
// node_modules/node-gyp-build, both copied in) so lib/core/native.ts finds the addon the way an
// installed package does. Self-contained and world-readable: an unprivileged child loads it
// whatever the checkout's permissions (a checkout under /root is mode 700).
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { build } from 'esbuild';

const ROOT = resolve(__dirname, '..', '..');

export interface LibraryBundle {
  /** A world-readable directory for this bundle and whatever else a test puts there. */
  dir: string;
  /** The bundle: `require(entry)` gives what `@x/nfct` exports. */
  entry: string;
  /** With bundleLibrary({ cli: true }): the `nfct` command, bundled the same way. */
  cli?: string;
  remove(): void;
}

/** Directories 0755, files 0644 (0755 when executable), all the way down. */
function worldReadable(path: string): void {
  const st = statSync(path);
  if (st.isDirectory()) {
    chmodSync(path, 0o755);
    for (const name of readdirSync(path)) worldReadable(join(path, name));
  } else {
    chmodSync(path, st.mode & 0o111 ? 0o755 : 0o644);
  }
}

export async function bundleLibrary(options: { cli?: boolean } = {}): Promise<LibraryBundle> {
  const dir = mkdtempSync(join(tmpdir(), 'nfct-bundle-'));
  try {
    const pkg = join(dir, 'pkg');
    mkdirSync(join(pkg, 'dist'), { recursive: true });
    mkdirSync(join(pkg, 'build', 'Release'), { recursive: true });
    cpSync(join(ROOT, 'build', 'Release', 'nfct.node'), join(pkg, 'build', 'Release', 'nfct.node'));
    cpSync(join(ROOT, 'node_modules', 'node-gyp-build'), join(pkg, 'node_modules', 'node-gyp-build'), { recursive: true,
      dereference: true });
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
    const cli = options.cli ? join(pkg, 'dist', 'cli', 'main.js') : undefined;
    if (cli) {
      await build({ entryPoints: [join(ROOT, 'lib', 'cli', 'main.ts')], bundle: true, platform: 'node', format: 'cjs',
        target: 'node20', outfile: cli, logLevel: 'silent' });
    }
    worldReadable(dir);
    return { dir, entry, cli, remove: () => rmSync(dir, { recursive: true, force: true }) };
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}
