import { CPU_STAT_NAMES, CT_MSG } from './constants.js';
import { ClosedError, callSite, withCallSite } from './errors.js';
import { type FlowFilter, normalizeFilter } from './filter.js';
import { decodeFlows } from './flow.js';
import { addon, type NativeConntrack, type NativeFilter } from './native.js';
import { type NetnsOption, netnsPath } from './netns.js';
import { BatchSource, type ReaderStats } from './reader.js';
import { type TupleInput, normalizeTuple } from './tuple.js';
import type { Flow } from './types.js';
import { assertKnownKeys, assertObject, boolean, describe, optionalInteger } from './validate.js';

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

/**
 * A streamed dump: iterate it with `for await`. The dump starts when iteration starts;
 * memory stays bounded by a few batches however large the table, and leaving the loop
 * (break, return, throw) ends the dump and frees its socket.
 */
export class FlowStream implements AsyncIterable<Flow> {
  private source: BatchSource | undefined;

  constructor(
    private readonly owner: Conntrack,
    private readonly start: () => BatchSource,
  ) {}

  /** Counters of the dump: messages the kernel sent, flows matched, malformed messages. */
  get stats(): ReaderStats {
    return this.source?.stats ?? { received: 0, matched: 0, malformed: 0, overruns: 0 };
  }

  private open(): BatchSource {
    if (this.source) throw new Error('a FlowStream can be iterated once; call list() again');
    this.source = this.start();
    return this.source;
  }

  [Symbol.asyncIterator](): AsyncIterator<Flow> {
    const source = this.open();
    const owner = this.owner;
    let flows: Flow[] = [];
    let i = 0;
    const done: IteratorReturnResult<undefined> = { value: undefined, done: true };
    const end = (): void => {
      source.close();
      owner.forget(source);
    };
    const fill = async (): Promise<IteratorResult<Flow>> => {
      for (;;) {
        let batch;
        try {
          batch = await source.next();
        } catch (e) {
          end();
          throw e;
        }
        if (batch === null) {
          end();
          return done;
        }
        flows = decodeFlows(batch.buffer, batch.strings, batch.count);
        source.release();
        i = 0;
        if (flows.length > 0) return { value: flows[i++]!, done: false };
      }
    };
    return {
      next: () => (i < flows.length ? Promise.resolve({ value: flows[i++]!, done: false }) : fill()),
      return: () => {
        flows = [];
        end();
        return Promise.resolve(done);
      },
    };
  }

  /** The same dump a batch at a time (an array of up to batchSize flows per step). */
  async *batches(): AsyncGenerator<Flow[], void, undefined> {
    const source = this.open();
    try {
      for (;;) {
        const batch = await source.next();
        if (batch === null) return;
        const flows = decodeFlows(batch.buffer, batch.strings, batch.count);
        source.release();
        if (flows.length > 0) yield flows;
      }
    } finally {
      source.close();
      this.owner.forget(source);
    }
  }

  /** Collects the whole dump (memory grows with the table: prefer iterating). */
  async toArray(): Promise<Flow[]> {
    const out: Flow[] = [];
    for await (const batch of this.batches()) for (const f of batch) out.push(f);
    return out;
  }
}

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

  /** @internal */
  forget(source: BatchSource): void {
    this.sources.delete(source);
  }

  /** Streams the table's flows that match the filter. */
  list(query: ListOptions = {}): FlowStream {
    const native = this.handle('list()');
    const raw: unknown = query;
    assertObject(raw, 'list() options');
    const filter: NativeFilter = normalizeFilter(query, 'list() options', LIST_KEYS);
    const table = query.table ?? 'conntrack';
    if (table !== 'conntrack' && table !== 'dying' && table !== 'unconfirmed') {
      throw new TypeError(`list() options.table must be 'conntrack', 'dying' or 'unconfirmed', got ${describe(table)}`);
    }
    const zero = boolean(query.zeroCounters, 'list() options.zeroCounters') ?? false;
    if (zero && table !== 'conntrack') throw new TypeError(`list() options.zeroCounters applies to the 'conntrack' table only`);
    const kernel = boolean(query.kernelFilter, 'list() options.kernelFilter') ?? true;
    const maxBatch = optionalInteger(query.batchSize, 'list() options.batchSize', 1, 65536) ?? 2048;
    filter.kernel = kernel;
    const msg =
      table === 'dying' ? CT_MSG.GET_DYING : table === 'unconfirmed' ? CT_MSG.GET_UNCONFIRMED : zero ? CT_MSG.GET_CTRZERO : CT_MSG.GET;
    const site = callSite(this.list);
    return new FlowStream(this, () => {
      const live = this.handle('iterating list()');
      void native;
      const source = new BatchSource(
        (onBatch) => live.dump(filter, msg, onBatch, { maxBatch, credits: 3 }),
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
    const site = callSite(this.get);
    try {
      const [buffer, strings, count] = await native.get(t);
      return count > 0 ? decodeFlows(buffer, strings, count)[0]! : null;
    } catch (e) {
      throw withCallSite(e, site, 'conntrack get');
    }
  }

  /** How many entries the table holds (in this namespace). */
  async count(): Promise<number> {
    const native = this.handle('count()');
    const site = callSite(this.count);
    try {
      const [entries] = await native.count();
      return entries;
    } catch (e) {
      throw withCallSite(e, site, 'conntrack count');
    }
  }

  /** Per-CPU statistics (conntrack -S). */
  async stats(): Promise<CpuStats[]> {
    const native = this.handle('stats()');
    const site = callSite(this.stats);
    try {
      const rows = await native.stats();
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
    } catch (e) {
      throw withCallSite(e, site, 'conntrack statistics');
    }
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
