// Bundles the CLI into one file, dist/cli/nfct.js: dist/cli/main.js (the tsc build) and every
// module it imports, its lazily imported commands included (esbuild turns them into lazily run
// functions of the same file); and the command lines that count (-C) into a small one,
// dist/cli/nfct-count.js (dist/cli/quick-count.js and what it imports). dist/cli/bin.js, the
// installed `nfct`, runs them with V8's code cache (see lib/cli/bin.ts). The package's dependencies stay outside (node_modules), as does
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

/**
 * Writes the bundle of `entry` (a module of dist/cli/) to dist/cli/NAME.
 */
async function bundle(entry, name) {
  const out = `${root}dist/cli/${name}`;
  const result = await build({
    entryPoints: [`${root}dist/cli/${entry}`],
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
  // In place of the entry's #! line, or before the first line of an entry without one (the count
  // bundle's): the lines of the file stay the bundle's.
  const text = result.outputFiles[0].text;
  const body = text.startsWith('#!') ? text.replace(/^#!.*/, WRAPPER) : `${WRAPPER}${text}`;
  // esbuild's ascii charset leaves the non-ASCII characters of regular expression literals as they
  // are; an escape means the same character there, as in strings and identifiers.
  const ascii = `${body}\n})\n`.replace(/[^\0-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  rmSync(out, { force: true });
  writeFileSync(out, ascii, { mode: 0o644 });
  // A cache made from an earlier bundle is refused by its key anyway; removing it saves a read.
  rmSync(`${out}.cache`, { force: true });
}

// The whole CLI, and the command lines that count (lib/cli/quick-count.ts; see lib/cli/bin.ts).
await bundle('main.js', 'nfct.js');
await bundle('quick-count.js', 'nfct-count.js');
