/**
 * formatXml() on fields this kernel cannot give a test entry: a security mark and context
 * (they need an LSM that labels packets; this machine has none) and a state number beyond the
 * names (no kernel has one yet), and labels out of bit order (a Flow made by hand; the decoder's
 * are ascending). test/conntrack/text.test.ts compares every other element with
 * `conntrack -L -o xml`; here each case adds one field to an entry whose line has the order
 * shown there (mark, then labels, secmark, secctx, zone, use, id).
 */
import { describe, expect, test } from 'vitest';

import { Status } from '../../lib/conntrack/status.js';
import { formatXml } from '../../lib/conntrack/text-xml.js';
import { formatFlow } from '../../lib/conntrack/text.js';
import type { TcpFlow } from '../../lib/conntrack/types.js';

const base: TcpFlow = {
  family: 'ipv4',
  protonum: 6,
  protocol: 'tcp',
  original: { src: '10.0.0.1', dst: '10.0.0.2', protonum: 6, srcPort: 40000, dstPort: 80 },
  reply: { src: '10.0.0.2', dst: '10.0.0.1', protonum: 6, srcPort: 80, dstPort: 40000 },
  tcp: { state: 'ESTABLISHED', stateNum: 3, wscaleOriginal: 0, wscaleReply: 0, flagsOriginal: 0, flagsReply: 0,
    maskOriginal: 0, maskReply: 0 },
  status: new Status(0x0e), // SEEN_REPLY, ASSURED, CONFIRMED
  timeout: 100,
  mark: 5,
  zone: 3,
  use: 1,
  id: 9,
};

const META = '<meta direction="independent"><state>ESTABLISHED</state><timeout>100</timeout><mark>5</mark>'
  + '<zone>3</zone><use>1</use><id>9</id><assured/></meta>';

describe('formatXml()', () => {
  test('the base entry', () => {
    expect(formatXml(base)).toContain(META);
  });

  test('an entry without an id (an event of a kernel that sends none): no <id> element', () => {
    expect(formatXml({ ...base, id: undefined })).toContain(META.replace('<id>9</id>', ''));
  });

  test('a security mark and context, after the mark and before the zone', () => {
    expect(formatXml({ ...base, secmark: 42 })).toContain(META.replace('<zone>', '<secmark>42</secmark><zone>'));
    expect(formatXml({ ...base, secctx: 'system_u:object_r:unlabeled_t:s0' })).toContain(
      META.replace('<zone>', '<secctx>system_u:object_r:unlabeled_t:s0</secctx><zone>'),
    );
  });

  test('a state number beyond the names: NONE', () => {
    expect(formatXml({ ...base, tcp: { ...base.tcp!, stateNum: 99 } })).toContain(
      META.replace('ESTABLISHED', 'NONE'),
    );
  });

  test('labels given out of order: in bit order, as conntrack walks the bitmask; unnamed bits left out', () => {
    const map = { 1: 'one', 5: 'five', 40: 'forty' };
    const flow = { ...base, labels: [40, 5, 2, 1] };
    expect(formatXml(flow, { labels: map })).toContain(
      '<mark>5</mark><labels><label>one</label><label>five</label><label>forty</label></labels>',
    );
    expect(formatFlow(flow, { labels: map })).toMatch(/ labels=one,five,forty$/);
    expect(flow.labels).toEqual([40, 5, 2, 1]);
  });
});
