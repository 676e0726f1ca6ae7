// --all-netns: -L, -C, -S, -E or `nfct log` in every network namespace of the node, a few at
// once, each namespace run by the command's own module through a marked view of the one writer
// (text lines start with `[label] `, NDJSON objects get a `netns` object). -E and `nfct log`
// follow namespaces as they come and go, up to MAX_STREAMS streams (a reader thread each).
import { setMaxListeners } from 'node:events';

import { Conntrack } from '../../conntrack/handle.js';
import { DEFAULT_CONCURRENCY, mapSettled } from '../../core/concurrency.js';
import { NfctError } from '../../core/errors.js';
import { listNamespaces, namespaceLabel, type NetworkNamespace } from '../../core/netns-discovery.js';
import type { Context } from '../context.js';
import { CliExit, errnoText } from '../messages.js';
import { StdoutClosed } from '../output.js';
import type { CtRequest } from '../parse.js';

/** The most streams -E / log --all-netns keep open (one socket and reader thread each). */
export const MAX_STREAMS = 256;
/** How often -E / log --all-netns look for namespaces that came or went (ms). */
const RESCAN_MS = 5000;

/** One command module, as main.ts runs it in one namespace. */
export type Command = (ct: Conntrack, r: CtRequest, ctx: Context) => Promise<number>;

/** The `netns` object of an NDJSON line. */
export function netnsJson(ns: NetworkNamespace): Record<string, unknown> {
  const o: Record<string, unknown> = { label: namespaceLabel(ns), inode: ns.inode, names: ns.names, path: ns.path };
  if (ns.podUid) o.podUid = ns.podUid;
  if (ns.containerIds.length > 0) o.containerIds = ns.containerIds;
  return o;
}

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
  const field = `,"netns":${JSON.stringify(netnsJson(ns))}}`;
  const mark = json ? (line: string) => (line.endsWith('}') ? line.slice(0, -1) + field : line) : (line: string) => tag + line;
  return {
    out: ctx.out.marked(mark),
    err: (line) => ctx.err(tag + line),
    say: (line) => void (shown.add(line) || ctx.say(tag + line)),
    stop,
    get signal() {
      return ctx.signal;
    },
  };
}

/**
 * What one namespace's failure means: a namespace gone since it was listed is skipped (0; told
 * to `gone`); an operation that failed there is said, marked (its exit status); a closed
 * stdout or a bad parameter ends the whole command (thrown).
 */
function failure(ns: NetworkNamespace, e: unknown, ctx: Context, gone?: (ns: NetworkNamespace) => void): number {
  if (e instanceof StdoutClosed || e instanceof TypeError || e instanceof RangeError) throw e;
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
      open: async (ns) => {
        const ct = await Conntrack.open({ netns: ns.path });
        return { run: (c) => command(ct, r, c), close: () => ct.close() };
      },
    });
  }
  const shown = new Shown();
  const results = await mapSettled(await listNamespaces(), async (ns) => {
    if (ctx.stop.aborted) return 0;
    const ct = await openIn(ctx, () => Conntrack.open({ netns: ns.path }));
    try {
      return await command(ct, r, namespaceContext(ns, r.json, ctx, shown, ctx.stop));
    } finally {
      ct.close();
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
}

/**
 * A stream in every namespace of the node, namespaces followed as they come and go, at most
 * MAX_STREAMS at once, opened DEFAULT_CONCURRENCY at a time. A namespace whose stream failed
 * or ended is said once (marked) and not started again while it exists. Resolves the exit status
 * once ctx.stop ends every stream; throws what ends them all (stdout closed, a bad parameter).
 */
export async function followNamespaces(ctx: Context, o: FollowOptions): Promise<number> {
  const shown = new Shown();
  const quit = new AbortController();
  // One listener per namespace followed.
  setMaxListeners(MAX_STREAMS + 16, quit.signal);
  const onStop = (): void => quit.abort();
  ctx.stop.addEventListener('abort', onStop, { once: true });
  if (ctx.stop.aborted) quit.abort();
  const running = new Map<number, { ns: NetworkNamespace; stop: AbortController; done: Promise<void> }>();
  /** Namespaces whose stream ended or was skipped, while they exist. */
  const ended = new Set<number>();
  let code = 0;
  let fatal: unknown;
  let warned = false;
  const settle = (ns: NetworkNamespace, e: unknown): void => {
    try {
      code = Math.max(code, failure(ns, e, ctx, o.gone));
    } catch (thrown) {
      fatal ??= thrown;
      quit.abort();
    }
  };

  const start = async (ns: NetworkNamespace): Promise<void> => {
    ended.add(ns.inode);
    const stream = await openIn(ctx, () => o.open(ns));
    if (!stream) return;
    const stop = new AbortController();
    const end = (): void => stop.abort();
    quit.signal.addEventListener('abort', end, { once: true });
    const done = stream
      .run(namespaceContext(ns, o.json, ctx, shown, stop.signal))
      .then((c) => void (code = Math.max(code, c)), (e: unknown) => settle(ns, e))
      .finally(() => {
        stream.close();
        quit.signal.removeEventListener('abort', end);
        if (running.get(ns.inode)?.done === done) running.delete(ns.inode);
      });
    running.set(ns.inode, { ns, stop, done });
  };

  const rescan = async (): Promise<void> => {
    const all = await listNamespaces();
    const live = new Set(all.map((n) => n.inode));
    for (const inode of ended) if (!live.has(inode) && !running.has(inode)) ended.delete(inode);
    // A namespace gone: its stream ends (and closing the handle frees the namespace).
    for (const [inode, s] of running) {
      if (live.has(inode) || s.stop.signal.aborted) continue;
      o.gone?.(s.ns);
      s.stop.abort();
    }
    const fresh = all.filter((n) => !running.has(n.inode) && !ended.has(n.inode));
    const room = Math.max(0, MAX_STREAMS - running.size);
    if (fresh.length > room && !warned) {
      warned = true;
      ctx.err(`WARNING: ${MAX_STREAMS} namespaces are followed at most; ${fresh.length - room} left out`);
    }
    const results = await mapSettled(fresh.slice(0, room), start, DEFAULT_CONCURRENCY);
    for (const s of results) if (!s.ok) settle(s.item, s.error);
  };

  try {
    await rescan();
    while (!quit.signal.aborted) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, RESCAN_MS);
        function done(): void {
          clearTimeout(t);
          quit.signal.removeEventListener('abort', done);
          resolve();
        }
        quit.signal.addEventListener('abort', done, { once: true });
      });
      if (ctx.out.broken) fatal ??= new StdoutClosed(); // the reader left while the streams were quiet
      if (fatal) break;
      if (!quit.signal.aborted) await rescan();
    }
  } finally {
    quit.abort();
    ctx.stop.removeEventListener('abort', onStop);
    await Promise.all([...running.values()].map((s) => s.done));
  }
  if (fatal) throw fatal;
  shown.report(ctx);
  return code;
}
