// The save reader (readSave, native: what restore() sends) splits a file into lines and packs
// each for the kernel; the entry parseSaveLine reads back from those words, normalised and
// packed the general way, gives the same words. Whatever the text, the reader does not crash.
import { describe, expect, test } from 'vitest';

import { ICMP_REPLY, normalizeFlowInput, packFlowSpecs, SPEC_WORDS } from '../../lib/conntrack/flowspec.js';
import { parseSave, parseSaveLine, readSave } from '../../lib/conntrack/save.js';

/** Lines of every shape the reader takes: each protocol and family, given and derived reply tuples, status, state, mark, zone. */
const READ = [
  '-I -p tcp -s 10.0.0.1 -d 10.0.0.2 --sport 1 --dport 2 --state ESTABLISHED -t 3600',
  '-A -t 119 -u SEEN_REPLY,ASSURED -s 10.0.0.1 -d 10.0.0.2 -r 10.0.0.2 -q 10.0.0.1 -p tcp --sport 1 --dport 2 --reply-port-src 2 --reply-port-dst 1 --state ESTABLISHED',
  '-A -t 119 -s 10.0.0.1 -d 10.0.0.2 -r 10.0.9.9 -q 10.0.0.1 -p udp --sport 1 --dport 2 --reply-port-src 4000 --reply-port-dst 65535',
  '-A -t 30 -u UNSET -s 10.0.0.1 -d 10.0.0.9 -r 10.0.0.9 -q 10.0.0.1 -p icmp --icmp-type 8 --icmp-code 0 --icmp-id 7',
  '-I -p icmp -s 10.0.0.1 -d 10.0.0.9 --icmp-type 13 --icmp-code 0 --icmp-id 65535 -t 30',
  '-I -p udp -s 2001:db8::1 -d 2001:db8::2 --sport 5 --dport 53 -t 10 -m 7 -w 3',
  '-I -p udplite -s 2001:db8::1 -d 2001:db8:0:0:0:0:0:2 --sport 5 --dport 53 -t 10 -w 65535',
  '-I -p tcp -s ::ffff:10.0.0.1 -d ::1 -r ::1 -q ::ffff:10.0.0.1 --sport 80 --dport 81 --reply-port-src 81 --reply-port-dst 80 --state TIME_WAIT -t 7',
  '-I -p icmpv6 -s ::1 -d ::2 --icmpv6-type 128 --icmpv6-code 0 --icmpv6-id 9 -t 30',
  '-I -p icmpv6 -s fe80::1 -d fe80::2 -r fe80::2 -q fe80::1 --icmpv6-type 130 --icmpv6-code 3 --icmpv6-id 0 -t 30',
  '-I -p tcp -s 10.0.0.1 -d 10.0.0.2 --sport 1 --dport 2 --state LISTEN -t 5 -u UNSET',
  '-I -p tcp -s 255.255.255.255 -d 0.0.0.0 --sport 0 --dport 65535 --state SYN_SENT2 -t 999999999 -m 999999999 -u ASSURED,FIXED_TIMEOUT,SEEN_REPLY',
  '-I -p udp -s 10.0.0.1 -d 10.0.0.2 --sport 1 --dport 2 -t 10 \t ', // trailing blanks
  '-I -p udp -s 01:0::1 -d 1234::5 --sport 1 --dport 2 -t 10', // IPv6 groups that begin as IPv4 parts cannot
];

/** Lines it leaves to the full parser (0, nothing it can read). */
const NOT_READ = [
  '-I -p udp -s 10.0.0.1 -d 10.0.0.2 -r 10.0.9.9 -q 10.0.0.1 --sport 1 --dport 2 -t 5', // a reply tuple without its ports (the kernel refuses it)
  '-I -p icmp -s 10.0.0.1 -d 10.0.0.2 --icmp-type 3 --icmp-code 0 --icmp-id 1 -t 60', // no reply type to derive
  '-I -p icmp -s 10.0.0.1 -d 10.0.0.2 -r 10.0.0.2 -q 10.0.0.1 --icmp-type 3 --icmp-code 0 --icmp-id 1 -t 60',
  '-I -p udp -s 10.0.0.1 -d 2001:db8::2 --sport 1 --dport 2 -t 10', // families differ
  '-I -p udp -s 10.0.0.1 -d 10.0.0.2 -r ::1 -q 10.0.0.1 --sport 1 --dport 2 -t 10',
  '-I -p icmp -s ::1 -d ::2 --icmp-type 8 --icmp-code 0 --icmp-id 1 -t 60', // ICMP over IPv6
  '-I -p udp -s 10.0.0.1 -d 10.0.0.2 --sport 1 --dport 65536 -t 10',
  '-I -p udp -s 10.0.0.1 -d 10.0.0.2 --sport 1 --dport 2 -t 10 -u ASSURED,', // an empty status word
  '-I -p udp -s 10.0.0.1 -d 10.0.0.2 --sport 1 --dport 2 -t 10 -u NOPE',
  '-I -p udp -s 10.0.0.1 -d 10.0.0.2 --sport 1 --dport 2 -t 10 --state ESTABLISHED', // a state on UDP
  '-I -p tcp -s 10.0.0.1 -d 10.0.0.2 --sport 1 --dport 2 -t 10 --state BOGUS',
  '-I -p udp -s 10.0.0.1 -d 10.0.0.2 --sport 1 --dport 2 -t 10 -r 10.0.0.2', // -r without -q
  '-I -p udp -s 10.0.0.1 -d 10.0.0.2 --sport 1 --dport 2 -t 10 -w 65536',
  '-I -p gre -s 10.0.0.1 -d 10.0.0.2 -t 10',
  '-I -p udp -s fe80::1%eth0 -d fe80::2 --sport 1 --dport 2 -t 10', // a scoped address
  '-D -p udp -s 10.0.0.1',
  '-I',
  '-I -p udp -s ::1\u0000x -d ::2 --sport 1 --dport 2 -t 10', // a NUL inside an address
  '-I -p udp -s 2001:db8::1 -d 2001:db8::2\u0000:: --sport 1 --dport 2 -t 10',
  '-I -p udp -s 10.0.0.1 -d 10.0.0.2 --sport 1 --dport 2 -t 10 -m 010', // a leading zero: octal to conntrack
  '-I -p udp -s 10.0.0.1 -d 10.0.0.2 --sport 1 --dport 2 -t 10 -w 010',
  '-I -p udp -s 010.0.0.1 -d 10.0.0.2 --sport 1 --dport 2 -t 10', // IPv4 parts: no leading zero, at most 255, four
  '-I -p udp -s 10.0.0.1 -d 10.0.0.256 --sport 1 --dport 2 -t 10',
  '-I -p udp -s 10.0.0.1.1 -d 10.0.0.2 --sport 1 --dport 2 -t 10',
  '-I -p udp -s 10.0.1 -d 10.0.0.2 --sport 1 --dport 2 -t 10',
  '-I -p udp -s 10.0.0.1: -d 10.0.0.2 --sport 1 --dport 2 -t 10',
  '-I -p udp -s 1.2::3 -d ::2 --sport 1 --dport 2 -t 10',
];

/** Whether two readSave() results hold the same lines, packed the same. */
function sameRead(a: ReturnType<typeof readSave>, b: ReturnType<typeof readSave>): boolean {
  const same = (x: ArrayLike<number> | undefined, y: ArrayLike<number> | undefined): boolean =>
    x === y ||
    (x !== undefined && y?.length === x.length && Array.from(x).every((v, i) => v === y[i]));
  return a.bad === b.bad && same(a.words, b.words) && same(a.kinds, b.kinds) && same(a.numbers, b.numbers) &&
    same(a.ranges, b.ranges) && same(a.fields, b.fields);
}

/** The packed spec readSave gives for a one-line file, or 0 for a line it does not read. */
function direct(line: string): Uint32Array | 0 {
  const r = readSave(line);
  expect(r.numbers.length).toBe(1);
  return r.bad === -1 ? r.words : 0;
}

describe('save reader', () => {
  test.each(READ)('%s: packed in one pass as normalizeFlowInput() + packFlowSpecs() pack the entry it reads',
    (line) => {
      const parsed = parseSaveLine(line);
      expect(parsed).toBeDefined();
      expect(parsed!.command).toBe(line.startsWith('-A') ? 'add' : 'create');
      const general = packFlowSpecs([normalizeFlowInput(parsed!.flow, 'line')]).words;
      expect(Array.from(direct(line) as Uint32Array)).toEqual(Array.from(general));
    });

  test.each(NOT_READ)('%s: not read', (line) => {
    expect(direct(line)).toBe(0);
    expect(parseSaveLine(line)).toBeUndefined();
  });

  test('a file: blank lines and comments left out, white space cut, lines numbered; each line packed at its place and kind', () => {
    const text = `# saved\n\n  ${READ[0]}  \n${READ[1]}\r\n\u00a0\t${READ[6]}\ufeff\n   # indented comment\n`;
    const r = readSave(text);
    expect(Array.from(r.numbers)).toEqual([3, 4, 5]);
    expect(r.bad).toBe(-1);
    expect(Array.from(r.kinds)).toEqual([1, 2, 1]);
    [READ[0]!, READ[1]!, READ[6]!].forEach((line, i) => {
      expect(text.slice(r.ranges[2 * i], r.ranges[2 * i + 1])).toBe(line.trim());
      expect(Array.from(r.words.subarray(i * SPEC_WORDS, (i + 1) * SPEC_WORDS))).toEqual(
        Array.from(direct(line) as Uint32Array),
      );
    });
    expect(readSave('').numbers).toHaveLength(0);
    expect(readSave('\n# only a comment\n').words).toHaveLength(0);
  });

  test('an ASCII file read from its bytes (restore() of a Buffer) reads as its text does, wherever the bytes sit in their buffer', () => {
    const text = `# saved\n\n  ${READ[0]}  \n${READ[1]}\r\n\t${READ[6]}\v\n${READ.join('\n')}\n${NOT_READ[0]}\n${
      READ[2]
    }`;
    const fromText = readSave(text, true);
    expect(fromText.bad).toBe(READ.length + 3);
    const padded = Buffer.from(`xyz${text}xyz`, 'latin1').subarray(3, 3 + text.length);
    expect(sameRead(readSave(padded, true), fromText)).toBe(true);
    expect(sameRead(readSave(new Uint8Array(0)), readSave(''))).toBe(true);
    expect(() => readSave(new Uint16Array(4) as unknown as Uint8Array)).toThrow(TypeError);
  });

  test('the first line it cannot read: its index, the lines before it packed; parseSave names its line number', () => {
    const bad = `${READ[0]}\n\n${NOT_READ[0]}\n${READ[1]}`;
    const r = readSave(bad);
    expect(r.bad).toBe(1);
    expect(Array.from(r.numbers)).toEqual([1, 3]);
    expect(Array.from(r.words.subarray(0, SPEC_WORDS))).toEqual(Array.from(direct(READ[0]!) as Uint32Array));
    // The error names the line by its number and quotes it (white space cut), wherever it is.
    const refused = (text: string, n: number, line: string): void => {
      let error: unknown;
      try {
        parseSave(text);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(TypeError);
      expect((error as TypeError).message).toBe(
        `parseSave() line ${n} is not a -I/-A line it can read: ${JSON.stringify(line)}`,
      );
      expect((error as { line?: number }).line).toBe(n);
    };
    refused(bad, 3, NOT_READ[0]!);
    refused(`  ${NOT_READ[1]}\t\n${READ[0]}`, 1, NOT_READ[1]!);
    refused(`# saved\n${READ[0]}\n${READ[1]}\n\n${NOT_READ[2]}\n${READ[2]}`, 5, NOT_READ[2]!);
    // A long line is quoted by its first 200 characters.
    const long = `-D ${'x'.repeat(300)}`;
    refused(`${READ[0]}\n${long}`, 2, long.slice(0, 200));
    expect(() => parseSave(5 as never)).toThrow(/^parseSave\(\) text must be a string, got 5$/);
    expect(parseSaveLine(`${READ[0]}\n${READ[1]}`)).toBeUndefined();
    // One line: a text with a line break is none, even when it holds only one entry.
    expect(parseSaveLine(READ[0]!)).toBeDefined();
    for (const text of [`${READ[0]}\n`, `# saved\n${READ[0]}`, `\n${READ[0]}`]) {
      expect(parseSaveLine(text), JSON.stringify(text)).toBeUndefined();
    }
  });

  test('a text that is no save file: refused at its first line, with no words made for the lines after it', () => {
    const r = readSave('x\n'.repeat(100000));
    expect([r.bad, r.numbers.length]).toEqual([0, 1]);
    expect(r.words.byteLength).toBeLessThanOrEqual(SPEC_WORDS * 4);
    const s = readSave(`${READ[0]}\n${READ[1]}\n-L\n${READ[2]}\n`);
    expect([s.bad, Array.from(s.numbers), Array.from(s.kinds.subarray(0, 2))]).toEqual([2, [1, 2, 3], [1, 2]]);
  });

  test('every ICMP and ICMPv6 type: read exactly when it has a reply type, and packed with it as the general way packs it', () => {
    for (const [proto, name, pre, src, dst] of [[1, 'icmp', 'icmp', '10.0.0.1', '10.0.0.2'], [58, 'icmpv6', 'icmpv6',
      '::1', '::2']] as const)
    {
      for (let type = 0; type < 256; type++) {
        const line = `-I -p ${name} -s ${src} -d ${dst} --${pre}-type ${type} --${pre}-code 0 --${pre}-id 1 -t 30`;
        const words = direct(line);
        expect(words !== 0, line).toBe(ICMP_REPLY[proto]![type] !== undefined);
        if (words === 0) continue;
        const general =
          packFlowSpecs([normalizeFlowInput({ protocol: proto, src, dst, type, code: 0, id: 1, timeout: 30 }, 'entry')])
            .words;
        expect(Array.from(words), line).toEqual(Array.from(general));
      }
    }
  });

  test("parseSave() of a whole file (one pass) gives each line's parseSaveLine() entry, in order; with blanks, comments and indents", () => {
    let seed = 99;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed % n;
    };
    for (let round = 0; round < 50; round++) {
      const lines: string[] = [];
      for (let i = random(40); i >= 0; i--) {
        const pick = random(10);
        lines.push(
          pick === 0 ? '' : pick === 1 ? '# a comment' : `${' '.repeat(random(3))}${READ[random(READ.length)]!}\t`,
        );
      }
      const text = lines.join('\n');
      const expected = lines.map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#')).map((l) =>
        parseSaveLine(l)!.flow
      );
      expect(parseSave(text)).toEqual(expected);
    }
  });

  test('mangled lines (bytes changed, cut, repeated, any UTF-16) are read or refused without a crash; what is read packs as the general way does', () => {
    let seed = 12345;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed % n;
    };
    const alphabet = ' -0123456789.:,abcdefIApdstruqmw\t\u00a0\u0131\ud800\uffff';
    let read = 0;
    for (let i = 0; i < 5000; i++) {
      let line = READ[random(READ.length)]!.trimEnd();
      for (let k = random(4); k >= 0; k--) {
        const at = random(line.length + 1);
        const op = random(3);
        if (op === 0) line = line.slice(0, at) + alphabet.charAt(random(alphabet.length)) + line.slice(at + 1);
        else if (op === 1) line = line.slice(0, at);
        else line = line.slice(0, at) + line.slice(random(line.length));
      }
      // The bytes of an ASCII line read as the line does.
      if (/^[\x00-\x7f]*$/.test(line)) {
        expect(sameRead(readSave(Buffer.from(line, 'latin1'), true), readSave(line, true)), JSON.stringify(line)).toBe(
          true,
        );
      }
      const parsed = parseSaveLine(line);
      if (!parsed) continue;
      read++;
      let general: Uint32Array;
      try {
        general = packFlowSpecs([normalizeFlowInput(parsed.flow, 'line')]).words;
      } catch (e) {
        throw new Error(`${JSON.stringify(line)} was read, but its entry is refused: ${String(e)}`);
      }
      expect(Array.from(direct(line) as Uint32Array), JSON.stringify(line)).toEqual(Array.from(general));
    }
    expect(read).toBeGreaterThan(100);
  });
});
