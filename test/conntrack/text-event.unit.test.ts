/**
 * formatEvent()'s `-o timestamp` prefix on times a live event seldom has. conntrack prints it
 * as `[%-.8ld.%-.6ld]`: the seconds with at least 8 digits and the microseconds with 6, zeros in
 * front. test/conntrack/text.test.ts compares the whole line with `conntrack -E -o timestamp`,
 * but a live event's microseconds are under 100000 one time in ten, and its seconds (since
 * 1970) always have 10 digits: here both are chosen.
 */
import { describe, expect, test } from 'vitest';

import { Status } from '../../lib/conntrack/status.js';
import { formatEvent } from '../../lib/conntrack/text.js';
import type { UdpFlow } from '../../lib/conntrack/types.js';

const flow: UdpFlow = {
  family: 'ipv4',
  protonum: 17,
  protocol: 'udp',
  original: { src: '10.0.0.1', dst: '10.0.0.2', protonum: 17, srcPort: 5000, dstPort: 53 },
  reply: { src: '10.0.0.2', dst: '10.0.0.1', protonum: 17, srcPort: 53, dstPort: 5000 },
  status: new Status(0x08), // CONFIRMED
  timeout: 30,
};
const LINE = '    [NEW] udp      17 30 src=10.0.0.1 dst=10.0.0.2 sport=5000 dport=53 [UNREPLIED] '
  + 'src=10.0.0.2 dst=10.0.0.1 sport=53 dport=5000';

const at = (timestamp: bigint): string => formatEvent({ type: 'new', flow, timestamp }, { timestamp: true });

describe("formatEvent() with { timestamp: true } (conntrack -E -o timestamp's [%-.8ld.%-.6ld])", () => {
  test('microseconds under 100000 keep their leading zeros', () => {
    expect(at(1_765_000_000_000_042_999n)).toBe(`[1765000000.000042]\t${LINE}`);
  });

  test('seconds of fewer than 8 digits are padded to 8 with zeros', () => {
    expect(at(5_123_456_000n)).toBe(`[00000005.123456]\t${LINE}`);
  });

  test('a time of 10 digits and 6 is printed as it is', () => {
    expect(at(1_765_000_000_987_654_321n)).toBe(`[1765000000.987654]\t${LINE}`);
  });
});
