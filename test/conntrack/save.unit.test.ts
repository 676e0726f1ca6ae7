// The save reader packs a line for the kernel in one pass (packSaveLine, what restore() sends);
// the entry it reads (parseSaveLine) normalised and packed the general way gives the same words.
import { describe, expect, test } from 'vitest';

import { SPEC_WORDS, normalizeFlowInput, packFlowSpecs } from '../../lib/conntrack/flowspec.js';
import { packSaveLine, parseSaveLine } from '../../lib/conntrack/save.js';

/** Lines of every shape the reader takes: each protocol and family, given and derived reply tuples, status, state, mark, zone. */
const READ = [
  '-I -p tcp -s 10.0.0.1 -d 10.0.0.2 --sport 1 --dport 2 --state ESTABLISHED -t 3600',
  '-A -t 119 -u SEEN_REPLY,ASSURED -s 10.0.0.1 -d 10.0.0.2 -r 10.0.0.2 -q 10.0.0.1 -p tcp --sport 1 --dport 2 --reply-port-src 2 --reply-port-dst 1 --state ESTABLISHED',
  '-A -t 119 -s 10.0.0.1 -d 10.0.0.2 -r 10.0.9.9 -q 10.0.0.1 -p udp --sport 1 --dport 2 --reply-port-src 4000 --reply-port-dst 65535',
  '-I -p udp -s 10.0.0.1 -d 10.0.0.2 -r 10.0.9.9 -q 10.0.0.1 --sport 1 --dport 2 -t 5', // reply addresses, ports swapped
  '-A -t 30 -u UNSET -s 10.0.0.1 -d 10.0.0.9 -r 10.0.0.9 -q 10.0.0.1 -p icmp --icmp-type 8 --icmp-code 0 --icmp-id 7',
  '-I -p icmp -s 10.0.0.1 -d 10.0.0.9 --icmp-type 13 --icmp-code 0 --icmp-id 65535 -t 30',
  '-I -p udp -s 2001:db8::1 -d 2001:db8::2 --sport 5 --dport 53 -t 10 -m 7 -w 3',
  '-I -p udplite -s 2001:db8::1 -d 2001:db8:0:0:0:0:0:2 --sport 5 --dport 53 -t 10 -w 65535',
  '-I -p tcp -s ::ffff:10.0.0.1 -d ::1 -r ::1 -q ::ffff:10.0.0.1 --sport 80 --dport 81 --state TIME_WAIT -t 7',
  '-I -p icmpv6 -s ::1 -d ::2 --icmpv6-type 128 --icmpv6-code 0 --icmpv6-id 9 -t 30',
  '-I -p icmpv6 -s fe80::1 -d fe80::2 -r fe80::2 -q fe80::1 --icmpv6-type 130 --icmpv6-code 3 --icmpv6-id 0 -t 30',
  '-I -p tcp -s 10.0.0.1 -d 10.0.0.2 --sport 1 --dport 2 --state LISTEN -t 5 -u UNSET',
  '-I -p tcp -s 255.255.255.255 -d 0.0.0.0 --sport 0 --dport 65535 --state SYN_SENT2 -t 999999999 -m 999999999 -u ASSURED,FIXED_TIMEOUT,SEEN_REPLY',
  '-I -p udp -s 10.0.0.1 -d 10.0.0.2 --sport 1 --dport 2 -t 10 \t ', // trailing blanks
];

/** Lines it leaves to the full parser (0, nothing it can read). */
const NOT_READ = [
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
];

/** A packed spec from packSaveLine, or 0 for a line it does not read. */
function direct(line: string): Uint32Array | 0 {
  const words = new Uint32Array(SPEC_WORDS);
  const text = line.trimEnd();
  return packSaveLine(text, 0, text.length, words, new Uint8Array(words.buffer), 0) === 0 ? 0 : words;
}

describe('save reader', () => {
  test.each(READ)('%s: packed in one pass as normalizeFlowInput() + packFlowSpecs() pack the entry it reads', (line) => {
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

  test('a line packs at its place among others, the words around it left as they were', () => {
    const words = new Uint32Array(3 * SPEC_WORDS).fill(0xdeadbeef, 0, SPEC_WORDS);
    words.fill(0xdeadbeef, 2 * SPEC_WORDS);
    words.fill(0, SPEC_WORDS, 2 * SPEC_WORDS);
    expect(packSaveLine(`# ${READ[0]!} #`, 2, READ[0]!.length + 2, words, new Uint8Array(words.buffer), SPEC_WORDS)).toBe(1);
    expect(Array.from(words.subarray(SPEC_WORDS, 2 * SPEC_WORDS))).toEqual(Array.from(direct(READ[0]!) as Uint32Array));
    expect(words.subarray(0, SPEC_WORDS).every((w) => w === 0xdeadbeef)).toBe(true);
    expect(words.subarray(2 * SPEC_WORDS).every((w) => w === 0xdeadbeef)).toBe(true);
  });
});
