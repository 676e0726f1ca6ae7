// The bulk operations of a Conntrack handle that run over a dump as it goes: deleteWhere,
// deleteEach, updateWhere (creates of many entries are in create-many.ts). Each takes what it
// needs of the handle as a BulkHandle; the handle's methods of the same names call them.
import { Buffer } from 'node:buffer';
import { constants } from 'node:os';

import { deprecated } from '../core/deprecate.js';
import { type CallSite, NfctError, settle, withCallSite } from '../core/errors.js';
import { addon, type NativeConntrack, type NativeFilter } from '../core/native.js';
import { BatchSource, type RawBatch } from '../core/reader.js';
import type { RecordStream } from '../core/stream.js';
import { assertKnownKeys, assertObject, boolean, describeValue, optionalInteger } from '../core/validate.js';
import { TCP_STATES } from './constants.js';
import { type FlowFilter, normalizeFilter } from './filter.js';
import { decodeFlows } from './flow.js';
import { changesFor, type FlowChanges, type NativeFlowSpec, normalizeChanges, packFlowSpecs } from './flowspec.js';
import { LINE_FORMAT_KEYS, type LineFormat, lineFormat } from './line-format.js';
import { Status } from './status.js';
import { formatFlow } from './text.js';
import { flowTuple } from './tuple.js';
import type { Flow } from './types.js';

const { EIO } = constants.errno;

/** @internal What the bulk operations use of a Conntrack handle. */
export interface BulkHandle {
  /** The open native handle; a ClosedError naming `call` once the handle is closed. */
  native(call: string): NativeConntrack;
  /** A running reader, closed with the handle. */
  track(source: BatchSource): void;
  forget(source: BatchSource): void;
  /** Streams the flows that match (Conntrack.list()). */
  list(query: FlowFilter & { kernelFilter?: boolean; batchSize?: number }): RecordStream<Flow>;
}

/** Whether the kernel's flush can apply the whole filter (family, mark and status only). */
function kernelFlushable(f: NativeFilter): boolean {
  const allowed = new Set(['family', 'mark', 'markMask', 'status', 'statusMask', 'kernel']);
  return f.kernel !== false && Object.keys(f).every((k) => allowed.has(k));
}

/** Options of deleteWhere(): which entries (list()'s filter fields), and whether only to count them. */
export interface DeleteWhereOptions extends FlowFilter {
  /** Only count the entries that would be deleted. */
  dryRun?: boolean;
  /** Send the parts of the filter the kernel can apply (default true), as list(). */
  kernelFilter?: boolean;
}

/** What updateWhere() changes on each entry: the changes, or a function of the entry giving them (null: leave it). */
export type FlowUpdate = FlowChanges | ((flow: Flow) => FlowChanges | null);

/** Options of updateWhere(): which entries (list()'s filter fields), BulkOptions, and the report. */
export interface UpdateWhereOptions extends FlowFilter, BulkOptions {
  /** Each batch of changed entries, as they are after the change (awaited before the next batch). */
  onUpdated?: (flows: Flow[]) => void | Promise<void>;
  /** Send the parts of the filter the kernel can apply (default true), as list(). */
  kernelFilter?: boolean;
}

/** Options of deleteEach(): which entries (list()'s filter fields), BulkOptions, and how the deleted entries are reported. */
export interface DeleteEachOptions extends FlowFilter, BulkOptions {
  /** Send the parts of the filter the kernel can apply (default true), as list(). */
  kernelFilter?: boolean;
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

/** Options deleteEach() and updateWhere() share, beside the filter. */
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

/**
 * @internal
 * The one options object of a bulk operation, from either form it was called with: the
 * current one (`options` undefined) as it is; the deprecated two-object form (filter,
 * options) checked as objects and merged, with a warning once per process.
 */
export function legacyBulk<T extends object>(code: string, call: string, filter: T, options: T | undefined,
  instead: string): T
{
  if (options === undefined) return filter;
  deprecated(code, `${call} with the filter and the options as separate arguments is deprecated: ${instead}`);
  assertObject(filter, `${call} filter`);
  assertObject(options, `${call} options`);
  return { ...filter, ...options };
}

/** Splits one options object into the filter (with kernelFilter) and the operation's own options. */
function splitOptions(options: FlowFilter & { kernelFilter?: boolean }, where: string,
  own: readonly string[]): { filter: FlowFilter & { kernelFilter?: boolean }; rest: Record<string, unknown> }
{
  assertObject(options, where);
  const filter: Record<string, unknown> = {};
  const rest: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(options)) (own.includes(k) ? rest : filter)[k] = v;
  return { filter, rest };
}

function bulkOptions(
  options: BulkOptions & Record<string, unknown>,
  where: string,
  callbackKey: string,
  extraKeys: readonly string[] = [],
  defaultBatch = 2048,
): { match?: (f: Flow) => boolean; batchSize: number; signal?: AbortSignal;
  callback?: (flows: Flow[]) => void | Promise<void> }
{
  const raw: unknown = options;
  assertObject(raw, where);
  assertKnownKeys(raw, ['match', 'batchSize', 'signal', callbackKey, ...extraKeys], where);
  if (options.match !== undefined && typeof options.match !== 'function') {
    throw new TypeError(`${where}.match must be a function, got ${describeValue(options.match)}`);
  }
  const cb = options[callbackKey];
  if (cb !== undefined && typeof cb !== 'function') {
    throw new TypeError(`${where}.${callbackKey} must be a function, got ${describeValue(cb)}`);
  }
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
    throw new TypeError(`${where}.signal must be an AbortSignal, got ${describeValue(options.signal)}`);
  }
  const batchSize = optionalInteger(options.batchSize, `${where}.batchSize`, 1, 65536) ?? defaultBatch;
  return { match: options.match, batchSize, signal: options.signal,
    callback: cb as ((flows: Flow[]) => void | Promise<void>) | undefined };
}

/** The flow as an update leaves it (what the kernel would report for it next); changed in place. */
function changedFlow(f: Flow, spec: NativeFlowSpec, c: FlowChanges): Flow {
  if (spec.timeout !== undefined) f.timeout = spec.timeout;
  if (spec.mark !== undefined) {
    f.mark = spec.markMask === undefined ? spec.mark : (((f.mark ?? 0) & ~spec.markMask) ^ spec.mark) >>> 0;
  }
  if (spec.status !== undefined) f.status = new Status(spec.status);
  if (spec.tcpState !== undefined && f.protocol === 'tcp' && f.tcp) {
    f.tcp = { ...f.tcp, state: TCP_STATES[spec.tcpState]!, stateNum: spec.tcpState };
  }
  if (c.labels) {
    const bits = new Set(f.labels ?? []);
    for (const b of [c.labels.add ?? []].flat()) bits.add(b);
    for (const b of [c.labels.remove ?? []].flat()) bits.delete(b);
    const labels = [...bits].sort((a, b) => a - b);
    f.labels = labels.length > 0 ? labels : undefined;
  }
  return f;
}

/** @internal Conntrack.deleteWhere(): the kernel's flush where it can apply the whole filter, else a dump that deletes as it goes. */
export async function deleteWhere(h: BulkHandle, site: CallSite, options: DeleteWhereOptions): Promise<number> {
  const native = h.native('deleteWhere()');
  const where = 'deleteWhere() options';
  assertObject(options, where);
  const nf = normalizeFilter(options, where, ['kernelFilter', 'dryRun']);
  nf.kernel = boolean(options.kernelFilter, `${where}.kernelFilter`) ?? true;
  const dryRun = boolean(options.dryRun, `${where}.dryRun`) ?? false;
  if (!dryRun && kernelFlushable(nf)) {
    const before = await settle(site, 'conntrack bulk delete', native.count());
    await settle(site, 'conntrack bulk delete', native.flush(nf));
    const after = await settle(site, 'conntrack bulk delete', native.count());
    return Math.max(0, before[0] - after[0]);
  }
  const source = new BatchSource((onBatch) => native.deleteWhere(nf, dryRun, onBatch), site, 'conntrack bulk delete');
  await drain(h, source);
  const [matched = 0, deleted = 0, , failed = 0] = source.tally ?? [];
  if (failed > 0) {
    throw withCallSite(new NfctError(EIO, 'netlink', `${failed} of ${matched} deletes failed`), site,
      'conntrack bulk delete');
  }
  return dryRun ? matched : deleted;
}

/** @internal Runs a job whose result comes on its final batch to the end; resolves that batch. */
export async function drain(h: BulkHandle, source: BatchSource): Promise<RawBatch | null> {
  h.track(source);
  let last: RawBatch | null = null;
  try {
    for (let b = await source.next(); b !== null; b = await source.next()) {
      last = b;
      source.release(b);
    }
  } finally {
    source.close();
    h.forget(source);
  }
  return last;
}

/** @internal Conntrack.deleteEach(): deletes over a dump and reports each batch deleted. */
export async function deleteEach(h: BulkHandle, site: CallSite, all: DeleteEachOptions): Promise<number> {
  const native = h.native('deleteEach()');
  const where = 'deleteEach() options';
  const { filter, rest } = splitOptions(all, where, ['match', 'batchSize', 'signal', 'onDeleted', 'onDeletedText',
    'lineFormat']);
  const options = rest as DeleteEachOptions;
  const o = bulkOptions(rest, where, 'onDeleted', ['onDeletedText', 'lineFormat']);
  const onText = options.onDeletedText;
  if (onText !== undefined && typeof onText !== 'function') {
    throw new TypeError(`${where}.onDeletedText must be a function, got ${describeValue(onText)}`);
  }
  if (onText && o.callback) throw new TypeError(`${where}: onDeleted and onDeletedText cannot both be given`);
  // null is refused, not taken for the default: only a missing lineFormat is.
  const given: unknown = options.lineFormat;
  const rawFormat = given === undefined ? {} : given;
  assertObject(rawFormat, `${where}.lineFormat`);
  assertKnownKeys(rawFormat, LINE_FORMAT_KEYS, `${where}.lineFormat`);
  const format = lineFormat(rawFormat, `${where}.lineFormat`);
  if (onText && o.match) {
    // The entries are Flow objects here (match needs them): formatted in JS, the same text.
    o.callback = (flows) =>
      onText(Buffer.from(flows.map((f) => `${formatFlow(f, format)}\n`).join(''), 'latin1'), flows.length);
  }
  if (!o.match) {
    // The whole filter is native: the reader deletes as it dumps and hands over what it
    // deleted, with no round trip through JS per batch.
    const nf = normalizeFilter(filter, where, ['kernelFilter']);
    nf.kernel = boolean(filter.kernelFilter, `${where}.kernelFilter`) ?? true;
    if (o.signal?.aborted) return 0;
    // Without onDeleted, what was deleted is only counted: no Flow is made.
    const source = new BatchSource((onBatch) => native.deleteWhere(nf, false, onBatch, true), site,
      'conntrack bulk delete');
    h.track(source);
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
      h.forget(source);
    }
    const [matched = 0, deleted = 0, , failed = 0] = source.tally ?? [];
    if (failed > 0) {
      throw withCallSite(new NfctError(EIO, 'netlink', `${failed} of ${matched} deletes failed`), site,
        'conntrack bulk delete');
    }
    return deleted;
  }
  if (o.signal?.aborted) return 0;
  const stream = h.list({ ...filter, batchSize: o.batchSize });
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
    const ids = new Float64Array(flows.map((f) => f.id ?? -1));
    const { words } = packFlowSpecs(specs);
    const errs = await settle(site, 'conntrack bulk delete', native.deleteBatch(words, undefined, 0, ids));
    const done: Flow[] = [];
    for (let i = 0; i < errs.length; i++) {
      if (errs[i] === 0) done.push(flows[i]!);
      else if (errs[i] !== 2) {
        throw withCallSite(new NfctError(errs[i]!, 'netlink', '', 'conntrack bulk delete'), site,
          'conntrack bulk delete');
      }
    }
    deleted += done.length;
    if (done.length > 0 && o.callback) await o.callback(done);
  }
  return deleted;
}

/** @internal Conntrack.updateWhere(): one run of updates per batch of the dump, one run in flight. */
export async function updateWhere(h: BulkHandle, site: CallSite, all: UpdateWhereOptions,
  changes: FlowUpdate): Promise<number>
{
  const native = h.native('updateWhere()');
  const where = 'updateWhere() options';
  const { filter, rest } = splitOptions(all, where, ['match', 'batchSize', 'signal', 'onUpdated']);
  const o = bulkOptions(rest, where, 'onUpdated', [], 512);
  normalizeFilter(filter, where, ['kernelFilter']);
  if (typeof changes !== 'function') {
    normalizeChanges({ protocol: 'tcp', src: '0.0.0.0', dst: '0.0.0.0', srcPort: 0, dstPort: 0 }, changes,
      'updateWhere()');
  }
  if (o.signal?.aborted) return 0;
  const stream = h.list({ ...filter, batchSize: o.batchSize });
  let updated = 0;
  // One batch of updates is with the kernel while the next batch of the dump is matched and
  // packed; its result is taken (and handed to onUpdated) before the next one is sent.
  interface Sent {
    errs: Promise<Int32Array>;
    flows: Flow[];
    specs: NativeFlowSpec[];
    applied: FlowChanges[];
  }
  let sent: Sent | undefined;
  const finish = async ({ errs: pending, flows, specs, applied }: Sent): Promise<void> => {
    const errs = await pending;
    const done: Flow[] = [];
    for (let i = 0; i < errs.length; i++) {
      if (errs[i] === 0) done.push(changedFlow(flows[i]!, specs[i]!, applied[i]!));
      else if (errs[i] !== 2) {
        throw withCallSite(new NfctError(errs[i]!, 'netlink', '', 'conntrack bulk update'), site,
          'conntrack bulk update');
      }
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
      const errs = settle(site, 'conntrack bulk update', native.createBatch(words, helpers, 2));
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
