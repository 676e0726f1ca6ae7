// The external commands TRACE uses (nft for the temporary rule and rule texts, nsenter to run
// them in another namespace, iptables-legacy-save for legacy rule texts): found on PATH up
// front, run with their input written safely, and failures reported as NfctError.
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

import { builtin } from '../core/builtins.js';
import { NfctError } from '../core/errors.js';

/** The Debian package that provides each command. */
const PACKAGES: Record<string, string> = {
  nft: 'nftables',
  nsenter: 'util-linux',
  'iptables-legacy-save': 'iptables',
  'ip6tables-legacy-save': 'iptables',
  sh: 'dash',
};

const EPERM = 1;
const ENOENT = 2;
const EIO = 5;

/** Whether an executable of that name is on PATH. */
export function onPath(cmd: string): boolean {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, cmd), constants.X_OK);
      return true;
    } catch {
      // not here
    }
  }
  return false;
}

/** Throws NfctError ENOENT naming the first missing command and the package that provides it. */
export function requireCommands(cmds: string[], purpose: string): void {
  for (const cmd of cmds) {
    if (onPath(cmd)) continue;
    const pkg = PACKAGES[cmd];
    throw new NfctError(ENOENT, 'spawn', `${cmd} is not on PATH${pkg ? `: install the ${pkg} package` : ''}`, purpose);
  }
}

/** A command in a namespace (through nsenter) or in the caller's own (path null). */
export function inNamespace(path: string | null, cmd: string, args: string[]): [string, string[]] {
  return path ? ['nsenter', [`--net=${path}`, cmd, ...args]] : [cmd, args];
}

/** Its first lines only: a command's stderr goes into an error message. */
function shortText(text: string): string {
  const t = text.trim();
  return t.length > 500 ? `${t.slice(0, 500)}…` : t;
}

/**
 * Runs a command, writing `input` to its stdin; resolves its stdout. A command that exits
 * before reading its input (EPIPE on its stdin) is an ordinary failure: an NfctError naming
 * the command and what it printed, never an uncaught exception.
 */
export function runCommand(cmd: string, args: string[], input: string | undefined, context: string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const child = builtin('node:child_process').execFile(cmd, args, { maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (!err) {
        resolve(stdout);
        return;
      }
      const e = err as Omit<NodeJS.ErrnoException, 'code'> & { code?: string | number };
      // Spawning failed (errno set), or the command ran and failed: then its own words say
      // why, and a refusal for want of privilege is EPERM as from the library itself.
      const errno = typeof e.code === 'string'
        ? (typeof e.errno === 'number' ? Math.abs(e.errno) : ENOENT)
        : /Operation not permitted|Permission denied/i.test(stderr)
        ? EPERM
        : EIO;
      const what = typeof e.code === 'number' ? `${cmd} exited with status ${e.code}` : `${cmd}: ${e.message}`;
      reject(new NfctError(errno, 'spawn', [what, shortText(stderr)].filter(Boolean).join(': '), context));
    });
    // The child may exit without reading (no privilege, a bad namespace): its exit status says
    // why; the broken pipe is only a consequence.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(input ?? '');
  });
}

/** The same, synchronously, for process exit; never throws. */
export function runCommandSync(cmd: string, args: string[]): boolean {
  try {
    builtin('node:child_process').execFileSync(cmd, args, { stdio: 'ignore', timeout: 5000 });
    return true;
  } catch {
    return false;
  }
}
