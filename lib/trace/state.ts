// Kernel state that TRACE changes in a namespace, and how it is put back however the process
// ends: the temporary `inet nfct_trace_<pid>_<n>` tables (removed when their stream ends, at
// process exit, and, when a process died without either, by the next Trace use in that
// namespace), and the nf_log backend binding (counted per namespace: the backend found by the
// first holder is put back when the last one lets go, or at process exit).
import { Sequence } from '../core/concurrency.js';
import { processAlive, restoreAtExit } from '../core/exit.js';
import { addon } from '../core/native.js';
import { inNamespace, runCommand, runCommandSync } from './commands.js';

export const TABLE_PREFIX = 'nfct_trace_';
const STALE = /^table inet (nfct_trace_(\d+)_\d+)$/gm;
const NF_LOG_FAMILIES = [2, 10] as const;

/** Temporary tables in place now (or being installed): name -> namespace path. */
const tables = new Map<string, string | null>();

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
      const [cmd, args] = inNamespace(ns, 'sh', ['-c', 'printf %s "$1" > "$2"', 'sh', b.previous![i]!, `/proc/sys/net/netfilter/nf_log/${pf}`]);
      runCommandSync(cmd, args);
    });
  }
  bindings.clear();
}

/**
 * The temporary tables in the namespace (null: this process's) whose process no longer exists
 * (it was killed before it could clean up).
 */
export async function findStaleTables(ns: string | null): Promise<string[]> {
  const [cmd, args] = inNamespace(ns, 'nft', ['list', 'tables', 'inet']);
  const listing = await runCommand(cmd, args, undefined, 'listing trace tables');
  return [...listing.matchAll(STALE)].filter((m) => Number(m[2]) !== process.pid && !processAlive(Number(m[2]))).map((m) => m[1]!);
}

/** Removes the stale tables findStaleTables() finds. Resolves the names removed. */
export async function removeStaleTables(ns: string | null): Promise<string[]> {
  const stale = await findStaleTables(ns);
  await Promise.all(stale.map((name) => {
    const [c, a] = inNamespace(ns, 'nft', ['delete', 'table', 'inet', name]);
    return runCommand(c, a, undefined, `removing the stale trace table ${name}`).catch(() => undefined);
  }));
  return stale;
}

/** Installs a temporary table from an nft script; it is registered first, so exit removes it even mid-install. */
export async function installTable(ns: string | null, name: string, script: string): Promise<void> {
  hookExit();
  tables.set(name, ns);
  const [cmd, args] = inNamespace(ns, 'nft', ['-f', '-']);
  try {
    await runCommand(cmd, args, script, 'installing the trace rule');
  } catch (e) {
    tables.delete(name);
    throw e;
  }
}

/** Removes a temporary table installed by installTable (idempotent). */
export async function removeTable(name: string): Promise<void> {
  if (!tables.has(name)) return;
  const ns = tables.get(name)!;
  const [cmd, args] = inNamespace(ns, 'nft', ['delete', 'table', 'inet', name]);
  await runCommand(cmd, args, undefined, 'removing the trace rule').catch(() => undefined);
  tables.delete(name);
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
