#!/usr/bin/env node
// The installed `nfct` command. It starts the CLI from one file, dist/cli/nfct.js (dist/cli/main.js
// and every module it uses, bundled by scripts/bundle-cli.mjs), so that node reads one file
// instead of resolving and reading fifty; and it compiles that file with V8's code cache kept
// beside it (nfct.js.cache), so that a start skips parsing and compiling what an earlier one
// already compiled. Node 22 offers the same cache through module.enableCompileCache(); Node 20
// does not, and vm.Script with cachedData works on both. The cache is written, when missing or
// stale, by a run that may write there (as Python writes __pycache__); it is as trusted as
// nfct.js next to it, since whoever can write one can write the other.
//
// A command line that may count (-C) starts with a second, small bundle, nfct-count.js
// (lib/cli/quick-count.ts: the parser, the writer and the count, an eighth of the whole), which
// runs it, or hands it back untouched when it is another command; then nfct.js runs it.
//
// Without the bundles (a tree built by tsc alone) it runs dist/cli/main.js.
import { closeSync, fstatSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Script } from 'node:vm';

interface Cli {
  /** Runs the process's command line; the count bundle's returns true, or false when it leaves it to the whole CLI. */
  run(): unknown;
}

/** A word that may be -C: alone, among bundled short options, or --counter (or a beginning of it). parse.ts decides. */
const MAY_COUNT = /^-[^-]*C|^--c/;

/** The bundle `name` of this folder, compiled with its code cache; undefined when it is not there. */
function load(name: string): Cli | undefined {
  const file = join(__dirname, name);
  let source: string;
  let key: string;
  try {
    const fd = openSync(file, 'r');
    try {
      const st = fstatSync(fd);
      // ASCII, wrapped as a function already (scripts/bundle-cli.mjs): V8 gets the file as it is.
      source = readFileSync(fd, 'latin1');
      // What the cache was made from: this node (V8 refuses another's cache anyway), this file.
      key = `nfct-v8-cache ${process.version} ${process.arch} ${st.size} ${st.mtimeMs}\n`;
    } finally {
      closeSync(fd);
    }
  } catch {
    return undefined;
  }
  const cacheFile = `${file}.cache`;
  let cachedData: Buffer | undefined;
  try {
    const kept = readFileSync(cacheFile);
    if (kept.toString('latin1', 0, key.length) === key) cachedData = kept.subarray(key.length);
  } catch {
    // no cache yet
  }
  const script = new Script(source, { filename: file, cachedData });
  if (cachedData === undefined || script.cachedDataRejected === true) {
    // At exit the cache holds every function this run compiled, not only the top level.
    process.once('exit', () => {
      const tmp = `${cacheFile}.${process.pid}`;
      try {
        writeFileSync(tmp, Buffer.concat([Buffer.from(key, 'latin1'), script.createCachedData()]), { mode: 0o644 });
        renameSync(tmp, cacheFile);
      } catch {
        // Not ours to write (an install owned by another user): runs go on without a cache.
        try {
          rmSync(tmp, { force: true });
        } catch {
          // nothing was written
        }
      }
    });
  }
  const module = { exports: {} as Cli };
  // This module's own require: it resolves from this folder, the bundle's (createRequire would
  // load node:module, and with it the ES module loader).
  (script.runInThisContext() as (...a: unknown[]) => void).call(module.exports, module.exports, require, module, file,
    __dirname);
  return module.exports;
}

if (!(process.argv.slice(2).some((word) => MAY_COUNT.test(word)) && load('nfct-count.js')?.run() === true)) {
  // Loaded only when the bundle is missing, and at once: an import() would make start async.
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- a lazy, synchronous load
  (load('nfct.js') ?? (require('./main.js') as Cli)).run();
}
