// Creating many entries, many requests to a system call with one batch in flight: from flows
// (Conntrack.createMany) or from the lines of a save file (Conntrack.restore).
import { Buffer, isAscii } from 'node:buffer';
import { constants } from 'node:os';

import { type CallSite, NfctError, settle } from '../core/errors.js';
import { assertKnownKeys, assertObject, describeValue, optionalInteger } from '../core/validate.js';
import type { BulkHandle } from './bulk.js';
import { type FlowInput, type NativeFlowSpec, normalizeFlowInput, packFlowSpecs, SPEC_WORDS } from './flowspec.js';
import { readSave, unreadableLine } from './save.js';
import type { Flow } from './types.js';

const { EEXIST } = constants.errno;

/** What native create() and createBatch() do with an entry (see NativeConntrack.create). */
export const MODE = { CREATE: 0, ADD: 1, UPDATE: 2 } as const;

/** Result of createMany(). */
export interface CreateManyResult {
  /** Entries created. */
  created: number;
  /** With `ifExists: 'skip'`: entries that were already there (left as they are). */
  existed: number;
  /** Entries the kernel refused, with their position in the input and the error. */
  failed: {
    /** The entry's position in the input, from 0. */
    index: number;
    /** The entry, as given. */
    flow: FlowInput | Flow;
    /** Why the kernel refused it. */
    error: NfctError;
  }[];
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
  failed: {
    /** The line number, from 1. */
    line: number;
    /** Its command: 'create' (`-I`) or 'add' (`-A`). */
    command: 'create' | 'add';
    /** Why the kernel refused the entry. */
    error: NfctError;
  }[];
}

/** Options of restore(). */
export interface RestoreOptions {
  /** Entries per run of requests (default 2000). */
  batchSize?: number;
}

/** Options of createMany(). */
export interface CreateManyOptions {
  /** Entries per batch crossing into native code (default 1000). */
  batchSize?: number;
  /** 'fail' (default): an existing entry is a failure (EEXIST); 'skip': it is left as is. */
  ifExists?: 'fail' | 'skip';
}

/** @internal Conntrack.createMany(): creates in batches, one in flight; failures per entry. */
export async function createMany(h: BulkHandle, site: CallSite,
  flows: Iterable<FlowInput | Flow> | AsyncIterable<FlowInput | Flow>,
  options: CreateManyOptions = {}): Promise<CreateManyResult>
{
  h.native('createMany()');
  const raw: unknown = options;
  assertObject(raw, 'createMany() options');
  assertKnownKeys(raw, ['batchSize', 'ifExists'], 'createMany() options');
  const batchSize = optionalInteger(options.batchSize, 'createMany() options.batchSize', 1, 100000) ?? 1000;
  const given: unknown = options.ifExists; // null is refused below, not taken for the default
  const ifExists = given === undefined ? 'fail' : given;
  if (ifExists !== 'fail' && ifExists !== 'skip') {
    throw new TypeError(`createMany() options.ifExists must be 'fail' or 'skip', got ${describeValue(ifExists)}`);
  }
  if (flows === null || typeof flows !== 'object' ||
    (!(Symbol.iterator in flows) && !(Symbol.asyncIterator in flows)))
  {
    throw new TypeError(`createMany() flows must be an iterable of flows, got ${describeValue(flows)}`);
  }
  const result: CreateManyResult = { created: 0, existed: 0, failed: [] };
  let inflight: Promise<void> | undefined;
  const send = (packed: ReturnType<typeof packFlowSpecs>, inputs: (FlowInput | Flow)[], first: number): Promise<void> =>
    sendCreates(h, 'createMany()', site, packed, ifExists === 'skip', result, (i, err) => {
      result.failed.push({ index: first + i, flow: inputs[i]!,
        error: new NfctError(err, 'netlink', '', `createMany entry ${first + i}`) });
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
      const stopped: CreateManyStop = { index, created: result.created, existed: result.existed,
        failed: result.failed };
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
        for (index = i; index < end; index++) {
          specs.push(normalizeFlowInput(list[index]!, `createMany() flows[${index}]`));
        }
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
      for (const flow of flows) if (take(flow)) await sendBatch();
    } else {
      for await (const flow of flows) if (take(flow)) await sendBatch();
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
function sendCreates(
  h: BulkHandle,
  call: string,
  site: CallSite,
  packed: ReturnType<typeof packFlowSpecs>,
  add: boolean,
  result: { created: number; existed: number },
  failed: (i: number, errno: number) => void,
): Promise<void> {
  const native = h.native(call);
  return settle(site, `conntrack ${call.slice(0, -2)}`,
    native.createBatch(packed.words, packed.helpers, add ? MODE.ADD : MODE.CREATE)).then((errs) => {
      for (let i = 0; i < errs.length; i++) {
        const err = errs[i]!;
        if (err === 0) result.created++;
        else if (err === EEXIST && add) result.existed++;
        else failed(i, err);
      }
    });
}

/** @internal Conntrack.restore(): the lines of a save file packed natively, then created in batches. */
export async function restore(h: BulkHandle, site: CallSite, text: string | Uint8Array,
  options: RestoreOptions = {}): Promise<RestoreResult>
{
  h.native('restore()');
  let input: string | Uint8Array;
  if (typeof text === 'string') input = text;
  else if (text instanceof Uint8Array) {
    input = isAscii(text) ? text : Buffer.from(text.buffer, text.byteOffset, text.byteLength).toString('utf8');
  } else {
    throw new TypeError(
      `restore() text must be a string or a Uint8Array (the bytes of a save file), got ${describeValue(text)}`,
    );
  }
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
    const line = typeof input === 'string'
      ? input.slice(from, to)
      : Buffer.from(input.buffer, input.byteOffset + from, to - from).toString('latin1');
    throw unreadableLine(line, numbers[bad]!, 'restore()');
  }
  const batches: { words: Uint32Array; lines: Int32Array; add: boolean }[] = [];
  for (let start = 0; start < count;) {
    const kind = kinds[start];
    let end = start + 1;
    while (end < count && end - start < batchSize && kinds[end] === kind) end++;
    batches.push({ words: words.subarray(start * SPEC_WORDS, end * SPEC_WORDS), lines: numbers.subarray(start, end),
      add: kind === 2 });
    start = end;
  }
  const result: RestoreResult = { created: 0, existed: 0, failed: [] };
  let inflight: Promise<void> | undefined;
  for (const { words: packed, lines, add: isAdd } of batches) {
    await inflight;
    inflight = sendCreates(h, 'restore()', site, { words: packed, helpers: undefined }, isAdd, result, (i, err) => {
      result.failed.push({ line: lines[i]!, command: isAdd ? 'add' : 'create',
        error: new NfctError(err, 'netlink', '', `restore line ${lines[i]}`) });
    });
  }
  await inflight;
  return result;
}
