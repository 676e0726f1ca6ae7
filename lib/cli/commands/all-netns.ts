// --all-netns: -L, -C, -S, -E or `nfct log` in every network namespace of the node, a few at
// once, each namespace run by the command's own module through a marked view of the one writer
// (text lines start with `[label] `, NDJSON objects get a `netns` object). -E and `nfct log`
// follow namespaces as they come and go, up to MAX_STREAMS streams (a reader thread each).
import { Conntrack } from '../../conntrack/handle.js';
import { DEFAULT_CONCURRENCY, mapSettled } from '../../core/concurrency.js';
import { NfctError } from '../../core/errors.js';
import { listNamespaces, namespaceLabel, type NetworkNamespace } from '../../core/netns-discovery.js';
import type { Context } from '../context.js';
import { CliExit, errnoText } from '../messages.js';
import { netnsJson, withNetns } from '../ndjson.js';
import { StdoutClosed } from '../output.js';
import type { CtRequest } from '../parse.js';

/** The most streams -E / log --all-netns keep open (one socket and reader thread each). */
export const MAX_STREAMS = 256;
/** How often -E / log --all-netns look for namespaces that came or went (ms). */
const RESCAN_MS = 5000;

/** One command module, as main.ts runs it in one namespace. */
export type Command = (ct: Conntrack, r: CtRequest, ctx: Context) => Promise<number>;

const SHOWN = /^(\d+) (flow (?:entries|events) have been shown\.)$/;

/** The "N flow entries have been shown." of every namespace, said once as their sum. */
class Shown {
  private total = 0;
  private words: string | undefined;
  /** False when the line is not such a summary. */
  add(line: string): boolean {
    const m = SHOWN.exec(line);
    if (!m) return false;
    this.total += Number(m[1]);
    this.words = m[2];
    return true;
  }
  report(ctx: Context): void {
    if (this.words) ctx.say(`${this.total} ${this.words}`);
  }
}

/** The context one namespace's command runs with: marked output and messages, its own stop. */
function namespaceContext(ns: NetworkNamespace, json: boolean, ctx: Context, shown: Shown, stop: AbortSignal): Context {
  const tag = `[${namespaceLabel(ns)}] `;
  const mark = json ? withNetns(netnsJson(ns)) : (line: string) => tag + line;
  return {
    out: ctx.out.marked(mark),
    err: (line) => ctx.err(tag + line),
    say: (line) => {
      if (!shown.add(line)) ctx.say(tag + line);
    },
    stop,
    get signal() {
      return ctx.signal;
    },
  };
}

/**
 * What one namespace's failure means: a namespace gone since it was listed is skipped (0; told
 * to `gone`); an operation that failed there is said, marked (its exit status); a closed
 * stdout, a bad parameter or a missing privilege ends the whole command (thrown).
 */
function failure(ns: NetworkNamespace, e: unknown, ctx: Context, gone?: (ns: NetworkNamespace) => void): number {
  if (e instanceof StdoutClosed || e instanceof TypeError || e instanceof RangeError) throw e;
  // No privilege: every namespace would say the same; said once, by the command.
  if (e instanceof NfctError && e.code === 'EPERM') throw e;
  if (e instanceof CliExit && e.tryHelp) throw e;
  const tag = `[${namespaceLabel(ns)}] `;
  if (e instanceof NfctError && (e.code === 'ENOENT' || e.code === 'EINVAL')) {
    gone?.(ns);
    return 0;
  }
  if (e instanceof CliExit) {
    if (e.message) ctx.say(tag + e.message);
    return e.code;
  }
  if (e instanceof NfctError) {
    ctx.say(`${tag}Operation failed: ${errnoText(e.errno, '')}`);
    return 1;
  }
  throw e;
}

/** Opens something in a namespace, unless the reader of stdout left (then nothing more is opened). */
function openIn<T>(ctx: Context, open: () => Promise<T>): Promise<T> {
  if (ctx.out.broken) throw new StdoutClosed();
  return open();
}

/** Runs `command` (list, count, stats or events) in every namespace of the node; resolves the exit status. */
export async function inEveryNamespace(r: CtRequest, ctx: Context, command: Command): Promise<number> {
  if (r.command === 'event') {
    return followNamespaces(ctx, {
      json: r.json,
      ...(r.podLogDir !== undefined ? { podLogDir: r.podLogDir } : {}),
      open: async (ns) => {
        const ct = await Conntrack.open({ netns: ns.path });
        return { run: (c) => command(ct, r, c), close: () => void ct.close() };
      },
    });
  }
  const shown = new Shown();
  const results = await mapSettled(await listNamespaces({ podLogDir: r.podLogDir }), async (ns) => {
    if (ctx.stop.aborted) return 0;
    const ct = await openIn(ctx, () => Conntrack.open({ netns: ns.path }));
    try {
      return await command(ct, r, namespaceContext(ns, r.json, ctx, shown, ctx.stop));
    } finally {
      await ct.close();
    }
  }, DEFAULT_CONCURRENCY);
  let code = 0;
  for (const s of results) code = Math.max(code, s.ok ? s.value : failure(s.item, s.error, ctx));
  shown.report(ctx);
  return code;
}

/** A command's stream in one namespace, once opened: it runs until its context's `stop`. */
export interface NamespaceStream {
  run(ctx: Context): Promise<number>;
  /**
   * Ends the stream early, so that `run` returns: called once its context's `stop` is aborted
   * (Ctrl-C, or the namespace went away).
   */
  end?(): void;
  /** Closes what `open` opened (after `run` ended, or when it never ran). */
  close(): void;
}

export interface FollowOptions {
  /** NDJSON: each line gets the `netns` object; else `[label] ` before it. */
  json: boolean;
  /**
   * Opens the stream of one namespace (a few at once). Null: the namespace is skipped (the
   * opener said why); it is not tried again while it exists.
   */
  open(ns: NetworkNamespace): Promise<NamespaceStream | null>;
  /** Called when a namespace goes away, before or while its stream runs (it is skipped either way). */
  gone?(ns: NetworkNamespace): void;
  /** Where the kubelet's pod log directories are (see listNamespaces()). */
  podLogDir?: string;
  /** The most streams at once (default MAX_STREAMS). */
  maxStreams?: number;
  /** How often namespaces are looked for (ms, default 5000). */
  rescanMs?: number;
  /** Lists the node's namespaces (default: listNamespaces() with `podLogDir`). */
  list?(): Promise<NetworkNamespace[]>;
}

/**
 * Whether `now`, listed with the inode number `was` had, is still that namespace: they share a
 * name or a process. The kernel gives a freed namespace's inode number to the next namespace
 * made, so the number alone does not tell a namespace from a later one.
 */
function sameNamespace(was: NetworkNamespace, now: NetworkNamespace): boolean {
  return now.names.some((n) => was.names.includes(n)) ||
    now.processes.some((p) => was.processes.some((q) => q.pid === p.pid));
}

/** The labels of namespaces, for a message. */
function labels(list: readonly NetworkNamespace[]): string {
  return list.map((n) => namespaceLabel(n)).join(', ');
}

/**
 * A stream in every namespace of the node, namespaces followed as they come and go, at most
 * `maxStreams` at once, opened DEFAULT_CONCURRENCY at a time. Namespaces past the bound are
 * named in a warning and started as soon as a stream ends. A namespace whose stream failed or
 * ended is said once (marked) and not started again while it exists. Resolves the exit status
 * once ctx.stop ends every stream; throws what ends them all (stdout closed, a bad parameter).
 */
export async function followNamespaces(ctx: Context, o: FollowOptions): Promise<number> {
  const maxStreams = o.maxStreams ?? MAX_STREAMS;
  const rescanMs = o.rescanMs ?? RESCAN_MS;
  const shown = new Shown();
  const quit = new AbortController();
  const running = new Map<number, { ns: NetworkNamespace; stop: AbortController; done: Promise<void> }>();
  // One listener ends every stream (not one per stream: hundreds of namespaces).
  const onQuit = (): void => {
    for (const s of running.values()) s.stop.abort();
    wake();
  };
  quit.signal.addEventListener('abort', onQuit, { once: true });
  const onStop = (): void => quit.abort();
  ctx.stop.addEventListener('abort', onStop, { once: true });
  if (ctx.stop.aborted) quit.abort();
  /** Namespaces whose stream ended or was skipped, while they exist (by inode, as last listed). */
  const ended = new Map<number, NetworkNamespace>();
  /** Namespaces left out for the bound (and already named in a warning), while they exist. */
  const leftOut = new Map<number, NetworkNamespace>();
  let code = 0;
  /** What ends the command (held in a box: a thrown value may be anything, even undefined). */
  let fatal: { error: unknown } | undefined;
  /** Ends the wait between rescans at once (a stream ended while namespaces wait for room). */
  let woken = false;
  let wake = (): void => void (woken = true);
  const settle = (ns: NetworkNamespace, e: unknown): void => {
    try {
      code = Math.max(code, failure(ns, e, ctx, o.gone));
    } catch (thrown) {
      fatal ??= { error: thrown };
      quit.abort();
    }
  };

  const start = async (ns: NetworkNamespace): Promise<void> => {
    ended.set(ns.inode, ns);
    leftOut.delete(ns.inode);
    const stream = await openIn(ctx, () => o.open(ns));
    if (!stream) return;
    const stop = new AbortController();
    if (stream.end) stop.signal.addEventListener('abort', () => stream.end!(), { once: true });
    if (quit.signal.aborted) stop.abort();
    const done = stream
      .run(namespaceContext(ns, o.json, ctx, shown, stop.signal))
      .then((c) => void (code = Math.max(code, c)), (e: unknown) => settle(ns, e))
      .finally(() => {
        stream.close();
        if (running.get(ns.inode)?.done === done) running.delete(ns.inode);
        if (leftOut.size > 0) wake();
      });
    running.set(ns.inode, { ns, stop, done });
  };

  const rescan = async (): Promise<void> => {
    const all = await (o.list ? o.list() : listNamespaces({ podLogDir: o.podLogDir }));
    const live = new Map(all.map((n) => [n.inode, n]));
    // A namespace gone: its stream ends (and closing the handle frees the namespace), and its
    // room is free for this rescan. (A stream holds its namespace: while it runs, no other
    // namespace gets its inode number.)
    const ending: Promise<void>[] = [];
    for (const [inode, s] of running) {
      if (live.has(inode) || s.stop.signal.aborted) continue;
      o.gone?.(s.ns);
      s.stop.abort();
      ending.push(s.done);
    }
    await Promise.all(ending);
    // A namespace gone is forgotten, now that no stream holds it: the kernel gives its inode
    // number to the next namespace made once it is freed (maybe before the next look), and
    // that one is new.
    for (const known of [ended, leftOut]) {
      for (const [inode, was] of known) {
        if (running.has(inode)) continue;
        const now = live.get(inode);
        if (now && sameNamespace(was, now)) known.set(inode, now);
        else known.delete(inode);
      }
    }
    // Started while there is room: a namespace whose opener skips it takes none. This process's
    // own namespace is opened first and alone: a missing privilege is said before any other
    // namespace's fate (one gone meanwhile on a busy node).
    let fresh = all.filter((n) => !running.has(n.inode) && !ended.has(n.inode));
    const own = fresh.find((n) => n.current);
    if (own && running.size === 0 && !quit.signal.aborted) {
      try {
        await start(own);
      } catch (e) {
        settle(own, e);
      }
      fresh = fresh.filter((n) => n !== own);
    }
    for (let room = maxStreams - running.size; fresh.length > 0 && room > 0 && !quit.signal.aborted;
      room = maxStreams - running.size)
    {
      const results = await mapSettled(fresh.slice(0, room), start, DEFAULT_CONCURRENCY);
      for (const s of results) if (!s.ok) settle(s.item, s.error);
      fresh = fresh.slice(room);
    }
    const newly = fresh.filter((n) => !leftOut.has(n.inode));
    if (newly.length > 0 && !quit.signal.aborted) {
      for (const n of newly) leftOut.set(n.inode, n);
      ctx.err(
        `WARNING: ${maxStreams} namespaces are followed at most; ${newly.length} more left out until others end: ${
          labels(newly)
        }`,
      );
    }
  };

  try {
    await rescan();
    while (!quit.signal.aborted) {
      if (!woken) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(done, rescanMs);
          function done(): void {
            clearTimeout(t);
            resolve();
          }
          wake = done;
        });
      }
      woken = false;
      wake = () => void (woken = true);
      if (ctx.out.broken) fatal ??= { error: new StdoutClosed() }; // the reader left while the streams were quiet
      if (fatal) break;
      if (!quit.signal.aborted) await rescan();
    }
  } finally {
    quit.abort();
    ctx.stop.removeEventListener('abort', onStop);
    await Promise.all([...running.values()].map((s) => s.done));
  }
  if (fatal) throw fatal.error;
  shown.report(ctx);
  return code;
}
