import { constants } from 'node:os';

const errnoNames = new Map<number, string>(
  Object.entries(constants.errno).map(([name, value]) => [value, name]),
);

/** Hints that turn a bare errno into something a person can act on. */
const hints: Record<string, string> = {
  EPERM: 'this needs CAP_NET_ADMIN (run as root, or grant the capability)',
  EACCES: 'permission denied: this needs CAP_NET_ADMIN',
  ENOENT: 'no such entry or file',
  EEXIST: 'the entry already exists',
  ENOBUFS: 'the kernel dropped messages because the socket buffer was full',
  EBUSY: 'the resource is busy or held by another socket',
  EOPNOTSUPP: 'the running kernel does not support this operation',
  ENOMEM: 'the kernel is out of memory or the table is full (nf_conntrack_max)',
  EBADF: 'the handle was closed',
  ENOSPC:
    'no room for conntrack labels: the namespace needs an nftables `ct label set` rule (or iptables -m connlabel --set) before labels can be stored',
};

const MAX_DETAIL = 300;

/** Context and detail can echo user input (a 100k-character path): a message keeps its start. */
function clip(text: string): string {
  return text.length > MAX_DETAIL ? `${text.slice(0, MAX_DETAIL)}… (${text.length} characters)` : text;
}

/** Hints that depend on the call as well as the errno. */
function contextHint(syscall: string, code: string, detail: string): string | undefined {
  // The detail says it all (events are off in the namespace, not unsupported by the kernel).
  if (syscall === 'nf_conntrack_events') return '';
  if (syscall === 'setns' && code === 'EPERM') return 'entering another network namespace needs CAP_SYS_ADMIN';
  if (syscall === 'open' && code === 'EACCES' && /^\/proc\/\d+\//.test(detail)) {
    return "opening another process's namespace file is a ptrace access check: the caller must be allowed to ptrace that process (the same user and a dumpable process, or CAP_SYS_PTRACE)";
  }
  if (syscall === 'open' && detail === '/dev/kmsg' && (code === 'EPERM' || code === 'EACCES')) {
    return 'reading /dev/kmsg needs CAP_SYSLOG (root) while kernel.dmesg_restrict is 1';
  }
  if (syscall === 'open' && code === 'EACCES' && /^\/(var\/)?run\/netns\/|\/ns\/net$/.test(detail)) {
    return 'permission denied opening the namespace file';
  }
  if (syscall === 'open' && (code === 'EACCES' || code === 'EPERM')) {
    return 'permission denied: this user may not read it';
  }
  return undefined;
}

/**
 * A failure reported by the kernel or the netlink libraries.
 *
 * `code` is the errno name ('EPERM', 'ENOENT', ...), `errno` its number, `syscall` the call
 * or netlink exchange that failed.
 */
export class NfctError extends Error {
  /**
   * The errno's name, as `errno(3)` spells it ('EPERM', 'ENOENT', 'ENOBUFS', ...): what a caller
   * branches on.
   */
  readonly code: string;
  /** The errno's number (1 for EPERM). */
  readonly errno: number;
  /** The system call or netlink exchange that failed ('setns', 'conntrack create', ...). */
  readonly syscall: string;
  /** What the call was acting on, when there is more to say (a path, a group); '' otherwise. */
  readonly detail: string;

  constructor(errno: number, syscall: string, detail = '', context = '') {
    const code = errnoNames.get(errno) ?? `E${errno}`;
    const hint = contextHint(syscall, code, detail) ?? hints[code];
    const parts = [context ? `${clip(context)}: ` : '', `${syscall} failed with ${code}`];
    if (detail) parts.push(` (${clip(detail)})`);
    // A hint that the detail already gives is not said twice.
    if (hint && !detail.includes(hint)) parts.push(`: ${hint}`);
    super(parts.join(''));
    this.name = 'NfctError';
    this.code = code;
    this.errno = errno;
    this.syscall = syscall;
    this.detail = detail;
  }
}

/** Thrown by any call on a handle after close(). */
export class ClosedError extends Error {
  /** Always 'ERR_NFCT_CLOSED': a call on a handle (or a stream of it) that was closed. */
  readonly code = 'ERR_NFCT_CLOSED';
  constructor(what: string) {
    super(`${what} is closed`);
    this.name = 'ClosedError';
  }
}

/** The stack of a user's call, captured before an asynchronous hop (callSite()). */
export interface CallSite {
  stack: string;
}

/**
 * Captures the caller's stack before an asynchronous hop, so that an error produced later
 * by native code points at the user's call, not at the event loop.
 */
export function callSite(fn: (...args: never[]) => unknown): CallSite {
  const holder = { stack: '' };
  Error.captureStackTrace(holder, fn);
  return holder;
}

/**
 * The call site as text, for what keeps it long (a stream, for as long as it runs). Until its
 * stack is first read, a captured trace keeps every frame's function, receiver and scope alive:
 * a stream started inside a loop over many namespaces (the exporter's scrape) kept that whole
 * scrape's results, which held the streams started before, and so on back, and the exporter's
 * heap grew with every namespace it ever saw. Formatting costs tens of microseconds, so calls
 * that hold their site only until they settle keep callSite()'s lazy trace.
 */
export function keptSite(site: CallSite): CallSite {
  return { stack: site.stack };
}

/** Grafts a captured call site onto an error and adds context to an NfctError's message. */
export function withCallSite(err: NfctError, site: CallSite, context?: string): NfctError;
export function withCallSite(err: unknown, site: CallSite, context?: string): unknown;
export function withCallSite(err: unknown, site: CallSite, context?: string): unknown {
  if (err instanceof NfctError) {
    const e = context ? new NfctError(err.errno, err.syscall, err.detail, context) : err;
    e.stack = `${e.name}: ${e.message}${site.stack.slice(site.stack.indexOf('\n'))}`;
    return e;
  }
  return err;
}

/** Awaits a native call, turning its failure into an error pointing at the caller. */
export async function settle<T>(site: CallSite, context: string, work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (e) {
    throw withCallSite(e, site, context);
  }
}
