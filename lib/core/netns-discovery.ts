// Discovery of every network namespace on the node: the names `ip netns` gives under /run/netns
// and the namespace of every process, one entry per namespace, with what names it to a person.
import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';

import { type PodIdentity, podLogDirOption, podText, readPodLogDirs } from './pods.js';
import { assertKnownKeys, assertObject, boolean, describeValue } from './validate.js';

/** A process inside a network namespace. */
export interface NamespaceProcess {
  /** The process's id, in the namespace this library runs in. */
  pid: number;
  /** The command name (`/proc/PID/comm`), when the process was still there to read it. */
  comm?: string;
  /** The container the process runs in, when its cgroup path names one (64 hex digits). */
  containerId?: string;
}

/** One network namespace of the node. */
export interface NetworkNamespace {
  /** The namespace's inode number (as `lsns -t net` and `ip netns identify` know it). */
  inode: number;
  /** A path that opens it: its first name under /run/netns, else /proc/PID/ns/net of its first process. */
  path: string;
  /** Its names under /run/netns (`ip netns list`), sorted; empty when it has none. */
  names: string[];
  /** The processes in it, by pid; empty when none (or `processes: false`). */
  processes: NamespaceProcess[];
  /** The distinct container ids of its processes, sorted. */
  containerIds: string[];
  /** The Kubernetes pod UID, when a process's cgroup path names one. */
  podUid?: string;
  /** The pod, when its UID has a directory under the pod log directory (see `podLogDir`). */
  pod?: PodIdentity;
  /** True for the namespace of pid 1 (the host's, seen from the host's pid namespace). */
  initial: boolean;
  /** True for the namespace this process runs in. */
  current: boolean;
}

/** What listNamespaces() reads, and where. */
export interface ListNamespacesOptions {
  /** Walk /proc for processes and their namespaces (default true). False: /run/netns names only. */
  processes?: boolean;
  /** Where named namespaces live (default '/run/netns'). */
  netnsDir?: string;
  /** The proc filesystem to read (default '/proc'). */
  procDir?: string;
  /**
   * Where the kubelet's pod log directories are (`<namespace>_<name>_<uid>/<container>/`),
   * which name the pod of each pod UID (default '/var/log/pods'; a DaemonSet may mount it
   * elsewhere). `false`: pods stay UIDs.
   */
  podLogDir?: string | false;
}

const NS_LINK = /^net:\[(\d+)\]$/;
// cgroup path pieces that name a container: docker-<id>.scope, cri-containerd-<id>.scope,
// crio-<id>.scope, libpod-<id>.scope, or a bare <id> directory (cgroupfs driver).
const CONTAINER = /(?:^|[/-])([0-9a-f]{64})(?:\.scope)?(?=$|\/)/;
// kubepods.slice/kubepods-burstable-pod<uid with _>.slice (systemd) or kubepods/burstable/pod<uid> (cgroupfs).
const POD = /pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})(?:\.slice)?(?=$|\/)/;

/** The container id and pod UID a `/proc/PID/cgroup` text names, where it names them. */
export function parseCgroup(text: string): {
  /** The container's id (64 hex digits), when a path names one. */
  containerId?: string;
  /** The pod's UID, when a path names a kubelet pod slice. */
  podUid?: string;
} {
  let containerId: string | undefined;
  let podUid: string | undefined;
  for (const line of text.split('\n')) {
    const path = line.slice(line.indexOf(':', line.indexOf(':') + 1) + 1);
    if (!path) continue;
    containerId ??= CONTAINER.exec(path)?.[1];
    podUid ??= POD.exec(path)?.[1]?.replaceAll('_', '-');
  }
  const out: { containerId?: string; podUid?: string } = {};
  if (containerId !== undefined) out.containerId = containerId;
  if (podUid !== undefined) out.podUid = podUid;
  return out;
}

/** The error codes of something that vanished (or was never readable) while we looked. */
function gone(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ESRCH' || code === 'EACCES' || code === 'EPERM' || code === 'EINVAL' ||
    code === 'ENOTDIR';
}

function readOrUndefined(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    if (gone(e)) return undefined;
    throw e;
  }
}

interface Found {
  names: string[];
  pids: number[];
}

/**
 * Lists the node's network namespaces: every name under /run/netns that is a namespace (a
 * leftover file that is no longer a mount of one is left out) and the namespace of every
 * process, one entry per namespace inode, sorted with the initial namespace first, then the
 * caller's, then by inode. Processes and namespaces that vanish while being read are skipped, not errors; so are
 * processes whose namespace this process may not read (without CAP_SYS_PTRACE, other users'
 * processes).
 */
export async function listNamespaces(options: ListNamespacesOptions = {}): Promise<NetworkNamespace[]> {
  const raw: unknown = options;
  assertObject(raw, 'listNamespaces() options');
  assertKnownKeys(raw, ['processes', 'netnsDir', 'procDir', 'podLogDir'], 'listNamespaces() options');
  const withProcesses = boolean(options.processes, 'listNamespaces() options.processes') ?? true;
  const netnsDir = absolute(options.netnsDir, 'netnsDir') ?? '/run/netns';
  const procDir = absolute(options.procDir, 'procDir') ?? '/proc';
  const podLogDir = options.podLogDir === false
    ? false
    : (podLogDirOption(options.podLogDir, 'listNamespaces() options.podLogDir') ?? '/var/log/pods');
  const pods = podLogDir === false || !withProcesses ? new Map<string, PodIdentity>() : await readPodLogDirs(podLogDir);

  // The reads below are synchronous: give the event loop its turn first, so that a caller
  // polling in a loop does not starve timers and I/O.
  await new Promise<void>((resolve) => setImmediate(resolve));
  const found = new Map<number, Found>();
  const entry = (inode: number): Found => {
    let f = found.get(inode);
    if (!f) found.set(inode, f = { names: [], pids: [] });
    return f;
  };

  // /proc and nsfs answer from memory: synchronous reads cost a few microseconds each, where a
  // trip through libuv's thread pool per file costs far more.
  // Every namespace file lives on the one nsfs device: a name on another device is a leftover.
  const self = statSync(`${procDir}/self/ns/net`);
  const nsfsDev = self.dev;
  let names: string[] = [];
  try {
    names = readdirSync(netnsDir);
  } catch (e) {
    if (!gone(e)) throw e;
  }
  for (const name of names) {
    try {
      const st = statSync(`${netnsDir}/${name}`);
      if (st.dev === nsfsDev) entry(st.ino).names.push(name);
    } catch (e) {
      if (!gone(e)) throw e;
    }
  }

  let initial: number | undefined;
  const initialLink = (): string | undefined => {
    try {
      return readlinkSync(`${procDir}/1/ns/net`);
    } catch (e) {
      if (gone(e)) return undefined;
      throw e;
    }
  };
  if (withProcesses) {
    for (const dir of readdirSync(procDir)) {
      if (!/^\d+$/.test(dir)) continue;
      let link: string;
      try {
        link = readlinkSync(`${procDir}/${dir}/ns/net`);
      } catch (e) {
        if (gone(e)) continue;
        throw e;
      }
      const m = NS_LINK.exec(link);
      if (!m) continue;
      const pid = Number(dir);
      const inode = Number(m[1]);
      if (pid === 1) initial = inode;
      entry(inode).pids.push(pid);
    }
  } else {
    const m = NS_LINK.exec(initialLink() ?? '');
    if (m) initial = Number(m[1]);
  }

  const result: NetworkNamespace[] = [];
  for (const [inode, f] of found) {
    f.names.sort();
    f.pids.sort((a, b) => a - b);
    const processes: NamespaceProcess[] = [];
    const containers = new Set<string>();
    let podUid: string | undefined;
    for (const pid of f.pids) {
      const commText = readOrUndefined(`${procDir}/${pid}/comm`);
      const cgroupText = readOrUndefined(`${procDir}/${pid}/cgroup`);
      const p: NamespaceProcess = { pid };
      if (commText !== undefined) p.comm = commText.trimEnd();
      if (cgroupText !== undefined) {
        const c = parseCgroup(cgroupText);
        if (c.containerId) {
          p.containerId = c.containerId;
          containers.add(c.containerId);
        }
        podUid ??= c.podUid;
      }
      processes.push(p);
    }
    const ns: NetworkNamespace = {
      inode,
      path: f.names.length > 0 ? `${netnsDir}/${f.names[0]}` : `${procDir}/${f.pids[0]}/ns/net`,
      names: f.names,
      processes,
      containerIds: [...containers].sort(),
      initial: inode === initial,
      current: inode === self.ino,
    };
    if (podUid !== undefined) ns.podUid = podUid;
    const pod = podUid !== undefined ? pods.get(podUid) : undefined;
    if (pod) ns.pod = pod;
    result.push(ns);
  }
  return result.sort((a, b) =>
    Number(b.initial) - Number(a.initial) || Number(b.current) - Number(a.current) || a.inode - b.inode
  );
}

function absolute(value: unknown, key: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !value.startsWith('/') || value.includes('\0')) {
    throw new TypeError(`listNamespaces() options.${key} must be an absolute path, got ${describeValue(value)}`);
  }
  return value.replace(/\/+$/, '') || '/';
}

/**
 * A short label for a namespace, as the CLI and the exporter print it: its pod
 * (`default/coredns-5d78c9869d-x2v7q`), else `pod:<uid>` for a pod whose log directory is
 * missing, else its first `ip netns` name, `host` for the initial one, `pid:<first pid>`; all of
 * them unique per namespace only together with the inode.
 */
export function namespaceLabel(ns: NetworkNamespace): string {
  if (ns.pod) return podText(ns.pod);
  if (ns.podUid) return `pod:${ns.podUid}`;
  if (ns.names.length > 0) return ns.names[0]!;
  if (ns.initial) return 'host';
  const first = ns.processes[0];
  return first ? `pid:${first.pid}` : `inode:${ns.inode}`;
}

/**
 * The inode number the kernel gives the initial network namespace (PROC_NET_INIT_INO,
 * 0xEFFFFFF9, fixed since Linux 3.8): whether a namespace is the host's, told without reading
 * /proc/1 (which a sandbox may refuse).
 */
export const INITIAL_NETNS_INODE = 0xeffffff9;

export function isInitialNetns(inode: number): boolean {
  return inode === INITIAL_NETNS_INODE;
}

/**
 * The label of the caller's own network namespace, as namespaceLabel() would give it: `host`
 * for the initial one, its `ip netns` name (found by comparing inodes with /run/netns/*, so
 * that `ip netns exec NAME nfct ...` says NAME), its pod, else `inode:N`.
 */
export async function ownNamespaceLabel(
  options: Pick<ListNamespacesOptions, 'podLogDir' | 'netnsDir' | 'procDir'> = {},
): Promise<string> {
  const all = await listNamespaces({ ...options, processes: false });
  const own = all.find((n) => n.current);
  if (!own) return 'host';
  if (own.initial) return 'host';
  if (own.names.length > 0) return own.names[0]!;
  const procDir = options.procDir ?? '/proc';
  const uid = parseCgroup(readOrUndefined(`${procDir}/self/cgroup`) ?? '').podUid;
  if (uid !== undefined) {
    const dir = options.podLogDir === false ? undefined : (options.podLogDir ?? '/var/log/pods');
    const pod = dir === undefined ? undefined : (await readPodLogDirs(dir)).get(uid);
    return pod ? podText(pod) : `pod:${uid}`;
  }
  return `inode:${own.inode}`;
}
