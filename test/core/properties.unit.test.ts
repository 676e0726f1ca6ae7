/**
 * Property-based checks of the Error model (DESIGN.md): bad input of any kind, to any public
 * function or option, is refused in TypeScript with a TypeError or RangeError whose message
 * names the option, and nothing reaches native code; good input is accepted and normalised.
 *
 * The wrong values are generated (test/support/arbitraries.ts): every JS type, numbers out of
 * range or not integers, malformed addresses and CIDRs, 1 MiB strings, unknown keys and
 * prototype-ish ones ('__proto__' as an own key, 'constructor', 'toString'). A Conntrack handle's
 * native half is a recorder (test/support/recorder.ts); Nflog and Trace get spies on the addon.
 * Seeded and bounded (FC_SEED / FC_RUNS override): a failure prints the seed and the value.
 *
 * Bugs these properties found are kept at the end as regression tests, each naming what was
 * wrong. A new bug found here gets a failing test first, then the fix.
 */
import { inspect } from 'node:util';

import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, type MockInstance, test, vi } from 'vitest';

import { SCTP_STATES } from '../../lib/conntrack/constants.js';
import { FILTER_KEYS } from '../../lib/conntrack/filter.js';
import { addon, type NativeConntrack, type NativeGroupConfig, type NativeNflog } from '../../lib/core/native.js';
import { Conntrack, decodePacket, Nflog, PROTOCOLS, STATUS_NAMES, TCP_STATES, Trace } from '../../lib/index.js';
import { formatLogLine, parseLogLine, parseTraceLine, parseTracePrefix } from '../../lib/index.js';
import { address, type Bad, badAddress, badBoolean, badEnum, badInteger, badObject, badSignal, type ErrorClass,
  hugeString, ipv4, ipv6, junk, MB, nonInteger, outOfRange, params, PROTO_KEYS, rangeErr, typeErr,
  withOwnKey } from '../support/arbitraries.js';
import { failure, instrument, type Recorder } from '../support/recorder.js';

type Input = Record<string, unknown>;
const U32 = 0xffffffff;
const isObj = (v: unknown): v is Input => v !== null && typeof v === 'object' && !Array.isArray(v);
/** Whether v (and each element of an array) can be used as a property key without throwing. */
const coercible = (v: unknown): boolean => {
  try {
    void ({} as Record<PropertyKey, unknown>)[v as PropertyKey];
    return !Array.isArray(v) || v.every(coercible);
  } catch {
    return false;
  }
};

// ---- the check -----------------------------------------------------------------------------

/** Whether the message names the option: `where.key`, or `where` and the key's last part. */
function names(message: string, where: string, key: string | undefined): boolean {
  if (key === undefined) return message.includes(where);
  if (message.includes(`${where}.${key}`)) return true;
  const last = key.split('.').pop()!;
  return message.includes(where) && new RegExp(`(^|[^A-Za-z])${last}([^A-Za-z]|$)`).test(message);
}

const short = (s: string): string => (s.length > 300 ? `${s.slice(0, 300)}… (${s.length} chars)` : s);

/** Awaits fn; it must throw or reject with a TypeError/RangeError (exactly `cls` when given) naming the option. */
async function refused(fn: () => unknown, where: string, key: string | undefined, cls?: ErrorClass): Promise<Error> {
  const err = await failure(fn);
  const what = key === undefined ? where : `${where}.${key}`;
  if (!(err instanceof Error) || (err.constructor !== TypeError && err.constructor !== RangeError)) {
    const got = err === undefined
      ? 'nothing was thrown'
      : err instanceof Error
      ? `${err.constructor.name}: ${short(err.message)}`
      : short(inspect(err));
    throw new Error(`expected a TypeError or RangeError naming ${what}; ${got}`);
  }
  if (cls && err.constructor !== cls) {
    throw new Error(`expected a ${cls.name} naming ${what}; got ${err.constructor.name}: ${short(err.message)}`);
  }
  if (!names(err.message, where, key)) throw new Error(`the message does not name ${what}: ${short(err.message)}`);
  return err;
}

// ---- the handles under test ----------------------------------------------------------------

let ct: Conntrack;
let rec: Recorder;
let nf: Nflog;
let trace: Trace;
const nflogCalls: string[] = [];
const subscribed: { config: NativeGroupConfig; tuning: unknown }[] = [];
let spies: MockInstance[] = [];
const protoBefore = Object.getOwnPropertyNames(Object.prototype).sort();

const fakeNflog = (): NativeNflog => ({
  subscribe(config, _onBatch, tuning) {
    nflogCalls.push('subscribe');
    subscribed.push({ config, tuning });
    return { release() {}, stats: () => new Float64Array(5), close() {} };
  },
  close() {
    nflogCalls.push('close');
  },
});

/** What Conntrack.open gets from the (spied) addon: a handle that is only ever closed. */
const fakeConntrack = (): NativeConntrack => {
  const unused = (): never => {
    throw new Error('test: a handle from Conntrack.open is only closed here');
  };
  return {
    dump: unused,
    get: unused,
    count: unused,
    countNow: unused,
    stats: unused,
    create: unused,
    delete: unused,
    flush: unused,
    createBatch: unused,
    deleteBatch: unused,
    deleteWhere: unused,
    aggregate: unused,
    expectDump: unused,
    expectGet: unused,
    expectCreate: unused,
    expectDelete: unused,
    expectFlush: unused,
    events: unused,
    expectEvents: unused,
    close() {},
  };
};

beforeAll(async () => {
  ct = await Conntrack.open();
  rec = instrument(ct);
  spies = [
    vi.spyOn(addon, 'openConntrack').mockImplementation(() => Promise.resolve(fakeConntrack())),
    vi.spyOn(addon, 'openNflog').mockImplementation(() => Promise.resolve(fakeNflog())),
    vi.spyOn(addon, 'nfLogBackend').mockImplementation(() => Promise.resolve('NONE')),
    vi.spyOn(addon, 'traceEvents').mockImplementation(() => {
      throw new Error('test: traceEvents() must not be reached');
    }),
  ];
  nf = await Nflog.open();
  trace = await Trace.open({ legacy: false });
});

afterAll(async () => {
  await ct?.close();
  await nf?.close();
  await trace?.close();
  for (const s of spies) s.mockRestore();
});

/** Clears the records of native calls. */
function clear(): void {
  rec.calls.length = 0;
  rec.filters.length = 0;
  rec.tuples.length = 0;
  rec.specs.length = 0;
  nflogCalls.length = 0;
  subscribed.length = 0;
  for (const s of spies) s.mockClear();
}

/** Everything that reached native code (or would have opened a socket) since clear(). */
function nativeCalls(): string[] {
  return [
    ...rec.calls,
    ...nflogCalls,
    ...spies.flatMap((s) => (s.mock.calls.length > 0 ? [`${s.getMockName()} x${s.mock.calls.length}`] : [])),
  ];
}

// ---- wrong values, option by option --------------------------------------------------------

/** One option of an entry point: the wrong values it must refuse. */
interface Opt {
  /** As messages name it after the entry's `where`: 'srcPort', 'mark.value'. */
  key: string;
  bad: fc.Arbitrary<Bad>;
  /** Puts the value into a valid input (default: input[key] = value). */
  put?: (input: Input, value: unknown) => Input;
  /** What the message must name instead of `where.key`. */
  where?: string;
}

interface Entry {
  name: string;
  /** How messages name the argument: 'list() options'. */
  where: string;
  /** A valid input. */
  base: () => Input;
  call: (input: Input) => unknown;
  opts: Opt[];
  runs?: number;
}

const put = (o: Opt, base: Input, v: unknown): Input => (o.put ? o.put(base, v) : withOwnKey(base, o.key, v));

/** A value, or a list of values, that `valid` accepts; wrong ones and empty lists refused. */
function badList(valid: (v: unknown) => boolean, one: fc.Arbitrary<Bad>,
  sample: readonly unknown[]): fc.Arbitrary<Bad>
{
  const allValid = (v: unknown): boolean => Array.isArray(v) && v.length > 0 && v.every(valid);
  return fc.oneof(
    one.filter(([v]) => !allValid(v)),
    fc.constant([[], TypeError] as const),
    fc.tuple(fc.constantFrom(...sample), one.filter(([v]) => !Array.isArray(v))).map((
      [good, [v, cls]],
    ): Bad => [[good, v], cls]),
  );
}

const nameList = (names: readonly string[], caseInsensitive: boolean): fc.Arbitrary<Bad> =>
  badList(
    (v) => typeof v === 'string' && (caseInsensitive ? names.includes(v.toUpperCase()) : names.includes(v)),
    badEnum(names, { caseInsensitive }),
    names,
  );

const noArrays = (a: fc.Arbitrary<Bad>): fc.Arbitrary<Bad> => a.filter(([v]) => !Array.isArray(v));
const badLabels: fc.Arbitrary<Bad> = badList(
  (v) => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 127,
  noArrays(badInteger(0, 127)),
  [0, 5, 127],
);

const badProtocol: fc.Arbitrary<Bad> = fc.oneof(
  typeErr(
    junk.filter((v) =>
      v !== undefined && typeof v !== 'number' && !(typeof v === 'string' && Object.hasOwn(PROTOCOLS, v))
    ),
  ),
  typeErr(nonInteger),
  rangeErr(outOfRange(0, 255)),
);

/** A number, or { value, mask } (filter and update marks). */
const badMark: fc.Arbitrary<Bad> = fc.oneof(
  typeErr(junk.filter((v) => v !== undefined && typeof v !== 'number' && !(isObj(v) && ('value' in v || 'mask' in v)))),
  typeErr(nonInteger),
  rangeErr(outOfRange(0, U32)),
);

const HELPER = /^[A-Za-z0-9_.-]{1,15}$/;
const badHelper: fc.Arbitrary<Bad> = typeErr(
  fc
    .oneof(junk, fc.string({ minLength: 16, maxLength: 40 }),
      fc.constantFrom('', 'ftp ', 'a/b', 'sip\0', 'x'.repeat(16), 'naïve'))
    .filter((v) => v !== undefined && !(typeof v === 'string' && HELPER.test(v))),
);

/** Things that are not an AbortSignal-or-undefined, not a boolean-or-undefined... */
const anyDefined = junk.filter((v) => v !== undefined);

const tcp = { protocol: 'tcp', src: '10.0.0.1', dst: '10.0.0.2', srcPort: 1000, dstPort: 80 };
const udp6 = { protocol: 'udp', src: '2001:db8::1', dst: '2001:db8::2', srcPort: 53, dstPort: 5353 };
const icmp = { protocol: 'icmp', src: '10.0.0.1', dst: '10.0.0.2', type: 8, code: 0, id: 7 };
const icmp6 = { protocol: 'icmpv6', src: '::1', dst: 'fe80::1', type: 128, code: 0, id: 7 };
const gre = { protocol: 'gre', src: '10.0.0.1', dst: '10.0.0.2', srcKey: 1, dstKey: 2 };
const esp = { protocol: 50, src: '10.0.0.1', dst: '10.0.0.2' };
const sctp = { protocol: 'sctp', src: '10.0.0.1', dst: '10.0.0.2', srcPort: 1, dstPort: 2 };

const PORT_KEYS = ['srcPort', 'dstPort'];
const ICMP_KEYS = ['type', 'code', 'id'];
const GRE_KEYS = ['srcKey', 'dstKey'];
const misplaced = (keys: string[]): Opt[] => keys.map((key) => ({ key, bad: typeErr(anyDefined) }));
/** The options `parent.key` for each of `keys`, each put alone into an object `parent`. */
const inside = (parent: string, keys: readonly string[], bad: () => fc.Arbitrary<Bad>): Opt[] =>
  keys.map((k) => ({ key: `${parent}.${k}`, bad: bad(), put: (i, v) => ({ ...i, [parent]: { [k]: v } }) }));

/** The options of a tuple of each protocol. */
function tupleOpts(kind: 'tcp' | 'udp6' | 'icmp' | 'icmp6' | 'gre' | 'esp'): Opt[] {
  const v6 = kind === 'udp6' || kind === 'icmp6';
  const other = v6 ? ipv4 : ipv6;
  const common: Opt[] = [
    { key: 'protocol', bad: badProtocol },
    { key: 'src', bad: badAddress({ required: true }) },
    { key: 'dst', bad: badAddress({ required: true }) },
    // an address of the other family than its partner
    { key: 'src', bad: typeErr(other.map((a) => a.text)) },
    { key: 'zone', bad: badInteger(0, 65535) },
    { key: 'origZone', bad: badInteger(0, 65535) },
    { key: 'origZone', bad: typeErr(fc.integer({ min: 0, max: 65535 })),
      put: (i, v) => ({ ...i, zone: 1, origZone: v }) },
  ];
  const port = (key: string): Opt => ({ key, bad: badInteger(0, 65535, { required: true }) });
  switch (kind) {
    case 'tcp':
    case 'udp6':
      return [...common, port('srcPort'), port('dstPort'), ...misplaced([...ICMP_KEYS, ...GRE_KEYS])];
    case 'icmp':
    case 'icmp6':
      return [
        ...common,
        { key: 'type', bad: badInteger(0, 255, { required: true }) },
        { key: 'code', bad: badInteger(0, 255, { required: true }) },
        { key: 'id', bad: badInteger(0, 65535, { required: true }) },
        ...misplaced([...PORT_KEYS, ...GRE_KEYS]),
        // ICMP for the other family
        { key: 'protocol', bad: typeErr(fc.constant(v6 ? 'icmp' : 'icmpv6')) },
      ];
    case 'gre':
      return [...common, { key: 'srcKey', bad: badInteger(0, 65535) }, { key: 'dstKey', bad: badInteger(0, 65535) },
        ...misplaced([...PORT_KEYS, ...ICMP_KEYS])];
    case 'esp':
      return [...common, ...misplaced([...PORT_KEYS, ...ICMP_KEYS, ...GRE_KEYS])];
  }
}
const TUPLES = { tcp, udp6, icmp, icmp6, gre, esp } as const;

function filterOpts(): Opt[] {
  return [
    { key: 'family', bad: badEnum(['ipv4', 'ipv6']) },
    { key: 'protocol', bad: badProtocol },
    ...['src', 'dst', 'replySrc', 'replyDst'].map((key): Opt => ({ key, bad: badAddress({ cidr: true }) })),
    { key: 'src', bad: typeErr(ipv6.map((a) => a.text)), put: (i, v) => ({ ...i, family: 'ipv4', src: v }) },
    { key: 'replyDst', bad: typeErr(ipv4.map((a) => a.text)), put: (i, v) => ({ ...i, src: '::1', replyDst: v }) },
    ...['srcPort', 'dstPort', 'replySrcPort', 'replyDstPort', 'zone', 'origZone', 'replyZone'].map((key): Opt => ({ key,
      bad: badInteger(0, 65535) })
    ),
    { key: 'mark', bad: badMark },
    { key: 'mark.value', bad: badInteger(0, U32, { required: true }),
      put: (i, v) => ({ ...i, mark: { value: v, mask: 1 } }) },
    { key: 'mark.mask', bad: badInteger(0, U32, { required: true }),
      put: (i, v) => ({ ...i, mark: { value: 1, mask: v } }) },
    { key: 'status', bad: nameList(STATUS_NAMES, true) },
    { key: 'state', bad: nameList(TCP_STATES, true) },
    { key: 'state', bad: typeErr(fc.constantFrom(...TCP_STATES)),
      put: (i, v) => ({ ...i, protocol: 'udp', state: v }) },
    { key: 'labels', bad: badLabels },
  ];
}

const bufferOpts = (def: number): Opt[] => [
  { key: 'bufferSize', bad: badInteger(4096, 2 ** 31 - 1) },
  { key: 'maxBufferSize', bad: badInteger(4096, 2 ** 31 - 1) },
  // below the buffer to start with (default 32 MiB)
  { key: 'maxBufferSize', bad: rangeErr(fc.integer({ min: 4096, max: def - 1 })) },
  { key: 'maxQueueBytes', bad: badInteger(65536, Number.MAX_SAFE_INTEGER) },
  { key: 'signal', bad: badSignal },
];

const netnsOpts: Opt[] = [
  {
    key: 'netns',
    where: 'netns',
    bad: typeErr(
      fc
        .oneof(
          junk.filter((v) => v !== undefined && !isObj(v)),
          fc.constantFrom('.', '..', '', 'a b', 'run/netns/x', 'x/y', 'ns\0', 'ns\n', 'ns:1'),
          fc.string({ maxLength: 20 }),
          hugeString,
        )
        .filter((v) =>
          !(typeof v === 'string' && (v.startsWith('/') || (/^[A-Za-z0-9_.-]+$/.test(v) && v !== '.' && v !== '..')))
        ),
    ),
  },
  { key: 'netns.pid', where: 'netns.pid', bad: badInteger(1, 2 ** 31 - 1, { required: true }),
    put: (i, v) => ({ ...i, netns: { pid: v } }) },
  {
    key: 'netns.path',
    where: 'netns.path',
    bad: typeErr(
      fc.oneof(anyDefined, fc.string({ maxLength: 12 })).filter((v) => !(typeof v === 'string' && v.startsWith('/'))),
    ),
    put: (i, v) => ({ ...i, netns: { path: v } }),
  },
  {
    key: 'netns.name',
    where: 'netns.name',
    bad: typeErr(
      fc.oneof(anyDefined, fc.constantFrom('.', '..', 'a/b', '/abs', '', 'a b')).filter((v) =>
        !(typeof v === 'string' && /^[A-Za-z0-9_.-]+$/.test(v) && v !== '.' && v !== '..')
      ),
    ),
    put: (i, v) => ({ ...i, netns: { name: v } }),
  },
  { key: 'netns', where: 'netns', bad: typeErr(fc.constantFrom({}, { pid: 1, name: 'x' }, { path: '/x', name: 'x' })) },
];

const okFlow = { ...tcp, timeout: 60 };
const flowOpts = (): Opt[] => [
  ...tupleOpts('tcp'),
  { key: 'timeout', bad: badInteger(0, U32, { required: true }) },
  { key: 'reply', bad: badObject() },
  ...inside('reply', ['src', 'dst'], () => badAddress()),
  ...inside('reply', ['src'], () => typeErr(ipv6.map((a) => a.text))),
  ...inside('reply', PORT_KEYS, () => badInteger(0, 65535)),
  ...['snat', 'dnat'].flatMap((n): Opt[] => [
    { key: n, bad: badObject() },
    { key: `${n}.address`, bad: badAddress({ required: true }), put: (i, v) => ({ ...i, [n]: { address: v } }) },
    { key: `${n}.address`, bad: typeErr(ipv6.map((a) => a.text)), put: (i, v) => ({ ...i, [n]: { address: v } }) },
    { key: `${n}.port`, bad: badInteger(0, 65535), put: (i, v) => ({ ...i, [n]: { address: '10.9.9.9', port: v } }) },
    { key: 'reply', bad: typeErr(fc.constant({ src: '10.0.0.9' })),
      put: (i, v) => ({ ...i, reply: v, [n]: { address: '10.9.9.9' } }) },
  ]),
  { key: 'status', bad: nameList(STATUS_NAMES, true) },
  { key: 'mark', bad: badInteger(0, U32) },
  { key: 'replyZone', bad: badInteger(0, 65535) },
  { key: 'replyZone', bad: typeErr(fc.integer({ min: 0, max: 65535 })),
    put: (i, v) => ({ ...i, zone: 1, replyZone: v }) },
  { key: 'labels', bad: badLabels },
  { key: 'state', bad: badEnum(TCP_STATES) },
  { key: 'vtag', bad: typeErr(anyDefined) }, // SCTP only
  { key: 'helper', bad: badHelper },
];
const okSctp = { ...sctp, timeout: 60, vtag: { original: 1, reply: 2 }, state: 'ESTABLISHED' };
const sctpOpts: Opt[] = [
  { key: 'vtag', bad: badObject() },
  { key: 'vtag.original', bad: badInteger(0, U32, { required: true }),
    put: (i, v) => ({ ...i, vtag: { original: v, reply: 1 } }) },
  { key: 'vtag.reply', bad: badInteger(0, U32, { required: true }),
    put: (i, v) => ({ ...i, vtag: { original: 1, reply: v } }) },
  { key: 'state', bad: badEnum(SCTP_STATES) },
];
const okIcmpFlow = { ...icmp, timeout: 30 };
const icmpFlowOpts: Opt[] = [
  // an ICMP type that has no reply type, without a reply
  { key: 'reply.type',
    bad: typeErr(fc.integer({ min: 0, max: 255 }).filter((t) => ![0, 8, 13, 14, 15, 16, 17, 18].includes(t))),
    put: (i, v) => ({ ...i, type: v }) },
  { key: 'reply.type', bad: badInteger(0, 255), put: (i, v) => ({ ...i, reply: { type: v } }) },
];

const changesOpts: Opt[] = [
  { key: 'mark', bad: badMark },
  { key: 'mark.value', bad: badInteger(0, U32, { required: true }),
    put: (i, v) => ({ ...i, mark: { value: v, mask: 1 } }) },
  { key: 'mark.mask', bad: badInteger(0, U32, { required: true }),
    put: (i, v) => ({ ...i, mark: { value: 1, mask: v } }) },
  { key: 'timeout', bad: badInteger(0, U32) },
  { key: 'status', bad: nameList(STATUS_NAMES, true) },
  { key: 'labels', bad: badObject() },
  { key: 'labels.add', bad: badLabels, put: (i, v) => ({ ...i, labels: { add: v } }) },
  { key: 'labels.remove', bad: badLabels, put: (i, v) => ({ ...i, labels: { remove: v } }) },
  { key: 'labels', bad: typeErr(fc.integer({ min: 0, max: 127 })),
    put: (i, v) => ({ ...i, labels: { add: [v], remove: v } }) },
  { key: 'state', bad: badEnum(TCP_STATES) },
];

const okExp = { master: tcp, tuple: { ...tcp, srcPort: 2000, dstPort: 21 }, timeout: 60 };
const expOpts: Opt[] = [
  { key: 'master', bad: badObject({ required: true }) },
  { key: 'tuple', bad: badObject({ required: true }) },
  ...tupleOpts('tcp')
    .filter((o) => ['src', 'dst', 'srcPort'].includes(o.key))
    .flatMap((o): Opt[] => [
      { ...o, key: `master.${o.key}`, put: (i, v) => ({ ...i, master: put(o, tcp, v) }) },
      { ...o, key: `tuple.${o.key}`, put: (i, v) => ({ ...i, tuple: put(o, tcp, v) }) },
    ]),
  { key: 'tuple', bad: typeErr(fc.constant(udp6)) }, // of another family than master
  { key: 'timeout', bad: badInteger(0, U32, { required: true }) },
  { key: 'zone', bad: badInteger(0, 65535) },
  // (values that cannot be a property key: a known bug, see the end of this file)
  { key: 'flags', bad: nameList(['PERMANENT', 'INACTIVE', 'USERSPACE'], false).filter(([v]) => coercible(v)) },
  { key: 'class', bad: badInteger(0, U32) },
  { key: 'helper', bad: badHelper },
  { key: 'nat', bad: badObject() },
  { key: 'nat.dir', bad: badEnum(['original', 'reply'], { required: true }),
    put: (i, v) => ({ ...i, nat: { dir: v, tuple: tcp } }) },
  { key: 'nat.tuple', bad: badObject({ required: true }), put: (i, v) => ({ ...i, nat: { dir: 'reply', tuple: v } }) },
  { key: 'mask', bad: badObject() },
  ...inside('mask', ['src', 'dst'], () => badAddress()),
  ...inside('mask', ['src'], () => typeErr(ipv6.map((a) => a.text))),
  ...inside('mask', PORT_KEYS, () => badInteger(0, 65535)),
];

const subscribeOpts: Opt[] = [
  { key: 'group', bad: badInteger(0, 65535, { required: true }) },
  // (values that cannot be a property key: a known bug, see the end of this file)
  { key: 'copy', bad: badEnum(['none', 'meta', 'packet']).filter(([v]) => coercible(v)) },
  { key: 'range', bad: badInteger(0, 65535) },
  ...bufferOpts(32 << 20),
  { key: 'nlbufsiz', bad: badInteger(4096, 1 << 22) },
  { key: 'qthreshold', bad: badInteger(1, 1 << 20) },
  {
    key: 'timeout',
    bad: fc.oneof(
      typeErr(junk.filter((v) => v !== undefined && (typeof v !== 'number' || !Number.isFinite(v)))),
      rangeErr(
        fc.oneof(fc.double({ min: -1e300, max: -Number.MIN_VALUE, noNaN: true }),
          fc.double({ min: 4.0000001e7, max: 1e300, noNaN: true })),
      ),
    ),
  },
  {
    key: 'sequence',
    bad: typeErr(
      junk.filter((v) => v !== undefined && typeof v !== 'boolean' && v !== 'local' && v !== 'global' && v !== 'both'),
    ),
  },
  { key: 'conntrack', bad: badBoolean() },
];

const ENTRIES: Entry[] = [
  // opening
  { name: 'Conntrack.open', where: 'Conntrack.open options', base: () => ({}), call: (i) => Conntrack.open(i),
    opts: netnsOpts },
  { name: 'Nflog.open', where: 'Nflog.open options', base: () => ({}), call: (i) => Nflog.open(i), opts: netnsOpts },
  {
    name: 'Trace.open',
    where: 'Trace.open options',
    base: () => ({}),
    call: (i) => Trace.open(i),
    opts: [
      ...netnsOpts,
      ...['nftables', 'legacy', 'bindLogger'].map((key): Opt => ({ key, bad: badBoolean() })),
      { key: 'bindLogger', bad: typeErr(fc.constant(true)) }, // without netns
      { key: 'legacy', bad: typeErr(fc.constant(false)), put: (i, v) => ({ ...i, nftables: false, legacy: v }) },
    ],
  },
  // reading
  {
    name: 'list()',
    where: 'list() options',
    base: () => ({}),
    call: (i) => ct.list(i),
    opts: [
      ...filterOpts(),
      { key: 'table', bad: badEnum(['conntrack', 'dying', 'unconfirmed']) },
      { key: 'zeroCounters', bad: badBoolean() },
      { key: 'zeroCounters', bad: typeErr(fc.constant(true)),
        put: (i, v) => ({ ...i, table: 'dying', zeroCounters: v }) },
      { key: 'kernelFilter', bad: badBoolean() },
      { key: 'batchSize', bad: badInteger(1, 65536) },
    ],
  },
  {
    name: 'deleteWhere() options',
    where: 'deleteWhere() options',
    base: () => ({}),
    call: (i) => ct.deleteWhere(i),
    opts: [...filterOpts(), { key: 'kernelFilter', bad: badBoolean() }, { key: 'dryRun', bad: badBoolean() }],
  },
  {
    name: 'events()',
    where: 'events() options',
    base: () => ({}),
    call: (i) => ct.events(i),
    opts: [
      ...filterOpts(),
      { key: 'types', bad: nameList(['new', 'update', 'destroy', 'expect-new', 'expect-destroy'], false) },
      ...bufferOpts(32 << 20),
      { key: 'resync', bad: badBoolean() },
      { key: 'kernelFilter', bad: badBoolean() },
    ],
  },
  { name: 'flush()', where: 'flush() options', base: () => ({}), call: (i) => ct.flush(i),
    opts: [{ key: 'family', bad: badEnum(['ipv4', 'ipv6']) }] },
  // one entry by its tuple
  ...(Object.keys(TUPLES) as (keyof typeof TUPLES)[]).map(
    (k): Entry => ({ name: `get() ${k} tuple`, where: 'get() tuple', base: () => ({ ...TUPLES[k] }),
      call: (i) => ct.get(i as never), opts: tupleOpts(k) }),
  ),
  { name: 'delete() target', where: 'delete() target', base: () => ({ ...tcp }), call: (i) => ct.delete(i as never),
    opts: tupleOpts('tcp') },
  { name: 'delete() { id }', where: 'delete() target', base: () => ({}), call: (i) => ct.delete(i as never),
    opts: [{ key: 'id', bad: badInteger(0, U32) }] },
  { name: 'update() target', where: 'update() target', base: () => ({ ...icmp }),
    call: (i) => ct.update(i as never, { mark: 1 }), opts: tupleOpts('icmp') },
  { name: 'update() changes', where: 'update() changes', base: () => ({ timeout: 5 }),
    call: (i) => ct.update(tcp as never, i), opts: changesOpts },
  { name: 'expectations.get()', where: 'expectations.get() tuple', base: () => ({ ...udp6 }),
    call: (i) => ct.expectations.get(i as never), opts: tupleOpts('udp6') },
  { name: 'expectations.delete()', where: 'expectations.delete() target', base: () => ({ ...gre }),
    call: (i) => ct.expectations.delete(i as never), opts: tupleOpts('gre') },
  // changing the table
  ...(['create', 'add'] as const).map((m): Entry => ({ name: `${m}()`, where: `${m}() flow`,
    base: () => ({ ...okFlow }), call: (i) => ct[m](i as never), opts: flowOpts(), runs: 12 })
  ),
  { name: 'createMany() flows[1]', where: 'createMany() flows[1]', base: () => ({ ...okFlow }),
    call: (i) => ct.createMany([okFlow, i] as never), opts: flowOpts(), runs: 8 },
  { name: 'create() SCTP', where: 'create() flow', base: () => ({ ...okSctp }), call: (i) => ct.create(i as never),
    opts: sctpOpts },
  { name: 'create() ICMP', where: 'create() flow', base: () => ({ ...okIcmpFlow }), call: (i) => ct.create(i as never),
    opts: [...tupleOpts('icmp'), ...icmpFlowOpts] },
  {
    name: 'createMany() options',
    where: 'createMany() options',
    base: () => ({}),
    call: (i) => ct.createMany([okFlow] as never, i),
    opts: [
      { key: 'batchSize', bad: badInteger(1, 100000) },
      { key: 'ifExists', bad: badEnum(['fail', 'skip']) },
    ],
  },
  { name: 'expectations.create()', where: 'expectations.create()', base: () => ({ ...okExp }),
    call: (i) => ct.expectations.create(i as never), opts: expOpts },
  { name: 'expectations.list()', where: 'expectations.list() filter', base: () => ({}),
    call: (i) => ct.expectations.list(i), opts: [{ key: 'family', bad: badEnum(['ipv4', 'ipv6']) }] },
  {
    name: 'expectations.flush()',
    where: 'expectations.flush() options',
    base: () => ({}),
    call: (i) => ct.expectations.flush(i),
    opts: [
      { key: 'family', bad: badEnum(['ipv4', 'ipv6']) },
      { key: 'helper', bad: typeErr(junk.filter((v) => v !== undefined && (typeof v !== 'string' || v === ''))) },
    ],
  },
  // NFLOG and TRACE
  { name: 'subscribe()', where: 'subscribe() options', base: () => ({ group: 1 }),
    call: (i) => nf.subscribe(i as never), opts: subscribeOpts },
  {
    name: 'trace events()',
    where: 'trace options',
    base: () => ({}),
    call: (i) => trace.events(i),
    opts: [
      { key: 'resolveRules', bad: badBoolean() },
      { key: 'signal', bad: badSignal },
      { key: 'match', bad: badObject() },
      { key: 'match.family', bad: badEnum(['ipv4', 'ipv6']), put: (i, v) => ({ ...i, match: { family: v } }) },
      { key: 'match.protocol', bad: badEnum(['tcp', 'udp', 'icmp', 'icmpv6', 'sctp']),
        put: (i, v) => ({ ...i, match: { protocol: v } }) },
      ...['port', 'srcPort', 'dstPort'].flatMap((k): Opt[] => [
        { key: `match.${k}`, bad: badInteger(0, 65535), put: (i, v) => ({ ...i, match: { protocol: 'udp', [k]: v } }) },
        // a port without a protocol that has ports
        { key: `match.${k}`, bad: typeErr(fc.integer({ min: 0, max: 65535 })),
          put: (i, v) => ({ ...i, match: { protocol: 'icmp', [k]: v } }) },
      ]),
    ],
  },
  {
    name: 'trace packets()',
    where: 'packets() options',
    base: () => ({}),
    call: (i) => trace.packets(i),
    opts: [{ key: 'idleMs', bad: badInteger(1, 600000) }],
  },
];

describe('every option refuses wrong values with a TypeError/RangeError naming it, before native code', () => {
  for (const e of ENTRIES) {
    test(e.name, async () => {
      // the option by its index, so a failure prints the key and the value, not the arbitrary
      const pick = fc.oneof(
        ...e.opts.map((o, i) => o.bad.map(([value, cls]) => ({ option: `${i}: ${o.key}`, value, error: cls.name }))),
      );
      await fc.assert(
        fc.asyncProperty(pick, async ({ option, value: v, error }) => {
          const o = e.opts[Number.parseInt(option, 10)]!;
          const cls = error === 'RangeError' ? RangeError : TypeError;
          clear();
          const where = o.where ?? e.where;
          await refused(() => e.call(put(o, e.base(), v)), where, o.where ? undefined : o.key, cls);
          expect(nativeCalls()).toEqual([]);
        }),
        params((e.runs ?? 25) * e.opts.length),
      );
    });
  }
});

/** Values that throw or fail when coerced to a string or number (as property keys are). */
const UNCOERCIBLE: [string, () => unknown][] = [
  ['Object.create(null)', () => Object.create(null)],
  ['{ toString: 0 }', () => ({ toString: 0 })],
  ['{ toString() { throw } }', () => ({ toString: () => {
    throw new Error('junk: toString() called');
  } })],
  ['{ [Symbol.toPrimitive]() { throw } }', () => ({ [Symbol.toPrimitive]: () => {
    throw new Error('junk: Symbol.toPrimitive called');
  } })],
  ['[Object.create(null)]', () => [Object.create(null)]],
  ['a symbol', () => Symbol('s')],
];

/** Options for which an object without keys is valid (their fields are all optional). */
function takesEmptyObject(e: Entry, o: Opt): boolean {
  return ['reply', 'mask', 'match'].includes(o.key) || (e.name === 'update() changes' && o.key === 'labels');
}

describe('values that cannot be turned into a string are refused, naming the option, never coerced', () => {
  for (const e of ENTRIES) {
    test(e.name, async () => {
      const failures: string[] = [];
      const keys = new Set<string>();
      for (const o of e.opts) {
        if (keys.has(o.key) || o.put || takesEmptyObject(e, o)) continue;
        keys.add(o.key);
        for (const [label, make] of UNCOERCIBLE) {
          clear();
          try {
            await refused(() => e.call(withOwnKey(e.base(), o.key, make())), o.where ?? e.where,
              o.where ? undefined : o.key);
            if (nativeCalls().length > 0) failures.push(`${o.key} = ${label}: reached native code`);
          } catch (err) {
            failures.push(`${o.key} = ${label}: ${(err as Error).message}`);
          }
        }
      }
      expect(failures).toEqual([]);
    });
  }
});

// ---- unknown keys and values that are not objects -------------------------------------------

interface Place {
  where: string;
  known: readonly string[];
  base: Input;
  call: (obj: unknown) => unknown;
  /** undefined is a valid value here (the argument or field is optional). */
  optional: boolean;
}

const LIST_KEYS = ['table', 'zeroCounters', 'kernelFilter', 'batchSize'];
const EVENT_KEYS = ['types', 'bufferSize', 'maxBufferSize', 'maxQueueBytes', 'resync', 'signal', 'kernelFilter'];
const TUPLE_KEYS = ['protocol', 'src', 'dst', 'srcPort', 'dstPort', 'type', 'code', 'id', 'srcKey', 'dstKey', 'zone',
  'origZone'];
const FLOW_KEYS = [...TUPLE_KEYS, 'timeout', 'reply', 'snat', 'dnat', 'status', 'mark', 'replyZone', 'labels', 'state',
  'vtag', 'helper'];
const SUBSCRIBE_KEYS = ['group', 'copy', 'range', 'bufferSize', 'maxBufferSize', 'nlbufsiz', 'qthreshold', 'timeout',
  'sequence', 'conntrack', 'maxQueueBytes', 'signal'];

const PLACES: Place[] = [
  { where: 'Conntrack.open options', known: ['netns'], base: {}, call: (o) => Conntrack.open(o as never),
    optional: true },
  { where: 'Nflog.open options', known: ['netns'], base: {}, call: (o) => Nflog.open(o as never), optional: true },
  { where: 'Trace.open options', known: ['netns', 'nftables', 'legacy', 'bindLogger'], base: {},
    call: (o) => Trace.open(o as never), optional: true },
  { where: 'netns', known: ['pid', 'path', 'name'], base: { pid: 1 },
    call: (o) => Conntrack.open({ netns: o as never }), optional: true },
  { where: 'list() options', known: [...FILTER_KEYS, ...LIST_KEYS], base: {}, call: (o) => ct.list(o as never),
    optional: true },
  { where: 'list() options.mark', known: ['value', 'mask'], base: { value: 1, mask: 1 },
    call: (o) => ct.list({ mark: o as never }), optional: true },
  { where: 'deleteWhere() options', known: [...FILTER_KEYS, 'kernelFilter', 'dryRun'], base: {},
    call: (o) => ct.deleteWhere(o as never), optional: false },
  { where: 'events() options', known: [...FILTER_KEYS, ...EVENT_KEYS], base: {}, call: (o) => ct.events(o as never),
    optional: true },
  { where: 'flush() options', known: ['family'], base: {}, call: (o) => ct.flush(o as never), optional: true },
  { where: 'get() tuple', known: TUPLE_KEYS, base: tcp, call: (o) => ct.get(o as never), optional: false },
  { where: 'delete() target', known: TUPLE_KEYS, base: tcp, call: (o) => ct.delete(o as never), optional: false },
  { where: 'update() target', known: TUPLE_KEYS, base: tcp, call: (o) => ct.update(o as never, { mark: 1 }),
    optional: false },
  { where: 'update() changes', known: ['mark', 'timeout', 'status', 'labels', 'state'], base: { mark: 1 },
    call: (o) => ct.update(tcp as never, o as never), optional: false },
  { where: 'update() changes.mark', known: ['value', 'mask'], base: { value: 1, mask: 1 },
    call: (o) => ct.update(tcp as never, { mark: o as never }), optional: true },
  { where: 'update() changes.labels', known: ['add', 'remove'], base: { add: 1 },
    call: (o) => ct.update(tcp as never, { labels: o as never }), optional: true },
  { where: 'create() flow', known: FLOW_KEYS, base: okFlow, call: (o) => ct.create(o as never), optional: false },
  { where: 'add() flow', known: FLOW_KEYS, base: okFlow, call: (o) => ct.add(o as never), optional: false },
  { where: 'createMany() flows[1]', known: FLOW_KEYS, base: okFlow, call: (o) => ct.createMany([okFlow, o] as never),
    optional: false },
  { where: 'create() flow.reply', known: ['src', 'dst', 'srcPort', 'dstPort', 'type', 'code', 'id', 'srcKey', 'dstKey'],
    base: {}, call: (o) => ct.create({ ...okFlow, reply: o } as never), optional: true },
  { where: 'create() flow.snat', known: ['address', 'port'], base: { address: '10.9.9.9' },
    call: (o) => ct.create({ ...okFlow, snat: o } as never), optional: true },
  { where: 'create() flow.dnat', known: ['address', 'port'], base: { address: '10.9.9.9' },
    call: (o) => ct.create({ ...okFlow, dnat: o } as never), optional: true },
  { where: 'create() flow.vtag', known: ['original', 'reply'], base: { original: 1, reply: 2 },
    call: (o) => ct.create({ ...okSctp, vtag: o } as never), optional: true },
  { where: 'createMany() options', known: ['batchSize', 'ifExists'], base: {},
    call: (o) => ct.createMany([okFlow] as never, o as never), optional: true },
  { where: 'expectations.create()',
    known: ['master', 'tuple', 'mask', 'timeout', 'zone', 'flags', 'class', 'helper', 'nat'], base: okExp,
    call: (o) => ct.expectations.create(o as never), optional: false },
  { where: 'expectations.create().mask', known: ['src', 'dst', 'srcPort', 'dstPort', 'type', 'code', 'id'], base: {},
    call: (o) => ct.expectations.create({ ...okExp, mask: o } as never), optional: true },
  { where: 'expectations.create().nat', known: ['dir', 'tuple'], base: { dir: 'reply', tuple: tcp },
    call: (o) => ct.expectations.create({ ...okExp, nat: o } as never), optional: true },
  { where: 'expectations.create().master', known: TUPLE_KEYS, base: tcp,
    call: (o) => ct.expectations.create({ ...okExp, master: o } as never), optional: false },
  { where: 'expectations.get() tuple', known: TUPLE_KEYS, base: tcp, call: (o) => ct.expectations.get(o as never),
    optional: false },
  { where: 'expectations.delete() target', known: TUPLE_KEYS, base: tcp,
    call: (o) => ct.expectations.delete(o as never), optional: false },
  { where: 'expectations.list() filter', known: ['family'], base: {}, call: (o) => ct.expectations.list(o as never),
    optional: true },
  { where: 'expectations.flush() options', known: ['family', 'helper'], base: {},
    call: (o) => ct.expectations.flush(o as never), optional: true },
  { where: 'subscribe() options', known: SUBSCRIBE_KEYS, base: { group: 1 }, call: (o) => nf.subscribe(o as never),
    optional: false },
  { where: 'trace options', known: ['match', 'resolveRules', 'signal'], base: {}, call: (o) => trace.events(o as never),
    optional: true },
  { where: 'trace options.match', known: ['family', 'protocol', 'src', 'dst', 'port', 'srcPort', 'dstPort'], base: {},
    call: (o) => trace.events({ match: o as never }), optional: true },
  { where: 'formatLogLine options', known: ['tcpSequence', 'tcpOptions', 'ipOptions', 'uid', 'macDecode', 'all'],
    base: {}, call: (o) => formatLogLine({ group: 1, family: 'ipv4' }, o as never), optional: true },
];

/** Keys an object does not know: random, prototype-ish, near misses of known ones, 1 MiB long. */
function unknownKey(known: readonly string[]): fc.Arbitrary<string> {
  return fc
    .oneof(
      fc.string({ maxLength: 12 }),
      fc.constantFrom(...PROTO_KEYS),
      fc.constantFrom(...known).chain((k) =>
        fc.constantFrom(k.toLowerCase(), k.toUpperCase(), `${k} `, `${k}s`, `_${k}`)
      ),
      fc.constant('k'.repeat(MB)),
    )
    .filter((k) => !known.includes(k));
}

describe('unknown keys (prototype-ish ones too) are refused, naming the key', () => {
  for (const p of PLACES) {
    test(p.where, async () => {
      await fc.assert(
        fc.asyncProperty(unknownKey(p.known), junk, async (key, value) => {
          clear();
          const err = await refused(() => p.call(withOwnKey(p.base, key, value)), p.where, undefined, TypeError);
          expect(err.message.includes(`'${key}'`), short(err.message)).toBe(true);
          const hint = p.known.find((k) => k.toLowerCase() === key.toLowerCase());
          if (hint) expect(err.message).toContain(`did you mean '${hint}'`);
          expect(nativeCalls()).toEqual([]);
        }),
        params(40),
      );
    });
  }
});

describe('values that are not objects are refused where an object is expected, naming it', () => {
  // netns takes strings and `mark` numbers: their own properties cover those; formatLogLine's
  // options are named 'options' there (see below).
  const skip = ['netns', 'list() options.mark', 'update() changes.mark', 'formatLogLine options'];
  for (const p of PLACES.filter((x) => !skip.includes(x.where))) {
    test(p.where, async () => {
      await fc.assert(
        fc.asyncProperty(badObject({ required: !p.optional }), async ([v]) => {
          clear();
          const err = await failure(() => p.call(v));
          // createMany() flows[1] and other elements: the error names the element
          if (!(err instanceof TypeError) || !err.message.includes(p.where)) {
            throw new Error(
              `expected a TypeError naming ${p.where}; got ${
                err instanceof Error ? `${err.constructor.name}: ${short(err.message)}` : String(err)
              }`,
            );
          }
          expect(nativeCalls()).toEqual([]);
        }),
        params(40),
      );
    });
  }

  test('createMany() flows must be an iterable', async () => {
    await fc.assert(
      fc.asyncProperty(
        junk.filter((v) => v === null || typeof v !== 'object' || !(Symbol.iterator in v || Symbol.asyncIterator in v)),
        async (v) => {
          clear();
          await refused(() => ct.createMany(v as never), 'createMany() flows', undefined, TypeError);
          expect(nativeCalls()).toEqual([]);
        },
      ),
      params(60),
    );
  });

  test('update() with nothing to change names its changes', async () => {
    clear();
    await refused(() => ct.update(tcp as never, {}), 'update() changes', undefined, TypeError);
    expect(nativeCalls()).toEqual([]);
  });
});

// ---- the functions on bytes and text --------------------------------------------------------

describe('decodePacket, formatLogLine, parseLogLine, parseTracePrefix, parseTraceLine refuse wrong argument types', () => {
  const notBytes = junk.filter((v) => !(v instanceof Uint8Array));
  const notFamily = junk.filter((v) => v !== 'ipv4' && v !== 'ipv6' && v !== 2 && v !== 10);
  const notString = junk.filter((v) => typeof v !== 'string');

  test('decodePacket(buffer, family)', () => {
    fc.assert(
      fc.property(notBytes, fc.constantFrom('ipv4', 'ipv6', 2, 10), (b, f) => {
        expect(() => decodePacket(b as never, f as never)).toThrow(TypeError);
        expect(() => decodePacket(b as never, f as never)).toThrow(/buffer/);
      }),
      params(80),
    );
    fc.assert(
      fc.property(notFamily, fc.uint8Array({ maxLength: 60 }), (f, b) => {
        expect(() => decodePacket(b, f as never)).toThrow(TypeError);
        expect(() => decodePacket(b, f as never)).toThrow(/family/);
      }),
      params(80),
    );
  });

  test('formatLogLine(packet, options)', async () => {
    await fc.assert(
      fc.asyncProperty(badObject({ required: true }), async ([p]) => {
        await refused(() => formatLogLine(p as never), 'packet', undefined, TypeError);
      }),
      params(60),
    );
    await fc.assert(
      fc.asyncProperty(junk.filter((v) => v !== undefined && !(v instanceof Uint8Array)), async (payload) => {
        await refused(() => formatLogLine({ group: 1, family: 'ipv4', payload } as never), 'packet.payload', undefined,
          TypeError);
      }),
      params(60),
    );
    await fc.assert(
      fc.asyncProperty(badObject(), async ([o]) => {
        await refused(() => formatLogLine({ group: 1, family: 'ipv4' }, o as never), 'options', undefined, TypeError);
      }),
      params(60),
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('tcpSequence', 'tcpOptions', 'ipOptions', 'uid', 'macDecode', 'all'),
        badBoolean(), async (k, [v]) => {
        await refused(() => formatLogLine({ group: 1, family: 'ipv4' }, { [k]: v }), 'options', k, TypeError);
      }),
      params(80),
    );
  });

  test('parseLogLine(line), parseTracePrefix(prefix), parseTraceLine(line)', async () => {
    await fc.assert(
      fc.asyncProperty(notString, async (v) => {
        await refused(() => parseLogLine(v as never), 'line', undefined, TypeError);
        await refused(() => parseTraceLine(v as never), 'line', undefined, TypeError);
        await refused(() => parseTracePrefix(v as never), 'prefix', undefined, TypeError);
      }),
      params(80),
    );
  });
});

// ---- good input is accepted and normalised --------------------------------------------------

describe('valid input is accepted, and what reaches native code is what it says', () => {
  test('addresses round-trip: every spelling of an IPv4/IPv6 address reaches native code as its bytes', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.boolean().chain((v6) => fc.tuple(v6 ? ipv6 : ipv4, v6 ? ipv6 : ipv4, fc.constant(v6))),
        fc.integer({ min: 0, max: 65535 }),
        fc.integer({ min: 0, max: 65535 }),
        async ([a, b, v6], sp, dp) => {
          clear();
          await expect(ct.get({ protocol: 'udp', src: a.text, dst: b.text, srcPort: sp, dstPort: dp })).resolves
            .toBeNull();
          expect(rec.tuples).toHaveLength(1);
          const t = rec.tuples[0]!;
          expect({ family: t.family, protocol: t.protocol, src: [...t.src], dst: [...t.dst], srcPort: t.srcPort,
            dstPort: t.dstPort }).toEqual({
              family: v6 ? 10 : 2,
              protocol: 17,
              src: a.bytes,
              dst: b.bytes,
              srcPort: sp,
              dstPort: dp,
            });
        },
      ),
      params(300),
    );
  });

  test('CIDRs: the address bytes and prefix reach the filter; no prefix means the whole address', async () => {
    await fc.assert(
      fc.asyncProperty(address, fc.option(fc.nat(128), { nil: undefined }),
        fc.constantFrom('src', 'dst', 'replySrc', 'replyDst'), async (a, p, key) => {
        clear();
        const prefix = p === undefined ? undefined : p % ((a.v6 ? 128 : 32) + 1);
        const text = prefix === undefined ? a.text : `${a.text}/${prefix}`;
        const err = await failure(() => ct.list({ [key]: text })[Symbol.asyncIterator]());
        expect(String(err)).toMatch(/dump\(\) must not be reached/);
        const f = rec.filters[0]!;
        const side = key.startsWith('reply') ? f.reply! : f.orig!;
        const isSrc = key === 'src' || key === 'replySrc';
        expect(f.family).toBe(a.v6 ? 10 : 2);
        expect([...(isSrc ? side.src! : side.dst!)]).toEqual(a.bytes);
        expect(isSrc ? side.srcPrefix : side.dstPrefix).toBe(prefix ?? (a.v6 ? 128 : 32));
      }),
      params(200),
    );
  });

  test('filters: each field reaches native code normalised (names in any case, marks, labels, states)', async () => {
    const filter = fc.record(
      {
        protocol: fc.constantFrom<string | number>('tcp', 6),
        srcPort: fc.integer({ min: 0, max: 65535 }),
        replyDstPort: fc.integer({ min: 0, max: 65535 }),
        zone: fc.integer({ min: 0, max: 65535 }),
        mark: fc.oneof(fc.integer({ min: 0, max: U32 }),
          fc.record({ value: fc.integer({ min: 0, max: U32 }), mask: fc.integer({ min: 0, max: U32 }) })),
        status: fc.oneof(fc.constantFrom(...STATUS_NAMES),
          fc.uniqueArray(fc.constantFrom(...STATUS_NAMES), { minLength: 1 })).map((s) =>
            Array.isArray(s) ? s.map((x, i) => (i % 2 ? x.toLowerCase() : x)) : s
          ),
        state: fc.uniqueArray(fc.constantFrom(...TCP_STATES), { minLength: 1, maxLength: 4 }),
        labels: fc.oneof(fc.integer({ min: 0, max: 127 }),
          fc.array(fc.integer({ min: 0, max: 127 }), { minLength: 1, maxLength: 6 })),
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(filter, async (f) => {
        clear();
        await failure(() => ct.list(f as never)[Symbol.asyncIterator]());
        expect(rec.calls).toEqual(['dump']);
        const n = rec.filters[0]!;
        const want: Record<string, unknown> = { kernel: true };
        if (f.protocol !== undefined || f.state !== undefined) want.protocol = 6;
        if (f.srcPort !== undefined) want.orig = { srcPort: f.srcPort };
        if (f.replyDstPort !== undefined) want.reply = { dstPort: f.replyDstPort };
        if (f.zone !== undefined) want.zone = f.zone;
        if (typeof f.mark === 'number') Object.assign(want, { mark: f.mark, markMask: U32 });
        else if (f.mark) Object.assign(want, { mark: f.mark.value, markMask: f.mark.mask });
        if (f.status !== undefined) {
          const bits =
            [f.status].flat().reduce((m, s) => m | (1 << STATUS_NAMES.indexOf(s.toUpperCase() as never)), 0) >>> 0;
          Object.assign(want, { status: bits, statusMask: bits });
        }
        if (f.state !== undefined) want.tcpStates = f.state.reduce((m, s) => m | (1 << TCP_STATES.indexOf(s)), 0);
        if (f.labels !== undefined) {
          const w = new Uint32Array(4);
          for (const b of [f.labels].flat()) w[b >>> 5]! |= 1 << (b & 31);
          want.labels = w;
        }
        expect(n).toEqual(want);
      }),
      params(200),
    );
  });

  test('flows: create() sends the original, its reply swapped, and the fields as given', async () => {
    const flow = fc.record({
      protocol: fc.constantFrom('tcp', 'udp', 'sctp', 'dccp', 'udplite'),
      addrs: fc.boolean().chain((v6) => fc.tuple(v6 ? ipv6 : ipv4, v6 ? ipv6 : ipv4)),
      srcPort: fc.integer({ min: 0, max: 65535 }),
      dstPort: fc.integer({ min: 0, max: 65535 }),
      timeout: fc.integer({ min: 0, max: U32 }),
      mark: fc.option(fc.integer({ min: 0, max: U32 }), { nil: undefined }),
      status: fc.option(fc.uniqueArray(fc.constantFrom(...STATUS_NAMES), { minLength: 1 }), { nil: undefined }),
    });
    await fc.assert(
      fc.asyncProperty(flow, async ({ protocol, addrs: [a, b], ...rest }) => {
        clear();
        await ct.create({ protocol: protocol as never, src: a.text, dst: b.text, ...rest });
        expect(rec.calls).toEqual(['create']);
        const s = rec.specs[0]!;
        expect(s.family).toBe(a.bytes.length === 4 ? 2 : 10);
        expect(s.protocol).toBe(PROTOCOLS[protocol as keyof typeof PROTOCOLS]);
        expect(s.reply).toEqual({ src: b.bytes, dst: a.bytes, srcPort: rest.dstPort, dstPort: rest.srcPort });
        expect(s.timeout).toBe(rest.timeout);
        expect(s.mark).toBe(rest.mark);
        expect(s.status).toBe(rest.status?.reduce((m, n) => m | (1 << STATUS_NAMES.indexOf(n)), 0));
      }),
      params(200),
    );
  });

  test('subscribe(): the group configuration native code gets', async () => {
    const opts = fc.record(
      {
        group: fc.integer({ min: 0, max: 65535 }),
        copy: fc.constantFrom('none', 'meta', 'packet'),
        range: fc.integer({ min: 0, max: 65535 }),
        nlbufsiz: fc.integer({ min: 4096, max: 1 << 22 }),
        qthreshold: fc.integer({ min: 1, max: 1 << 20 }),
        timeout: fc.double({ min: 0, max: 4e7, noNaN: true }).map(Math.abs),
        sequence: fc.constantFrom(true, false, 'local', 'global', 'both'),
        conntrack: fc.boolean(),
      },
      { requiredKeys: ['group'] },
    );
    await fc.assert(
      fc.asyncProperty(opts, async (o) => {
        clear();
        const s = nf.subscribe(o as never);
        await s.close();
        expect(subscribed).toHaveLength(1);
        const seq = o.sequence ?? false;
        const flags = (seq === true || seq === 'local' || seq === 'both' ? 1 : 0) |
          (seq === 'global' || seq === 'both' ? 2 : 0) | (o.conntrack ? 4 : 0);
        expect(subscribed[0]!.config).toEqual({
          group: o.group,
          copyMode: { none: 0, meta: 1, packet: 2 }[o.copy ?? 'packet'],
          range: o.range ?? 0xffff,
          nlbufsiz: o.nlbufsiz ?? 128 << 10,
          qthreshold: o.qthreshold ?? 100,
          timeout: o.timeout === undefined ? 10 : Math.round(o.timeout * 100),
          flags,
        });
      }),
      params(200),
    );
  });

  test('events(): the event types become the multicast groups native code joins', async () => {
    // The handle's native half, through its seam for tests (taken out and put back).
    const seam = ct as unknown as { replaceNative(n: NativeConntrack | undefined): NativeConntrack | undefined };
    const holder = { native: seam.replaceNative(undefined)! };
    seam.replaceNative(holder.native);
    const realEvents = holder.native.events;
    const realExpect = holder.native.expectEvents;
    const joined: number[][] = [];
    holder.native.events = (_f,
      groups) => ((joined.at(-1)![0] = groups), { release() {}, stats: () => new Float64Array(5), close() {} });
    holder.native.expectEvents = (
      groups,
    ) => ((joined.at(-1)![1] = groups), { release() {}, stats: () => new Float64Array(5), close() {} });
    try {
      const TYPES = ['new', 'update', 'destroy', 'expect-new', 'expect-destroy'] as const;
      const GROUP = { new: 1, update: 2, destroy: 3, 'expect-new': 4, 'expect-destroy': 6 };
      await fc.assert(
        fc.asyncProperty(fc.uniqueArray(fc.constantFrom(...TYPES), { minLength: 1 }), async (types) => {
          joined.push([0, 0]);
          void ct.events({ types }).close();
          const bits = (ts: readonly string[]): number =>
            ts.reduce((m, t) => m | (1 << GROUP[t as keyof typeof GROUP]), 0);
          expect(joined.at(-1)).toEqual([bits(types.filter((t) => !t.startsWith('expect'))),
            bits(types.filter((t) => t.startsWith('expect')))]);
        }),
        params(60),
      );
    } finally {
      holder.native.events = realEvents;
      holder.native.expectEvents = realExpect;
    }
  });

  test('netns: names, paths and pids designate the namespace file', async () => {
    const netns = fc.oneof(
      fc.stringMatching(/^[A-Za-z0-9_.-]{1,30}$/).filter((s) => s !== '.' && s !== '..').map((n) =>
        [n, `/run/netns/${n}`] as const
      ),
      fc.stringMatching(/^\/[ -~]{0,40}$/).map((p) => [p, p] as const),
      fc.integer({ min: 1, max: 2 ** 31 - 1 }).map((pid) => [{ pid }, `/proc/${pid}/ns/net`] as const),
      fc.stringMatching(/^[A-Za-z0-9_-]{1,20}$/).map((name) => [{ name }, `/run/netns/${name}`] as const),
    );
    const open = addon.openConntrack as unknown as MockInstance;
    await fc.assert(
      fc.asyncProperty(netns, async ([value, path]) => {
        clear();
        const h = await Conntrack.open({ netns: value as never });
        await h.close();
        expect(open).toHaveBeenCalledTimes(1);
        expect(open).toHaveBeenLastCalledWith(path);
      }),
      params(150),
    );
  });

  test('Trace.open: NFLOG is opened (in another namespace, without legacy, only to check it can be entered), the nf_log backend touched for bindLogger only', async () => {
    const openNflog = addon.openNflog as unknown as MockInstance;
    const backend = addon.nfLogBackend as unknown as MockInstance;
    await fc.assert(
      fc.asyncProperty(fc.boolean(), fc.boolean(), fc.boolean(), async (nftables, legacy, bind) => {
        fc.pre(nftables || legacy);
        clear();
        const t = await Trace.open({ netns: '/proc/self/ns/net', nftables, legacy, bindLogger: bind });
        expect(openNflog).toHaveBeenCalledTimes(1);
        expect(backend).toHaveBeenCalledTimes(bind ? 2 : 0);
        await t.close();
        expect(backend).toHaveBeenCalledTimes(bind ? 4 : 0);
      }),
      params(24),
    );
  });

  test('trace match: valid matches are accepted; the stream starts its reader (subscribed on return) and nothing else', async () => {
    const traceEvents = addon.traceEvents as unknown as MockInstance;
    traceEvents.mockImplementation(() => ({ release() {}, stats: () => new Float64Array(5), close() {} }));
    const match = fc.record(
      {
        family: fc.constantFrom('ipv4', 'ipv6'),
        protocol: fc.constantFrom('tcp', 'udp', 'sctp'),
        src: ipv4.map((a) => a.text),
        port: fc.integer({ min: 0, max: 65535 }),
        dstPort: fc.integer({ min: 0, max: 65535 }),
      },
      { requiredKeys: ['protocol'] },
    ).filter((m) => !(m.family === 'ipv6' && m.src !== undefined));
    fc.assert(
      fc.property(match, (m) => {
        clear();
        void trace.events({ match: m as never }).close();
        expect(nativeCalls()).toEqual([`${traceEvents.getMockName()} x1`]);
      }),
      params(100),
    );
    traceEvents.mockImplementation(() => {
      throw new Error('test: traceEvents() must not be reached');
    });
  });
});

test('nothing above changed Object.prototype', () => {
  expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(protoBefore);
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
});

// ---- bugs these properties found ---------------------------------------------------------------

describe('regressions: bugs these properties found', () => {
  test('netns: null is refused with a TypeError naming netns (was: Object.keys(null) in lib/core/netns.ts)', async () => {
    clear();
    await refused(() => Conntrack.open({ netns: null as never }), 'netns', undefined, TypeError);
    await refused(() => Nflog.open({ netns: null as never }), 'netns', undefined, TypeError);
    await refused(() => Trace.open({ netns: null as never }), 'netns', undefined, TypeError);
    expect(nativeCalls()).toEqual([]);
  });

  test('delete({ id: undefined }) is refused before any dump (was: optionalInteger let undefined through to a dump)', async () => {
    clear();
    await refused(() => ct.delete({ id: undefined } as never), 'delete() target.id', undefined, TypeError);
    expect(nativeCalls()).toEqual([]);
  });

  test('a Flow-like object whose original is not a tuple is refused naming the argument (was: "Cannot read properties of null")', async () => {
    for (const original of [null, 5, 'x']) {
      clear();
      await refused(() => ct.get({ original, status: 0 } as never), 'get() tuple', undefined, TypeError);
      await refused(() => ct.delete({ original, status: 0 } as never), 'delete() target', undefined, TypeError);
      expect(nativeCalls()).toEqual([]);
    }
  });

  test('expectations.delete() of an Expectation-like object without a tuple is refused naming the target (was: "Cannot read properties of undefined")', async () => {
    for (const tuple of [undefined, null, 5]) {
      clear();
      await refused(() => ct.expectations.delete({ mask: {}, master: {}, tuple } as never),
        'expectations.delete() target', undefined, TypeError);
      expect(nativeCalls()).toEqual([]);
    }
  });

  test('null is refused like any other wrong type (was: taken for "not given" by ??)', async () => {
    const cases: [() => unknown, string][] = [
      [() => ct.list({ table: null } as never), 'list() options.table'],
      [() => ct.createMany([], { ifExists: null } as never), 'createMany() options.ifExists'],
      [() => nf.subscribe({ group: 1, copy: null } as never), 'subscribe() options.copy'],
      [() => nf.subscribe({ group: 1, sequence: null } as never), 'subscribe() options.sequence'],
      [() => ct.expectations.create({ ...okExp, mask: null } as never), 'expectations.create().mask'],
      [() => ct.create({ ...okFlow, reply: { src: null } } as never), 'create() flow.reply.src'],
    ];
    for (const [fn, where] of cases) {
      clear();
      await refused(fn, where, undefined, TypeError);
      expect(nativeCalls()).toEqual([]);
    }
  });
});

// ---- regressions: bugs this suite found, now fixed ----------------------------------------------

describe('regressions found by these properties', () => {
  test('update() with labels: {} is "nothing to change" (lib/conntrack/flowspec.ts normalizeChanges counts an empty labels change)', async () => {
    clear();
    await refused(() => ct.update(tcp as never, { labels: {} }), 'update() changes', undefined, TypeError);
    expect(nativeCalls()).toEqual([]);
  });

  test('expectations.flush({ helper }) refuses a name longer than a helper name (lib/conntrack/expect.ts flush() only checks it is a non-empty string; native/ct/expect_ops.cc:104 copies it into a fixed MNL_SOCKET_BUFFER_SIZE request with mnl_attr_put_strz: a heap overflow)', async () => {
    clear();
    await refused(() => ct.expectations.flush({ helper: 'x'.repeat(64 * 1024) }), 'expectations.flush() options.helper',
      undefined, TypeError);
    expect(nativeCalls()).toEqual([]);
  });

  test('netns paths with a NUL byte are refused (lib/core/netns.ts takes any string starting with "/"; native code opens the path cut at the NUL)', async () => {
    clear();
    await refused(() => Conntrack.open({ netns: '/proc/self/ns/net\0/../../x' }), 'netns', undefined, TypeError);
  });

  test('trace options.match.src/dst that are not strings are refused naming them (lib/trace/rules.ts matchExpression: (m.src ?? m.dst ?? "").includes runs before the check: "... .includes is not a function")', async () => {
    await refused(() => trace.events({ match: { src: 5 } } as never), 'trace options.match', 'src', TypeError);
  });

  test('trace options.match.src/dst must be addresses of one family (lib/trace/rules.ts matchExpression only checks /^[0-9a-fA-F:.]+(\\/\\d{1,3})?$/: "999.1.1.1", "::::", "1.2.3.4/99" and mixed families are accepted, and nft fails later with a plain Error)', async () => {
    for (const match of [{ src: '999.1.1.1' }, { dst: '::::' }, { src: '1.2.3.4/99' }, { src: '10.0.0.1', dst: '::1' },
      { family: 'ipv4', src: '::1' }])
    {
      await refused(() => trace.events({ match } as never), 'trace options.match', undefined, TypeError);
    }
  });

  test('trace packets() options that are not an object are refused naming them (lib/trace/handle.ts packets(): null throws "Cannot read properties of null (reading \'idleMs\')"; 5 and [] are accepted)', async () => {
    for (const v of [null, 5, [], 'ab']) {
      await refused(() => trace.packets(v as never), 'packets() options', undefined, TypeError);
    }
  });
});
