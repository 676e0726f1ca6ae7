/**
 * parseAddress / parseCidr (lib/core/address.ts): the bytes handed to native code, checked against
 * hand-computed values and against Node's own parser (net.SocketAddress, net.BlockList, which
 * use libuv's inet_pton) on addresses generated from known bytes. No kernel access.
 */
import { BlockList, SocketAddress } from 'node:net';
import { describe, expect, test } from 'vitest';

import { parseAddress, parseCidr } from '../../lib/core/address.js';
import { prng } from '../support/prng.js';

const AF_INET = 2;
const AF_INET6 = 10;

const hex = (b: Uint8Array | undefined): string | undefined => (b ? Buffer.from(b).toString('hex') : undefined);

/** The eight groups of 16 bytes, each as four hex digits. */
function fullForm(bytes: Uint8Array): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16).padStart(4, '0'));
  return groups.join(':');
}

/** The eight groups without leading zeros and without '::'. */
function bareForm(bytes: Uint8Array): string {
  return fullForm(bytes)
    .split(':')
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':');
}

/** The first six groups, then the last 32 bits dotted (::ffff:a.b.c.d style, uncompressed). */
function dottedTailForm(bytes: Uint8Array): string {
  return `${bareForm(bytes).split(':').slice(0, 6).join(':')}:${[...bytes.subarray(12)].join('.')}`;
}

describe('parseAddress: IPv4', () => {
  const cases: [string, string][] = [
    ['0.0.0.0', '00000000'],
    ['255.255.255.255', 'ffffffff'],
    ['10.0.0.1', '0a000001'],
    ['192.168.1.254', 'c0a801fe'],
    ['127.0.0.1', '7f000001'],
    ['1.2.3.4', '01020304'],
  ];
  test.each(cases)('%s', (text, bytes) => {
    const p = parseAddress(text);
    expect(p?.family).toBe(AF_INET);
    expect(p?.bytes).toBeInstanceOf(Buffer);
    expect(hex(p?.bytes)).toBe(bytes);
  });

  test('200 generated addresses round-trip to their bytes', () => {
    const rnd = prng(4);
    for (let n = 0; n < 200; n++) {
      const bytes = Uint8Array.from({ length: 4 }, () => Math.floor(rnd() * 256));
      const text = [...bytes].join('.');
      const p = parseAddress(text);
      expect(p?.family, text).toBe(AF_INET);
      expect(hex(p?.bytes), text).toBe(hex(bytes));
    }
  });
});

describe('parseAddress: IPv6', () => {
  const cases: [string, string][] = [
    ['::', '00000000000000000000000000000000'],
    ['::1', '00000000000000000000000000000001'],
    ['1::', '00010000000000000000000000000000'],
    ['2001:db8::1', '20010db8000000000000000000000001'],
    ['2001:0db8:0000:0000:0000:ff00:0042:8329', '20010db8000000000000ff0000428329'],
    ['2001:db8::ff00:42:8329', '20010db8000000000000ff0000428329'],
    ['2001:db8:0:0:0:ff00:42:8329', '20010db8000000000000ff0000428329'],
    ['ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'ffffffffffffffffffffffffffffffff'],
    ['FE80::ABCD', 'fe80000000000000000000000000abcd'],
    ['fe80::1:0:0:1', 'fe800000000000000001000000000001'],
    ['1:0:0:2::3', '00010000000000020000000000000003'],
    ['1:2:3:4:5:6:7::', '00010002000300040005000600070000'],
    ['::2:3:4:5:6:7:8', '00000002000300040005000600070008'],
    ['1:2:3:4:5:6:7:8', '00010002000300040005000600070008'],
    // embedded IPv4
    ['::ffff:1.2.3.4', '00000000000000000000ffff01020304'],
    ['::ffff:255.255.255.255', '00000000000000000000ffffffffffff'],
    ['::1.2.3.4', '00000000000000000000000001020304'],
    ['64:ff9b::192.0.2.33', '0064ff9b0000000000000000c0000221'],
    ['1:2:3:4:5:6:1.2.3.4', '00010002000300040005000601020304'],
    ['0:0:0:0:0:ffff:10.0.0.1', '00000000000000000000ffff0a000001'],
  ];
  test.each(cases)('%s', (text, bytes) => {
    const p = parseAddress(text);
    expect(p?.family).toBe(AF_INET6);
    expect(p?.bytes).toBeInstanceOf(Buffer);
    expect(hex(p?.bytes)).toBe(bytes);
  });

  test.each(cases)('%s agrees with net.BlockList', (text) => {
    // BlockList parses `text` itself; our bytes, written out in full, must be that address,
    // and the address one bit away must not be.
    const bytes = parseAddress(text)!.bytes;
    const list = new BlockList();
    list.addAddress(text, 'ipv6');
    expect(list.check(fullForm(bytes), 'ipv6')).toBe(true);
    const other = Buffer.from(bytes);
    other[15]! ^= 1;
    expect(list.check(fullForm(other), 'ipv6')).toBe(false);
  });

  test('500 generated addresses round-trip to their bytes in every textual form', () => {
    const rnd = prng(6);
    for (let n = 0; n < 500; n++) {
      // Groups are often zero, so that '::' runs of every length and position appear.
      const bytes = new Uint8Array(16);
      for (let g = 0; g < 8; g++) {
        const r = rnd();
        const value = r < 0.45 ? 0 : r < 0.55 ? Math.floor(rnd() * 16) : Math.floor(rnd() * 65536);
        bytes[g * 2] = value >>> 8;
        bytes[g * 2 + 1] = value & 0xff;
      }
      const canonical = new SocketAddress({ address: fullForm(bytes), family: 'ipv6' }).address;
      const forms = [fullForm(bytes), bareForm(bytes), canonical, canonical.toUpperCase(), dottedTailForm(bytes)];
      for (const text of forms) {
        const p = parseAddress(text);
        expect(p?.family, text).toBe(AF_INET6);
        expect(hex(p?.bytes), text).toBe(hex(bytes));
      }
    }
  });
});

describe('parseAddress: refusals', () => {
  const bad = [
    '',
    ' ',
    'localhost',
    ' 10.0.0.1',
    '10.0.0.1 ',
    '10.0.0',
    '10.0.0.0.1',
    '256.0.0.1',
    '10.0.0.-1',
    '010.0.0.1',
    '0x0a.0.0.1',
    '10.0.0.1/32',
    '10.0.0.1:80',
    // zone ids are not part of a conntrack address
    'fe80::1%eth0',
    'fe80::1%1',
    '::1%lo',
    // malformed IPv6
    ':::',
    '1::2::3',
    ':1::',
    '::1:',
    '12345::',
    'g::1',
    '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7',
    '::ffff:1.2.3.256',
    '::ffff:1.2.3',
    '[::1]',
    '::1/128',
  ];
  test.each(bad)('%j is not an address', (text) => {
    expect(parseAddress(text)).toBeUndefined();
  });
});

describe('parseCidr', () => {
  const good: [string, number, string, number][] = [
    ['10.0.0.0/8', AF_INET, '0a000000', 8],
    ['10.0.0.1', AF_INET, '0a000001', 32],
    ['0.0.0.0/0', AF_INET, '00000000', 0],
    ['192.168.1.0/24', AF_INET, 'c0a80100', 24],
    ['255.255.255.255/32', AF_INET, 'ffffffff', 32],
    ['::1', AF_INET6, '00000000000000000000000000000001', 128],
    ['::/0', AF_INET6, '00000000000000000000000000000000', 0],
    ['2001:db8::/32', AF_INET6, '20010db8000000000000000000000000', 32],
    ['fe80::/10', AF_INET6, 'fe800000000000000000000000000000', 10],
    ['::ffff:10.0.0.0/104', AF_INET6, '00000000000000000000ffff0a000000', 104],
    ['2001:db8::1/128', AF_INET6, '20010db8000000000000000000000001', 128],
  ];
  test.each(good)('%s', (text, family, bytes, prefix) => {
    const p = parseCidr(text);
    expect(p).toBeDefined();
    expect(p!.family).toBe(family);
    expect(hex(p!.bytes)).toBe(bytes);
    expect(p!.prefix).toBe(prefix);
  });

  test('an address with host bits keeps its network bits and prefix', () => {
    const p = parseCidr('10.1.2.3/8');
    expect(p?.prefix).toBe(8);
    expect(p?.bytes[0]).toBe(10);
  });

  const bad = [
    '10.0.0.0/33',
    '10.0.0.0/100',
    '10.0.0.0/1000',
    '::/129',
    '::/1000',
    '10.0.0.0/',
    '10.0.0.0/-1',
    '10.0.0.0/+8',
    '10.0.0.0/8.0',
    '10.0.0.0/ 8',
    '10.0.0.0/8 ',
    '10.0.0.0/8/8',
    '10.0.0.0/a',
    '10.0.0.0/0x8',
    '10.0.0.0/255.0.0.0',
    '/8',
    '/',
    'fe80::1%eth0',
    'fe80::1%eth0/64',
    'not-an-ip/8',
    '10.0.0/8',
  ];
  test.each(bad)('%j is refused', (text) => {
    expect(parseCidr(text)).toBeUndefined();
  });

  test('300 generated networks match net.BlockList membership', () => {
    const rnd = prng(8);
    const bit = (b: Uint8Array, i: number): number => (b[i >>> 3]! >>> (7 - (i & 7))) & 1;
    for (let n = 0; n < 300; n++) {
      const v6 = rnd() < 0.5;
      const len = v6 ? 16 : 4;
      const max = len * 8;
      const net = Uint8Array.from({ length: len }, () => Math.floor(rnd() * 256));
      const prefix = Math.floor(rnd() * (max + 1));
      const addrText = v6 ? new SocketAddress({ address: fullForm(net), family: 'ipv6' }).address : [...net].join('.');
      const text = `${addrText}/${prefix}`;
      const p = parseCidr(text);
      expect(p, text).toBeDefined();
      expect(p!.family, text).toBe(v6 ? AF_INET6 : AF_INET);
      expect(p!.prefix, text).toBe(prefix);
      expect(hex(p!.bytes), text).toBe(hex(net));

      const list = new BlockList();
      list.addSubnet(addrText, prefix, v6 ? 'ipv6' : 'ipv4');
      // Probes: the network with random host bits (inside), and with one network bit flipped
      // (outside, when there is a network bit).
      for (let k = 0; k < 4; k++) {
        const probe = Uint8Array.from(net);
        for (let i = prefix; i < max; i++) if (rnd() < 0.5) probe[i >>> 3]! ^= 1 << (7 - (i & 7));
        if (k % 2 === 1 && prefix > 0) {
          const i = Math.floor(rnd() * prefix);
          probe[i >>> 3]! ^= 1 << (7 - (i & 7));
        }
        let inside = true;
        for (let i = 0; i < p!.prefix; i++) if (bit(p!.bytes, i) !== bit(probe, i)) inside = false;
        const probeText = v6 ? fullForm(probe) : [...probe].join('.');
        expect(inside, `${probeText} in ${text}`).toBe(list.check(probeText, v6 ? 'ipv6' : 'ipv4'));
      }
    }
  });
});
