// The IPFIX encoder and the collector syntax, without a kernel: messages stay within their
// size, sets and templates are well formed (RFC 7011 section 3), every record is written once.
import { describe, expect, test } from 'vitest';

import type { Flow } from '../../lib/conntrack/types.js';
import { parseCollector } from '../../lib/flows/collector.js';
import { FIRST_TEMPLATE, IpfixEncoder, MESSAGE_HEADER, recordLength, REVERSE_PEN, SHAPE, templateFields,
  templateSet } from '../../lib/flows/ipfix.js';
import { makeRecord } from '../../lib/flows/record.js';

function flow(i: number, v6 = false): Flow {
  const [a, b] = v6 ? [`fd00::${i + 1}`, 'fd00::ffff'] : [`10.0.${i >> 8}.${i & 255}`, '10.1.0.1'];
  return {
    family: v6 ? 'ipv6' : 'ipv4',
    protocol: 'tcp',
    protonum: 6,
    original: { src: a, dst: b, protonum: 6, srcPort: 1000 + i, dstPort: 80 },
    reply: { src: b, dst: a, protonum: 6, srcPort: 80, dstPort: 1000 + i },
    counters: i % 3 === 0
      ? undefined
      : { original: { packets: i, bytes: 100 * i }, reply: { packets: 2 * i, bytes: 2 ** 40 + i } },
    timestamp: i % 2 === 0 ? { start: 1_700_000_000_000_000_000n, stop: 1_700_000_001_000_000_000n } : undefined,
  } as unknown as Flow;
}

describe('IpfixEncoder', () => {
  test('chunks fit the message size; sets add up; each record once, in order', () => {
    const records = Array.from({ length: 500 },
      (_, i) =>
        makeRecord(flow(i, i % 5 === 0), 'idle-timeout', { time: 1_700_000_002_000_000_000n, source: 'kernel-event' },
          undefined));
    const chunks = new IpfixEncoder(512, 0).encode(records);
    let total = 0;
    const ports: number[] = [];
    for (const c of chunks) {
      expect(c.body.length + MESSAGE_HEADER).toBeLessThanOrEqual(512);
      let at = 0;
      let n = 0;
      while (at < c.body.length) {
        const id = c.body.readUInt16BE(at);
        const len = c.body.readUInt16BE(at + 2);
        const shape = id - FIRST_TEMPLATE;
        expect(c.shapes & (1 << shape)).not.toBe(0);
        const rl = recordLength(shape);
        expect((len - 4) % rl).toBe(0);
        for (let r = at + 4; r < at + len; r += rl) {
          // The source port follows the two addresses.
          ports.push(c.body.readUInt16BE(r + (shape & SHAPE.V6 ? 32 : 8)));
          n++;
        }
        at += len;
      }
      expect(at).toBe(c.body.length);
      expect(n).toBe(c.records);
      total += n;
    }
    expect(total).toBe(500);
    expect(ports).toEqual(records.map((r) => r.nat.original.pre.srcPort));
  });

  test('templates: the enterprise bit and number on the reverse counters only; lengths add up', () => {
    const all = Array.from({ length: 8 }, (_, s) => s);
    const set = templateSet(all);
    expect(set.readUInt16BE(0)).toBe(2);
    expect(set.readUInt16BE(2)).toBe(set.length);
    let at = 4;
    for (const shape of all) {
      expect(set.readUInt16BE(at)).toBe(FIRST_TEMPLATE + shape);
      const fields = templateFields(shape);
      expect(set.readUInt16BE(at + 2)).toBe(fields.length);
      at += 4;
      for (const f of fields) {
        const id = set.readUInt16BE(at);
        expect(id & 0x7fff).toBe(f.id);
        expect(set.readUInt16BE(at + 2)).toBe(f.length);
        at += 4;
        if (id & 0x8000) {
          expect(set.readUInt32BE(at)).toBe(REVERSE_PEN);
          at += 4;
        }
      }
    }
    expect(at).toBe(set.length);
    expect(templateFields(SHAPE.COUNTERS).filter((f) => f.pen === REVERSE_PEN).map((f) => f.id)).toEqual([1, 2]);
    expect(templateFields(0).some((f) => f.id === 1 || f.id === 152)).toBe(false);
  });
});

describe('parseCollector', () => {
  test.each([
    ['127.0.0.1:4739', { host: '127.0.0.1', port: 4739, transport: 'udp' }],
    ['tcp://collector.example:4739', { host: 'collector.example', port: 4739, transport: 'tcp' }],
    ['udp://[::1]:2055', { host: '::1', port: 2055, transport: 'udp' }],
  ])('%s', (text, spec) => expect(parseCollector(text, '--ipfix')).toEqual(spec));

  test.each(['4739', 'host', 'host:', ':4739', 'http://h:1', '[h]:1', 'h:99999', '::1:4739'])(
    '%s is refused naming the flag',
    (text) => {
      expect(() => parseCollector(text, '--ipfix')).toThrow(/--ipfix/);
    },
  );
});
