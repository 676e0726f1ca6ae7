// Which process holds a netlink socket: by its port id (conntrack -E's [USERSPACE] origin) or by
// its inode (nfct doctor naming an NFLOG group's listener).
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

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
export function netlinkSockets(text: string): Array<{ protocol: number; portid: number; inode: string }> {
  const out: Array<{ protocol: number; portid: number; inode: string }> = [];
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
