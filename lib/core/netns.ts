import { closeSync, constants, openSync, statfsSync } from 'node:fs';

import { type CallSite, NfctError, withCallSite } from './errors.js';
import { assertKnownKeys, assertObject, describeValue, integer } from './validate.js';

const NSFS_MAGIC = 0x6e736673;
const EINVAL = 22;

/**
 * Opens a namespace file on the JS thread without blocking (a FIFO at the path must not hang
 * the event loop) and keeps it only if it is an nsfs file. Throws NfctError as native code does.
 */
export function openNamespaceSync(path: string): number {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new NfctError(Math.abs(err.errno ?? 2), 'open', path);
  }
  let type = 0;
  try {
    type = statfsSync(`/proc/self/fd/${fd}`).type;
  } catch {
    // unknown: refused below
  }
  if (type !== NSFS_MAGIC) {
    closeSync(fd);
    throw new NfctError(EINVAL, 'open', `${path}: not a namespace file`);
  }
  return fd;
}

/**
 * A network namespace: a name under /run/netns (as `ip netns add` makes), an absolute path to
 * a namespace file (/proc/PID/ns/net, a bind mount), or a process whose namespace to use.
 */
export type NetnsOption =
  | string
  | {
    /** The namespace of this process (its /proc/PID/ns/net). */
    pid: number;
  }
  | {
    /** An absolute path to a namespace file. */
    path: string;
  }
  | {
    /** A name under /run/netns. */
    name: string;
  };

const NAME = /^[A-Za-z0-9_.-]+$/;

/** Resolves the option to the namespace file path, or null for the caller's own. */
export function netnsPath(value: NetnsOption | undefined, option = 'netns'): string | null {
  if (value === undefined) return null;
  if (typeof value === 'string') {
    if (value.includes('\0')) throw new TypeError(`${option} must not contain a NUL byte`);
    if (value.startsWith('/')) return value;
    if (!NAME.test(value) || value === '.' || value === '..') {
      throw new TypeError(
        `${option} must be a namespace name (as in 'ip netns'), an absolute path or { pid }, got ${
          describeValue(value)
        }`,
      );
    }
    return `/run/netns/${value}`;
  }
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const obj = value as Record<string, unknown>;
    assertKnownKeys(obj, ['pid', 'path', 'name'], option);
    if (Object.keys(obj).length !== 1) {
      throw new TypeError(`${option} must have exactly one of pid, path or name`);
    }
    if ('pid' in obj) return `/proc/${integer(obj.pid, `${option}.pid`, 1, 2 ** 31 - 1)}/ns/net`;
    if ('path' in obj) {
      if (typeof obj.path !== 'string' || !obj.path.startsWith('/') || obj.path.includes('\0')) {
        throw new TypeError(`${option}.path must be an absolute path, got ${describeValue(obj.path)}`);
      }
      return obj.path;
    }
    if (typeof obj.name !== 'string' || !NAME.test(obj.name) || obj.name === '.' || obj.name === '..') {
      throw new TypeError(`${option}.name must be a namespace name (as in 'ip netns'), got ${describeValue(obj.name)}`);
    }
    return `/run/netns/${obj.name}`;
  }
  throw new TypeError(`${option} must be a namespace name, an absolute path or { pid }, got ${describeValue(value)}`);
}

/**
 * Opens a native handle in the namespace `options.netns` names (the caller's own without it):
 * the shared part of Conntrack.open() and Nflog.open(). `call` names the call in errors about
 * the options ('Conntrack.open'), `what` what is opened in an NfctError ('conntrack'), whose
 * stack is the caller's `site`.
 */
export async function openInNamespace<N>(
  options: { netns?: NetnsOption },
  call: string,
  what: string,
  site: CallSite,
  open: (path: string | null) => Promise<N>,
): Promise<{ native: N; path: string | null }> {
  const raw: unknown = options;
  assertObject(raw, `${call} options`);
  assertKnownKeys(raw, ['netns'], `${call} options`);
  const path = netnsPath(options.netns);
  try {
    return { native: await open(path), path };
  } catch (e) {
    throw withCallSite(e, site, path ? `opening ${what} in network namespace ${path}` : `opening ${what}`);
  }
}
