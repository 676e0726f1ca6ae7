/**
 * formatSave() (`-o save`) on entries this kernel cannot make: DCCP with its tracker's state
 * and role (Linux 6.16 and later track DCCP generically, without either), and state or role
 * numbers beyond the names, which conntrack prints as `(null)` (glibc's printf of a null
 * string), and a security mark. Also the choice between `-r`/`-q` and `-g`/`-n`, which the
 * NAT bits make, on a hand-made Flow where the fixtures of test/conntrack/text.test.ts have no
 * reply moved without NAT. That file compares every other entry with `conntrack -L -o save`.
 */
import { describe, expect, test } from 'vitest';

import { Status } from '../../lib/conntrack/status.js';
import { formatSave } from '../../lib/conntrack/text.js';
import type { DccpFlow, TcpFlow } from '../../lib/conntrack/types.js';

const tuples = (protonum: number) => ({
  original: { src: '10.0.0.1', dst: '10.0.0.2', protonum, srcPort: 40000, dstPort: 5001 },
  reply: { src: '10.0.0.2', dst: '10.0.0.1', protonum, srcPort: 5001, dstPort: 40000 },
});
const COMMON = '-t 100 -u SEEN_REPLY,ASSURED -s 10.0.0.1 -d 10.0.0.2 -r 10.0.0.2 -q 10.0.0.1';
const PORTS = '--sport 40000 --dport 5001 --reply-port-src 5001 --reply-port-dst 40000';

const dccp: DccpFlow = { family: 'ipv4', protonum: 33, protocol: 'dccp', ...tuples(33), status: new Status(0x0e),
  timeout: 100, dccp: { state: 'OPEN', stateNum: 4, role: 0, handshakeSeq: 0n } };

describe('formatSave()', () => {
  test('DCCP with its state and role', () => {
    expect(formatSave(dccp)).toBe(`-A ${COMMON} -p dccp ${PORTS} --state OPEN --role client`);
    expect(formatSave({ ...dccp, dccp: { ...dccp.dccp!, role: 1 } })).toMatch(/ --role server$/);
  });

  test('a DCCP state or role beyond the names: (null)', () => {
    expect(formatSave({ ...dccp, dccp: { ...dccp.dccp!, stateNum: 99, role: 7 } })).toBe(
      `-A ${COMMON} -p dccp ${PORTS} --state (null) --role (null)`,
    );
  });

  test('DCCP tracked generically (no state, ports 0): no port options', () => {
    const zero = { ...tuples(33) };
    zero.original = { ...zero.original, srcPort: 0, dstPort: 0 };
    zero.reply = { ...zero.reply, srcPort: 0, dstPort: 0 };
    expect(formatSave({ ...dccp, ...zero, dccp: undefined })).toBe(`-A ${COMMON} -p dccp`);
  });

  test('a TCP state beyond the names: (null)', () => {
    const tcp: TcpFlow = { family: 'ipv4', protonum: 6, protocol: 'tcp', ...tuples(6), status: new Status(0x0e),
      timeout: 100,
      tcp: { state: 'ESTABLISHED', stateNum: 99, wscaleOriginal: 0, wscaleReply: 0, flagsOriginal: 0, flagsReply: 0,
        maskOriginal: 0, maskReply: 0 } };
    expect(formatSave(tcp)).toBe(`-A ${COMMON} -p tcp ${PORTS} --state (null)`);
  });

  test('a security mark (it needs an LSM that labels packets): -c after the status', () => {
    expect(formatSave({ ...dccp, secmark: 7, dccp: undefined })).toBe(
      `-A -t 100 -u SEEN_REPLY,ASSURED -c 7 -s 10.0.0.1 -d 10.0.0.2 -r 10.0.0.2 -q 10.0.0.1 -p dccp ${PORTS}`,
    );
  });

  test('a reply address that is not the original turned round, without NAT: -r and -q, not -g and -n', () => {
    // As `conntrack -I -p udp -s 10.0.0.1 -d 10.0.0.2 -r 10.0.0.9 -q 10.0.0.1 ...` leaves it:
    // the kernel keeps the reply given and sets no NAT bit, and `conntrack -L -o save` prints
    // `-r 10.0.0.9 -q 10.0.0.1`. With DST_NAT_DONE/SRC_NAT_DONE the same addresses are -g and -n.
    const t = tuples(33);
    const moved = { ...dccp, dccp: undefined, original: t.original,
      reply: { ...t.reply, src: '10.0.0.9', dst: '10.0.0.8' } };
    const addresses = '-s 10.0.0.1 -d 10.0.0.2';
    expect(formatSave(moved)).toContain(`${addresses} -r 10.0.0.9 -q 10.0.0.8 -p dccp`);
    expect(formatSave({ ...moved, status: new Status(0x0e | 0x80 | 0x100) })).toContain(
      `${addresses} -g 10.0.0.9 -n 10.0.0.8 -p dccp`,
    );
  });
});
