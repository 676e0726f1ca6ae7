// The per-namespace sysctls flow records need: net.netfilter.nf_conntrack_acct (packet and byte
// counters) and nf_conntrack_timestamp (start and stop times). Both are read when a flow stream
// starts; with `sysctls: 'enable'` those that are 0 are set to 1 and put back when the last holder
// lets go: the last stream of this process (close, or process exit) and, across processes, the
// last live process holding them (holder files under /run/nfct/flow-sysctls/).
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';

import { Sequence } from '../core/concurrency.js';
import { NfctError } from '../core/errors.js';
import { processAlive, restoreAtExit } from '../core/exit.js';
import { inNamespace, runCommand, runCommandSync } from '../trace/commands.js';

/** The sysctls flow records depend on, and what is missing without them. */
export const FLOW_SYSCTLS = {
  /** Counts packets and bytes per entry. */
  nf_conntrack_acct: 'packet and byte counters',
  /** Stamps each entry's start and stop. */
  nf_conntrack_timestamp: 'start times (and the kernel stop time)',
} as const;
/** A sysctl flow records depend on (under /proc/sys/net/netfilter/). */
export type FlowSysctl = keyof typeof FLOW_SYSCTLS;
const NAMES = Object.keys(FLOW_SYSCTLS) as FlowSysctl[];

const REGISTRY = '/run/nfct/flow-sysctls';

function file(name: FlowSysctl): string {
  return `/proc/sys/net/netfilter/${name}`;
}

/** The namespace's inode (the caller's own for null). */
export function namespaceInode(path: string | null): number {
  return statSync(path ?? '/proc/self/ns/net').ino;
}

async function readValue(ns: string | null, name: FlowSysctl): Promise<string> {
  if (ns === null) return readFileSync(file(name), 'utf8').trim();
  const [cmd, args] = inNamespace(ns, 'cat', [file(name)]);
  return (await runCommand(cmd, args, undefined, `reading ${name}`)).trim();
}

async function writeValue(ns: string | null, name: FlowSysctl, value: string): Promise<void> {
  if (ns === null) {
    try {
      writeFileSync(file(name), value);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw new NfctError(Math.abs(err.errno ?? 1), 'write', `${file(name)} = ${value}`, `setting ${name}`);
    }
    return;
  }
  const [cmd, args] = inNamespace(ns, 'sh', ['-c', 'printf %s "$1" > "$2"', 'sh', value, file(name)]);
  await runCommand(cmd, args, undefined, `setting ${name}`);
}

function writeValueSync(ns: string | null, name: FlowSysctl, value: string): void {
  if (ns === null) {
    try {
      writeFileSync(file(name), value);
    } catch {
      // nothing more can be done at exit
    }
    return;
  }
  const [cmd, args] = inNamespace(ns, 'sh', ['-c', 'printf %s "$1" > "$2"', 'sh', value, file(name)]);
  runCommandSync(cmd, args);
}

/** The registry directory of one sysctl of one namespace. */
function dirOf(inode: number, name: FlowSysctl): string {
  return `${REGISTRY}/${inode}.${name}`;
}

/** Live holders other than this process (dead ones' files are removed on the way). */
function otherHolders(dir: string): number {
  let n = 0;
  let entries: string[] = [];
  try {
    entries = readdirSync(dir);
  } catch {
    return 0;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    if (processAlive(Number(e))) n++;
    else rmSync(`${dir}/${e}`, { force: true });
  }
  return n;
}

/** What this process holds, by namespace inode. */
interface Held {
  ns: string | null;
  /** Streams of this process holding them. */
  count: number;
  /** The sysctls this process registered as a holder of. */
  names: FlowSysctl[];
  /** Its changes, one at a time. */
  chain: Sequence;
}
const held = new Map<number, Held>();

const hookExit = restoreAtExit(() => {
  for (const [inode, h] of held) for (const name of h.names) releaseSync(inode, h.ns, name);
  held.clear();
});

/** Drops this process's holder file; the last live holder puts the value back. */
function releaseSync(inode: number, ns: string | null, name: FlowSysctl): void {
  const dir = dirOf(inode, name);
  rmSync(`${dir}/${process.pid}`, { force: true });
  if (otherHolders(dir) > 0) return;
  let original: string | undefined;
  try {
    original = readFileSync(`${dir}/original`, 'utf8');
  } catch {
    original = undefined;
  }
  if (original !== undefined) writeValueSync(ns, name, original);
  rmSync(dir, { recursive: true, force: true });
}

/** What a flow stream found (and did) in its namespace. */
export interface SysctlState {
  /** The sysctls that are off (and stay off): what the records lack because of each. */
  missing: FlowSysctl[];
  /** The sysctls this stream turned on (put back when the last holder lets go). */
  enabled: FlowSysctl[];
  /** Lets go of what was enabled (idempotent). */
  release(): Promise<void>;
}

/**
 * Reads the flow sysctls of a namespace; with `enable`, turns on those that are off and holds
 * them. Errors (no privilege to write) are NfctError naming the sysctl.
 */
export async function holdFlowSysctls(ns: string | null, enable: boolean): Promise<SysctlState> {
  const inode = namespaceInode(ns);
  const values = await Promise.all(NAMES.map((n) => readValue(ns, n)));
  const off = NAMES.filter((_, i) => values[i] === '0');
  let h = held.get(inode);
  if (!enable || (off.length === 0 && !h)) return { missing: off, enabled: [], release: async () => undefined };
  hookExit();
  if (!h) {
    h = { ns, count: 0, names: [], chain: new Sequence() };
    held.set(inode, h);
  }
  const holder = h;
  const step = <T>(fn: () => Promise<T>): Promise<T> => holder.chain.run(fn);
  const enabled: FlowSysctl[] = [];
  await step(async () => {
    for (const name of NAMES) {
      const dir = dirOf(inode, name);
      const value = await readValue(ns, name);
      const ours = holder.names.includes(name);
      if (value !== '0' && !ours) {
        // On already: by the administrator (nothing to hold), or by another process of ours.
        try {
          statSync(`${dir}/original`);
        } catch {
          continue;
        }
      }
      if (!ours) {
        mkdirSync(dir, { recursive: true });
        if (value === '0') {
          try {
            writeFileSync(`${dir}/original`, value, { flag: 'wx' });
          } catch {
            // another process recorded it first
          }
          await writeValue(ns, name, '1');
        }
        writeFileSync(`${dir}/${process.pid}`, '');
        holder.names.push(name);
      }
      if (value === '0') enabled.push(name);
    }
    holder.count++;
  });
  let released = false;
  return {
    missing: [],
    enabled,
    release: () => {
      if (released) return Promise.resolve();
      released = true;
      return step(async () => {
        holder.count--;
        if (holder.count > 0) return;
        held.delete(inode);
        for (const name of holder.names) releaseSync(inode, ns, name);
        holder.names = [];
      });
    },
  };
}
