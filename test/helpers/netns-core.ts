/**
 * Throwaway network namespaces for integration tests.
 *
 * Everything a test does to the kernel (traffic, conntrack entries, rules, sysctls) happens in a
 * namespace made here, never in the root namespace. A namespace is removed by `remove()`, by
 * `useNetns()`'s afterAll (which runs even when a test throws), by a process 'exit' safety net,
 * and, if the process died, by the globalSetup module at the start and end of the next run.
 *
 * This module does not import vitest, so the globalSetup module, scripts and benchmarks can use
 * it; `useNetns()` lives in ./netns.ts, which re-exports everything here.
 *
 * Every namespace is called `<prefix>-<pid>-<6 hex>`, where the prefix starts with `nfct-` and
 * pid is the process that created it. One whose pid is no longer alive is a leftover that
 * anyone may remove.
 */
import { type ChildProcess, execFileSync, spawn as spawnChild, type SpawnOptions, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';

import { endChildren } from './end-children.js';

// ---- names and synchronous clean-up ------------------------------------------------

/** `<prefix>-<pid>-<suffix>`; prefix starts with `nfct-`. */
export const NETNS_NAME_RE = /^(nfct-[a-z0-9-]*?)-(\d+)-([0-9a-f]{6})$/;

/** A valid prefix: `nfct-` followed by lowercase letters, digits and dashes. */
export const NETNS_PREFIX_RE = /^nfct-[a-z0-9]+(?:-[a-z0-9]+)*$/;

export interface ParsedNetnsName {
  prefix: string;
  pid: number;
  suffix: string;
}

export function parseNetnsName(name: string): ParsedNetnsName | null {
  const m = NETNS_NAME_RE.exec(name);
  if (!m) return null;
  return { prefix: m[1]!, pid: Number(m[2]), suffix: m[3]! };
}

/** Names of all named network namespaces (`ip netns list`), first column only. */
export function listNetnsSync(): string[] {
  const out = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((n) => n.length > 0);
}

/** True while a process with that pid exists (EPERM also means it exists). */
export function isPidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** `ip netns delete NAME`; true when it is gone afterwards (also when it never existed). */
export function deleteNetnsSync(name: string): boolean {
  const r = spawnSync('ip', ['netns', 'delete', name], { encoding: 'utf8' });
  if (r.status === 0) return true;
  return !listNetnsSync().includes(name);
}

export interface RemoveStaleOptions {
  /** Also remove namespaces created by these pids even though they are alive (e.g. our own). */
  pids?: number[];
}

/**
 * Remove helper-made namespaces (`nfct-...-<pid>-<hex>`) whose creating process is gone,
 * plus those of `opts.pids`. Namespaces of other live processes (a concurrent run) are left.
 * Returns the names removed.
 */
export function removeStaleNetnsSync(opts: RemoveStaleOptions = {}): string[] {
  const extra = new Set(opts.pids ?? []);
  const removed: string[] = [];
  for (const name of listNetnsSync()) {
    const parsed = parseNetnsName(name);
    if (!parsed) continue;
    if (extra.has(parsed.pid) || !isPidAlive(parsed.pid)) {
      if (deleteNetnsSync(name)) removed.push(name);
    }
  }
  return removed;
}

// ---- running commands ---------------------------------------------------------------

export interface ExecOptions {
  /** Written to the child's stdin, which is then closed. Without it stdin is /dev/null. */
  input?: string | Buffer;
  /** Kill the child (SIGKILL) after this many ms. Default 60 000. */
  timeoutMs?: number;
  /** Extra environment variables, merged over process.env. */
  env?: NodeJS.ProcessEnv;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  /** Exit code, or null when killed by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** True when the child was killed because `timeoutMs` passed. */
  timedOut: boolean;
}

/** Thrown by execOk/shOk when a command exits non-zero, is killed or times out. */
export class ExecError extends Error {
  readonly result: ExecResult;
  readonly command: string[];
  constructor(command: string[], result: ExecResult) {
    const how = result.timedOut
      ? 'timed out'
      : result.signal
      ? `was killed by ${result.signal}`
      : `exited with code ${result.code}`;
    const stderr = result.stderr.trim();
    super(`${command.join(' ')} ${how}${stderr ? `: ${stderr}` : ''}`);
    this.name = 'ExecError';
    this.command = command;
    this.result = result;
  }
}

const DEFAULT_TIMEOUT_MS = 60_000;

/** Run a command (no shell) and collect its output. Resolves on exit whatever the exit code. */
export function run(cmd: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawnChild(cmd, args, {
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      env: opts.env ? { ...process.env, ...opts.env } : process.env,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    child.stdout!.on('data', (b: Buffer) => out.push(b));
    child.stderr!.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        code,
        signal,
        timedOut,
      });
    });
    if (opts.input !== undefined) {
      child.stdin!.on('error', () => {
        /* the child may exit before reading all of it; its exit status tells */
      });
      child.stdin!.end(opts.input);
    }
  });
}

/** Like run() but throws ExecError unless the command exits 0. */
export async function runOk(cmd: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw new ExecError([cmd, ...args], r);
  return r;
}

/**
 * The pid of a child started by `ip netns exec`, `unshare --net` or Netns.spawn(), once it has
 * entered its namespace (they exec the command: the pid stays, the namespace is
 * entered first); rejects if it could not be started.
 */
export async function enteredNamespace(child: ChildProcess): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  const pid = child.pid!;
  const own = statSync('/proc/self/ns/net').ino;
  for (let i = 0; i < 200 && statSync(`/proc/${pid}/ns/net`).ino === own; i++) {
    await new Promise((r) => setTimeout(r, 10));
  }
  return pid;
}

export interface Netns {
  /** e.g. `nfct-test-12345-0a1b2c` */
  readonly name: string;
  /** `/run/netns/<name>`: open it and setns() to enter. */
  readonly path: string;
  /** True once remove() has run. */
  readonly removed: boolean;
  /** `ip netns exec <name> cmd ...args` (no shell). Never rejects for a non-zero exit. */
  exec(cmd: string, args?: readonly string[], opts?: ExecOptions): Promise<ExecResult>;
  /** Like exec() but throws ExecError (message includes stderr) unless the exit code is 0. */
  execOk(cmd: string, args?: readonly string[], opts?: ExecOptions): Promise<ExecResult>;
  /** `sh -c script` inside the namespace. */
  sh(script: string, opts?: ExecOptions): Promise<ExecResult>;
  /** `sh -c script` inside the namespace; throws unless it exits 0. */
  shOk(script: string, opts?: ExecOptions): Promise<ExecResult>;
  /**
   * Start a long-running process inside the namespace (e.g. `conntrack -E`). The caller owns
   * it; remove() ends any such process still running (end-children.ts).
   */
  spawn(cmd: string, args?: readonly string[], opts?: SpawnOptions): ChildProcess;
  /** Delete the namespace (idempotent). Kills processes started with spawn() first. */
  remove(): Promise<void>;
}

export interface CreateNetnsOptions {
  /**
   * Load a tiny nft ruleset that makes conntrack track packets in this namespace (a new netns
   * tracks nothing until some rule needs conntrack). Default true.
   */
  conntrack?: boolean;
  /** Also enable the conntrack labels extension (see enableConntrack). Default false. */
  labels?: boolean;
  /** sysctls to set after creation, e.g. `{ 'net.netfilter.nf_conntrack_acct': 1 }`. */
  sysctls?: Record<string, string | number>;
}

/* Namespaces made by this process and not yet removed, for the 'exit' safety net. */
const live = new Map<string, Set<ChildProcess>>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const [name, children] of live) {
      for (const c of children) {
        if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      }
      deleteNetnsSync(name);
    }
    live.clear();
  });
}

function makeName(prefix: string): string {
  return `${prefix}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

/**
 * Create a uniquely named network namespace with `lo` up.
 * @param prefix must start with `nfct-` (so that the leftover clean-up recognises it).
 */
export async function createNetns(prefix = 'nfct-test', opts: CreateNetnsOptions = {}): Promise<Netns> {
  if (!NETNS_PREFIX_RE.test(prefix)) {
    throw new RangeError(`netns prefix must match ${NETNS_PREFIX_RE} (got ${JSON.stringify(prefix)})`);
  }
  installExitHook();

  let name = '';
  for (let attempt = 0;; attempt++) {
    name = makeName(prefix);
    const r = await run('ip', ['netns', 'add', name]);
    if (r.code === 0) break;
    if (attempt >= 4 || !/exist/i.test(r.stderr)) throw new ExecError(['ip', 'netns', 'add', name], r);
  }
  const children = new Set<ChildProcess>();
  live.set(name, children);

  let removed = false;
  const nsName = name;
  const exec = (cmd: string, args: readonly string[] = [], o?: ExecOptions): Promise<ExecResult> =>
    run('ip', ['netns', 'exec', nsName, cmd, ...args], o);
  const execOk = async (cmd: string, args: readonly string[] = [], o?: ExecOptions): Promise<ExecResult> => {
    const r = await exec(cmd, args, o);
    if (r.code !== 0) throw new ExecError(['ip', 'netns', 'exec', nsName, cmd, ...args], r);
    return r;
  };

  const ns: Netns = {
    name: nsName,
    path: `/run/netns/${nsName}`,
    get removed() {
      return removed;
    },
    exec,
    execOk,
    sh: (script, o) => exec('sh', ['-c', script], o),
    shOk: (script, o) => execOk('sh', ['-c', script], o),
    spawn(cmd, args = [], o = {}) {
      if (removed) throw new Error(`netns ${nsName} has been removed`);
      const child = spawnChild('ip', ['netns', 'exec', nsName, cmd, ...args], o);
      children.add(child);
      child.on('exit', () => children.delete(child));
      return child;
    },
    async remove() {
      if (removed) return;
      removed = true;
      await endChildren(children);
      const r = await run('ip', ['netns', 'delete', nsName]);
      if (r.code !== 0 && listNetnsSync().includes(nsName)) {
        // Leave it in `live` so the exit hook / global teardown try again.
        throw new ExecError(['ip', 'netns', 'delete', nsName], r);
      }
      live.delete(nsName);
    },
  };

  try {
    await runOk('ip', ['-n', nsName, 'link', 'set', 'lo', 'up']);
    if (opts.conntrack ?? true) await enableConntrack(ns, { labels: opts.labels ?? false });
    for (const [k, v] of Object.entries(opts.sysctls ?? {})) await setSysctl(ns, k, v);
  } catch (err) {
    await ns.remove().catch(() => undefined);
    throw err;
  }
  return ns;
}

export interface EnableConntrackOptions {
  /**
   * Also make the kernel attach the connlabels extension to new entries in this netns (a rule
   * with `ct label set` must exist for that; without it labels given to `conntrack -I
   * --label-add` or a ctnetlink create are silently dropped). The rule only fires for packets
   * with meta mark 0x7f7f7f7f, which nothing here sends.
   */
  labels?: boolean;
}

/**
 * Load table `inet nfct_test_ct` whose only rule uses conntrack, so the kernel starts tracking
 * IPv4 and IPv6 traffic in the namespace. Idempotent (the table is replaced).
 */
export async function enableConntrack(ns: Pick<Netns, 'execOk'>, opts: EnableConntrackOptions = {}): Promise<void> {
  const rules = [
    'table inet nfct_test_ct',
    'delete table inet nfct_test_ct',
    'table inet nfct_test_ct {',
    '  chain output {',
    '    type filter hook output priority 0; policy accept;',
    '    ct state new counter',
    ...(opts.labels ? ['    meta mark 0x7f7f7f7f ct label set 127'] : []),
    '  }',
    '}',
    '',
  ].join('\n');
  await ns.execOk('nft', ['-f', '-'], { input: rules });
}

/** Read a sysctl inside the namespace (`sysctl -n key`), trimmed. */
export async function sysctl(ns: Pick<Netns, 'execOk'>, key: string): Promise<string> {
  const r = await ns.execOk('sysctl', ['-n', key]);
  return r.stdout.trim();
}

/** Write a sysctl inside the namespace, e.g. `setSysctl(ns, 'net.netfilter.nf_conntrack_acct', 1)`. */
export async function setSysctl(ns: Pick<Netns, 'execOk'>, key: string, value: string | number): Promise<void> {
  await ns.execOk('sysctl', ['-q', '-w', `${key}=${value}`]);
}
