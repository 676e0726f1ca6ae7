/**
 * Unit tests for the conntrack-tools oracle: the output parser (on lines captured from
 * conntrack 1.4.7 in a test netns, test/fixtures/conntrack-*.txt) and the argument builder.
 * No kernel access.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';

import { NETNS_NAME_RE, parseNetnsName } from '../helpers/netns-core.js';
import { buildEntryArgs, buildLoadFile, type CtEntry, parseConntrackLine, parseConntrackOutput, parseCtime,
  parseSummaryCount, tokenize } from './conntrack-cli.js';

function fixture(name: string): string[] {
  return readFileSync(join(__dirname, '..', 'fixtures', name), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('#'));
}

/** The one entry of `entries` whose line contains every fragment. */
function pick(entries: CtEntry[], ...fragments: string[]): CtEntry {
  const hits = entries.filter((e) => fragments.every((f) => e.line.includes(f)));
  expect(hits, `lines with ${fragments.join(' & ')}`).toHaveLength(1);
  return hits[0]!;
}

const L4NUM: Record<string, number> = {
  tcp: 6,
  udp: 17,
  udplite: 136,
  icmp: 1,
  icmpv6: 58,
  sctp: 132,
  gre: 47,
  dccp: 33,
};

const captured = [
  'conntrack-L-extended.txt',
  'conntrack-L-plain.txt',
  'conntrack-L-ktimestamp.txt',
  'conntrack-L-labels.txt',
  'conntrack-E.txt',
];

describe('tokenize / parseCtime', () => {
  test('keeps bracketed items with blanks whole', () => {
    expect(tokenize('  a=1 [start=Sun Nov  2 05:04:03 2025]\t[ASSURED] b ')).toEqual([
      'a=1',
      '[start=Sun Nov  2 05:04:03 2025]',
      '[ASSURED]',
      'b',
    ]);
  });

  test('ctime text is read as UTC, day padded or not', () => {
    expect(parseCtime('Sun Nov 22 15:40:46 2026')?.toISOString()).toBe('2026-11-22T15:40:46.000Z');
    expect(parseCtime('Sun Nov  2 05:04:03 2025')?.toISOString()).toBe('2025-11-02T05:04:03.000Z');
    expect(parseCtime('yesterday')).toBeUndefined();
  });
});

describe.each(captured)('every captured line of %s', (file) => {
  const lines = fixture(file);

  test('parses with nothing left over, consistently', () => {
    expect(lines.length).toBeGreaterThan(20);
    for (const line of lines) {
      const e = parseConntrackLine(line);
      expect(e.unknown, line).toEqual([]);
      expect(e.extra, line).toEqual({});
      if (e.l4proto !== 'unknown') expect(e.l4protonum, line).toBe(L4NUM[e.l4proto]);
      expect(e.family, line).toBe(e.orig.src.includes(':') ? 6 : 4);
      if (e.l3proto !== undefined) expect(e.l3protonum, line).toBe(e.l3proto === 'ipv6' ? 10 : 2);
      expect(e.seenReply, line).toBe(!line.includes('[UNREPLIED]'));
      expect(e.assured, line).toBe(line.includes('[ASSURED]'));
      // every key=value token of the line was consumed into some field
      const kv = tokenize(line).filter((t) => !t.startsWith('[') && t.includes('='));
      const consumed = 2 * 2 + // src/dst x2
        ['sport', 'dport', 'icmpType', 'icmpCode', 'icmpId', 'greSrcKey', 'greDstKey', 'zone', 'packets', 'bytes']
          .map((f) =>
            [e.orig, e.reply].filter((t) => (t as unknown as Record<string, unknown>)[f] !== undefined).length
          )
          .reduce((a, b) => a + b, 0) +
        ['mark', 'secmark', 'secctx', 'zone', 'use', 'id', 'helper', 'labels', 'deltaTime', 'portid', 'progname']
          .filter(
            (f) => (e as unknown as Record<string, unknown>)[f] !== undefined,
          ).length;
      expect(consumed, line).toBe(kv.length);
    }
  });
});

describe('conntrack -L -o extended,id (captured)', () => {
  const { entries, rejected } = parseConntrackOutput(fixture('conntrack-L-extended.txt').join('\n'));

  test('all 24 lines are entries', () => {
    expect(rejected).toEqual([]);
    expect(entries).toHaveLength(24);
  });

  test('DNAT TCP flow with counters: reply tuple differs from the inverted original', () => {
    const e = pick(entries, 'dport=8080');
    expect(e).toMatchObject({
      l3proto: 'ipv4',
      l3protonum: 2,
      l4proto: 'tcp',
      l4protonum: 6,
      timeout: 119,
      state: 'TIME_WAIT',
      flags: ['ASSURED'],
      seenReply: true,
      assured: true,
      mark: 0,
      deltaTime: 0,
      use: 1,
      id: 3928346568,
    });
    expect(e.orig).toEqual({ src: '127.0.0.1', dst: '127.0.0.99', sport: 41756, dport: 8080, packets: 6, bytes: 384 });
    expect(e.reply).toEqual({ src: '127.0.0.1', dst: '127.0.0.1', sport: 5006, dport: 41756, packets: 4, bytes: 280 });
  });

  test('DNAT UDP flow', () => {
    const e = pick(entries, 'dport=8053');
    expect(e.state).toBeUndefined();
    expect(e.timeout).toBe(29);
    expect(e.orig).toEqual({ src: '127.0.0.1', dst: '127.0.0.99', sport: 45496, dport: 8053, packets: 2, bytes: 120 });
    expect(e.reply).toEqual({ src: '127.0.0.1', dst: '127.0.0.1', sport: 5007, dport: 45496, packets: 2, bytes: 120 });
    expect(e.flags).toEqual([]);
  });

  test('IPv6 TCP', () => {
    const e = pick(entries, 'sport=40002');
    expect(e).toMatchObject({ family: 6, l3proto: 'ipv6', l3protonum: 10, state: 'TIME_WAIT', deltaTime: 1 });
    expect(e.orig).toEqual({ src: '::1', dst: '::1', sport: 40002, dport: 5002, packets: 6, bytes: 1440 });
    expect(e.reply).toEqual({ src: '::1', dst: '::1', sport: 5002, dport: 40002, packets: 4, bytes: 1296 });
  });

  test('a connection held open is ESTABLISHED with the long timeout', () => {
    const e = pick(entries, 'sport=40003');
    expect(e.state).toBe('ESTABLISHED');
    expect(e.timeout).toBe(431999);
  });

  test('UDP without reply is [UNREPLIED] and its reply counters are 0', () => {
    const e = pick(entries, 'sport=40005');
    expect(e.flags).toEqual(['UNREPLIED']);
    expect(e.seenReply).toBe(false);
    expect(e.orig.packets).toBe(1);
    expect(e.reply).toMatchObject({ packets: 0, bytes: 0 });
  });

  test('ICMP echo: the tuple id and the entry id are told apart', () => {
    const e = pick(entries, 'id=4242');
    expect(e.orig).toEqual({ src: '127.0.0.1', dst: '127.0.0.1', icmpType: 8, icmpCode: 0, icmpId: 4242, packets: 1,
      bytes: 84 });
    expect(e.reply).toEqual({ src: '127.0.0.1', dst: '127.0.0.1', icmpType: 0, icmpCode: 0, icmpId: 4242, packets: 1,
      bytes: 84 });
    expect(e.id).toBe(4096605074);
    expect(e.orig.sport).toBeUndefined();
  });

  test('ICMPv6 echo', () => {
    const e = pick(entries, 'id=4243');
    expect(e.l4proto).toBe('icmpv6');
    expect(e.orig).toMatchObject({ icmpType: 128, icmpCode: 0, icmpId: 4243 });
    expect(e.reply).toMatchObject({ icmpType: 129, icmpCode: 0, icmpId: 4243 });
    expect(e.id).toBe(1460592728);
  });

  test('ICMP timestamp request made with -I', () => {
    const e = pick(entries, 'type=13');
    expect(e.orig).toMatchObject({ src: '192.0.2.1', dst: '198.51.100.1', icmpType: 13, icmpId: 77 });
    expect(e.reply).toMatchObject({ src: '198.51.100.1', icmpType: 14, icmpId: 77 });
  });

  test('zones: zone=, zone-orig=, zone-reply=', () => {
    const z = pick(entries, 'dport=53 ');
    expect(z.zone).toBe(9);
    expect(z.orig.zone).toBeUndefined();
    const zo = pick(entries, 'dport=54 ');
    expect(zo.zone).toBeUndefined();
    expect(zo.orig.zone).toBe(3);
    expect(zo.reply.zone).toBeUndefined();
    expect(zo.orig.packets).toBe(0); // counters come after zone-orig
    const zr = pick(entries, 'dport=55 ');
    expect(zr.reply.zone).toBe(4);
    expect(zr.orig.zone).toBeUndefined();
  });

  test('marks: set by nft on a real flow, max u32, updated by -U', () => {
    expect(pick(entries, 'sport=40008').mark).toBe(42);
    expect(pick(entries, 'dport=443').mark).toBe(4294967295);
    expect(pick(entries, 'dport=80 ').mark).toBe(8);
  });

  test('IPv6 DNAT made with -I --dst-nat, TCP SYN_SENT', () => {
    const e = pick(entries, 'dport=443');
    expect(e.state).toBe('SYN_SENT');
    expect(e.reply).toMatchObject({ src: '2001:db8::9', dst: '2001:db8::1', sport: 8443, dport: 1111 });
  });

  test('DNAT + SNAT made with -I', () => {
    const e = pick(entries, 'dport=81 ');
    expect(e.reply).toMatchObject({ src: '10.0.0.9', dst: '203.0.113.5', sport: 8081, dport: 1111 });
  });

  test('GRE keys are printed in hex', () => {
    const e = pick(entries, 'gre ');
    expect(e.orig).toMatchObject({ greSrcKey: 0x1234, greDstKey: 0xbeef });
    expect(e.reply).toMatchObject({ greSrcKey: 0xbeef, greDstKey: 0x1234 });
  });

  test('SCTP state, UDPlite, generic protocol 99', () => {
    expect(pick(entries, 'sctp').state).toBe('ESTABLISHED');
    expect(pick(entries, 'udplite').orig).toMatchObject({ sport: 1111, dport: 56 });
    const g = pick(entries, 'unknown  99');
    expect(g).toMatchObject({ l4proto: 'unknown', l4protonum: 99, timeout: 299 });
    expect(g.orig).toEqual({ src: '192.0.2.1', dst: '198.51.100.1', packets: 0, bytes: 0 });
  });

  test('helper=', () => {
    expect(pick(entries, 'dport=2121').helper).toBe('ftp');
  });

  test('no labels without -o labels', () => {
    expect(entries.every((e) => e.labels === undefined)).toBe(true);
  });
});

describe('other captured outputs', () => {
  test('plain -L: no l3 columns, no id, family from the address', () => {
    const { entries, rejected } = parseConntrackOutput(fixture('conntrack-L-plain.txt').join('\n'));
    expect(rejected).toEqual([]);
    expect(entries).toHaveLength(24);
    const e = pick(entries, 'sport=40002');
    expect(e.l3proto).toBeUndefined();
    expect(e.family).toBe(6);
    expect(e.id).toBeUndefined();
    expect(e).toMatchObject({ l4proto: 'tcp', l4protonum: 6, timeout: 119, state: 'TIME_WAIT' });
    const icmp = pick(entries, 'id=4242');
    expect(icmp.orig.icmpId).toBe(4242);
    expect(icmp.id).toBeUndefined();
  });

  test('-o ktimestamp: [start=...] parsed as UTC', () => {
    const entries = fixture('conntrack-L-ktimestamp.txt').map(parseConntrackLine);
    expect(entries.every((e) => /^Sun Nov 22 15:40:4[56] 2026$/.test(e.startText ?? ''))).toBe(true);
    expect(pick(entries, 'sport=40001').start?.toISOString()).toBe('2026-11-22T15:40:45.000Z');
    expect(pick(entries, 'dport=8080').start?.toISOString()).toBe('2026-11-22T15:40:46.000Z');
    expect(entries.every((e) => e.stop === undefined)).toBe(true);
    const e = pick(entries, 'dport=8080');
    expect(e.id).toBe(3928346568);
    expect(e.use).toBe(1);
  });

  test('-o labels with a label map', () => {
    const entries = fixture('conntrack-L-labels.txt').map(parseConntrackLine);
    expect(pick(entries, 'sport=40009').labels).toEqual(['five', 'big']);
    expect(pick(entries, 'dport=58 ').labels).toEqual(['one', 'big']);
    expect(entries.filter((e) => e.labels !== undefined)).toHaveLength(2);
  });
});

describe('conntrack -E -o extended,id,ktimestamp,timestamp (captured)', () => {
  const events = fixture('conntrack-E.txt').map(parseConntrackLine);

  test('event types and the timestamp prefix', () => {
    expect(events.every((e) => e.event !== undefined && typeof e.time === 'number')).toBe(true);
    expect(events[0]).toMatchObject({ event: 'NEW', time: 1795362045.914514, state: 'SYN_SENT', timeout: 120 });
    expect(new Set(events.map((e) => e.event))).toEqual(new Set(['NEW', 'UPDATE', 'DESTROY']));
  });

  test('a TCP flow goes NEW SYN_SENT -> SYN_RECV -> ESTABLISHED -> FIN_WAIT -> LAST_ACK -> TIME_WAIT', () => {
    const flow = events.filter((e) => e.orig.sport === 40001);
    expect(flow.map((e) => `${e.event}:${e.state}`)).toEqual([
      'NEW:SYN_SENT',
      'UPDATE:SYN_RECV',
      'UPDATE:ESTABLISHED',
      'UPDATE:FIN_WAIT',
      'UPDATE:LAST_ACK',
      'UPDATE:TIME_WAIT',
    ]);
    expect(new Set(flow.map((e) => e.id))).toEqual(new Set([2128520138]));
    expect(flow[0]!.seenReply).toBe(false);
    expect(flow[2]!.assured).toBe(true);
    // kernel events carry neither counters nor use=, and mark= only when non-zero
    expect(flow[0]!.orig.packets).toBeUndefined();
    expect(flow[0]!.use).toBeUndefined();
    expect(flow[0]!.mark).toBeUndefined();
  });

  test('ICMP event without mark/use: "id=4242 id=4096605074"', () => {
    const e = events.find((x) => x.event === 'NEW' && x.l4proto === 'icmp')!;
    expect(e.orig.icmpId).toBe(4242);
    expect(e.reply.icmpId).toBe(4242);
    expect(e.id).toBe(4096605074);
  });

  test('changes made by a netlink user carry [USERSPACE] portid= progname=', () => {
    const e = pick(events, '[NEW]', 'dport=80 ');
    expect(e.flags).toEqual(['ASSURED', 'USERSPACE']);
    expect(e.portid).toBe(10448);
    expect(e.progname).toBe('conntrack');
    const u = pick(events, '[UPDATE]', 'dport=80 ');
    expect(u.mark).toBe(8);
    expect(u.portid).toBe(3729654229);
    expect(u.progname).toBeUndefined();
  });

  test('DESTROY carries counters, delta-time, start and stop', () => {
    const e = events.find((x) => x.event === 'DESTROY')!;
    expect(e.orig).toEqual({ src: '192.0.2.1', dst: '198.51.100.1', sport: 2222, dport: 99, packets: 0, bytes: 0 });
    expect(e.deltaTime).toBe(0);
    expect(e.start?.toISOString()).toBe('2026-11-22T15:40:46.000Z');
    expect(e.stop?.toISOString()).toBe('2026-11-22T15:40:46.000Z');
    expect(e.id).toBe(716926129);
  });

  test('the helper name shows in events', () => {
    expect(events.filter((e) => e.orig.dport === 2121).every((e) => e.helper === 'ftp')).toBe(true);
  });
});

describe('hand-written lines (formats this kernel cannot produce)', () => {
  const entries = fixture('conntrack-synthetic.txt').map(parseConntrackLine);

  test('[OFFLOAD] and [HW_OFFLOAD]', () => {
    const off = entries.find((e) => e.id === 1)!;
    expect(off).toMatchObject({ offload: true, hwOffload: false, assured: false, flags: ['OFFLOAD'] });
    expect(off.reply.bytes).toBe(9000);
    const hw = entries.find((e) => e.id === 2)!;
    expect(hw).toMatchObject({ offload: false, hwOffload: true, flags: ['HW_OFFLOAD'] });
    expect(hw.orig.packets).toBeUndefined();
  });

  test('secmark, secctx, zone', () => {
    const e = entries.find((x) => x.id === 3)!;
    expect(e).toMatchObject({ secmark: 12, secctx: 'system_u:object_r:ssh_packet_t:s0', zone: 5, mark: 3,
      state: 'CLOSE' });
  });

  test('start and stop of a dead entry, day padded with a blank', () => {
    const e = entries.find((x) => x.id === 4)!;
    expect(e.startText).toBe('Sun Nov  2 05:04:03 2025');
    expect(e.start?.toISOString()).toBe('2025-11-02T05:04:03.000Z');
    expect(e.stop?.toISOString()).toBe('2025-11-03T05:04:03.000Z');
    expect(e.deltaTime).toBe(86400);
    expect(e.timeout).toBe(0);
  });

  test('bare `labels` (no named bit) is an empty list', () => {
    expect(entries.find((x) => x.id === 5)!.labels).toEqual([]);
  });

  test('unknown tokens are kept', () => {
    const e = entries.find((x) => x.id === 6)!;
    expect(e.extra).toEqual({ future: 'yes' });
    expect(e.unknown).toEqual(['SOMETHING']);
    expect(e.use).toBe(1);
  });
});

describe('parser errors and summaries', () => {
  test('lines that are not entries throw', () => {
    expect(() => parseConntrackLine('')).toThrow(SyntaxError);
    expect(() => parseConntrackLine('conntrack v1.4.7 (conntrack-tools): 3 flow entries have been shown.')).toThrow(
      SyntaxError,
    );
    expect(() => parseConntrackLine('tcp      6 10 ESTABLISHED src=1.1.1.1 dst=2.2.2.2 sport=1 dport=2')).toThrow(
      /reply tuple/,
    );
    expect(() => parseConntrackLine('tcp 6 1 src=1.1.1.1 dst=2.2.2.2 sport=x dport=2 src=2.2.2.2 dst=1.1.1.1')).toThrow(
      /not a number/,
    );
  });

  test('parseConntrackOutput collects what does not parse', () => {
    const r = parseConntrackOutput('udp 17 30 src=1.1.1.1 dst=2.2.2.2 src=2.2.2.2 dst=1.1.1.1\n\nnonsense\n');
    expect(r.entries).toHaveLength(1);
    expect(r.rejected).toEqual(['nonsense']);
  });

  test('stderr summary', () => {
    expect(parseSummaryCount('conntrack v1.4.7 (conntrack-tools): 24 flow entries have been shown.\n')).toBe(24);
    expect(parseSummaryCount('conntrack v1.4.7 (conntrack-tools): 1 flow entries have been created.\n')).toBe(1);
    expect(parseSummaryCount('')).toBeUndefined();
  });
});

describe('buildEntryArgs', () => {
  test('tcp defaults: ESTABLISHED, 120 s', () => {
    expect(buildEntryArgs({ proto: 'tcp', src: '127.0.0.1', dst: '127.0.0.2', sport: 1, dport: 2 })).toEqual([
      '-p',
      'tcp',
      '-s',
      '127.0.0.1',
      '-d',
      '127.0.0.2',
      '--orig-port-src',
      '1',
      '--orig-port-dst',
      '2',
      '--state',
      'ESTABLISHED',
      '-t',
      '120',
    ]); // prettier-ignore
  });

  test('every option', () => {
    expect(
      buildEntryArgs({
        proto: 'udp',
        src: '::1',
        dst: '::2',
        replySrc: '::3',
        replyDst: '::1',
        sport: 1,
        dport: 2,
        replySport: 3,
        replyDport: 1,
        timeout: 5,
        status: ['ASSURED', 'SEEN_REPLY'],
        mark: 0xffffffff,
        origZone: 4,
        labels: ['a', 'b'],
        dnat: '[::9]:99',
      }),
    ).toEqual([
      '-p',
      'udp',
      '-s',
      '::1',
      '-d',
      '::2',
      '-r',
      '::3',
      '-q',
      '::1',
      '--orig-port-src',
      '1',
      '--orig-port-dst',
      '2',
      '--reply-port-src',
      '3',
      '--reply-port-dst',
      '1',
      '-t',
      '5',
      '-u',
      'ASSURED,SEEN_REPLY',
      '-m',
      '4294967295',
      '--orig-zone',
      '4',
      '--label-add',
      'a',
      '--label-add',
      'b',
      '--dst-nat',
      '[::9]:99',
    ]); // prettier-ignore
  });

  test('icmp / icmpv6 / gre / sctp / dccp compulsory options', () => {
    expect(buildEntryArgs({ proto: 'icmp', src: '1.1.1.1', dst: '2.2.2.2', icmpId: 7 })).toContain('--icmp-id');
    expect(buildEntryArgs({ proto: 'icmpv6', src: '::1', dst: '::2' }).join(' ')).toContain(
      '--icmpv6-type 128 --icmpv6-code 0',
    );
    expect(buildEntryArgs({ proto: 'gre', src: '1.1.1.1', dst: '2.2.2.2' }).join(' ')).toContain(
      '--srckey 1 --dstkey 2',
    );
    expect(buildEntryArgs({ proto: 132, src: '1.1.1.1', dst: '2.2.2.2' }).join(' ')).toBe(
      '-p sctp -s 1.1.1.1 -d 2.2.2.2 --state ESTABLISHED --orig-vtag 1 --reply-vtag 2 -t 120',
    );
    expect(buildEntryArgs({ proto: 'dccp', src: '1.1.1.1', dst: '2.2.2.2' }).join(' ')).toContain(
      '--state OPEN --role client',
    );
    expect(buildEntryArgs({ proto: 99, src: '1.1.1.1', dst: '2.2.2.2' }).join(' ')).toBe(
      '-p 99 -s 1.1.1.1 -d 2.2.2.2 -t 120',
    );
  });

  test('refuses what conntrack would refuse', () => {
    expect(() => buildEntryArgs({ proto: 'tcp', sport: 1 })).toThrow(TypeError);
    expect(() => buildEntryArgs({ proto: 'tcp', src: '1.1.1.1', dst: '2.2.2.2', dport: 65536 })).toThrow(RangeError);
    expect(() => buildEntryArgs({ proto: 'udp', src: '1.1.1.1', dst: '2.2.2.2', zone: -1 })).toThrow(RangeError);
  });

  test('buildLoadFile: one command per line', () => {
    const text = buildLoadFile(
      [
        { proto: 'udp', src: '1.1.1.1', dst: '2.2.2.2', sport: 1, dport: 2 },
        { proto: 'udp', src: '1.1.1.1', dst: '2.2.2.2', sport: 1, dport: 3 },
      ],
      'add',
    );
    expect(text.split('\n')).toEqual([
      '-A -p udp -s 1.1.1.1 -d 2.2.2.2 --orig-port-src 1 --orig-port-dst 2 -t 120',
      '-A -p udp -s 1.1.1.1 -d 2.2.2.2 --orig-port-src 1 --orig-port-dst 3 -t 120',
      '',
    ]);
  });
});

describe('netns names', () => {
  test('pid and suffix are read back', () => {
    expect(parseNetnsName('nfct-test-12345-0a1b2c')).toEqual({ prefix: 'nfct-test', pid: 12345, suffix: '0a1b2c' });
    expect(parseNetnsName('nfct-ct-events-7-ffffff')).toEqual({ prefix: 'nfct-ct-events', pid: 7, suffix: 'ffffff' });
    expect(NETNS_NAME_RE.test('nfct-test-12345')).toBe(false);
    expect(parseNetnsName('docker-1-abcdef')).toBeNull();
  });
});
