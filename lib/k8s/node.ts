// The pods of a node as its network namespaces: which namespace is which pod, which pod an
// address belongs to, and the namespace of `--pod NAMESPACE/NAME`.
import { NfctError } from '../core/errors.js';
import { listNamespaces, type NetworkNamespace } from '../core/netns-discovery.js';
import { type PodIdentity, podText, readNamespaceAddresses } from '../core/pods.js';
import { describeValue } from '../core/validate.js';

const ENOENT = 2;

/** Who an address belongs to: a pod (or a pod UID whose directory is missing), or a namespace. */
export interface AddressOwner {
  pod?: PodIdentity;
  podUid?: string;
  /** The namespace's label (pod name, ip netns name, pid:N). */
  label: string;
  inode: number;
}

/** `default/coredns-...` for a pod, `pod:<uid>` when only the UID is known, else undefined. */
export function podLabel(ns: Pick<NetworkNamespace, 'podUid'> & { pod?: PodIdentity }): string | undefined {
  if (ns.pod) return podText(ns.pod);
  return ns.podUid ? `pod:${ns.podUid}` : undefined;
}

/** The local addresses of a namespace (through a process in it, else through its path). */
export async function namespaceAddresses(ns: NetworkNamespace): Promise<string[]> {
  const pid = ns.processes[0]?.pid;
  if (pid !== undefined) return readNamespaceAddresses(`/proc/${pid}/net`);
  return [];
}

/** Address -> who holds it, over the given namespaces (the pods of the node, by default all). */
export async function addressOwners(namespaces: readonly (NetworkNamespace & { pod?: PodIdentity })[],
  label: (ns: NetworkNamespace) => string): Promise<Map<string, AddressOwner>>
{
  const out = new Map<string, AddressOwner>();
  await Promise.all(namespaces.map(async (ns) => {
    if (ns.initial) return;
    for (const a of await namespaceAddresses(ns)) {
      const owner: AddressOwner = { label: label(ns), inode: ns.inode };
      if (ns.pod) owner.pod = ns.pod;
      if (ns.podUid) owner.podUid = ns.podUid;
      // A pod's address is its own: a named pod's entry wins over a pod known by UID only, which
      // wins over a namespace of no pod.
      const rank = (o: AddressOwner): number => (o.pod ? 2 : o.podUid ? 1 : 0);
      const prev = out.get(a);
      if (!prev || rank(owner) > rank(prev)) out.set(a, owner);
    }
  }));
  return out;
}

/** Checks `--pod` / `options.pod`: `NAMESPACE/NAME`. */
export function podNameOption(value: unknown, option: string): { namespace: string; name: string } {
  const m = typeof value === 'string' ? /^([a-z0-9][a-z0-9-]*)\/([a-z0-9][a-z0-9.-]*)$/.exec(value) : null;
  if (!m) {
    throw new TypeError(`${option} must be NAMESPACE/NAME (a pod as kubectl names it), got ${describeValue(value)}`);
  }
  return { namespace: m[1]!, name: m[2]! };
}

/** Options of findPodNamespace(). */
export interface FindPodOptions {
  /** Where the kubelet keeps pod logs, whose directory names name the pods (default /var/log/pods). */
  podLogDir?: string;
}

/**
 * The network namespace of a pod of this node, found by its name. NfctError ENOENT when no
 * namespace is that pod (with the pods there are, or why none are seen).
 */
export async function findPodNamespace(pod: string, options: FindPodOptions = {}): Promise<NetworkNamespace & {
  /** Which pod the namespace is (its Kubernetes namespace, name and UID). */
  pod: PodIdentity;
}> {
  const want = podNameOption(pod, 'pod');
  const all = (await listNamespaces({ podLogDir: options.podLogDir })) as (NetworkNamespace & { pod?: PodIdentity })[];
  const hit = all.find((n) => n.pod?.namespace === want.namespace && n.pod.name === want.name);
  if (hit) return hit as NetworkNamespace & { pod: PodIdentity };
  const known = all.filter((n) => n.pod).map((n) => podText(n.pod!)).sort();
  const dir = options.podLogDir ?? '/var/log/pods';
  const why = known.length > 0
    ? `pods on this node: ${known.slice(0, 10).join(', ')}${known.length > 10 ? ', ...' : ''}`
    : `no pod found under ${dir} whose UID a namespace's cgroup names (is ${dir} mounted here?)`;
  throw new NfctError(ENOENT, 'pod lookup', `no network namespace of pod ${pod}: ${why}`);
}
