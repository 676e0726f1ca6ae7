/**
 * Fuzzing, seeded and bounded, of every decoder that reads bytes or text from outside.
 *
 * - The native message decoders (addon.decodeForTest: 'flow', 'expect', 'packet', 'trace') on
 *   netlink messages built attribute by attribute from the attribute layouts of each subsystem
 *   (so deep paths are reached), with unknown, empty, truncated, overlong and misplaced nested
 *   attributes, headers whose length lies, cut messages, and plain random bytes. Each call must
 *   return; the JS decoders of the records it returns (decodeFlows, decodeExpectations,
 *   decodePackets, the trace and event streams) must not throw either.
 * - decodePacket, parseLogLine, parseTracePrefix/parseTraceLine and formatLogLine on random,
 *   crafted, truncated and mutated input (real packets and lines from test/fixtures/log).
 *
 * None may throw anything but the documented TypeError for a wrong argument type; a hang ends
 * the test by its timeout. FC_SEED / FC_RUNS explore further; a failure prints seed and input.
 * Under the AddressSanitizer build of the addon (NFCT_ADDON=..., LD_PRELOAD=libasan.so) the same
 * runs check the native side for out-of-bounds reads.
 *
 * The bugs it found are regression tests at the end.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import fc from 'fast-check';
import { afterEach, describe, expect, type MockInstance, test, vi } from 'vitest';

import { decodeExpectations } from '../../lib/conntrack/expect.js';
import { decodeFlows, FLOW_WORDS, jsonSafe } from '../../lib/conntrack/flow.js';
import { ExpectWord, PacketPresent, PacketWord, TraceWord } from '../../lib/core/layout.js';
import { addon, type NativeConntrack, type NativeStream, type OnBatch } from '../../lib/core/native.js';
import { Conntrack, decodePacket, decodePackets, Nflog, parseTraceLine, parseTracePrefix,
  Trace } from '../../lib/index.js';
import { formatLogLine } from '../../lib/nflog/logline-format.js';
import { parseLogLine } from '../../lib/nflog/logline-parse.js';
import type { NflogPacket } from '../../lib/nflog/types.js';
import { encodeMessage, hugeString, junk, message, MSG_TYPES, mutated, type NlMessage, packetBytes, params, plain,
  SCHEMAS, traceMessage } from '../support/arbitraries.js';
import { batchCounters } from '../support/batches.js';

const { PACKET_WORDS, PACKET_PAYLOAD, PACKET_HWHEADER, PACKET_HWADDR, PACKET_L2HDR } = PacketWord;
const { PACKET_HAS_PAYLOAD, PACKET_HAS_HWHEADER, PACKET_HAS_HWADDR, PACKET_HAS_L2HDR, PACKET_HAS_CT } = PacketPresent;
const { EXPECT_WORDS } = ExpectWord;
const { TRACE_WORDS } = TraceWord;
const WORDS = { flow: FLOW_WORDS, expect: EXPECT_WORDS, trace: TRACE_WORDS } as const;

// ---- fixtures: real packets and the kernel's lines about them --------------------------------

interface FixturePacket {
  nflog: Record<string, unknown> & { payload: string; hwHeader?: string };
  lines: { text: string; stamp: string }[];
}
const fixtures = ['loopback', 'bridge'].map(
  (n) =>
    JSON.parse(readFileSync(join(__dirname, '..', 'fixtures', 'log', `${n}.json`), 'utf8')) as {
      packets: FixturePacket[];
    },
);
const fixturePackets = fixtures.flatMap((f) => f.packets);
const payloads = fixturePackets.map((p) => new Uint8Array(Buffer.from(p.nflog.payload, 'hex'))).filter((b) =>
  b.length > 0
);
const lines = fixturePackets.flatMap((p) => p.lines.flatMap((l) => [l.text, `${l.stamp} ${l.text}`]));
const packets = packetBytes(payloads);

// ---- helpers -----------------------------------------------------------------------------------

type Kind = 'flow' | 'expect' | 'packet' | 'trace';
interface Records {
  buffer: ArrayBuffer;
  strings: string;
  count: number;
  malformed: number;
}

function decode(kind: Kind, bytes: Buffer): Records {
  const r = addon.decodeForTest(kind, bytes);
  expect(Array.isArray(r)).toBe(true);
  const [buffer, strings, count, malformed] = r;
  expect(buffer).toBeInstanceOf(ArrayBuffer);
  expect(typeof strings).toBe('string');
  // one message: one record at most, or one malformed message
  expect(count + malformed).toBeLessThanOrEqual(1);
  return { buffer, strings, count, malformed };
}

/** Where the byte fields of packet records point, and how far the batch's bytes must reach. */
const PACKET_BYTES: [bit: number, word: number][] = [
  [PACKET_HAS_PAYLOAD, PACKET_PAYLOAD],
  [PACKET_HAS_HWHEADER, PACKET_HWHEADER],
  [PACKET_HAS_HWADDR, PACKET_HWADDR],
  [PACKET_HAS_L2HDR, PACKET_L2HDR],
];

function packetRecordWords(w: Uint32Array, at: number): number {
  return PACKET_WORDS + (w[at]! & PACKET_HAS_CT ? FLOW_WORDS : 0);
}

/** Makes the byte fields of packet records point into one bytes buffer, filled from `fill`. */
function packetBytesFor(words: Uint32Array, count: number, fill: Uint8Array): ArrayBuffer {
  let total = 0;
  for (let n = 0, b = 0; n < count; n++) {
    for (const [bit, word] of PACKET_BYTES) {
      if (words[b]! & bit) {
        words[b + word] = total;
        total += words[b + word + 1]!;
      }
    }
    b += packetRecordWords(words, b);
  }
  const out = new Uint8Array(total);
  for (let i = 0; i < total && fill.length > 0; i += fill.length) out.set(fill.subarray(0, total - i), i);
  return out.buffer;
}

/** Touches what a consumer would: every field, JSON. */
function consume(value: unknown): void {
  JSON.stringify(jsonSafe(value));
}

// ---- the native decoders ---------------------------------------------------------------------

describe('native message decoders on hostile netlink messages', () => {
  for (const kind of ['flow', 'expect', 'packet'] as const) {
    test(`${kind}: attributes of its subsystem, nested, empty, truncated, overlong; lying headers`, () => {
      let records = 0;
      let malformed = 0;
      fc.assert(
        fc.property(message(MSG_TYPES[kind], SCHEMAS[kind]), fc.uint8Array({ maxLength: 256 }), (m, fill) => {
          const r = decode(kind, encodeMessage(m));
          records += r.count;
          malformed += r.malformed;
          if (kind === 'packet') {
            const w = new Uint32Array(r.buffer);
            expect(w.length).toBe(r.count === 0 ? 0 : packetRecordWords(w, 0));
            const bytes = packetBytesFor(w, r.count, fill);
            const out = decodePackets({ buffer: r.buffer, strings: r.strings, count: r.count, bytes });
            expect(out).toHaveLength(r.count);
            consume(out);
          } else {
            expect(r.buffer.byteLength).toBe(r.count * WORDS[kind] * 4);
            const out = kind === 'flow'
              ? decodeFlows(r.buffer, r.strings, r.count)
              : decodeExpectations(r.buffer, r.strings, r.count);
            expect(out).toHaveLength(r.count);
            for (const x of out) consume(x);
          }
        }),
        params(1500),
      );
      // the generator reaches both outcomes (flows and expectations can be malformed; NFLOG never is)
      expect(records).toBeGreaterThan(100);
      if (kind !== 'packet') expect(malformed).toBeGreaterThan(100);
    });
  }

  test('trace: well-formed trace messages decode to one record each, header fields pointing into the headers', () => {
    let records = 0;
    let runs = 0;
    fc.assert(
      fc.property(traceMessage(packets), (m) => {
        runs++;
        const r = decode('trace', m.bytes);
        records += r.count;
        expect(r.buffer.byteLength).toBe(r.count * TRACE_WORDS * 4);
        // where the header fields point is within the headers the message carried
        const w = new Uint32Array(r.buffer);
        for (const [bit, word] of [[1 << 10, 13], [1 << 11, 15], [1 << 12, 17]] as const) {
          if (r.count > 0 && w[0]! & bit) expect(w[word]! + w[word + 1]!).toBeLessThanOrEqual(m.headers.length);
        }
      }),
      params(1500),
    );
    expect(records).toBe(runs);
  });

  test('trace: attributes of nf_tables traces, nested, empty, truncated, overlong; lying headers', () => {
    // Run in a child first: a decoder that ends the process (libnftnl did) fails here, clearly,
    // rather than killing this test worker.
    const sample = fc.sample(message(MSG_TYPES.trace, SCHEMAS.trace), { seed: 3, numRuns: 200 }).map(encodeMessage);
    const child = traceInChild(sample);
    expect(child.output, 'the trace decoder ended a child process on malformed messages').toContain(
      `decoded ${sample.length}`,
    );
    expect(child.status).toBe(0);
    let records = 0;
    fc.assert(
      fc.property(message(MSG_TYPES.trace, SCHEMAS.trace), (m) => {
        const r = decode('trace', encodeMessage(m));
        records += r.count;
        expect(r.buffer.byteLength).toBe(r.count * TRACE_WORDS * 4);
      }),
      params(1500),
    );
    expect(records).toBeGreaterThan(100);
  });

  test('every kind: random bytes, and messages of the other kinds', () => {
    const anyMessage = fc.oneof(
      ...(['flow', 'expect', 'packet', 'trace'] as const).map((k) =>
        message(MSG_TYPES[k], SCHEMAS[k]).map((m) => encodeMessage(m))
      ),
      traceMessage(packets).map((m) => m.bytes),
      fc.uint8Array({ maxLength: 400 }).map((b) => Buffer.from(b)),
      // a plausible header over random bytes
      fc.tuple(fc.uint8Array({ minLength: 16, maxLength: 400 }),
        fc.constantFrom(0x100, 0x102, 0x200, 0x202, 0x400, 0xa11, 0x0)).map(([b, type]) => {
          const buf = Buffer.from(b);
          buf.writeUInt32LE(buf.length, 0);
          buf.writeUInt16LE(type, 4);
          return buf;
        }),
    );
    fc.assert(
      fc.property(anyMessage, fc.constantFrom<Kind>('flow', 'expect', 'packet', 'trace'), (bytes, kind) => {
        const r = decode(kind, bytes);
        if (kind === 'flow') consume(decodeFlows(r.buffer, r.strings, r.count));
        if (kind === 'expect') consume(decodeExpectations(r.buffer, r.strings, r.count));
      }),
      params(3000),
    );
  });

  test('messages exactly as long as their nlmsghdr says, however short (no room for the nfgenmsg)', () => {
    // A regression: the NFLOG decoder once read the nfgenmsg of a 16-19 byte message before
    // checking its length. The normal build read stray bytes and went on, so only the
    // AddressSanitizer build (npm run test:asan) sees a read past the message; here they must return.
    for (const kind of ['flow', 'expect', 'packet', 'trace'] as const) {
      for (const type of [...MSG_TYPES[kind]]) {
        for (let len = 16; len <= 24; len++) {
          const b = Buffer.alloc(len);
          b.writeUInt32LE(len, 0);
          b.writeUInt16LE(type, 4);
          decode(kind, b);
        }
      }
    }
  });

  test('decodeForTest refuses what is not (kind, Buffer) with a TypeError', () => {
    fc.assert(
      fc.property(junk, junk, (k, b) => {
        fc.pre(!(typeof k === 'string' && ['flow', 'expect', 'packet', 'trace'].includes(k) && Buffer.isBuffer(b)));
        expect(() => addon.decodeForTest(k as never, b as never)).toThrow(TypeError);
      }),
      params(200),
    );
  });
});

// ---- the JS record decoders on records native code never makes -------------------------------

describe('JS record decoders on random records', () => {
  const words = (n: number): fc.Arbitrary<Uint32Array> =>
    fc.array(fc.oneof(fc.constant(0), fc.constant(0xffffffff), fc.integer({ min: 0, max: 0xffffffff })), { minLength: n,
      maxLength: n }).map((a) => Uint32Array.from(a));
  const strings = fc.array(fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('', '10.0.0.1', '::1')), {
    maxLength: 12,
  }).map((s) => s.join('\0'));

  test('decodeFlows and decodeExpectations: any words, too few or too many strings', () => {
    fc.assert(
      fc.property(fc.nat(3).chain((c) => fc.tuple(fc.constant(c), words(c * FLOW_WORDS), words(c * EXPECT_WORDS))),
        strings, ([count, fw, ew], s) => {
        consume(decodeFlows(fw.buffer as ArrayBuffer, s, count));
        consume(decodeExpectations(ew.buffer as ArrayBuffer, s, count));
      }),
      params(300),
    );
  });

  test('decodePackets: records laid out as native code lays them out, any contents', () => {
    const record = fc.tuple(words(PACKET_WORDS), words(FLOW_WORDS), fc.integer({ min: 0, max: 2000 })).map(
      ([p, f, len]) => {
        for (const [, word] of PACKET_BYTES) p[word + 1] = len % (word + 50);
        return p[0]! & PACKET_HAS_CT ? [...p, ...f] : [...p];
      },
    );
    fc.assert(
      fc.property(fc.array(record, { maxLength: 5 }), strings, fc.uint8Array({ maxLength: 300 }), (recs, s, fill) => {
        const w = Uint32Array.from(recs.flat());
        const bytes = packetBytesFor(w, recs.length, fill);
        const out = decodePackets({ buffer: w.buffer, strings: s, count: recs.length, bytes });
        expect(out).toHaveLength(recs.length);
        for (const p of out) {
          if (p.payload) expect(p.payload.length).toBeLessThanOrEqual(bytes.byteLength);
        }
        consume(out);
      }),
      params(300),
    );
  });
});

// ---- the streams over hostile records ----------------------------------------------------------

describe('streams decode hostile batches without throwing', () => {
  let spies: MockInstance[] = [];
  const restoreSpies = (): void => {
    for (const s of spies) s.mockRestore();
    spies = [];
  };
  afterEach(restoreSpies);
  /** The end of one run of a property: every item read through, the addon's own functions back. */
  const finish = (items: unknown[]): void => {
    consume(items);
    restoreSpies();
  };

  interface Batch {
    buffer: ArrayBuffer;
    strings: string;
    count: number;
    bytes: ArrayBuffer | undefined;
  }

  /** A native stream that hands over these batches, then ends. */
  function feeding(batches: Batch[], onBatch: OnBatch): NativeStream {
    setImmediate(() => {
      for (const b of batches) onBatch(b.buffer, b.strings, b.bytes, batchCounters(b.count, 0, false), undefined);
      onBatch(new ArrayBuffer(0), '', undefined, batchCounters(0, 1, true, 1, 4096), undefined);
    });
    return { release() {}, stats: () => new Float64Array(5), close() {} };
  }

  /** Joins the records of single messages into one batch, moving their byte fields. */
  function join1(recs: { r: Records; bytes: Uint8Array }[], fields: [number, number][]): Batch {
    const words: number[] = [];
    const parts: Uint8Array[] = [];
    let at = 0;
    let strings = '';
    let count = 0;
    for (const { r, bytes } of recs) {
      if (r.count === 0) continue;
      const w = Array.from(new Uint32Array(r.buffer));
      for (const [bit, word] of fields) if (w[0]! & bit) w[word] = w[word]! + at;
      words.push(...w);
      parts.push(bytes);
      at += bytes.length;
      strings += r.strings;
      count += r.count;
    }
    const all = Buffer.concat(parts);
    return { buffer: Uint32Array.from(words).buffer, strings, count,
      bytes: all.buffer.slice(all.byteOffset, all.byteOffset + all.length) };
  }

  /** An NFLOG message as legacy TRACE logs it: a TRACE prefix (mutated), a packet, devices. */
  const nflogMessage = fc
    .record({
      prefix: fc.oneof(
        fc.tuple(fc.constantFrom('raw', 'filter', 'mangle', 'nat'),
          fc.constantFrom('PREROUTING', 'OUTPUT', 'cali-fw:x', 'a-b:c'), fc.constantFrom('rule', 'return', 'policy'),
          fc.nat(99)).map(
            ([t, c, k, n]) => `TRACE: ${t}:${c}:${k}:${n} `,
          ),
        fc.string({ maxLength: 40 }),
        mutated(fc.constant(new Uint8Array(Buffer.from('TRACE: raw:OUTPUT:rule:2 ')))).map((b) =>
          Buffer.from(b).toString('latin1')
        ),
      ),
      payload: packets,
      hook: fc.nat(6),
      family: fc.constantFrom(2, 10, 7, 0),
      seq: fc.option(fc.nat(5), { nil: undefined }),
    })
    .map(({ prefix, payload, hook, family, seq }) => {
      const hdr = Buffer.alloc(4);
      hdr.writeUInt16BE(family === 10 ? 0x86dd : 0x0800, 0);
      hdr[2] = hook;
      const u32 = (n: number): Uint8Array => {
        const b = Buffer.alloc(4);
        b.writeUInt32BE(n, 0);
        return new Uint8Array(b);
      };
      const attrs = [plain(1, new Uint8Array(hdr)), plain(10, new Uint8Array(Buffer.from(`${prefix}\0`, 'latin1'))),
        plain(9, payload), plain(4, u32(1)), plain(5, u32(2))];
      if (seq !== undefined) attrs.push(plain(12, u32(seq)));
      const m: NlMessage = { type: 0x400, flags: 0, family, resId: 0, attrs, lenDelta: 0, trailer: new Uint8Array(0),
        cut: undefined, fit: false };
      return { bytes: encodeMessage(m), payload };
    });

  test('NFLOG: PacketStream (sequence gaps) and legacy TRACE hops over decoded NFLOG messages', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(nflogMessage, { maxLength: 6 }), fc.boolean(), async (msgs, viaTrace) => {
        const recs = msgs.map((m) => ({ r: decode('packet', m.bytes), bytes: m.payload }));
        const batch = join1(recs, [[1 << 8, 17]]);
        spies.push(
          vi.spyOn(addon, 'openNflog').mockImplementation(async () => ({
            subscribe: (_config, onBatch) => feeding([batch], onBatch),
            close() {},
          })),
        );
        const items: unknown[] = [];
        if (viaTrace) {
          const t = await Trace.open({ nftables: false });
          try {
            for await (const e of t.events({ resolveRules: false })) items.push(e);
          } finally {
            await t.close();
          }
        } else {
          const nf = await Nflog.open();
          try {
            for await (const e of nf.subscribe({ group: 1, sequence: true })) items.push(e);
          } finally {
            await nf.close();
          }
          expect(items.filter((e) => (e as { type: string }).type === 'packet')).toHaveLength(batch.count);
        }
        finish(items);
      }),
      params(150),
    );
  });

  test('nftables TRACE: events and packets() over decoded trace messages', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(traceMessage(packets), { maxLength: 6 }), fc.boolean(), async (msgs, grouped) => {
        const recs = msgs.map((m) => ({ r: decode('trace', m.bytes), bytes: new Uint8Array(m.headers) }));
        const batch = join1(recs, [[1 << 10, 13], [1 << 11, 15], [1 << 12, 17]]);
        spies.push(vi.spyOn(addon, 'traceEvents').mockImplementation((_ns, onBatch) => feeding([batch], onBatch)));
        const t = await Trace.open({ legacy: false });
        const items: unknown[] = [];
        try {
          const stream = grouped ? t.packets({ resolveRules: false, idleMs: 1 }) : t.events({ resolveRules: false });
          for await (const e of stream) items.push(e);
        } finally {
          await t.close();
        }
        if (!grouped) expect(items).toHaveLength(batch.count);
        finish(items);
      }),
      params(150),
    );
  });

  test('conntrack events: EventStream over decoded flow and expectation messages', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(message(MSG_TYPES.flow, SCHEMAS.flow), { maxLength: 6 }),
        fc.array(message(MSG_TYPES.expect, SCHEMAS.expect), { maxLength: 6 }),
        async (flows, exps) => {
          const fb = join1(flows.map((m) => ({ r: decode('flow', encodeMessage(m)), bytes: new Uint8Array(0) })), []);
          const eb = join1(exps.map((m) => ({ r: decode('expect', encodeMessage(m)), bytes: new Uint8Array(0) })), []);
          const fake = {
            events: (_f: unknown, _g: number, onBatch: OnBatch) => feeding([fb], onBatch),
            expectEvents: (_g: number, onBatch: OnBatch) => feeding([eb], onBatch),
            close() {},
          } as unknown as NativeConntrack;
          spies.push(vi.spyOn(addon, 'openConntrack').mockImplementation(async () => fake));
          const ct = await Conntrack.open();
          const items: { type: string }[] = [];
          try {
            for await (const e of ct.events({ types: ['new', 'update', 'destroy', 'expect-new', 'expect-destroy'] })) {
              items.push(e);
            }
          } finally {
            await ct.close();
          }
          expect(items.filter((e) => e.type !== 'overrun')).toHaveLength(fb.count + eb.count);
          finish(items);
        },
      ),
      params(100),
    );
  });
});

// ---- packets ---------------------------------------------------------------------------------------

describe('decodePacket', () => {
  const family = fc.constantFrom<'ipv4' | 'ipv6' | 2 | 10>('ipv4', 'ipv6', 2, 10);

  test('crafted, real, mutated, truncated and random packets decode without throwing', () => {
    fc.assert(
      fc.property(packets, family, (bytes, fam) => {
        const p = decodePacket(bytes, fam);
        expect(p.family).toBe(fam === 2 || fam === 'ipv4' ? 'ipv4' : 'ipv6');
        expect(p.length).toBe(bytes.length);
        if (p.truncated) expect(typeof p.truncatedLayer).toBe('string');
        consume(p);
      }),
      params(4000),
    );
  });

  test('a view into a larger buffer decodes as its own bytes do', () => {
    fc.assert(
      fc.property(packets, fc.uint8Array({ maxLength: 9 }), fc.uint8Array({ maxLength: 9 }), family,
        (bytes, before, after, fam) => {
          const all = Buffer.concat([before, bytes, after]);
          const view = new Uint8Array(all.buffer, all.byteOffset + before.length, bytes.length);
          expect(jsonSafe(decodePacket(view, fam))).toEqual(jsonSafe(decodePacket(Buffer.from(bytes), fam)));
        }),
      params(1000),
    );
  });

  test('1 MiB packets decode in bounded time', () => {
    fc.assert(
      fc.property(packets, fc.constantFrom(0, 0xff, 0x45, 0x60), family, (head, fill, fam) => {
        const big = Buffer.alloc(1 << 20, fill);
        big.set(head.subarray(0, big.length));
        consume(decodePacket(big, fam));
      }),
      params(20),
    );
  });
});

// ---- LOG lines -------------------------------------------------------------------------------------

/** Random edits of a line: characters, tokens, numbers, brackets. */
function mutateLine(base: fc.Arbitrary<string>): fc.Arbitrary<string> {
  const edit = fc.tuple(
    fc.constantFrom('insert', 'delete', 'replace', 'dupToken', 'dropToken', 'swapTokens', 'bigNumber', 'bracket', 'cut',
      'spaces'),
    fc.nat(),
    fc.nat(),
    fc.oneof(fc.string({ maxLength: 6 }),
      fc.constantFrom('[', ']', '(', ')', '=', ' ', 'IN=', 'OUT=', 'OPT', 'SRC=', '[SRC=', 'INCOMPLETE', 'bytes]',
        'FRAG:', '\n', '\r', '\0', 'ÿ')),
  );
  return fc.tuple(base, fc.array(edit, { minLength: 1, maxLength: 5 })).map(([line, edits]) => {
    let s = line;
    for (const [op, a, b, text] of edits) {
      const i = s.length === 0 ? 0 : a % s.length;
      const tokens = s.split(' ');
      const t = tokens.length === 0 ? 0 : a % tokens.length;
      const u = tokens.length === 0 ? 0 : b % tokens.length;
      switch (op) {
        case 'insert':
          s = s.slice(0, i) + text + s.slice(i);
          break;
        case 'delete':
          s = s.slice(0, i) + s.slice(i + (b % 8) + 1);
          break;
        case 'replace':
          s = s.slice(0, i) + text + s.slice(i + text.length);
          break;
        case 'dupToken':
          tokens.splice(t, 0, ...Array<string>((b % 50) + 1).fill(tokens[t] ?? ''));
          s = tokens.join(' ');
          break;
        case 'dropToken':
          tokens.splice(t, 1);
          s = tokens.join(' ');
          break;
        case 'swapTokens':
          [tokens[t], tokens[u]] = [tokens[u]!, tokens[t]!];
          s = tokens.join(' ');
          break;
        case 'bigNumber':
          s = s.replace(/\d+/, (d) => d + '9'.repeat((b % 40) + 1));
          break;
        case 'bracket':
          s = s.slice(0, i) + (b % 2 ? '[SRC=1.2.3.4 ' : ' ]') + s.slice(i);
          break;
        case 'cut':
          s = s.slice(0, i);
          break;
        case 'spaces':
          s = s.slice(0, i) + ' '.repeat((b % 30) + 1) + s.slice(i);
          break;
      }
    }
    return s;
  });
}

const realLine = fc.constantFrom(...lines);
const syslogHead = fc.constantFrom('', '<4>', 'Jan  2 03:04:05 host kernel: ',
  '2024-01-02T03:04:05.123456+00:00 host kernel: ', '[ 1234.567890] ', '[Tue Jan  2 03:04:05 2024] ', 'host kernel: ');

/** Long repetitions of tokens parsers loop or recurse over. */
const hostileLine = fc
  .tuple(
    fc.constantFrom('OPT ( ', 'OPT ( OPT ( ) ', '[SRC=1 ', 'IN= OUT= ', 'OPT (x) ', 'INCOMPLETE [1 bytes] ', '] ',
      'FRAG:1 ', 'MAC=00:00 ', '= ', 'A=B ', '[ ', '<1>', '[ 1.1] ', 'PROTO=TCP SYN ', 'OPT ( ) '),
    fc.integer({ min: 1000, max: 100000 }),
    syslogHead,
  )
  .map(([tok, n, head]) => `${head}x IN=lo OUT= ${tok.repeat(Math.ceil(n / tok.length))}`);

describe('parseLogLine', () => {
  const check = (line: string): void => {
    const r = parseLogLine(line);
    expect(r.line).toBe(line.replace(/\r?\n$/, ''));
    expect(Array.isArray(r.extra) && Array.isArray(r.unparsed)).toBe(true);
    consume(r);
  };

  test('mutations of real kernel lines, with any syslog/dmesg head', () => {
    fc.assert(fc.property(syslogHead, mutateLine(realLine), (head, line) => check(head + line)), params(3000));
  });

  test('random text', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ maxLength: 200 }), fc.string({ maxLength: 100, unit: 'binary' }),
          fc.string({ maxLength: 200,
            unit: fc.constantFrom(' ', '=', '[', ']', '(', ')', 'I', 'N', 'O', 'U', 'T', 'P', '0', '1', ':', '.') })),
        (s) => check(s),
      ),
      params(3000),
    );
  });

  test('1 MiB lines and long repetitions finish', () => {
    fc.assert(fc.property(fc.oneof(hostileLine, hugeString), (s) => check(s)), params(40));
  });
});

// ---- TRACE prefixes and lines -------------------------------------------------------------------

describe('parseTracePrefix and parseTraceLine', () => {
  const valid = fc.record({
    table: fc.stringMatching(/^[^:\s]{1,20}$/),
    chain: fc.stringMatching(/^\S{1,30}$/),
    kind: fc.constantFrom('rule', 'return', 'policy'),
    rule: fc.integer({ min: 0, max: 2 ** 31 }),
  });

  test('valid prefixes read back as written (chains may hold colons)', () => {
    fc.assert(
      fc.property(valid, fc.constantFrom('', ' '), fc.constantFrom('', ' ', '  '), (h, tail, lead) => {
        expect(parseTracePrefix(`${lead}TRACE: ${h.table}:${h.chain}:${h.kind}:${h.rule}${tail}`)).toEqual(h);
      }),
      params(1000),
    );
  });

  test('random and mutated prefixes and lines: undefined or a hop, never a throw', () => {
    const prefix = fc.oneof(
      fc.string({ maxLength: 60 }),
      valid.map((h) => `TRACE: ${h.table}:${h.chain}:${h.kind}:${h.rule} `),
      mutateLine(valid.map((h) => `TRACE: ${h.table}:${h.chain}:${h.kind}:${h.rule} `)),
      hugeString,
      fc.integer({ min: 1000, max: 200000 }).map((n) => `TRACE: a:${'b:'.repeat(n)}rule:1`),
    );
    fc.assert(
      fc.property(prefix, mutateLine(realLine), (p, line) => {
        const hop = parseTracePrefix(p);
        if (hop) {
          expect(['rule', 'return', 'policy']).toContain(hop.kind);
          expect(Number.isInteger(hop.rule) || hop.rule === Infinity).toBe(true);
        }
        const t = parseTraceLine(`${p}${line}`);
        if (t) consume(t);
      }),
      params(2000),
    );
  });
});

// ---- formatLogLine ---------------------------------------------------------------------------------

const dev = fc.record({ index: fc.nat(), name: fc.stringMatching(/^[a-z0-9.-]{1,15}$/) }, { requiredKeys: ['index'] });
const nflogPacket: fc.Arbitrary<NflogPacket> = fc.record(
  {
    group: fc.integer({ min: 0, max: 65535 }),
    // Names, 'unknown', and (as a packet made by hand may hold) numbers and 'inet'.
    family: fc.oneof(fc.constantFrom<NflogPacket['family']>('ipv4', 'ipv6', 'bridge', 'arp', 'netdev', 'unknown'),
      fc.constantFrom('inet' as unknown as NflogPacket['family']),
      fc.nat(255).map((n) => n as unknown as NflogPacket['family'])),
    hook: fc.nat(5),
    hookName: fc.constantFrom<NonNullable<NflogPacket['hookName']>>('PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT',
      'POSTROUTING', 'INGRESS', 'EGRESS'),
    hwProtocol: fc.oneof(fc.constantFrom(0x0800, 0x86dd, 0x0806, 0x8100), fc.integer({ min: 0, max: 0xffff })),
    prefix: fc.string({ maxLength: 40 }),
    indev: dev,
    outdev: dev,
    physindev: dev,
    physoutdev: dev,
    mark: fc.integer({ min: 0, max: 0xffffffff }),
    uid: fc.integer({ min: 0, max: 0xffffffff }),
    gid: fc.integer({ min: 0, max: 0xffffffff }),
    timestamp: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    hwType: fc.oneof(fc.constantFrom(1, 772, 776, 0), fc.integer({ min: 0, max: 0xffff })),
    hwHeader: fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b)),
    hwAddress: fc.uint8Array({ maxLength: 8 }).map((b) => Buffer.from(b)),
    vlan: fc.record({ protocol: fc.integer({ min: 0, max: 0xffff }), tci: fc.integer({ min: 0, max: 0xffff }),
      id: fc.nat(4095), priority: fc.nat(7) }),
    l2Header: fc.uint8Array({ maxLength: 30 }).map((b) => Buffer.from(b)),
    seq: fc.nat(),
    seqGlobal: fc.nat(),
    payload: packets.map((b) => Buffer.from(b)),
    ctinfo: fc.nat(7),
  },
  { requiredKeys: ['group', 'family'] },
);
const logOptions = fc.record({ tcpSequence: fc.boolean(), tcpOptions: fc.boolean(), ipOptions: fc.boolean(),
  uid: fc.boolean(), macDecode: fc.boolean(), all: fc.boolean() }, { requiredKeys: [] });

describe('formatLogLine', () => {
  test('any NflogPacket, any options: a line, which parseLogLine reads back (prefix and devices)', () => {
    fc.assert(
      fc.property(nflogPacket, fc.option(logOptions, { nil: undefined }), (pkt, opts) => {
        const line = formatLogLine(pkt, opts);
        expect(typeof line).toBe('string');
        const parsed = parseLogLine(line);
        // the prefix comes back unless it holds what the parser looks for: IN=, a line end, or
        // a syslog/dmesg head at its start (<level>, [time], a date)
        const prefix = pkt.prefix ?? '';
        if (!/IN=|[\r\n]/.test(prefix) && !/^(<|\[|[A-Z][a-z]{2} |\d{4}-)/.test(prefix)) {
          expect(parsed.prefix).toBe(prefix);
        }
      }),
      params(3000),
    );
  });

  test('real NFLOG packets of the fixtures, mutated', () => {
    const real = fc.constantFrom(...fixturePackets).chain((p) =>
      mutated(fc.constant(new Uint8Array(Buffer.from(p.nflog.payload, 'hex')))).map((payload): NflogPacket => {
        const n = p.nflog;
        return { ...(n as unknown as NflogPacket), payload: Buffer.from(payload),
          hwHeader: n.hwHeader ? Buffer.from(n.hwHeader, 'hex') : undefined };
      })
    );
    fc.assert(
      fc.property(real, fc.option(logOptions, { nil: undefined }), (pkt, opts) => {
        expect(typeof formatLogLine(pkt, opts)).toBe('string');
      }),
      params(1500),
    );
  });

  // Fields are not validated (only the packet, its payload and the options are): a wrong type
  // gives a line, a TypeError, or whatever the value's own toString()/valueOf() threw.
  test('fields of the wrong type: a line or a TypeError, nothing else', () => {
    const keys = ['family', 'hook', 'hwProtocol', 'prefix', 'indev', 'outdev', 'physindev', 'physoutdev', 'mark', 'uid',
      'gid', 'hwType', 'hwHeader', 'hwAddress', 'vlan', 'l2Header'];
    fc.assert(
      fc.property(nflogPacket, fc.constantFrom(...keys), junk, (pkt, key, value) => {
        try {
          expect(typeof formatLogLine({ ...pkt, [key]: value }, { all: true })).toBe('string');
        } catch (e) {
          if (!(e instanceof TypeError) && !(e instanceof Error && e.message.startsWith('junk: '))) throw e;
        }
      }),
      params(1500),
    );
  });
});

// ---- bugs this fuzzing found -------------------------------------------------------------------

/**
 * Runs the trace decoder on these messages in a child process, which a decoder that ends its
 * process cannot take this worker down with. Returns the child's exit status and output.
 */
function traceInChild(messages: Buffer[]): { status: number | null; output: string } {
  const root = join(__dirname, '..', '..');
  const script = `
    const addon = process.env.NFCT_ADDON ? require(process.env.NFCT_ADDON) : require(${
      JSON.stringify(join(root, 'node_modules', 'node-gyp-build'))
    })(${JSON.stringify(root)});
    const lines = require('fs').readFileSync(0, 'utf8').split('\\n').filter(Boolean);
    for (const hex of lines) addon.decodeForTest('trace', Buffer.from(hex, 'hex'));
    console.log('decoded ' + lines.length);`;
  const r = spawnSync(process.execPath, ['-e', script], { input: messages.map((m) => m.toString('hex')).join('\n'),
    encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

describe('regressions: bugs this fuzzing found', () => {
  test('parseLogLine: "OPT ( " repeated does not overflow the stack (was: Walker.token recursed once per "OPT (", RangeError at ~10,000)', () => {
    for (const tok of ['OPT ( ', 'OPT ( OPT ( ) ', 'OPT ( [SRC=1 OPT ( ']) {
      const line = `x IN=lo OUT= ${tok.repeat(200_000)}`;
      expect(parseLogLine(line).line).toBe(line);
    }
  });

  test('parseTracePrefix: a rule number too long to be one is not a hop (was: rule: Infinity for 400 digits)', () => {
    for (const digits of [11, 20, 400]) {
      const hop = parseTracePrefix(`TRACE: raw:OUTPUT:rule:${'9'.repeat(digits)} `);
      expect(hop === undefined || Number.isSafeInteger(hop.rule)).toBe(true);
    }
  });

  test('a malformed nftables trace message does not end the process (was: libnftnl\'s nftnl_trace_nlmsg_parse called exit(1), "nf_tables kernel ABI is broken")', () => {
    const u32 = (n: number): Uint8Array =>
      new Uint8Array(Buffer.from([n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]));
    const msg = (attrs: ReturnType<typeof plain>[]): Buffer =>
      encodeMessage({ type: (10 << 8) | 17, flags: 0, family: 2, resId: 0, attrs, lenDelta: 0,
        trailer: new Uint8Array(0), cut: undefined, fit: false });
    const messages = [
      msg([plain(4, u32(3)), plain(6, u32(7))]), // a good one first: the child works at all
      msg([]),
      msg([plain(4, u32(3))]), // no NFTA_TRACE_ID
      msg([plain(4, new Uint8Array(3)), plain(6, u32(7))]), // TYPE of 3 bytes
      msg([plain(4, u32(3)), plain(6, u32(7)), plain(5, [plain(1, u32(-3 >>> 0))])]), // a jump without its chain
      msg([plain(4, u32(3)), plain(6, u32(7)), plain(8, new Uint8Array(0))]), // an empty network header
      msg([plain(4, u32(3)), plain(6, u32(7)), plain(1, new Uint8Array(0))]), // an empty table name
    ];
    const r = traceInChild(messages);
    expect(r.output).toContain(`decoded ${messages.length}`);
    expect(r.status).toBe(0);
  });
});
