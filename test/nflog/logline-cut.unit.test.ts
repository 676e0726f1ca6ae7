/**
 * formatLogLine on transport headers cut short, for the protocols the kernel capture
 * (test/fixtures/log/) has no cut packet of. nf_log_syslog.c dumps TCP, UDP and UDP-Lite ports
 * with the same steps: a header it cannot read is written `INCOMPLETE [n bytes] ` and ends the
 * line (nothing after it, not even UID or MARK). The oracle is the kernel's own line for the
 * captured TCP packet cut 10 bytes into its header: the same packet cut 4 bytes in (short of the
 * 8 bytes of a UDP header), with TCP, UDP or UDP-Lite as its protocol, must give that line with
 * the protocol's name and 4 bytes.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, test } from 'vitest';

import { formatLogLine } from '../../lib/nflog/logline-format.js';
import type { NflogPacket } from '../../lib/nflog/types.js';

interface Captured {
  name: string;
  crafted?: string;
  nflog: { payload: string; uid?: number; gid?: number };
  lines: { variant: string; text: string }[];
}
const loopback = JSON.parse(readFileSync(join(__dirname, '..', 'fixtures', 'log', 'loopback.json'), 'utf8')) as {
  packets: Captured[];
};

/** The kernel's line for a captured packet sent from this host (OUTPUT, out of lo), with UID. */
function captured(crafted: string): { payload: Buffer; uid: number; gid: number; text: string } {
  const p = loopback.packets.find((x) => x.crafted === crafted && x.name.startsWith('out-'))!;
  const line = p.lines.find((l) => l.variant === 'uid')!.text;
  return { payload: Buffer.from(p.nflog.payload, 'hex'), uid: p.nflog.uid!, gid: p.nflog.gid!,
    text: line.slice(line.indexOf('IN=')) };
}

function sent(payload: Buffer, family: 'ipv4' | 'ipv6', uid: number, gid: number): NflogPacket {
  return { group: 1, family, hook: 3, hookName: 'OUTPUT', outdev: { index: 1, name: 'lo' }, uid, gid, mark: 5,
    payload };
}

/** The captured packet cut `keep` bytes into its transport header, with `protocol` as its protocol. */
function recut(payload: Buffer, header: number, protocolAt: number, protocol: number, keep: number): Buffer {
  const cut = Buffer.from(payload.subarray(0, header + keep));
  cut[protocolAt] = protocol;
  return cut;
}

describe('a transport header cut short ends the line', () => {
  test.each([[17, 'UDP'], [136, 'UDPLITE'], [6, 'TCP']] as const)('IPv4, protocol %i: PROTO=%s INCOMPLETE [4 bytes]',
    (protocol, name) => {
      const tcp = captured('tcp-header-cut');
      expect(tcp.text).toMatch(/ PROTO=TCP INCOMPLETE \[10 bytes\] $/);
      const packet = sent(recut(tcp.payload, 20, 9, protocol, 4), 'ipv4', tcp.uid, tcp.gid);
      expect(formatLogLine(packet, { uid: true })).toBe(
        tcp.text.replace('PROTO=TCP', `PROTO=${name}`).replace('[10 bytes]', '[4 bytes]'),
      );
    });

  test.each([[17, 'UDP'], [136, 'UDPLITE'], [6, 'TCP']] as const)('IPv6, next header %i: PROTO=%s INCOMPLETE [4 bytes]',
    (protocol, name) => {
      const tcp = captured('ipv6-tcp-cut');
      expect(tcp.text).toMatch(/ PROTO=TCP INCOMPLETE \[10 bytes\] $/);
      const packet = sent(recut(tcp.payload, 40, 6, protocol, 4), 'ipv6', tcp.uid, tcp.gid);
      expect(formatLogLine(packet, { uid: true })).toBe(
        tcp.text.replace('PROTO=TCP', `PROTO=${name}`).replace('[10 bytes]', '[4 bytes]'),
      );
    });
});
