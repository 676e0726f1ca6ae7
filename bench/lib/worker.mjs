// Pieces shared by the workers: the receiving workers' (bench/workers/events.mjs,
// bench/workers/nflog.mjs) command line, the clock of a run (first and last counted item, the
// end of a --pause) and the quiet-period timer that ends it; every worker's positional
// arguments, its memory figures (/proc/self/status) and the JSON line it prints.
import { readFileSync, readSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';

/**
 * A worker's command line: `required` positionals (the first must not be empty), --pause,
 * --quiet-ms (default `quietMs`), --max-seconds (default 60) and the worker's own `options`
 * (node:util parseArgs). Prints "usage: USAGE" and exits with 2 when positionals are missing.
 * Returns { opt, positionals, quietMs, maxMs }.
 */
export function workerArgs({ usage, required = 1, quietMs, options = {} }) {
  const { values: opt, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      pause: { type: 'boolean', default: false },
      ...options,
      'quiet-ms': { type: 'string', default: String(quietMs) },
      'max-seconds': { type: 'string', default: '60' },
    },
  });
  if (!positionals[0] || positionals.length < required) {
    process.stderr.write(`usage: ${usage}\n`);
    process.exit(2);
  }
  return { opt, positionals, quietMs: Number(opt['quiet-ms']), maxMs: Number(opt['max-seconds']) * 1000 };
}

/**
 * A worker's positional arguments (process.argv after the script): prints "usage: USAGE" and
 * exits with 2 unless the first `required` are there and not empty.
 */
export function positionalArgs(usage, required) {
  const args = process.argv.slice(2);
  if (args.length < required || args.slice(0, required).some((a) => !a)) {
    process.stderr.write(`usage: ${usage}\n`);
    process.exit(2);
  }
  return args;
}

/**
 * Blocks the JS thread until a line arrives on stdin (the harness's "go"); a busy retry if the
 * pipe is non-blocking: the thread stays blocked either way.
 */
export function blockUntilLine() {
  const buf = Buffer.alloc(64);
  for (;;) {
    let n;
    try {
      n = readSync(0, buf, 0, buf.length, null);
    } catch (e) {
      if (e.code === 'EAGAIN') continue;
      throw e;
    }
    if (n === 0 || buf.subarray(0, n).includes(10)) return;
  }
}

/**
 * The clock of one run over `stream`: counts items (count()), says "ready" once (ready(): on
 * the first probe, then blocks until "go" with `pause`), and closes the stream once items came
 * and none for `quietMs`, or after `maxMs` in all. A blocked event loop (--pause) runs no
 * timers, so the timer cannot fire then. stop() ends the timer; times() gives the result's
 * seconds (first to last item), lastEpochMs and drainSeconds (end of the pause to the last item).
 */
export class RunClock {
  constructor(stream, { quietMs, maxMs, pause = false }) {
    this.received = 0;
    this.first = 0;
    this.last = 0;
    this.go = NaN;
    this.isReady = false;
    this.pause = pause;
    const start = performance.now();
    this.timer = setInterval(() => {
      const now = performance.now();
      if ((this.received > 0 && now - this.last >= quietMs) || now - start >= maxMs) stream.close();
    }, 100);
  }

  /** Counts an item; true for the first one. */
  count() {
    this.last = performance.now();
    if (this.received++ === 0) {
      this.first = this.last;
      return true;
    }
    return false;
  }

  ready() {
    if (this.isReady) return;
    this.isReady = true;
    process.stdout.write('ready\n');
    if (this.pause) {
      blockUntilLine();
      this.go = performance.now();
    }
  }

  stop() {
    clearInterval(this.timer);
  }

  times() {
    const { received, first, last, go } = this;
    return {
      seconds: received ? (last - first) / 1000 : 0,
      lastEpochMs: received ? Date.now() - (performance.now() - last) : null,
      drainSeconds: Number.isFinite(go) && received ? (last - go) / 1000 : null,
    };
  }
}

/** A line of /proc/self/status in kB (VmHWM: peak RSS, VmRSS: now); 0 when absent. */
export function statusKb(field) {
  const m = new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) : 0;
}

/** The worker's result: one JSON line on stdout (the harness reads the last line). */
export function printResult(result) {
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
