// The streams of TRACE: every hop as it happens (TraceStream, one LiveStream over the nftables
// trace reader and NFLOG group 0), and the same hops grouped per packet (TracePacketStream).
import { untilDeadline } from '../core/concurrency.js';
import type { BatchSource, RawBatch } from '../core/reader.js';
import { LiveStream, type LiveTuning } from '../core/stream.js';
import { decodePackets } from '../nflog/handle.js';
import type { DecodedPacket, PacketFamily } from '../packet/types.js';
import { decodeTraceBatch, legacyHop } from './decode.js';
import { ruleScript } from './rules.js';
import { TraceSelection, type TraceSelectionStats } from './selection.js';
import { installTable, removeStaleTables, removeTable, TABLE_PREFIX } from './state.js';
import type { NftablesFamily, TraceEvent, TracePacket } from './types.js';

/** @internal What a stream's options become once checked (Trace.events() and packets()). */
export interface StreamOptions {
  /** The nft expression of options.match (matchExpression()), when there is one. */
  match?: string;
  /** Whether headers are of a packet options.match selects (matchSelects()), with match. */
  selects?: (packet: DecodedPacket) => boolean;
  resolve: boolean;
  /** Keep the hops of the library's own tables. */
  ownHops: boolean;
  signal?: AbortSignal;
  tuning: LiveTuning;
}

/** @internal What a TraceStream needs of the Trace handle that made it. */
export interface TraceStreamOwner {
  /** The namespace as the handle holds it open, or null for the caller's own. */
  readonly namespaceFile: string | null;
  nextTableName(): string;
  track(stream: TraceStream): void;
  forget(stream: TraceStream): void;
  /** Sets the hop's rule text in its ruleset's words, the Service of a jump, the hook. */
  describe(e: TraceEvent): Promise<void>;
}

/** A hop in one of the library's own temporary tables (`inet nfct_trace_...`, any process's). */
function isOwnHop(h: TraceEvent): boolean {
  return h.source === 'nftables' && h.family === 'inet' && h.table.startsWith(TABLE_PREFIX);
}

/** Tables of these families see packets of one family only. */
const TABLE_PACKETS: Partial<Record<NftablesFamily, PacketFamily>> = { ip: 'ipv4', ip6: 'ipv6', arp: 'arp',
  bridge: 'bridge', netdev: 'netdev' };

/** A packet's family, from its headers or, without them, the hop's table. */
function packetFamily(e: TraceEvent): PacketFamily {
  if (e.packet) return e.packet.family;
  if (e.source !== 'nftables') return e.family;
  return TABLE_PACKETS[e.family] ?? 'unknown';
}

/**
 * Every hop of every traced packet, as it happens: the nftables trace reader and the legacy
 * TRACE lines of NFLOG group 0 as one batching source, read as a LiveStream like conntrack
 * events and NFLOG packets. Iterate it once with `for await`; `break`, `return()`, `close()`,
 * the AbortSignal and the Trace handle's `close()` end it.
 */
export class TraceStream extends LiveStream<TraceEvent> {
  /**
   * Resolves once the stream traces: at once, or with `match` once the temporary rule is in
   * place. Rejects as the first `next()` does when the rule cannot be installed.
   */
  readonly ready: Promise<void>;
  /** Resolves when whatever the stream put in the kernel is gone again (after it ends). */
  #removed: Promise<void> | undefined;
  /** Why installing the table failed, for next() to throw once (boxed: a thrown value may be anything). */
  #failure: { error: unknown } | undefined;
  #table: string | undefined;
  #carried: DecodedPacket | undefined;
  #carriedId: number | undefined;
  /** With a match: keeps the traces its own rule selected (the kernel sends every tracer's). */
  readonly #selection: TraceSelection | undefined;

  readonly #owner: TraceStreamOwner;
  readonly #kinds: readonly ('nftables' | 'legacy')[];
  readonly #opts: StreamOptions;

  private constructor(owner: TraceStreamOwner, kinds: readonly ('nftables' | 'legacy')[], source: BatchSource,
    opts: StreamOptions)
  {
    super(source, opts.signal, () => owner.forget(this));
    this.#owner = owner;
    this.#kinds = kinds;
    this.#opts = opts;
    owner.track(this);
    const match = opts.signal?.aborted ? undefined : opts.match;
    if (match && opts.selects) this.#selection = new TraceSelection(() => this.#table, opts.selects);
    // From a microtask: a stream closed at once installs nothing.
    this.ready = match
      ? Promise.resolve().then(() => (this.done ? undefined : this.#install(match)))
      : Promise.resolve();
    this.ready.catch(() => undefined);
  }

  /** @internal Trace.events() */
  static of(owner: TraceStreamOwner, kinds: readonly ('nftables' | 'legacy')[], source: BatchSource,
    opts: StreamOptions): TraceStream
  {
    return new TraceStream(owner, kinds, source, opts);
  }

  /** @internal The batching source, shared with the per-packet view of packets(). */
  get batches(): BatchSource {
    return this.source;
  }

  async #install(expression: string): Promise<void> {
    try {
      const ns = this.#owner.namespaceFile;
      await removeStaleTables(ns).catch(() => undefined);
      if (this.done) return;
      this.#table = this.#owner.nextTableName();
      await installTable(ns, this.#table, ruleScript(this.#table, expression));
    } catch (e) {
      this.#table = undefined;
      this.#failure = { error: e };
      void this.close();
      throw e;
    }
  }

  /** @internal */
  protected decode(batch: RawBatch): TraceEvent[] {
    if (this.#kinds[batch.tag] === 'legacy') {
      const out: TraceEvent[] = [];
      for (const pkt of decodePackets(batch)) {
        const hop = legacyHop(pkt);
        if (hop) out.push(hop);
      }
      return out;
    }
    const hops = decodeTraceBatch(batch);
    const out: TraceEvent[] = this.#selection ? [] : hops;
    // Headers come with the first hop of an nftables trace (in the table that marked the
    // packet, often the library's own): later hops inherit them.
    for (const hop of hops) {
      const sent = hop.packet;
      if (sent) {
        this.#carried = sent;
        this.#carriedId = hop.id;
      } else if (this.#carriedId === hop.id) hop.packet = this.#carried;
      if (this.#selection) { for (const h of this.#selection.admit(hop, sent)) out.push(h); }
    }
    // The selection needs the marking hops; the caller sees them only with ownHops.
    return this.#opts.ownHops ? out : out.filter((h) => !isOwnHop(h));
  }

  /**
   * With a match: the traces left out because the stream's own rule did not select them
   * (another tracer's in the same namespace, whatever else set nftrace), and those whose
   * marking hop was lost and whose headers could not be judged. Zero without a match: then
   * every trace of the namespace is the stream's.
   */
  get leftOut(): TraceSelectionStats {
    return { ...(this.#selection?.stats ?? { others: 0, unattributed: 0 }) };
  }

  override async next(): Promise<IteratorResult<TraceEvent>> {
    await this.ready.catch(() => undefined);
    if (this.#failure !== undefined) {
      const { error } = this.#failure;
      this.#failure = undefined;
      throw error;
    }
    const r = await super.next();
    if (!r.done && this.#opts.resolve) await this.#owner.describe(r.value);
    return r;
  }

  /** Ends the stream; resolves once its socket is closed and its temporary rule removed. Idempotent. */
  override async close(): Promise<void> {
    if (!this.done) {
      // The temporary rule goes once its install is through (close() may come in the middle).
      this.#removed = this.ready.catch(() => undefined).then(
        () => (this.#table ? removeTable(this.#table) : undefined),
      );
      await super.close();
    }
    await this.cleanedUp;
  }

  /** @internal Resolves once the stream has ended and its rule is removed. */
  get cleanedUp(): Promise<void> {
    return this.#removed ?? Promise.resolve();
  }
}

/** The same hops grouped per packet: all of one packet together, in order. */
export class TracePacketStream extends LiveStream<TracePacket> {
  readonly #groups = new Map<string, { pkt: TracePacket; last: number }>();
  readonly #finished: TracePacket[] = [];
  #pending: Promise<IteratorResult<TraceEvent>> | undefined;
  #ended = false;

  readonly #hops: TraceStream;
  readonly #idleMs: number;

  private constructor(hops: TraceStream, idleMs: number) {
    super(hops.batches, undefined, () => void hops.close());
    this.#hops = hops;
    this.#idleMs = idleMs;
  }

  /** @internal Trace.packets() */
  static of(hops: TraceStream, idleMs: number): TracePacketStream {
    return new TracePacketStream(hops, idleMs);
  }

  /** Ends the stream; resolves once its socket is closed and its temporary rule removed. Idempotent. */
  override async close(): Promise<void> {
    await super.close();
    await this.#hops.close();
  }

  /** As TraceStream.ready. */
  get ready(): Promise<void> {
    return this.#hops.ready;
  }

  /** As TraceStream.leftOut. */
  get leftOut(): TraceSelectionStats {
    return this.#hops.leftOut;
  }

  /** @internal */
  protected decode(): TracePacket[] {
    return []; // items come from the hop stream (next() below)
  }

  #finish(key: string): void {
    const g = this.#groups.get(key);
    if (!g) return;
    this.#groups.delete(key);
    this.#finished.push(g.pkt);
  }

  #add(e: TraceEvent): void {
    const key = `${e.source} ${e.id}`;
    let g = this.#groups.get(key);
    if (!g) {
      g = {
        pkt: { type: 'trace', id: e.id, source: e.source, family: packetFamily(e), hops: [], packet: e.packet,
          dropped: false },
        last: Date.now(),
      };
      this.#groups.set(key, g);
    }
    g.pkt.hops.push(e);
    g.last = Date.now();
    if (e.verdict && e.verdict !== 'continue' && e.verdict !== 'jump' && e.verdict !== 'goto' &&
      e.verdict !== 'return') g.pkt.verdict = e.verdict;
    if (e.kind === 'policy' && e.verdict) g.pkt.verdict = e.verdict;
    if (e.verdict === 'drop') {
      g.pkt.dropped = true;
      this.#finish(key);
    }
  }

  override async next(): Promise<IteratorResult<TracePacket>> {
    for (;;) {
      if (this.done) return { value: undefined, done: true };
      const out = this.#finished.shift();
      if (out) return { value: out, done: false };
      if (this.#ended) {
        void this.close();
        return { value: undefined, done: true };
      }
      const soonest = Math.min(...[...this.#groups.values()].map((g) => g.last + this.#idleMs));
      this.#pending ??= this.#hops.next();
      const r = await untilDeadline(this.#pending, soonest).catch((e: unknown) => {
        this.#pending = undefined;
        void this.close(); // the error is thrown at once, as the stream closes
        throw e;
      });
      if (r === undefined) {
        for (const [k, g] of this.#groups) if (Date.now() - g.last >= this.#idleMs) this.#finish(k);
        continue;
      }
      this.#pending = undefined;
      if (r.done) {
        for (const k of [...this.#groups.keys()]) this.#finish(k);
        this.#ended = true;
      } else {
        this.#add(r.value);
      }
    }
  }
}
