/**
 * formatExpectation() and formatExpectationXml() on what this kernel never reports for an
 * expectation made through ctnetlink, so that test/cli/expect.test.ts and
 * test/conntrack/text.test.ts (nfct and the library against conntrack) cannot show it: a zone
 * (ctnetlink leaves the expectation's own zone 0, whatever the master's), the USERSPACE flag
 * (ctnetlink clears it; a userspace helper's expectations carry it), a GRE tuple (made by the
 * PPTP helper; its keys are written as text.test.ts shows conntrack writes a GRE flow's) and
 * the UPDATE tag. The base is the IPv6 expectation of text.test.ts, whose
 * line there equals conntrack's: each case adds one field where libnetfilter_conntrack's
 * printers put it (text: zone before the flags; XML: `<zone>` after `<class>`, the flags last).
 */
import { describe, expect, test } from 'vitest';

import type { Expectation } from '../../lib/conntrack/expect.js';
import { formatExpectation, formatExpectationCpuStats, formatExpectationXml } from '../../lib/conntrack/text-expect.js';

const base: Expectation = {
  family: 'ipv6',
  protocol: 'tcp',
  protonum: 6,
  id: 1,
  master: { src: '2001:db8::21', dst: '2001:db8::22', protonum: 6, srcPort: 40001, dstPort: 21 },
  tuple: { src: '2001:db8::22', dst: '2001:db8::21', protonum: 6, srcPort: 0, dstPort: 50001 },
  mask: { src: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', dst: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', protonum: 6,
    srcPort: 0, dstPort: 65535 },
  timeout: 300,
  flags: ['PERMANENT', 'INACTIVE'],
  flagBits: 3,
  helper: 'ftp',
  class: 0,
};

const LINE = '300 proto=6 src=2001:db8::22 dst=2001:db8::21 sport=0 dport=50001 '
  + 'mask-src=ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff mask-dst=ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff sport=0 '
  + 'dport=65535 master-src=2001:db8::21 master-dst=2001:db8::22 sport=40001 dport=21 PERMANENT,INACTIVE class=0 '
  + 'helper=ftp';

describe('text', () => {
  test('the base line', () => {
    expect(formatExpectation(base)).toBe(LINE);
  });

  test('a zone, before the flags', () => {
    expect(formatExpectation({ ...base, zone: 7 })).toBe(LINE.replace(' PERMANENT', ' zone=7 PERMANENT'));
  });

  test('USERSPACE after the others', () => {
    expect(formatExpectation({ ...base, flagBits: 7 })).toBe(LINE.replace('INACTIVE', 'INACTIVE,USERSPACE'));
  });

  test('no flags, class or helper: no blank at the end', () => {
    const bare = { ...base, flagBits: 0, class: undefined, helper: undefined };
    expect(formatExpectation(bare)).toBe(LINE.replace(' PERMANENT,INACTIVE class=0 helper=ftp', ''));
    expect(formatExpectation({ ...bare, zone: 3 })).toBe(
      LINE.replace(' PERMANENT,INACTIVE class=0 helper=ftp', ' zone=3'),
    );
  });

  test.each([['new', '    [NEW] '], ['update', ' [UPDATE] '], ['destroy', '[DESTROY] ']] as const)(
    'the %s tag, nine columns and a blank',
    (type, tag) => {
      expect(formatExpectation(base, { type })).toBe(tag + LINE);
    },
  );

  test('GRE: the keys in hex', () => {
    const keys = ({ src, dst }: { src: string; dst: string }, srcKey: number, dstKey: number) => ({ src, dst,
      protonum: 47, srcKey, dstKey });
    const gre: Expectation = { ...base, protonum: 47, master: keys(base.master, 0x10, 0x20),
      tuple: keys(base.tuple, 0x20, 0x10), mask: keys(base.mask, 0, 0xffffffff) };
    const line = formatExpectation(gre);
    expect(line).toContain(' proto=47 src=2001:db8::22 dst=2001:db8::21 srckey=0x20 dstkey=0x10 mask-src=');
    expect(line).toContain(
      ' srckey=0x0 dstkey=0xffffffff master-src=2001:db8::21 master-dst=2001:db8::22 srckey=0x10 dstkey=0x20 ',
    );
    const xml = formatExpectationXml(gre);
    expect(xml).toContain(
      '<layer4 protonum="47" protoname="gre"><expected><srckey>0x20</srckey><dstkey>0x10</dstkey></expected>'
        + '<mask><srckey>0x0</srckey><dstkey>0xffffffff</dstkey></mask>'
        + '<master><srckey>0x10</srckey><dstkey>0x20</dstkey></master></layer4>',
    );
  });

  test('a protocol with neither ports nor keys: the layer 4 elements empty, as in the text line', () => {
    const bare = ({ src, dst }: { src: string; dst: string }) => ({ src, dst, protonum: 133 });
    const other: Expectation = { ...base, protonum: 133, master: bare(base.master), tuple: bare(base.tuple),
      mask: bare(base.mask) };
    expect(formatExpectationXml(other)).toContain(
      '<layer4 protonum="133" protoname="unknown"><expected></expected><mask></mask><master></master></layer4>',
    );
    expect(formatExpectation(other)).toBe(
      '300 proto=133 src=2001:db8::22 dst=2001:db8::21 mask-src=ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff '
        + 'mask-dst=ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff master-src=2001:db8::21 master-dst=2001:db8::22 '
        + 'PERMANENT,INACTIVE class=0 helper=ftp',
    );
  });
});

describe('fields the kernel left out', () => {
  const { timeout: _t, helper: _h, class: _c, ...bare } = base;
  test('no timeout, helper or class: neither written, in the line nor in XML', () => {
    expect(formatExpectation(bare)).toBe(LINE.replace(/^300 /, '').replace(' class=0 helper=ftp', ''));
    expect(formatExpectationXml(bare)).toMatch(/<meta><permanent\/><inactive\/><\/meta><\/flow>$/);
  });

  test('-S expect: a counter a row lacks is not written', () => {
    expect(formatExpectationCpuStats([{ cpu: 1, expect_create: 3 } as never])).toBe('cpu=1   \texpect_create=3 \n');
  });
});

describe('XML', () => {
  const META = '<meta><helper-name>ftp</helper-name><timeout>300</timeout><class>0</class><permanent/><inactive/>'
    + '</meta></flow>';

  test('the base: flags as empty elements, last', () => {
    expect(formatExpectationXml(base)).toMatch(new RegExp(`^<flow><layer3 protonum="10" protoname="ipv6">.*${META}$`));
  });

  test('a zone after the class, USERSPACE after the other flags', () => {
    expect(formatExpectationXml({ ...base, zone: 7, flagBits: 7 })).toContain(
      '<class>0</class><zone>7</zone><permanent/><inactive/><userspace/></meta></flow>',
    );
    expect(formatExpectationXml({ ...base, flagBits: 2 })).toContain('<class>0</class><inactive/></meta></flow>');
    expect(formatExpectationXml({ ...base, flagBits: 4 })).toContain('<class>0</class><userspace/></meta></flow>');
  });
});
