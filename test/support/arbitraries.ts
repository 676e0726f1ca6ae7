// fast-check arbitraries shared by test/core/properties.unit.test.ts and test/core/fuzz.unit.test.ts:
// wrong values of every kind, addresses in all their spellings, and netlink messages built
// attribute by attribute.
import { isIPv4, isIPv6, SocketAddress } from 'node:net';

import fc from 'fast-check';

// ---- run control -----------------------------------------------------------------------------

/**
 * Every property runs with a fixed seed (FC_SEED overrides it to explore; a failure prints the
 * seed and path to replay) and a bounded number of runs (FC_RUNS scales them all).
 */
export const SEED = Number(process.env.FC_SEED ?? 0x6e6663);
const SCALE = Number(process.env.FC_RUNS ?? 1);

export function params(numRuns: number): fc.Parameters<unknown> {
  return { seed: SEED, numRuns: Math.max(1, Math.round(numRuns * SCALE)),
    plugins: [() => ({ onAllRunsComplete: report })] };
}

/** fast-check's report, with the 1 MiB values it may hold cut down to a readable size. */
function report(out: fc.RunDetails<unknown>): void {
  if (!out.failed) return;
  const text = fc.defaultReportMessage(out) ?? 'property failed';
  const err = new Error(text.replace(/[^\n]{2000,}/g, (l) => `${l.slice(0, 1000)}… (${l.length} characters)`));
  if (out.errorInstance instanceof Error) {
    err.cause = out.errorInstance;
    err.stack = `${err.message}\n${(out.errorInstance.stack ?? '').slice(0, 4000)}`;
  }
  throw err;
}

// ---- wrong values ----------------------------------------------------------------------------

export type ErrorClass = typeof TypeError | typeof RangeError;
/** A value an option must refuse, and the class of the error it must refuse it with. */
export type Bad = readonly [value: unknown, error: ErrorClass];

/** Keys (and values) that name Object.prototype members. */
export const PROTO_KEYS = [
  '__proto__',
  'constructor',
  'toString',
  'valueOf',
  'hasOwnProperty',
  'isPrototypeOf',
  'prototype',
  '__defineGetter__',
  'propertyIsEnumerable',
  'toLocaleString',
] as const;

export const MB = 1 << 20;
/** Strings of 1 MiB, made of characters that parsers treat specially. */
export const hugeString: fc.Arbitrary<string> = fc
  .constantFrom('a', '1', '.', ':', '/', ' ', '9.', 'ff:', '\u00e9', '\0', 'IN= ', 'OPT (x) ', '[SRC=')
  .map((c) => c.repeat(Math.ceil(MB / c.length)));

/** An object whose own enumerable keys include a prototype-ish one ('__proto__' as data). */
export function withOwnKey(base: Record<string, unknown>, key: string, value: unknown): Record<string, unknown> {
  const o: Record<string, unknown> = { ...base };
  Object.defineProperty(o, key, { value, enumerable: true, configurable: true, writable: true });
  return o;
}

const protoObject: fc.Arbitrary<unknown> = fc
  .tuple(fc.constantFrom(...PROTO_KEYS), fc.anything({ maxDepth: 1 }))
  .map(([k, v]) => withOwnKey({}, k, v));

/** Anything at all, weighted towards the values validators get wrong. */
export const junk: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(null),
  fc.constant(undefined),
  fc.boolean(),
  fc.integer(),
  fc.double(),
  fc.constantFrom(Number.NaN, Infinity, -Infinity, -0, 2 ** 32, 2 ** 53, -(2 ** 53), 1e300, Number.MIN_VALUE),
  fc.bigInt(),
  fc.string({ maxLength: 24 }),
  fc.string({ maxLength: 12, unit: 'binary' }),
  fc.constantFrom<unknown>(...PROTO_KEYS, '', ' ', '0', '1', '-1', '1.5', '0x10', 'true', 'null', 'undefined',
    '[object Object]'),
  hugeString,
  fc.constant(Symbol('junk')),
  fc.constant(() => 1),
  fc.constant(class Junk {
    readonly junk = true;
  }),
  fc.array(fc.anything({ maxDepth: 1 }), { maxLength: 3 }),
  fc.anything({ maxDepth: 2 }),
  fc.constantFrom<unknown>(new Date(0), new Map([[1, 2]]), new Set([1]), /re/, Buffer.from([1, 2]), new Uint8Array(4),
    Object.create(null), new Error('x'), Promise.resolve(1), new AbortController()),
  protoObject,
  // objects that break coercion: a validator must never turn input into a string or number
  fc.constantFrom<unknown>(
    Object.create(null),
    { toString: false },
    { toString: () => ({}) },
    { toString() {
      throw new Error('junk: toString() called');
    } },
    { valueOf() {
      throw new Error('junk: valueOf() called');
    } },
    { [Symbol.toPrimitive]() {
      throw new Error('junk: Symbol.toPrimitive called');
    } },
    [Object.create(null)],
  ),
);

export const typeErr = (a: fc.Arbitrary<unknown>): fc.Arbitrary<Bad> => a.map((v) => [v, TypeError] as const);
export const rangeErr = (a: fc.Arbitrary<unknown>): fc.Arbitrary<Bad> => a.map((v) => [v, RangeError] as const);

/** Integers outside [min, max] (safe integers, plus a few beyond). */
export function outOfRange(min: number, max: number): fc.Arbitrary<number> {
  const arbs: fc.Arbitrary<number>[] = [fc.constantFrom(min - 1, max + 1, 1e300, -1e300, 2 ** 53, -(2 ** 53))];
  if (min > Number.MIN_SAFE_INTEGER) arbs.push(fc.integer({ min: Number.MIN_SAFE_INTEGER, max: min - 1 }));
  if (max < Number.MAX_SAFE_INTEGER) arbs.push(fc.integer({ min: max + 1, max: Number.MAX_SAFE_INTEGER }));
  return fc.oneof(...arbs).filter((n) => n < min || n > max);
}

/** Numbers that are not integers. */
export const nonInteger: fc.Arbitrary<number> = fc.oneof(
  fc.double({ noInteger: true }),
  fc.constantFrom(Number.NaN, Infinity, -Infinity, 0.5, -0.5, 1.0000001, 65535.5, Number.EPSILON),
);

export interface BadOptions {
  /** undefined is refused too (the option is required). */
  required?: boolean;
  /** null is taken as "not given" (a known inconsistency, see properties.test.ts): not generated. */
  nullAllowed?: boolean;
}

function notGiven(v: unknown, o: BadOptions): boolean {
  return (v === undefined && !o.required) || (v === null && o.nullAllowed === true);
}

/** Wrong values for an integer option of [min, max]. */
export function badInteger(min: number, max: number, o: BadOptions = {}): fc.Arbitrary<Bad> {
  return fc.oneof(
    typeErr(junk.filter((v) => typeof v !== 'number' && !notGiven(v, o))),
    typeErr(nonInteger),
    rangeErr(outOfRange(min, max)),
  );
}

/** Wrong values for a boolean option. */
export function badBoolean(o: BadOptions = {}): fc.Arbitrary<Bad> {
  return typeErr(junk.filter((v) => typeof v !== 'boolean' && !notGiven(v, o)));
}

/** Wrong values for a string option of a fixed set. */
export function badEnum(valid: readonly string[],
  o: BadOptions & { caseInsensitive?: boolean; numbersOk?: boolean } = {}): fc.Arbitrary<Bad>
{
  const ok = (v: unknown): boolean =>
    typeof v === 'string' &&
    (o.caseInsensitive ? valid.some((x) => x.toUpperCase() === v.toUpperCase()) : valid.includes(v));
  const variants = valid.flatMap((
    v,
  ) => [v.toUpperCase(), v.toLowerCase(), `${v} `, ` ${v}`, `${v}\0`, `${v}s`, v.slice(1), `${v}${v}`]);
  return typeErr(
    fc
      .oneof(junk, fc.constantFrom(...variants), fc.string({ maxLength: 10 }))
      .filter((v) => !ok(v) && !notGiven(v, o) && !(o.numbersOk && typeof v === 'number')),
  );
}

/** Wrong values for an AbortSignal option. */
export const badSignal: fc.Arbitrary<Bad> = typeErr(
  fc.oneof(junk, fc.constant({ aborted: false, addEventListener() {} }), fc.constant(new EventTarget())).filter((v) =>
    v !== undefined && !(v instanceof AbortSignal)
  ),
);

/** Values that are not plain objects (arrays and null included). */
export function badObject(o: BadOptions = {}): fc.Arbitrary<Bad> {
  return typeErr(junk.filter((v) => (v === null || typeof v !== 'object' || Array.isArray(v)) && !notGiven(v, o)));
}

// ---- addresses -------------------------------------------------------------------------------

/** What the library takes for an address (node's own parser is the oracle; no zone ids). */
export function isAddress(s: string): boolean {
  return isIPv4(s) || (isIPv6(s) && !s.includes('%'));
}

/** An address with an optional /prefix, as the filters take it. */
export function isCidr(s: string): boolean {
  const slash = s.indexOf('/');
  if (slash < 0) return isAddress(s);
  const a = s.slice(0, slash);
  const p = s.slice(slash + 1);
  if (!isAddress(a) || !/^(0|[1-9]\d{0,2})$/.test(p)) return false;
  return Number(p) <= (isIPv4(a) ? 32 : 128);
}

const octet = fc.integer({ min: 0, max: 255 });
const bigOctet = fc.oneof(fc.integer({ min: 256, max: 100000 }), fc.constantFrom(-1, 1e10));
const group = fc.integer({ min: 0, max: 0xffff }).map((n) => n.toString(16));

/** Strings that look like addresses and are not. */
export const malformedAddress: fc.Arbitrary<string> = fc.oneof(
  // IPv4 with a bad part, too few or too many parts, leading zeros, signs, spaces
  fc.tuple(octet, octet, octet, bigOctet, fc.nat(3)).map(([a, b, c, d, i]) => {
    const p = [a, b, c];
    p.splice(i, 0, d);
    return p.join('.');
  }),
  fc.array(octet, { minLength: 1, maxLength: 3 }).map((p) => p.join('.')),
  fc.array(octet, { minLength: 5, maxLength: 6 }).map((p) => p.join('.')),
  fc.tuple(octet, octet, octet, octet).map(([a, b, c, d]) => `0${a}.${b}.${c}.${d}`),
  fc.tuple(octet, octet, octet, octet, fc.constantFrom(' ', '\n', '\t', '.', '+', 'x', '/')).map(([a, b, c, d, s]) =>
    `${a}.${b}.${c}.${d}${s}`
  ),
  fc.tuple(octet, octet, octet, octet).map(([a, b, c, d]) => `${a}.${b}.${c}.-${d}`),
  fc.tuple(octet, octet, octet).map(([a, b, c]) => `${a}.${b}..${c}`),
  // IPv6 with too many groups, two '::', a group of 5 digits, a bad character, a zone id
  fc.array(group, { minLength: 9, maxLength: 10 }).map((g) => g.join(':')),
  fc.array(group, { minLength: 1, maxLength: 7 }).map((g) => g.join(':')),
  fc.tuple(group, group, group).map(([a, b, c]) => `${a}::${b}::${c}`),
  fc.tuple(group, fc.integer({ min: 0x10000, max: 0xfffff })).map(([a, b]) => `${a}::${b.toString(16)}`),
  fc.tuple(group, fc.constantFrom('g', 'z', ' ', '-', '_', ':::')).map(([a, c]) => `${a}::${c}1`),
  fc.tuple(group, fc.constantFrom('%lo', '%eth0', '%1')).map(([a, z]) => `fe80::${a}${z}`),
  fc.tuple(group, octet, octet, octet, bigOctet).map(([a, b, c, d, e]) => `::${a}:${b}.${c}.${d}.${e}`),
  fc.tuple(octet, octet, octet, octet).map(([a, b, c, d]) => `${a}.${b}.${c}.${d}::1`),
  fc.constantFrom('', ' ', ':', ':::', '::g', '[::1]', 'localhost', '0x7f.0.0.1', '1e1.0.0.1', '127.1', '::ffff:1.2.3',
    '1::2::', '1.2.3.4/', 'ÿ.0.0.1', '١.٢.٣.٤'),
  fc.string({ maxLength: 16 }),
  hugeString,
).filter((s) => !isAddress(s));

/** Strings that are not an address/prefix. */
export const malformedCidr: fc.Arbitrary<string> = fc.oneof(
  malformedAddress,
  fc.tuple(octet, octet, octet, octet,
    fc.oneof(fc.integer({ min: 33, max: 99999 }).map(String),
      fc.constantFrom('', '-1', '01', '1.5', ' 8', '8 ', '0x8', '+8', '8/8', 'a'))).map(
      ([a, b, c, d, p]) => `${a}.${b}.${c}.${d}/${p}`,
    ),
  fc.tuple(group,
    fc.oneof(fc.integer({ min: 129, max: 99999 }).map(String), fc.constantFrom('', '-1', '064', '1e2', '64 '))).map((
      [a, p],
    ) => `${a}::/${p}`),
).filter((s) => !isCidr(s));

/** Wrong values for an address option: non-strings and malformed strings. */
export function badAddress(o: BadOptions & { cidr?: boolean } = {}): fc.Arbitrary<Bad> {
  return typeErr(
    fc
      .oneof(junk.filter((v) => typeof v !== 'string'), o.cidr ? malformedCidr : malformedAddress)
      .filter((v) => !notGiven(v, o)),
  );
}

/** An IPv4 address: its bytes and one way of writing it. */
export const ipv4: fc.Arbitrary<{ bytes: number[]; text: string }> = fc
  .array(octet, { minLength: 4, maxLength: 4 })
  .map((bytes) => ({ bytes, text: bytes.join('.') }));

/**
 * An IPv6 address: its bytes, and one of its spellings (full, zero-padded, RFC 5952 as node
 * writes it, upper case, with a dotted IPv4 tail). Groups lean to 0 so '::' runs occur.
 */
export const ipv6: fc.Arbitrary<{ bytes: number[]; text: string }> = fc
  .tuple(
    fc.array(fc.oneof(fc.constant(0), fc.constant(0xffff), fc.integer({ min: 0, max: 0xffff })), { minLength: 8,
      maxLength: 8 }),
    fc.constantFrom('full', 'padded', 'canonical', 'upper', 'dotted', 'dotted-canonical'),
  )
  .map(([groups, form]) => {
    const bytes = groups.flatMap((g) => [g >> 8, g & 0xff]);
    const full = groups.map((g) => g.toString(16)).join(':');
    const canonical = new SocketAddress({ address: full, family: 'ipv6' }).address;
    const dotted = (head: string): string => `${head}${bytes.slice(12).join('.')}`;
    let text: string;
    switch (form) {
      case 'full':
        text = full;
        break;
      case 'padded':
        text = groups.map((g) => g.toString(16).padStart(4, '0')).join(':');
        break;
      case 'canonical':
        text = canonical;
        break;
      case 'upper':
        text = canonical.toUpperCase();
        break;
      case 'dotted':
        text = dotted(`${groups.slice(0, 6).map((g) => g.toString(16)).join(':')}:`);
        break;
      default: {
        // compress the first six groups as node would, then the dotted tail
        const head =
          new SocketAddress({ address: `${groups.slice(0, 6).map((g) => g.toString(16)).join(':')}:0:0`,
            family: 'ipv6' }).address;
        const h = head.endsWith('::') ? head : head.replace(/:0:0$/, ':');
        text = dotted(h.endsWith(':') ? h : `${h}:`);
      }
    }
    return { bytes, text };
  })
  .filter(({ text }) => isIPv6(text));

export const address: fc.Arbitrary<{ bytes: number[]; text: string; v6: boolean }> = fc.oneof(
  ipv4.map((a) => ({ ...a, v6: false })),
  ipv6.map((a) => ({ ...a, v6: true })),
);

// ---- netlink messages ------------------------------------------------------------------------

/** A netlink attribute: scalar bytes or nested attributes, with optional damage. */
export interface Attr {
  type: number;
  /** NLA_F_NESTED / NLA_F_NET_BYTEORDER bits over the type. */
  flags: number;
  body: Uint8Array | Attr[];
  /** Added to the encoded nla_len (negative: shorter than the payload; positive: overlong). */
  lenDelta: number;
  /** Leave out the alignment padding after this attribute. */
  noPad: boolean;
}

export function encodeAttrs(attrs: readonly Attr[]): Buffer {
  return Buffer.concat(attrs.map(encodeAttr));
}

export function encodeAttr(a: Attr): Buffer {
  const payload = Array.isArray(a.body) ? encodeAttrs(a.body) : Buffer.from(a.body);
  const len = 4 + payload.length;
  const h = Buffer.alloc(4);
  h.writeUInt16LE(Math.max(0, Math.min(0xffff, len + a.lenDelta)), 0);
  h.writeUInt16LE(((a.type & 0x3fff) | a.flags) & 0xffff, 2);
  const pad = a.noPad ? 0 : (4 - (len % 4)) % 4;
  return Buffer.concat([h, payload, Buffer.alloc(pad)]);
}

/** How the attributes of one level are laid out: type -> what is nested below it. */
export interface Schema {
  [type: number]: Schema | 'scalar';
}

const scalarLengths = [0, 1, 2, 3, 4, 5, 7, 8, 12, 15, 16, 17, 20, 40];

/** Scalar payloads: typical lengths (u8, be16, be32, be64, 16-byte addresses, strings) and random ones. */
export const scalar: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 4,
    arbitrary: fc.constantFrom(...scalarLengths).chain((n) => fc.uint8Array({ minLength: n, maxLength: n })) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }) },
  { weight: 1, arbitrary: fc.string({ maxLength: 20 }).map((s) => new Uint8Array(Buffer.from(`${s}\0`))) },
  { weight: 1, arbitrary: fc.string({ minLength: 1, maxLength: 20 }).map((s) => new Uint8Array(Buffer.from(s))) }, // no NUL
);

const damage = fc.oneof(
  { weight: 12, arbitrary: fc.constant({ lenDelta: 0, noPad: false }) },
  { weight: 1, arbitrary: fc.record({ lenDelta: fc.integer({ min: -8, max: 64 }), noPad: fc.boolean() }) },
  { weight: 1, arbitrary: fc.constant({ lenDelta: -4, noPad: false }) }, // nla_len 0..3
  { weight: 1, arbitrary: fc.constant({ lenDelta: 0xffff, noPad: false }) }, // overlong
);

/**
 * Attributes shaped by a schema, so the decoders' deep paths are reached: each level holds
 * attributes of the types the schema names (nested where it nests), plus unknown types,
 * empty, truncated and overlong ones, and scalars where nests are expected (and vice versa).
 */
export function attrsOf(schema: Schema, depth = 0, maxAttrs = 8): fc.Arbitrary<Attr[]> {
  const types = Object.keys(schema).map(Number);
  const known: fc.Arbitrary<number> = types.length > 0 ? fc.constantFrom(...types) : fc.integer({ min: 0, max: 31 });
  const one: fc.Arbitrary<Attr> = fc
    .tuple(
      fc.oneof({ weight: 6, arbitrary: known }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 40 }) }, { weight: 1,
        arbitrary: fc.integer({ min: 0, max: 0x3fff }) }),
      fc.oneof({ weight: 8, arbitrary: fc.constant(0) }, { weight: 1,
        arbitrary: fc.constantFrom(0x8000, 0x4000, 0xc000) }),
      damage,
      fc.nat(9),
    )
    .chain(([type, flags, d, roll]) => {
      const sub = schema[type];
      const nested = typeof sub === 'object' && depth < 5;
      // mostly the shape the schema expects; sometimes the other one
      const asNest = nested ? roll !== 0 : roll === 0 && depth < 3;
      const body: fc.Arbitrary<Uint8Array | Attr[]> = asNest
        ? attrsOf(nested ? sub : {}, depth + 1, Math.max(2, maxAttrs - 2))
        : scalar;
      return body.map((b): Attr => ({ type, flags, body: b, ...d }));
    });
  return fc.array(one, { maxLength: maxAttrs });
}

export interface NlMessage {
  type: number;
  flags: number;
  family: number;
  resId: number;
  attrs: Attr[];
  /** Added to nlmsg_len. */
  lenDelta: number;
  /** Bytes after the message (another message's start, garbage). */
  trailer: Uint8Array;
  /** Cut the encoded message to this many bytes (undefined: whole). */
  cut: number | undefined;
  /**
   * Make nlmsg_len the length of the (cut) buffer, at least a bare nlmsghdr: the decoder is
   * handed exactly the bytes the header claims, however few.
   */
  fit: boolean;
}

export function encodeMessage(m: NlMessage): Buffer {
  const attrs = encodeAttrs(m.attrs);
  const nfg = Buffer.alloc(4);
  nfg[0] = m.family & 0xff;
  nfg[1] = 0;
  nfg.writeUInt16BE(m.resId & 0xffff, 2);
  const len = 16 + 4 + attrs.length;
  const h = Buffer.alloc(16);
  h.writeUInt32LE(Math.max(0, len + m.lenDelta) >>> 0, 0);
  h.writeUInt16LE(m.type & 0xffff, 4);
  h.writeUInt16LE(m.flags & 0xffff, 6);
  h.writeUInt32LE(1, 8);
  h.writeUInt32LE(0, 12);
  const whole = Buffer.concat([h, nfg, attrs, Buffer.from(m.trailer)]);
  const out = m.cut === undefined ? whole : whole.subarray(0, m.fit ? Math.max(16, m.cut) : m.cut);
  if (m.fit) out.writeUInt32LE(out.length, 0);
  return out;
}

/** Netlink messages of the given nlmsg_type(s), attributes shaped by the schema. */
export function message(types: readonly number[], schema: Schema): fc.Arbitrary<NlMessage> {
  return fc.record({
    type: fc.oneof({ weight: 10, arbitrary: fc.constantFrom(...types) }, { weight: 1,
      arbitrary: fc.integer({ min: 0, max: 0xffff }) }),
    flags: fc.oneof(fc.constant(0), fc.constantFrom(0x2, 0x10, 0x200, 0x400, 0x600),
      fc.integer({ min: 0, max: 0xffff })),
    family: fc.oneof(fc.constantFrom(0, 1, 2, 3, 5, 7, 10), fc.integer({ min: 0, max: 255 })),
    resId: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff })),
    attrs: attrsOf(schema),
    lenDelta: fc.oneof({ weight: 10, arbitrary: fc.constant(0) }, { weight: 1,
      arbitrary: fc.integer({ min: -24, max: 16 }) }),
    trailer: fc.oneof({ weight: 6, arbitrary: fc.constant(new Uint8Array(0)) }, { weight: 1,
      arbitrary: fc.uint8Array({ maxLength: 40 }) }),
    cut: fc.oneof({ weight: 8, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.nat(64) }),
    fit: fc.boolean(),
  });
}

// Attribute layouts of the messages the decoders read (linux/netfilter/nfnetlink_*.h).
const S = 'scalar' as const;
const ctTuple: Schema = {
  1: { 1: S, 2: S, 3: S, 4: S }, // CTA_TUPLE_IP: V4_SRC, V4_DST, V6_SRC, V6_DST
  2: { 1: S, 2: S, 3: S, 4: S, 5: S, 6: S, 7: S, 8: S, 9: S }, // CTA_TUPLE_PROTO: NUM, ports, ICMP(v6) id/type/code
  3: S, // CTA_TUPLE_ZONE
};
/** Top-level ctnetlink attributes (also the NFULA_CT nest of an NFLOG packet). */
export const CT_SCHEMA: Schema = {
  1: ctTuple,
  2: ctTuple,
  3: S,
  4: { 1: { 1: S, 2: S, 3: S, 4: S, 5: S }, 2: { 1: S, 2: S, 3: S }, 3: { 1: S, 2: S, 3: S } }, // PROTOINFO: TCP, DCCP, SCTP
  5: { 1: S, 2: S }, // HELP
  6: { 1: S, 2: S, 3: S }, // NAT_SRC
  7: S,
  8: S,
  9: { 1: S, 2: S, 3: S, 4: S }, // COUNTERS_ORIG
  10: { 1: S, 2: S, 3: S, 4: S },
  11: S,
  12: S,
  13: { 1: S, 2: S, 3: S },
  14: ctTuple, // TUPLE_MASTER
  15: { 1: S, 2: S, 3: S }, // SEQ_ADJ_ORIG
  16: { 1: S, 2: S, 3: S },
  17: S,
  18: S,
  19: { 1: S }, // SECCTX
  20: { 1: S, 2: S }, // TIMESTAMP
  21: S,
  22: S, // LABELS
  23: S,
  24: { 1: S, 2: S, 3: S }, // SYNPROXY
  25: S,
  26: S,
  27: S, // TIMESTAMP_EVENT
};
export const EXPECT_SCHEMA: Schema = {
  1: ctTuple, // MASTER
  2: ctTuple, // TUPLE
  3: ctTuple, // MASK
  4: S,
  5: S,
  6: S, // HELP_NAME
  7: S,
  8: S,
  9: S,
  10: { 1: S, 2: ctTuple }, // NAT: DIR, TUPLE
  11: S, // FN
};
export const PACKET_SCHEMA: Schema = {
  1: S, // PACKET_HDR
  2: S,
  3: S, // TIMESTAMP
  4: S,
  5: S,
  6: S,
  7: S,
  8: S, // HWADDR
  9: S, // PAYLOAD
  10: S, // PREFIX
  11: S,
  12: S,
  13: S,
  14: S,
  15: S,
  16: S,
  17: S,
  18: CT_SCHEMA, // CT
  19: S,
  20: { 1: S, 2: S }, // VLAN
  21: S, // L2HDR
};
export const TRACE_SCHEMA: Schema = {
  1: S, // TABLE
  2: S, // CHAIN
  3: S, // RULE_HANDLE
  4: S, // TYPE
  5: { 1: S, 2: S, 3: S }, // VERDICT: CODE, CHAIN, CHAIN_ID
  6: S, // ID
  7: S,
  8: S, // NETWORK_HEADER
  9: S,
  10: S,
  11: S,
  12: S,
  13: S,
  14: S,
  15: S, // NFPROTO
  16: S, // POLICY
  17: S,
};

/** nlmsg_type of each kind: subsystem << 8 | message. */
export const MSG_TYPES = {
  flow: [(1 << 8) | 0, (1 << 8) | 2],
  expect: [(2 << 8) | 0, (2 << 8) | 2],
  packet: [(4 << 8) | 0],
  // NFT_MSG_TRACE is 17 in enum nf_tables_msg_types (25 is NFT_MSG_MAX: ignored by the decoder)
  trace: [(10 << 8) | 17, (10 << 8) | 17, (10 << 8) | 25],
} as const;

export const SCHEMAS = { flow: CT_SCHEMA, expect: EXPECT_SCHEMA, packet: PACKET_SCHEMA, trace: TRACE_SCHEMA } as const;

// ---- nftables trace messages that libnftnl accepts ---------------------------------------------

/**
 * libnftnl's nftnl_trace_nlmsg_parse() ends the whole process (exit(1), "nf_tables kernel ABI is
 * broken") on a trace message without NFTA_TRACE_ID or NFTA_TRACE_TYPE, or with an attribute
 * of the wrong size, an empty string, a verdict without a code, a jump without a chain. So the
 * trace decoder is fuzzed in this process only with messages that satisfy those checks (the
 * rest of it is fuzzed in a child process: see fuzz.test.ts). Strings are NUL-terminated here:
 * libnftnl strdup()s them without a bound.
 */
function fixed(type: number, n: number): fc.Arbitrary<Attr> {
  return fc.uint8Array({ minLength: n, maxLength: n }).map((b) => plain(type, b));
}

export function plain(type: number, body: Uint8Array | Attr[]): Attr {
  return { type, flags: 0, body, lenDelta: 0, noPad: false };
}

const be32 = (n: number): Uint8Array => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0, 0);
  return new Uint8Array(b);
};
const cstr = fc.string({ maxLength: 40 }).map((s) => new Uint8Array(Buffer.from(`${s}\0`)));

const verdict: fc.Arbitrary<Attr> = fc
  .tuple(
    fc.oneof(fc.constantFrom(0, 1, 2, 3, 4, 5, -1, -2, -3, -4, -5), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 })),
    fc.option(cstr, { nil: undefined }),
    fc.array(fc.tuple(fc.integer({ min: 3, max: 30 }), fc.uint8Array({ maxLength: 12 })), { maxLength: 2 }),
    fc.boolean(),
  )
  .map(([code, chain, extra, chainFirst]) => {
    const attrs: Attr[] = [plain(1, be32(code))];
    const jump = code === -3 || code === -4;
    const c = chain ?? (jump ? new Uint8Array(Buffer.from('target\0')) : undefined);
    if (c) attrs[chainFirst ? 'unshift' : 'push'](plain(2, c));
    for (const [t, b] of extra) attrs.push(plain(t === 1 || t === 2 ? t + 10 : t, b));
    return plain(5, attrs);
  });

export interface TraceMessage {
  bytes: Buffer;
  /** The batch's bytes as the native decoder lays them out: LL, network, transport headers. */
  headers: Buffer;
}

/** A trace message libnftnl parses, with the packet headers from `packet`. */
export function traceMessage(packet: fc.Arbitrary<Uint8Array>): fc.Arbitrary<TraceMessage> {
  const optional: fc.Arbitrary<Attr> = fc.oneof(
    cstr.map((b) => plain(1, b)), // TABLE
    cstr.map((b) => plain(2, b)), // CHAIN
    fixed(3, 8), // RULE_HANDLE
    verdict,
    // (an empty header attribute makes libnftnl exit too)
    fc.uint8Array({ minLength: 1, maxLength: 24 }).map((b) => plain(7, b)), // LL_HEADER
    packet.filter((b) => b.length > 0).map((b) => plain(8, b)), // NETWORK_HEADER
    packet.filter((b) => b.length > 0).map((b) => plain(9, b.subarray(0, 40))), // TRANSPORT_HEADER
    fc.constantFrom(10, 12, 14, 16).chain((t) => fixed(t, 4)),
    fc.constantFrom(2, 10, 0, 1, 7, 255).map((p) => plain(15, be32(p))), // NFPROTO
    fc.constantFrom(11, 13).chain((t) => fixed(t, 2)),
    fc.integer({ min: 22, max: 200 }).chain((t) => fc.uint8Array({ maxLength: 20 }).map((b) => plain(t, b))), // unknown
    fc.uint8Array({ maxLength: 8 }).map((b) => plain(0, b)), // UNSPEC
  );
  return fc
    .record({
      type: fc.oneof(fc.constantFrom(1, 2, 3), fc.integer({ min: 0, max: 2 ** 32 - 1 })),
      id: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
      rest: fc.array(optional, { maxLength: 10 }),
      at: fc.nat(),
      family: fc.oneof(fc.constantFrom(1, 2, 3, 5, 7, 10), fc.integer({ min: 0, max: 255 })),
    })
    .map(({ type, id, rest, at, family }) => {
      const attrs = [...rest];
      attrs.splice(at % (attrs.length + 1), 0, plain(4, be32(type)), plain(6, be32(id)));
      const bytes = encodeMessage({ type: (10 << 8) | 17, flags: 0, family, resId: 0, attrs, lenDelta: 0,
        trailer: new Uint8Array(0), cut: undefined, fit: false });
      // libnftnl keeps the last attribute of each type; the decoder copies LL, network, transport.
      const last = (t: number): Uint8Array | undefined =>
        [...attrs].reverse().find((a) => a.type === t)?.body as Uint8Array | undefined;
      const headers = Buffer.concat([7, 8, 9].map((t) => Buffer.from(last(t) ?? new Uint8Array(0))));
      return { bytes, headers };
    });
}

// ---- packets -----------------------------------------------------------------------------------

const L4 = [0, 1, 6, 17, 43, 44, 47, 50, 51, 58, 59, 60, 132, 136, 4, 41, 255];

/** An IPv4 header (any IHL, length, flags, protocol) and what follows. */
export const ipv4Packet: fc.Arbitrary<Uint8Array> = fc
  .record({
    ihl: fc.oneof(fc.constant(5), fc.integer({ min: 0, max: 15 })),
    total: fc.option(fc.integer({ min: 0, max: 0xffff }), { nil: undefined }),
    frag: fc.oneof(fc.constant(0), fc.constant(0x4000), fc.integer({ min: 0, max: 0xffff })),
    proto: fc.oneof(fc.constantFrom(...L4), fc.integer({ min: 0, max: 255 })),
    opts: fc.uint8Array({ maxLength: 40 }),
    rest: fc.uint8Array({ maxLength: 120 }),
  })
  .map(({ ihl, total, frag, proto, opts, rest }) => {
    const h = Buffer.alloc(20);
    h[0] = 0x40 | ihl;
    h.writeUInt16BE(total ?? 20 + opts.length + rest.length, 2);
    h.writeUInt16BE(frag, 6);
    h[8] = 64;
    h[9] = proto;
    h.set([10, 0, 0, 1], 12);
    h.set([10, 0, 0, 2], 16);
    return new Uint8Array(
      Buffer.concat([h, Buffer.from(opts.subarray(0, Math.max(0, ihl * 4 - 20))), Buffer.from(rest)]),
    );
  });

/** An IPv6 header, a chain of extension headers, and what follows. */
export const ipv6Packet: fc.Arbitrary<Uint8Array> = fc
  .record({
    plen: fc.option(fc.integer({ min: 0, max: 0xffff }), { nil: undefined }),
    chain: fc.array(
      fc.tuple(fc.constantFrom(0, 43, 44, 60, 51, 50, 135, 139, 140, 253), fc.integer({ min: 0, max: 4 }),
        fc.uint8Array({ minLength: 6, maxLength: 38 })),
      { maxLength: 4 },
    ),
    last: fc.oneof(fc.constantFrom(...L4), fc.integer({ min: 0, max: 255 })),
    rest: fc.uint8Array({ maxLength: 100 }),
  })
  .map(({ plen, chain, last, rest }) => {
    const exts: Buffer[] = [];
    let next = last;
    for (let i = chain.length - 1; i >= 0; i--) {
      const [type, hdrLen, body] = chain[i]!;
      const e = Buffer.alloc(2 + body.length);
      e[0] = next;
      e[1] = type === 51 ? hdrLen + 1 : hdrLen; // AH counts in 4-byte units minus 2
      e.set(body, 2);
      exts.unshift(e);
      next = type;
    }
    const tail = Buffer.concat([...exts, Buffer.from(rest)]);
    const h = Buffer.alloc(40);
    h[0] = 0x60;
    h.writeUInt16BE(plen ?? tail.length, 4);
    h[6] = next;
    h[7] = 64;
    h[23] = 1;
    h[39] = 2;
    return new Uint8Array(Buffer.concat([h, tail]));
  });

/** Random bytes, one byte changed, a run zeroed or set to 0xff, or cut short. */
export function mutated(base: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  return fc
    .tuple(base,
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('set', 'zero', 'ones', 'cut')), {
        minLength: 1,
        maxLength: 4,
      }))
    .map(([b, edits]) => {
      let out = Buffer.from(b);
      for (const [at, v, op] of edits) {
        if (out.length === 0) break;
        const i = at % out.length;
        const end = Math.min(out.length, i + (v % 8) + 1);
        if (op === 'set') out[i] = v;
        else if (op === 'zero') out.fill(0, i, end);
        else if (op === 'ones') out.fill(0xff, i, end);
        else out = out.subarray(0, i);
      }
      return new Uint8Array(out);
    });
}

/** Packets from the network header on: crafted, real (from `samples`), mutated, random. */
export function packetBytes(samples: readonly Uint8Array[] = []): fc.Arbitrary<Uint8Array> {
  const real = samples.length > 0 ? [fc.constantFrom(...samples)] : [];
  const base = fc.oneof(ipv4Packet, ipv6Packet, ...real);
  return fc.oneof(
    { weight: 3, arbitrary: base },
    { weight: 3, arbitrary: mutated(base) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }) },
    { weight: 1, arbitrary: base.chain((b) => fc.nat(b.length).map((n) => b.subarray(0, n))) },
  );
}
