// The expectation table: -L expect, -G expect, -D expect, -I expect; -F, -C and -S expect are
// in table.ts, -E expect in events.ts.
import type { ExpectationInput } from '../../conntrack/expect.js';
import type { Conntrack } from '../../conntrack/handle.js';
import * as fmt from '../../conntrack/text.js';
import type { TupleInput } from '../../conntrack/tuple.js';
import { NfctError } from '../../core/errors.js';
import type { Context } from '../context.js';
import { operationFailed } from '../messages.js';
import { expectationLine } from '../ndjson.js';
import { cAtoi, cNumber, type CtRequest, l4 } from '../parse.js';
import { tupleOf } from './create.js';

/**
 * The expectation a -I expect line describes: the master's original tuple (-s, -d, --sport,
 * --dport), the expected tuple (--tuple-src, --tuple-dst, --tuple-port-*), its mask
 * (--mask-src, --mask-dst, --mask-port-*) and -t.
 */
function expectationOf(r: CtRequest): ExpectationInput {
  const num = (name: string, read: (v: string) => number): number | undefined => {
    const v = l4(r, name);
    return v === undefined ? undefined : read(v) & 0xffff;
  };
  const tuple: TupleInput = { protocol: r.proto!.num, src: r.tupleSrc!.text, dst: r.tupleDst!.text };
  const mask: NonNullable<ExpectationInput['mask']> = { src: r.maskSrc!.text, dst: r.maskDst!.text };
  if (r.proto!.kind === 'gre') {
    tuple.srcKey = num('tuple-key-src', cNumber);
    tuple.dstKey = num('tuple-key-dst', cNumber);
  } else if (r.proto!.kind !== 'icmp' && r.proto!.kind !== 'icmpv6' && r.proto!.kind !== 'unknown') {
    tuple.srcPort = num('tuple-port-src', cAtoi);
    tuple.dstPort = num('tuple-port-dst', cAtoi);
    mask.srcPort = num('mask-port-src', cAtoi);
    mask.dstPort = num('mask-port-dst', cAtoi);
  }
  return { master: tupleOf(r), tuple, mask, timeout: r.timeout ?? 0 };
}

// The wall clock in nanoseconds since the epoch, to the microsecond (Date.now() has milliseconds only).
const HRTIME_ORIGIN = process.hrtime.bigint();
const EPOCH_ORIGIN = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000)) * 1000n;
const wallClock = (): bigint => process.hrtime.bigint() - HRTIME_ORIGIN + EPOCH_ORIGIN;

export async function expectations(ct: Conntrack, r: CtRequest, ctx: Context): Promise<number> {
  const { out } = ctx;
  try {
    if (r.command === 'exp-list') {
      let n = 0;
      const xml = r.output.has('xml');
      const timestamp = r.output.has('timestamp');
      for await (const batch of ct.expectations.list(r.family ? { family: r.family === 4 ? 'ipv4' : 'ipv6' } : {})
        .batches())
      {
        for (const e of batch) {
          if (r.json) out.line(expectationLine(e));
          else if (xml) {
            // -o xml,timestamp: a <when> element of the time each line is printed.
            if (n === 0) out.raw(fmt.XML_EXPECT_HEADER);
            out.line(fmt.formatExpectationXml(e, { when: timestamp ? wallClock() : undefined }));
          } else if (timestamp) {
            // -o timestamp: `[sec.usec]\t` of the time each line is printed.
            out.line(fmt.expectationTimePrefix(wallClock()) + fmt.formatExpectation(e));
          } else out.line(fmt.formatExpectation(e));
          n++;
        }
        await out.flush();
      }
      if (xml && n > 0) out.raw(fmt.XML_EXPECT_FOOTER);
      await out.drain();
      ctx.say(`${n} expectations have been shown.`);
      return 0;
    }
    if (r.command === 'exp-get') {
      const e = await ct.expectations.get(tupleOf(r));
      if (!e) operationFailed(2, 'exp-get');
      out.line(r.json ? expectationLine(e) : fmt.formatExpectation(e));
      await out.drain();
      return 0;
    }
    if (r.command === 'exp-create') {
      await ct.expectations.create(expectationOf(r));
      return 0;
    }
    // exp-delete (main.ts sends the other expectation commands to table.ts and events.ts)
    await ct.expectations.delete(tupleOf(r));
    ctx.say('0 expectations have been shown.');
    return 1;
  } catch (e) {
    if (e instanceof NfctError) operationFailed(e.errno, r.command);
    throw e;
  }
}
