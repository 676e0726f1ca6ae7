import { Buffer, isAscii } from 'node:buffer';
import { constants } from 'node:os';

import { CPU_STAT_NAMES, CT_MSG, TCP_STATES } from '../core/constants.js';
import { ClosedError, NfctError, callSite, withCallSite } from '../core/errors.js';
import { type FlowFilter, normalizeFilter } from './filter.js';
import { type CountEventOptions, EventCounter, type EventOptions, EventStream, normalizeEventOptions } from './events.js';
import { Expectations } from './expect.js';
import { FlowRecordStream, type FlowsOptions, normalizeFlowsOptions } from '../flows/stream.js';
import { decodeFlows } from './flow.js';
import { formatFlow } from './text.js';
import { readSave, unreadableLine } from './save.js';
import { Status } from './status.js';
import { addon, type NativeConntrack, type NativeFilter, type NativeLineFormat } from '../core/native.js';
import { SPEC_WORDS, changesFor, type FlowChanges, type FlowInput, type NativeFlowSpec, normalizeChanges, normalizeFlowInput, packFlowSpecs } from './flowspec.js';
import { type NetnsOption, netnsPath } from '../core/netns.js';
import { BatchSource, type RawBatch } from '../core/reader.js';
import { type AggregateOptions, type AggregateResult, decodeGroups, normalizeAggregate, sortNumber } from './aggregate.js';
import { RecordStream } from '../core/stream.js';
import { type TupleInput, flowTuple, normalizeTuple } from './tuple.js';
import type { Flow } from './types.js';
import { assertKnownKeys, assertObject, boolean, describeValue, integer, optionalInteger } from '../core/validate.js';

export interface OpenOptions {
  /** The network namespace to work in (default: the caller's). */
  netns?: NetnsOption;
}

/** A filter plus how to read. */
export interface ListOptions extends FlowFilter {
  /** Which table: the main one, entries being destroyed, or not yet confirmed. */
  table?: 'conntrack' | 'dying' | 'unconfirmed';
  /** Reset the counters of every entry read (conntrack -L -z). */
  zeroCounters?: boolean;
  /**
   * Send the parts of the filter the kernel can apply (default true). The result is the same
   * either way; false makes the kernel send every entry and matches them all in userspace.
   */
  kernelFilter?: boolean;
  /** Most flows per batch crossing from native code (default 2048). */
  batchSize?: number;
}

const LIST_KEYS = ['table', 'zeroCounters', 'kernelFilter', 'batchSize'] as const;

/**
 * The `-o` flags of the lines native code formats (listText(), deleteEach()'s
 * onDeletedText): the text is what formatFlow() makes of each entry with these options.
 */
export interface LineFormat {
  /** `-o extended`: the layer-3 name and number first (`ipv4     2 `). */
  extended?: boolean;
  /** `-o id`: `id=` of the entry at the end. */
  id?: boolean;
}

const LINE_FORMAT_KEYS = ['extended', 'id'] as const;

/** Options of listText(): list()'s, and the -o flags of the lines. */
export interface ListTextOptions extends ListOptions, LineFormat {}

function lineFormat(o: LineFormat, where: string): NativeLineFormat {
  return { extended: boolean(o.extended, `${where}.extended`) ?? false, id: boolean(o.id, `${where}.id`) ?? false };
}

/** A batch of records as one chunk of -L lines (formatted by native code, on this thread). */
function textChunk(format: NativeLineFormat): (buffer: ArrayBuffer, strings: string, count: number) => Buffer[] {
  return (buffer, strings, count) => (count > 0 ? [addon.formatFlows(buffer, strings, count, format)] : []);
}

const { EEXIST, EIO, ENOENT } = constants.errno;

/** What native create() and createBatch() do with an entry (see NativeConntrack.create). */
const MODE = { CREATE: 0, ADD: 1, UPDATE: 2 } as const;


/** Whether the kernel's flush can apply the whole filter (family, mark and status only). */
function kernelFlushable(f: NativeFilter): boolean {
  const allowed = new Set(['family', 'mark', 'markMask', 'status', 'statusMask', 'kernel']);
  return f.kernel !== false && Object.keys(f).every((k) => allowed.has(k));
}

/** Result of createMany(). */
export interface CreateManyResult {
  /** Entries created. */
  created: number;
  /** With `ifExists: 'skip'`: entries that were already there (left as they are). */
  existed: number;
  /** Entries the kernel refused, with their position in the input and the error. */
  failed: Array<{ index: number; flow: FlowInput | Flow; error: NfctError }>;
}

/**
 * What an error thrown by createMany() carries when the input itself was bad (an invalid
 * entry: TypeError/RangeError) or the iterable threw: where it stopped and what was done.
 * Nothing is sent for an array with a bad entry (created 0); for other iterables, the
 * batches before the one holding it were sent and `created` counts what they created.
 */
export interface CreateManyStop extends CreateManyResult {
  /** The position of the entry that was invalid (or at which the iterable threw). */
  index: number;
}

/** Result of restore(). */
export interface RestoreResult {
  /** Entries created. */
  created: number;
  /** Entries of `-A` lines that were already there (left as they are). */
  existed: number;
  /** Lines whose entry the kernel refused: the line number (from 1), its command, the error. */
  failed: Array<{ line: number; command: 'create' | 'add'; error: NfctError }>;
}

/** Options of restore(). */
export interface RestoreOptions {
  /** Entries per run of requests (default 2000). */
  batchSize?: number;
}

export interface CreateManyOptions {
  /** Entries per batch crossing into native code (default 1000). */
  batchSize?: number;
  /** 'fail' (default): an existing entry is a failure (EEXIST); 'skip': it is left as is. */
  ifExists?: 'fail' | 'skip';
}

/** Per-CPU conntrack statistics, named as `conntrack -S` prints them. */
export interface CpuStats {
  cpu: number;
  found: number;
  invalid: number;
  insert: number;
  insert_failed: number;
  drop: number;
  early_drop: number;
  error: number;
  search_restart: number;
  clash_resolve: number;
  chaintoolong: number;
  /** Counters newer than this library, by their kernel name or as stat_N. */
  [name: string]: number;
}

/** Options of deleteEach(): BulkOptions, and how the deleted entries are reported. */
export interface DeleteEachOptions extends BulkOptions {
  /** Each batch of deleted entries, as they were just before (awaited before the next batch). */
  onDeleted?: (flows: Flow[]) => void | Promise<void>;
  /**
   * Each batch of deleted entries as `conntrack -D` prints them instead: whole lines, each
   * ending in a newline, and how many. Without `match` they are formatted by native code
   * straight from the reader's records, and no Flow is made. Not with onDeleted.
   */
  onDeletedText?: (lines: Buffer, count: number) => void | Promise<void>;
  /** The -o flags of onDeletedText's lines. */
  lineFormat?: LineFormat;
}

/** Options of deleteEach() and updateWhere(). */
export interface BulkOptions {
  /** A further test on each entry the filter selects (what the filter cannot express). */
  match?: (flow: Flow) => boolean;
  /**
   * Entries per dump batch, and so per run of requests (default 2048; updateWhere() 512: its
   * batches are Flow objects held across a round trip to the kernel, and smaller ones stay in
   * the young generation of the heap, which is both quicker and smaller).
   */
  batchSize?: number;
  /**
   * Stops the operation once it is aborted: no batch is started after that (the one with the
   * kernel finishes), and the promise resolves with how many entries were changed until then.
   * deleteEach() without `match` deletes as the kernel's dump goes: aborted, the dump stops and
   * the deletes already asked for are sent; onDeleted gets those entries, and they are what it
   * resolves.
   */
  signal?: AbortSignal;
}

function bulkOptions(
  options: BulkOptions & { [key: string]: unknown },
  where: string,
  callbackKey: string,
  extraKeys: readonly string[] = [],
  defaultBatch = 2048,
): { match?: (f: Flow) => boolean; batchSize: number; signal?: AbortSignal; callback?: (flows: Flow[]) => void | Promise<void> } {
  const raw: unknown = options;
  assertObject(raw, where);
  assertKnownKeys(raw, ['match', 'batchSize', 'signal', callbackKey, ...extraKeys], where);
  if (options.match !== undefined && typeof options.match !== 'function') throw new TypeError(`${where}.match must be a function, got ${describeValue(options.match)}`);
  const cb = options[callbackKey];
  if (cb !== undefined && typeof cb !== 'function') throw new TypeError(`${where}.${callbackKey} must be a function, got ${describeValue(cb)}`);
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) throw new TypeError(`${where}.signal must be an AbortSignal, got ${describeValue(options.signal)}`);
  const batchSize = optionalInteger(options.batchSize, `${where}.batchSize`, 1, 65536) ?? defaultBatch;
  return { match: options.match, batchSize, signal: options.signal, callback: cb as ((flows: Flow[]) => void | Promise<void>) | undefined };
}

/** The flow as an update leaves it (what the kernel would report for it next); changed in place. */
function changedFlow(f: Flow, spec: NativeFlowSpec, c: FlowChanges): Flow {
  if (spec.timeout !== undefined) f.timeout = spec.timeout;
  if (spec.mark !== undefined) f.mark = spec.markMask === undefined ? spec.mark : (((f.mark ?? 0) & ~spec.markMask) ^ spec.mark) >>> 0;
  if (spec.status !== undefined) f.status = new Status(spec.status);
  if (spec.tcpState !== undefined && f.protocol === 'tcp' && f.tcp) f.tcp = { ...f.tcp, state: TCP_STATES[spec.tcpState]!, stateNum: spec.tcpState };
  if (c.labels) {
    const bits = new Set(f.labels ?? []);
    for (const b of [c.labels.add ?? []].flat()) bits.add(b);
    for (const b of [c.labels.remove ?? []].flat()) bits.delete(b);
    const labels = [...bits].sort((a, b) => a - b);
    f.labels = labels.length > 0 ? labels : undefined;
  }
  return f;
}

/** A streamed dump of flows (see RecordStream). */
export class FlowStream extends RecordStream<Flow> {}

/** A handle on one namespace's conntrack table. */
export class Conntrack {
  private native: NativeConntrack | undefined;
  private readonly sources = new Set<BatchSource>();

  private constructor(
    native: NativeConntrack,
    /** The namespace file this handle works in, or null for the caller's own. */
    readonly netnsPath: string | null,
  ) {
    this.native = native;
  }

  /** Opens a handle; with `netns`, every socket it uses is opened inside that namespace. */
  static async open(options: OpenOptions = {}): Promise<Conntrack> {
    const raw: unknown = options;
    assertObject(raw, 'Conntrack.open options');
    assertKnownKeys(raw, ['netns'], 'Conntrack.open options');
    const path = netnsPath(options.netns);
    const site = callSite(Conntrack.open);
    try {
      return new Conntrack(await addon.openConntrack(path), path);
    } catch (e) {
      throw withCallSite(e, site, path ? `opening conntrack in network namespace ${path}` : 'opening conntrack');
    }
  }

  private handle(what: string): NativeConntrack {
    if (!this.native) throw new ClosedError(`Conntrack handle (${what} after close())`);
    return this.native;
  }

  /** The expectation table of this namespace. */
  readonly expectations = new Expectations(() => this.handle('expectations'), this);

  private createOne(native: NativeConntrack, spec: NativeFlowSpec, mode: number): Promise<boolean> {
    const { words, helpers } = packFlowSpecs([spec]);
    return native.create(words, helpers, mode);
  }

  /** @internal */
  track(source: BatchSource): void {
    this.sources.add(source);
  }

  /** Awaits a native call, turning its failure into an error pointing at the caller. */
  private async settle<T>(site: { stack: string }, context: string, work: Promise<T>): Promise<T> {
    try {
      return await work;
    } catch (e) {
      throw withCallSite(e, site, context);
    }
  }

  /** @internal */
  forget(source: BatchSource): void {
    this.sources.delete(source);
  }

  /** Streams the table's flows that match the filter. */
  list(query: ListOptions = {}): FlowStream {
    return this.dump(query, 'list()', LIST_KEYS, (start) => new FlowStream(this, decodeFlows, start), callSite(this.list));
  }

  /**
   * The table as `conntrack -L` prints it, for writing it out: each item is a Buffer of whole
   * lines, each ending in a newline (one batch of the dump, up to `batchSize` lines). Native
   * code formats each batch straight from the reader's records (on this thread, while the
   * reader goes on with the dump), so no Flow is made: for large tables, several times less
   * work than formatFlow() of each entry of list(), and the same text.
   * Takes list()'s options, and `extended` and `id` (conntrack's `-o extended`, `-o id`).
   *
   * ```ts
   * for await (const lines of ct.listText({ protocol: 'tcp' })) process.stdout.write(lines);
   * ```
   */
  listText(query: ListTextOptions = {}): RecordStream<Buffer> {
    // dump() checks the handle and the options first; the -o flags are read once they are known to be there.
    return this.dump(query, 'listText()', [...LIST_KEYS, ...LINE_FORMAT_KEYS], (start) => new RecordStream(this, textChunk(lineFormat(query, 'listText() options')), start), callSite(this.listText));
  }

  /** list() and listText(): checks the options, and makes the stream that dumps on iteration. */
  private dump<S>(query: ListOptions, call: string, keys: readonly string[], make: (start: () => BatchSource) => S, site: { stack: string }): S {
    this.handle(call);
    const where = `${call} options`;
    const raw: unknown = query;
    assertObject(raw, where);
    const filter: NativeFilter = normalizeFilter(query, where, keys);
    const table = query.table === undefined ? 'conntrack' : query.table;
    if (table !== 'conntrack' && table !== 'dying' && table !== 'unconfirmed') {
      throw new TypeError(`${where}.table must be 'conntrack', 'dying' or 'unconfirmed', got ${describeValue(table)}`);
    }
    const zero = boolean(query.zeroCounters, `${where}.zeroCounters`) ?? false;
    if (zero && table !== 'conntrack') throw new TypeError(`${where}.zeroCounters applies to the 'conntrack' table only`);
    const kernel = boolean(query.kernelFilter, `${where}.kernelFilter`) ?? true;
    const maxBatch = optionalInteger(query.batchSize, `${where}.batchSize`, 1, 65536) ?? 2048;
    filter.kernel = kernel;
    const msg =
      table === 'dying' ? CT_MSG.GET_DYING : table === 'unconfirmed' ? CT_MSG.GET_UNCONFIRMED : zero ? CT_MSG.GET_CTRZERO : CT_MSG.GET;
    return make(() => {
      const live = this.handle(`iterating ${call}`);
      const source = new BatchSource(
        (onBatch) => live.dump(filter, msg, onBatch, { maxBatch, maxQueueRecords: 3 * maxBatch }),
        site,
        'conntrack dump',
      );
      this.sources.add(source);
      return source;
    });
  }

  /** The entry with this original tuple (or a Flow's), or null when there is none. */
  async get(tuple: TupleInput | Flow): Promise<Flow | null> {
    const native = this.handle('get()');
    const t = normalizeTuple(tuple, 'get() tuple');
    const [buffer, strings, count] = await this.settle(callSite(this.get), 'conntrack get', native.get(t));
    return count > 0 ? decodeFlows(buffer, strings, count)[0]! : null;
  }

  /** How many entries the table holds (in this namespace). */
  async count(): Promise<number> {
    const native = this.handle('count()');
    const [entries] = await this.settle(callSite(this.count), 'conntrack count', native.count());
    return entries;
  }

  /**
   * The entry count and the table's limit in one request: `max` is `nf_conntrack_max` as the
   * kernel applies it to this namespace (null on kernels that do not report it).
   */
  async usage(): Promise<{ count: number; max: number | null }> {
    const native = this.handle('usage()');
    const [count, max] = await this.settle(callSite(this.usage), 'conntrack count', native.count());
    return { count, max: max < 0 ? null : max };
  }

  /** Per-CPU statistics (conntrack -S). */
  async stats(): Promise<CpuStats[]> {
    const native = this.handle('stats()');
    const rows = await this.settle(callSite(this.stats), 'conntrack statistics', native.stats());
    return rows.map(([cpu, values]) => {
        const row: Record<string, number> = { cpu };
        for (const name of ['found', 'invalid', 'insert', 'insert_failed', 'drop', 'early_drop', 'error', 'search_restart', 'clash_resolve', 'chaintoolong']) {
          row[name] = 0;
        }
        for (let i = 0; i + 1 < values.length; i += 2) {
          const name = CPU_STAT_NAMES[values[i]!] ?? `stat_${values[i]}`;
          row[name] = values[i + 1]!;
        }
        return row as CpuStats;
      });
  }

  /**
   * Conntrack events as they happen: 'new', 'update', 'destroy' (and, when asked for in
   * `types`, 'expect-new' / 'expect-destroy'), filtered as list() filters (in the kernel by a
   * socket BPF program where it can). Overruns are items of the stream, never its end.
   */
  events(options: EventOptions = {}): EventStream {
    const native = this.handle('events()');
    const o = normalizeEventOptions(options);
    return new EventStream(native, this, o.filter, o.nativeFilter, o.types, o.tuning, o.resync, o.signal, callSite(this.events));
  }

  /**
   * Conntrack events counted by type instead of yielded (an exporter's rates): the same
   * options and filter as events() but `resync`; no object is made per event, so memory stays
   * the same at any event rate. Overruns are counted in `stats.overruns`.
   */
  countEvents(options: CountEventOptions = {}): EventCounter {
    const native = this.handle('countEvents()');
    const o = normalizeEventOptions(options, 'countEvents()');
    return new EventCounter(native, this, o.nativeFilter, o.types, o.tuning, o.signal, callSite(this.countEvents));
  }

  /** Flow records: one per finished connection, from DESTROY events (see lib/flows/stream.ts). */
  flows(options: FlowsOptions = {}): FlowRecordStream {
    const native = this.handle('flows()');
    return new FlowRecordStream(native, this, normalizeFlowsOptions(options), callSite(this.flows));
  }

  /** Creates an entry; fails with NfctError EEXIST when it exists (conntrack -I). */
  async create(flow: FlowInput | Flow): Promise<void> {
    const native = this.handle('create()');
    const spec = normalizeFlowInput(flow, 'create() flow');
    await this.settle(callSite(this.create), 'conntrack create', this.createOne(native, spec, MODE.CREATE));
  }

  /** Creates an entry unless it exists (conntrack -A); resolves whether it created one. */
  async add(flow: FlowInput | Flow): Promise<boolean> {
    const native = this.handle('add()');
    const spec = normalizeFlowInput(flow, 'add() flow');
    return this.settle(callSite(this.add), 'conntrack add', this.createOne(native, spec, MODE.ADD));
  }

  /**
   * Changes an existing entry (conntrack -U): mark (with mask), timeout, status bits, labels,
   * TCP state. Fails with NfctError ENOENT when there is no such entry.
   */
  async update(target: TupleInput | Flow, changes: FlowChanges): Promise<void> {
    const native = this.handle('update()');
    const spec = normalizeChanges(target, changes, 'update()');
    const site = callSite(this.update);
    if (spec.status !== undefined) {
      // The kernel takes the whole status word and refuses to flip its fixed bits (EBUSY):
      // the requested bits are added to the entry's current ones.
      const [buffer, strings, count] = await this.settle(site, 'conntrack update', native.get(spec.orig));
      if (count === 0) throw withCallSite(new NfctError(ENOENT, 'netlink', 'no such entry'), site, 'conntrack update');
      spec.status = (spec.status | decodeFlows(buffer, strings, count)[0]!.status.bits) >>> 0;
    }
    await this.settle(site, 'conntrack update', this.createOne(native, spec, MODE.UPDATE));
  }

  /**
   * Deletes one entry, given by its original tuple, a Flow (its id must still match), or
   * `{ id }` (found by a dump first). Fails with NfctError ENOENT when there is none.
   */
  async delete(target: TupleInput | Flow | { id: number }): Promise<void> {
    const native = this.handle('delete()');
    const site = callSite(this.delete);
    assertObject(target, 'delete() target');
    const keys = Object.keys(target);
    if (keys.length === 1 && keys[0] === 'id') {
      const id = integer((target as { id: number }).id, 'delete() target.id', 0, 0xffffffff);
      let found: Flow | undefined;
      for await (const f of this.list()) {
        if (f.id === id) {
          found = f;
          break;
        }
      }
      if (!found) throw withCallSite(new NfctError(ENOENT, 'netlink', `no entry with id ${id}`), site, 'conntrack delete');
      return this.settle(site, 'conntrack delete', native.delete(normalizeTuple(found, 'delete() target'), id));
    }
    const tuple = normalizeTuple(target as TupleInput | Flow, 'delete() target');
    const id = 'status' in target && typeof (target as Flow).id === 'number' ? (target as Flow).id! : -1;
    return this.settle(site, 'conntrack delete', native.delete(tuple, id));
  }

  /**
   * Deletes every entry matching the filter (the same filters as list()) and resolves how
   * many it deleted; with `dryRun`, how many it would delete. Any filter but one of family,
   * mark and status only is a dump whose matches are deleted in batches as it goes; entries
   * that vanish in between are not counted, and are not errors. A filter of family, mark and
   * status only is handed to the kernel's own flush, which deletes without a dump and says
   * nothing of how many: the count is then how much the table shrank meanwhile, exact unless
   * something else changes the namespace's table at the same moment.
   */
  async deleteWhere(filter: FlowFilter & { kernelFilter?: boolean }, options: { dryRun?: boolean } = {}): Promise<number> {
    const native = this.handle('deleteWhere()');
    const nf = normalizeFilter(filter, 'deleteWhere() filter', ['kernelFilter']);
    nf.kernel = boolean(filter.kernelFilter, 'deleteWhere() filter.kernelFilter') ?? true;
    const raw: unknown = options;
    assertObject(raw, 'deleteWhere() options');
    assertKnownKeys(raw, ['dryRun'], 'deleteWhere() options');
    const dryRun = boolean(options.dryRun, 'deleteWhere() options.dryRun') ?? false;
    const site = callSite(this.deleteWhere);
    if (!dryRun && kernelFlushable(nf)) {
      const before = await this.settle(site, 'conntrack bulk delete', native.count());
      await this.settle(site, 'conntrack bulk delete', native.flush(nf));
      const after = await this.settle(site, 'conntrack bulk delete', native.count());
      return Math.max(0, before[0] - after[0]);
    }
    const source = new BatchSource((onBatch) => native.deleteWhere(nf, dryRun, onBatch), site, 'conntrack bulk delete');
    await this.drain(source);
    const [matched = 0, deleted = 0, , failed = 0] = source.tally ?? [];
    if (failed > 0) {
      throw withCallSite(new NfctError(EIO, 'netlink', `${failed} of ${matched} deletes failed`), site, 'conntrack bulk delete');
    }
    return dryRun ? matched : deleted;
  }

  /** Runs a job whose result comes on its final batch to the end; resolves that batch. */
  private async drain(source: BatchSource): Promise<RawBatch | null> {
    this.sources.add(source);
    let last: RawBatch | null = null;
    try {
      for (let b = await source.next(); b !== null; b = await source.next()) {
        last = b;
        source.release(b);
      }
    } finally {
      source.close();
      this.forget(source);
    }
    return last;
  }

  /**
   * Groups the entries (those matching `filter`, or all) by one or more keys and resolves the
   * top groups with their entry counts, and packet and byte sums where accounting is on. The
   * grouping runs in native code over the dump as it arrives: no Flow is built, and memory
   * grows with the number of groups, not of entries.
   *
   * ```ts
   * const { groups } = await ct.aggregate({ by: ['src'], top: 5 });
   * const stale = await ct.aggregate({ by: 'dnat', filter: { protocol: 'udp', status: 'DST_NAT' } });
   * ```
   */
  async aggregate(options: AggregateOptions): Promise<AggregateResult> {
    const native = this.handle('aggregate()');
    const n = normalizeAggregate(options, 'aggregate()');
    const nf = normalizeFilter(options.filter ?? {}, 'aggregate() options.filter');
    nf.kernel = boolean(options.kernelFilter, 'aggregate() options.kernelFilter') ?? true;
    const site = callSite(this.aggregate);
    const sort = sortNumber(n.sort);
    const source = new BatchSource((onBatch) => native.aggregate(nf, n.keys, sort, n.top, onBatch), site, 'conntrack aggregate');
    const last = await this.drain(source);
    const [, groups = 0] = source.tally ?? [];
    return last ? decodeGroups(n, last.buffer, last.strings, last.count, groups) : decodeGroups(n, new ArrayBuffer(0), '', 0, 0);
  }

  /**
   * Deletes the entries that match the filter (and `options.match`, when given) and reports
   * each batch of deleted entries, as they were just before, to `onDeleted` (awaited before
   * the next batch: a slow consumer slows the dump, memory stays flat). Runs on a dump: each
   * batch of matches becomes one run of delete requests (many to a system call) while the
   * dump goes on. Entries that vanish in between are neither reported nor errors; each delete
   * names the entry's id, so an entry replaced meanwhile is left alone. Resolves how many it
   * deleted.
   */
  async deleteEach(
    filter: FlowFilter & { kernelFilter?: boolean },
    options: DeleteEachOptions = {},
  ): Promise<number> {
    const native = this.handle('deleteEach()');
    const where = 'deleteEach() options';
    const o = bulkOptions(options as DeleteEachOptions & { [key: string]: unknown }, where, 'onDeleted', ['onDeletedText', 'lineFormat']);
    const onText = options.onDeletedText;
    if (onText !== undefined && typeof onText !== 'function') throw new TypeError(`${where}.onDeletedText must be a function, got ${describeValue(onText)}`);
    if (onText && o.callback) throw new TypeError(`${where}: onDeleted and onDeletedText cannot both be given`);
    const rawFormat: unknown = options.lineFormat === undefined ? {} : options.lineFormat;
    assertObject(rawFormat, `${where}.lineFormat`);
    assertKnownKeys(rawFormat, LINE_FORMAT_KEYS, `${where}.lineFormat`);
    const format = lineFormat(rawFormat, `${where}.lineFormat`);
    if (onText && o.match) {
      // The entries are Flow objects here (match needs them): formatted in JS, the same text.
      o.callback = (flows) => onText(Buffer.from(flows.map((f) => `${formatFlow(f, format)}\n`).join(''), 'latin1'), flows.length);
    }
    const site = callSite(this.deleteEach);
    if (!o.match) {
      // The whole filter is native: the reader deletes as it dumps and hands over what it
      // deleted, with no round trip through JS per batch.
      const nf = normalizeFilter(filter, 'deleteEach() filter', ['kernelFilter']);
      nf.kernel = boolean(filter.kernelFilter, 'deleteEach() filter.kernelFilter') ?? true;
      if (o.signal?.aborted) return 0;
      // Without onDeleted, what was deleted is only counted: no Flow is made.
      const source = new BatchSource((onBatch) => native.deleteWhere(nf, false, onBatch, true), site, 'conntrack bulk delete');
      this.sources.add(source);
      // Aborted: the dump stops, and the deletes asked for so far are sent (each was already
      // in a batch, or is in the final one): what is reported and counted is what went.
      const abort = (): void => source.endEarly();
      o.signal?.addEventListener('abort', abort, { once: true });
      try {
        for (let b = await source.next(); b !== null; b = await source.next()) {
          const flows = o.callback && b.count > 0 ? decodeFlows(b.buffer, b.strings, b.count) : undefined;
          source.release(b);
          if (flows) await o.callback!(flows);
          else if (onText && b.count > 0) await onText(addon.formatFlows(b.buffer, b.strings, b.count, format), b.count);
        }
      } finally {
        o.signal?.removeEventListener('abort', abort);
        source.close();
        this.forget(source);
      }
      const [matched = 0, deleted = 0, , failed = 0] = source.tally ?? [];
      if (failed > 0) throw withCallSite(new NfctError(5, 'netlink', `${failed} of ${matched} deletes failed`), site, 'conntrack bulk delete');
      return deleted;
    }
    if (o.signal?.aborted) return 0;
    const stream = this.list({ ...filter, batchSize: o.batchSize });
    let deleted = 0;
    for await (const batch of stream.batches()) {
      if (o.signal?.aborted) break;
      const flows = o.match ? batch.filter(o.match) : batch;
      if (flows.length === 0) continue;
      const specs = flows.map((f) => {
        const orig = flowTuple(f);
        const spec: NativeFlowSpec = { orig };
        if (orig.zone !== undefined) {
          spec.zone = orig.zone;
          delete orig.zone;
        }
        return spec;
      });
      const ids = new Float64Array(flows.map((f) => (f.id === undefined ? -1 : f.id)));
      const { words } = packFlowSpecs(specs);
      const errs = await this.settle(site, 'conntrack bulk delete', native.deleteBatch(words, undefined, 0, ids));
      const done: Flow[] = [];
      for (let i = 0; i < errs.length; i++) {
        if (errs[i] === 0) done.push(flows[i]!);
        else if (errs[i] !== 2) throw withCallSite(new NfctError(errs[i]!, 'netlink', '', 'conntrack bulk delete'), site, 'conntrack bulk delete');
      }
      deleted += done.length;
      if (done.length > 0 && o.callback) await o.callback(done);
    }
    return deleted;
  }

  /**
   * Changes the entries that match the filter (and `options.match`). `changes` is what to
   * change on each, or a function of the entry giving its changes (null: leave this one).
   * Each batch of matches becomes one run of update requests while the dump goes on; status
   * bits are added to each entry's own. `onUpdated` gets each batch of changed entries as they
   * are after the change (mark, status, labels, timeout). Entries that vanish in between are
   * skipped. Resolves how many it changed.
   */
  async updateWhere(
    filter: FlowFilter & { kernelFilter?: boolean },
    changes: FlowChanges | ((flow: Flow) => FlowChanges | null),
    options: BulkOptions & { onUpdated?: (flows: Flow[]) => void | Promise<void> } = {},
  ): Promise<number> {
    const native = this.handle('updateWhere()');
    const o = bulkOptions(options as BulkOptions & { [key: string]: unknown }, 'updateWhere() options', 'onUpdated', [], 512);
    if (typeof changes !== 'function') normalizeChanges({ protocol: 'tcp', src: '0.0.0.0', dst: '0.0.0.0', srcPort: 0, dstPort: 0 }, changes, 'updateWhere()');
    const site = callSite(this.updateWhere);
    if (o.signal?.aborted) return 0;
    const stream = this.list({ ...filter, batchSize: o.batchSize });
    let updated = 0;
    // One batch of updates is with the kernel while the next batch of the dump is matched and
    // packed; its result is taken (and handed to onUpdated) before the next one is sent.
    type Sent = { errs: Promise<Int32Array>; flows: Flow[]; specs: NativeFlowSpec[]; applied: FlowChanges[] };
    let sent: Sent | undefined;
    const finish = async ({ errs: pending, flows, specs, applied }: Sent): Promise<void> => {
      const errs = await pending;
      const done: Flow[] = [];
      for (let i = 0; i < errs.length; i++) {
        if (errs[i] === 0) done.push(changedFlow(flows[i]!, specs[i]!, applied[i]!));
        else if (errs[i] !== 2) throw withCallSite(new NfctError(errs[i]!, 'netlink', '', 'conntrack bulk update'), site, 'conntrack bulk update');
      }
      updated += done.length;
      if (done.length > 0 && o.callback) await o.callback(done);
    };
    try {
      for await (const batch of stream.batches()) {
        if (o.signal?.aborted) break;
        const flows: Flow[] = [];
        const specs: NativeFlowSpec[] = [];
        const applied: FlowChanges[] = [];
        for (const f of batch) {
          if (o.match && !o.match(f)) continue;
          const c = typeof changes === 'function' ? changes(f) : changes;
          if (c === null) continue;
          const spec = changesFor(flowTuple(f), c, 'updateWhere()');
          if (spec.status !== undefined) spec.status = (spec.status | f.status.bits) >>> 0;
          flows.push(f);
          specs.push(spec);
          applied.push(c);
        }
        if (specs.length === 0) continue;
        const { words, helpers } = packFlowSpecs(specs);
        if (sent) {
          const previous = sent;
          sent = undefined;
          await finish(previous);
          // Aborted meanwhile (in onUpdated, say): this batch is not sent.
          if (o.signal?.aborted) break;
        }
        const errs = this.settle(site, 'conntrack bulk update', native.createBatch(words, helpers, 2));
        errs.catch(() => undefined); // awaited in finish(); not unhandled meanwhile
        sent = { errs, flows, specs, applied };
      }
      if (sent) {
        const last = sent;
        sent = undefined;
        await finish(last);
      }
    } finally {
      // Leaving early (an error, a throwing callback): the batch still with the kernel ends first.
      if (sent) await sent.errs.catch(() => undefined);
    }
    return updated;
  }

  /** Deletes every entry, or those of one family (conntrack -F). */
  async flush(options: { family?: 'ipv4' | 'ipv6' } = {}): Promise<void> {
    const native = this.handle('flush()');
    const raw: unknown = options;
    assertObject(raw, 'flush() options');
    assertKnownKeys(raw, ['family'], 'flush() options');
    const nf = normalizeFilter(options.family === undefined ? {} : { family: options.family }, 'flush() options');
    await this.settle(callSite(this.flush), 'conntrack flush', native.flush(nf));
  }

  /**
   * Creates many entries, many requests to a system call. Failures are reported per entry and
   * do not stop the rest. Accepts any iterable or async iterable.
   */
  async createMany(flows: Iterable<FlowInput | Flow> | AsyncIterable<FlowInput | Flow>, options: CreateManyOptions = {}): Promise<CreateManyResult> {
    this.handle('createMany()');
    const raw: unknown = options;
    assertObject(raw, 'createMany() options');
    assertKnownKeys(raw, ['batchSize', 'ifExists'], 'createMany() options');
    const batchSize = optionalInteger(options.batchSize, 'createMany() options.batchSize', 1, 100000) ?? 1000;
    const ifExists = options.ifExists === undefined ? 'fail' : options.ifExists;
    if (ifExists !== 'fail' && ifExists !== 'skip') throw new TypeError(`createMany() options.ifExists must be 'fail' or 'skip', got ${describeValue(ifExists)}`);
    if (flows === null || typeof flows !== 'object' || (!(Symbol.iterator in flows) && !(Symbol.asyncIterator in flows))) {
      throw new TypeError(`createMany() flows must be an iterable of flows, got ${describeValue(flows)}`);
    }
    const site = callSite(this.createMany);
    const result: CreateManyResult = { created: 0, existed: 0, failed: [] };
    let inflight: Promise<void> | undefined;
    const send = (packed: ReturnType<typeof packFlowSpecs>, inputs: (FlowInput | Flow)[], first: number): Promise<void> =>
      this.sendCreates('createMany()', site, packed, ifExists === 'skip', result, (i, err) => {
        result.failed.push({ index: first + i, flow: inputs[i]!, error: new NfctError(err, 'netlink', '', `createMany entry ${first + i}`) });
      });
    let specs: NativeFlowSpec[] = [];
    let inputs: (FlowInput | Flow)[] = [];
    let index = 0;
    let first = 0;
    /** Takes one flow; true when a batch is full. */
    const take = (flow: FlowInput | Flow): boolean => {
      specs.push(normalizeFlowInput(flow, `createMany() flows[${index}]`));
      inputs.push(flow);
      index++;
      return specs.length >= batchSize;
    };
    /** Packs the batch while the one before is still with the kernel, then sends it. */
    const sendBatch = async (): Promise<void> => {
      const packed = packFlowSpecs(specs);
      const sent = { inputs, first };
      first = index;
      specs = [];
      inputs = [];
      await inflight;
      inflight = send(packed, sent.inputs, sent.first);
    };
    /** Bad input stops it: the error says where, and what the batches sent before did. */
    const stop = async (e: unknown): Promise<never> => {
      await inflight;
      if (e !== null && typeof e === 'object' && Object.isExtensible(e)) {
        const stopped: CreateManyStop = { index, created: result.created, existed: result.existed, failed: result.failed };
        Object.assign(e, stopped);
      }
      throw e;
    };
    try {
      if (Array.isArray(flows)) {
        // An array is checked whole before the first batch is sent: bad input creates nothing.
        // Each batch is packed as soon as it is checked, so only the packed words wait.
        const list = flows as (FlowInput | Flow)[];
        const packed: (ReturnType<typeof packFlowSpecs> | undefined)[] = [];
        for (let i = 0; i < list.length; i += batchSize) {
          const end = Math.min(i + batchSize, list.length);
          for (index = i; index < end; index++) specs.push(normalizeFlowInput(list[index]!, `createMany() flows[${index}]`));
          packed.push(packFlowSpecs(specs));
          specs = [];
        }
        index = 0;
        for (let b = 0; b < packed.length; b++) {
          const from = b * batchSize;
          await inflight;
          inflight = send(packed[b]!, list.slice(from, from + batchSize), from);
          packed[b] = undefined; // sent: its words may go
          index = first = Math.min(from + batchSize, list.length);
        }
      } else if (Symbol.iterator in flows) {
        // A plain iterable is walked synchronously between batches: no promise per entry. Each
        // batch is checked whole before it is sent.
        for (const flow of flows as Iterable<FlowInput | Flow>) if (take(flow)) await sendBatch();
      } else {
        for await (const flow of flows as AsyncIterable<FlowInput | Flow>) if (take(flow)) await sendBatch();
      }
    } catch (e) {
      return stop(e);
    }
    if (specs.length > 0) await sendBatch();
    await inflight;
    return result;
  }

  /**
   * Sends one packed batch of creates (adds when `add`: an entry already there counts in
   * `existed`) and tallies the answers into `result`; `failed(i, errno)` gets each entry the
   * kernel refused, by its position in the batch. The handle must still be open.
   */
  private sendCreates(
    call: string,
    site: { stack: string },
    packed: ReturnType<typeof packFlowSpecs>,
    add: boolean,
    result: { created: number; existed: number },
    failed: (i: number, errno: number) => void,
  ): Promise<void> {
    const native = this.handle(call);
    return this.settle(site, `conntrack ${call.slice(0, -2)}`, native.createBatch(packed.words, packed.helpers, add ? MODE.ADD : MODE.CREATE)).then((errs) => {
      for (let i = 0; i < errs.length; i++) {
        const err = errs[i]!;
        if (err === 0) result.created++;
        else if (err === EEXIST && add) result.existed++;
        else failed(i, err);
      }
    });
  }

  /**
   * Creates the entries of a save file (`conntrack -L -o save` output; what `conntrack -R`
   * reads): `-I` lines create, `-A` lines add (an entry already there is counted in `existed`).
   * Every line is read and checked before anything is sent, so a line it cannot read (see
   * parseSaveLine(); blank lines and `#` comments are skipped) is a TypeError carrying its
   * `line` number, and nothing is created. The entries then go to the kernel many to a system
   * call, one batch in flight. Quicker than parseSave() then createMany(): the lines are packed
   * for the kernel by the native reader (readSave()), with no object made per line.
   *
   * `text` is the file's text, or its bytes (UTF-8) as read from the file: bytes that are all
   * ASCII, as every save file is, are read where they are, with no string made of them.
   */
  async restore(text: string | Uint8Array, options: RestoreOptions = {}): Promise<RestoreResult> {
    this.handle('restore()');
    let input: string | Uint8Array;
    if (typeof text === 'string') input = text;
    else if (text instanceof Uint8Array) input = isAscii(text) ? text : Buffer.from(text.buffer, text.byteOffset, text.byteLength).toString('utf8');
    else throw new TypeError(`restore() text must be a string or a Uint8Array (the bytes of a save file), got ${describeValue(text)}`);
    const raw: unknown = options;
    assertObject(raw, 'restore() options');
    assertKnownKeys(raw, ['batchSize'], 'restore() options');
    const batchSize = optionalInteger(options.batchSize, 'restore() options.batchSize', 1, 100000) ?? 2000;
    // Every line is packed (and so checked) before anything is sent; then each run of -I lines
    // or of -A lines goes in batches of at most batchSize entries.
    const { words, kinds, numbers, ranges, bad } = readSave(input);
    const count = numbers.length;
    if (bad >= 0) {
      const [from, to] = [ranges[2 * bad]!, ranges[2 * bad + 1]!];
      const line = typeof input === 'string' ? input.slice(from, to) : Buffer.from(input.buffer, input.byteOffset + from, to - from).toString('latin1');
      throw unreadableLine(line, numbers[bad]!, 'restore()');
    }
    const batches: { words: Uint32Array; lines: Int32Array; add: boolean }[] = [];
    for (let start = 0; start < count; ) {
      const kind = kinds[start];
      let end = start + 1;
      while (end < count && end - start < batchSize && kinds[end] === kind) end++;
      batches.push({ words: words.subarray(start * SPEC_WORDS, end * SPEC_WORDS), lines: numbers.subarray(start, end), add: kind === 2 });
      start = end;
    }
    const site = callSite(this.restore);
    const result: RestoreResult = { created: 0, existed: 0, failed: [] };
    let inflight: Promise<void> | undefined;
    for (const { words: packed, lines, add: isAdd } of batches) {
      await inflight;
      inflight = this.sendCreates('restore()', site, { words: packed, helpers: undefined }, isAdd, result, (i, err) => {
        result.failed.push({ line: lines[i]!, command: isAdd ? 'add' : 'create', error: new NfctError(err, 'netlink', '', `restore line ${lines[i]}`) });
      });
    }
    await inflight;
    return result;
  }

  /** Closes the handle and every dump still running on it. Idempotent. */
  close(): void {
    const native = this.native;
    if (!native) return;
    this.native = undefined;
    for (const s of this.sources) s.close();
    this.sources.clear();
    native.close();
  }

  get closed(): boolean {
    return this.native === undefined;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }
}
