// What `nfct top` and `nfct doctor` read about a node besides the table: which namespaces to
// look at, the netfilter sysctls of each (read inside it), and per-CPU statistics summed.
import { readdirSync, readFileSync } from 'node:fs';

import type { CpuStats } from '../conntrack/types.js';
import { addon } from '../core/native.js';
import { listNamespaces, namespaceLabel, type NetworkNamespace, ownNamespaceLabel } from '../core/netns-discovery.js';
import { findPodNamespace } from '../k8s/node.js';

/** A namespace to look at: a label for people and the path that opens it (null: our own). */
export interface Target {
  label: string;
  path: string | null;
}

/**
 * The namespaces of `--netns NAME`, `--pid PID`, `--all-netns` (every network namespace of the
 * node, as listNamespaces() finds them, labelled as the rest of nfct labels them), or our own.
 */
export async function resolveTargets(
  o: { netns?: string; pid?: number; pod?: string; podLogDir?: string; allNetns?: boolean },
): Promise<Target[]> {
  if (o.allNetns) {
    const all = await listNamespaces({ podLogDir: o.podLogDir });
    // The host's first, then the rest by label.
    const rank = (ns: NetworkNamespace): number => (ns.initial ? 0 : 1);
    return all
      .map((ns) => ({ ns, label: namespaceLabel(ns) }))
      .sort((a, b) => rank(a.ns) - rank(b.ns) || a.label.localeCompare(b.label) || a.ns.inode - b.ns.inode)
      .map(({ ns, label }) => ({ label, path: ns.current ? null : ns.path }));
  }
  if (o.netns !== undefined) {
    return [{ label: o.netns, path: o.netns.startsWith('/') ? o.netns : `/run/netns/${o.netns}` }];
  }
  if (o.pid !== undefined) return [{ label: `pid:${o.pid}`, path: `/proc/${o.pid}/ns/net` }];
  if (o.pod !== undefined) {
    const ns = await findPodNamespace(o.pod, { podLogDir: o.podLogDir });
    return [{ label: o.pod, path: ns.path }];
  }
  return [{ label: await ownNamespaceLabel({ podLogDir: o.podLogDir }), path: null }];
}

const NF = '/proc/sys/net/netfilter';
/** The per-namespace and global settings the commands look at. */
export const SYSCTLS = [
  'nf_conntrack_max',
  'nf_conntrack_buckets',
  'nf_conntrack_count',
  'nf_conntrack_acct',
  'nf_conntrack_events',
  'nf_conntrack_timestamp',
  'nf_log_all_netns',
] as const;

/** Netfilter sysctls of a namespace, by name (`nf_log/2` for the nf_log backend of family 2). */
export type Sysctls = Record<string, string>;

/** The files of the sysctls commands look at. */
export function sysctlPaths(): string[] {
  return [...SYSCTLS.map((s) => `${NF}/${s}`), ...nfLogFiles()];
}

/** Reads the netfilter sysctls inside the namespace (another one by a thread inside it). */
export async function readSysctls(path: string | null): Promise<Sysctls> {
  const files = sysctlPaths();
  if (path === null) {
    const out: Sysctls = {};
    for (const f of files) {
      try {
        out[f.replace(`${NF}/`, '')] = readFileSync(f, 'utf8').trim();
      } catch {
        // not there on this kernel
      }
    }
    return out;
  }
  // Read by a thread inside the namespace (/proc/sys/net shows the reader's): no process each.
  try {
    const [texts] = await addon.readInNamespace(path, files, false);
    return sysctlsOf(files, texts);
  } catch {
    return {};
  }
}

/** The sysctls of the files sysctlPaths() named, from their texts (null: not there). */
export function sysctlsOf(files: readonly string[], texts: readonly (string | null | undefined)[]): Sysctls {
  const out: Sysctls = {};
  files.forEach((f, i) => {
    const t = texts[i];
    if (t !== null && t !== undefined) out[f.replace(`${NF}/`, '')] = t.trim();
  });
  return out;
}

function nfLogFiles(): string[] {
  try {
    return readdirSync(`${NF}/nf_log`).map((f) => `${NF}/nf_log/${f}`);
  } catch {
    return [];
  }
}

/** A number from the sysctls, or undefined. */
export function sysctlNumber(s: Sysctls, name: string): number | undefined {
  const v = s[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
}

/** The counters `nfct top` and `nfct doctor` follow, summed over the CPUs. */
export const WATCHED_STATS = ['drop', 'early_drop', 'insert_failed', 'clash_resolve', 'chaintoolong'] as const;
export type WatchedStat = (typeof WATCHED_STATS)[number];

export function sumStats(rows: readonly CpuStats[]): Record<WatchedStat, number> {
  const out = { drop: 0, early_drop: 0, insert_failed: 0, clash_resolve: 0, chaintoolong: 0 };
  for (const r of rows) for (const k of WATCHED_STATS) out[k] += r[k] ?? 0;
  return out;
}

/** Per-CPU increases between two samples, keeping only CPUs where something rose. */
export function risingPerCpu(before: readonly CpuStats[],
  after: readonly CpuStats[]): ({ cpu: number } & Record<WatchedStat, number>)[]
{
  const prev = new Map(before.map((r) => [r.cpu, r]));
  const out: ({ cpu: number } & Record<WatchedStat, number>)[] = [];
  for (const r of after) {
    const p = prev.get(r.cpu);
    const d = { cpu: r.cpu, drop: 0, early_drop: 0, insert_failed: 0, clash_resolve: 0, chaintoolong: 0 };
    let any = false;
    for (const k of WATCHED_STATS) {
      d[k] = Math.max(0, (r[k] ?? 0) - (p?.[k] ?? 0));
      if (d[k] > 0) any = true;
    }
    if (any) out.push(d);
  }
  return out;
}
