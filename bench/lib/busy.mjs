// Competition for the CPU: busy processes, one per core, each pinned to its core (taskset) and
// bounded in time, that keep every core busy while a receiver works. They run at the same
// nice value as everything else, so the receiver gets its fair share and no more.

import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { addCleanup } from './harness.mjs';

/** --busy: how many busy processes (0: none; "cores": one per core). */
export function busyOption(text) {
  if (text === 'cores') return availableParallelism();
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0 || n > 64) throw new RangeError("--busy must be an integer in 0..64 or 'cores'");
  return n;
}

/**
 * Starts `n` busy loops, each ending by itself after `maxSeconds`; returns stop(), which ends
 * them and resolves once they are gone (also run if the benchmark is interrupted).
 */
export function startBusy(n, maxSeconds = 120) {
  if (n === 0) return async () => {};
  const cores = availableParallelism();
  const loop = `const end = Date.now() + ${Math.round(maxSeconds * 1000)}; let x = 0; while (Date.now() < end) x++;`;
  const children = [];
  for (let i = 0; i < n; i++) {
    const c = spawn('taskset', ['-c', String(i % cores), process.execPath, '-e', loop], { stdio: 'ignore' });
    c.on('error', () => {});
    children.push({ c, gone: new Promise((resolve) => c.once('exit', resolve)) });
  }
  const kill = () => {
    for (const { c } of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  };
  const release = addCleanup(kill);
  return async () => {
    release();
    await Promise.all(children.map((x) => x.gone));
  };
}

/** `fn()` with `n` busy loops running (startBusy) until it has ended, however it ends. */
export async function whileBusy(n, fn) {
  const stop = startBusy(n);
  try {
    return await fn();
  } finally {
    await stop();
  }
}

/** The note a section under contention starts with (none without busy loops). */
export function busyNotes(n) {
  return n > 0
    ? [
      `Under contention: ${n} busy processes (a node loop each, pinned to core 0, 1, ... in turn, nice 0) ran from before each receiver started until it finished.`,
    ]
    : [];
}
