// TRACE: every rule a packet passes, from legacy iptables TRACE (nf_log -> NFLOG group 0) and
// from nftables / iptables-nft (NFT_MSG_TRACE), as one stream of "this packet hit this rule".
import { closeSync, fstatSync } from 'node:fs';

import { type CallSite, callSite, ClosedError, withCallSite } from '../core/errors.js';
import { addon, type NativeStream, type OnBatch, type ReaderTuning } from '../core/native.js';
import { netnsPath, openNamespaceSync } from '../core/netns.js';
import { BatchSource } from '../core/reader.js';
import { LIVE_STREAM_KEYS, normalizeLiveOptions } from '../core/stream.js';
import { assertKnownKeys, assertObject, boolean, optionalInteger } from '../core/validate.js';
import { groupConfig, Nflog } from '../nflog/handle.js';
import { onPath, requireCommands } from './commands.js';
import { matchExpression, matchSelects } from './rules.js';
import { TraceDescriber } from './ruleset-words.js';
import { holdLogger, newTableName, removeStaleTables } from './state.js';
import { type StreamOptions, TracePacketStream, TraceStream } from './streams.js';
import type { TraceEvent, TraceOpenOptions, TracePacketsOptions, TraceStreamOptions } from './types.js';

/** A handle on packet tracing in one network namespace. */
export class Trace implements AsyncDisposable {
  #closed = false;
  readonly #describer: TraceDescriber;
  #releaseLogger: (() => Promise<void>) | undefined;
  readonly #live = new Set<TraceStream>();
  readonly #ending = new Set<Promise<void>>();

  readonly #nsfd: number | undefined;
  readonly #nflog: Nflog | undefined;
  readonly #nftables: boolean;

  private constructor(
    /** The namespace file this handle works in, or null for the caller's own. */
    readonly netnsPath: string | null,
    nsfd: number | undefined,
    nflog: Nflog | undefined,
    nftables: boolean,
  ) {
    this.#nsfd = nsfd;
    this.#nflog = nflog;
    this.#nftables = nftables;
    const ns = this.namespaceFile;
    this.#describer = new TraceDescriber(ns ?? undefined);
  }

  /**
   * @internal The namespace as this process holds it open (/proc/PID/fd/N): it stays
   * reachable after `ip netns delete` removes its name, as Conntrack and Nflog handles keep theirs.
   */
  get namespaceFile(): string | null {
    return this.#nsfd === undefined ? null : `/proc/${process.pid}/fd/${this.#nsfd}`;
  }

  /** @internal */
  nextTableName(): string {
    return newTableName();
  }

  /**
   * Opens a handle that reads the packet traces of a namespace: nftables trace events (nft and
   * iptables-nft rules) and legacy iptables TRACE (through NFLOG group 0). Nothing is traced
   * until a stream asks: events() or packets() with a `match`, or rules that set nftrace/TRACE.
   */
  static async open(options: TraceOpenOptions = {}): Promise<Trace> {
    const raw: unknown = options;
    assertObject(raw, 'Trace.open options');
    assertKnownKeys(raw, ['netns', 'nftables', 'legacy', 'bindLogger'], 'Trace.open options');
    const path = netnsPath(options.netns);
    const nft = boolean(options.nftables, 'Trace.open options.nftables') ?? true;
    const legacy = boolean(options.legacy, 'Trace.open options.legacy') ?? true;
    const bind = boolean(options.bindLogger, 'Trace.open options.bindLogger') ?? false;
    if (bind && path === null) {
      throw new TypeError(
        "Trace.open options.bindLogger needs options.netns: the nf_log backend of the caller's own namespace is never changed",
      );
    }
    if (!nft && !legacy) throw new TypeError('Trace.open options: nftables and legacy are both off');
    const site = callSite(Trace.open);
    let nsfd: number | undefined;
    try {
      if (path) nsfd = openNamespaceSync(path);
    } catch (e) {
      throw withCallSite(e, site, 'opening TRACE');
    }
    // Opening NFLOG enters the namespace, so a missing privilege fails here, not later; without
    // legacy TRACE the handle is opened for that check alone.
    const nflog = legacy || path ?
      await Nflog.open(path ? { netns: path } : {}).catch((e: unknown) => {
        if (nsfd !== undefined) closeSync(nsfd);
        throw withCallSite(e, site, 'opening TRACE');
      }) :
      undefined;
    if (!legacy) await nflog?.close();
    const trace = new Trace(path, nsfd, legacy ? nflog : undefined, nft);
    const ns = trace.namespaceFile;
    // Tables left by processes that died without removing them would trace packets for no one.
    if (nft && onPath('nft') && (ns === null || onPath('nsenter'))) await removeStaleTables(ns).catch(() => undefined);
    if (bind && ns !== null && nsfd !== undefined) {
      try {
        const st = fstatSync(nsfd);
        trace.#releaseLogger = await holdLogger(`${st.dev}:${st.ino}`, ns);
      } catch (e) {
        await trace.close();
        throw withCallSite(e, site, 'binding the nf_log backend to nfnetlink_log');
      }
    }
    return trace;
  }

  /** Every hop of every traced packet, as it happens. */
  events(options: TraceStreamOptions = {}): TraceStream {
    if (this.#closed) throw new ClosedError('Trace handle (events() after close())');
    return this.#stream(this.#normalize(options), callSite(this.events));
  }

  /** The same hops grouped per packet: all of one packet together, in order. */
  packets(options: TracePacketsOptions = {}): TracePacketStream {
    if (this.#closed) throw new ClosedError('Trace handle (packets() after close())');
    assertObject(options, 'packets() options');
    const idle = optionalInteger(options.idleMs, 'packets() options.idleMs', 1, 600000) ?? 250;
    const { idleMs: _drop, ...rest } = options;
    return TracePacketStream.of(this.#stream(this.#normalize(rest), callSite(this.packets)), idle);
  }

  #normalize(options: TraceStreamOptions): StreamOptions {
    assertObject(options, 'trace options');
    assertKnownKeys(options, ['match', 'resolveRules', 'ownHops', ...LIVE_STREAM_KEYS], 'trace options');
    const resolve = boolean(options.resolveRules, 'trace options.resolveRules') ?? true;
    const ownHops = boolean(options.ownHops, 'trace options.ownHops') ?? false;
    const { tuning, signal } = normalizeLiveOptions(options, 'trace options');
    if (options.match === undefined) return { resolve, ownHops, signal, tuning };
    return { match: matchExpression(options.match), selects: matchSelects(options.match), resolve, ownHops, signal,
      tuning };
  }

  #stream(opts: StreamOptions, site: CallSite): TraceStream {
    const ns = this.namespaceFile;
    if (opts.match && !opts.signal?.aborted) {
      requireCommands(ns ? ['nft', 'nsenter'] : ['nft'], 'tracing with options.match');
    }
    const kinds: ('nftables' | 'legacy')[] = [];
    const starts: ((onBatch: OnBatch) => NativeStream)[] = [];
    // An already aborted signal: nothing is started, bound or installed.
    if (!opts.signal?.aborted) {
      if (this.#nftables) {
        const tuning: ReaderTuning = { ...opts.tuning, maxQueueRecords: 0, maxBatch: 1024 };
        kinds.push('nftables');
        starts.push((onBatch) => addon.traceEvents(ns, onBatch, tuning));
      }
      if (this.#nflog) {
        const nflog = this.#nflog;
        kinds.push('legacy');
        // Group 0, where nf_log sends legacy TRACE; a partial batch waits 50 ms at most.
        starts.push((onBatch) => nflog.startReader(groupConfig(0, 5), opts.tuning, onBatch));
      }
    }
    const source = new BatchSource(starts, site,
      kinds.includes('nftables') ? 'nftables trace' : 'TRACE (NFLOG group 0)');
    return TraceStream.of(this, kinds, source, opts);
  }

  /** @internal */
  track(stream: TraceStream): void {
    this.#live.add(stream);
  }

  /** @internal */
  forget(stream: TraceStream): void {
    this.#live.delete(stream);
    const done = stream.cleanedUp;
    this.#ending.add(done);
    void done.finally(() => this.#ending.delete(done));
  }

  /** @internal The hop's rule in its ruleset's words, the Service of a jump, the hook. */
  async describe(e: TraceEvent): Promise<void> {
    await this.#describer.describe(e);
  }

  /**
   * Ends every stream, removes their temporary rules (also one still being installed), lets
   * go of the nf_log binding (the backend found first is put back when no handle of this
   * process holds it any more). Idempotent.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const s of [...this.#live]) void s.close();
    await this.#nflog?.close();
    // Temporary rules go before the namespace is let go.
    await Promise.all([...this.#ending]);
    const release = this.#releaseLogger;
    this.#releaseLogger = undefined;
    try {
      await release?.();
    } finally {
      if (this.#nsfd !== undefined) closeSync(this.#nsfd);
    }
  }

  /** Closes the handle at the end of an `await using` block. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
