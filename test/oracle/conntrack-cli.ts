/**
 * conntrack-tools (`conntrack`, 1.4.7 here) run inside a test namespace, as an independent
 * oracle for the library: list and parse entries, insert entries, bulk-load entries.
 *
 * Facts measured with conntrack 1.4.7 / libnetfilter_conntrack 1.0.9 on kernel 6.18 are in
 * test/oracle/README.md.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { ExecError, type ExecOptions, type ExecResult, type Netns } from '../helpers/netns-core.js';
import { type CtEntry, parseConntrackLine, parseConntrackOutput, parseSummaryCount } from './conntrack-parse.js';

export * from './conntrack-parse.js';

type NetnsLike = Pick<Netns, 'name' | 'exec'>;

/** Bit number -> name, written to a private connlabel.conf for one conntrack run. */
export type LabelMap = Record<number, string>;

export interface ConntrackRunOptions extends ExecOptions {
  /**
   * conntrack reads label names only from /etc/xtables/connlabel.conf (compiled in). With this
   * map, conntrack runs in a private mount namespace where /etc is an overlay holding such a
   * file, so labels can be named (`--label-add`) and printed (`-o labels`) without touching the
   * host's /etc.
   */
  labelMap?: LabelMap;
}

/**
 * Run `conntrack ...args` inside the namespace. TZ=UTC is set so that `[start=...]` times parse
 * as UTC. Resolves whatever the exit status.
 */
export async function runConntrack(
  ns: NetnsLike,
  args: readonly string[],
  opts: ConntrackRunOptions = {},
): Promise<ExecResult> {
  const { labelMap, ...execOpts } = opts;
  const env = { TZ: 'UTC', ...execOpts.env };
  if (!labelMap) return ns.exec('conntrack', args, { ...execOpts, env });

  const dir = await mkdtemp(join(tmpdir(), 'nfct-labels-'));
  try {
    const upper = join(dir, 'upper');
    const work = join(dir, 'work');
    await mkdir(join(upper, 'xtables'), { recursive: true });
    await mkdir(work);
    const conf = Object.entries(labelMap)
      .map(([bit, name]) => `${Number(bit)} ${name}\n`)
      .join('');
    await writeFile(join(upper, 'xtables', 'connlabel.conf'), conf);
    // `ip netns exec` already gives the command its own mount namespace; unshare makes a
    // private one again so nothing can propagate back to the host.
    const script = 'mount -t overlay nfct-labels -o "lowerdir=/etc,upperdir=$1,workdir=$2" /etc || exit 97; ' +
      'shift 2; exec conntrack "$@"';
    return await ns.exec('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script, 'sh', upper, work, ...args],
      {
        ...execOpts,
        env,
      });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** runConntrack() that throws ExecError unless conntrack exits 0. */
export async function runConntrackOk(
  ns: NetnsLike,
  args: readonly string[],
  opts: ConntrackRunOptions = {},
): Promise<ExecResult> {
  const r = await runConntrack(ns, args, opts);
  if (r.code !== 0) throw new ExecError(['ip', 'netns', 'exec', ns.name, 'conntrack', ...args], r);
  return r;
}

export interface ListOptions extends ConntrackRunOptions {
  /** The `-o` value. Default `extended,id` (plus `,labels` when labelMap is given). */
  output?: string;
}

export interface Listing {
  entries: CtEntry[];
  /** N of stderr's `N flow entries have been shown.` */
  shown: number | undefined;
  /** stdout lines that did not parse (a test should expect none). */
  rejected: string[];
  stdout: string;
  stderr: string;
}

/**
 * `conntrack -L -o extended,id ...args` in the namespace, parsed.
 * e.g. `listEntries(ns, ['-p', 'tcp', '--dport', '80'])`, `listEntries(ns, ['-w', '7'])`.
 */
export async function listEntries(ns: NetnsLike, args: readonly string[] = [],
  opts: ListOptions = {}): Promise<Listing>
{
  const { output, ...runOpts } = opts;
  const o = output ?? (opts.labelMap ? 'extended,id,labels' : 'extended,id');
  const r = await runConntrackOk(ns, ['-L', ...(o ? ['-o', o] : []), ...args], runOpts);
  const { entries, rejected } = parseConntrackOutput(r.stdout);
  return { entries, shown: parseSummaryCount(r.stderr), rejected, stdout: r.stdout, stderr: r.stderr };
}

/** `conntrack -C`: the number of entries in the namespace's table. */
export async function countEntries(ns: NetnsLike): Promise<number> {
  const r = await runConntrackOk(ns, ['-C']);
  return Number(r.stdout.trim());
}

/** `conntrack -F`: empty the namespace's table. */
export async function flushEntries(ns: NetnsLike): Promise<void> {
  await runConntrackOk(ns, ['-F']);
}

export type CtProto = 'tcp' | 'udp' | 'udplite' | 'sctp' | 'dccp' | 'icmp' | 'icmpv6' | 'gre';

/**
 * One entry for `conntrack -I` (or a `-R` file line). Give the original tuple (src/dst/ports),
 * the reply tuple (replySrc/...), or both; conntrack inverts the one given for the other.
 * The family follows from the address form (no `-f` with -I).
 */
export interface EntrySpec {
  /** A name, or a number: numbers other than these protocols' make a generic (`unknown`) entry. */
  proto: CtProto | number;
  src?: string;
  dst?: string;
  /** tcp/udp/udplite/sctp/dccp */
  sport?: number;
  dport?: number;
  replySrc?: string;
  replyDst?: string;
  replySport?: number;
  replyDport?: number;
  /** icmp/icmpv6: type and code are compulsory for conntrack (default 8/0 or 128/0). */
  icmpType?: number;
  icmpCode?: number;
  icmpId?: number;
  /** gre: both compulsory for conntrack (default 1/2). */
  greSrcKey?: number;
  greDstKey?: number;
  /** tcp, sctp, dccp state (compulsory; default ESTABLISHED for tcp/sctp, OPEN for dccp). */
  state?: string;
  /** dccp: compulsory `--role` (default client). */
  dccpRole?: 'client' | 'server';
  /** sctp: compulsory `--orig-vtag` / `--reply-vtag` (default 1/2). */
  sctpOrigVtag?: number;
  sctpReplyVtag?: number;
  /** Seconds (compulsory for conntrack; default 120). 0 makes an entry that expires at once. */
  timeout?: number;
  /** `-u`: any of ASSURED, SEEN_REPLY, FIXED_TIMEOUT, UNSET, OFFLOAD, HW_OFFLOAD, EXPECTED. */
  status?: string[];
  mark?: number;
  /** `-w`: both directions. Cannot be combined with origZone/replyZone (kernel: EINVAL). */
  zone?: number;
  /** Only one of origZone / replyZone per entry (both: EINVAL). */
  origZone?: number;
  replyZone?: number;
  /** `--label-add NAME` per label: needs a labelMap and a labels-enabled netns. */
  labels?: string[];
  /** `--dst-nat IP[:PORT]`, `--src-nat IP[:PORT]` (IPv6 as `[addr]:port`). */
  dnat?: string;
  snat?: string;
}

/* conntrack maps these numbers to its protocol handlers (`-p 132` needs --state like sctp). */
const PROTO_NAMES: Partial<Record<number, CtProto>> = {
  1: 'icmp',
  6: 'tcp',
  17: 'udp',
  33: 'dccp',
  47: 'gre',
  58: 'icmpv6',
  132: 'sctp',
  136: 'udplite',
};

const L4_DEFAULT_STATE: Partial<Record<string, string>> = { tcp: 'ESTABLISHED', sctp: 'ESTABLISHED', dccp: 'OPEN' };

function u(name: string, v: number, max: number): string {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new RangeError(`${name} must be an integer 0..${max} (got ${v})`);
  return String(v);
}

/**
 * The conntrack arguments (without the command, `-I`/`-A`) for one entry, e.g.
 * `['-p','tcp','-s','127.0.0.1','-d','127.0.0.2','--sport','1','--dport','2','--state','ESTABLISHED','-t','120']`.
 */
export function buildEntryArgs(spec: EntrySpec): string[] {
  const a: string[] = [];
  const proto = typeof spec.proto === 'number' ? (PROTO_NAMES[spec.proto] ?? String(spec.proto)) : spec.proto;
  a.push('-p', proto);
  if (spec.src !== undefined) a.push('-s', spec.src);
  if (spec.dst !== undefined) a.push('-d', spec.dst);
  if (spec.replySrc !== undefined) a.push('-r', spec.replySrc);
  if (spec.replyDst !== undefined) a.push('-q', spec.replyDst);
  if (spec.src === undefined && spec.replySrc === undefined) {
    throw new TypeError('EntrySpec needs src/dst or replySrc/replyDst');
  }
  switch (proto) {
    case 'tcp':
    case 'udp':
    case 'udplite':
    case 'sctp':
    case 'dccp': {
      const port = (n: string, v: number | undefined, flag: string) => {
        if (v !== undefined) a.push(flag, u(n, v, 65535));
      };
      port('sport', spec.sport, '--orig-port-src');
      port('dport', spec.dport, '--orig-port-dst');
      port('replySport', spec.replySport, '--reply-port-src');
      port('replyDport', spec.replyDport, '--reply-port-dst');
      const state = spec.state ?? L4_DEFAULT_STATE[proto];
      if (state !== undefined) a.push('--state', state);
      if (proto === 'dccp') a.push('--role', spec.dccpRole ?? 'client');
      if (proto === 'sctp') {
        a.push('--orig-vtag', u('sctpOrigVtag', spec.sctpOrigVtag ?? 1, 0xffffffff));
        a.push('--reply-vtag', u('sctpReplyVtag', spec.sctpReplyVtag ?? 2, 0xffffffff));
      }
      break;
    }
    case 'icmp':
    case 'icmpv6': {
      const p = proto === 'icmp' ? '--icmp' : '--icmpv6';
      a.push(`${p}-type`, u('icmpType', spec.icmpType ?? (proto === 'icmp' ? 8 : 128), 255));
      a.push(`${p}-code`, u('icmpCode', spec.icmpCode ?? 0, 255));
      if (spec.icmpId !== undefined) a.push(`${p}-id`, u('icmpId', spec.icmpId, 65535));
      break;
    }
    case 'gre':
      a.push('--srckey', u('greSrcKey', spec.greSrcKey ?? 1, 0xffff));
      a.push('--dstkey', u('greDstKey', spec.greDstKey ?? 2, 0xffff));
      break;
    default:
      break;
  }
  a.push('-t', u('timeout', spec.timeout ?? 120, 0xffffffff));
  if (spec.status && spec.status.length > 0) a.push('-u', spec.status.join(','));
  if (spec.mark !== undefined) a.push('-m', u('mark', spec.mark, 0xffffffff));
  if (spec.zone !== undefined) a.push('-w', u('zone', spec.zone, 65535));
  if (spec.origZone !== undefined) a.push('--orig-zone', u('origZone', spec.origZone, 65535));
  if (spec.replyZone !== undefined) a.push('--reply-zone', u('replyZone', spec.replyZone, 65535));
  for (const l of spec.labels ?? []) a.push('--label-add', l);
  if (spec.dnat !== undefined) a.push('--dst-nat', spec.dnat);
  if (spec.snat !== undefined) a.push('--src-nat', spec.snat);
  return a;
}

/** `conntrack -I` one entry in the namespace; throws ExecError (with conntrack's message) on failure. */
export async function insertEntry(ns: NetnsLike, spec: EntrySpec, opts: ConntrackRunOptions = {}): Promise<void> {
  await runConntrackOk(ns, ['-I', ...buildEntryArgs(spec)], opts);
}

export interface LoadOptions extends ConntrackRunOptions {
  /**
   * 'insert' (`-I` lines): the whole load stops at the first line that fails (e.g. EEXIST).
   * 'add' (`-A` lines): an entry that already exists is skipped silently. Default 'insert'.
   */
  mode?: 'insert' | 'add';
  /**
   * Split the lines over this many `conntrack -R` processes run at once. Default 1: measured
   * here, 2 processes are no faster (the kernel side dominates).
   */
  parallel?: number;
}

export interface LoadResult {
  lines: number;
  ms: number;
}

/** The `-R` file text for these specs (one `-I`/`-A` command per line). */
export function buildLoadFile(specs: readonly EntrySpec[], mode: 'insert' | 'add' = 'insert'): string {
  const cmd = mode === 'add' ? '-A' : '-I';
  let text = '';
  for (const s of specs) text += `${cmd} ${buildEntryArgs(s).join(' ')}\n`;
  return text;
}

/**
 * Create many entries fast with `conntrack -R FILE` (load-file; ~100k+ entries/s here,
 * against ~1k/s for one `conntrack -I` process per entry). Throws ExecError if conntrack fails;
 * in 'insert' mode a failing line aborts the rest of its process's lines.
 */
export async function loadEntries(
  ns: NetnsLike,
  specs: readonly EntrySpec[],
  opts: LoadOptions = {},
): Promise<LoadResult> {
  const { mode = 'insert', parallel = 1, ...runOpts } = opts;
  const t0 = performance.now();
  const n = Math.max(1, Math.min(parallel, specs.length || 1));
  const size = Math.ceil(specs.length / n);
  // `-R -` would open /dev/stdin, which fails when stdin is a socket (as node's pipes are):
  // write real files instead.
  const dir = await mkdtemp(join(tmpdir(), 'nfct-load-'));
  try {
    const jobs: Promise<ExecResult>[] = [];
    for (let i = 0; i < n; i++) {
      const part = specs.slice(i * size, (i + 1) * size);
      if (part.length === 0) continue;
      const file = join(dir, `part${i}.ct`);
      await writeFile(file, buildLoadFile(part, mode));
      jobs.push(runConntrackOk(ns, ['-R', file], { timeoutMs: 600_000, ...runOpts }));
    }
    await Promise.all(jobs);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return { lines: specs.length, ms: performance.now() - t0 };
}

/**
 * Fallback/baseline: one `conntrack -I` process per entry, `concurrency` at a time (~1k/s).
 * Kept for comparison; prefer loadEntries().
 */
export async function insertEntriesOneByOne(
  ns: NetnsLike,
  specs: readonly EntrySpec[],
  concurrency = 8,
  opts: ConntrackRunOptions = {},
): Promise<LoadResult> {
  const t0 = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < specs.length) {
      const s = specs[next++]!;
      await insertEntry(ns, s, opts);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
  return { lines: specs.length, ms: performance.now() - t0 };
}

export interface EventWatch {
  /** Events parsed so far (the sentinel's own events are left out). */
  readonly events: CtEntry[];
  /** Lines that did not parse. */
  readonly rejected: string[];
  /** Resolves with the first event (already seen or future) matching `pred`; rejects after timeoutMs. */
  waitFor(pred: (e: CtEntry) => boolean, timeoutMs?: number): Promise<CtEntry>;
  /** Stop `conntrack -E` (SIGTERM) and wait for it to exit. Idempotent. */
  stop(): Promise<void>;
}

export interface WatchOptions {
  /** The `-o` value. Default `extended,id`. */
  output?: string;
  /** Give up waiting for the subscription to be live after this many ms. Default 5000. */
  readyTimeoutMs?: number;
  /** Stop by itself after this many ms. Default 120 000. */
  maxMs?: number;
}

const SENTINEL_SRC = '127.0.0.254';

/**
 * Start `conntrack -E -o extended,id ...args` in the namespace and resolve once it is really
 * subscribed. conntrack prints nothing when it starts, so readiness is proven with a sentinel:
 * a UDP entry 127.0.0.254 -> 127.0.0.254 dport 1..65535 inserted (and deleted again) with
 * `conntrack -I` until its NEW event shows up. The sentinel's events are not in `events`, but
 * another listener started earlier (e.g. the library under test) will see them.
 */
export async function watchEvents(ns: Netns, args: readonly string[] = [],
  opts: WatchOptions = {}): Promise<EventWatch>
{
  const child = ns.spawn('conntrack', ['-E', '-o', opts.output ?? 'extended,id', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, TZ: 'UTC' },
  });
  const events: CtEntry[] = [];
  const rejected: string[] = [];
  const waiters = new Set<{ pred: (e: CtEntry) => boolean; resolve: (e: CtEntry) => void }>();
  const sentinelPorts = new Set<number>();
  let sentinelSeen = false;
  let buf = '';
  let stderr = '';
  let exited = false;
  const exitedP = new Promise<void>((res) =>
    child.on('exit', () => {
      exited = true;
      res();
    })
  );
  const killer = setTimeout(() => child.kill('SIGKILL'), opts.maxMs ?? 120_000);
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => {
    stderr += d;
  });
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (d: string) => {
    buf += d;
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i).trim();
      buf = buf.slice(i + 1);
      if (!line) continue;
      let e: CtEntry;
      try {
        e = parseConntrackLine(line);
      } catch {
        rejected.push(line);
        continue;
      }
      if (e.orig.src === SENTINEL_SRC && e.orig.dport !== undefined && sentinelPorts.has(e.orig.dport)) {
        sentinelSeen = true;
        continue;
      }
      events.push(e);
      for (const w of waiters) {
        if (w.pred(e)) {
          waiters.delete(w);
          w.resolve(e);
        }
      }
    }
  });

  const stop = async (): Promise<void> => {
    clearTimeout(killer);
    if (!exited) child.kill('SIGTERM');
    await exitedP;
  };

  const deadline = Date.now() + (opts.readyTimeoutMs ?? 5_000);
  const base = 1 + Math.floor(Math.random() * 60_000);
  try {
    for (let k = 0; !sentinelSeen; k++) {
      if (exited) throw new Error(`conntrack -E exited: ${stderr.trim()}`);
      if (Date.now() > deadline) throw new Error('conntrack -E: no event seen for the sentinel entry');
      const port = base + k;
      sentinelPorts.add(port);
      const spec: EntrySpec = { proto: 'udp', src: SENTINEL_SRC, dst: SENTINEL_SRC, sport: 9, dport: port,
        timeout: 30 };
      await runConntrack(ns, ['-I', ...buildEntryArgs(spec)]);
      const until = Date.now() + 100;
      while (!sentinelSeen && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
    }
    for (const port of sentinelPorts) {
      await runConntrack(ns, ['-D', '-p', 'udp', '-s', SENTINEL_SRC, '--dport', String(port)]);
    }
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    events,
    rejected,
    waitFor(pred, timeoutMs = 5_000) {
      const hit = events.find(pred);
      if (hit) return Promise.resolve(hit);
      return new Promise<CtEntry>((resolve, reject) => {
        const w = {
          pred,
          resolve: (e: CtEntry) => {
            clearTimeout(t);
            resolve(e);
          },
        };
        const t = setTimeout(() => {
          waiters.delete(w);
          reject(new Error(`watchEvents: no matching event within ${timeoutMs} ms (${events.length} seen)`));
        }, timeoutMs);
        waiters.add(w);
      });
    },
    stop,
  };
}
