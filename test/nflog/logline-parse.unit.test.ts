// parseLogLine on the edges of each field: where a head (printk level, syslog header, time
// stamp) may and may not be, the names the kernel writes for flags and protocols, and values that
// look like numbers but are not whole ones (kept in `extra`, never read in part).
import { describe, expect, test } from 'vitest';

import { parseLogLine } from '../../lib/nflog/logline-parse.js';

const BODY = 'IN=eth0 OUT= SRC=10.0.0.1 DST=10.0.0.2 LEN=40 TOS=0x00 PREC=0x00 TTL=64 ID=1 PROTO=47 ';

describe('heads before the message', () => {
  test('a printk level after the syslog header is read, with the kernel time after it', () => {
    const r = parseLogLine(`Jun 13 19:58:21 node1 kernel: <6>[ 12.500000] fw: ${BODY}`);
    expect([r.level, r.kernelTime, r.prefix, r.in]).toEqual([6, 12.5, 'fw: ', 'eth0']);
  });

  test('a level before the syslog header wins; a second one after it is text of the prefix', () => {
    const r = parseLogLine(`<4>Jun 13 19:58:21 node1 kernel: <6>fw: ${BODY}`);
    expect([r.level, r.prefix]).toEqual([4, '<6>fw: ']);
  });

  test('the level keeps only its priority: <14> (facility user, info) is 6, <131> is 3', () => {
    expect(parseLogLine(`<14>${BODY}`).level).toBe(6);
    expect(parseLogLine(`<131>${BODY}`).level).toBe(3);
    // Four digits are no printk level: the text stays in the prefix.
    const four = parseLogLine(`<1311>${BODY}`);
    expect([four.level, four.prefix]).toEqual([undefined, '<1311>']);
  });

  test('a level in the middle of the text is no level', () => {
    const r = parseLogLine(`fw <4> ${BODY}`);
    expect([r.level, r.prefix]).toEqual([undefined, 'fw <4> ']);
  });

  test('journalctl -o short-monotonic: the host and the tag after the time, and the kernel time again after them', () => {
    const r = parseLogLine(`[ 1234.567890] node1 kernel: [ 1234.567890] fw: ${BODY}`);
    expect(r.syslog).toEqual({ time: '1234.567890', host: 'node1', tag: 'kernel' });
    expect([r.kernelTime, r.prefix]).toEqual([1234.56789, 'fw: ']);
    const pid = parseLogLine(`[ 1234.567890] node1 kernel[7]: fw: ${BODY}`);
    expect([pid.syslog?.pid, pid.prefix]).toEqual([7, 'fw: ']);
    const pid4 = parseLogLine(`[ 1234.567890] node1 kernel[4123]: fw: ${BODY}`);
    expect([pid4.syslog?.pid, pid4.prefix]).toEqual([4123, 'fw: ']);
  });

  test('syslog headers with a process id of several digits, and ISO times with each form of zone', () => {
    const bsd = parseLogLine(`Dec  7 02:19:25 node1 kernel[4123]: fw: ${BODY}`);
    expect([bsd.syslog, bsd.prefix]).toEqual([{ time: 'Dec  7 02:19:25', host: 'node1', tag: 'kernel', pid: 4123 },
      'fw: ']);
    // Without one, no pid at all (not NaN, not undefined as a key).
    const none = parseLogLine(`Dec 17 02:19:25 node1 kernel: fw: ${BODY}`);
    expect(Object.entries(none.syslog!)).toEqual([['time', 'Dec 17 02:19:25'], ['host', 'node1'], ['tag', 'kernel']]);
    for (const time of ['2026-12-07T02:19:25.123456+01:00', '2026-12-07T02:19:25+0100', '2026-12-07 02:19:25,5Z']) {
      const iso = parseLogLine(`${time} node1 kernel[4123]: fw: ${BODY}`);
      expect([iso.syslog, iso.prefix]).toEqual([{ time, host: 'node1', tag: 'kernel', pid: 4123 }, 'fw: ']);
    }
  });

  test('dmesg times: -T with a one-digit day, and either time without the space after it', () => {
    const t = parseLogLine(`[Mon Dec  7 02:19:25 2026] fw: ${BODY}`);
    expect([t.dmesgTime, t.prefix]).toEqual(['Mon Dec  7 02:19:25 2026', 'fw: ']);
    const tight = parseLogLine(`[Mon Dec 17 02:19:25 2026]fw: ${BODY}`);
    expect([tight.dmesgTime, tight.prefix]).toEqual(['Mon Dec 17 02:19:25 2026', 'fw: ']);
    const k = parseLogLine(`[    5.100000]fw: ${BODY}`);
    expect([k.kernelTime, k.prefix]).toEqual([5.1, 'fw: ']);
  });

  test('a time or a host and tag inside the prefix are the prefix', () => {
    for (const prefix of ['fw [    5.100000] ', 'fw [Mon Dec  7 02:19:25 2026] ']) {
      const r = parseLogLine(`${prefix}${BODY}`);
      expect([r.kernelTime, r.dmesgTime, r.prefix]).toEqual([undefined, undefined, prefix]);
    }
    const r = parseLogLine(`[    5.100000] my fw kernel: ${BODY}`);
    expect([r.syslog, r.kernelTime, r.prefix]).toEqual([undefined, 5.1, 'my fw kernel: ']);
  });

  test('a prefix that looks like a syslog header, after the kernel time, is the prefix', () => {
    const r = parseLogLine(`[    5.100000] 2026-12-07 02:19:25 gw fw: ${BODY}`);
    expect([r.syslog, r.kernelTime, r.prefix]).toEqual([undefined, 5.1, '2026-12-07 02:19:25 gw fw: ']);
  });
});

describe('names the kernel writes', () => {
  test('every TCP flag, in the order written', () => {
    const flags = ['AE', 'CWR', 'ECE', 'URG', 'ACK', 'PSH', 'RST', 'SYN', 'FIN'];
    const r = parseLogLine(
      `IN=eth0 OUT= SRC=10.0.0.1 DST=10.0.0.2 LEN=40 TOS=0x00 PREC=0x00 TTL=64 ID=1 PROTO=TCP SPT=1 DPT=2 WINDOW=3 RES=0x00 ${
        flags.join(' ')
      } URGP=0 `,
    );
    expect(r.tcp?.flags).toEqual(flags);
    expect(r.unparsed).toEqual([]);
  });

  test('every IP flag, before the protocol; after it the same words are not flags', () => {
    const r = parseLogLine(
      'IN=eth0 OUT= SRC=10.0.0.1 DST=10.0.0.2 LEN=40 TOS=0x00 PREC=0x00 TTL=64 ID=1 CE DF MF FRAG:2 PROTO=47 DF ',
    );
    expect(r.ipFlags).toEqual(['CE', 'DF', 'MF']);
    expect(r.unparsed).toEqual(['DF']);
  });

  const protocols = [['TCP', 6], ['UDP', 17], ['UDPLITE', 136], ['ICMP', 1], ['ICMPv6', 58], ['AH', 51], ['ESP', 50], [
    '47',
    47,
  ], ['SCTP', undefined], ['constructor', undefined]] as const;
  test.each(protocols)('PROTO=%s: protocol number %s', (name, number) => {
    const r = parseLogLine(`IN=eth0 OUT= SRC=10.0.0.1 DST=10.0.0.2 LEN=40 TTL=64 ID=1 PROTO=${name} `);
    expect([r.proto, r.protocol]).toEqual([name, number]);
  });
});

describe('values that are not whole numbers of their kind are kept as text', () => {
  test.each([
    ['MARK', '0x1f', 31],
    ['MARK', 'zz0x1f', undefined],
    ['MARK', '0x1fzz', undefined],
    ['MARK', '0x123456789', undefined],
    ['MACPROTO', '0800', 0x800],
    ['MACPROTO', 'zz0800', undefined],
    ['MACPROTO', '0800zz', undefined],
    ['UID', '1000', 1000],
    ['UID', 'x1000', undefined],
    ['UID', '1000x', undefined],
    ['UID', '12345678901', undefined],
  ] as const)('%s=%s', (key, value, expected) => {
    const r = parseLogLine(`${BODY}${key}=${value} `);
    const property = { MARK: 'mark', MACPROTO: 'macProto', UID: 'uid' }[key];
    expect((r as unknown as Record<string, unknown>)[property]).toBe(expected);
    expect(r.extra).toEqual(expected === undefined ? [{ key, value }] : []);
  });
});

describe('the quoted packet of an ICMP error', () => {
  test('one quote, one level: brackets inside it or after it are text, not packets', () => {
    const r = parseLogLine(
      'IN=eth0 OUT= SRC=10.0.0.1 DST=10.0.0.2 LEN=56 TOS=0x00 PREC=0x00 TTL=64 ID=1 PROTO=ICMP TYPE=3 CODE=4 '
        + '[SRC=10.0.0.2 DST=10.0.0.1 LEN=28 TOS=0x00 PREC=0x00 TTL=64 ID=2 PROTO=UDP SPT=1 DPT=2 LEN=8 '
        + '[SRC=9.9.9.9 DST=8.8.8.8 ] ] [SRC=7.7.7.7 DST=6.6.6.6 ] MTU=1400 ',
    );
    expect(r.inner).toEqual({ ipFlags: [], src: '10.0.0.2', dst: '10.0.0.1', len: 28, tos: 0, prec: 0, ttl: 64, id: 2,
      proto: 'UDP', protocol: 17, spt: 1, dpt: 2, udpLen: 8 });
    expect([r.src, r.icmp]).toEqual(['10.0.0.1', { type: 3, code: 4, mtu: 1400 }]);
    expect(r.extra).toEqual([{ key: '[SRC', value: '9.9.9.9' }, { key: 'DST', value: '8.8.8.8' }, { key: '[SRC',
      value: '7.7.7.7' }, { key: 'DST', value: '6.6.6.6' }]);
    expect(r.unparsed).toEqual([']', ']']);
  });
});

describe('INCOMPLETE [n bytes]', () => {
  const TCP = 'IN=eth0 OUT= SRC=10.0.0.1 DST=10.0.0.2 LEN=40 TOS=0x00 PREC=0x00 TTL=64 ID=1 PROTO=TCP ';

  test('as the kernel writes it, at the end of the text or before a space', () => {
    for (const tail of ['INCOMPLETE [4 bytes] ', 'INCOMPLETE [4 bytes]']) {
      const r = parseLogLine(`${TCP}${tail}`);
      expect([r.incomplete, r.unparsed]).toEqual([4, []]);
    }
  });

  test('alone after an IPv6 fragment header with no protocol yet: more fragments follow; anywhere else, text', () => {
    const v6 = 'IN=eth0 OUT= SRC=fd00::1 DST=fd00::2 LEN=1280 TC=0 HOPLIMIT=64 FLOWLBL=0 ';
    const frag = parseLogLine(`${v6}FRAG:1232 INCOMPLETE ID:00000001 `);
    expect([frag.fragOffset, frag.fragMore]).toEqual([1232, true]);
    for (const text of [`${v6}INCOMPLETE `, `${TCP.replace('PROTO=TCP ', '')}INCOMPLETE `]) {
      const r = parseLogLine(text);
      expect([r.fragMore, r.unparsed]).toEqual([undefined, ['INCOMPLETE']]);
    }
  });

  test.each(['INCOMPLETE [4 foo ', 'INCOMPLETE x[4 bytes] ', 'INCOMPLETE [4x bytes] '])(
    'any other words after it are not read as a count: %s',
    (tail) => {
      const r = parseLogLine(`${TCP}${tail}`);
      expect([r.incomplete, r.unparsed]).toEqual([undefined, tail.trim().split(' ')]);
    },
  );
});

describe('OPT groups', () => {
  const V6 = 'IN=eth0 OUT= SRC=fd00::1 DST=fd00::2 LEN=1280 TC=0 HOPLIMIT=64 FLOWLBL=0 ';
  const V4 = 'IN=eth0 OUT= SRC=10.0.0.1 DST=10.0.0.2 LEN=40 TOS=0x00 PREC=0x00 TTL=64 ID=1 ';

  test("the kernel's line for an IPv6 AH header cut short: the group's words, and the count", () => {
    const r = parseLogLine(`${V6.replace('LEN=1280', 'LEN=46')}OPT ( AH INCOMPLETE [6 bytes] )`);
    expect([r.ipv6Options, r.incomplete, r.unparsed]).toEqual([['AH INCOMPLETE [6 bytes]'], 6, []]);
  });

  test('a count in the group after another word than INCOMPLETE is not the count', () => {
    const r = parseLogLine(`${V6.replace('LEN=1280', 'LEN=46')}OPT ( AH [6 bytes] )`);
    expect([r.ipv6Options, r.incomplete, r.unparsed]).toEqual([['AH [6 bytes]'], undefined, ['[6', 'bytes]']]);
  });

  test("the kernel's line for TCP options cut short: truncated, no options", () => {
    const r = parseLogLine(
      `${V4}PROTO=TCP SPT=40000 DPT=9 SEQ=1 ACK=0 WINDOW=512 RES=0x00 SYN URGP=0 OPT (TRUNCATED)`,
    );
    expect([r.truncated, r.tcp, r.ipOptions]).toEqual([true, { flags: ['SYN'], seq: 1, ack: 0, window: 512, res: 0,
      urgp: 0 }, undefined]);
  });

  test('a group cut by the end of a quote: the quote ends there, what follows is the outer packet', () => {
    const r = parseLogLine(
      `${V6}PROTO=ICMPv6 TYPE=2 CODE=0 MTU=1280 [SRC=fd00::2 DST=fd00::3 LEN=1240 TC=0 HOPLIMIT=63 FLOWLBL=0 `
        + 'OPT ( TRUNCATED] MARK=0x5 ',
    );
    expect([r.inner?.truncated, r.inner?.ipv6Options, r.mark, r.icmp?.mtu]).toEqual([true, ['TRUNCATED'], 5, 1280]);
  });

  test('IPv4 options only in parentheses that make the whole word', () => {
    expect(parseLogLine(`${V4}OPT (0101) PROTO=47 `).ipOptions).toBe('0101');
    for (const word of ['x(0101)', '(0101)x']) {
      const r = parseLogLine(`${V4}OPT ${word} PROTO=47 `);
      expect([r.ipOptions, r.unparsed, r.protocol]).toEqual([undefined, ['OPT', word], 47]);
    }
  });
});

describe('words the kernel does not write there, kept as text', () => {
  const V4 = 'IN=eth0 OUT= SRC=10.0.0.1 DST=10.0.0.2 LEN=40 TOS=0x00 PREC=0x00 TTL=64 ID=1 ';

  test('a field before PROTO= that belongs after it, or an unknown one in hex: extra', () => {
    const r = parseLogLine(`${V4}SPT=5 FOO=0x1 PROTO=47 `);
    expect([r.spt, r.spi, r.extra]).toEqual([undefined, undefined, [{ key: 'SPT', value: '5' }, { key: 'FOO',
      value: '0x1' }]]);
    // SPI= before PROTO= is an IPv6 AH or ESP header's, in its OPT group
    expect(parseLogLine(`${V4}SPI=0x10 PROTO=47 `).spi).toBe(16);
  });

  test('ID= after a protocol that has none, a value that is no number, an empty key: text', () => {
    const r = parseLogLine(`${V4.replace('LEN=40', 'LEN=4x')}PROTO=47 ID=5 =7 `);
    expect([r.len, r.extra, r.unparsed]).toEqual([undefined, [{ key: 'LEN', value: '4x' }, { key: 'ID', value: '5' }], [
      '=7',
    ]]);
  });

  test('a protocol name this parser does not know: its text, no number', () => {
    const r = parseLogLine(`${V4}PROTO=FOO `);
    expect(r.proto).toBe('FOO');
    expect('protocol' in r).toBe(false);
  });

  test('FRAG: and ID: with no number: text; FRAG:TRUNCATED: a fragment header cut short', () => {
    const r = parseLogLine(`${V4}FRAG:abc ID:zz PROTO=47 `);
    expect(['fragOffset' in r, 'fragId' in r, r.unparsed]).toEqual([false, false, ['FRAG:abc', 'ID:zz']]);
    const cut = parseLogLine('IN=eth0 OUT= SRC=fd00::1 DST=fd00::2 LEN=1280 TC=0 HOPLIMIT=64 FLOWLBL=0 FRAG:TRUNCATED');
    expect([cut.truncated, cut.unparsed]).toEqual([true, []]);
  });

  test('a second PROTO= decides what follows: no TCP flags or options after PROTO=UDP', () => {
    const r = parseLogLine(`${V4}PROTO=TCP SPT=1 DPT=2 PROTO=UDP SYN OPT (0101) `);
    expect([r.proto, r.tcp?.flags, r.unparsed, r.ipOptions, r.tcp?.options]).toEqual(['UDP', [], ['SYN'], '0101',
      undefined]);
  });
});
