// Runs every benchmark in bench/*.mjs (this file excepted) in sequence, each
// in its own node process. `npm run bench` is `node bench/index.mjs`.
//
//   node bench/index.mjs [FILTER]     FILTER: substring of the file name
//   node bench/index.mjs --list
//
// Each benchmark writes its own section of bench/RESULTS.md.

import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = dirname(fileURLToPath(import.meta.url));
const self = basename(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const all = readdirSync(dir)
  .filter((f) => f.endsWith('.mjs') && f !== self)
  .sort();

if (args.includes('--list')) {
  process.stdout.write(`${all.join('\n')}\n`);
  process.exit(0);
}
const filter = args.find((a) => !a.startsWith('-'));
const chosen = filter ? all.filter((f) => f.includes(filter)) : all;
if (chosen.length === 0) {
  process.stderr.write(`no benchmark matches "${filter}" (have: ${all.join(', ')})\n`);
  process.exit(2);
}

// A terminal ^C reaches the benchmark too (same process group); let it clean
// up its netns and exit, then stop here.
let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    interrupted = true;
  });
}

function run(file) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(dir, file)], { stdio: 'inherit' });
    for (const sig of ['SIGTERM', 'SIGHUP']) process.on(sig, () => child.kill(sig));
    child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

let failed = 0;
for (const file of chosen) {
  process.stderr.write(`\n=== ${file} ===\n`);
  const t0 = process.hrtime.bigint();
  const code = await run(file);
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  process.stderr.write(`=== ${file}: ${code === 0 ? 'ok' : `FAILED (exit ${code})`} in ${secs.toFixed(1)} s ===\n`);
  if (code !== 0) failed++;
  if (interrupted) break;
}
process.exit(interrupted ? 130 : failed ? 1 : 0);
