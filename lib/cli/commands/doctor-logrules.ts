// nfct doctor: the rules of a namespace that write to the kernel log (LOG, nft `log` without
// `group`, legacy TRACE), counted from `nft list ruleset` and `iptables-legacy-save` run inside
// it. A tool is run only where its tables exist, so a namespace without rules costs no process.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

import type { NamespaceReport } from './doctor-checks.js';

const run = promisify(execFile);

/** The files saying which legacy iptables tables a namespace has (read inside it). */
export const LEGACY_TABLE_FILES = ['/proc/net/ip_tables_names', '/proc/net/ip6_tables_names'] as const;

/** Runs a command inside the namespace (nsenter for another one); its stdout, '' when it fails. */
async function runIn(path: string | null, cmd: string, args: string[]): Promise<string> {
  try {
    const [c, a] = path === null ? [cmd, args] : ['nsenter', [`--net=${path}`, '--', cmd, ...args]];
    return (await run(c, a, { maxBuffer: 64 << 20 })).stdout;
  } catch {
    return ''; // not installed, or nothing to list
  }
}

/**
 * Rules that write to the kernel log: nft `log` statements without `group` (iptables-nft -j LOG
 * is one), iptables-legacy / ip6tables-legacy -j LOG, and legacy -j TRACE rules. `seen` says
 * what the namespace holds where it is known (its nf_tables tables, the texts of
 * LEGACY_TABLE_FILES): a tool is not run for tables that do not exist.
 */
export async function countLogRules(
  path: string | null,
  seen: { nftTables?: readonly string[] | Error | null; legacyTables?: readonly (string | null)[] } = {},
): Promise<NonNullable<NamespaceReport['logRules']>> {
  const noNft = Array.isArray(seen.nftTables) && seen.nftTables.length === 0;
  const legacy = seen.legacyTables;
  const has = (i: number): boolean => legacy === undefined || (legacy[i] ?? '').trim() !== '';
  const [ruleset, v4, v6] = await Promise.all([
    noNft ? '' : runIn(path, 'nft', ['list', 'ruleset']),
    has(0) ? runIn(path, 'iptables-legacy-save', []) : '',
    has(1) ? runIn(path, 'ip6tables-legacy-save', []) : '',
  ]);
  let nft = 0;
  for (const line of ruleset.split('\n')) {
    const bare = line.replace(/"(?:[^"\\]|\\.)*"/g, '""');
    if (/(?:^|\s)log(?:\s|$)/.test(bare) && !/(?:^|\s)log(?:\s+\S+)*?\s+group\s/.test(bare)) nft++;
  }
  let legacyLog = 0;
  let trace = 0;
  for (const line of `${v4}\n${v6}`.split('\n')) {
    if (!line.startsWith('-A ')) continue;
    if (/\s-j LOG(?:\s|$)/.test(line)) legacyLog++;
    else if (/\s-j TRACE(?:\s|$)/.test(line)) trace++;
  }
  return { nft, legacy: legacyLog, trace };
}
