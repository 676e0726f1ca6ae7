// flowKey(): the original tuple and zone, as text; one per entry, whatever the entry's id.
import { describe, expect, test } from 'vitest';

import { type Flow, flowKey } from '../../lib/index.js';

const base = { family: 'ipv4', status: { bits: 0 } } as const;
const flow = (f: object): Flow => ({ ...base, ...f }) as unknown as Flow;

describe('flowKey()', () => {
  test('ports, ICMP, GRE and other protocols, IPv6 in brackets', () => {
    expect(
      flowKey(
        flow({ protocol: 'tcp', protonum: 6,
          original: { src: '10.0.0.1', dst: '10.0.0.2', srcPort: 40000, dstPort: 80, protonum: 6 } }),
      ),
    ).toBe(
      'tcp 10.0.0.1:40000 -> 10.0.0.2:80',
    );
    expect(
      flowKey(
        flow({ family: 'ipv6', protocol: 'udp', protonum: 17,
          original: { src: 'fd00::1', dst: 'fd00::2', srcPort: 5353, dstPort: 53, protonum: 17 } }),
      ),
    ).toBe(
      'udp [fd00::1]:5353 -> [fd00::2]:53',
    );
    expect(
      flowKey(
        flow({ protocol: 'icmp', protonum: 1,
          original: { src: '10.0.0.1', dst: '10.0.0.2', type: 8, code: 0, id: 42, protonum: 1 } }),
      ),
    ).toBe(
      'icmp 10.0.0.1 -> 10.0.0.2 type 8 code 0 id 42',
    );
    expect(
      flowKey(
        flow({ protocol: 'gre', protonum: 47,
          original: { src: '10.0.0.1', dst: '10.0.0.2', srcKey: 1, dstKey: 2, protonum: 47 } }),
      ),
    ).toBe('gre 10.0.0.1 -> 10.0.0.2 key 1 2');
    expect(
      flowKey(
        flow({ protocol: 'unknown', protonum: 99, original: { src: '10.0.0.1', dst: '10.0.0.2', protonum: 99 } }),
      ),
    ).toBe('proto 99 10.0.0.1 -> 10.0.0.2');
  });

  test('the zone of the original direction, when not 0; the id plays no part', () => {
    const t = { src: '10.0.0.1', dst: '10.0.0.2', srcPort: 1, dstPort: 2, protonum: 17 };
    const a = flow({ protocol: 'udp', protonum: 17, id: 7, zone: 5, original: t });
    const b = flow({ protocol: 'udp', protonum: 17, id: 7, original: t });
    const c = flow({ protocol: 'udp', protonum: 17, id: 7, zone: 0, original: t });
    const d = flow({ protocol: 'udp', protonum: 17, id: 8, zone: 5, original: { ...t, zone: 3 } });
    expect(flowKey(a)).toBe('udp 10.0.0.1:1 -> 10.0.0.2:2 zone 5');
    expect(flowKey(b)).toBe('udp 10.0.0.1:1 -> 10.0.0.2:2');
    expect(flowKey(c)).toBe(flowKey(b));
    expect(flowKey(d)).toBe('udp 10.0.0.1:1 -> 10.0.0.2:2 zone 3');
    // Same id, different entries: different keys.
    expect(new Set([a, b, d].map(flowKey)).size).toBe(3);
  });

  test('a value that is not a flow is a TypeError', () => {
    expect(() => flowKey(null as never)).toThrow(
      /^flowKey\(\) flow must be a Flow \(with an original tuple\), got null$/,
    );
    expect(() => flowKey('tcp' as never)).toThrow(
      /^flowKey\(\) flow must be a Flow \(with an original tuple\), got "tcp"$/,
    );
    expect(() => flowKey({ protocol: 'tcp' } as never)).toThrow(/flowKey\(\) flow must be a Flow/);
    expect(() => flowKey({ protocol: 'tcp', original: null } as never)).toThrow(
      /^flowKey\(\) flow must be a Flow \(with an original tuple\), got an object$/,
    );
    // Not an object, though it carries an original tuple.
    const fn = Object.assign(() => undefined, { protocol: 'tcp', original: { src: '10.0.0.1', dst: '10.0.0.2' } });
    expect(() => flowKey(fn as never)).toThrow(/^flowKey\(\) flow must be a Flow \(with an original tuple\), got /);
  });
});
