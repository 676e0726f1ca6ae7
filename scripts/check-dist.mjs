// Run by `npm pack` (prepack) after the build: refuses to pack a dist/ that is incomplete or
// holds files no source in lib/ compiles to (left from an older layout).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = join(root, 'dist');
const problems = [];

const walk = (dir) =>
  readdirSync(dir, { withFileTypes: true }).flatMap((
    d,
  ) => (d.isDirectory() ? walk(join(dir, d.name)) : [join(dir, d.name)]));

for (
  const f of ['index.js', 'index.mjs', 'index.d.ts', 'index.d.mts', 'cli/main.js', 'cli/bin.js', 'cli/nfct.js',
    'cli/nfct-count.js']
) {
  if (!existsSync(join(dist, f))) problems.push(`dist/${f} is missing`);
}
for (const f of ['cli/main.js', 'cli/bin.js']) {
  if (existsSync(join(dist, f)) && !readFileSync(join(dist, f), 'utf8').startsWith('#!/usr/bin/env node')) {
    problems.push(`dist/${f} has no #!/usr/bin/env node line`);
  }
}
// Made by scripts/write-esm-entry.mjs and scripts/bundle-cli.mjs (the CLI bundles, their V8 code caches).
const entries = new Set(['index.mjs', 'index.d.mts', 'cli/nfct.js', 'cli/nfct.js.cache', 'cli/nfct-count.js',
  'cli/nfct-count.js.cache']);
for (const file of existsSync(dist) ? walk(dist) : []) {
  const rel = relative(dist, file);
  if (entries.has(rel)) continue;
  const source = join(root, 'lib', rel.replace(/\.d\.ts$|\.js$/, '.ts'));
  if (!existsSync(source)) {
    problems.push(`dist/${rel}: no lib/ source compiles to it (stale; remove dist/ and build again)`);
  }
}
if (existsSync(join(dist, 'index.js')) && existsSync(join(dist, 'index.mjs'))) {
  const { createRequire } = await import('node:module');
  const cjs = Object.keys(createRequire(import.meta.url)(join(dist, 'index.js'))).filter((k) => k !== '__esModule');
  const esm = Object.keys(await import(join(dist, 'index.mjs'))).filter((k) => k !== 'default');
  const missing = cjs.filter((k) => !esm.includes(k));
  if (missing.length) problems.push(`dist/index.mjs lacks ${missing.join(', ')}`);
}
if (problems.length) {
  for (const p of problems) console.error(`check-dist: ${p}`);
  process.exit(1);
}
console.error(`check-dist: dist/ is complete (${walk(dist).length} files)`);
