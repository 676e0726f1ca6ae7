// Bundles the CLI into one file, dist/cli/nfct.js: dist/cli/main.js (the tsc build) and every
// module it imports, its lazily imported commands included (esbuild turns them into lazily run
// functions of the same file). dist/cli/bin.js, the installed `nfct`, runs it with V8's code
// cache (see lib/cli/bin.ts). The package's dependencies stay outside (node_modules), as does
// the addon, loaded as before. The library entries (dist/index.js, dist/index.mjs) are untouched.
import { build } from 'esbuild';
import { readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8'));
const out = `${root}dist/cli/nfct.js`;

await build({
  entryPoints: [`${root}dist/cli/main.js`],
  outfile: out,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: `node${pkg.engines.node.replace(/[^0-9.]/g, '')}`,
  external: Object.keys(pkg.dependencies ?? {}),
  // import() of what stays outside becomes require(): the bundle then needs no ES module loader
  // (vm.Script, which runs it, has none of its own before Node 21).
  supported: { 'dynamic-import': false },
  charset: 'ascii',
  legalComments: 'none',
  logLevel: 'warning',
});
// A cache made from an earlier bundle is refused by its key anyway; removing it saves a read.
rmSync(`${out}.cache`, { force: true });
