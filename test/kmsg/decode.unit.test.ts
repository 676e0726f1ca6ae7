/**
 * The native kernel log decoder (native/kmsg/line.cc) against the TypeScript parser it follows
 * (lib/nflog/logline-parse.ts): every LOG line the kernel wrote in the fixtures (and random
 * edits of them) decodes to the same item either way, behind every head a file or /dev/kmsg
 * gives it; heads and times; TRACE prefixes; filters; the table of repeated strings.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';

import fc from 'fast-check';
import { describe, expect, test } from 'vitest';

import { addon } from '../../lib/core/native.js';
import { decodeRecords, fillFromParsed, type KernelHop, KernelPacketItem } from '../../lib/kmsg/decode.js';
import { type KernelLogFilter, matchesLine, normalizeFilter } from '../../lib/kmsg/filter.js';
import { parseLogLine } from '../../lib/nflog/logline-parse.js';
import { parseTracePrefix } from '../../lib/trace/decode.js';
import { params } from '../support/arbitraries.js';

interface FixturePacket {
  lines: { stamp: string; text: string }[];
}
const FIXTURES = join(__dirname, '..', 'fixtures', 'log');
const texts: string[] = [];
for (const name of ['loopback', 'bridge']) {
  const f = JSON.parse(readFileSync(join(FIXTURES, `${name}.json`), 'utf8')) as { packets: FixturePacket[] };
  for (const p of f.packets) for (const l of p.lines) texts.push(l.text);
}

type Item = ReturnType<typeof decodeRecords>['items'][number];

/** The native decoder over lines of text ('text') or /dev/kmsg records ('kmsg'). */
function decode(lines: string[], kind: 'text' | 'kmsg' = 'text',
  filter: Record<string, unknown> = { packets: true, hops: false, lines: true }): { items: Item[]; malformed: number }
{
  const [words, strings, count, bytes, malformed] = addon.decodeLogLines(Buffer.from(lines.join('\n'), 'latin1'), kind,
    filter as never);
  return { items: decodeRecords({ buffer: words, strings, count, bytes }, 'file', []).items, malformed };
}

/** What the TypeScript parser makes of a whole line: the item, built from parseLogLine(). */
function reference(line: string): KernelPacketItem {
  const r = parseLogLine(line);
  const item = new KernelPacketItem('file');
  fillFromParsed(item, r);
  item.message = r.message;
  item.kernelTime = r.kernelTime;
  item.level = r.level;
  item.host = r.syslog?.host;
  return item;
}

/** The fields two items must agree on (the time is the decoder's alone: it reads the head's date). */
function fields(item: Item): Record<string, unknown> {
  const o = JSON.parse(JSON.stringify(item)) as Record<string, unknown>;
  delete o.time;
  delete o.timestamp;
  return o;
}

/** Random edits of a line: characters, whole tokens, brackets, spaces. */
const edited = (base: fc.Arbitrary<string>): fc.Arbitrary<string> =>
  fc.tuple(base,
    fc.array(
      fc.tuple(fc.nat(), fc.nat(), fc.constantFrom('insert', 'delete', 'drop', 'dup', 'swap', 'bracket', 'cut'),
        fc.constantFrom('[', ']', '(', ')', '=', ' ', 'IN=', 'OUT=', 'OPT', 'SRC=', '[SRC=', 'INCOMPLETE', 'bytes]',
          'FRAG:', 'PROTO=TCP', 'DF', 'SYN', 'ÿ', '\t', '99999999999')),
      { minLength: 1, maxLength: 4 },
    )).map(([line, edits]) => {
      let s = line;
      for (const [a, b, op, text] of edits) {
        const i = s.length === 0 ? 0 : a % s.length;
        const t = s.split(' ');
        const k = a % t.length;
        if (op === 'insert') s = s.slice(0, i) + text + s.slice(i);
        else if (op === 'delete') s = s.slice(0, i) + s.slice(i + (b % 8) + 1);
        else if (op === 'drop') s = [...t.slice(0, k), ...t.slice(k + 1)].join(' ');
        else if (op === 'dup') s = [...t.slice(0, k + 1), ...t.slice(k)].join(' ');
        else if (op === 'swap') {
          [t[k], t[b % t.length]] = [t[b % t.length]!, t[k]!];
          s = t.join(' ');
        } else if (op === 'bracket') s = s.slice(0, i) + (b % 2 ? '[SRC=1.2.3.4 ' : ' ]') + s.slice(i);
        else s = s.slice(0, i);
      }
      return s;
    });

const heads = ['', '<4>', '[ 4047.009778] ', '<4>[ 4047.009778] ', 'Jun 13 19:58:21 gw kernel: ',
  'Jun  3 09:08:07 gw kernel: [ 1234.567890] ', 'Jun 13 19:58:21.123456 gw kernel: ',
  '2024-06-13T19:58:21.123456+02:00 gw kernel: ', '2024-06-13 19:58:21 gw kernel[0]: ', '[ 1234.567890] gw kernel: ',
  '[Thu Jun 13 19:58:21 2024] '];

describe('the native decoder reads what the TypeScript parser reads', () => {
  test.each(heads.map((h) => [JSON.stringify(h), h]))('every fixture line behind %s', (_name, head) => {
    const lines = texts.map((t) => head + t);
    const { items } = decode(lines);
    expect(items).toHaveLength(lines.length);
    items.forEach((item, i) => {
      expect(item).toBeInstanceOf(KernelPacketItem);
      expect(fields(item), lines[i]).toEqual(fields(reference(lines[i]!)));
    });
  });

  test('random edits of the fixture lines, behind any head: the same item, or a line that is not a LOG line', () => {
    fc.assert(
      fc.property(fc.constantFrom(...heads), edited(fc.constantFrom(...texts)), (head, text) => {
        const line = (head + text).replace(/[\n\r\0]/g, ' ');
        const ref = parseLogLine(line);
        const { items } = decode([line]);
        // An empty line (every character edited away) is no record at all.
        expect(items).toHaveLength(line === '' ? 0 : 1);
        if (line === '') return;
        const item = items[0]!;
        if (ref.prefix === undefined || (ref.syslog && ref.syslog.tag !== 'kernel')) {
          expect(item).toMatchObject({ type: 'line', message: ref.message });
          return;
        }
        expect(
          isDeepStrictEqual(fields(item), fields(reference(line)))
            ? 'same'
            : { native: fields(item), parsed: fields(reference(line)) },
        ).toBe('same');
      }),
      params(3000),
    );
  });

  test('/dev/kmsg records: the escaped bytes read back, the sequence number, level, facility and time since boot', () => {
    const { items } = decode([`4,356,913794510,-;${texts[0]}`,
      '6,357,913794520,-,caller=T12;a\\x5cb\\x09c IN=lo OUT= SRC=1.2.3.4',
      '12,358,1,-;user line IN=lo OUT= SRC=1.2.3.4', '30,359,2,c;not a log line'], 'kmsg');
    expect(items.map((i) => (i as { type?: string }).type)).toEqual(['packet', 'packet', 'line', 'line']);
    expect(items[0]).toMatchObject({ seq: 356, level: 4, kernelTime: 913.79451, message: texts[0] });
    expect(items[1]).toMatchObject({ seq: 357, level: 6, prefix: 'a\\b\tc ',
      message: 'a\\b\tc IN=lo OUT= SRC=1.2.3.4' });
    // facility 1 (a process writing to /dev/kmsg): not read as the kernel's LOG line
    expect(items[2]).toMatchObject({ type: 'line', facility: 1, level: 4, seq: 358 });
    expect(items[3]).toMatchObject({ type: 'line', facility: 3, level: 6 });
  });

  test('journalctl -o json lines: MESSAGE (text or bytes), the time, priority, host, the kernel transport', () => {
    const msg = texts[5]!;
    const lines = [
      JSON.stringify({ __CURSOR: 's=1', __REALTIME_TIMESTAMP: '1718308701123456',
        _SOURCE_MONOTONIC_TIMESTAMP: '4047009778', PRIORITY: '4', _TRANSPORT: 'kernel', _HOSTNAME: 'gw', MESSAGE: msg,
        _BOOT_ID: 'x', SYSLOG_FACILITY: '0' }),
      JSON.stringify({ __REALTIME_TIMESTAMP: '1718308701000001', _TRANSPORT: 'kernel',
        MESSAGE: [...Buffer.from(msg, 'latin1')] }),
      JSON.stringify({ _TRANSPORT: 'syslog', SYSLOG_IDENTIFIER: 'ulogd', MESSAGE: msg }),
      '{"MESSAGE": "broken',
    ];
    const { items, malformed } = decode(lines);
    expect(malformed).toBe(1);
    expect(items.map((i) => (i as { type?: string }).type)).toEqual(['packet', 'packet', 'line']);
    expect(items[0]).toMatchObject({ timestamp: 1718308701123456000n, kernelTime: 4047.009778, level: 4, host: 'gw',
      message: msg });
    expect(fields(items[0]!)).toEqual({ ...fields(reference(msg)), kernelTime: 4047.009778, level: 4, host: 'gw' });
    expect(items[1]).toMatchObject({ timestamp: 1718308701000001000n, message: msg });
  });

  test('the wall-clock time of each head: RFC 3339 with its zone exactly, syslog and dmesg -T as local time', () => {
    const body = 'P: IN=lo OUT= SRC=127.0.0.1 DST=127.0.0.1 LEN=20 TOS=0x00 PREC=0x00 TTL=64 ID=1 PROTO=253 ';
    const { items } = decode([`2024-06-13T19:58:21.123456+02:00 h kernel: ${body}`,
      `2024-06-13T17:58:21Z h kernel: ${body}`, `Jun 13 19:58:21 h kernel: ${body}`,
      `[Thu Jun 13 19:58:21 2024] ${body}`, `[ 12.5] ${body}`]);
    const ns = (ms: number): bigint => BigInt(ms) * 1_000_000n;
    expect(items[0]).toMatchObject({ timestamp: ns(Date.UTC(2024, 5, 13, 17, 58, 21)) + 123456000n });
    expect(items[1]).toMatchObject({ timestamp: ns(Date.UTC(2024, 5, 13, 17, 58, 21)) });
    // No year in a syslog head: the one that puts it at most a day ahead of now.
    const now = new Date();
    let local = new Date(now.getFullYear(), 5, 13, 19, 58, 21);
    if (local.getTime() > now.getTime() + 86_400_000) local = new Date(now.getFullYear() - 1, 5, 13, 19, 58, 21);
    expect(items[2]).toMatchObject({ timestamp: ns(local.getTime()) });
    expect(items[3]).toMatchObject({ timestamp: ns(new Date(2024, 5, 13, 19, 58, 21).getTime()) });
    expect(items[4]).toMatchObject({ timestamp: undefined, kernelTime: 12.5 });
  });

  test('a line holding a NUL byte is counted, not read', () => {
    const { items, malformed } = decode([`x\0y IN=lo OUT= SRC=1.2.3.4`, texts[0]!]);
    expect(malformed).toBe(1);
    expect(items).toHaveLength(1);
  });
});

describe('TRACE lines', () => {
  test('hops carry what parseTracePrefix reads from the prefix, and one id for one packet', () => {
    const body = texts[0]!.slice(texts[0]!.indexOf('IN='));
    const prefixes = ['TRACE: raw:PREROUTING:rule:2 ', 'TRACE: filter:KUBE-SVC-X:Y:return:3 ',
      'TRACE: mangle:OUTPUT:policy:4 ', 'TRACE: raw:cali-PREROUTING:rule:1 '];
    const { items } = decode(prefixes.map((p) => p + body), 'text', { packets: true, hops: true, lines: false });
    const hops = items as KernelHop[];
    hops.forEach((h, i) => {
      const p = parseTracePrefix(prefixes[i]!)!;
      expect({ table: h.table, chain: h.chain, kind: h.kind, rule: h.rule }).toEqual(p);
      expect(h.log.prefix).toBe(prefixes[i]);
    });
    expect(new Set(hops.map((h) => h.id)).size).toBe(1);
    // TTL, TOS and MARK may change from hop to hop; the addresses may not.
    const other = decode([prefixes[0]! + body.replace('TTL=64', 'TTL=63').replace(/ $/, ' MARK=0x5 '),
      prefixes[0]! + body.replace('SRC=127.0.0.1', 'SRC=127.0.0.2')], 'text', { packets: true, hops: true,
      lines: false }).items as KernelHop[];
    expect(other[0]!.id).toBe(hops[0]!.id);
    expect(other[1]!.id).not.toBe(hops[0]!.id);
  });

  test('random TRACE-like prefixes: a hop exactly when parseTracePrefix reads one', () => {
    const body = 'IN=lo OUT= SRC=127.0.0.1 DST=127.0.0.1 LEN=20 TOS=0x00 PREC=0x00 TTL=64 ID=1 PROTO=253 ';
    fc.assert(
      fc.property(
        fc.oneof(
          fc.tuple(fc.constantFrom('', ' ', 'TRACE: '), fc.stringMatching(/^[a-z:]{0,6}$/),
            fc.constantFrom(':rule:', ':return:', ':policy:', ':x:', 'rule'), fc.stringMatching(/^\d{0,12}$/),
            fc.constantFrom('', ' ', '  ')).map((p) => p.join('')),
          fc.string({ maxLength: 30 }),
        ),
        (prefix) => {
          // (A line that starts with '{' is read as a journal JSON entry.)
          const p = prefix.replace(/[\n\r\0{]|IN=/g, '');
          const { items } = decode([p + body], 'text', { packets: true, hops: true, lines: false });
          const hop = parseTracePrefix(p);
          if (hop && hop.rule <= 0xffffffff) expect(items[0]).toMatchObject(hop);
          else expect(items[0]).toBeInstanceOf(KernelPacketItem);
        },
      ),
      params(2000),
    );
  });
});

describe('filters: native code and matchesLine() keep the same lines', () => {
  const filter: fc.Arbitrary<KernelLogFilter> = fc.record(
    {
      family: fc.constantFrom('ipv4', 'ipv6'),
      protocol: fc.constantFrom('tcp', 'udp', 'icmp', 'icmpv6', 17),
      src: fc.constantFrom('127.0.0.1', '127.0.0.0/8', '10.77.0.0/16', '::1', '::/0'),
      dst: fc.constantFrom('127.0.0.1', '10.77.0.2', '::1/128'),
      port: fc.constantFrom(8080, 9, 53),
      srcPort: fc.constantFrom(8080, 9),
      dstPort: fc.constantFrom(8080, 9, 9999),
    },
    { requiredKeys: [] },
  );
  test('any filter over the fixture lines', () => {
    fc.assert(
      fc.property(filter, (f) => {
        let n: ReturnType<typeof normalizeFilter>;
        try {
          n = normalizeFilter(f, 'f');
        } catch {
          return; // an address of the other family: refused up front
        }
        // Lines the native reader leaves to the parser (KP_COMPLEX) are matched by the stream.
        const [words, strings, count, bytes] = addon.decodeLogLines(texts.join('\n'), 'text', { packets: true,
          hops: false, lines: false, ...n.native });
        const { items, parsed } = decodeRecords({ buffer: words, strings, count, bytes }, 'file', []);
        const kept = (items as KernelPacketItem[]).filter((i) => !parsed.has(i) || matchesLine(n.match, i)).map((i) =>
          i.message
        );
        const expected = texts.filter((t) => matchesLine(n.match, parseLogLine(t)));
        expect(kept).toEqual(expected);
      }),
      params(300),
    );
  });

  test('a prefix keeps the lines whose prefix starts with it', () => {
    // The capture's default-variant prefix of the output hook, as `[nfct-<tag> out]`.
    const prefix = /^\[nfct-[0-9a-f]+ out\]/.exec(texts.find((t) => t.includes(' out] '))!)![0];
    const { native } = normalizeFilter({ prefix }, 'f');
    const kept = decode(texts, 'text', { packets: true, hops: false, lines: false, ...native }).items;
    expect(kept.length).toBeGreaterThan(10);
    expect(kept.length).toBe(texts.filter((t) => t.startsWith(prefix)).length);
    expect(kept.length).toBeLessThan(texts.length);
  });
});

describe('repeated strings cross once', () => {
  test('past the table bound the table starts over and every item is still right', () => {
    const lines = Array.from({ length: 5000 },
      (_, i) =>
        `p${i}: IN=eth${i % 3} OUT= SRC=10.0.${i >> 8}.${
          i & 255
        } DST=10.0.0.1 LEN=20 TOS=0x00 PREC=0x00 TTL=64 ID=${i} PROTO=UDP SPT=1 DPT=2 LEN=8 `);
    const [words, strings, count, bytes] = addon.decodeLogLines(lines.join('\n'), 'text', { packets: true, hops: false,
      lines: false });
    // Two batches of the same stream: the table carries over from one to the next.
    const names: string[] = [];
    const items = decodeRecords({ buffer: words, strings, count, bytes }, 'file', names).items as KernelPacketItem[];
    expect(items.map((i) => [i.prefix, i.indev?.name, i.id])).toEqual(
      lines.map((l, i) => [`p${i}: `, `eth${i % 3}`, i]),
    );
    expect(strings.split('\0').filter((s) => s === 'eth1').length).toBeGreaterThan(1); // sent again after the table started over
    expect(strings.split('\0').filter((s) => s === 'eth1').length).toBeLessThan(5);
  });
});
