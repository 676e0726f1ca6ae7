// The native -L formatter (formatFlows(), native/ct/text.cc, behind listText() and
// onDeletedText) against formatFlow() of the Flow decoded from the same record, over flow
// messages built attribute by attribute (every protocol and state number, zones, counters,
// timestamps, helper and security context with any bytes): the same text, byte for byte.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';

import { decodeFlows, FLOW_WORDS } from '../../lib/conntrack/flow.js';
import { formatFlow } from '../../lib/conntrack/text.js';
import { FlowPresent, FlowWord } from '../../lib/core/layout.js';
import { addon } from '../../lib/core/native.js';
import { type Attr, encodeMessage, message, MSG_TYPES, params, SCHEMAS } from '../support/arbitraries.js';

const { FLOW_HAS_ORIG, FLOW_HAS_REPLY } = FlowPresent;
const { FLOW_PRESENT, FLOW_COUNTERS } = FlowWord;

// ---- well-formed ctnetlink flow messages (linux/netfilter/nfnetlink_conntrack.h) -------------

const A = (type: number, body: Uint8Array | Attr[]): Attr => ({ type, flags: type === 1 || type === 2 ? 0x8000 : 0,
  body, lenDelta: 0, noPad: false });
const u8 = (v: number): Uint8Array => Uint8Array.of(v);
const be16 = (v: number): Uint8Array => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v);
  return b;
};
const be32 = (v: number): Uint8Array => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return b;
};
const be64 = (v: bigint): Uint8Array => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(v);
  return b;
};
const cstr = (s: string): Uint8Array => Buffer.from(`${s}\0`, 'latin1');

const PROTOS = [1, 6, 17, 33, 47, 58, 132, 136, 2, 99, 253];
const opt = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(a, { nil: undefined });

/** One tuple nest: addresses, the layer-4 part for its protocol (sometimes missing), a zone. */
function tuple(v6: boolean, proto: number): fc.Arbitrary<Attr[]> {
  const addr = fc.uint8Array({ minLength: v6 ? 16 : 4, maxLength: v6 ? 16 : 4 });
  return fc.record({ src: addr, dst: addr, a: fc.nat(0xffff), b: fc.nat(0xffff), t: fc.nat(255), c: fc.nat(255),
    l4: fc.nat(5), zone: opt(fc.nat(0xffff)) }).map((x) => {
      const l4: Attr[] = [A(1, u8(proto))];
      if (x.l4 > 0) {
        if (proto === 1) l4.push(A(4, be16(x.a)), A(5, u8(x.t)), A(6, u8(x.c)));
        else if (proto === 58) l4.push(A(7, be16(x.a)), A(8, u8(x.t)), A(9, u8(x.c)));
        else l4.push(A(2, be16(x.a)), A(3, be16(x.b)));
      }
      const out = [A(1, [A(v6 ? 3 : 1, x.src), A(v6 ? 4 : 2, x.dst)]), A(2, l4)];
      if (x.zone !== undefined) out.push(A(3, be16(x.zone)));
      return out;
    });
}

const counters = fc.record({ p: fc.bigInt({ min: 0n, max: 2n ** 53n - 1n }),
  b: fc.bigInt({ min: 0n, max: 2n ** 53n - 1n }) }).map((c) => [A(1, be64(c.p)), A(2, be64(c.b))]);
const text = fc.string({ minLength: 1, maxLength: 12,
  unit: fc.integer({ min: 0x21, max: 0xff }).map((n) => String.fromCharCode(n)) });

/** A flow as a dump sends it: both tuples, and any of the optional attributes. */
const flowMessage: fc.Arbitrary<Buffer> = fc
  .record({ v6: fc.boolean(), proto: fc.constantFrom(...PROTOS), state: fc.nat(12), withState: fc.boolean() })
  .chain(({ v6, proto, state, withState }) =>
    fc
      .record({
        orig: tuple(v6, proto),
        reply: tuple(v6, proto),
        status: opt(fc.nat(0xffff)),
        timeout: opt(fc.nat()),
        mark: opt(fc.nat()),
        secmark: opt(fc.nat()),
        use: opt(fc.nat(1000)),
        id: opt(fc.nat()),
        zone: opt(fc.nat(0xffff)),
        co: opt(counters),
        cr: opt(counters),
        ts: opt(
          fc.record({ start: fc.bigInt({ min: 0n, max: 2n ** 62n }),
            stop: opt(fc.bigInt({ min: 0n, max: 2n ** 62n })) }),
        ),
        helper: opt(text),
        secctx: opt(text),
      })
      .map((f) => {
        const attrs: Attr[] = [A(1, f.orig), A(2, f.reply)];
        if (f.status !== undefined) attrs.push(A(3, be32(f.status)));
        if (withState && (proto === 6 || proto === 132 || proto === 33)) {
          const info = proto === 6 ? 1 : proto === 33 ? 2 : 3;
          attrs.push({ ...A(4, [{ ...A(info, [A(1, u8(state))]), flags: 0x8000 }]), flags: 0x8000 });
        }
        if (f.helper !== undefined) attrs.push(A(5, [A(1, cstr(f.helper))]));
        if (f.timeout !== undefined) attrs.push(A(7, be32(f.timeout)));
        if (f.mark !== undefined) attrs.push(A(8, be32(f.mark)));
        if (f.co) attrs.push(A(9, f.co));
        if (f.cr) attrs.push(A(10, f.cr));
        if (f.use !== undefined) attrs.push(A(11, be32(f.use)));
        if (f.id !== undefined) attrs.push(A(12, be32(f.id)));
        if (f.secmark !== undefined) attrs.push(A(17, be32(f.secmark)));
        if (f.zone !== undefined) attrs.push(A(18, be16(f.zone)));
        if (f.secctx !== undefined) attrs.push(A(19, [A(1, cstr(f.secctx))]));
        if (f.ts) {
          attrs.push(
            A(20, f.ts.stop === undefined ? [A(1, be64(f.ts.start))] : [A(1, be64(f.ts.start)), A(2, be64(f.ts.stop))]),
          );
        }
        return encodeMessage({ type: (1 << 8) | 0, flags: 0, family: v6 ? 10 : 2, resId: 0, attrs, lenDelta: 0,
          trailer: new Uint8Array(0), cut: undefined, fit: false });
      })
  );

const FORMATS = [
  { extended: false, id: false },
  { extended: true, id: false },
  { extended: false, id: true },
  { extended: true, id: true },
];

describe('formatFlows() (native) equals formatFlow() of the decoded Flow', () => {
  test('one record at a time, each -o mode, over generated flow messages', () => {
    let compared = 0;
    fc.assert(
      fc.property(fc.oneof(flowMessage, message(MSG_TYPES.flow, SCHEMAS.flow).map(encodeMessage)),
        fc.constantFrom(...FORMATS), (bytes, format) => {
        const [buffer, strings, count] = addon.decodeForTest('flow', bytes);
        if (count !== 1) return;
        const w = new Uint32Array(buffer);
        // formatFlow() needs both tuples (a dump always has them); counters above 2^53 are
        // exact only in native code (a Flow holds them as numbers).
        if ((w[FLOW_PRESENT]! & (FLOW_HAS_ORIG | FLOW_HAS_REPLY)) !== (FLOW_HAS_ORIG | FLOW_HAS_REPLY)) return;
        for (let i = 0; i < 4; i++) if (w[FLOW_COUNTERS + 2 * i + 1]! >= 1 << 21) return;
        const before = BigInt(Date.now()) * 1_000_000n;
        const mine = addon.formatFlows(buffer, strings, 1, format).toString('latin1');
        const after = BigInt(Date.now()) * 1_000_000n;
        const flow = decodeFlows(buffer, strings, 1)[0]!;
        // delta-time= counts from now: the clock may tick between the two.
        const theirs = [before, after].map((now) => `${formatFlow(flow, { ...format, now })}\n`);
        expect(theirs).toContain(mine);
        compared++;
      }),
      params(4000),
    );
    expect(compared).toBeGreaterThan(1500);
  });

  test('a batch: the lines of every record, in order, the strings of each taken in turn', () => {
    fc.assert(
      fc.property(fc.array(flowMessage, { minLength: 2, maxLength: 12 }), (ms) => {
        const parts = ms.map((m) => addon.decodeForTest('flow', m)).filter(([b, , n]) => {
          const w = new Uint32Array(b);
          return n === 1 && (w[FLOW_PRESENT]! & (FLOW_HAS_ORIG | FLOW_HAS_REPLY)) === (FLOW_HAS_ORIG | FLOW_HAS_REPLY);
        });
        if (parts.length < 2) return;
        const words = new Uint32Array(parts.length * FLOW_WORDS);
        parts.forEach(([b], i) => words.set(new Uint32Array(b), i * FLOW_WORDS));
        const strings = parts.map(([, s]) => s).join('');
        const format = { extended: true, id: true };
        const whole = addon.formatFlows(words.buffer, strings, parts.length, format).toString('latin1');
        const each = parts.map(([b, s]) => addon.formatFlows(b, s, 1, format).toString('latin1')).join('');
        // Only delta-time= may differ (the clock), and only by the second it ticked.
        expect(whole.replace(/delta-time=\d+/g, 'delta-time=N')).toBe(each.replace(/delta-time=\d+/g, 'delta-time=N'));
        expect(whole.split('\n')).toHaveLength(parts.length + 1);
      }),
      params(300),
    );
  });

  test('bad arguments: a TypeError, no crash', () => {
    const fmt = { extended: false, id: false };
    expect(() => addon.formatFlows(new ArrayBuffer(4), '', 1, fmt)).toThrow(TypeError);
    expect(() => addon.formatFlows(new ArrayBuffer(0), '', 0, undefined as never)).toThrow(TypeError);
    expect(() => addon.formatFlows('x' as never, '', 0, fmt)).toThrow(TypeError);
    for (const count of [2 ** 32 + 1, -1, 1.5, NaN, Infinity]) {
      expect(() => addon.formatFlows(new ArrayBuffer(0), '', count, fmt), String(count)).toThrow(
        /count must be a whole number/,
      );
    }
    // Strings shorter than the records need: empty addresses, not a read past the end.
    const [buffer, strings] = addon.decodeForTest('flow', fc.sample(flowMessage, { seed: 1, numRuns: 1 })[0]!);
    expect(addon.formatFlows(buffer, '', 1, fmt).toString()).toMatch(/src= dst= /);
    expect(addon.formatFlows(buffer, strings.slice(0, 3), 1, fmt)).toBeInstanceOf(Buffer);
    expect(addon.formatFlows(new ArrayBuffer(0), '', 0, fmt)).toHaveLength(0);
  });

  test('options whose reading throws: that exception, no abort', () => {
    const [buffer, strings] = addon.decodeForTest('flow', fc.sample(flowMessage, { seed: 2, numRuns: 1 })[0]!);
    const getter = {
      get extended(): boolean {
        throw new Error('extended getter');
      },
    };
    expect(() => addon.formatFlows(buffer, strings, 1, getter as never)).toThrow('extended getter');
    const trap = new Proxy({}, { get: () => {
      throw new RangeError('trap');
    } });
    expect(() => addon.formatFlows(buffer, strings, 1, trap as never)).toThrow(RangeError);
    // The formatter still works after them.
    expect(addon.formatFlows(buffer, strings, 1, { extended: true, id: false })).toBeInstanceOf(Buffer);
  });
});
