// Checks that bad input is refused before anything reaches the kernel: a Conntrack handle's
// native half is swapped for a recorder that never forwards a query (only close()).
import { afterAll, beforeAll, expect } from 'vitest';

import { SPEC_WORDS } from '../../lib/conntrack/flowspec.js';
import { SpecFlags, SpecTupleWord, SpecWord } from '../../lib/core/layout.js';
import type { NativeConntrack, NativeFilter, NativeRecords, NativeTuple } from '../../lib/core/native.js';
import { Conntrack } from '../../lib/index.js';

export type ErrorClass = typeof TypeError | typeof RangeError;

/** What the test reads back of a packed flow spec (lib/conntrack/flowspec.ts packFlowSpecs). */
export interface PackedSpec {
  flags: number;
  family: number;
  protocol: number;
  timeout?: number;
  mark?: number;
  status?: number;
  tcpState?: number;
  sctpState?: number;
  reply?: { src: number[]; dst: number[]; srcPort: number; dstPort: number };
}

const { SPEC_FLAGS, SPEC_KIND, SPEC_MARK, SPEC_REPLY, SPEC_STATE, SPEC_STATUS, SPEC_TIMEOUT } = SpecWord;
const { SPEC_HAS_MARK, SPEC_HAS_REPLY, SPEC_HAS_SCTP_STATE, SPEC_HAS_STATUS, SPEC_HAS_TCP_STATE, SPEC_HAS_TIMEOUT } =
  SpecFlags;
const { SPEC_TUPLE_DST, SPEC_TUPLE_PORTS, SPEC_TUPLE_SRC } = SpecTupleWord;

function unpack(words: Uint32Array): PackedSpec[] {
  const out: PackedSpec[] = [];
  const bytes = new Uint8Array(words.buffer, words.byteOffset, words.byteLength);
  for (let b = 0; b < words.length; b += SPEC_WORDS) {
    const f = words[b + SPEC_FLAGS]!;
    const kind = words[b + SPEC_KIND]!;
    const len = (kind & 0xff) === 2 ? 4 : 16;
    const r = b + SPEC_REPLY;
    out.push({
      flags: f,
      family: kind & 0xff,
      protocol: (kind >>> 8) & 0xff,
      timeout: f & SPEC_HAS_TIMEOUT ? words[b + SPEC_TIMEOUT] : undefined,
      mark: f & SPEC_HAS_MARK ? words[b + SPEC_MARK] : undefined,
      status: f & SPEC_HAS_STATUS ? words[b + SPEC_STATUS] : undefined,
      tcpState: f & SPEC_HAS_TCP_STATE ? words[b + SPEC_STATE] : undefined,
      sctpState: f & SPEC_HAS_SCTP_STATE ? words[b + SPEC_STATE] : undefined,
      reply: f & SPEC_HAS_REPLY
        ? {
          src: [...bytes.subarray((r + SPEC_TUPLE_SRC) * 4, (r + SPEC_TUPLE_SRC) * 4 + len)],
          dst: [...bytes.subarray((r + SPEC_TUPLE_DST) * 4, (r + SPEC_TUPLE_DST) * 4 + len)],
          srcPort: words[r + SPEC_TUPLE_PORTS]! & 0xffff,
          dstPort: words[r + SPEC_TUPLE_PORTS]! >>> 16,
        }
        : undefined,
    });
  }
  return out;
}

export interface BadCase {
  name: string;
  input: unknown;
  error: ErrorClass;
  /** Text the message must contain: the option's name as the caller wrote it. */
  names: string | RegExp;
}

/** What reached the (fake) native handle. */
export interface Recorder {
  calls: string[];
  filters: NativeFilter[];
  tuples: NativeTuple[];
  specs: PackedSpec[];
}

/**
 * Replaces the native half of `ct` with a recorder. Queries are recorded and never sent;
 * get() resolves to "no entry" so that accepted tuples can be checked without the kernel.
 * close() goes to the real socket.
 */
export function instrument(ct: Conntrack): Recorder {
  // The handle's seam for tests (@internal): the fake goes in below, the real one stays for close().
  const holder = ct as unknown as { replaceNative(n: NativeConntrack): NativeConntrack | undefined };
  expect(typeof holder.replaceNative, 'Conntrack has its test seam, replaceNative()').toBe('function');
  let real: NativeConntrack | undefined = undefined;
  const rec: Recorder = { calls: [], filters: [], tuples: [], specs: [] };
  /** A method that records its call (and its argument in `into`) and must not be reached. */
  const unreached = <A>(name: string, into?: A[]) => (arg?: A): never => {
    rec.calls.push(name);
    if (into) into.push(arg as A);
    throw new Error(`test recorder: ${name}() must not be reached`);
  };
  /** A query that records its call and rejects: it must not be reached. */
  const rejects = (name: string) => (): Promise<never> => {
    rec.calls.push(name);
    return Promise.reject(new Error(`test recorder: ${name}() must not be reached`));
  };
  /** A method that records its call (and its argument in `into`) and resolves `value()`. */
  const resolves = <A, T>(name: string, into: A[] | undefined, value: () => T) => (arg?: A): Promise<T> => {
    rec.calls.push(name);
    if (into) into.push(arg as A);
    return Promise.resolve(value());
  };
  const noEntry = (): NativeRecords => [new ArrayBuffer(0), '', 0];
  const done = (): void => undefined;
  const fake: NativeConntrack = {
    dump: unreached('dump', rec.filters),
    get: resolves('get', rec.tuples, noEntry),
    count: rejects('count'),
    countNow: unreached('countNow'),
    stats: rejects('stats'),
    close() {
      rec.calls.push('close');
      real!.close();
    },
    create(words) {
      rec.calls.push('create');
      rec.specs.push(...unpack(words));
      return Promise.resolve(true);
    },
    delete: resolves('delete', rec.tuples, done),
    flush: resolves('flush', rec.filters, done),
    createBatch(words) {
      rec.calls.push('createBatch');
      const specs = unpack(words);
      rec.specs.push(...specs);
      return Promise.resolve(new Int32Array(specs.length));
    },
    deleteBatch: unreached('deleteBatch'),
    deleteWhere: unreached('deleteWhere', rec.filters),
    aggregate: unreached('aggregate', rec.filters),
    expectDump: unreached('expectDump'),
    expectGet: resolves('expectGet', rec.tuples, noEntry),
    expectCreate: resolves('expectCreate', undefined, done),
    expectDelete: resolves('expectDelete', rec.tuples, done),
    expectFlush: resolves('expectFlush', undefined, done),
    events: unreached('events', rec.filters),
    expectEvents: unreached('expectEvents'),
  };
  real = holder.replaceNative(fake);
  expect(typeof real?.close, 'the handle was open').toBe('function');
  return rec;
}

/** Runs fn (sync or async) and returns what it threw or rejected with. */
export async function failure(fn: () => unknown): Promise<unknown> {
  try {
    await fn();
  } catch (e) {
    return e;
  }
  return undefined;
}

export function expectRefused(err: unknown, c: BadCase): void {
  expect(err, `${c.name}: expected a ${c.error.name}, nothing was thrown`).toBeDefined();
  expect(err, `${c.name}: ${String(err)}`).toBeInstanceOf(c.error);
  // A RangeError is not a TypeError and vice versa: the class is exact.
  expect((err as Error).constructor, `${c.name}: ${String(err)}`).toBe(c.error);
  const message = (err as Error).message;
  if (typeof c.names === 'string') expect(message).toContain(c.names);
  else expect(message).toMatch(c.names);
}

/**
 * A Conntrack handle on the caller's namespace with its native half replaced by a recorder
 * (instrument()), for the tests of a file or describe block: opened in beforeAll and handed to
 * `keep`, closed in afterAll.
 */
export function useRecorded(keep: (ct: Conntrack, rec: Recorder) => void): void {
  let handle: Conntrack | undefined;
  beforeAll(async () => {
    handle = await Conntrack.open();
    keep(handle, instrument(handle));
  });
  afterAll(() => handle?.close());
}
