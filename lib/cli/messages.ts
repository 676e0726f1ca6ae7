// What nfct says on stderr, and how it ends: its own name and version on every line that
// conntrack would sign with its own, conntrack's wording for the rest, and conntrack's exit
// statuses (0 done, 1 an operation failed, 2 a bad parameter).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

function version(): string {
  // lib/cli/ and dist/cli/ (the bundle too) are two folders down; one up is tried after.
  for (const up of ['../..', '..']) {
    try {
      const pkg = JSON.parse(readFileSync(join(__dirname, up, 'package.json'), 'utf8')) as { name?: string;
        version?: string };
      if (pkg.name === '@x/nfct' && pkg.version) return pkg.version;
    } catch {
      // try the next folder up
    }
  }
  return '0.0.0';
}

export const VERSION = version();
/** The signature conntrack puts before its messages, nfct's own. */
export const BANNER = `nfct v${VERSION} (conntrack-tools compatible): `;
export const TRY_HELP = "Try `nfct -h' or 'nfct --help' for more information.";

/** The end of a command: an exit status, and a message (signed) unless it is empty. */
export class CliExit extends Error {
  constructor(
    readonly code: number,
    message = '',
    /** A parameter problem: the "Try nfct -h" line follows. */
    readonly tryHelp = false,
  ) {
    super(message);
  }
}

/**
 * A namespace named on the command line that could not be opened, in the user's terms (the
 * name they gave, what to run to see the names), or undefined when the error is not that.
 */
export function namespaceFailure(e: { code: string; syscall: string; detail: string }): string | undefined {
  if (e.syscall !== 'open') return undefined;
  const path = e.detail.replace(/: not a namespace file$/, '');
  const name = /^\/run\/netns\/([^/]+)$/.exec(path)?.[1];
  const pid = /^\/proc\/(\d+)\/ns\/net$/.exec(path)?.[1];
  if (e.code === 'ENOENT') {
    if (name) return `network namespace "${name}" does not exist (no ${path}; ip netns list shows the names)`;
    if (pid) return `no process ${pid} (no ${path})`;
    return `no network namespace file ${path}`;
  }
  if (e.code === 'EINVAL' && e.detail.endsWith('not a namespace file')) {
    return `${path} is not a network namespace file (ip netns list, /proc/PID/ns/net)`;
  }
  return undefined;
}

/**
 * What ends a command whose table could not be opened: the namespace named on the command line
 * that is not there (namespaceFailure()), else conntrack's "Can't open handler".
 */
export function cannotOpen(e: { code: string; syscall: string; detail: string }): CliExit {
  return new CliExit(1, namespaceFailure(e) ?? "Can't open handler");
}

/** Throws conntrack's "Operation failed" with its wording for this errno and command. */
export function operationFailed(errno: number, command: string): never {
  throw new CliExit(1, `Operation failed: ${errnoText(errno, command)}`);
}

const STRERROR: Record<number, string> = {
  0: 'Success',
  1: 'Operation not permitted',
  2: 'No such file or directory',
  3: 'No such process',
  4: 'Interrupted system call',
  5: 'Input/output error',
  6: 'No such device or address',
  7: 'Argument list too long',
  9: 'Bad file descriptor',
  11: 'Resource temporarily unavailable',
  12: 'Cannot allocate memory',
  13: 'Permission denied',
  14: 'Bad address',
  16: 'Device or resource busy',
  17: 'File exists',
  19: 'No such device',
  22: 'Invalid argument',
  24: 'Too many open files',
  28: 'No space left on device',
  34: 'Numerical result out of range',
  61: 'No data available',
  62: 'Timer expired',
  71: 'Protocol error',
  74: 'Bad message',
  75: 'Value too large for defined data type',
  90: 'Message too long',
  92: 'Protocol not available',
  93: 'Protocol not supported',
  95: 'Operation not supported',
  97: 'Address family not supported by protocol',
  98: 'Address already in use',
  99: 'Cannot assign requested address',
  100: 'Network is down',
  101: 'Network is unreachable',
  105: 'No buffer space available',
  110: 'Connection timed out',
  111: 'Connection refused',
  113: 'No route to host',
  524: 'Unknown error 524',
};

/** conntrack's wording of a kernel error for a command (its own table, then strerror). */
export function errnoText(errno: number, command: string): string {
  const creates = command === 'create' || command === 'add';
  if (command === 'list' && errno === 524) return 'function not implemented';
  if (errno === 22) return 'invalid parameters';
  if (command === 'create' && errno === 17) return 'Such conntrack exists, try -U to update';
  if ((creates || command === 'get' || command === 'delete') && errno === 2) return "such conntrack doesn't exist";
  if ((creates || command === 'get') && errno === 12) return 'not enough memory';
  if (command === 'get' && errno === 97) return 'protocol not supported';
  if (creates && errno === 62) return 'conntrack has expired';
  if (command === 'exp-create' && errno === 2) return 'master conntrack not found';
  if (errno === 1) return 'sorry, you must be root or get CAP_NET_ADMIN capability to do this';
  return STRERROR[errno] ?? `Unknown error ${errno}`;
}
