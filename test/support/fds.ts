// What this process holds: open file descriptors by kind, threads, memory. For the lifecycle
// tests, which check that handles and streams give back everything they took.
import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

export interface FdCounts {
  total: number;
  socket: number;
  eventfd: number;
  /** Network namespace files (the nsfd a handle keeps). */
  netns: number;
  pipe: number;
  other: number;
}

/** Counts /proc/self/fd by kind. */
export function fdCounts(): FdCounts {
  const c: FdCounts = { total: 0, socket: 0, eventfd: 0, netns: 0, pipe: 0, other: 0 };
  for (const fd of readdirSync('/proc/self/fd')) {
    let target: string;
    try {
      target = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue; // the directory's own fd, or closed while listing
    }
    c.total++;
    if (target.startsWith('socket:')) c.socket++;
    else if (target === 'anon_inode:[eventfd]') c.eventfd++;
    else if (target.startsWith('/run/netns/') || target.startsWith('net:[')) c.netns++;
    else if (target.startsWith('pipe:')) c.pipe++;
    else c.other++;
  }
  return c;
}

/** The fds of this process that refer to the file with this inode (a namespace, say). */
export function fdsOnInode(ino: number): string[] {
  const out: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (statSync(`/proc/self/fd/${fd}`).ino === ino) out.push(fd);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Threads of this process (/proc/self/task). */
export function threadCount(): number {
  return readdirSync('/proc/self/task').length;
}

/** Virtual memory size in bytes (grows by a stack for each thread that was never joined). */
export function vmSize(): number {
  const m = /VmSize:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

const gc = (globalThis as { gc?: () => void }).gc;

/** Whether the process runs with --expose-gc (vitest.config does). */
export const hasGc = typeof gc === 'function';

/** Full garbage collections with turns of the event loop between them, so finalizers run. */
export async function collectGarbage(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    gc?.();
    await sleep(10);
  }
}

/**
 * Polls until `probe()` equals `want` (things are released on other threads a moment after
 * the call that releases them returns), at most `ms`; returns the last value seen.
 */
export async function settleTo<T>(probe: () => T, want: T, ms = 2000): Promise<T> {
  const deadline = Date.now() + ms;
  let v = probe();
  while (JSON.stringify(v) !== JSON.stringify(want) && Date.now() < deadline) {
    await sleep(10);
    v = probe();
  }
  return v;
}
