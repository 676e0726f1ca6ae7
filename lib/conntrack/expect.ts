// The expectation table: connections a helper (ftp, sip, ...) expects, waiting to be related
// to their master flow.
import { parseAddress } from '../core/address.js';
import { callSite, NfctError, settle } from '../core/errors.js';
import { ExpectPresent, ExpectWord, TupleWord } from '../core/layout.js';
import type { NativeConntrack, NativeTuple } from '../core/native.js';
import { AF_INET, AF_INET6, protocolName } from '../core/protocols.js';
import { BatchSource } from '../core/reader.js';
import { Dump, type RecordStream, type StreamOwner } from '../core/stream.js';
import { assertKnownKeys, assertObject, describeValue, integer, list, optionalInteger } from '../core/validate.js';
import { makeTuple } from './flow.js';
import { normalizeTuple, type TupleInput, tupleToInput } from './tuple.js';
import type { Family, ProtocolName, Tuple } from './types.js';

/** Expectation flags (NF_CT_EXPECT_*). */
export type ExpectationFlag = 'PERMANENT' | 'INACTIVE' | 'USERSPACE';
const FLAG_BITS: Record<ExpectationFlag, number> = { PERMANENT: 1, INACTIVE: 2, USERSPACE: 4 };

/** An entry of the expectation table: a connection a helper expects, to relate it to its master. */
export interface Expectation {
  /** 'ipv4' or 'ipv6'. */
  family: Family;
  /** Layer-4 protocol of the expected connection. */
  protocol: ProtocolName;
  /** The same protocol, by number. */
  protonum: number;
  /** The kernel's id of the expectation. */
  id?: number;
  /** Original tuple of the master flow. */
  master: Tuple;
  /** The expected connection's tuple... */
  tuple: Tuple;
  /** ...and which of its bits must match (addresses as masks, ports 0 = any). */
  mask: Tuple;
  /** Seconds left. */
  timeout?: number;
  /** The conntrack zone it belongs to. */
  zone?: number;
  /** Its flags, by name. */
  flags: ExpectationFlag[];
  /** The raw flag bits. */
  flagBits: number;
  /** The helper that made it ('ftp', 'sip'). */
  helper?: string;
  /** The helper's expectation class (a helper may keep several kinds). */
  class?: number;
  /** The helper function that made it (e.g. 'ftp'). */
  fn?: string;
  /** Where NAT will rewrite the expected connection. */
  nat?: {
    /** The direction of the master flow whose addresses NAT uses. */
    dir: 'original' | 'reply';
    /** The addresses and ports the expected connection is rewritten to. */
    tuple: Tuple;
  };
}

/** A new expectation. The master flow must exist and have a helper. */
export interface ExpectationInput {
  /** The master flow's original tuple. */
  master: TupleInput;
  /** The expected connection (protocol, addresses, ports). */
  tuple: TupleInput;
  /** Which bits of `tuple` must match; default: all of them. Ports of 0 match any port. */
  mask?: {
    /** The source address mask ('255.255.255.0', 'ffff:ffff::'). */
    src?: string;
    /** The destination address mask. */
    dst?: string;
    /** The source port's mask (0: any port). */
    srcPort?: number;
    /** The destination port's mask (0: any port). */
    dstPort?: number;
    /** The ICMP type's mask. */
    type?: number;
    /** The ICMP code's mask. */
    code?: number;
    /** The ICMP id's mask. */
    id?: number;
  };
  /** Seconds until it expires. */
  timeout: number;
  /** The conntrack zone (default 0). */
  zone?: number;
  /** Flags to set (default none). */
  flags?: ExpectationFlag | readonly ExpectationFlag[];
  /** The helper's expectation class (default 0). */
  class?: number;
  /** Helper name; default: the master's helper. */
  helper?: string;
  /** NAT for the expected connection: rewrite it to `tuple`, using the master's `dir` direction. */
  nat?: {
    /** The direction of the master flow whose addresses NAT uses. */
    dir: 'original' | 'reply';
    /** The addresses and ports to rewrite the expected connection to. */
    tuple: TupleInput;
  };
}

/** Per-CPU counters of the expectation table (`conntrack -S expect`, CTA_STATS_EXP_*). */
export interface ExpectationCpuStats {
  /** The CPU the counters are of. */
  cpu: number;
  /** Connections that arrived as an expectation said they would. */
  expect_new: number;
  /** Expectations made. */
  expect_create: number;
  /** Expectations removed (matched, timed out, deleted, replaced). */
  expect_delete: number;
  /** Counters newer than this library, as stat_N. */
  [counter: string]: number;
}

const EXP_STAT_NAMES: Record<number, string> = { 1: 'expect_new', 2: 'expect_create', 3: 'expect_delete' };

/** Expectation filter for list(). */
export interface ExpectationFilter {
  /** Only 'ipv4' or only 'ipv6' expectations (default both). */
  family?: Family;
}

// The record layout of native/layout/layouts.h (lib/core/layout.ts is generated from it).
export const { EXPECT_WORDS } = ExpectWord;
const { EXPECT_HAS_MASTER, EXPECT_HAS_TUPLE, EXPECT_HAS_MASK, EXPECT_HAS_NAT, EXPECT_HAS_ID, EXPECT_HAS_TIMEOUT,
  EXPECT_HAS_ZONE, EXPECT_HAS_FLAGS, EXPECT_HAS_CLASS, EXPECT_HAS_HELPER, EXPECT_HAS_FN } = ExpectPresent;
const { TUPLE_META } = TupleWord;
const { EXPECT_PRESENT, EXPECT_KIND, EXPECT_ID, EXPECT_TIMEOUT, EXPECT_ZONE, EXPECT_FLAGS, EXPECT_CLASS, EXPECT_NAT_DIR,
  EXPECT_MASTER, EXPECT_TUPLE, EXPECT_MASK, EXPECT_NAT, EXPECT_TIME } = ExpectWord;

const EMPTY_TUPLE: Tuple = { src: '', dst: '', protonum: 0 };

/** An expectation event record's time of receipt, ns since the epoch. */
export function expectationEventTime(words: Uint32Array, index: number): bigint {
  const b = index * EXPECT_WORDS + EXPECT_TIME;
  return (BigInt(words[b + 1]!) << 32n) | BigInt(words[b]!);
}

/** An expectation event record's message type: 0 new, 2 destroy (IPCTNL_MSG_EXP_*). */
export function expectationMsgType(words: Uint32Array, index: number): number {
  return (words[index * EXPECT_WORDS + EXPECT_KIND]! >>> 16) & 0xff;
}

export function decodeExpectations(buffer: ArrayBuffer, strings: string, count: number): Expectation[] {
  const w = new Uint32Array(buffer);
  const s = strings.split('\0');
  let si = 0;
  const out: Expectation[] = [];
  for (let i = 0; i < count; i++) {
    const b = i * EXPECT_WORDS;
    const present = w[b + EXPECT_PRESENT]!;
    const kind = w[b + EXPECT_KIND]!;
    const protonum = (kind >>> 8) & 0xff;
    const tuple = (bit: number, at: number): Tuple | undefined => {
      if (!(present & bit)) return undefined;
      const t = makeTuple(w, b + at, protocolName(w[b + at + TUPLE_META]! & 0xff), s[si]!, s[si + 1]!);
      si += 2;
      return t;
    };
    const master = tuple(EXPECT_HAS_MASTER, EXPECT_MASTER) ?? EMPTY_TUPLE;
    const exp = tuple(EXPECT_HAS_TUPLE, EXPECT_TUPLE) ?? EMPTY_TUPLE;
    const mask = tuple(EXPECT_HAS_MASK, EXPECT_MASK) ?? EMPTY_TUPLE;
    const natTuple = tuple(EXPECT_HAS_NAT, EXPECT_NAT);
    const flagBits = present & EXPECT_HAS_FLAGS ? w[b + EXPECT_FLAGS]! : 0;
    const e: Expectation = {
      family: (kind & 0xff) === AF_INET6 ? 'ipv6' : 'ipv4',
      protocol: protocolName(protonum),
      protonum,
      id: present & EXPECT_HAS_ID ? w[b + EXPECT_ID] : undefined,
      master,
      tuple: exp,
      mask,
      timeout: present & EXPECT_HAS_TIMEOUT ? w[b + EXPECT_TIMEOUT] : undefined,
      zone: present & EXPECT_HAS_ZONE ? w[b + EXPECT_ZONE] : undefined,
      flags: (Object.keys(FLAG_BITS) as ExpectationFlag[]).filter((f) => flagBits & FLAG_BITS[f]),
      flagBits,
      helper: undefined,
      class: present & EXPECT_HAS_CLASS ? w[b + EXPECT_CLASS] : undefined,
      fn: undefined,
      nat: natTuple ? { dir: w[b + EXPECT_NAT_DIR] === 1 ? 'reply' : 'original', tuple: natTuple } : undefined,
    };
    if (present & EXPECT_HAS_HELPER) e.helper = s[si++];
    if (present & EXPECT_HAS_FN) e.fn = s[si++];
    out.push(e);
  }
  return out;
}

function maskTuple(tuple: NativeTuple, mask: ExpectationInput['mask'], where: string): NativeTuple {
  const len = tuple.family === AF_INET ? 4 : 16;
  const addr = (value: unknown, key: string): Buffer => {
    if (value === undefined) return Buffer.alloc(len, 0xff);
    const a = typeof value === 'string' ? parseAddress(value) : undefined;
    if (a?.bytes.length !== len) {
      throw new TypeError(`${where}.${key} must be an address mask of the tuple's family, got ${describeValue(value)}`);
    }
    return a.bytes;
  };
  const given: unknown = mask; // null is refused by assertObject, not taken for no mask
  const m = given === undefined ? {} : given;
  assertObject(m, where);
  assertKnownKeys(m, ['src', 'dst', 'srcPort', 'dstPort', 'type', 'code', 'id'], where);
  const out: NativeTuple = { family: tuple.family, protocol: tuple.protocol, src: addr(m.src, 'src'),
    dst: addr(m.dst, 'dst') };
  if (tuple.srcPort !== undefined) {
    out.srcPort = optionalInteger(m.srcPort, `${where}.srcPort`, 0, 65535) ?? 0xffff;
    out.dstPort = optionalInteger(m.dstPort, `${where}.dstPort`, 0, 65535) ?? 0xffff;
  }
  if (tuple.icmpType !== undefined) {
    out.icmpType = optionalInteger(m.type, `${where}.type`, 0, 255) ?? 0xff;
    out.icmpCode = optionalInteger(m.code, `${where}.code`, 0, 255) ?? 0xff;
    out.icmpId = optionalInteger(m.id, `${where}.id`, 0, 65535) ?? 0xffff;
  }
  return out;
}

function normalizeExpectation(input: ExpectationInput, where: string): Record<string, unknown> {
  assertObject(input, where);
  assertKnownKeys(input, ['master', 'tuple', 'mask', 'timeout', 'zone', 'flags', 'class', 'helper', 'nat'], where);
  const master = normalizeTuple(input.master, `${where}.master`);
  const tuple = normalizeTuple(input.tuple, `${where}.tuple`);
  if (master.family !== tuple.family) throw new TypeError(`${where}: master and tuple must be of the same family`);
  const spec: Record<string, unknown> = {
    master,
    tuple,
    mask: maskTuple(tuple, input.mask, `${where}.mask`),
    timeout: integer(input.timeout, `${where}.timeout`, 0, 0xffffffff),
  };
  const zone = optionalInteger(input.zone, `${where}.zone`, 0, 65535);
  if (zone !== undefined) spec.zone = zone;
  if (input.flags !== undefined) {
    let bits = 0;
    for (const f of list(input.flags, `${where}.flags`)) {
      const bit = typeof f === 'string' && Object.hasOwn(FLAG_BITS, f) ? FLAG_BITS[f] : undefined;
      if (bit === undefined) {
        throw new TypeError(`${where}.flags: unknown flag ${describeValue(f)} (PERMANENT, INACTIVE, USERSPACE)`);
      }
      bits |= bit;
    }
    spec.flags = bits;
  }
  const cls = optionalInteger(input.class, `${where}.class`, 0, 0xffffffff);
  if (cls !== undefined) spec.class = cls;
  if (input.helper !== undefined) {
    if (typeof input.helper !== 'string' || !/^[A-Za-z0-9_.-]{1,15}$/.test(input.helper)) {
      throw new TypeError(`${where}.helper must be a helper name, got ${describeValue(input.helper)}`);
    }
    spec.helper = input.helper;
  }
  if (input.nat !== undefined) {
    assertObject(input.nat, `${where}.nat`);
    assertKnownKeys(input.nat, ['dir', 'tuple'], `${where}.nat`);
    if (input.nat.dir !== 'original' && input.nat.dir !== 'reply') {
      throw new TypeError(`${where}.nat.dir must be 'original' or 'reply', got ${describeValue(input.nat.dir)}`);
    }
    spec.nat = { dir: input.nat.dir === 'reply' ? 1 : 0, tuple: normalizeTuple(input.nat.tuple, `${where}.nat.tuple`) };
  }
  return spec;
}

/** Options of expectations.flush(). */
export interface ExpectationFlushOptions {
  /** Only the expectations of this family. */
  family?: Family;
  /** Only the expectations of this helper ('ftp', 'sip', ...). */
  helper?: string;
}

/** @internal What the expectation table needs of its handle. */
export interface ExpectationsOwner extends StreamOwner {
  track(source: BatchSource): void;
}

/** The expectation table of a Conntrack handle (`ct.expectations`). */
export class Expectations {
  /** The handle's native object; a ClosedError naming the call once the handle is closed. */
  readonly #native: (call: string) => NativeConntrack;
  readonly #owner: ExpectationsOwner;

  private constructor(native: (call: string) => NativeConntrack, owner: ExpectationsOwner) {
    this.#native = native;
    this.#owner = owner;
  }

  /** @internal */
  static of(native: (call: string) => NativeConntrack, owner: ExpectationsOwner): Expectations {
    return new Expectations(native, owner);
  }

  /** Streams the expectations (conntrack -L expect). */
  list(filter: ExpectationFilter = {}): RecordStream<Expectation> {
    const native = this.#native('expectations.list()');
    assertObject(filter, 'expectations.list() filter');
    assertKnownKeys(filter, ['family'], 'expectations.list() filter');
    if (filter.family !== undefined && filter.family !== 'ipv4' && filter.family !== 'ipv6') {
      throw new TypeError(
        `expectations.list() filter.family must be 'ipv4' or 'ipv6', got ${describeValue(filter.family)}`,
      );
    }
    const family = filter.family === 'ipv4' ? AF_INET : filter.family === 'ipv6' ? AF_INET6 : 0;
    const site = callSite(this.list);
    void native;
    return new Dump(this.#owner, decodeExpectations, () => {
      const live = this.#native('expectations.list()'); // the handle may have been closed since list()
      const source = new BatchSource((onBatch) => live.expectDump(family, onBatch), site, 'expectation dump');
      this.#owner.track(source);
      return source;
    });
  }

  /** The expectation with this expected tuple, or null. */
  async get(tuple: TupleInput): Promise<Expectation | null> {
    const native = this.#native('expectations.get()');
    const t = normalizeTuple(tuple, 'expectations.get() tuple');
    const site = callSite(this.get);
    const [buffer, strings, count] = await settle(site, 'expectation get', native.expectGet(t));
    return count > 0 ? decodeExpectations(buffer, strings, count)[0]! : null;
  }

  /** Per-CPU counters of the expectation table (conntrack -S expect), one object per CPU. */
  async stats(): Promise<ExpectationCpuStats[]> {
    const native = this.#native('expectations.stats()');
    const site = callSite(this.stats);
    const rows = await settle(site, 'expectation statistics', native.stats(true));
    return rows.map(([cpu, values]) => {
      const row: Record<string, number> = { cpu, expect_new: 0, expect_create: 0, expect_delete: 0 };
      for (let i = 0; i + 1 < values.length; i += 2) {
        row[EXP_STAT_NAMES[values[i]!] ?? `stat_${values[i]}`] = values[i + 1]!;
      }
      return row as ExpectationCpuStats;
    });
  }

  /** Creates an expectation (conntrack -I expect); EEXIST when it exists. */
  async create(input: ExpectationInput): Promise<void> {
    const native = this.#native('expectations.create()');
    const spec = normalizeExpectation(input, 'expectations.create()');
    const site = callSite(this.create);
    await settle(site, 'expectation create', native.expectCreate(spec));
  }

  /** Deletes the expectation with this expected tuple (or this Expectation, id checked). */
  async delete(target: TupleInput | Expectation): Promise<void> {
    const native = this.#native('expectations.delete()');
    const isExpectation = typeof target === 'object' && target !== null && 'mask' in target && 'master' in target;
    if (isExpectation && (target.tuple === null || typeof target.tuple !== 'object')) {
      throw new TypeError(
        `expectations.delete() target.tuple must be the expectation's tuple, got ${describeValue(target.tuple)}`,
      );
    }
    const tuple = isExpectation
      ? normalizeTuple({ ...tupleToInput(target.tuple, target.protonum), zone: target.zone },
        'expectations.delete() target')
      : normalizeTuple(target, 'expectations.delete() target');
    const id = isExpectation && target.id !== undefined ? target.id : -1;
    const site = callSite(this.delete);
    await settle(site, 'expectation delete', native.expectDelete(tuple, id));
  }

  /** Deletes every expectation, or those of one family or helper (conntrack -F expect). */
  async flush(options: ExpectationFlushOptions = {}): Promise<void> {
    const native = this.#native('expectations.flush()');
    assertObject(options, 'expectations.flush() options');
    assertKnownKeys(options, ['family', 'helper'], 'expectations.flush() options');
    if (options.family !== undefined && options.family !== 'ipv4' && options.family !== 'ipv6') {
      throw new TypeError(
        `expectations.flush() options.family must be 'ipv4' or 'ipv6', got ${describeValue(options.family)}`,
      );
    }
    if (options.helper !== undefined &&
      (typeof options.helper !== 'string' || !/^[A-Za-z0-9_.-]{1,15}$/.test(options.helper)))
    {
      throw new TypeError(
        `expectations.flush() options.helper must be a helper name such as 'ftp', got ${describeValue(options.helper)}`,
      );
    }
    const family = options.family === 'ipv4' ? AF_INET : options.family === 'ipv6' ? AF_INET6 : 0;
    const site = callSite(this.flush);
    await settle(site, 'expectation flush', native.expectFlush(family, options.helper ?? ''));
  }
}

export { NfctError };
