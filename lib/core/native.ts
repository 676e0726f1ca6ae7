// The only importer of the addon. Its whole surface is declared here.
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import type { NativeLogFilter } from '../kmsg/filter.js';
import { NfctError } from './errors.js';
import * as generated from './layout.js';
import { loadError } from './load-error.js';
import { packageRoot } from './package-info.js';

/**
 * Called by native code for each batch a Reader hands over: the fixed-size records, their
 * NUL-terminated strings, the binary fields they point into (packet payloads; undefined when
 * none), the counters (the BatchCounter layout of lib/core/layout.ts), and on a final batch of a
 * failed job, the error.
 */
export type OnBatch = (records: ArrayBuffer, strings: string, bytes: ArrayBuffer | undefined, counters: Float64Array,
  error: NfctError | undefined) => void;

export interface NativeStream {
  /** A batch was consumed: its records and bytes are no longer queued. */
  release(records: number, bytes: number): void;
  /** The reader's counters, in the StreamStat layout (lib/core/layout.ts). */
  stats(): Float64Array;
  close(): void;
  /** Stops reading without dropping anything: the final batch (FINAL, with the tally) still comes. */
  endEarly?(): void;
  /** Why the socket could not be opened, bound or subscribed; undefined when it was. */
  setupError?(): NfctError | undefined;
}

export interface ReaderTuning {
  maxBatch?: number;
  /** Records handed to JS and not yet released before the reader stops reading (0: no bound). */
  maxQueueRecords?: number;
  /** The same in bytes (0: no bound). */
  maxQueueBytes?: number;
  rcvbuf?: number;
  rcvbufMax?: number;
  /** 1: count the records by kind on the reader thread instead of handing them over (live streams). */
  countOnly?: number;
}

/** A filter as lib/conntrack/filter.ts normalises it (see native/ct/filter.h). */
export interface NativeTupleFilter {
  src?: Buffer;
  srcPrefix?: number;
  dst?: Buffer;
  dstPrefix?: number;
  srcPort?: number;
  dstPort?: number;
  zone?: number;
}

export interface NativeFilter {
  family?: number;
  protocol?: number;
  orig?: NativeTupleFilter;
  reply?: NativeTupleFilter;
  mark?: number;
  markMask?: number;
  status?: number;
  statusMask?: number;
  zone?: number;
  tcpStates?: number;
  labels?: Uint32Array;
  kernel?: boolean;
}

/** A tuple as lib/conntrack/tuple.ts normalises it (see native/ct/request.h). */
export interface NativeTuple {
  family: number;
  protocol: number;
  src: Buffer;
  dst: Buffer;
  srcPort?: number;
  dstPort?: number;
  icmpType?: number;
  icmpCode?: number;
  icmpId?: number;
  zone?: number;
  tupleZone?: number;
}

/** The -o flags of the lines formatFlows() makes (native/ct/text.h). */
export interface NativeLineFormat {
  extended: boolean;
  id: boolean;
  /** A table serviceTable() made: each line gets the Service of its original destination. */
  services?: object;
}

/** Records of flows: the words buffer, the NUL-separated strings, the record count. */
export type NativeRecords = [ArrayBuffer, string, number];

export interface NativeConntrack {
  dump(filter: NativeFilter, msgType: number, onBatch: OnBatch, tuning: ReaderTuning): NativeStream;
  get(tuple: NativeTuple): Promise<NativeRecords>;
  count(): Promise<[number, number]>;
  /** count() made on the calling thread (no trip to libuv's pool); throws NfctError. */
  countNow(): [number, number];
  /** Per-CPU counters: (CTA_STATS_* type, value) pairs; with `expect`, the expectation table's (CTA_STATS_EXP_*). */
  stats(expect?: boolean): Promise<[number, Uint32Array][]>;
  close(): void;
  /** One packed spec (flowspec.ts). mode 0: create, 1: add (false when it existed), 2: update. */
  create(specs: Uint32Array, helpers: (string | undefined)[] | undefined, mode: number): Promise<boolean>;
  delete(tuple: NativeTuple, id: number): Promise<void>;
  flush(filter: NativeFilter): Promise<void>;
  /** Packed specs (flowspec.ts); errno per spec, 0 when done. */
  createBatch(specs: Uint32Array, helpers: (string | undefined)[] | undefined, mode: number): Promise<Int32Array>;
  /** Packed specs naming entries by original tuple (and zone), ids (-1: any); errno per spec. */
  deleteBatch(specs: Uint32Array, helpers: undefined, mode: 0, ids: Float64Array): Promise<Int32Array>;
  /** The final batch tallies [matched, deleted, gone, failed]. */
  /** With report, each batch also carries the records of the matched flows. */
  deleteWhere(filter: NativeFilter, dryRun: boolean, onBatch: OnBatch, report?: boolean): NativeStream;
  /** Groups the dump (native/ct/aggregate.h); the final batch holds the total and the top groups and tallies [matched, groups]. */
  aggregate(filter: NativeFilter, keys: number[], sort: number, top: number, onBatch: OnBatch): NativeStream;
  expectDump(family: number, onBatch: OnBatch): NativeStream;
  expectGet(tuple: NativeTuple): Promise<NativeRecords>;
  expectCreate(spec: Record<string, unknown>): Promise<void>;
  expectDelete(tuple: NativeTuple, id: number): Promise<void>;
  expectFlush(family: number, helper: string): Promise<void>;
  /** groups: bit n set to join NFNLGRP n (1 new, 2 update, 3 destroy). */
  events(filter: NativeFilter, groups: number, onBatch: OnBatch, tuning: ReaderTuning): NativeStream;
  /** groups: bit 4 expectation new, bit 6 expectation destroy. */
  expectEvents(groups: number, onBatch: OnBatch, tuning: ReaderTuning): NativeStream;
}

/** How a group is bound (see native/log/nflog.cc GroupConfig). */
export interface NativeGroupConfig {
  group: number;
  copyMode: number;
  range: number;
  nlbufsiz?: number;
  timeout?: number;
  qthreshold?: number;
  flags: number;
}

export interface NativeNflog {
  subscribe(config: NativeGroupConfig, onBatch: OnBatch, tuning: ReaderTuning): NativeStream;
  close(): void;
}

/** What a kernel log reader reads (native/kmsg/sources.cc), as lib/kmsg/handle.ts normalises it. */
export interface NativeKernelLogConfig {
  kind: 'kmsg' | 'file';
  path?: string;
  fd?: number;
  follow: boolean;
  /** /dev/kmsg: from the oldest record the ring buffer holds (else from now). */
  fromStart?: boolean;
  /** A file: from its end. */
  fromEnd?: boolean;
  maxLine?: number;
  filter: NativeLogFilter;
}

interface Addon {
  setErrorFactory(fn: (errno: number, syscall: string, detail: string) => Error): void;
  openConntrack(nsPath: string | null): Promise<NativeConntrack>;
  /** openConntrack() on the calling thread (no trip to libuv's pool); throws NfctError. */
  openConntrackNow(nsPath: string | null): NativeConntrack;
  openNflog(nsPath: string | null): Promise<NativeNflog>;
  traceEvents(nsPath: string | null, onBatch: OnBatch, tuning: ReaderTuning): NativeStream;
  /** Reads (and with a value, sets) the nf_log backend of a family; resolves the previous one. */
  nfLogBackend(nsPath: string | null, family: number, value: string | null): Promise<string>;
  /**
   * A name in the namespace's abstract unix socket space (native/owner_lock.cc). hold: binds it
   * and resolves the socket's fd (held until that fd is closed or the process ends; EADDRINUSE
   * when another holds it). Not hold: resolves 1 when another socket holds it, 0 when none does.
   */
  ownerLock(nsPath: string | null, name: string, hold: boolean): Promise<number>;
  /**
   * The save-file reader (native/ct/save.cc): the lines of text that say something, trimmed,
   * line i = text[ranges[2i], ranges[2i+1]), numbered numbers[i], packed into words
   * (SPEC_WORDS each) with kinds[i] 1 (-I) or 2 (-A). bad: -1, or the index of the first line
   * it does not read (the arrays end with it). With withFields, fields: 9 numbers per line
   * packed: 1 when it gave the reply addresses, | 2 when it gave the reply ports; then where
   * its -s, -d, -r and -q values start and end in text.
   */
  readSave(text: string | Uint8Array,
    withFields?: boolean
  ): [words: ArrayBuffer, kinds: Uint8Array, numbers: Int32Array, ranges: Int32Array, bad: number, fields?: Int32Array];
  /** `conntrack -L` lines of `count` flow records (as a reader hands them over), each with its newline. */
  formatFlows(records: ArrayBuffer, strings: string, count: number, format: NativeLineFormat): Buffer;
  /** A lookup table for formatFlows() from lines `protonum|*\taddress\tport|*\tname\tendpoints` (native/ct/service_table.h). */
  serviceTable(text: string): object;
  /** The NAT-relevant rules and verdict maps of a namespace's nf_tables ruleset, as JSON (native/trace/ruleset.cc). */
  nftRuleset(nsPath: string | null, skipAnonymousMaps?: string[]): Promise<string>;
  /**
   * Files read by a thread inside the namespace (null: unreadable), and with withTables its
   * nf_tables tables ("family name"), or the NfctError that kept them from being listed
   * (native/ns_files.cc).
   */
  readInNamespace(nsPath: string | null, paths: string[],
    withTables: boolean): Promise<[(string | null)[], string[] | Error | null]>;
  /** For the fuzz tests: runs a message decoder ('flow', 'expect', 'packet', 'trace') on any bytes. */
  decodeForTest(kind: string, bytes: Buffer): [ArrayBuffer, string, number, number];
  /** Kernel log records (KLOG_WORDS each) of /dev/kmsg or a file, in batches. */
  kernelLog(config: NativeKernelLogConfig, onBatch: OnBatch, tuning: ReaderTuning): NativeStream;
  /** For the tests: the records of each line of text ('text': file lines, 'kmsg': /dev/kmsg records). */
  decodeLogLines(text: string | Buffer, kind: 'text' | 'kmsg',
    filter?: NativeLogFilter
  ): [words: ArrayBuffer, strings: string, count: number, bytes: ArrayBuffer, malformed: number];
  /** Every layout of native/layout/layouts.h, by C++ enum name (see lib/core/layout.ts). */
  layouts: Record<string, Record<string, number>>;
}

/**
 * This module's require (not createRequire(), whose node:module brings the ES module loader into
 * every CLI start).
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports -- loads what is named at run time
const requireHere = (id: string): unknown => require(id);

/**
 * Refuses an addon built from other layouts than lib/core/layout.ts (a stale build next to a
 * newer lib/): a record would be misread field by field, silently.
 */
export function checkLayouts(native: Record<string, Record<string, number>>): void {
  for (const [type, fields] of Object.entries(generated as Record<string, Record<string, number>>)) {
    for (const [name, value] of Object.entries(fields)) {
      if (native[type]?.[name] !== value) {
        throw new Error(
          `@x/nfct: the native addon's ${type}.${name} is ${
            native[type]?.[name]
          }, lib/ expects ${value}: rebuild the addon (npm run build)`,
        );
      }
    }
  }
}

/**
 * The addon as node-gyp-build finds it: a local build (build/Release) before the prebuilds. The
 * local build, when there is one (and PREBUILDS_ONLY is not set, as node-gyp-build reads it), is
 * loaded by its path with process.dlopen, which is what require() of it ends in: a CLI start is
 * spared the resolution of node-gyp-build and its directory listings (~2 ms), and require()'s
 * resolution and realpath of the file.
 */
function findAddon(root: string): unknown {
  if (!process.env.PREBUILDS_ONLY) {
    const local = join(root, 'build', 'Release', 'nfct.node');
    if (existsSync(local)) {
      const m = { exports: {} };
      process.dlopen(m, local);
      return m.exports;
    }
  }
  return (requireHere('node-gyp-build') as (dir: string) => unknown)(root);
}

let loaded: Addon | undefined;
const checks: ((a: Addon) => void)[] = [];

/** Runs `check` on the addon when it loads (at once if it has): importing the package loads nothing native. */
export function whenLoaded(check: (a: Addon) => void): void {
  checks.push(check);
  if (loaded) check(loaded);
}

function loadAddon(): Addon {
  if (loaded) return loaded;
  let a: Addon;
  try {
    // NFCT_ADDON names another build of the addon to load (the AddressSanitizer build of scripts/asan.sh).
    const env = process.env.NFCT_ADDON;
    a = (env ? requireHere(env) : findAddon(packageRoot())) as Addon;
  } catch (err) {
    throw loadError(err);
  }
  checkLayouts(a.layouts);
  a.setErrorFactory((errno, syscall, detail) => new NfctError(errno, syscall, detail));
  loaded = a;
  for (const check of checks) check(a);
  return a;
}

/** Calls `name` of the loaded addon (loading it first). */
const lazy = (name: keyof Addon) => (...args: unknown[]): unknown =>
  (loadAddon()[name] as (...a: unknown[]) => unknown)(...args);

/**
 * The addon's functions, each loading it on first call: `import '@x/nfct'`, the CLI's --help and
 * the pure helpers (decodePacket, parseLogLine, the text formatters) work where it cannot load.
 * Plain properties, so tests can replace one (vi.spyOn).
 */
export const addon = {
  setErrorFactory: lazy('setErrorFactory'),
  openConntrack: lazy('openConntrack'),
  openConntrackNow: lazy('openConntrackNow'),
  openNflog: lazy('openNflog'),
  traceEvents: lazy('traceEvents'),
  nfLogBackend: lazy('nfLogBackend'),
  ownerLock: lazy('ownerLock'),
  decodeForTest: lazy('decodeForTest'),
  readSave: lazy('readSave'),
  formatFlows: lazy('formatFlows'),
  kernelLog: lazy('kernelLog'),
  decodeLogLines: lazy('decodeLogLines'),
  serviceTable: lazy('serviceTable'),
  nftRuleset: lazy('nftRuleset'),
  readInNamespace: lazy('readInNamespace'),
  /** The layouts the addon was built with (loads it). */
  get layouts(): Addon['layouts'] {
    return loadAddon().layouts;
  },
} as Pick<Addon,
  'setErrorFactory' | 'openConntrack' | 'openConntrackNow' | 'openNflog' | 'traceEvents' | 'nfLogBackend' |
    'ownerLock' | 'decodeForTest' | 'readSave' | 'formatFlows' | 'serviceTable' | 'nftRuleset' | 'readInNamespace' |
    'kernelLog' | 'decodeLogLines' | 'layouts'>;
