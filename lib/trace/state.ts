// Kernel state that TRACE changes in a namespace, and how it is put back however the process
// ends: the temporary `inet nfct_trace_<pid>_<token>_<n>` tables (removed when their stream
// ends, at process exit, and, when a process died without either, by the next Trace use in
// that namespace), and the nf_log backend binding (counted per namespace: the backend found by
// the first holder is put back when the last one lets go, or at process exit).
//
// Whose a table is: while a process has tables in a namespace it holds the abstract unix
// socket name `nfct_trace/<pid>_<token>` in that namespace (native/owner_lock.cc), and its
// tables are named after it. The kernel frees the name when the process ends, however it ends;
// any other process, in any PID namespace, judges a table by trying that name. A pid alone
// says nothing across PID namespaces (a tracer in a container) or once pids are reused. A
// table named otherwise (an older nfct named tables after the pid alone) cannot be judged and
// is never removed automatically.
import { closeSync, statSync } from 'node:fs';

import { builtin } from '../core/builtins.js';
import { Sequence } from '../core/concurrency.js';
import { callSite, withCallSite } from '../core/errors.js';
import { restoreAtExit } from '../core/exit.js';
import { addon } from '../core/native.js';
import { inNamespace, runCommand, runCommandSync } from './commands.js';

export const TABLE_PREFIX = 'nfct_trace_';
const NF_LOG_FAMILIES = [2, 10] as const;

/** This process's owner token: its pid (for people) and 8 random hex digits (unique across PID namespaces). */
let processToken: string | undefined;
/** This process's token, made on first use (see core/builtins.ts). */
function ownToken(): string {
  return (processToken ??= `${process.pid}_${builtin('node:crypto').randomBytes(4).toString('hex')}`);
}
/** The abstract socket name that says the owner of token `t` lives. */
const lockName = (t: string): string => `nfct_trace/${t}`;
/** Tables this process makes: `nfct_trace_<pid>_<token>_<n>`. */
const OWNED = /^nfct_trace_(\d+_[0-9a-f]{8})_\d+$/;
let tableCount = 0;

/** The abstract socket name (without its leading NUL) whose holder owns the table, for a table named after its owner. */
export function tableOwnerName(table: string): string | undefined {
  const token = OWNED.exec(table)?.[1];
  return token === undefined ? undefined : lockName(token);
}

/** The name of a new temporary table of this process (unique in every namespace). */
export function newTableName(): string {
  return `${TABLE_PREFIX}${ownToken()}_${tableCount++}`;
}

/**
 * The owner locks this process holds, per namespace identity: the socket's fd once bound, and
 * how many of its tables are there.
 */
const locks = new Map<string, { fd: Promise<number>; tables: number }>();

/** A namespace's identity (the same namespace reached by different paths is one). */
function namespaceKey(ns: string | null): string {
  const st = statSync(ns ?? `/proc/${process.pid}/ns/net`);
  return `${st.dev}:${st.ino}`;
}

/**
 * Binds this process's owner name in the namespace. Another process judging one of our tables
 * binds the name for an instant when we hold none: then we try again.
 */
async function bindOwner(ns: string | null): Promise<number> {
  for (let attempt = 0;; attempt++) {
    try {
      return await addon.ownerLock(ns, lockName(ownToken()), true);
    } catch (e) {
      if ((e as { code?: string }).code !== 'EADDRINUSE' || attempt >= 50) throw e;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

/** Holds this process's owner name in the namespace for one more table. */
async function holdOwner(ns: string | null): Promise<string> {
  const key = namespaceKey(ns);
  let lock = locks.get(key);
  if (!lock) {
    lock = { fd: bindOwner(ns), tables: 0 };
    locks.set(key, lock);
    lock.fd.catch(() => {
      if (locks.get(key) === lock) locks.delete(key);
    });
  }
  lock.tables++;
  try {
    await lock.fd;
  } catch (e) {
    lock.tables--;
    throw e;
  }
  return key;
}

/** One table fewer in that namespace: the last one lets the owner name go. */
function releaseOwner(key: string): void {
  const lock = locks.get(key);
  if (!lock || --lock.tables > 0) return;
  locks.delete(key);
  void lock.fd.then((fd) => closeSync(fd), () => undefined);
}

/** Temporary tables in place now (or being installed): name -> namespace path. */
const tables = new Map<string, string | null>();
/** The owner lock each table holds: name -> namespace identity. */
const tableLocks = new Map<string, string>();

/** Bindings held by this process: namespace identity -> state. */
interface Binding {
  /** Each holder and its own path to the namespace. */
  holders: Map<object, string>;
  /** The backends found before binding, per family; undefined while not yet read. */
  previous: string[] | undefined;
  /** Operations on this namespace's binding, one after the other. */
  chain: Sequence;
}
const bindings = new Map<string, Binding>();

// At exit the commands run to completion one by one ('exit' handlers must be synchronous).
const hookExit = restoreAtExit(restoreAllSync);

/** What process exit does: removes every temporary table, puts back every bound backend. */
function restoreAllSync(): void {
  for (const [name, ns] of tables) {
    const [cmd, args] = inNamespace(ns, 'nft', ['delete', 'table', 'inet', name]);
    runCommandSync(cmd, args);
  }
  tables.clear();
  for (const b of bindings.values()) {
    const ns = [...b.holders.values()][0];
    if (!ns || !b.previous) continue;
    NF_LOG_FAMILIES.forEach((pf, i) => {
      const [cmd, args] = inNamespace(ns, 'sh', ['-c', 'printf %s "$1" > "$2"', 'sh', b.previous![i]!,
        `/proc/sys/net/netfilter/nf_log/${pf}`]);
      runCommandSync(cmd, args);
    });
  }
  bindings.clear();
}

/** A temporary trace table found in a namespace, and whether its owner lives. */
export interface TraceTable {
  name: string;
  /**
   * 'alive': its owner holds its name (this process, or another anywhere); 'dead': its owner
   * has ended and the table was left behind; 'unknown': not named after an owner (an older
   * nfct), so whether its process lives cannot be told.
   */
  owner: 'alive' | 'dead' | 'unknown';
  /** The owner's pid as it named the table (in its own PID namespace). */
  pid?: number;
}

/**
 * The names of the temporary trace tables among a namespace's nf_tables tables, as
 * readInNamespace() lists them (`family name`); the error that kept them from being listed is
 * thrown.
 */
export function traceTableNames(tables: readonly string[] | Error | null, ns: string | null): string[] {
  if (tables instanceof Error) {
    throw withCallSite(tables, callSite(traceTableNames), `listing trace tables${ns ? ` in ${ns}` : ''}`);
  }
  return (tables ?? []).filter((t) => t.startsWith(`inet ${TABLE_PREFIX}`)).map((t) => t.slice(5));
}

/** Every temporary trace table in the namespace (null: this process's), each judged. */
export async function traceTables(ns: string | null): Promise<TraceTable[]> {
  // Listed over netlink by a thread inside the namespace: no nft process.
  const [, tables] = await addon.readInNamespace(ns, [], true);
  return judgeTables(ns, traceTableNames(tables, ns));
}

/** Judges the named temporary trace tables of the namespace: whether each one's owner lives. */
export function judgeTables(ns: string | null, names: readonly string[]): Promise<TraceTable[]> {
  return Promise.all(names.map(async (name): Promise<TraceTable> => {
    const token = OWNED.exec(name)?.[1];
    const pid = /^nfct_trace_(\d+)_/.exec(name)?.[1];
    const base = { name, ...(pid ? { pid: Number(pid) } : {}) };
    if (!token) return { ...base, owner: 'unknown' };
    if (token === ownToken()) return { ...base, owner: 'alive' };
    const held = await addon.ownerLock(ns, lockName(token), false);
    return { ...base, owner: held ? 'alive' : 'dead' };
  }));
}

/** The temporary tables in the namespace whose owner has ended (it was killed before it could clean up). */
export async function findStaleTables(ns: string | null): Promise<string[]> {
  return (await traceTables(ns)).filter((t) => t.owner === 'dead').map((t) => t.name);
}

/** Removes the stale tables findStaleTables() finds (never one whose owner lives or cannot be judged). Resolves the names removed. */
export async function removeStaleTables(ns: string | null): Promise<string[]> {
  const stale = await findStaleTables(ns);
  await Promise.all(stale.map((name) => {
    const [c, a] = inNamespace(ns, 'nft', ['delete', 'table', 'inet', name]);
    return runCommand(c, a, undefined, `removing the stale trace table ${name}`).catch(() => undefined);
  }));
  return stale;
}

/**
 * Installs a temporary table (named by newTableName()) from an nft script, with this process's
 * owner name held in the namespace first; the table is registered first, so exit removes it
 * even mid-install.
 */
export async function installTable(ns: string | null, name: string, script: string): Promise<void> {
  hookExit();
  tables.set(name, ns);
  try {
    tableLocks.set(name, await holdOwner(ns));
    const [cmd, args] = inNamespace(ns, 'nft', ['-f', '-']);
    await runCommand(cmd, args, script, 'installing the trace rule');
  } catch (e) {
    tables.delete(name);
    const key = tableLocks.get(name);
    tableLocks.delete(name);
    if (key) releaseOwner(key);
    throw e;
  }
}

/** Removes a temporary table installed by installTable (idempotent); its owner name goes with the last one. */
export async function removeTable(name: string): Promise<void> {
  if (!tables.has(name)) return;
  const ns = tables.get(name)!;
  const [cmd, args] = inNamespace(ns, 'nft', ['delete', 'table', 'inet', name]);
  await runCommand(cmd, args, undefined, 'removing the trace rule').catch(() => undefined);
  tables.delete(name);
  const key = tableLocks.get(name);
  tableLocks.delete(name);
  if (key) releaseOwner(key);
}

/**
 * Points the namespace's ipv4/ipv6 nf_log backends at nfnetlink_log for one more holder.
 * `key` identifies the namespace (the same namespace reached by different paths is one
 * key), `ns` is the holder's own path to it. Resolves the release function: the last
 * holder's release puts back the backends the first holder found.
 */
export async function holdLogger(key: string, ns: string): Promise<() => Promise<void>> {
  hookExit();
  let b = bindings.get(key);
  if (!b) {
    b = { holders: new Map(), previous: undefined, chain: new Sequence() };
    bindings.set(key, b);
  }
  const binding = b;
  const step = <T>(fn: () => Promise<T>): Promise<T> => binding.chain.run(fn);
  const holder = {};
  await step(async () => {
    if (binding.holders.size === 0) {
      binding.previous = await Promise.all(NF_LOG_FAMILIES.map((pf) => addon.nfLogBackend(ns, pf, 'nfnetlink_log')));
    }
    binding.holders.set(holder, ns);
  });
  let released = false;
  return () => {
    if (released) return Promise.resolve();
    released = true;
    // The entry stays in the map: a holder arriving meanwhile queues behind this restore.
    return step(async () => {
      binding.holders.delete(holder);
      if (binding.holders.size > 0) return;
      const previous = binding.previous;
      binding.previous = undefined;
      if (previous) await Promise.all(NF_LOG_FAMILIES.map((pf, i) => addon.nfLogBackend(ns, pf, previous[i]!)));
    });
  };
}
