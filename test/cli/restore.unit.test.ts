// -R's fast path for plain create lines gives the entry the full parser gives, and leaves every
// other line to the full parser.
import { describe, expect, test } from 'vitest';

import { flowInputOf } from '../../lib/cli/commands/create.js';
import { LoadFileReader } from '../../lib/cli/commands/load-file.js';
import { splitWords } from '../../lib/cli/commands/restore.js';
import { parseCommandLine } from '../../lib/cli/parse.js';
import { parseSave, parseSaveLine as fastCreateLine } from '../../lib/conntrack/save.js';

const SAME = [
  '-I -p tcp -s 10.0.0.1 -d 10.0.0.2 --sport 1 --dport 2 --state ESTABLISHED -t 3600',
  '-A -t 119 -u SEEN_REPLY,ASSURED -s 10.0.0.1 -d 10.0.0.2 -r 10.0.0.2 -q 10.0.0.1 -p tcp --sport 1 --dport 2 --reply-port-src 2 --reply-port-dst 1 --state ESTABLISHED',
  '-A -t 30 -u UNSET -s 10.0.0.1 -d 10.0.0.9 -r 10.0.0.9 -q 10.0.0.1 -p icmp --icmp-type 8 --icmp-code 0 --icmp-id 7',
  '-I -p udp -s 2001:db8::1 -d 2001:db8::2 --sport 5 --dport 53 -t 10 -m 7 -w 3',
  '-I -p icmpv6 -s ::1 -d ::2 --icmpv6-type 128 --icmpv6-code 0 --icmpv6-id 9 -t 30',
  '-I -p tcp -s 10.0.0.1 -d 10.0.0.2 --sport 1 --dport 2 --state LISTEN -t 5 -u UNSET',
  '-I -p udp -s 10.0.0.1 -d 10.0.0.2 --sport 1 --dport 2 -t 10 \t ', // trailing blanks
];
const FULL_ONLY = [
  '-I -p tcp -s 10.0.0.1 -d 10.0.0.2 --sport 1 --dport 2 -t 3600', // no state: refused by the full parser
  '-I -p udp -s 10.0.0.1 -d 10.0.0.2 --sport 1 --dport 2 -t 0x10', // hex
  '-I -p udp -s 10.1 -d 10.0.0.2 --sport 1 --dport 2 -t 10', // inet_aton short form
  '-I -p udp -s 10.0.0.1 -d 10.0.0.2 --sport 1 --dport 2 -t 10 --dst-nat 1.2.3.4:5', // NAT
  '-I -p udp -s 10.0.0.1 -d 10.0.0.2 --sport 1 --dport 2 -t 10 -t 11', // repeated
  '-I -p udp --src 10.0.0.1 -d 10.0.0.2 --sport 1 --dport 2 -t 10', // long spelling
  '-I -p sctp -s 10.0.0.1 -d 10.0.0.2 --sport 1 --dport 2 -t 10 --state ESTABLISHED',
  '-U -s 10.0.0.1 -m 1',
  '-I -p udp -s 10.0.0.1 -d 10.0.0.2 --sport 1 --dport 2 -t 10 -u ASSURED,!SEEN_REPLY',
  '-I -p udp -s 10.0.0.1 -d 10.0.0.2  --sport 1 --dport 2 -t 10', // two blanks
  '-I -p udp -s 10.0.0.1 -d 10.0.0.2 --sport 1 --dport 2 -t', // an option without its value
  '-I -p udp -s 10.0.0.1 -d 10.0.0.2 --sport 1 --dport 2 -t 10 --reply-port-src 2 --reply-port-dst 1', // reply ports, no reply tuple
  '-I -p udp -s 10.0.0.1 -d 10.0.0.2 --sport 1 --dport 2 -t 10 -r 10.0.0.2 -q 10.0.0.1 --reply-port-src 2', // one reply port
  '-I -p icmp -s 10.0.0.1 -d 10.0.0.2 --icmpv6-type 8 --icmpv6-code 0 --icmpv6-id 7 -t 10', // ICMPv6 options on ICMP
  '-I -p udp -s 10.0.0.1 -d 10.0.0.2 --sport 1 --dport 2 -t 10 --icmp-type 8', // ICMP option on UDP
  '-I -p udp -s 10.0.0.1 -d 10.0.0.2 --sport 1 --dport 2 -t 10 -m 4294967295', // ten digits
  '-I -p udp -s 10.0.0.1 -d 10.0.0.2 --sport 1 --dport 2 -t 10 -m 010', // octal, as conntrack reads it
  '-I -p udp -s 10.0.0.1 -d 10.0.0.2 --sport 1 --dport 2 -t 10 -w 010',
  '-I -p udp -s 10.0.0.1 -d 10.0.0.2 --sport 1 --dport 2 -t 10 -w 08', // 0, as conntrack reads it
];

describe('-R fast path', () => {
  test.each(SAME)('%s: the same entry as the full parser', (line) => {
    const fast = fastCreateLine(line);
    expect(fast).toBeDefined();
    const full = flowInputOf(parseCommandLine(splitWords(line), () => undefined));
    expect(JSON.parse(JSON.stringify(fast!.flow))).toEqual(JSON.parse(JSON.stringify(full)));
  });
  test.each(FULL_ONLY)('%s: left to the full parser', (line) => {
    expect(fastCreateLine(line)).toBeUndefined();
  });
  test('a mark or zone with a leading zero: the full parser reads it as conntrack does (octal)', () => {
    const full = flowInputOf(
      parseCommandLine(splitWords('-I -p udp -s 10.0.0.1 -d 10.0.0.2 --sport 1 --dport 2 -t 10 -m 010 -w 010'),
        () => undefined),
    );
    expect([full.mark, full.zone]).toEqual([8, 8]);
  });
  test('parseSave: the entries of the -I/-A lines; another line is a TypeError with its number', () => {
    expect(parseSave(`# saved\n\n${SAME[0]}\n${SAME[1]}\n`)).toHaveLength(2);
    expect(() => parseSave(`${SAME[0]}\n-U -s 10.0.0.1 -m 1\n`)).toThrow(/line 2 /);
  });
  test('splitWords: blanks separate, quotes group, backslash escapes inside quotes', () => {
    expect(splitWords('-L  -p\ttcp "a b" "x\\"y"\n')).toEqual(['-L', '-p', 'tcp', 'a b', 'x"y']);
    // a closing quote ends the word; an opening quote inside a word goes on with it
    expect(splitWords('-m "1"2 ""5 3"4" ""')).toEqual(['-m', '1', '2', '', '5', '34', '']);
    // an escape as the first byte of a quoted word, and blanks before the first word
    expect(splitWords(' \t"\\"a b" c')).toEqual(['"a b', 'c']);
  });
});

/** What conntrack's line reader hands on for this input fed in chunks of `chunk` bytes. */
function read(input: string | Buffer,
  chunk = 1 << 20): { lines: string[]; broken?: { line: number; message: string } }
{
  const bytes = Buffer.isBuffer(input) ? input : Buffer.from(input);
  const out: { lines: string[]; broken?: { line: number; message: string } } = { lines: [] };
  const reader = new LoadFileReader({
    run: (b) => void out.lines.push(...b.toString('latin1').split('\n').slice(0, -1).map((l) => `run:${l}`)),
    piece: (text) => void out.lines.push(text),
    broken: (line, message) => void (out.broken ??= { line, message }),
  });
  for (let at = 0; at < bytes.length; at += chunk) reader.push(bytes.subarray(at, at + chunk));
  reader.end();
  return out;
}

describe("-R: conntrack's line reader", () => {
  const line = (words: number): string => ['-I', ...Array.from({ length: words - 1 }, () => 'x')].join(' ');
  test('253 words a line, 1023 bytes a word; the first line past either is found (numbered from 1), with its message', () => {
    expect(read(`${line(253)}\n-m ${'1'.repeat(1023)}\n`).broken).toBeUndefined();
    expect(read(`-F\n${line(253)}\n${line(254)}\n`).broken).toEqual({ line: 3, message: 'too many arguments' });
    expect(read(`-F\n-m ${'1'.repeat(1024)}\n${line(300)}`).broken).toEqual({ line: 2,
      message: 'Parameter too long!' });
    // in the line, whichever conntrack meets first
    expect(read(`${line(253)} ${'1'.repeat(1024)}\n`).broken?.message).toBe('Parameter too long!');
  });
  test('quotes make one word (a closing quote ends it); comments and blank lines are not split', () => {
    expect(read(`-m "${' '.repeat(600)}"\n`).broken).toBeUndefined();
    expect(read(`${'""'.repeat(254)}\n`).broken?.message).toBe('too many arguments');
    // (past 506 bytes a line is checked against the limits: a long comment still goes on in its run)
    expect(read(`  # ${'x '.repeat(400)}\n${' '.repeat(2000)}\n`)).toEqual({
      lines: [`run:  # ${'x '.repeat(400)}`, `run:${' '.repeat(2000)}`],
    });
  });
  test('a blank or comment line cut by the chunks is skipped, not handed on alone', () => {
    for (const chunk of [1, 2, 3, 5, 7]) {
      // (a run hands its lines on as they are, blank and comment lines too)
      expect(read('-F\n   \n\t# c\n-F\n', chunk).lines.filter((l) => !l.startsWith('run:'))).toEqual(
        chunk < 3 ? ['-F', '-F'] : chunk === 7 ? ['-F'] : [],
      );
    }
  });
  test('a line longer than 10239 bytes is read as several pieces, whatever the chunks', () => {
    const text = `-F${' '.repeat(10237)}-F\n-F\n`;
    for (const chunk of [1 << 20, 10239, 4096, 7, 1]) {
      expect(read(text, chunk).lines.map((l) => l.replace(/^run:/, ''))).toEqual([`-F${' '.repeat(10237)}`, '-F',
        '-F']);
    }
    expect(read(`${' '.repeat(10238)}\n`).lines).toEqual([`run:${' '.repeat(10238)}`]);
    // the line count goes on from the pieces
    expect(read(`${' '.repeat(10300)}\n${line(254)}`).broken).toEqual({ line: 3, message: 'too many arguments' });
  });
  test('a piece ends at its first NUL byte, as a C string; a piece of only blanks without its newline is not skipped', () => {
    expect(read('\0\0\0\n').lines).toEqual(['']);
    expect(read('  \0x\n').lines).toEqual(['  ']);
    expect(read('-F\0 -x\n-F\n').lines).toEqual(['-F', 'run:-F']);
    expect(read('\t# x\0\n').lines).toEqual([]);
    expect(read('   ').lines).toEqual(['   ']);
    expect(read('-F\n\n   \n').lines).toEqual(['run:-F', 'run:', 'run:   ']);
    // bytes past ASCII go one line at a time (decoded as UTF-8); the plain lines around them stay runs
    expect(read('-F\n# é\n-L é\n-F\n').lines).toEqual(['run:-F', '-L é', 'run:-F']);
  });
  test('an endless input without newlines is read in pieces of 10239 bytes, nothing kept in between', () => {
    const lengths: number[] = [];
    const reader = new LoadFileReader({ run: () => undefined, piece: (t) => void lengths.push(t.length),
      broken: () => undefined });
    const zeros = Buffer.alloc(1 << 16);
    for (let i = 0; i < 64; i++) reader.push(zeros);
    // every piece was a NUL at once: an empty text each
    expect(lengths).toHaveLength(Math.floor((64 << 16) / 10239));
    expect(new Set(lengths)).toEqual(new Set([0]));
  });
});
