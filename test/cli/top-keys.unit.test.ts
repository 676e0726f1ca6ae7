// nfct top's keys on fixed input: what each key does to the screen's state, and the filter a
// group's delete hands deleteWhere (checked against the library's own filter validation, so a
// filter it would refuse fails here).
import { describe, expect, test } from 'vitest';

import { filterGroups, groupFilter, KEY_HELP, parsePrefixKey, pressKeys, splitKeys,
  type TopUiState } from '../../lib/cli/commands/top-keys.js';
import type { TopGroup, TopKey } from '../../lib/cli/commands/top-view.js';
import { keyTexts } from '../../lib/conntrack/aggregate.js';
import { normalizeFilter } from '../../lib/conntrack/filter.js';

const CYCLE: TopKey[] = ['src', 'dst', 'dstPort', 'protocol'];
const state = (): TopUiState => ({ mode: 'view', by: ['src'], sort: 'count', interval: 2, filter: '', draft: '',
  selected: 0, status: '', base: {} });
const groups: TopGroup[] = [
  { key: { src: '10.1.0.0/16' }, count: 40 },
  { key: { src: '10.2.0.0/16' }, count: 25 },
  { key: { src: 'fd00::/64' }, count: 3 },
];

describe('keys', () => {
  test('arrows arrive whole, other keys one by one', () => {
    expect(splitKeys('a\x1b[Bq\x1bOA')).toEqual(['a', '\x1b[B', 'q', '\x1bOA']);
  });

  test('every key the help lists does something, from the main view', () => {
    const NAMED: Record<string, string> = { up: '\x1b[A', down: '\x1b[B', Esc: '\x1b', 'Ctrl-C': '\x03' };
    let keys = 0;
    for (const [names, what] of KEY_HELP) {
      expect(what.length).toBeGreaterThan(3);
      for (const name of names.split(/ \/ |, /)) {
        const s = { ...state(), filter: 'x', selected: 1 };
        const before = JSON.stringify(s);
        const actions = pressKeys(s, NAMED[name] ?? name, groups, CYCLE);
        // a quit, a redraw of a changed state, or the question a delete asks first
        expect(actions.some((a) => a.kind === 'quit') || JSON.stringify(s) !== before, `the key ${name}`).toBe(true);
        keys++;
      }
    }
    expect(keys).toBe(15);
  });

  test('? shows the help, any key hides it; q quits; Ctrl-C quits from any mode', () => {
    const s = state();
    expect(pressKeys(s, '?', groups, CYCLE)).toEqual([{ kind: 'redraw' }]);
    expect(s.mode).toBe('help');
    pressKeys(s, 'x', groups, CYCLE);
    expect(s.mode).toBe('view');
    expect(pressKeys(s, 'q', groups, CYCLE)).toEqual([{ kind: 'quit' }]);
    s.mode = 'filter';
    expect(pressKeys(s, '\x03', groups, CYCLE)).toEqual([{ kind: 'quit' }]);
  });

  test('/ types a filter: Backspace, Enter applies it, Esc leaves it as it was', () => {
    const s = state();
    pressKeys(s, '/10.2x\x7f\r', groups, CYCLE);
    expect(s).toMatchObject({ mode: 'view', filter: '10.2', status: 'filter: 10.2' });
    expect(filterGroups(groups, ['src'], s.filter, keyTexts).map((g) => g.count)).toEqual([25]);
    pressKeys(s, '/zzz\x1b', groups, CYCLE);
    expect(s.filter).toBe('10.2');
    pressKeys(s, '\x1b', groups, CYCLE);
    expect(s.filter).toBe('');
  });

  test('down/up move the selection within the rows; d asks, y deletes that group, anything else does not', () => {
    const s = state();
    pressKeys(s, '\x1b[B\x1b[B\x1b[Bk', groups, CYCLE);
    expect(s.selected).toBe(1);
    expect(pressKeys(s, 'd', groups, CYCLE)).toEqual([{ kind: 'redraw' }]);
    expect(s.mode).toBe('confirm');
    expect(pressKeys(s, 'n', groups, CYCLE)).toEqual([{ kind: 'redraw' }]);
    expect(s.status).toBe('nothing deleted');
    expect(pressKeys(s, 'dy', groups, CYCLE)).toEqual([{ kind: 'redraw' }, { kind: 'delete', group: groups[1],
      filter: { src: '10.2.0.0/16' } }, { kind: 'redraw' }]);
    // The command line's protocol is kept.
    const udp = { ...state(), base: { protocol: 'udp' as const } };
    expect(pressKeys(udp, 'dY', groups, CYCLE)[1]).toEqual({ kind: 'delete', group: groups[0],
      filter: { protocol: 'udp', src: '10.1.0.0/16' } });
  });

  test('d on a group no filter selects exactly: refused with the reason, before asking', () => {
    const states: TopGroup[] = [{ key: { state: 'ESTABLISHED' }, count: 3 }, { key: { state: null }, count: 2 }];
    const sctp = { ...state(), by: ['state'], base: { protocol: 'sctp' as const } };
    expect(pressKeys(sctp, 'd', states, CYCLE)).toEqual([{ kind: 'redraw' }]);
    expect(sctp).toMatchObject({ mode: 'view',
      status: 'cannot delete the selected group: only TCP states can be selected' });
    expect(sctp.pending).toBeUndefined();
    const any = { ...state(), by: ['state'], selected: 1 };
    pressKeys(any, 'd', states, CYCLE);
    expect(any).toMatchObject({ mode: 'view',
      status: 'cannot delete the selected group: its state is empty, which no filter selects' });
    // A state under no protocol filter is selected (a state filter is TCP's).
    const tcp = { ...state(), by: ['state'] };
    expect(pressKeys(tcp, 'dy', states, CYCLE)[1]).toEqual({ kind: 'delete', group: states[0],
      filter: { state: 'ESTABLISHED' } });
  });

  test('d with nothing to select says so', () => {
    const s = state();
    pressKeys(s, 'd', [], CYCLE);
    expect(s).toMatchObject({ mode: 'view', status: 'no group selected' });
  });

  test('g/G cycle the key, s the sort, +/- the interval', () => {
    const s = state();
    pressKeys(s, 'g', groups, CYCLE);
    expect(s.by).toEqual(['dst']);
    pressKeys(s, 'GG', groups, CYCLE);
    expect(s.by).toEqual(['protocol']);
    pressKeys(s, 's+', groups, CYCLE);
    expect([s.sort, s.interval]).toEqual(['packets', 4]);
  });
});

describe('prefix keys', () => {
  test.each([
    ['src/16', { key: 'src', ipv4: 16, ipv6: 64 }],
    ['dst/24/48', { key: 'dst', ipv4: 24, ipv6: 48 }],
    ['replySrc/0', { key: 'replySrc', ipv4: 0, ipv6: 64 }],
  ])('%s', (text, expected) => {
    expect(parsePrefixKey(text)).toEqual(expected);
  });
  test('a key without a prefix is not one', () => expect(parsePrefixKey('src')).toBeUndefined());
  test.each([['dport/16', /goes with src, dst or replySrc/], ['src/33', /IPv4 prefix must be 0 to 32/], ['src/8/129',
    /IPv6 prefix must be 0 to 128/]])('%s is refused', (text, re) => {
      expect(() => parsePrefixKey(text)).toThrow(re);
    });
});

describe("a group's entries as a filter", () => {
  const ok = (key: TopGroup['key'], base = {}) => {
    const r = groupFilter(key, base);
    if (!('filter' in r)) throw new Error(r.reason);
    normalizeFilter(r.filter, 'filter'); // the library takes it
    return r.filter;
  };
  test('addresses, prefixes, ports, protocol, state, mark, zone', () => {
    expect(ok({ src: '10.1.0.0/16', dstPort: 80, protocol: 'tcp' })).toEqual({ src: '10.1.0.0/16', dstPort: 80,
      protocol: 'tcp' });
    expect(ok({ state: 'ESTABLISHED', mark: 3, zone: 2 })).toEqual({ state: 'ESTABLISHED', mark: 3, zone: 2 });
  });
  test('a NAT target: the reply source (and port) of destination-NATed entries', () => {
    expect(ok({ dnat: '[fd00::5]:53' }, { protocol: 'udp' })).toEqual({ protocol: 'udp', status: ['DST_NAT'],
      replySrc: 'fd00::5', replySrcPort: 53 });
    expect(ok({ snat: '192.0.2.1' })).toEqual({ status: ['SRC_NAT'], replyDst: '192.0.2.1' });
  });
  test('the namespace key is left to the caller; the base filter (-p) is kept', () => {
    expect(ok({ netns: 'x', dst: '10.2.0.7' }, { protocol: 'udp' })).toEqual({ protocol: 'udp', dst: '10.2.0.7' });
  });
  test.each([
    [{ srcPort: null }, /its srcPort is empty/],
    [{ status: ['ASSURED'] }, /a group by status is not one filter/],
  ] as [TopGroup['key'], RegExp][])('%j cannot be deleted exactly', (key, re) => {
    const r = groupFilter(key, {});
    expect('reason' in r && r.reason).toMatch(re);
  });
});
