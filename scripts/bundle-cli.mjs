// Bundles the CLI into one file, dist/cli/nfct.js: dist/cli/main.js (the tsc build) and every
// module it imports, its lazily imported commands included (esbuild turns them into lazily run
// functions of the same file). dist/cli/bin.js, the installed `nfct`, runs it with V8's code
// cache (see lib/cli/bin.ts). The package's dependencies stay outside (node_modules), as does
// the addon, loaded as before. The library entries (dist/index.js, dist/index.mjs) are untouched.
//
// The file is written as bin.js compiles it: one function expression, node's CommonJS wrapper
// around the bundle (its first line in place of the bundle's #! line, so that the lines of a
// stack trace are the file's), and ASCII only, so that bin.js reads it as latin1 (no UTF-8
// decoding) and hands it to V8 as it is (no copy to add the wrapper).
import { build } from 'esbuild';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8'));
const out = `${root}dist/cli/nfct.js`;

const result = await build({
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
  write: false,
});
const WRAPPER = '(function (exports, require, module, __filename, __dirname) {';
const body = result.outputFiles[0].text.replace(/^#!.*/, WRAPPER);
if (!body.startsWith(WRAPPER)) throw new Error('bundle-cli: the bundle does not start with a #! line');
// esbuild's ascii charset leaves the non-ASCII characters of regular expression literals as they
// are; an escape means the same character there, as in strings and identifiers.
const ascii = `${body}\n})\n`.replace(/[^\0-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
rmSync(out, { force: true });
writeFileSync(out, ascii, { mode: 0o644 });
// A cache made from an earlier bundle is refused by its key anyway; removing it saves a read.
rmSync(`${out}.cache`, { force: true });
