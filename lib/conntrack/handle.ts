// A handle on one namespace's conntrack table: dumps, single-entry requests, events, and the
// bulk operations of bulk.ts.
import { constants } from 'node:os';

import { type CallSite, callSite, ClosedError, NfctError, settle, withCallSite } from '../core/errors.js';
import { addon, type NativeConntrack, type NativeFilter } from '../core/native.js';
import { type NetnsOption, openInNamespace } from '../core/netns.js';
import { BatchSource } from '../core/reader.js';
import { Dump, type DumpStart, RecordStream } from '../core/stream.js';
import { assertKnownKeys, assertObject, boolean, describeValue, integer, optionalInteger } from '../core/validate.js';
import { FlowRecordStream, type FlowsOptions } from '../flows/stream.js';
import { type AggregateOptions, type AggregateResult, decodeGroups, type LegacyAggregateOptions, normalizeAggregate,
  sortNumber } from './aggregate.js';
import { type BulkHandle, deleteEach, type DeleteEachOptions, deleteWhere, type DeleteWhereOptions, drain,
  type FlowUpdate, legacyBulk, updateWhere, type UpdateWhereOptions } from './bulk.js';
import { CT_MSG } from './constants.js';
import { createMany, type CreateManyOptions, type CreateManyResult, MODE, restore, type RestoreOptions,
  type RestoreResult } from './create-many.js';
import { type CountEventOptions, EventCounter, type EventOptions, EventStream } from './events.js';
import { Expectations } from './expect.js';
import { type FlowFilter, normalizeFilter } from './filter.js';
import { decodeCpuStats, decodeFlows, flowReader } from './flow.js';
import { type FlowChanges, type FlowInput, type NativeFlowSpec, normalizeChanges, normalizeFlowInput,
  packFlowSpecs } from './flowspec.js';
import { LINE_FORMAT_KEYS, type LineFormat, lineFormat, textChunk } from './line-format.js';
import { normalizeTuple, type TupleInput } from './tuple.js';
import type { CpuStats, Family, Flow } from './types.js';
import { TableWatch, type WatchOptions } from './watch.js';

const { ENOENT } = constants.errno;

/** Options of Conntrack.open(): which network namespace's table the handle works on. */
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
  /**
   * Most flows per batch crossing from native code, and per array of batches() (default 2048;
   * 256 for a `for await` loop over the flows, where batches are not seen).
   */
  batchSize?: number;
}

/**
 * Records a native batch holds when a loop takes a dump's items one at a time and no batchSize
 * was given. The batch's strings are alive while its items are made, and what survives V8's
 * young-generation collections makes it grow: small batches keep a large dump's memory near
 * the idle process's (2048 records: ~25 MiB more at 1M entries), for a few more crossings.
 */
const ITEMWISE_BATCH = 256;

const LIST_KEYS = ['table', 'zeroCounters', 'kernelFilter', 'batchSize'] as const;

/** Options of listText(): list()'s, and the -o flags of the lines. */
export interface ListTextOptions extends ListOptions, LineFormat {}

/**
 * An entry named by its id alone, for delete(): the table is dumped to find the entry with this
 * id. Ids are 32-bit hashes and two entries can share one (see Flow.id); the first found goes.
 */
export interface DeleteById {
  /** The entry's id, as a Flow read from the table gives it (Flow.id). */
  id: number;
}

/** Options of flush(). */
export interface FlushOptions {
  /** Only the entries of this family (default: every entry). */
  family?: Family;
}

/** A streamed dump of flows (see RecordStream). */
export class FlowStream extends RecordStream<Flow> {
  private constructor(owner: Conntrack, start: DumpStart) {
    super(owner, decodeFlows, start, flowReader);
  }

  /** @internal */
  static of(owner: Conntrack, start: DumpStart): FlowStream {
    return new FlowStream(owner, start);
  }
}

/** A handle on one namespace's conntrack table. */
export class Conntrack {
  #native: NativeConntrack | undefined;
  readonly #sources = new Set<BatchSource>();

  private constructor(
    native: NativeConntrack,
    /** The namespace file this handle works in, or null for the caller's own. */
    readonly netnsPath: string | null,
  ) {
    this.#native = native;
  }

  /** Opens a handle; with `netns`, every socket it uses is opened inside that namespace. */
  static async open(options: OpenOptions = {}): Promise<Conntrack> {
    const { native, path } = await openInNamespace(options, 'Conntrack.open', 'conntrack', callSite(Conntrack.open),
      (p) => addon.openConntrack(p));
    return new Conntrack(native, path);
  }

  #handle(what: string): NativeConntrack {
    if (!this.#native) throw new ClosedError(`Conntrack handle (${what} after close())`);
    return this.#native;
  }

  /** The expectation table of this namespace. */
  readonly expectations: Expectations = Expectations.of((call) => this.#handle(call), this);

  #createOne(native: NativeConntrack, spec: NativeFlowSpec, mode: number): Promise<boolean> {
    const { words, helpers } = packFlowSpecs([spec]);
    return native.create(words, helpers, mode);
  }

  /** @internal For tests: puts another native handle in place (a recorder); returns the one it had. */
  replaceNative(native: NativeConntrack): NativeConntrack | undefined {
    const had = this.#native;
    this.#native = native;
    return had;
  }

  /** @internal */
  track(source: BatchSource): void {
    this.#sources.add(source);
  }

  /** @internal */
  forget(source: BatchSource): void {
    this.#sources.delete(source);
  }

  /** Streams the table's flows that match the filter. */
  list(query: ListOptions = {}): FlowStream {
    return this.#dump(query, 'list()', LIST_KEYS, (start) => FlowStream.of(this, start), callSite(this.list));
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
    return this.#dump(query, 'listText()', [...LIST_KEYS, ...LINE_FORMAT_KEYS],
      (start) => new Dump(this, textChunk(lineFormat(query, 'listText() options')), start), callSite(this.listText));
  }

  /** list() and listText(): checks the options, and makes the stream that dumps on iteration. */
  #dump<S>(query: ListOptions, call: string, keys: readonly string[], make: (start: DumpStart) => S,
    site: CallSite): S
  {
    this.#handle(call);
    const where = `${call} options`;
    const raw: unknown = query;
    assertObject(raw, where);
    const filter: NativeFilter = normalizeFilter(query, where, keys);
    const given: unknown = query.table; // null is refused below, not taken for the default
    const table = given === undefined ? 'conntrack' : given;
    if (table !== 'conntrack' && table !== 'dying' && table !== 'unconfirmed') {
      throw new TypeError(`${where}.table must be 'conntrack', 'dying' or 'unconfirmed', got ${describeValue(table)}`);
    }
    const zero = boolean(query.zeroCounters, `${where}.zeroCounters`) ?? false;
    if (zero && table !== 'conntrack') {
      throw new TypeError(`${where}.zeroCounters applies to the 'conntrack' table only`);
    }
    const kernel = boolean(query.kernelFilter, `${where}.kernelFilter`) ?? true;
    const batchSize = optionalInteger(query.batchSize, `${where}.batchSize`, 1, 65536);
    filter.kernel = kernel;
    const msg = table === 'dying'
      ? CT_MSG.GET_DYING
      : table === 'unconfirmed'
      ? CT_MSG.GET_UNCONFIRMED
      : zero
      ? CT_MSG.GET_CTRZERO
      : CT_MSG.GET;
    return make((itemwise) => {
      const live = this.#handle(`iterating ${call}`);
      const maxBatch = batchSize ?? (itemwise ? ITEMWISE_BATCH : 2048);
      const source = new BatchSource(
        (onBatch) => live.dump(filter, msg, onBatch, { maxBatch, maxQueueRecords: 3 * maxBatch }),
        site,
        'conntrack dump',
      );
      this.#sources.add(source);
      return source;
    });
  }

  /** The entry with this original tuple (or a Flow's), or null when there is none. */
  async get(tuple: TupleInput | Flow): Promise<Flow | null> {
    const native = this.#handle('get()');
    const t = normalizeTuple(tuple, 'get() tuple');
    const [buffer, strings, count] = await settle(callSite(this.get), 'conntrack get', native.get(t));
    return count > 0 ? decodeFlows(buffer, strings, count)[0]! : null;
  }

  /** How many entries the table holds (in this namespace). */
  async count(): Promise<number> {
    const native = this.#handle('count()');
    const [entries] = await settle(callSite(this.count), 'conntrack count', native.count());
    return entries;
  }

  /**
   * The entry count and the table's limit in one request: `max` is `nf_conntrack_max` as the
   * kernel applies it to this namespace (null on kernels that do not report it).
   */
  async usage(): Promise<{
    /** How many entries the table holds now (conntrack -C). */
    count: number;
    /** How many it may hold before new connections are dropped; null where the kernel does not say. */
    max: number | null;
  }> {
    const native = this.#handle('usage()');
    const [count, max] = await settle(callSite(this.usage), 'conntrack count', native.count());
    return { count, max: max < 0 ? null : max };
  }

  /** Per-CPU statistics (conntrack -S). */
  async stats(): Promise<CpuStats[]> {
    const native = this.#handle('stats()');
    const rows = await settle(callSite(this.stats), 'conntrack statistics', native.stats());
    return rows.map(([cpu, values]) => decodeCpuStats(cpu, values));
  }

  /**
   * Conntrack events as they happen: 'new', 'update', 'destroy' (and, when asked for in
   * `types`, 'expect-new' / 'expect-destroy'), filtered as list() filters (in the kernel by a
   * socket BPF program where it can). Overruns are items of the stream, never its end.
   */
  events(options: EventOptions = {}): EventStream {
    return EventStream.start(this.#handle('events()'), this, options, callSite(this.events));
  }

  /**
   * Conntrack events counted by type instead of yielded (an exporter's rates): the same
   * options and filter as events() but `resync`; no object is made per event, so memory stays
   * the same at any event rate. Overruns are counted in `stats.overruns`.
   */
  countEvents(options: CountEventOptions = {}): EventCounter {
    return EventCounter.start(this.#handle('countEvents()'), this, options, callSite(this.countEvents));
  }

  /** Flow records: one per finished connection, from DESTROY events (see lib/flows/stream.ts). */
  flows(options: FlowsOptions = {}): FlowRecordStream {
    return FlowRecordStream.start(this.#handle('flows()'), this, options, callSite(this.flows));
  }

  /**
   * The table, live: a snapshot, then every change, kept in `flows` (a Map by flowKey()). It
   * subscribes to events before it reads the table, so nothing is missed in between; after
   * the kernel dropped events it reads the table again and yields that snapshot (`reason:
   * 'overrun'`); every `refresh` seconds it checks the entries of its first snapshot it has
   * heard nothing of (an entry made while no socket listened to conntrack events sends none,
   * not even when it goes). Takes list()'s filter and the live stream options.
   *
   * ```ts
   * const table = ct.watch({ protocol: 'tcp' });
   * await table.ready; // table.flows holds the table
   * for await (const change of table) if (change.type === 'new') console.log(change.key);
   * ```
   */
  watch(options: WatchOptions = {}): TableWatch {
    return TableWatch.start(this.#handle('watch()'), this, options, callSite(this.watch));
  }

  /** Creates an entry; fails with NfctError EEXIST when it exists (conntrack -I). */
  async create(flow: FlowInput | Flow): Promise<void> {
    const native = this.#handle('create()');
    const spec = normalizeFlowInput(flow, 'create() flow');
    await settle(callSite(this.create), 'conntrack create', this.#createOne(native, spec, MODE.CREATE));
  }

  /** Creates an entry unless it exists (conntrack -A); resolves whether it created one. */
  async add(flow: FlowInput | Flow): Promise<boolean> {
    const native = this.#handle('add()');
    const spec = normalizeFlowInput(flow, 'add() flow');
    return settle(callSite(this.add), 'conntrack add', this.#createOne(native, spec, MODE.ADD));
  }

  /**
   * Changes an existing entry (conntrack -U): mark (with mask), timeout, status bits, labels,
   * TCP state. Fails with NfctError ENOENT when there is no such entry.
   */
  async update(target: TupleInput | Flow, changes: FlowChanges): Promise<void> {
    const native = this.#handle('update()');
    const spec = normalizeChanges(target, changes, 'update()');
    const site = callSite(this.update);
    if (spec.status !== undefined) {
      // The kernel takes the whole status word and refuses to flip its fixed bits (EBUSY):
      // the requested bits are added to the entry's current ones.
      const [buffer, strings, count] = await settle(site, 'conntrack update', native.get(spec.orig));
      if (count === 0) throw withCallSite(new NfctError(ENOENT, 'netlink', 'no such entry'), site, 'conntrack update');
      spec.status = (spec.status | decodeFlows(buffer, strings, count)[0]!.status.bits) >>> 0;
    }
    await settle(site, 'conntrack update', this.#createOne(native, spec, MODE.UPDATE));
  }

  /**
   * Deletes one entry, given by its original tuple, a Flow (its id must still match), or
   * `{ id }` (found by a dump first). Fails with NfctError ENOENT when there is none.
   */
  async delete(target: TupleInput | Flow | DeleteById): Promise<void> {
    const native = this.#handle('delete()');
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
      if (!found) {
        throw withCallSite(new NfctError(ENOENT, 'netlink', `no entry with id ${id}`), site, 'conntrack delete');
      }
      return settle(site, 'conntrack delete', native.delete(normalizeTuple(found, 'delete() target'), id));
    }
    const tuple = normalizeTuple(target as TupleInput | Flow, 'delete() target');
    const id = 'status' in target && typeof (target as Flow).id === 'number' ? (target as Flow).id! : -1;
    return settle(site, 'conntrack delete', native.delete(tuple, id));
  }

  /** What the bulk operations (bulk.ts) use of this handle. */
  readonly #bulk: BulkHandle = {
    native: (call) => this.#handle(call),
    track: (source) => this.track(source),
    forget: (source) => this.forget(source),
    list: (query) => this.list(query),
  };

  /**
   * Deletes every entry matching the filter (list()'s filter fields, in `options`) and
   * resolves how many it deleted; with `dryRun`, how many it would delete. Any filter but one
   * of family, mark and status only is a dump whose matches are deleted in batches as it goes;
   * entries that vanish in between are not counted, and are not errors. A filter of family,
   * mark and status only is handed to the kernel's own flush, which deletes without a dump and
   * says nothing of how many: the count is then how much the table shrank meanwhile, exact
   * unless something else changes the namespace's table at the same moment.
   *
   * ```ts
   * const n = await ct.deleteWhere({ protocol: 'udp', dstPort: 53, dryRun: true });
   * ```
   */
  deleteWhere(options: DeleteWhereOptions): Promise<number>;
  /** @deprecated since 0.2.0: one object, `deleteWhere({ ...filter, dryRun })` (NFCT_DEP001). */
  deleteWhere(filter: DeleteWhereOptions, options: DeleteWhereOptions): Promise<number>;
  async deleteWhere(options: DeleteWhereOptions, old?: DeleteWhereOptions): Promise<number> {
    const merged = legacyBulk('NFCT_DEP001', 'deleteWhere()', options, old, 'deleteWhere({ ...filter, dryRun })');
    return deleteWhere(this.#bulk, callSite(this.deleteWhere), merged);
  }

  /**
   * Groups the entries (those matching the filter fields in `options`, or all) by one or more
   * keys and resolves the top groups with their entry counts, and packet and byte sums where
   * accounting is on. The grouping runs in native code over the dump as it arrives: no Flow is
   * built, and memory grows with the number of groups, not of entries. The keys are named as
   * the filter's fields: `srcPort`, `dstPort`, `replySrc`.
   *
   * ```ts
   * const { groups } = await ct.aggregate({ by: ['src'], top: 5 });
   * const stale = await ct.aggregate({ by: 'dnat', protocol: 'udp', status: 'DST_NAT' });
   * ```
   */
  aggregate(options: AggregateOptions): Promise<AggregateResult>;
  /** @deprecated since 0.2.0: the filter's fields beside `by`, `aggregate({ by, ...filter })`; keys 'srcPort'/'dstPort' (NFCT_DEP004, NFCT_DEP005). */
  aggregate(options: LegacyAggregateOptions): Promise<AggregateResult>;
  async aggregate(options: AggregateOptions | LegacyAggregateOptions): Promise<AggregateResult> {
    const native = this.#handle('aggregate()');
    const n = normalizeAggregate(options, 'aggregate()');
    const nf = normalizeFilter(n.filter, 'aggregate() options', ['kernelFilter']);
    nf.kernel = boolean(n.filter.kernelFilter, 'aggregate() options.kernelFilter') ?? true;
    const site = callSite(this.aggregate);
    const sort = sortNumber(n.sort);
    const source = new BatchSource((onBatch) => native.aggregate(nf, n.keys, sort, n.top, onBatch), site,
      'conntrack aggregate');
    const last = await drain(this.#bulk, source);
    const [, groups = 0] = source.tally ?? [];
    return last
      ? decodeGroups(n, last.buffer, last.strings, last.count, groups)
      : decodeGroups(n, new ArrayBuffer(0), '', 0, 0);
  }

  /**
   * Deletes the entries that match the filter fields of `options` (and `match`, when given)
   * and reports each batch of deleted entries, as they were just before, to `onDeleted`
   * (awaited before the next batch: a slow consumer slows the dump, memory stays flat). Runs
   * on a dump: each batch of matches becomes one run of delete requests (many to a system
   * call) while the dump goes on. Entries that vanish in between are neither reported nor
   * errors; each delete names the entry's id, so an entry replaced meanwhile is left alone.
   * Resolves how many it deleted.
   */
  deleteEach(options: DeleteEachOptions): Promise<number>;
  /** @deprecated since 0.2.0: one object, `deleteEach({ ...filter, ...options })` (NFCT_DEP002). */
  deleteEach(filter: DeleteEachOptions, options: DeleteEachOptions): Promise<number>;
  async deleteEach(options: DeleteEachOptions, old?: DeleteEachOptions): Promise<number> {
    const merged = legacyBulk('NFCT_DEP002', 'deleteEach()', options, old, 'deleteEach({ ...filter, ...options })');
    return deleteEach(this.#bulk, callSite(this.deleteEach), merged);
  }

  /**
   * Changes the entries that match the filter fields of `options` (and `match`). `changes` is
   * what to change on each, or a function of the entry giving its changes (null: leave this
   * one). Each batch of matches becomes one run of update requests while the dump goes on;
   * status bits are added to each entry's own. `onUpdated` gets each batch of changed entries
   * as they are after the change (mark, status, labels, timeout). Entries that vanish in
   * between are skipped. Resolves how many it changed.
   *
   * ```ts
   * await ct.updateWhere({ protocol: 'tcp', dstPort: 80 }, { mark: 1 });
   * ```
   */
  updateWhere(options: UpdateWhereOptions, changes: FlowUpdate): Promise<number>;
  /** @deprecated since 0.2.0: `updateWhere({ ...filter, ...options }, changes)` (NFCT_DEP003). */
  updateWhere(filter: UpdateWhereOptions, changes: FlowUpdate, options: UpdateWhereOptions): Promise<number>;
  async updateWhere(options: UpdateWhereOptions, changes: FlowUpdate, old?: UpdateWhereOptions): Promise<number> {
    const merged = legacyBulk('NFCT_DEP003', 'updateWhere()', options, old,
      'updateWhere({ ...filter, ...options }, changes)');
    return updateWhere(this.#bulk, callSite(this.updateWhere), merged, changes);
  }

  /** Deletes every entry, or those of one family (conntrack -F). */
  async flush(options: FlushOptions = {}): Promise<void> {
    const native = this.#handle('flush()');
    const raw: unknown = options;
    assertObject(raw, 'flush() options');
    assertKnownKeys(raw, ['family'], 'flush() options');
    const nf = normalizeFilter(options.family === undefined ? {} : { family: options.family }, 'flush() options');
    await settle(callSite(this.flush), 'conntrack flush', native.flush(nf));
  }

  /**
   * Creates many entries, many requests to a system call. Failures are reported per entry and
   * do not stop the rest. Accepts any iterable or async iterable.
   */
  async createMany(flows: Iterable<FlowInput | Flow> | AsyncIterable<FlowInput | Flow>,
    options: CreateManyOptions = {}): Promise<CreateManyResult>
  {
    return createMany(this.#bulk, callSite(this.createMany), flows, options);
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
    return restore(this.#bulk, callSite(this.restore), text, options);
  }

  /**
   * Closes the handle and every dump and stream still running on it; resolves once their
   * sockets are closed. Idempotent.
   */
  async close(): Promise<void> {
    const native = this.#native;
    if (!native) return;
    this.#native = undefined;
    for (const s of this.#sources) s.close();
    this.#sources.clear();
    native.close();
  }

  /** True once close() has run: every call but close() then throws a ClosedError. */
  get closed(): boolean {
    return this.#native === undefined;
  }

  /** Closes the handle when the `await using` block that declared it ends, as close() does. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
