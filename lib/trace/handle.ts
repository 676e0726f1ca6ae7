// TRACE: every rule a packet passes, from legacy iptables TRACE (nf_log -> NFLOG group 0) and
// from nftables / iptables-nft (NFT_MSG_TRACE), as one stream of "this packet hit this rule".
import { closeSync, fstatSync } from 'node:fs';

import { callSite, ClosedError, withCallSite } from '../core/errors.js';
import { type DecodedPacket, decodePacket } from '../packet/decode.js';
import { parseLogLine } from '../nflog/logline-parse.js';
import { parseCidr } from '../core/address.js';
import { TracePresent, TraceWord } from '../core/layout.js';
import { addon, whenLoaded, type NativeStream, type OnBatch, type ReaderTuning } from '../core/native.js';
import { type NetnsOption, netnsPath, openNamespaceSync } from '../core/netns.js';
import { decodePackets, Nflog, type NflogPacketEvent } from '../nflog/handle.js';
import type { LogInterface } from '../nflog/types.js';
import type { KernelLogPacket } from '../kmsg/types.js';
import { BatchSource, type RawBatch } from '../core/reader.js';
import { LIVE_STREAM_KEYS, type LiveStreamOptions, type LiveTuning, LiveStream, normalizeLiveOptions } from '../core/stream.js';
import { assertKnownKeys, assertObject, boolean, describeValue, optionalInteger } from '../core/validate.js';
import { inNamespace, onPath, requireCommands, runCommand } from './commands.js';
import { holdLogger, installTable, removeStaleTables, removeTable, TABLE_PREFIX } from './state.js';

export type TraceKind = 'rule' | 'return' | 'policy';

/**
 * Where a hop was read: nftables trace events, legacy TRACE through NFLOG group 0, or legacy
 * TRACE lines of the kernel log (/dev/kmsg or a file, see KernelLog).
 */
export type TraceSource = 'legacy' | 'nftables' | 'kmsg' | 'file';

/** One hop: the packet passed a rule (or a chain's return or policy). */
export interface TraceEvent {
  source: TraceSource;
  /** Which packet: the kernel's trace id (nftables), or one derived from the packet (legacy). */
  id: number;
  family: string;
  table: string;
  chain: string;
  kind: TraceKind;
  /** Legacy: the rule's position in its chain (1 = first). */
  rule?: number;
  /** nftables: the rule's handle. */
  handle?: number;
  /** accept, drop, continue, jump, goto, return, queue, stolen, repeat, break. */
  verdict?: string;
  /** The chain of a jump or goto. */
  target?: string;
  /** The rule as `nft -a list` / `iptables-save` prints it, when it could be resolved. */
  ruleText?: string;
  iif?: LogInterface;
  oif?: LogInterface;
  mark?: number;
  /** The packet's headers (the first hop of an nftables trace carries them; later hops inherit). */
  packet?: DecodedPacket;
  /** Kernel log hops: the TRACE line and its fields as the kernel wrote them (instead of `packet`). */
  log?: KernelLogPacket;
  /** When it was received, ns since the epoch. */
  timestamp: bigint;
}

/** All hops of one packet, in order, and how its trip ended. */
export interface TracePacket {
  type: 'trace';
  id: number;
  source: TraceSource;
  family: string;
  hops: TraceEvent[];
  /** The last verdict seen: 'drop' ends a packet; otherwise what the last hop said. */
  verdict?: string;
  packet?: DecodedPacket;
  /** false when the packet went quiet (idle timeout) rather than ending in a drop. */
  dropped: boolean;
}

/** What to trace with a temporary `meta nftrace set 1` rule (see Trace.events). */
export interface TraceMatch {
  family?: 'ipv4' | 'ipv6';
  protocol?: 'tcp' | 'udp' | 'icmp' | 'icmpv6' | 'sctp';
  src?: string;
  dst?: string;
  /** Either port, source or destination. */
  port?: number;
  srcPort?: number;
  dstPort?: number;
}

export interface TraceOpenOptions {
  netns?: NetnsOption;
  /** Read nftables / iptables-nft traces (default true). */
  nftables?: boolean;
  /** Read legacy iptables TRACE through NFLOG group 0 (default true). */
  legacy?: boolean;
  /**
   * Point the ipv4/ipv6 nf_log backend of the namespace at nfnetlink_log, so legacy TRACE
   * reaches NFLOG, and put back what was there on close(). Needs `netns`: the library never
   * changes the caller's own namespace this way.
   */
  bindLogger?: boolean;
}

/**
 * Options of events() and packets(): what to trace, and the reader's buffers as for every live
 * stream (`bufferSize`, `maxBufferSize`, `maxQueueBytes`, `signal`; see LiveStreamOptions).
 */
export interface TraceStreamOptions extends LiveStreamOptions {
  /** Install a temporary trace rule for these packets; removed when the stream ends. */
  match?: TraceMatch;
  /** Look up rule texts (default true). */
  resolveRules?: boolean;
}

const NFT_TYPES: Record<number, TraceKind> = { 1: 'policy', 2: 'return', 3: 'rule' };
const NFT_FAMILY: Record<number, string> = { 1: 'inet', 2: 'ip', 3: 'arp', 5: 'netdev', 7: 'bridge', 10: 'ip6' };
const VERDICTS: Record<number, string> = { 0: 'drop', 1: 'accept', 2: 'stolen', 3: 'queue', 4: 'repeat', 5: 'stop', [-1 >>> 0]: 'continue', [-2 >>> 0]: 'break', [-3 >>> 0]: 'jump', [-4 >>> 0]: 'goto', [-5 >>> 0]: 'return' };

// The record layout of native/layout/layouts.h (lib/core/layout.ts is generated from it).
const { TRACE_WORDS, R_PRESENT, R_KIND, R_ID, R_HANDLE, R_VERDICT, R_POLICY, R_IIF, R_OIF, R_MARK, R_NFPROTO, R_NETWORK, R_TRANSPORT, R_TIME } = TraceWord;
const { T_TABLE, T_CHAIN, T_RULE_HANDLE, T_VERDICT, T_JUMP_TARGET, T_IIF, T_OIF, T_MARK, T_POLICY, T_NETWORK, T_TRANSPORT } = TracePresent;

/**
 * Parses a legacy TRACE prefix, `TRACE: raw:cali-PREROUTING:rule:1 ` (table, chain, kind,
 * rule number; chain names may hold dashes and colons). Undefined when it is not one.
 */
export function parseTracePrefix(prefix: string): { table: string; chain: string; kind: TraceKind; rule: number } | undefined {
  if (typeof prefix !== 'string') throw new TypeError(`parseTracePrefix() prefix must be a string, got ${describeValue(prefix)}`);
  const m = /^TRACE: ([^:\s]+):(\S+):(rule|return|policy):(\d{1,10}) ?$/.exec(prefix.trimStart());
  if (!m) return undefined;
  return { table: m[1]!, chain: m[2]!, kind: m[3] as TraceKind, rule: Number(m[4]) };
}

/** Parses a TRACE line from dmesg or syslog: the hop, and the packet fields parseLogLine reads. */
export function parseTraceLine(line: string): (ReturnType<typeof parseTracePrefix> & { log: ReturnType<typeof parseLogLine> }) | undefined {
  const log = parseLogLine(line);
  const hop = log.prefix !== undefined ? parseTracePrefix(log.prefix) : undefined;
  return hop ? { ...hop, log } : undefined;
}

/** @internal Rule texts, looked up on demand and kept for a second. */
export class RuleTexts {
  private readonly cache = new Map<string, { at: number; rules: Promise<Map<string, string>> }>();
  constructor(private readonly ns: string | null) {}

  private load(key: string, loader: () => Promise<Map<string, string>>): Promise<Map<string, string>> {
    const hit = this.cache.get(key);
    if (hit && Date.now() - hit.at < 1000) return hit.rules;
    const rules = loader().catch(() => new Map<string, string>());
    this.cache.set(key, { at: Date.now(), rules });
    return rules;
  }

  /** nftables: the rule with this handle, as `nft -a list chain` prints it (without the handle comment). */
  async nft(family: string, table: string, chain: string, handle: number): Promise<string | undefined> {
    const rules = await this.load(`nft ${family} ${table} ${chain}`, async () => {
      const [cmd, args] = inNamespace(this.ns, 'nft', ['-a', 'list', 'chain', family, table, chain]);
      const stdout = await runCommand(cmd, args, undefined, 'reading rule texts');
      const out = new Map<string, string>();
      for (const line of stdout.split('\n')) {
        const m = /^\s*(.*\S)\s+# handle (\d+)\s*$/.exec(line);
        if (m && !m[1]!.startsWith('chain ') && !m[1]!.startsWith('type ')) out.set(m[2]!, m[1]!);
      }
      return out;
    });
    return rules.get(String(handle));
  }

  /** Legacy: the Nth rule of a chain, as iptables-legacy-save prints it. */
  async legacy(family: string, table: string, chain: string, n: number): Promise<string | undefined> {
    const tool = family === 'ipv6' ? 'ip6tables-legacy-save' : 'iptables-legacy-save';
    const rules = await this.load(`${tool} ${table}`, async () => {
      const [cmd, args] = inNamespace(this.ns, tool, ['-t', table]);
      const stdout = await runCommand(cmd, args, undefined, 'reading rule texts');
      const out = new Map<string, string>();
      const count = new Map<string, number>();
      for (const line of stdout.split('\n')) {
        const m = /^-A (\S+) /.exec(line);
        if (!m) continue;
        const k = (count.get(m[1]!) ?? 0) + 1;
        count.set(m[1]!, k);
        out.set(`${m[1]} ${k}`, line);
      }
      return out;
    });
    return rules.get(`${chain} ${n}`);
  }
}

/** Decodes nftables trace records (native/trace/nftrace.h). */
function decodeTraceBatch(batch: RawBatch): Omit<TraceEvent, 'ruleText'>[] {
  const w = new Uint32Array(batch.buffer);
  const s = batch.strings.split('\0');
  let si = 0;
  const bytes = batch.bytes;
  const slice = (at: number): Buffer => (bytes ? Buffer.from(bytes, w[at]!, w[at + 1]!) : Buffer.alloc(0));
  const out: Omit<TraceEvent, 'ruleText'>[] = [];
  for (let i = 0; i < batch.count; i++) {
    const b = i * TRACE_WORDS;
    const p = w[b + R_PRESENT]!;
    const kind = w[b + R_KIND]!;
    const family = NFT_FAMILY[kind & 0xff] ?? String(kind & 0xff);
    const table = p & T_TABLE ? s[si++]! : '';
    const chain = p & T_CHAIN ? s[si++]! : '';
    const target = p & T_JUMP_TARGET ? s[si++] : undefined;
    const iifName = p & T_IIF ? s[si++] : undefined;
    const oifName = p & T_OIF ? s[si++] : undefined;
    // A 'rule' event without a rule is the end of a chain: the packet returns to the caller.
    const type = NFT_TYPES[(kind >>> 8) & 0xff] === 'rule' && !(p & T_RULE_HANDLE) ? 'return' : (NFT_TYPES[(kind >>> 8) & 0xff] ?? 'rule');
    let packet: DecodedPacket | undefined;
    if (p & T_NETWORK) {
      const nfproto = w[b + R_NFPROTO]!;
      const raw = Buffer.concat([slice(b + R_NETWORK), p & T_TRANSPORT ? slice(b + R_TRANSPORT) : Buffer.alloc(0)]);
      packet = decodePacket(raw, nfproto === 10 ? 'ipv6' : 'ipv4');
    }
    const verdictCode = type === 'policy' && p & T_POLICY ? w[b + R_POLICY]! : p & T_VERDICT ? w[b + R_VERDICT]! : undefined;
    out.push({
      source: 'nftables',
      id: w[b + R_ID]!,
      family,
      table,
      chain,
      kind: type,
      handle: p & T_RULE_HANDLE ? w[b + R_HANDLE + 1]! * 0x100000000 + w[b + R_HANDLE]! : undefined,
      verdict: verdictCode === undefined ? undefined : (VERDICTS[verdictCode] ?? String(verdictCode)),
      target,
      iif: p & T_IIF ? (iifName ? { index: w[b + R_IIF]!, name: iifName } : { index: w[b + R_IIF]! }) : undefined,
      oif: p & T_OIF ? (oifName ? { index: w[b + R_OIF]!, name: oifName } : { index: w[b + R_OIF]! }) : undefined,
      mark: p & T_MARK ? w[b + R_MARK] : undefined,
      packet,
      timestamp: (BigInt(w[b + R_TIME + 1]!) << 32n) | BigInt(w[b + R_TIME]!),
    });
  }
  return out;
}

/** A legacy hop from an NFLOG packet of group 0, or undefined when it is not a TRACE. */
function legacyHop(pkt: NflogPacketEvent): Omit<TraceEvent, 'ruleText'> | undefined {
  const hop = pkt.prefix !== undefined ? parseTracePrefix(pkt.prefix) : undefined;
  if (!hop) return undefined;
  const family = pkt.family === 'ipv6' ? 'ipv6' : 'ipv4';
  const packet = pkt.payload ? decodePacket(pkt.payload, family) : undefined;
  return {
    source: 'legacy',
    id: legacyId(packet, pkt),
    family,
    table: hop.table,
    chain: hop.chain,
    kind: hop.kind,
    rule: hop.rule,
    verdict: hop.kind === 'return' ? 'return' : undefined,
    iif: pkt.indev,
    oif: pkt.outdev,
    mark: pkt.mark,
    packet,
    timestamp: pkt.timestamp ?? BigInt(Date.now()) * 1_000_000n,
  };
}

/** Legacy TRACE has no id: hops of one packet share its IP header (id, addresses, length). */
function legacyId(packet: DecodedPacket | undefined, pkt: NflogPacketEvent): number {
  const head = pkt.payload?.subarray(0, packet?.family === 'ipv6' ? 40 : 20) ?? Buffer.alloc(0);
  let h = 0x811c9dc5;
  for (const byte of head) h = Math.imul(h ^ byte, 0x01000193) >>> 0;
  return h;
}

type StreamOptions = { match?: TraceMatch; resolve: boolean; signal?: AbortSignal; tuning: LiveTuning };

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
  private removed: Promise<void> | undefined;
  private failure: unknown;
  private table: string | undefined;
  private carried: DecodedPacket | undefined;
  private carriedId: number | undefined;

  /** @internal */
  constructor(
    private readonly owner: Trace,
    private readonly kinds: readonly ('nftables' | 'legacy')[],
    source: BatchSource,
    private readonly opts: StreamOptions,
  ) {
    super(source, opts.signal, () => owner.forget(this));
    owner.track(this);
    const match = opts.signal?.aborted ? undefined : opts.match;
    // From a microtask: a stream closed at once installs nothing.
    this.ready = match ? Promise.resolve().then(() => (this.done ? undefined : this.install(match))) : Promise.resolve();
    this.ready.catch(() => undefined);
  }

  /** @internal The batching source, shared with the per-packet view of packets(). */
  get batches(): BatchSource {
    return this.source;
  }

  private async install(match: TraceMatch): Promise<void> {
    try {
      const ns = this.owner.namespaceFile;
      await removeStaleTables(ns).catch(() => undefined);
      if (this.done) return;
      this.table = this.owner.nextTableName();
      await installTable(ns, this.table, ruleScript(this.table, matchExpression(match)));
    } catch (e) {
      this.table = undefined;
      this.failure = e;
      this.close();
      throw e;
    }
  }

  protected decode(batch: RawBatch): TraceEvent[] {
    if (this.kinds[batch.tag] === 'legacy') {
      const out: TraceEvent[] = [];
      for (const pkt of decodePackets(batch)) {
        const hop = legacyHop(pkt);
        if (hop) out.push(hop);
      }
      return out;
    }
    const out = decodeTraceBatch(batch) as TraceEvent[];
    // Headers come with the first hop of an nftables trace: later hops inherit them.
    for (const hop of out) {
      if (hop.packet) {
        this.carried = hop.packet;
        this.carriedId = hop.id;
      } else if (this.carriedId === hop.id) hop.packet = this.carried;
    }
    return out;
  }

  override async next(): Promise<IteratorResult<TraceEvent>> {
    await this.ready.catch(() => undefined);
    if (this.failure !== undefined) {
      const e = this.failure;
      this.failure = undefined;
      throw e;
    }
    const r = await super.next();
    if (!r.done && this.opts.resolve) r.value.ruleText = await this.owner.ruleText(r.value);
    return r;
  }

  override close(): void {
    if (this.done) return;
    // The temporary rule goes once its install is through (close() may come in the middle).
    this.removed = this.ready.catch(() => undefined).then(() => (this.table ? removeTable(this.table) : undefined));
    super.close();
  }

  /** @internal Resolves once the stream has ended and its rule is removed. */
  get cleanedUp(): Promise<void> {
    return this.removed ?? Promise.resolve();
  }
}

/** The same hops grouped per packet: all of one packet together, in order. */
export class TracePacketStream extends LiveStream<TracePacket> {
  private readonly groups = new Map<string, { pkt: TracePacket; last: number }>();
  private readonly finished: TracePacket[] = [];
  private pending: Promise<IteratorResult<TraceEvent>> | undefined;
  private ended = false;

  /** @internal */
  constructor(
    private readonly hops: TraceStream,
    private readonly idleMs: number,
  ) {
    super(hops.batches, undefined, () => hops.close());
  }

  /** As TraceStream.ready. */
  get ready(): Promise<void> {
    return this.hops.ready;
  }

  protected decode(): TracePacket[] {
    return []; // items come from the hop stream (next() below)
  }

  private finish(key: string): void {
    const g = this.groups.get(key);
    if (!g) return;
    this.groups.delete(key);
    this.finished.push(g.pkt);
  }

  private add(e: TraceEvent): void {
    const key = `${e.source} ${e.id}`;
    let g = this.groups.get(key);
    if (!g) {
      g = { pkt: { type: 'trace', id: e.id, source: e.source, family: e.family, hops: [], packet: e.packet, dropped: false }, last: Date.now() };
      this.groups.set(key, g);
    }
    g.pkt.hops.push(e);
    g.last = Date.now();
    if (e.verdict && e.verdict !== 'continue' && e.verdict !== 'jump' && e.verdict !== 'goto' && e.verdict !== 'return') g.pkt.verdict = e.verdict;
    if (e.kind === 'policy' && e.verdict) g.pkt.verdict = e.verdict;
    if (e.verdict === 'drop') {
      g.pkt.dropped = true;
      this.finish(key);
    }
  }

  override async next(): Promise<IteratorResult<TracePacket>> {
    for (;;) {
      if (this.done) return { value: undefined, done: true };
      const out = this.finished.shift();
      if (out) return { value: out, done: false };
      if (this.ended) {
        this.close();
        return { value: undefined, done: true };
      }
      const soonest = Math.min(...[...this.groups.values()].map((g) => g.last + this.idleMs));
      this.pending ??= this.hops.next();
      let timer: NodeJS.Timeout | undefined;
      let r: IteratorResult<TraceEvent> | undefined;
      try {
        r = await (Number.isFinite(soonest)
          ? Promise.race([this.pending, new Promise<undefined>((res) => (timer = setTimeout(() => res(undefined), Math.max(0, soonest - Date.now()))))])
          : this.pending);
      } catch (e) {
        this.pending = undefined;
        this.close();
        throw e;
      } finally {
        clearTimeout(timer);
      }
      if (r === undefined) {
        for (const [k, g] of this.groups) if (Date.now() - g.last >= this.idleMs) this.finish(k);
        continue;
      }
      this.pending = undefined;
      if (r.done) {
        for (const k of [...this.groups.keys()]) this.finish(k);
        this.ended = true;
      } else {
        this.add(r.value);
      }
    }
  }
}

/** The temporary table: `meta nftrace set 1` for the match, before raw and conntrack. */
function ruleScript(name: string, expr: string): string {
  return [
    `table inet ${name} {`,
    `  chain pre { type filter hook prerouting priority -350; ${expr} meta nftrace set 1; }`,
    `  chain out { type filter hook output priority -350; ${expr} meta nftrace set 1; }`,
    '}',
    '',
  ].join('\n');
}

/** A handle on packet tracing in one network namespace. */
export class Trace implements AsyncDisposable {
  private closed = false;
  private readonly rules: RuleTexts;
  private releaseLogger: (() => Promise<void>) | undefined;
  private readonly live = new Set<TraceStream>();
  private readonly ending = new Set<Promise<void>>();
  private tables = 0;

  private constructor(
    readonly netnsPath: string | null,
    private readonly nsfd: number | undefined,
    private readonly nflog: Nflog | undefined,
    private readonly nftables: boolean,
  ) {
    this.rules = new RuleTexts(this.namespaceFile);
  }

  /**
   * @internal The namespace as this process holds it open (/proc/PID/fd/N): it stays
   * reachable after `ip netns delete` removes its name, as Conntrack and Nflog handles keep theirs.
   */
  get namespaceFile(): string | null {
    return this.nsfd === undefined ? null : `/proc/${process.pid}/fd/${this.nsfd}`;
  }

  /** @internal */
  nextTableName(): string {
    return `${TABLE_PREFIX}${process.pid}_${this.tables++}`;
  }

  static async open(options: TraceOpenOptions = {}): Promise<Trace> {
    const raw: unknown = options;
    assertObject(raw, 'Trace.open options');
    assertKnownKeys(raw, ['netns', 'nftables', 'legacy', 'bindLogger'], 'Trace.open options');
    const path = netnsPath(options.netns);
    const nft = boolean(options.nftables, 'Trace.open options.nftables') ?? true;
    const legacy = boolean(options.legacy, 'Trace.open options.legacy') ?? true;
    const bind = boolean(options.bindLogger, 'Trace.open options.bindLogger') ?? false;
    if (bind && path === null) {
      throw new TypeError("Trace.open options.bindLogger needs options.netns: the nf_log backend of the caller's own namespace is never changed");
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
    const nflog = legacy || path ? await Nflog.open(path ? { netns: path } : {}).catch((e: unknown) => {
      if (nsfd !== undefined) closeSync(nsfd);
      throw withCallSite(e, site, 'opening TRACE');
    }) : undefined;
    if (!legacy) nflog?.close();
    const trace = new Trace(path, nsfd, legacy ? nflog : undefined, nft);
    const ns = trace.namespaceFile;
    // Tables left by processes that died without removing them would trace packets for no one.
    if (nft && onPath('nft') && (ns === null || onPath('nsenter'))) await removeStaleTables(ns).catch(() => undefined);
    if (bind && ns !== null && nsfd !== undefined) {
      try {
        const st = fstatSync(nsfd);
        trace.releaseLogger = await holdLogger(`${st.dev}:${st.ino}`, ns);
      } catch (e) {
        await trace.close();
        throw withCallSite(e, site, 'binding the nf_log backend to nfnetlink_log');
      }
    }
    return trace;
  }

  /** Every hop of every traced packet, as it happens. */
  events(options: TraceStreamOptions = {}): TraceStream {
    if (this.closed) throw new ClosedError('Trace handle (events() after close())');
    return this.stream(this.normalize(options), callSite(this.events));
  }

  /** The same hops grouped per packet: all of one packet together, in order. */
  packets(options: TraceStreamOptions & { idleMs?: number } = {}): TracePacketStream {
    if (this.closed) throw new ClosedError('Trace handle (packets() after close())');
    assertObject(options, 'packets() options');
    const idle = optionalInteger(options.idleMs, 'packets() options.idleMs', 1, 600000) ?? 250;
    const { idleMs: _drop, ...rest } = options;
    return new TracePacketStream(this.stream(this.normalize(rest), callSite(this.packets)), idle);
  }

  private normalize(options: TraceStreamOptions): StreamOptions {
    assertObject(options, 'trace options');
    assertKnownKeys(options, ['match', 'resolveRules', ...LIVE_STREAM_KEYS], 'trace options');
    const resolve = boolean(options.resolveRules, 'trace options.resolveRules') ?? true;
    const { tuning, signal } = normalizeLiveOptions(options, 'trace options');
    if (options.match !== undefined) matchExpression(options.match);
    return { match: options.match, resolve, signal, tuning };
  }

  private stream(opts: StreamOptions, site: { stack: string }): TraceStream {
    const ns = this.namespaceFile;
    if (opts.match && !opts.signal?.aborted) requireCommands(ns ? ['nft', 'nsenter'] : ['nft'], 'tracing with options.match');
    const kinds: ('nftables' | 'legacy')[] = [];
    const starts: ((onBatch: OnBatch) => NativeStream)[] = [];
    // An already aborted signal: nothing is started, bound or installed.
    if (!opts.signal?.aborted) {
      if (this.nftables) {
        const tuning: ReaderTuning = { ...opts.tuning, maxQueueRecords: 0, maxBatch: 1024 };
        kinds.push('nftables');
        starts.push((onBatch) => addon.traceEvents(ns, onBatch, tuning));
      }
      if (this.nflog) {
        const nflog = this.nflog;
        kinds.push('legacy');
        const { rcvbuf, rcvbufMax, maxQueueBytes } = opts.tuning;
        starts.push((onBatch) => nflog.startReader({ group: 0, timeout: 0.05, bufferSize: rcvbuf, maxBufferSize: rcvbufMax, maxQueueBytes }, onBatch));
      }
    }
    const source = new BatchSource(starts, site, kinds.includes('nftables') ? 'nftables trace' : 'TRACE (NFLOG group 0)');
    return new TraceStream(this, kinds, source, opts);
  }

  /** @internal */
  track(stream: TraceStream): void {
    this.live.add(stream);
  }

  /** @internal */
  forget(stream: TraceStream): void {
    this.live.delete(stream);
    const done = stream.cleanedUp;
    this.ending.add(done);
    void done.finally(() => this.ending.delete(done));
  }

  /** @internal */
  async ruleText(e: TraceEvent): Promise<string | undefined> {
    if (e.kind !== 'rule') return undefined;
    if (e.source === 'nftables' && e.handle !== undefined) return this.rules.nft(e.family, e.table, e.chain, e.handle);
    if (e.source === 'legacy' && e.rule !== undefined) return this.rules.legacy(e.family, e.table, e.chain, e.rule);
    return undefined;
  }

  /**
   * Ends every stream, removes their temporary rules (also one still being installed), lets
   * go of the nf_log binding (the backend found first is put back when no handle of this
   * process holds it any more). Idempotent.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const s of [...this.live]) s.close();
    this.nflog?.close();
    // Temporary rules go before the namespace is let go.
    await Promise.all([...this.ending]);
    const release = this.releaseLogger;
    this.releaseLogger = undefined;
    try {
      await release?.();
    } finally {
      if (this.nsfd !== undefined) closeSync(this.nsfd);
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** The nft expression for a match; validates it. */
function matchExpression(m: TraceMatch): string {
  assertObject(m, 'trace options.match');
  assertKnownKeys(m, ['family', 'protocol', 'src', 'dst', 'port', 'srcPort', 'dstPort'], 'trace options.match');
  const parts: string[] = [];
  if (m.family !== undefined && m.family !== 'ipv4' && m.family !== 'ipv6') throw new TypeError(`trace options.match.family must be 'ipv4' or 'ipv6', got ${describeValue(m.family)}`);
  let family: number | undefined = m.family === undefined ? undefined : m.family === 'ipv6' ? 10 : 2;
  const addrs: string[] = [];
  for (const key of ['src', 'dst'] as const) {
    const value = m[key];
    if (value === undefined) continue;
    const parsed = typeof value === 'string' ? parseCidr(value) : undefined;
    if (!parsed) throw new TypeError(`trace options.match.${key} must be an address or CIDR, got ${describeValue(value)}`);
    if (family !== undefined && parsed.family !== family) throw new TypeError(`trace options.match.${key} ${describeValue(value)} is not of the family of the rest of the match`);
    family = parsed.family;
    addrs.push(`${parsed.family === 10 ? 'ip6' : 'ip'} ${key === 'src' ? 'saddr' : 'daddr'} ${value}`);
  }
  if (m.family) parts.push(`meta nfproto ${m.family}`);
  parts.push(...addrs);
  const protos = ['tcp', 'udp', 'icmp', 'icmpv6', 'sctp'];
  if (m.protocol !== undefined) {
    if (!protos.includes(m.protocol)) throw new TypeError(`trace options.match.protocol must be one of ${protos.join(', ')}, got ${describeValue(m.protocol)}`);
    parts.push(`meta l4proto ${m.protocol}`);
  }
  const port = (key: 'port' | 'srcPort' | 'dstPort', field: string): void => {
    const value = optionalInteger(m[key], `trace options.match.${key}`, 0, 65535);
    if (value === undefined) return;
    if (m.protocol !== 'tcp' && m.protocol !== 'udp' && m.protocol !== 'sctp') throw new TypeError(`trace options.match.${key} needs protocol 'tcp', 'udp' or 'sctp'`);
    parts.push(`${m.protocol} ${field} ${value}`);
  };
  port('srcPort', 'sport');
  port('dstPort', 'dport');
  if (m.port !== undefined) {
    const value = optionalInteger(m.port, 'trace options.match.port', 0, 65535)!;
    if (m.protocol !== 'tcp' && m.protocol !== 'udp' && m.protocol !== 'sctp') throw new TypeError(`trace options.match.port needs protocol 'tcp', 'udp' or 'sctp'`);
    parts.push(`${m.protocol} sport . ${m.protocol} dport { ${value} . 0-65535, 0-65535 . ${value} }`);
  }
  return parts.join(' ');
}

