// The kernel log as a source: the lines the LOG target (-j LOG, nft log without group) and
// legacy iptables TRACE with the syslog logger write, read live from /dev/kmsg or from a file
// (a syslog file, a journal export, stdin, followed as `tail -F` does), as the same items NFLOG
// and Trace yield. One native reader thread per stream reads, decodes and filters the lines
// (native/kmsg/), and hands batches of records to a LiveStream, as every other stream does.
import { readFileSync, statSync } from 'node:fs';

import { callSite } from '../core/errors.js';
import { addon, type NativeKernelLogConfig } from '../core/native.js';
import { isInitialNetns } from '../core/netns-discovery.js';
import { type NetnsOption, netnsPath } from '../core/netns.js';
import { BatchSource, type RawBatch } from '../core/reader.js';
import { LiveStream, normalizeLiveOptions } from '../core/stream.js';
import { boolean, describeValue, optionalInteger } from '../core/validate.js';
import { TraceDescriber } from '../trace/ruleset-words.js';
import type { TracePacket } from '../trace/types.js';
import { decodeRecords, KernelPacketItem } from './decode.js';
import { checkKeys, type KernelLogFilter, type LineMatch, matchesLine, normalizeFilter } from './filter.js';
import { HopGroups } from './traces.js';
import type { KernelLogItem, KernelLogSource } from './types.js';

export type { KernelLogFilter } from './filter.js';
export type { KernelLogItem, KernelLogLine, KernelLogLoss, KernelLogPacket, KernelLogSource } from './types.js';

/** What every kernel log stream takes. */
export interface KernelLogOptions extends KernelLogFilter {
  /** LOG lines as `packet` items (default true). */
  packets?: boolean;
  /**
   * Legacy TRACE lines grouped per packet as `trace` items, the TracePacket of Trace.packets()
   * (default true). With false they come as `packet` items (prefix `TRACE: table:chain:...`).
   */
  traces?: boolean;
  /** Every other line (not netfilter's, or not the kernel's) as a `line` item (default false). */
  lines?: boolean;
  /** A packet's trace ends when no hop of it came for this long, ms (default 250). */
  idleMs?: number;
  /**
   * Describe each TRACE hop in its ruleset's words as Trace does (`ruleText` as iptables-save
   * prints the rule, `hook`, the `service` of a jump). The lines do not say
   * which namespace wrote them: the rules are those of `netns` when given; else, for /dev/kmsg,
   * those of this process's namespace when it is the initial one and nf_log_all_netns is 0
   * (then every line comes from it). Default true for /dev/kmsg, false for files.
   */
  resolveRules?: boolean;
  /** The namespace whose rules TRACE hops are looked up in (`resolveRules`). */
  netns?: NetnsOption;
  /**
   * /dev/kmsg: the most memory decoded items may take while they wait for the consumer
   * (default 256 MiB). Past it the reader stops reading, and the ring buffer overwrites
   * records, which the stream reports as a `loss` item. A file is read a few batches ahead of
   * the consumer whatever this is (it loses nothing by waiting).
   */
  maxQueueBytes?: number;
  /** Ends the iteration (cleanly) and stops the reader when aborted. */
  signal?: AbortSignal;
}

export interface KmsgOptions extends KernelLogOptions {
  /** Keep reading as records come (default false: end where the ring buffer ends now). */
  follow?: boolean;
  /** 'start': from the oldest record the ring buffer holds; 'now': only what comes next. Default 'start', with `follow` 'now'. */
  from?: 'start' | 'now';
}

export interface KernelLogFileOptions extends KernelLogOptions {
  /** Keep reading as the file grows, through rotation by rename and truncation, as `tail -F` (default false). */
  follow?: boolean;
  /** 'start' (default) or 'end': only lines written from now on. */
  from?: 'start' | 'end';
  /** Lines longer than this are skipped and counted in `stats.malformed` (default 65536). */
  maxLineBytes?: number;
}

const COMMON_KEYS = ['packets', 'traces', 'lines', 'idleMs', 'resolveRules', 'netns', 'maxQueueBytes', 'signal'];
const MAX_BATCH = 256;

interface Normalized {
  config: NativeKernelLogConfig;
  match: LineMatch;
  idleMs: number;
  traces: boolean;
  resolve: boolean | undefined;
  netns: string | null | undefined;
  maxQueueBytes: number;
  signal: AbortSignal | undefined;
}

function normalize(o: KernelLogOptions, where: string, extra: readonly string[]): Omit<Normalized, 'config'> & {
  filter: NativeKernelLogConfig['filter'];
} {
  checkKeys(o, [...COMMON_KEYS, ...extra], where);
  const { native, match } = normalizeFilter(o, where);
  const packets = boolean(o.packets, `${where}.packets`) ?? true;
  const traces = boolean(o.traces, `${where}.traces`) ?? true;
  const lines = boolean(o.lines, `${where}.lines`) ?? false;
  if (!packets && !traces && !lines) throw new TypeError(`${where}: packets, traces and lines are all off`);
  const idleMs = optionalInteger(o.idleMs, `${where}.idleMs`, 1, 600_000) ?? 250;
  const resolve = boolean(o.resolveRules, `${where}.resolveRules`);
  const netns = o.netns === undefined ? undefined : netnsPath(o.netns, `${where}.netns`);
  const { tuning, signal } = normalizeLiveOptions({ maxQueueBytes: o.maxQueueBytes, signal: o.signal }, where);
  return { filter: { packets, hops: traces, lines, ...native }, match, idleMs, traces, resolve, netns,
    maxQueueBytes: tuning.maxQueueBytes, signal };
}

/** Whether TRACE lines of /dev/kmsg can only come from this process's namespace. */
function ownNamespaceOnly(): boolean {
  try {
    if (readFileSync('/proc/sys/net/netfilter/nf_log_all_netns', 'utf8').trim() !== '0') return false;
    return isInitialNetns(statSync('/proc/self/ns/net').ino);
  } catch {
    return false;
  }
}

/**
 * A kernel log stream; iterate it once with `for await`. `break`, `return()`, `close()` and the
 * AbortSignal end it (the reader thread stops at once, whatever it waits on).
 */
export class KernelLogStream extends LiveStream<KernelLogItem> {
  /** @internal */ private readonly groups: HopGroups | undefined;
  /** @internal */ private readonly rules: TraceDescriber | undefined;
  /** @internal */ private recordsLost = 0;
  /** @internal */ private lossesUnknown = 0;
  /** @internal */ private losses = 0;
  /** The strings the records refer to by number (KL_*ID), as the reader numbered them. */
  /** @internal */ private readonly names: string[] = [];

  /** @internal */
  constructor(
    source: BatchSource,
    /** @internal */ private readonly kind: KernelLogSource,
    /** @internal */ private readonly match: LineMatch,
    o: Omit<Normalized, 'config'>,
  ) {
    super(source, o.signal, () => undefined);
    this.groups = o.traces ? new HopGroups(o.idleMs) : undefined;
    const resolve = o.resolve ?? kind === 'kmsg';
    if (resolve && o.traces) {
      if (o.netns !== undefined) this.rules = new TraceDescriber(o.netns ?? undefined);
      else if (kind === 'kmsg' ? ownNamespaceOnly() : o.resolve === true) this.rules = new TraceDescriber(undefined);
    }
  }

  /** /dev/kmsg records lost so far (overwritten before they were read), counted exactly. */
  get lostRecords(): number {
    return this.recordsLost;
  }

  /** Losses whose count is unknown (the ring buffer overwrote records before the first was read). */
  get lostUnknown(): number {
    return this.lossesUnknown;
  }

  /** Loss items so far. */
  get lossCount(): number {
    return this.losses;
  }

  /**
   * File inputs, so far: lines skipped for being longer than maxLineBytes, rotations followed,
   * truncations followed.
   */
  get fileTally():
    | {
      /** Lines longer than maxLineBytes, skipped. */
      oversized: number;
      /** Times the file was replaced by a new one of the same name while followed. */
      rotations: number;
      /** Times the file got shorter while followed (read again from its start). */
      truncations: number;
    }
    | undefined
  {
    const t = this.source.tally;
    return this.kind === 'file' && t ? { oversized: t[0]!, rotations: t[1]!, truncations: t[2]! } : undefined;
  }

  protected override lost(): number | undefined {
    return this.kind === 'kmsg' ? this.recordsLost : undefined;
  }

  protected decode(batch: RawBatch): KernelLogItem[] {
    const { items, parsed } = decodeRecords(batch, this.kind, this.names);
    const out: KernelLogItem[] = [];
    const check = Object.keys(this.match).length > 0;
    const now = Date.now(); // (the hops of a batch were read together)
    for (const it of items) {
      if (it instanceof KernelPacketItem) {
        if (!check || !parsed.has(it) || matchesLine(this.match, it)) out.push(it);
        continue;
      }
      if ('log' in it) {
        if (check && parsed.has(it.log) && !matchesLine(this.match, it.log)) continue;
        this.groups?.add(it, out as TracePacket[], now);
        continue;
      }
      if (it.type === 'loss') {
        this.losses++;
        if (it.lost === undefined) this.lossesUnknown++;
        else this.recordsLost += it.lost;
      }
      out.push(it);
    }
    return out;
  }

  protected override idleWait(): number | undefined {
    return this.groups?.wait();
  }

  protected override idle(): KernelLogItem[] {
    const out: TracePacket[] = [];
    this.groups?.expire(out);
    return out;
  }

  protected override flush(): KernelLogItem[] {
    const out: TracePacket[] = [];
    this.groups?.flush(out);
    return out;
  }

  /** Ends the stream as close() does, for `await using stream = KernelLog.file(...)`. */
  override async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  override next(): Promise<IteratorResult<KernelLogItem>> {
    const rules = this.rules;
    // (No promise more per item unless rule texts are looked up.)
    return rules ? super.next().then((r) => this.withRules(r, rules)) : super.next();
  }

  /** A trace item's hops in the ruleset's words (iptables-save form, the hook, the Service of a jump), as Trace's. */
  /** @internal */ private async withRules(r: IteratorResult<KernelLogItem>,
    rules: TraceDescriber): Promise<IteratorResult<KernelLogItem>>
  {
    if (!r.done && r.value.type === 'trace') {
      for (const h of r.value.hops) await rules.describe(h);
    }
    return r;
  }
}

function tuning(live: boolean, maxQueueBytes: number) {
  // A file is read as fast as it is consumed (a few batches ahead, as a dump); /dev/kmsg is
  // drained into memory up to maxQueueBytes as the kernel writes it (its ring buffer overwrites).
  return live
    ? { maxBatch: MAX_BATCH, maxQueueRecords: 0, maxQueueBytes }
    : { maxBatch: MAX_BATCH, maxQueueRecords: 4 * MAX_BATCH, maxQueueBytes: 0 };
}

/**
 * The kernel log: netfilter's lines of /dev/kmsg and of log files, as streams of items.
 *
 * @namespace
 */
export const KernelLog = {
  /**
   * /dev/kmsg: what its ring buffer holds (from the oldest record, or with `from: 'now'` from
   * now), and with `follow` what comes next. LOG lines come as `packet` items, TRACE lines as
   * `trace` items, records the ring buffer overwrote before they were read as `loss` items.
   * Needs read access to /dev/kmsg (root, or kernel.dmesg_restrict=0). LOG lines of a network
   * namespace other than the initial one are written only when net.netfilter.nf_log_all_netns
   * is 1, and a line does not say which namespace wrote it.
   *
   * @throws NfctError when /dev/kmsg cannot be opened (EACCES/EPERM, ENOENT).
   */
  kmsg(options: KmsgOptions = {}): KernelLogStream {
    const where = 'KernelLog.kmsg() options';
    const o = normalize(options, where, ['follow', 'from']);
    const follow = boolean(options.follow, `${where}.follow`) ?? false;
    const from = options.from ?? (follow ? 'now' : 'start');
    if (from !== 'start' && from !== 'now') {
      throw new TypeError(`${where}.from must be 'start' or 'now', got ${describeValue(options.from)}`);
    }
    const config: NativeKernelLogConfig = { kind: 'kmsg', follow, fromStart: from === 'start', filter: o.filter };
    return start(config, 'kmsg', o, true, callSite(KernelLog.kmsg), '/dev/kmsg');
  },

  /** /dev/kmsg from now on, as records come: `kmsg({ ...options, follow: true })`. */
  follow(options: Omit<KmsgOptions, 'follow'> = {}): KernelLogStream {
    checkKeys(options, [...COMMON_KEYS, 'from'], 'KernelLog.follow() options');
    return KernelLog.kmsg({ ...options, follow: true });
  },

  /**
   * A file of kernel log lines: a syslog file (`kern.log`), `dmesg` output, `journalctl -k`
   * output (`-o short-precise`, `-o short-iso`, `-o short-monotonic`, `-o json`), one per line,
   * any of them mixed. `path` is a path, or a file descriptor (0: standard input).
   *
   * @throws NfctError when the file cannot be opened.
   */
  file(path: string | number, options: KernelLogFileOptions = {}): KernelLogStream {
    const where = 'KernelLog.file() options';
    if (typeof path !== 'string' && !(typeof path === 'number' && Number.isInteger(path) && path >= 0)) {
      throw new TypeError(`KernelLog.file() path must be a path or a file descriptor, got ${describeValue(path)}`);
    }
    if (path === '') throw new TypeError('KernelLog.file() path must not be empty');
    const o = normalize(options, where, ['follow', 'from', 'maxLineBytes']);
    const follow = boolean(options.follow, `${where}.follow`) ?? false;
    const from = options.from ?? 'start';
    if (from !== 'start' && from !== 'end') {
      throw new TypeError(`${where}.from must be 'start' or 'end', got ${describeValue(options.from)}`);
    }
    const maxLine = optionalInteger(options.maxLineBytes, `${where}.maxLineBytes`, 256, 16 << 20) ?? 65536;
    const config: NativeKernelLogConfig = { kind: 'file', follow, fromEnd: from === 'end', maxLine, filter: o.filter };
    if (typeof path === 'number') config.fd = path;
    else config.path = path;
    // A file loses nothing when its reader waits (followed or not): read a few batches ahead.
    return start(config, 'file', o, false, callSite(KernelLog.file),
      typeof path === 'number' ? `file descriptor ${path}` : path);
  },
};

function start(config: NativeKernelLogConfig, kind: KernelLogSource, o: Omit<Normalized, 'config'>, live: boolean,
  site: { stack: string }, what: string): KernelLogStream
{
  // An already aborted signal: nothing is opened.
  const starts = o.signal?.aborted
    ? []
    : [
      (onBatch: Parameters<typeof addon.kernelLog>[1]) =>
        addon.kernelLog(config, onBatch, tuning(live, o.maxQueueBytes)),
    ];
  const source = new BatchSource(starts, site, `reading ${what}`);
  return new KernelLogStream(source, kind, o.match, o);
}
