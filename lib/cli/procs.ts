// Which process holds a socket: a netlink socket by its port id (conntrack -E's [USERSPACE]
// origin) or by its inode (nfct doctor and nfct trace naming an NFLOG group's listener), an
// abstract unix socket by its name (the owner of a trace table).
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

import { addon } from '../core/native.js';

/**
 * Reads files inside the namespace (null: our own) by a thread there, no process each:
 * `/proc/net/...` is read as the thread's own (`/proc/thread-self/net/...`). '' for a file
 * that cannot be read, or when the namespace cannot be entered.
 */
export async function readManyIn(path: string | null, files: readonly string[]): Promise<string[]> {
  try {
    const [texts] = await addon.readInNamespace(path, files.map(threadNet), false);
    return files.map((_, i) => texts[i] ?? '');
  } catch {
    return files.map(() => '');
  }
}

/** `/proc/net/X` as the reading thread's namespace shows it. */
export const threadNet = (file: string): string => file.replace(/^\/proc\/net\//, '/proc/thread-self/net/');

/** Reads a file inside the namespace; '' when it cannot be read. */
export async function readIn(path: string | null, file: string): Promise<string> {
  return (await readManyIn(path, [file]))[0]!;
}

/** A process's command name, while it lives. */
export function comm(pid: string | number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.indexOf('(') + 1, stat.indexOf(')'));
  } catch {
    return undefined;
  }
}

const pids = (): string[] => readdirSync('/proc').filter((d) => /^\d+$/.test(d));

/** The process with the socket of this inode open, if it can be seen. */
export function socketOwner(inode: string): { pid: number; comm?: string } | undefined {
  for (const pid of pids()) {
    try {
      for (const fd of readdirSync(`/proc/${pid}/fd`)) {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`) === `socket:[${inode}]`) {
          const name = comm(pid);
          return name === undefined ? { pid: Number(pid) } : { pid: Number(pid), comm: name };
        }
      }
    } catch {
      // gone, or not ours to read
    }
  }
  return undefined;
}

/** Netlink sockets of a /proc/net/netlink text: protocol, port id and inode of each. */
export function netlinkSockets(text: string): { protocol: number; portid: number; inode: string }[] {
  const out: { protocol: number; portid: number; inode: string }[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 10) out.push({ protocol: Number(f[1]), portid: Number(f[2]), inode: f[9]! });
  }
  return out;
}

/** The name of the process holding the netlink socket with this port id (any namespace). */
export function ownerOf(portid: number): string | undefined {
  let inode: string | undefined;
  for (const pid of pids()) {
    try {
      inode = netlinkSockets(readFileSync(`/proc/${pid}/net/netlink`, 'utf8')).find((s) => s.portid === portid)?.inode;
    } catch {
      // gone, or not ours to read
    }
    if (inode) break;
  }
  return inode ? socketOwner(inode)?.comm : undefined;
}

/** The files nflogGroupsOf() reads. */
export const NFLOG_FILES = ['/proc/net/netfilter/nfnetlink_log', '/proc/net/netlink'] as const;

/** NFLOG groups bound in the namespace (/proc/net/netfilter/nfnetlink_log) and who holds each. */
export async function nflogGroups(
  path: string | null,
): Promise<{ group: number; portid: number; pid?: number; comm?: string }[]> {
  const [groups, sockets] = await readManyIn(path, NFLOG_FILES);
  return nflogGroupsOf(groups!, sockets!);
}

/** NFLOG groups and their holders from the texts of NFLOG_FILES. */
export function nflogGroupsOf(groups: string,
  sockets: string): { group: number; portid: number; pid?: number; comm?: string }[]
{
  const socks = netlinkSockets(sockets).filter((s) => s.protocol === 12);
  const out: { group: number; portid: number; pid?: number; comm?: string }[] = [];
  for (const line of groups.split('\n')) {
    const f = line.trim().split(/\s+/).map(Number);
    if (f.length < 2 || !Number.isInteger(f[0]) || !Number.isInteger(f[1])) continue;
    const [group, portid] = [f[0]!, f[1]!];
    const inode = socks.find((s) => s.portid === portid)?.inode;
    const owner = inode ? socketOwner(inode) : undefined;
    out.push({ group, portid, ...(owner ?? {}) });
  }
  return out;
}

/** The process holding an abstract unix socket name (without its leading NUL) in the namespace, if it can be seen. */
export async function abstractSocketOwner(path: string | null,
  name: string): Promise<{ pid: number; comm?: string } | undefined>
{
  const text = await readIn(path, '/proc/net/unix');
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 8 && f[7] === `@${name}`) return socketOwner(f[6]!);
  }
  return undefined;
}

/**
 * A process as an operator knows it: `nfct log` for nfct (whatever node runs it), else its
 * command name (`tcpdump`, `ulogd`).
 */
export function processName(pid: number, comm?: string): string | undefined {
  let argv: string[] = [];
  try {
    argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return comm;
  }
  // nfct as installed (`nfct log`), or node running one of its entry points (`node
  // .../cli/bin.js log`: the installed command's file; cli/main.js: the unbundled one).
  const at = argv.findIndex((a, i) =>
    (i === 0 && /(^|\/)nfct$/.test(a)) || (i > 0 && /(^|\/)(nfct|cli\/(bin|main|nfct)\.js)$/.test(a))
  );
  if (at >= 0) {
    const sub = argv[at + 1];
    return sub !== undefined && /^[a-z]+$/.test(sub) ? `nfct ${sub}` : 'nfct';
  }
  return comm;
}

/** Who holds NFLOG group `group` in the namespace: `pid 4242 (nfct log)`, or its netlink port. */
export async function groupHolder(path: string | null, group: number): Promise<string> {
  const g = (await nflogGroups(path)).find((x) => x.group === group);
  if (!g) return 'another socket';
  if (g.pid === undefined) return `netlink port ${g.portid}`;
  const name = processName(g.pid, g.comm);
  return `pid ${g.pid}${name ? ` (${name})` : ''}`;
}
