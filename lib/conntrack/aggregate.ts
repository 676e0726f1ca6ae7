// Grouping the table: the options of ct.aggregate(), checked here, and the groups native code
// computed (native/ct/aggregate.h), decoded into plain objects.
import { deprecated } from '../core/deprecate.js';
import { AggGroupFlags, AggGroupWord, AggKey, AggKeyWord, AggSort } from '../core/layout.js';
import { AF_INET6, protocolName, PROTOCOLS } from '../core/protocols.js';
import { assertKnownKeys, assertObject, describeValue, list, optionalInteger } from '../core/validate.js';
import { DCCP_STATES, SCTP_STATES, TCP_STATES } from './constants.js';
import { type FlowFilter, normalizeFilter } from './filter.js';
import { STATUS_NAMES } from './status.js';
import type { Counters, Family, StatusName } from './types.js';

/** What a group can be keyed by (native/layout/layouts.h AggKey: 'replySrc' is AGG_BY_REPLY_SRC). */
export const AGGREGATE_KEYS = [
  'family',
  'protocol',
  'src',
  'dst',
  'srcPort',
  'dstPort',
  'state',
  'mark',
  'zone',
  'status',
  'dnat',
  'snat',
  'replySrc',
] as const;

/** What ct.aggregate() can group entries by: a field of the entry ('src', 'dport', 'state', ...). */
export type AggregateKey = (typeof AGGREGATE_KEYS)[number];

/** @deprecated since 0.2.0: the port keys are named as the filter's fields, 'srcPort' and 'dstPort' (NFCT_DEP005). */
export type LegacyAggregateKey = 'sport' | 'dport';
const LEGACY_KEYS: Record<LegacyAggregateKey, AggregateKey> = { sport: 'srcPort', dport: 'dstPort' };

/** What groups are ranked by. */
export type AggregateSort = 'count' | 'packets' | 'bytes';
export const AGGREGATE_SORTS: readonly AggregateSort[] = ['count', 'packets', 'bytes'];

/** The native number of a sort ('packets' is AGG_SORT_PACKETS). */
export function sortNumber(sort: AggregateSort): number {
  return AggSort[`AGG_SORT_${sort.toUpperCase()}` as keyof typeof AggSort];
}

/** A group's value for each key; null where the key does not apply to its flows. */
export interface AggregateKeyValues {
  /** 'ipv4' or 'ipv6'. */
  family?: Family;
  /** The layer-4 protocol by name ('tcp'), or its number when it has none. */
  protocol?: string | number;
  /** Original source address (its prefix as CIDR text when options.prefix cuts it). */
  src?: string | null;
  /** Original destination address. */
  dst?: string | null;
  /** Original source port (TCP, UDP, SCTP, DCCP, UDP-Lite). */
  srcPort?: number | null;
  /** Original destination port. */
  dstPort?: number | null;
  /** @deprecated since 0.2.0: srcPort (present only when grouped by the old name 'sport'). */
  sport?: number | null;
  /** @deprecated since 0.2.0: dstPort (present only when grouped by the old name 'dport'). */
  dport?: number | null;
  /** Protocol state ('ESTABLISHED'), for TCP, SCTP and DCCP. */
  state?: string | null;
  /** The entries' mark. */
  mark?: number;
  /** The entries' conntrack zone. */
  zone?: number;
  /** Status bits set, by name (as conntrack prints them). */
  status?: StatusName[];
  /** Where the destination was rewritten to ('10.0.0.5:53', '[fd00::5]:53'); null: not destination-NATed. */
  dnat?: string | null;
  /** What the source was rewritten to; null: not source-NATed. */
  snat?: string | null;
  /** Who answers: the reply direction's source address. */
  replySrc?: string | null;
}

/** One group: its key values, how many entries, and their counters when accounting is on. */
export interface AggregateGroup {
  /** The values that define the group, one per key of `by`. */
  key: AggregateKeyValues;
  /** How many entries it holds. */
  count: number;
  /** Sums of the entries' counters; absent when none had any (nf_conntrack_acct=0). */
  counters?: {
    /** Packets and bytes from the initiator. */
    original: Counters;
    /** Packets and bytes from the responder. */
    reply: Counters;
  };
}

/** What ct.aggregate() found: the top groups, and the whole table's sums. */
export interface AggregateResult {
  /** The keys the entries were grouped by, in order. */
  by: AggregateKey[];
  /** What the groups are ranked by. */
  sort: AggregateSort;
  /** The top groups, best first (ties: more entries first, then by key). */
  groups: AggregateGroup[];
  /** Every matching entry, summed. */
  total: {
    /** Matching entries. */
    count: number;
    /** Their counters, summed; absent when none had any. */
    counters?: {
      /** Packets and bytes from the initiators. */
      original: Counters;
      /** Packets and bytes from the responders. */
      reply: Counters;
    };
  };
  /** How many distinct groups there were (groups.length is at most `top`). */
  groupCount: number;
}

/**
 * Options of ct.aggregate(): the keys, the ranking, and which entries (a FlowFilter's fields,
 * as list() takes them).
 */
export interface AggregateOptions extends FlowFilter {
  /** One key or several (a group per distinct combination). */
  by: AggregateKey | readonly AggregateKey[];
  /** How many groups to return, best first (default 10; 0: all). */
  top?: number;
  /** Rank by entries (default), or by packets or bytes of both directions (needs nf_conntrack_acct=1). */
  sort?: AggregateSort;
  /** Send the parts of the filter the kernel can apply (default true), as list(). */
  kernelFilter?: boolean;
  /**
   * Address keys grouped by prefix rather than by address: `{ src: { ipv4: 16, ipv6: 64 } }`
   * makes one group per IPv4 /16 and IPv6 /64 of the source, its value the prefix as CIDR
   * text ('10.1.0.0/16'). A family left out is grouped by whole addresses.
   */
  prefix?: Partial<Record<PrefixKey, AddressPrefix>>;
}

/** The keys that hold an address and can be cut at a prefix. */
export type PrefixKey = 'src' | 'dst' | 'replySrc';
const PREFIX_KEYS: readonly PrefixKey[] = ['src', 'dst', 'replySrc'];

/** Prefix lengths, per family. */
export interface AddressPrefix {
  /** The prefix length for IPv4 addresses (0-32). */
  ipv4?: number;
  /** The prefix length for IPv6 addresses (0-128). */
  ipv6?: number;
}

/**
 * @deprecated since 0.2.0 (NFCT_DEP004, NFCT_DEP005): the filter's fields go beside `by`, not in
 * `filter`, and the port keys are 'srcPort' and 'dstPort'. See AggregateOptions.
 */
export interface LegacyAggregateOptions {
  /** The key or keys to group by, as AggregateOptions.by (with the old port names allowed). */
  by: AggregateKey | LegacyAggregateKey | readonly (AggregateKey | LegacyAggregateKey)[];
  /** How many groups to give, the largest first, as AggregateOptions.top. */
  top?: number;
  /** What ranks the groups, as AggregateOptions.sort. */
  sort?: AggregateSort;
  /** Only the entries matching this filter. */
  filter?: FlowFilter;
  /** Whether the kernel applies the filter's fields it can, as AggregateOptions.kernelFilter. */
  kernelFilter?: boolean;
}

export interface NormalizedAggregate {
  keys: number[];
  by: AggregateKey[];
  sort: AggregateSort;
  top: number;
  /** The deprecated names asked for, by the key they stand for (their values are given under both). */
  aliases: Map<AggregateKey, LegacyAggregateKey>;
  /** The options without the aggregation's own: the filter, and kernelFilter. */
  filter: FlowFilter & { kernelFilter?: boolean };
  /** The prefix lengths of the keys cut at one, by key. */
  prefix: Partial<Record<PrefixKey, AddressPrefix>>;
}

const OWN_KEYS = ['by', 'top', 'sort', 'prefix'];

const { AGG_KEY_META, AGG_KEY_VALUE, AGG_KEY_WORDS, AGG_KEY_META_PRESENT, AGG_KEY_META_PORT } = AggKeyWord;
const { AGG_GROUP_COUNT, AGG_GROUP_COUNTERS, AGG_GROUP_FLAGS, AGG_GROUP_TAIL, AGG_MAX_KEYS } = AggGroupWord;

/** The native number of a key: 'replySrc' is AGG_BY_REPLY_SRC. */
function keyNumber(key: AggregateKey): number {
  return AggKey[`AGG_BY_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}` as keyof typeof AggKey];
}

/**
 * Checks aggregate()'s options (both forms); the filter part is checked by the caller
 * (normalizeFilter) with `kernelFilter` beside it.
 */
export function normalizeAggregate(options: AggregateOptions | LegacyAggregateOptions,
  where: string): NormalizedAggregate
{
  const raw: unknown = options;
  assertObject(raw, `${where} options`);
  let source: Record<string, unknown> = raw;
  if (Object.hasOwn(raw, 'filter')) {
    deprecated('NFCT_DEP004',
      "aggregate({ filter }) is deprecated: put the filter's fields beside `by` (aggregate({ by, ...filter }))");
    const { filter, ...rest } = raw;
    // Checked where the caller wrote it, then merged into the one-object form.
    if (filter !== undefined) normalizeFilter(filter as FlowFilter, `${where} options.filter`);
    const inner = (filter ?? {}) as Record<string, unknown>;
    assertKnownKeys(rest, [...OWN_KEYS, 'kernelFilter'], `${where} options`);
    source = { ...inner, ...rest };
  }
  if (source.by === undefined) {
    throw new TypeError(`${where} options.by is required (one of ${AGGREGATE_KEYS.join(', ')})`);
  }
  const asked = [...list(source.by as AggregateKey | readonly AggregateKey[], `${where} options.by`)] as string[];
  // list() has refused an empty array.
  if (asked.length > AGG_MAX_KEYS) {
    throw new RangeError(`${where} options.by must name at most ${AGG_MAX_KEYS} keys, got ${asked.length}`);
  }
  const aliases = new Map<AggregateKey, LegacyAggregateKey>();
  const by = asked.map((k, i): AggregateKey => {
    if (Object.hasOwn(LEGACY_KEYS, k)) {
      deprecated('NFCT_DEP005',
        `aggregate() key '${k}' is deprecated: the port keys are named as the filter's fields, 'srcPort' and 'dstPort'`);
      const key = LEGACY_KEYS[k as LegacyAggregateKey];
      aliases.set(key, k as LegacyAggregateKey);
      return key;
    }
    if (!(AGGREGATE_KEYS as readonly string[]).includes(k)) {
      throw new TypeError(
        `${where} options.by[${i}] must be one of ${AGGREGATE_KEYS.join(', ')}, got ${describeValue(k)}`,
      );
    }
    return k as AggregateKey;
  });
  if (new Set(by).size !== by.length) throw new TypeError(`${where} options.by names a key twice`);
  const top = optionalInteger(source.top, `${where} options.top`, 0, 0x7fffffff) ?? 10;
  const sort = (source.sort ?? 'count') as AggregateSort;
  if (!AGGREGATE_SORTS.includes(sort)) {
    throw new TypeError(
      `${where} options.sort must be one of ${AGGREGATE_SORTS.join(', ')}, got ${describeValue(sort)}`,
    );
  }
  const filter: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(source)) if (!OWN_KEYS.includes(k)) filter[k] = v;
  const keys = by.map(keyNumber);
  const prefix = normalizePrefix(source.prefix, by, `${where} options.prefix`);
  for (const [i, k] of by.entries()) {
    const p = prefix[k as PrefixKey];
    if (p) {
      keys[i] = keys[i]! | (p.ipv4 !== undefined ? (p.ipv4 + 1) << AggKey.AGG_BY_PREFIX4 : 0) |
        (p.ipv6 !== undefined ? (p.ipv6 + 1) << AggKey.AGG_BY_PREFIX6 : 0);
    }
  }
  return { keys, by, sort, top, aliases, prefix, filter: filter };
}

function normalizePrefix(value: unknown, by: readonly AggregateKey[],
  where: string): Partial<Record<PrefixKey, AddressPrefix>>
{
  if (value === undefined) return {};
  assertObject(value, where);
  assertKnownKeys(value, PREFIX_KEYS, where);
  const out: Partial<Record<PrefixKey, AddressPrefix>> = {};
  for (const [k, v] of Object.entries(value) as [PrefixKey, unknown][]) {
    if (v === undefined) continue;
    if (!by.includes(k)) throw new TypeError(`${where}.${k} is given but ${k} is not a key of options.by`);
    assertObject(v, `${where}.${k}`);
    assertKnownKeys(v, ['ipv4', 'ipv6'], `${where}.${k}`);
    const p: AddressPrefix = {};
    const ipv4 = optionalInteger((v as AddressPrefix).ipv4, `${where}.${k}.ipv4`, 0, 32);
    const ipv6 = optionalInteger((v as AddressPrefix).ipv6, `${where}.${k}.ipv6`, 0, 128);
    if (ipv4 !== undefined) p.ipv4 = ipv4;
    if (ipv6 !== undefined) p.ipv6 = ipv6;
    out[k] = p;
  }
  return out;
}

function withPort(text: string, family: number, port: number | undefined): string {
  if (port === undefined) return text;
  return family === AF_INET6 ? `[${text}]:${port}` : `${text}:${port}`;
}

function stateName(value: number): string {
  const proto = value & 0xff;
  const state = value >>> 8;
  const names: readonly string[] = proto === PROTOCOLS.tcp
    ? TCP_STATES
    : proto === PROTOCOLS.sctp
    ? SCTP_STATES
    : DCCP_STATES;
  return names[state] ?? String(state);
}

function statusNames(bits: number): StatusName[] {
  return STATUS_NAMES.filter((_, i) => (bits & (1 << i)) !== 0);
}

function keyValue(key: AggregateKey, w: Uint32Array, at: number, text: string,
  prefix?: AddressPrefix): AggregateKeyValues[AggregateKey]
{
  const meta = w[at + AGG_KEY_META]!;
  const value = w[at + AGG_KEY_VALUE]!;
  const present = (meta & AGG_KEY_META_PRESENT) !== 0;
  const family = (meta >>> 8) & 0xff;
  if (!present) return null;
  switch (key) {
    case 'family':
      return value === AF_INET6 ? 'ipv6' : 'ipv4';
    case 'protocol': {
      const name = protocolName(value);
      return name === 'unknown' ? value : name;
    }
    case 'src':
    case 'dst':
    case 'replySrc': {
      const len = prefix?.[family === AF_INET6 ? 'ipv6' : 'ipv4'];
      return len === undefined ? text : `${text}/${len}`;
    }
    case 'srcPort':
    case 'dstPort':
    case 'mark':
    case 'zone':
      return value;
    case 'state':
      return stateName(value);
    case 'status':
      return statusNames(value);
    case 'dnat':
    case 'snat':
      return withPort(text, family, (meta & AGG_KEY_META_PORT) !== 0 ? value : undefined);
  }
}

function counters(w: Uint32Array, at: number): { original: Counters; reply: Counters } | undefined {
  if ((w[at + AGG_GROUP_FLAGS]! & AggGroupFlags.AGG_GROUP_HAS_COUNTERS) === 0) return undefined;
  const u64 = (i: number): number =>
    w[at + AGG_GROUP_COUNTERS + 2 * i]! + w[at + AGG_GROUP_COUNTERS + 1 + 2 * i]! * 2 ** 32;
  return { original: { packets: u64(0), bytes: u64(1) }, reply: { packets: u64(2), bytes: u64(3) } };
}

/** Decodes the final batch of an aggregation: the total, then the groups. */
export function decodeGroups(n: NormalizedAggregate, buffer: ArrayBuffer, strings: string, count: number,
  groupCount: number): AggregateResult
{
  const w = new Uint32Array(buffer);
  const size = n.keys.length * AGG_KEY_WORDS + AGG_GROUP_TAIL;
  const texts = strings.split('\0');
  const groups: AggregateGroup[] = [];
  let total: AggregateResult['total'] = { count: 0 };
  for (let r = 0; r < count; r++) {
    const base = r * size;
    const tail = base + n.keys.length * AGG_KEY_WORDS;
    const c = counters(w, tail);
    if (r === 0) {
      total = c ? { count: w[tail + AGG_GROUP_COUNT]!, counters: c } : { count: w[tail + AGG_GROUP_COUNT]! };
      continue;
    }
    const key: Record<string, unknown> = {};
    n.by.forEach((k, i) => {
      key[k] = keyValue(k, w, base + i * AGG_KEY_WORDS, texts[r * n.keys.length + i] ?? '', n.prefix[k as PrefixKey]);
      const alias = n.aliases.get(k);
      if (alias) key[alias] = key[k];
    });
    const g: AggregateGroup = { key: key, count: w[tail + AGG_GROUP_COUNT]! };
    if (c) g.counters = c;
    groups.push(g);
  }
  return { by: n.by, sort: n.sort, groups, total, groupCount };
}

/** A group's key values as short text, one per key ('10.0.0.1', 'tcp', 'ASSURED,CONFIRMED'; '-' where a key does not apply). */
export function keyTexts(key: AggregateKeyValues, by: readonly string[]): string[] {
  return by.map((k) => {
    const v = (key as Record<string, AggregateKeyValues[keyof AggregateKeyValues]>)[k];
    if (v === null || v === undefined) return '-';
    if (Array.isArray(v)) return v.length > 0 ? v.join(',') : '-';
    return String(v);
  });
}
