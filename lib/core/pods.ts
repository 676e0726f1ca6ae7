// Pod identity from the node alone, no API server: the kubelet's pod log directories
// (`/var/log/pods/<namespace>_<name>_<uid>/<container>/`, written by every CRI runtime) give
// the name, Kubernetes namespace and containers of each pod UID, and the cgroup path of a
// namespace's processes gives the UID (lib/core/netns-discovery.ts). The addresses of a namespace
// (from /proc/PID/net) tell which pod an entry's address belongs to.
import { builtin } from './builtins.js';
import { describeValue } from './validate.js';

/** node:fs/promises, loaded on first use (every nfct command loads this module, few read pods). */
const fsp = () => builtin('node:fs/promises');

/** A pod as the node knows it. */
export interface PodIdentity {
  /** The pod's Kubernetes namespace. */
  namespace: string;
  /** The pod's name. */
  name: string;
  /** The pod's UID, as its cgroup path and its log directory name it. */
  uid: string;
  /** Its containers' names, sorted (the directories under its log directory). */
  containers: string[];
}

/** Where the kubelet writes pod logs (a DaemonSet may mount it elsewhere). */
export const DEFAULT_POD_LOG_DIR = '/var/log/pods';

/** `default/coredns-5d78c9869d-x2v7q`. */
export function podText(p: Pick<PodIdentity, 'namespace' | 'name'>): string {
  return `${p.namespace}/${p.name}`;
}

const UID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
// Namespace and pod names are DNS labels and subdomains: no underscore, so the three parts split cleanly.
const DIR = /^([a-z0-9][a-z0-9-]*)_([a-z0-9][a-z0-9.-]*)_([0-9a-f-]{36})$/;

/** Validates a podLogDir option: an absolute path. */
export function podLogDirOption(value: unknown, option: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !value.startsWith('/') || value.includes('\0')) {
    throw new TypeError(`${option} must be an absolute path, got ${describeValue(value)}`);
  }
  return value.replace(/\/+$/, '') || '/';
}

/**
 * The pods of the node, by UID, from the pod log directories under `dir`. A missing directory
 * is no pods (not a kubelet node, or not mounted); entries that are not pod directories are
 * skipped.
 */
export async function readPodLogDirs(dir = DEFAULT_POD_LOG_DIR): Promise<Map<string, PodIdentity>> {
  const out = new Map<string, PodIdentity>();
  let entries: string[];
  try {
    entries = await fsp().readdir(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EACCES') return out;
    throw e;
  }
  await Promise.all(entries.map(async (entry) => {
    const m = DIR.exec(entry);
    if (!m || !UID.test(m[3]!)) return;
    let containers: string[] = [];
    try {
      const list = await fsp().readdir(`${dir}/${entry}`, { withFileTypes: true });
      containers = list.filter((d) => d.isDirectory()).map((d) => d.name).sort();
    } catch {
      // gone meanwhile, or unreadable: the names still stand
    }
    out.set(m[3]!, { namespace: m[1]!, name: m[2]!, uid: m[3]!, containers });
  }));
  return out;
}

/**
 * The local addresses of a network namespace, from a proc directory that shows it
 * (`/proc/PID/net`): IPv4 from fib_trie (host LOCAL entries), IPv6 from if_inet6 (global
 * scope); loopback left out.
 */
export async function readNamespaceAddresses(procNetDir: string): Promise<string[]> {
  const [trie, inet6] = await Promise.all([
    fsp().readFile(`${procNetDir}/fib_trie`, 'utf8').catch(() => ''),
    fsp().readFile(`${procNetDir}/if_inet6`, 'utf8').catch(() => ''),
  ]);
  return [...parseFibTrie(trie), ...parseIfInet6(inet6)];
}

/** The host LOCAL addresses of a fib_trie text, loopback left out, each once. */
export function parseFibTrie(text: string): string[] {
  const out = new Set<string>();
  let last: string | undefined;
  for (const line of text.split('\n')) {
    const leaf = /^\s*\|-- (\S+)/.exec(line);
    if (leaf) {
      last = leaf[1];
      continue;
    }
    if (last && /^\s*\/32 host LOCAL/.test(line) && !last.startsWith('127.')) out.add(last);
  }
  return [...out];
}

/** The global addresses of an if_inet6 text, in their usual short form. */
export function parseIfInet6(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 6 || f[0]!.length !== 32 || f[3] !== '00') continue;
    const groups = f[0]!.match(/.{4}/g)!.map((g) => parseInt(g, 16).toString(16));
    out.push(shortIpv6(groups));
  }
  return out;
}

function shortIpv6(groups: string[]): string {
  // The longest run of zero groups (two or more) becomes '::'.
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < groups.length;) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < groups.length && groups[j] === '0') j++;
    if (j - i > bestLen && j - i >= 2) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}
