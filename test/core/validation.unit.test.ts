/**
 * Bad input is refused in TypeScript, with a TypeError/RangeError that names the option at
 * fault, before anything reaches the kernel (DESIGN.md, "Error model").
 *
 * The handles are opened in the caller's own namespace, but nothing here reaches its
 * conntrack table: the native handle of the handle under test is swapped for a recorder that
 * never forwards a query (only close()), and the recorder must stay silent for every refused
 * call. list() is never iterated. Conntrack.open is checked with the addon's openConntrack
 * replaced by a spy.
 */
import { afterAll, afterEach, beforeAll, describe, expect, type MockInstance, test, vi } from 'vitest';

import { addon, type NativeConntrack, type NativeTuple } from '../../lib/core/native.js';
import { ClosedError, Conntrack, FlowStream } from '../../lib/index.js';
import { type BadCase, expectRefused, failure, type Recorder, useRecorded } from '../support/recorder.js';

// ---------------------------------------------------------------------------------------------
describe('Conntrack.open options', () => {
  // A native handle none of whose queries these tests reach.
  const throws = (): never => {
    throw new Error('unused');
  };
  const rejects = (): Promise<never> => Promise.reject(new Error('unused'));
  const fakeNative = (): NativeConntrack => ({
    dump: throws,
    get: rejects,
    count: rejects,
    countNow: throws,
    stats: rejects,
    close: () => {},
    create: rejects,
    delete: rejects,
    flush: rejects,
    createBatch: rejects,
    deleteBatch: rejects,
    deleteWhere: throws,
    aggregate: throws,
    expectDump: throws,
    expectGet: rejects,
    expectCreate: rejects,
    expectDelete: rejects,
    expectFlush: rejects,
    events: throws,
    expectEvents: throws,
  });
  let spy: MockInstance<typeof addon.openConntrack>;

  beforeAll(() => {
    spy = vi.spyOn(addon, 'openConntrack').mockImplementation(() => Promise.resolve(fakeNative()));
  });
  afterEach(() => {
    spy.mockClear();
  });
  afterAll(() => {
    spy.mockRestore();
  });

  const opt = 'Conntrack.open options';
  const bad: BadCase[] = [
    { name: 'null options', input: null, error: TypeError, names: opt },
    { name: 'a string as options', input: 'ns1', error: TypeError, names: opt },
    { name: 'an array as options', input: [], error: TypeError, names: opt },
    { name: 'unknown key', input: { netnss: 'a' }, error: TypeError, names: "'netnss'" },
    { name: 'unknown key, other case', input: { NetNS: 'a' }, error: TypeError,
      names: /'NetNS'.*did you mean 'netns'/ },
    { name: 'netns: relative path with a slash', input: { netns: 'run/netns/a' }, error: TypeError, names: 'netns' },
    { name: "netns: '..'", input: { netns: '..' }, error: TypeError, names: 'netns' },
    { name: "netns: '.'", input: { netns: '.' }, error: TypeError, names: 'netns' },
    { name: 'netns: empty string', input: { netns: '' }, error: TypeError, names: 'netns' },
    { name: 'netns: name with a space', input: { netns: 'a b' }, error: TypeError, names: 'netns' },
    { name: 'netns: a number', input: { netns: 5 }, error: TypeError, names: 'netns' },
    { name: 'netns: a boolean', input: { netns: true }, error: TypeError, names: 'netns' },
    { name: 'netns: {pid: -1}', input: { netns: { pid: -1 } }, error: RangeError, names: 'netns.pid' },
    { name: 'netns: {pid: 0}', input: { netns: { pid: 0 } }, error: RangeError, names: 'netns.pid' },
    { name: 'netns: {pid: 2^31}', input: { netns: { pid: 2 ** 31 } }, error: RangeError, names: 'netns.pid' },
    { name: 'netns: {pid: 1.5}', input: { netns: { pid: 1.5 } }, error: TypeError, names: 'netns.pid' },
    { name: "netns: {pid: '1'}", input: { netns: { pid: '1' } }, error: TypeError, names: 'netns.pid' },
    { name: 'netns: {pid: NaN}', input: { netns: { pid: Number.NaN } }, error: TypeError, names: 'netns.pid' },
    { name: "netns: {path: 'relative'}", input: { netns: { path: 'relative' } }, error: TypeError,
      names: 'netns.path' },
    { name: 'netns: {path: 5}', input: { netns: { path: 5 } }, error: TypeError, names: 'netns.path' },
    { name: "netns: {name: '..'}", input: { netns: { name: '..' } }, error: TypeError, names: 'netns.name' },
    { name: "netns: {name: 'a/b'}", input: { netns: { name: 'a/b' } }, error: TypeError, names: 'netns.name' },
    { name: "netns: {name: '/abs'}", input: { netns: { name: '/run/netns/a' } }, error: TypeError,
      names: 'netns.name' },
    { name: 'netns: two keys', input: { netns: { pid: 1, path: '/proc/1/ns/net' } }, error: TypeError, names: 'netns' },
    { name: 'netns: no key', input: { netns: {} }, error: TypeError, names: 'netns' },
    { name: 'netns: unknown key', input: { netns: { Pid: 1 } }, error: TypeError, names: /'Pid'.*did you mean 'pid'/ },
  ];

  test.each(bad)('refuses $name before opening a socket', async (c) => {
    const err = await failure(() => Conntrack.open(c.input as never));
    expectRefused(err, c);
    expect(spy).not.toHaveBeenCalled();
  });

  // Positive controls: the same entry point with good values does reach openConntrack, with
  // the namespace file the option designates (so the refusals above are not vacuous).
  const good: { name: string; input: unknown; path: string | null }[] = [
    { name: 'no options', input: undefined, path: null },
    { name: 'empty options', input: {}, path: null },
    { name: 'netns undefined', input: { netns: undefined }, path: null },
    { name: 'a name', input: { netns: 'nfct-test_1.a' }, path: '/run/netns/nfct-test_1.a' },
    { name: 'an absolute path', input: { netns: '/proc/self/ns/net' }, path: '/proc/self/ns/net' },
    { name: '{pid}', input: { netns: { pid: 4242 } }, path: '/proc/4242/ns/net' },
    { name: '{path}', input: { netns: { path: '/var/run/netns/x' } }, path: '/var/run/netns/x' },
    { name: '{name}', input: { netns: { name: 'x' } }, path: '/run/netns/x' },
  ];
  test.each(good)('accepts $name', async ({ input, path }) => {
    const ct = await Conntrack.open(input as never);
    try {
      expect(spy).toHaveBeenCalledTimes(1);
      expect(spy).toHaveBeenCalledWith(path);
      expect(ct.netnsPath).toBe(path);
    } finally {
      await ct.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------
describe('list() filter and options', () => {
  let ct: Conntrack;
  let rec: Recorder;
  useRecorded((c, r) => ((ct = c), (rec = r)));
  afterEach(() => {
    // list() builds the stream lazily; a refused call must not have got as far as a dump,
    // and nothing here iterates, so no case may ever reach the recorder.
    expect(rec.calls).toEqual([]);
  });

  const o = 'list() options';
  const bad: BadCase[] = [
    // the argument itself
    { name: 'null', input: null, error: TypeError, names: o },
    { name: 'a string', input: '10.0.0.1', error: TypeError, names: o },
    { name: 'an array', input: [], error: TypeError, names: o },
    // unknown keys
    { name: 'unknown key', input: { bogus: 1 }, error: TypeError, names: "'bogus'" },
    { name: "'srcport' (hint srcPort)", input: { srcport: 80 }, error: TypeError, names: /'srcport'.*'srcPort'/ },
    { name: "'DST' (hint dst)", input: { DST: '10.0.0.1' }, error: TypeError, names: /'DST'.*'dst'/ },
    { name: "'batchsize' (hint batchSize)", input: { batchsize: 1 }, error: TypeError,
      names: /'batchsize'.*'batchSize'/ },
    // family
    { name: "family 'ipv5'", input: { family: 'ipv5' }, error: TypeError, names: `${o}.family` },
    { name: 'family 4', input: { family: 4 }, error: TypeError, names: `${o}.family` },
    { name: "family 'IPv4'", input: { family: 'IPv4' }, error: TypeError, names: `${o}.family` },
    // protocol
    { name: "protocol 'bogus' (the message lists the names)", input: { protocol: 'bogus' }, error: TypeError,
      names:
        /^list\(\) options\.protocol must be a protocol name \(icmp, tcp, udp, dccp, gre, icmpv6, sctp, udplite\) or number, got "bogus"$/ },
    { name: "protocol 'unknown'", input: { protocol: 'unknown' }, error: TypeError, names: `${o}.protocol` },
    { name: "protocol 'toString' (inherited key)", input: { protocol: 'toString' }, error: TypeError,
      names: `${o}.protocol` },
    { name: "protocol 'constructor' (inherited key)", input: { protocol: 'constructor' }, error: TypeError,
      names: `${o}.protocol` },
    { name: 'protocol 256', input: { protocol: 256 }, error: RangeError, names: `${o}.protocol` },
    { name: 'protocol -1', input: { protocol: -1 }, error: RangeError, names: `${o}.protocol` },
    { name: 'protocol 6.5', input: { protocol: 6.5 }, error: TypeError, names: `${o}.protocol` },
    // addresses
    ...(['src', 'dst', 'replySrc', 'replyDst'] as const).flatMap((k): BadCase[] => [
      { name: `${k} 'not-an-ip'`, input: { [k]: 'not-an-ip' }, error: TypeError, names: `${o}.${k}` },
      { name: `${k} '10.0.0.0/33'`, input: { [k]: '10.0.0.0/33' }, error: TypeError, names: `${o}.${k}` },
      { name: `${k} '::/129'`, input: { [k]: '::/129' }, error: TypeError, names: `${o}.${k}` },
      { name: `${k} '10.0.0.0/'`, input: { [k]: '10.0.0.0/' }, error: TypeError, names: `${o}.${k}` },
      { name: `${k} '10.0.0.0/-1'`, input: { [k]: '10.0.0.0/-1' }, error: TypeError, names: `${o}.${k}` },
      { name: `${k} '10.0.0.256'`, input: { [k]: '10.0.0.256' }, error: TypeError, names: `${o}.${k}` },
      { name: `${k} 'fe80::1%eth0'`, input: { [k]: 'fe80::1%eth0' }, error: TypeError, names: `${o}.${k}` },
      { name: `${k} as a number`, input: { [k]: 167772161 }, error: TypeError, names: `${o}.${k}` },
      { name: `${k} as a Buffer`, input: { [k]: Buffer.from([10, 0, 0, 1]) }, error: TypeError, names: `${o}.${k}` },
    ]),
    { name: "family 'ipv6' with src 10.0.0.1", input: { family: 'ipv6', src: '10.0.0.1' }, error: TypeError,
      names: /^list\(\) options\.src "10\.0\.0\.1" does not match family 'ipv6'$/ },
    { name: "family 'ipv4' with dst ::1", input: { family: 'ipv4', dst: '::1' }, error: TypeError,
      names: /^list\(\) options\.dst "::1" does not match family 'ipv4'$/ },
    { name: 'src IPv4 with dst IPv6', input: { src: '10.0.0.1', dst: '::1' }, error: TypeError,
      names: /^list\(\) options\.dst "::1" does not match the family of the other addresses$/ },
    { name: 'src IPv6 with replyDst IPv4', input: { src: '::1', replyDst: '10.0.0.0/8' }, error: TypeError,
      names: `${o}.replyDst` },
    // ports
    ...(['srcPort', 'dstPort', 'replySrcPort', 'replyDstPort'] as const).flatMap((k): BadCase[] => [
      { name: `${k} 65536`, input: { [k]: 65536 }, error: RangeError, names: `${o}.${k}` },
      { name: `${k} -1`, input: { [k]: -1 }, error: RangeError, names: `${o}.${k}` },
      { name: `${k} 1.5`, input: { [k]: 1.5 }, error: TypeError, names: `${o}.${k}` },
      { name: `${k} '80'`, input: { [k]: '80' }, error: TypeError, names: `${o}.${k}` },
      { name: `${k} NaN`, input: { [k]: Number.NaN }, error: TypeError, names: `${o}.${k}` },
      { name: `${k} 80n`, input: { [k]: 80n }, error: TypeError, names: `${o}.${k}` },
      { name: `${k} null`, input: { [k]: null }, error: TypeError, names: `${o}.${k}` },
    ]),
    // mark
    { name: 'mark 2^32', input: { mark: 2 ** 32 }, error: RangeError, names: `${o}.mark` },
    { name: 'mark -1', input: { mark: -1 }, error: RangeError, names: `${o}.mark` },
    { name: "mark '1'", input: { mark: '1' }, error: TypeError, names: `${o}.mark` },
    { name: 'mark 1.5', input: { mark: 1.5 }, error: TypeError, names: `${o}.mark` },
    { name: 'mark null', input: { mark: null }, error: TypeError, names: `${o}.mark` },
    { name: 'mark {value} without mask', input: { mark: { value: 1 } }, error: TypeError, names: `${o}.mark.mask` },
    { name: 'mark {mask} without value', input: { mark: { mask: 1 } }, error: TypeError, names: `${o}.mark.value` },
    { name: 'mark with an unknown key', input: { mark: { value: 1, mask: 1, shift: 2 } }, error: TypeError,
      names: /mark.*'shift'/ },
    { name: 'mark {value: 2^32}', input: { mark: { value: 2 ** 32, mask: 1 } }, error: RangeError,
      names: `${o}.mark.value` },
    { name: 'mark {mask: 2^32}', input: { mark: { value: 1, mask: 2 ** 32 } }, error: RangeError,
      names: `${o}.mark.mask` },
    { name: 'mark as an array', input: { mark: [1, 1] }, error: TypeError, names: `${o}.mark` },
    // zones
    ...(['zone', 'origZone', 'replyZone'] as const).flatMap((k): BadCase[] => [
      { name: `${k} 70000`, input: { [k]: 70000 }, error: RangeError, names: `${o}.${k}` },
      { name: `${k} -1`, input: { [k]: -1 }, error: RangeError, names: `${o}.${k}` },
      { name: `${k} '1'`, input: { [k]: '1' }, error: TypeError, names: `${o}.${k}` },
    ]),
    // status
    { name: "status 'BOGUS'", input: { status: 'BOGUS' }, error: TypeError, names: `${o}.status` },
    { name: "status ['ASSURED', 'nope']", input: { status: ['ASSURED', 'nope'] }, error: TypeError,
      names: `${o}.status` },
    { name: 'status []', input: { status: [] }, error: TypeError, names: `${o}.status` },
    { name: 'status 4 (a bit value)', input: { status: 4 }, error: TypeError, names: `${o}.status` },
    // state
    { name: "state 'BOGUS' (the message lists the states)", input: { state: 'BOGUS' }, error: TypeError,
      names:
        /^list\(\) options\.state: unknown TCP state "BOGUS" \(one of NONE, SYN_SENT, SYN_RECV, ESTABLISHED, FIN_WAIT, CLOSE_WAIT, LAST_ACK, TIME_WAIT, CLOSE, SYN_SENT2\)$/ },
    { name: "state ['ESTABLISHED', 'OPEN']", input: { state: ['ESTABLISHED', 'OPEN'] }, error: TypeError,
      names: `${o}.state` },
    { name: 'state []', input: { state: [] }, error: TypeError, names: `${o}.state` },
    { name: 'state 3', input: { state: 3 }, error: TypeError, names: `${o}.state` },
    { name: "state with protocol 'udp'", input: { protocol: 'udp', state: 'ESTABLISHED' }, error: TypeError,
      names: `${o}.state` },
    { name: 'state with protocol 17', input: { protocol: 17, state: 'ESTABLISHED' }, error: TypeError,
      names: `${o}.state` },
    // labels
    { name: 'labels 128', input: { labels: 128 }, error: RangeError, names: `${o}.labels` },
    { name: 'labels [0, 128]', input: { labels: [0, 128] }, error: RangeError, names: `${o}.labels` },
    { name: 'labels -1', input: { labels: -1 }, error: RangeError, names: `${o}.labels` },
    { name: "labels '1'", input: { labels: '1' }, error: TypeError, names: `${o}.labels` },
    { name: 'labels 1.5', input: { labels: 1.5 }, error: TypeError, names: `${o}.labels` },
    { name: 'labels []', input: { labels: [] }, error: TypeError, names: `${o}.labels` },
    // read options
    { name: "table 'bogus'", input: { table: 'bogus' }, error: TypeError, names: `${o}.table` },
    { name: "table 'CONNTRACK'", input: { table: 'CONNTRACK' }, error: TypeError, names: `${o}.table` },
    { name: "zeroCounters with table 'dying'", input: { table: 'dying', zeroCounters: true }, error: TypeError,
      names: `${o}.zeroCounters` },
    { name: "zeroCounters with table 'unconfirmed'", input: { table: 'unconfirmed', zeroCounters: true },
      error: TypeError, names: `${o}.zeroCounters` },
    { name: "zeroCounters 'yes'", input: { zeroCounters: 'yes' }, error: TypeError, names: `${o}.zeroCounters` },
    { name: 'zeroCounters 1', input: { zeroCounters: 1 }, error: TypeError, names: `${o}.zeroCounters` },
    { name: "kernelFilter 'false'", input: { kernelFilter: 'false' }, error: TypeError, names: `${o}.kernelFilter` },
    { name: 'batchSize 0', input: { batchSize: 0 }, error: RangeError, names: `${o}.batchSize` },
    { name: 'batchSize -5', input: { batchSize: -5 }, error: RangeError, names: `${o}.batchSize` },
    { name: 'batchSize 65537', input: { batchSize: 65537 }, error: RangeError, names: `${o}.batchSize` },
    { name: 'batchSize 1.5', input: { batchSize: 1.5 }, error: TypeError, names: `${o}.batchSize` },
    { name: "batchSize '10'", input: { batchSize: '10' }, error: TypeError, names: `${o}.batchSize` },
  ];

  test.each(bad)('refuses $name', (c) => {
    let err: unknown;
    try {
      // Refused synchronously: list() is not async, and nothing is iterated.
      ct.list(c.input as never);
    } catch (e) {
      err = e;
    }
    expectRefused(err, c);
  });

  // Positive controls: every key with a good value is accepted (list() returns a stream that
  // is never iterated), so the refusals above are about the values, not the keys.
  const good: { name: string; input: Record<string, unknown> }[] = [
    { name: 'no filter', input: {} },
    { name: 'every filter key', input: {
      family: 'ipv4',
      protocol: 'tcp',
      src: '10.0.0.1',
      dst: '10.0.0.0/8',
      replySrc: '10.1.0.0/16',
      replyDst: '10.2.3.4/32',
      srcPort: 0,
      dstPort: 65535,
      replySrcPort: 1,
      replyDstPort: 2,
      mark: { value: 0xffffffff, mask: 0xffffffff },
      zone: 65535,
      origZone: 0,
      replyZone: 1,
      status: ['ASSURED', 'seen_reply'],
      state: ['ESTABLISHED', 'time_wait'],
      labels: [0, 127],
    } },
    { name: 'ipv6 filter',
      input: { family: 'ipv6', src: '::1', dst: 'fe80::/10', replySrc: '::ffff:1.2.3.4', replyDst: '::/0' } },
    { name: 'numeric protocol with state', input: { protocol: 6, state: 'SYN_SENT' } },
    { name: 'a numeric mark', input: { mark: 0 } },
    { name: 'single status, state and label', input: { status: 'CONFIRMED', state: 'CLOSE', labels: 5 } },
    { name: 'undefined values', input: { src: undefined, srcPort: undefined, table: undefined } },
    { name: 'read options', input: { table: 'dying', kernelFilter: false, batchSize: 1 } },
    { name: 'zeroCounters', input: { table: 'conntrack', zeroCounters: true, batchSize: 65536 } },
    { name: 'unconfirmed table', input: { table: 'unconfirmed' } },
  ];
  test.each(good)('accepts $name', ({ input }) => {
    expect(ct.list(input as never)).toBeInstanceOf(FlowStream);
  });
});

// ---------------------------------------------------------------------------------------------
describe('get() tuple', () => {
  let ct: Conntrack;
  let rec: Recorder;
  useRecorded((c, r) => ((ct = c), (rec = r)));

  const t = 'get() tuple';
  const tcp = { protocol: 'tcp', src: '10.0.0.1', dst: '10.0.0.2', srcPort: 1000, dstPort: 80 };
  const icmp = { protocol: 'icmp', src: '10.0.0.1', dst: '10.0.0.2', type: 8, code: 0, id: 7 };
  const without = (o: Record<string, unknown>, k: string): Record<string, unknown> => {
    const { [k]: _, ...rest } = o;
    return rest;
  };
  const bad: BadCase[] = [
    { name: 'null', input: null, error: TypeError, names: t },
    { name: 'a string', input: '10.0.0.1', error: TypeError, names: t },
    { name: 'unknown key', input: { ...tcp, sport: 1 }, error: TypeError, names: "'sport'" },
    { name: "'srcport' (hint srcPort)", input: { ...without(tcp, 'srcPort'), srcport: 1000 }, error: TypeError,
      names: /'srcport'.*'srcPort'/ },
    // protocol
    { name: 'no protocol', input: without(tcp, 'protocol'), error: TypeError, names: `${t}.protocol` },
    { name: "protocol 'bogus'", input: { ...tcp, protocol: 'bogus' }, error: TypeError, names: `${t}.protocol` },
    { name: "protocol 'TCP'", input: { ...tcp, protocol: 'TCP' }, error: TypeError, names: `${t}.protocol` },
    { name: "protocol 'toString' (inherited key)", input: { ...tcp, protocol: 'toString' }, error: TypeError,
      names: `${t}.protocol` },
    { name: "protocol '__proto__' (inherited key)", input: { ...tcp, protocol: '__proto__' }, error: TypeError,
      names: `${t}.protocol` },
    { name: 'protocol 256', input: { ...tcp, protocol: 256 }, error: RangeError, names: `${t}.protocol` },
    { name: 'protocol 6.5', input: { ...tcp, protocol: 6.5 }, error: TypeError, names: `${t}.protocol` },
    // ports
    { name: 'tcp without ports', input: without(without(tcp, 'srcPort'), 'dstPort'), error: TypeError,
      names: `${t}.srcPort` },
    { name: 'tcp without srcPort', input: without(tcp, 'srcPort'), error: TypeError, names: `${t}.srcPort` },
    { name: 'tcp without dstPort', input: without(tcp, 'dstPort'), error: TypeError, names: `${t}.dstPort` },
    { name: 'udp without dstPort', input: { ...without(tcp, 'dstPort'), protocol: 'udp' }, error: TypeError,
      names: `${t}.dstPort` },
    { name: 'srcPort 65536', input: { ...tcp, srcPort: 65536 }, error: RangeError, names: `${t}.srcPort` },
    { name: 'dstPort -1', input: { ...tcp, dstPort: -1 }, error: RangeError, names: `${t}.dstPort` },
    { name: "dstPort '80'", input: { ...tcp, dstPort: '80' }, error: TypeError, names: `${t}.dstPort` },
    { name: 'icmp with srcPort', input: { ...icmp, srcPort: 1 }, error: TypeError, names: `${t}.srcPort` },
    { name: 'icmp with dstPort', input: { ...icmp, dstPort: 1 }, error: TypeError, names: `${t}.dstPort` },
    { name: 'tcp with srcKey (GRE only)', input: { ...tcp, srcKey: 1 }, error: TypeError, names: `${t}.srcKey` },
    { name: 'icmp with dstKey (GRE only)', input: { ...icmp, dstKey: 1 }, error: TypeError, names: `${t}.dstKey` },
    { name: 'gre srcKey 70000', input: { protocol: 'gre', src: '10.0.0.1', dst: '10.0.0.2', srcKey: 70000 },
      error: RangeError, names: `${t}.srcKey` },
    // icmp fields
    { name: 'icmp without id', input: without(icmp, 'id'), error: TypeError, names: `${t}.id` },
    { name: 'icmp without type', input: without(icmp, 'type'), error: TypeError, names: `${t}.type` },
    { name: 'icmp type 256', input: { ...icmp, type: 256 }, error: RangeError, names: `${t}.type` },
    { name: 'icmp id 65536', input: { ...icmp, id: 65536 }, error: RangeError, names: `${t}.id` },
    { name: 'tcp with type', input: { ...tcp, type: 8 }, error: TypeError, names: `${t}.type` },
    { name: 'udp with id', input: { ...tcp, protocol: 'udp', id: 8 }, error: TypeError, names: `${t}.id` },
    { name: 'icmp with IPv6 addresses', input: { ...icmp, src: '::1', dst: '::2' }, error: TypeError,
      names: `${t}.protocol` },
    { name: 'icmpv6 with IPv4 addresses', input: { ...icmp, protocol: 'icmpv6' }, error: TypeError,
      names: `${t}.protocol` },
    // addresses
    { name: 'no src', input: without(tcp, 'src'), error: TypeError, names: `${t}.src` },
    { name: "src 'not-an-ip'", input: { ...tcp, src: 'not-an-ip' }, error: TypeError, names: `${t}.src` },
    { name: "dst '10.0.0.256'", input: { ...tcp, dst: '10.0.0.256' }, error: TypeError, names: `${t}.dst` },
    { name: 'src as a CIDR', input: { ...tcp, src: '10.0.0.0/8' }, error: TypeError, names: `${t}.src` },
    { name: 'dst with a zone id', input: { ...tcp, src: 'fe80::1', dst: 'fe80::2%eth0' }, error: TypeError,
      names: `${t}.dst` },
    { name: 'src as a number', input: { ...tcp, src: 167772161 }, error: TypeError, names: `${t}.src` },
    { name: 'src IPv4, dst IPv6', input: { ...tcp, dst: '::1' }, error: TypeError, names: /src.*dst|dst.*src/ },
    // zone
    { name: 'zone 70000', input: { ...tcp, zone: 70000 }, error: RangeError, names: `${t}.zone` },
    { name: "zone '1'", input: { ...tcp, zone: '1' }, error: TypeError, names: `${t}.zone` },
  ];

  test.each(bad)('refuses $name before any query', async (c) => {
    rec.calls.length = 0;
    const err = await failure(() => ct.get(c.input as never));
    expectRefused(err, c);
    expect(rec.calls).toEqual([]);
  });

  // Positive controls, with what reaches native code.
  const v4 = (s: string): Buffer => Buffer.from(s.split('.').map(Number));
  const good: { name: string; input: Record<string, unknown>; native: NativeTuple }[] = [
    { name: 'tcp', input: tcp,
      native: { family: 2, protocol: 6, src: v4('10.0.0.1'), dst: v4('10.0.0.2'), srcPort: 1000, dstPort: 80 } },
    { name: 'udp with zone', input: { ...tcp, protocol: 'udp', zone: 3 },
      native: { family: 2, protocol: 17, src: v4('10.0.0.1'), dst: v4('10.0.0.2'), srcPort: 1000, dstPort: 80,
        zone: 3 } },
    { name: 'icmp', input: icmp,
      native: { family: 2, protocol: 1, src: v4('10.0.0.1'), dst: v4('10.0.0.2'), icmpType: 8, icmpCode: 0,
        icmpId: 7 } },
    {
      name: 'icmpv6',
      input: { ...icmp, protocol: 'icmpv6', src: '::1', dst: 'fe80::1', type: 128 },
      native: {
        family: 10,
        protocol: 58,
        src: Buffer.from('00000000000000000000000000000001', 'hex'),
        dst: Buffer.from('fe800000000000000000000000000001', 'hex'),
        icmpType: 128,
        icmpCode: 0,
        icmpId: 7,
      },
    },
    { name: 'gre without keys', input: { protocol: 'gre', src: '10.0.0.1', dst: '10.0.0.2' },
      native: { family: 2, protocol: 47, src: v4('10.0.0.1'), dst: v4('10.0.0.2'), srcPort: 0, dstPort: 0 } },
    { name: 'numeric protocol', input: { protocol: 50, src: '10.0.0.1', dst: '10.0.0.2' },
      native: { family: 2, protocol: 50, src: v4('10.0.0.1'), dst: v4('10.0.0.2') } },
  ];
  test.each(good)('accepts $name', async ({ input, native }) => {
    rec.calls.length = 0;
    rec.tuples.length = 0;
    await expect(ct.get(input as never)).resolves.toBeNull();
    expect(rec.calls).toEqual(['get']);
    expect(rec.tuples).toHaveLength(1);
    const sent = rec.tuples[0]!;
    expect(Object.fromEntries(Object.entries(sent).filter(([, v]) => v !== undefined))).toEqual(native);
  });
});

// ---------------------------------------------------------------------------------------------
describe('a closed handle', () => {
  const isClosed = (e: unknown): void => {
    expect(e).toBeInstanceOf(ClosedError);
    expect((e as ClosedError).code).toBe('ERR_NFCT_CLOSED');
  };

  test('every method throws ClosedError after close(), and close() is idempotent', async () => {
    const ct = await Conntrack.open();
    const early = ct.list(); // made before close, iterated after
    const earlyBatches = ct.list();
    expect(ct.closed).toBe(false);
    await ct.close();
    expect(ct.closed).toBe(true);
    expect(() => ct.close()).not.toThrow();
    expect(() => ct.close()).not.toThrow();
    await expect(ct[Symbol.asyncDispose]()).resolves.toBeUndefined();
    expect(ct.closed).toBe(true);

    isClosed(await failure(() => ct.list()));
    // The closed check comes before validation: bad input on a closed handle is still "closed".
    isClosed(await failure(() => ct.list({ srcPort: -1 })));
    isClosed(
      await failure(() => ct.get({ protocol: 'tcp', src: '10.0.0.1', dst: '10.0.0.2', srcPort: 1, dstPort: 2 })),
    );
    isClosed(await failure(() => ct.count()));
    isClosed(await failure(() => ct.stats()));
    isClosed(
      await failure(async () => {
        for await (const f of early) void f;
      }),
    );
    isClosed(
      await failure(async () => {
        for await (const b of earlyBatches.batches()) void b;
      }),
    );
    isClosed(await failure(() => ct.list().toArray()));
  });

  test('asynchronous methods reject rather than throw synchronously', async () => {
    const ct = await Conntrack.open();
    await ct.close();
    for (const call of [() => ct.get({ protocol: 'udp', src: '::1', dst: '::1', srcPort: 1, dstPort: 2 }),
      () => ct.count(), () => ct.stats()])
    {
      let p: Promise<unknown> | undefined;
      expect(() => {
        p = call();
      }).not.toThrow();
      await expect(p).rejects.toBeInstanceOf(ClosedError);
    }
  });

  test('await using disposes the handle', async () => {
    let seen: Conntrack | undefined;
    {
      await using ct = await Conntrack.open();
      seen = ct;
      expect(ct.closed).toBe(false);
    }
    expect(seen.closed).toBe(true);
    isClosed(await failure(() => seen.count()));
  });
});
