// Tables shared by the reading, text, filter and bulk-delete tests: one entry of each kind,
// mixed entries and the filter cases that select from them, each with the conntrack arguments
// that select the same.
import type { FlowFilter } from '../../lib/index.js';
import type { EntrySpec } from '../oracle/conntrack-cli.js';

/** Label names the tables use (bits 2 and 9), for conntrack -l. */
export const labelMap = { 2: 'blue', 9: 'green' };

/**
 * One entry of each protocol and of each field a listing shows (zones, NAT, labels `web` and
 * `far`, marks, states, SCTP tags, GRE keys), for conntrack -I.
 */
export const everyKind: readonly EntrySpec[] = [
  { proto: 'tcp', src: '10.1.0.1', dst: '10.1.0.2', sport: 40001, dport: 80, state: 'ESTABLISHED', status: ['ASSURED'],
    mark: 5, timeout: 500 },
  { proto: 'tcp', src: '2001:db8::1', dst: '2001:db8::2', sport: 40002, dport: 443, state: 'SYN_SENT', timeout: 400 },
  { proto: 'udp', src: '10.1.0.1', dst: '10.1.0.3', sport: 40003, dport: 53, timeout: 300, zone: 7 },
  { proto: 'udp', src: '10.1.0.1', dst: '10.1.0.4', sport: 40004, dport: 53, timeout: 300, origZone: 3 },
  { proto: 'udp', src: '10.1.0.1', dst: '10.1.0.5', sport: 40005, dport: 123, timeout: 300, replyZone: 4 },
  { proto: 'udp', src: '10.1.0.9', dst: '10.1.0.10', sport: 40006, dport: 5000, timeout: 300,
    dnat: '192.168.7.7:6000' },
  { proto: 'udp', src: '10.1.0.9', dst: '10.1.0.11', sport: 40007, dport: 5000, timeout: 300, labels: ['web', 'far'] },
  { proto: 'icmp', src: '10.1.0.1', dst: '10.1.0.2', icmpType: 8, icmpCode: 0, icmpId: 77, timeout: 30 },
  { proto: 'icmpv6', src: '2001:db8::1', dst: '2001:db8::2', icmpType: 128, icmpCode: 0, icmpId: 99, timeout: 30 },
  { proto: 'sctp', src: '10.1.0.1', dst: '10.1.0.2', sport: 40008, dport: 3868, state: 'ESTABLISHED', sctpOrigVtag: 11,
    sctpReplyVtag: 0x01020304, timeout: 300 },
  { proto: 'dccp', src: '10.1.0.1', dst: '10.1.0.2', sport: 40009, dport: 5001, state: 'OPEN', timeout: 300 },
  { proto: 'gre', src: '10.1.0.1', dst: '10.1.0.2', greSrcKey: 0x1234, greDstKey: 0xabcd, timeout: 300 },
  { proto: 'udplite', src: '10.1.0.1', dst: '10.1.0.2', sport: 40010, dport: 5002, timeout: 300 },
  { proto: 'udp', src: '10.1.0.1', dst: '10.1.0.2', sport: 40011, dport: 5003, timeout: 300,
    status: ['SEEN_REPLY', 'ASSURED'], mark: 0xffffffff },
];

/** Entries with labels (made with conntrack -I --label-add, which needs labelMap). */
export const labeledEntries: EntrySpec[] = [
  { proto: 'udp', src: '10.7.0.1', dst: '10.7.0.2', sport: 1, dport: 2, timeout: 600, labels: ['blue'] },
  { proto: 'udp', src: '10.7.0.1', dst: '10.7.0.3', sport: 1, dport: 2, timeout: 600, labels: ['blue', 'green'] },
];

/** A few thousand entries varying every field a filter can look at. */
export function mixedEntries(): EntrySpec[] {
  const out: EntrySpec[] = [];
  const states = ['ESTABLISHED', 'SYN_SENT', 'TIME_WAIT'];
  for (let i = 0; i < 3000; i++) {
    const v6 = i % 5 === 0;
    const net = i % 7;
    const host = (i % 250) + 1;
    const src = v6 ? `2001:db8:${net}::${host.toString(16)}` : `10.0.${net}.${host}`;
    const dst = v6 ? `2001:db8:ff::${(i % 3) + 1}` : `10.9.0.${(i % 3) + 1}`;
    const kind = i % 3;
    const spec: EntrySpec = kind === 0
      ? { proto: 'tcp', src, dst, sport: 10000 + i, dport: [80, 443, 8080][Math.floor(i / 3) % 3]!,
        state: states[Math.floor(i / 9) % 3]!, timeout: 600 }
      : kind === 1
      ? { proto: 'udp', src, dst, sport: 20000 + i, dport: [53, 123][Math.floor(i / 3) % 2]!, timeout: 600 }
      : { proto: v6 ? 'icmpv6' : 'icmp', src, dst, icmpType: v6 ? 128 : 8, icmpCode: 0, icmpId: i, timeout: 600 };
    if (i % 4 === 1) spec.mark = i % 8;
    if (i % 11 === 0) spec.zone = 5;
    else if (i % 13 === 0) spec.origZone = 3;
    if (i % 6 === 0) spec.status = ['ASSURED'];
    if (kind === 1 && i % 17 === 0) spec.dnat = v6 ? '[2001:db8:aa::1]:5353' : '10.8.8.8:5353';
    out.push(spec);
  }
  return out;
}

/** Each filter kind with the conntrack arguments that select the same entries. */
export const filterCases: [string, FlowFilter, string[]][] = [
  ['protocol', { protocol: 'tcp' }, ['-p', 'tcp']],
  ['protocol by number', { protocol: 17 }, ['-p', 'udp']],
  ['family', { family: 'ipv6' }, ['-f', 'ipv6']],
  ['source address', { src: '10.0.1.5' }, ['-s', '10.0.1.5']],
  ['source CIDR', { src: '10.0.3.0/24' }, ['-s', '10.0.3.0/24']],
  // Prefixes that end inside a byte: the mask of its last bits.
  ['source CIDR ending inside a byte', { src: '10.0.3.64/26' }, ['-s', '10.0.3.64/26']],
  ['IPv6 source CIDR ending inside a byte', { src: '2001:db8:2::/47' }, ['-f', 'ipv6', '-s', '2001:db8:2::/47']],
  ['destination address', { dst: '10.9.0.2' }, ['-d', '10.9.0.2']],
  ['IPv6 destination', { dst: '2001:db8:ff::3' }, ['-f', 'ipv6', '-d', '2001:db8:ff::3']],
  ['IPv6 source CIDR', { src: '2001:db8:2::/48' }, ['-f', 'ipv6', '-s', '2001:db8:2::/48']],
  ['reply source (DNAT target)', { replySrc: '10.8.8.8' }, ['-r', '10.8.8.8']],
  ['reply destination', { replyDst: '10.0.4.9' }, ['-q', '10.0.4.9']],
  ['destination port', { protocol: 'tcp', dstPort: 443 }, ['-p', 'tcp', '--dport', '443']],
  ['source port', { protocol: 'udp', srcPort: 20004 }, ['-p', 'udp', '--sport', '20004']],
  ['reply source port', { protocol: 'udp', replySrcPort: 5353 }, ['-p', 'udp', '--reply-port-src', '5353']],
  ['reply destination port', { protocol: 'tcp', replyDstPort: 10003 }, ['-p', 'tcp', '--reply-port-dst', '10003']],
  ['mark', { mark: 5 }, ['-m', '5']],
  ['mark with mask', { mark: { value: 4, mask: 4 } }, ['-m', '4/4']],
  ['zone', { zone: 5 }, ['-w', '5']],
  ['original zone', { origZone: 3 }, ['--orig-zone', '3']],
  ['status', { status: 'ASSURED' }, ['-u', 'ASSURED']],
  ['TCP state', { state: 'SYN_SENT' }, ['-p', 'tcp', '--state', 'SYN_SENT']],
  ['labels', { labels: [2, 9] }, ['-l', 'blue,green']],
  ['combined', { protocol: 'udp', src: '10.0.0.0/16', dstPort: 53, mark: { value: 1, mask: 1 } }, ['-p', 'udp', '-s',
    '10.0.0.0/16', '--dport', '53', '-m', '1/1']],
];
