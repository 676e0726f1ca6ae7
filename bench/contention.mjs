// Events under CPU contention: bursts in a row with a busy process on every core, each burst
// kept whole or not, for `nfct -E > file`, `nfct -E --json > file` and `nfct log --json > file`,
// beside C receivers with large buffers in the same run. It runs bench/conntrack-events.mjs and
// bench/nflog.mjs with --busy; each writes its own section of bench/RESULTS.md.
//
//   node bench/contention.mjs [--runs 10] [--busy cores]
//
// Needs root (as those two).

import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { busyOption } from './lib/busy.mjs';
import { BENCH_DIR } from './lib/harness.mjs';

const { values: opts } = parseArgs({
  options: {
    runs: { type: 'string', default: '10' },
    busy: { type: 'string', default: 'cores' },
  },
});
const runs = Number(opts.runs);
if (!Number.isInteger(runs) || runs < 1) throw new RangeError('--runs must be a positive integer');
const busy = busyOption(opts.busy);
if (busy < 1) throw new RangeError('--busy must be at least 1 here');

const common = ['--repeat', String(runs), '--busy', String(busy), '--rate', '0', '--drain', ''];
const jobs = [
  // 200,000 entries made and deleted: the 400,000-event burst; the C receiver with 512 MiB.
  ['conntrack-events.mjs', ...common, '--entries', '200000', '--receivers', 'nfct-cli,nfct-json,c-large',
    '--large-buffer', String(512 << 20)],
  ['nflog.mjs', ...common, '--packets', '400000', '--receivers', 'nfct-log-json,c-tuned'],
];

let failed = 0;
for (const [file, ...args] of jobs) {
  const code = await new Promise((resolve) => {
    const child = spawn(process.execPath, [join(BENCH_DIR, file), ...args], { stdio: 'inherit' });
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => child.kill(sig));
    child.on('close', (c, signal) => resolve(c ?? (signal ? 128 : 1)));
  });
  if (code !== 0) failed++;
}
process.exit(failed ? 1 : 0);
