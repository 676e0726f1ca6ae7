// NFLOG: the packets that `-j NFLOG --nflog-group N` and nft `log group N` rules log, as an
// async iterator of decoded packets, in any network namespace.
import { decodeFlowAt, FLOW_WORDS, TextCursor } from '../conntrack/flow.js';
import { type CallSite, callSite, ClosedError } from '../core/errors.js';
import { isoTime, JsonItem } from '../core/json.js';
import { PacketPresent, PacketWord } from '../core/layout.js';
import { addon, type NativeGroupConfig, type NativeNflog, type NativeStream, type OnBatch } from '../core/native.js';
import { type NetnsOption, openInNamespace } from '../core/netns.js';
import { BatchSource, type RawBatch } from '../core/reader.js';
import { LIVE_STREAM_KEYS, LiveStream, type LiveStreamOptions, type LiveTuning,
  normalizeLiveOptions } from '../core/stream.js';
import { assertKnownKeys, assertObject, boolean, describeValue, integer, optionalInteger } from '../core/validate.js';
import type { PacketFamily } from '../packet/types.js';
import type { HookName, LogInterface, NflogPacket } from './types.js';

export type { HookName, LogInterface, NflogPacket } from './types.js';

/**
 * A logged packet, as an item of the stream. `source` tells it from a packet of the kernel log
 * (KernelLog, 'kmsg' or 'file'). Its JSON also has `time`, the timestamp in ISO 8601.
 */
export type NflogPacketEvent = NflogPacket & {
  /** Tells a packet from the notices of losses. */
  type: 'packet';
  /** Tells a packet read from NFLOG from one of the kernel log. */
  source: 'nflog';
};

/**
 * The kernel dropped packets: the socket buffer was full (ENOBUFS), because the reader had
 * reached maxQueueBytes or the kernel outran it. The stream goes on.
 */
export interface NflogOverrun {
  /** Tells this item from a packet. */
  type: 'overrun';
  /** Overruns so far on this stream. */
  overruns: number;
  /** The socket receive buffer now, in bytes (0 when it was not changed). */
  bufferSize: number;
  /**
   * Packets lost, exactly, with sequence numbers on (`sequence`): the item then comes where
   * the loss is, between the last packet before it and the first after it (after whatever the
   * socket still held when the kernel reported it), and `lost` is the jump in sequence numbers.
   * Undefined, and said so, where it is not known: without sequence numbers (the kernel does not
   * say how many), or when no packet came after the loss.
   */
  lost: number | undefined;
}

/**
 * With sequence numbers on: packets missing between two that arrived, where no overrun was
 * reported (an overrun with sequence numbers carries its own count in `lost`).
 */
export interface NflogGap {
  /** Tells this item from a packet. */
  type: 'gap';
  /** How many sequence numbers were skipped. */
  missing: number;
  /** The last sequence number before the gap. */
  after: number;
  /** The first sequence number after it. */
  before: number;
}

/** An item of a subscription: a packet, or a notice that packets were lost (an overrun, a gap). */
export type NflogEvent = NflogPacketEvent | NflogOverrun | NflogGap;

/** Options of Nflog.open(). */
export interface NflogOpenOptions {
  /** The network namespace to work in (default: the caller's). */
  netns?: NetnsOption;
}

/** Options of subscribe(): the group and what the kernel copies, and the live stream options. */
export interface SubscribeOptions extends LiveStreamOptions {
  /** The NFLOG group (0-65535), as in --nflog-group / log group. */
  group: number;
  /** What to copy: 'none', 'meta' (no payload) or 'packet' (default). */
  copy?: 'none' | 'meta' | 'packet';
  /** Bytes of each packet to copy (default 65535: all of it). */
  range?: number;
  /** Bytes the kernel gathers packets into before sending them (default 128 KiB). */
  nlbufsiz?: number;
  /** Packets the kernel gathers before sending them (default 100). */
  qthreshold?: number;
  /** Seconds the kernel holds a partial batch (default 0.1; the kernel's own is 1). */
  timeout?: number;
  /** Sequence numbers: per group ('local' or true), across groups ('global'), or 'both'. */
  sequence?: boolean | 'local' | 'global' | 'both';
  /** Add the packet's conntrack entry (NflogPacket.conntrack, ctinfo). */
  conntrack?: boolean;
}

const SUBSCRIBE_KEYS = ['group', 'copy', 'range', 'nlbufsiz', 'qthreshold', 'timeout', 'sequence', 'conntrack',
  ...LIVE_STREAM_KEYS];
const COPY = { none: 0, meta: 1, packet: 2 } as const;
const F_SEQ = 1;
const F_SEQ_GLOBAL = 2;
const F_CONNTRACK = 4;
const BATCH = 1024;

// The record layout of native/layout/layouts.h (lib/core/layout.ts is generated from it).
const {
  PACKET_WORDS,
  PACKET_CTINFO,
  PACKET_GID,
  PACKET_HWADDR,
  PACKET_HWHEADER,
  PACKET_HWPROTO,
  PACKET_HWTYPE,
  PACKET_INDEV,
  PACKET_KIND,
  PACKET_L2HDR,
  PACKET_MARK,
  PACKET_OUTDEV,
  PACKET_PAYLOAD,
  PACKET_PHYSINDEV,
  PACKET_PHYSOUTDEV,
  PACKET_PRESENT,
  PACKET_SEQ,
  PACKET_SEQ_GLOBAL,
  PACKET_TIME,
  PACKET_UID,
  PACKET_VLAN,
} = PacketWord;
const {
  PACKET_HAS_CT,
  PACKET_HAS_CTINFO,
  PACKET_HAS_GID,
  PACKET_HAS_HOOK,
  PACKET_HAS_HWADDR,
  PACKET_HAS_HWHEADER,
  PACKET_HAS_HWTYPE,
  PACKET_HAS_INDEV,
  PACKET_HAS_L2HDR,
  PACKET_HAS_MARK,
  PACKET_HAS_OUTDEV,
  PACKET_HAS_PAYLOAD,
  PACKET_HAS_PHYSINDEV,
  PACKET_HAS_PHYSOUTDEV,
  PACKET_HAS_PREFIX,
  PACKET_HAS_SEQ,
  PACKET_HAS_SEQ_GLOBAL,
  PACKET_HAS_TIMESTAMP,
  PACKET_HAS_UID,
  PACKET_HAS_VLAN,
} = PacketPresent;

const FAMILIES: Record<number, PacketFamily> = { 2: 'ipv4', 3: 'arp', 5: 'netdev', 7: 'bridge', 10: 'ipv6' };
const HOOKS: readonly HookName[] = ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'];
const NETDEV_HOOKS: readonly HookName[] = ['INGRESS', 'EGRESS'];

/** Packets are instances of one class: one shape, and `JSON.stringify` gives hex for binary fields. */
class PacketItem extends JsonItem implements NflogPacketEvent {
  readonly type = 'packet';
  readonly source = 'nflog';
  group = 0;
  family: NflogPacket['family'] = 'unknown';
  hook: NflogPacket['hook'] = undefined;
  hookName: NflogPacket['hookName'] = undefined;
  hwProtocol: NflogPacket['hwProtocol'] = undefined;
  prefix: NflogPacket['prefix'] = undefined;
  indev: NflogPacket['indev'] = undefined;
  outdev: NflogPacket['outdev'] = undefined;
  physindev: NflogPacket['physindev'] = undefined;
  physoutdev: NflogPacket['physoutdev'] = undefined;
  mark: NflogPacket['mark'] = undefined;
  uid: NflogPacket['uid'] = undefined;
  gid: NflogPacket['gid'] = undefined;
  timestamp: NflogPacket['timestamp'] = undefined;
  hwType: NflogPacket['hwType'] = undefined;
  hwHeader: NflogPacket['hwHeader'] = undefined;
  hwAddress: NflogPacket['hwAddress'] = undefined;
  vlan: NflogPacket['vlan'] = undefined;
  l2Header: NflogPacket['l2Header'] = undefined;
  seq: NflogPacket['seq'] = undefined;
  seqGlobal: NflogPacket['seqGlobal'] = undefined;
  payload: NflogPacket['payload'] = undefined;
  conntrack: NflogPacket['conntrack'] = undefined;
  ctinfo: NflogPacket['ctinfo'] = undefined;

  override toJSON(): Record<string, unknown> {
    return { type: this.type, time: isoTime(this.timestamp), ...super.toJSON() };
  }
}

class OverrunItem extends JsonItem implements NflogOverrun {
  readonly type = 'overrun';
  lost: number | undefined = undefined;
  constructor(
    public overruns: number,
    public bufferSize: number,
  ) {
    super();
  }
}

class GapItem extends JsonItem implements NflogGap {
  readonly type = 'gap';
  constructor(
    public missing: number,
    public after: number,
    public before: number,
  ) {
    super();
  }
}

/**
 * `payload` without the link-layer header in front of it (when it starts with `l2Header`). A
 * copy range that ends inside that header copied nothing of the network header: empty.
 */
function afterLinkHeader(payload: Buffer | undefined, l2Header: Buffer | undefined): Buffer | undefined {
  if (!payload || !l2Header?.length) return payload;
  const n = Math.min(payload.length, l2Header.length);
  return payload.subarray(0, n).equals(l2Header.subarray(0, n)) ? payload.subarray(n) : payload;
}

/** Decodes a batch of packet records (native/log/nflog.h). */
export function decodePackets(batch: Pick<RawBatch, 'buffer' | 'strings' | 'count' | 'bytes'>): NflogPacketEvent[] {
  const w = new Uint32Array(batch.buffer);
  const text = new TextCursor(batch.strings);
  const bytes = batch.bytes;
  const slice = (at: number): Buffer | undefined => (bytes ? Buffer.from(bytes, w[at], w[at + 1]) : undefined);
  const out: NflogPacketEvent[] = [];
  let b = 0;
  for (let n = 0; n < batch.count; n++) {
    const p = w[b + PACKET_PRESENT]!;
    const kind = w[b + PACKET_KIND]!;
    const familyNum = kind & 0xff;
    const hook = (kind >>> 8) & 0xff;
    const pkt = new PacketItem();
    pkt.group = kind >>> 16;
    pkt.family = FAMILIES[familyNum] ?? 'unknown';
    pkt.hook = p & PACKET_HAS_HOOK ? hook : undefined;
    pkt.hookName = p & PACKET_HAS_HOOK ? (familyNum === 5 ? NETDEV_HOOKS : HOOKS)[hook] : undefined;
    pkt.hwProtocol = p & PACKET_HAS_HOOK ? w[b + PACKET_HWPROTO] : undefined;
    pkt.prefix = undefined;
    pkt.indev = undefined;
    pkt.outdev = undefined;
    pkt.physindev = undefined;
    pkt.physoutdev = undefined;
    pkt.mark = p & PACKET_HAS_MARK ? w[b + PACKET_MARK] : undefined;
    pkt.uid = p & PACKET_HAS_UID ? w[b + PACKET_UID] : undefined;
    pkt.gid = p & PACKET_HAS_GID ? w[b + PACKET_GID] : undefined;
    pkt.timestamp = p & PACKET_HAS_TIMESTAMP
      ? (BigInt(w[b + PACKET_TIME + 1]!) << 32n) | BigInt(w[b + PACKET_TIME]!)
      : undefined;
    pkt.hwType = p & PACKET_HAS_HWTYPE ? w[b + PACKET_HWTYPE] : undefined;
    pkt.hwHeader = p & PACKET_HAS_HWHEADER ? slice(b + PACKET_HWHEADER) : undefined;
    pkt.hwAddress = p & PACKET_HAS_HWADDR ? slice(b + PACKET_HWADDR) : undefined;
    pkt.vlan = undefined;
    pkt.l2Header = p & PACKET_HAS_L2HDR ? slice(b + PACKET_L2HDR) : undefined;
    pkt.seq = p & PACKET_HAS_SEQ ? w[b + PACKET_SEQ] : undefined;
    pkt.seqGlobal = p & PACKET_HAS_SEQ_GLOBAL ? w[b + PACKET_SEQ_GLOBAL] : undefined;
    pkt.payload = p & PACKET_HAS_PAYLOAD ? slice(b + PACKET_PAYLOAD) : undefined;
    // At netdev egress the kernel copies from skb->data, which is still the link-layer header
    // (the NFULA_L2HDR bytes): the payload starts at the network header, as at every other hook.
    if (familyNum === 5 && hook === 1) pkt.payload = afterLinkHeader(pkt.payload, pkt.l2Header);
    pkt.conntrack = undefined;
    pkt.ctinfo = p & PACKET_HAS_CTINFO ? w[b + PACKET_CTINFO] : undefined;
    if (p & PACKET_HAS_VLAN) {
      const v = w[b + PACKET_VLAN]!;
      const tci = v >>> 16;
      pkt.vlan = { protocol: v & 0xffff, tci, id: tci & 0xfff, priority: tci >>> 13 };
    }
    if (p & PACKET_HAS_PREFIX) pkt.prefix = text.take();
    const dev = (bit: number, word: number): LogInterface | undefined => {
      if (!(p & bit)) return undefined;
      const name = text.take();
      return name ? { index: w[b + word]!, name } : { index: w[b + word]! };
    };
    pkt.indev = dev(PACKET_HAS_INDEV, PACKET_INDEV);
    pkt.outdev = dev(PACKET_HAS_OUTDEV, PACKET_OUTDEV);
    pkt.physindev = dev(PACKET_HAS_PHYSINDEV, PACKET_PHYSINDEV);
    pkt.physoutdev = dev(PACKET_HAS_PHYSOUTDEV, PACKET_PHYSOUTDEV);
    b += PACKET_WORDS;
    if (p & PACKET_HAS_CT) {
      pkt.conntrack = decodeFlowAt(w, b, text);
      b += FLOW_WORDS;
    }
    out.push(pkt);
  }
  return out;
}

/** A live stream of logged packets; iterate it once with `for await`. */
export class PacketStream extends LiveStream<NflogEvent> {
  #overrunCount = 0;
  #gapCount = 0;
  #lastSeq: number | undefined;
  readonly #sequenced: boolean;
  /**
   * With sequence numbers: the overrun waiting for the jump in sequence numbers that says where
   * and how many were lost (the socket first delivers what it held before the loss).
   */
  #pending: OverrunItem | undefined;
  /** A gap item went out since the last overrun report. */
  #gapUnreported = false;

  private constructor(native: NativeNflog, config: NativeGroupConfig, tuning: LiveTuning, owner: Nflog,
    signal: AbortSignal | undefined, site: CallSite)
  {
    const source = new BatchSource(
      (onBatch) => native.subscribe(config, onBatch, { ...tuning, maxQueueRecords: 0, maxBatch: BATCH }),
      site,
      `NFLOG group ${config.group}`,
    );
    super(source, signal, () => owner.forget(this));
    this.#sequenced = (config.flags & F_SEQ) !== 0;
    owner.track(this);
  }

  /** @internal Nflog.subscribe() */
  static of(native: NativeNflog, options: SubscribeOptions, owner: Nflog, site: CallSite): PacketStream {
    const { config, tuning, signal } = normalizeSubscribe(options);
    return new PacketStream(native, config, tuning, owner, signal, site);
  }

  /** Times the kernel reported lost packets on this stream. */
  get overruns(): number {
    return this.#overrunCount;
  }

  /** Packets missing by their sequence numbers (with `sequence` on). */
  get gaps(): number {
    return this.#gapCount;
  }

  /** @internal With sequence numbers on: every packet lost so far, exactly. */
  protected override lost(): number | undefined {
    return this.#sequenced ? this.#gapCount : undefined;
  }

  /** @internal */
  protected decode(batch: RawBatch): NflogEvent[] {
    const out: NflogEvent[] = [];
    for (const pkt of decodePackets(batch)) {
      if (pkt.seq !== undefined && this.#sequenced) {
        const missing = this.#lastSeq === undefined ? 0 : (pkt.seq - this.#lastSeq - 1) >>> 0;
        if (missing > 0) {
          this.#gapCount += missing;
          if (this.#pending) {
            // The loss the kernel reported: here, where the sequence numbers jump.
            this.#pending.lost = missing;
            out.push(this.#pending);
            this.#pending = undefined;
          } else {
            out.push(new GapItem(missing, this.#lastSeq!, pkt.seq));
            this.#gapUnreported = true;
          }
        }
        this.#lastSeq = pkt.seq;
      }
      out.push(pkt);
    }
    if (batch.overruns > 0) {
      this.#overrunCount += batch.overruns;
      if (this.#pending) {
        // Several reports before the next packet: one item.
        this.#pending.overruns = this.#overrunCount;
        if (batch.rcvbuf > 0) this.#pending.bufferSize = batch.rcvbuf;
      } else {
        const item = new OverrunItem(this.#overrunCount, batch.rcvbuf);
        // A jump already shown as a gap item was this loss: the overrun comes now (its count is
        // in the gap item). Else it waits for the jump that says where and how many.
        if (this.#sequenced && !this.#gapUnreported) this.#pending = item;
        else out.push(item);
        this.#gapUnreported = false;
      }
    }
    return out;
  }

  /** @internal An overrun no packet followed: reported at the end, its count unknown. */
  protected override flush(): NflogEvent[] {
    const p = this.#pending;
    this.#pending = undefined;
    return p ? [p] : [];
  }
}

/** What subscribe() asks of the kernel when an option is not given (timeout in 1/100 s). */
const DEFAULTS = { copyMode: COPY.packet, range: 0xffff, nlbufsiz: 128 << 10, qthreshold: 100, timeout: 10,
  flags: 0 } as const;

/**
 * @internal A group's configuration with subscribe()'s defaults but the flush timeout (in
 * 1/100 s): for a reader another source starts with options it has checked itself (Trace).
 */
export function groupConfig(group: number, timeout: number): NativeGroupConfig {
  return { ...DEFAULTS, group, timeout };
}

function normalizeSubscribe(options: SubscribeOptions) {
  assertObject(options, 'subscribe() options');
  assertKnownKeys(options, SUBSCRIBE_KEYS, 'subscribe() options');
  const group = integer(options.group, 'subscribe() options.group', 0, 65535);
  const givenCopy: unknown = options.copy; // null is refused below, not taken for the default
  const copy = givenCopy === undefined ? 'packet' : givenCopy;
  if (typeof copy !== 'string' || !Object.hasOwn(COPY, copy)) {
    throw new TypeError(`subscribe() options.copy must be 'none', 'meta' or 'packet', got ${describeValue(copy)}`);
  }
  const range = optionalInteger(options.range, 'subscribe() options.range', 0, 0xffff) ?? DEFAULTS.range;
  const { tuning, signal } = normalizeLiveOptions(options, 'subscribe() options');
  const nlbufsiz = optionalInteger(options.nlbufsiz, 'subscribe() options.nlbufsiz', 4096, 1 << 22) ??
    DEFAULTS.nlbufsiz;
  const qthreshold = optionalInteger(options.qthreshold, 'subscribe() options.qthreshold', 1, 1 << 20) ??
    DEFAULTS.qthreshold;
  let timeout: number = DEFAULTS.timeout;
  if (options.timeout !== undefined) {
    if (typeof options.timeout !== 'number' || !Number.isFinite(options.timeout)) {
      throw new TypeError(
        `subscribe() options.timeout must be a number of seconds, got ${describeValue(options.timeout)}`,
      );
    }
    if (options.timeout < 0 || options.timeout > 4e7) {
      throw new RangeError(
        `subscribe() options.timeout must be between 0 and 40000000 seconds, got ${options.timeout}`,
      );
    }
    timeout = Math.round(options.timeout * 100);
  }
  const givenSeq: unknown = options.sequence; // null is refused below, not taken for false
  const seq = givenSeq === undefined ? false : givenSeq;
  let flags = 0;
  if (seq === true || seq === 'local') flags |= F_SEQ;
  else if (seq === 'global') flags |= F_SEQ_GLOBAL;
  else if (seq === 'both') flags |= F_SEQ | F_SEQ_GLOBAL;
  else if (seq !== false) {
    throw new TypeError(
      `subscribe() options.sequence must be a boolean, 'local', 'global' or 'both', got ${describeValue(seq)}`,
    );
  }
  if (boolean(options.conntrack, 'subscribe() options.conntrack')) flags |= F_CONNTRACK;
  const config: NativeGroupConfig = { group, copyMode: COPY[copy as keyof typeof COPY], range, nlbufsiz, qthreshold,
    timeout, flags };
  return { config, tuning, signal };
}

/** A handle on NFLOG in one network namespace. */
export class Nflog implements AsyncDisposable {
  /** The namespace file this handle's groups are bound in, or null for the caller's own. */
  readonly netnsPath: string | null;
  #native: NativeNflog | undefined;
  readonly #streams = new Set<PacketStream>();

  private constructor(native: NativeNflog, netnsPath: string | null) {
    this.netnsPath = netnsPath;
    this.#native = native;
  }

  /** Opens a handle; with `netns`, groups are bound inside that namespace. */
  static async open(options: NflogOpenOptions = {}): Promise<Nflog> {
    const { native, path } = await openInNamespace(options, 'Nflog.open', 'NFLOG', callSite(Nflog.open),
      (p) => addon.openNflog(p));
    return new Nflog(native, path);
  }

  /**
   * Binds a group and streams its packets. Binding fails (when iteration starts) with
   * NfctError EBUSY if another socket holds the group. Several subscriptions may run at once,
   * one per group.
   */
  subscribe(options: SubscribeOptions): PacketStream {
    if (!this.#native) throw new ClosedError('Nflog handle (subscribe() after close())');
    return PacketStream.of(this.#native, options, this, callSite(this.subscribe));
  }

  /**
   * @internal A group's native reader, for a source that merges it with others (Trace), with a
   * configuration (groupConfig()) and buffers its caller has already checked.
   */
  startReader(config: NativeGroupConfig, tuning: LiveTuning, onBatch: OnBatch): NativeStream {
    if (!this.#native) throw new ClosedError('Nflog handle (subscribe() after close())');
    return this.#native.subscribe(config, onBatch, { ...tuning, maxQueueRecords: 0, maxBatch: BATCH });
  }

  /** @internal */
  track(stream: PacketStream): void {
    this.#streams.add(stream);
  }

  /** @internal */
  forget(stream: PacketStream): void {
    this.#streams.delete(stream);
  }

  /** Ends every subscription and closes the handle; resolves once the sockets are closed. Idempotent. */
  async close(): Promise<void> {
    const native = this.#native;
    if (!native) return;
    this.#native = undefined;
    await Promise.all([...this.#streams].map((s) => s.close()));
    native.close();
  }

  /** True once close() has run. */
  get closed(): boolean {
    return this.#native === undefined;
  }

  /** Closes the handle at the end of an `await using` block. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
