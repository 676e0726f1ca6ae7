// Changing the table refuses bad input with a TypeError/RangeError naming the field, before
// anything reaches the kernel.
import { describe, expect, test } from 'vitest';

import { Conntrack } from '../../lib/index.js';
import { type BadCase, expectRefused, failure, type Recorder, useRecorded } from '../support/recorder.js';

let ct: Conntrack;
let rec: Recorder;

useRecorded((c, r) => ((ct = c), (rec = r)));

const ok = { protocol: 'tcp', src: '10.0.0.1', dst: '10.0.0.2', srcPort: 1, dstPort: 2, timeout: 60 };

const createCases: BadCase[] = [
  { name: 'no timeout', input: { ...ok, timeout: undefined }, error: TypeError, names: 'flow.timeout' },
  { name: 'negative timeout', input: { ...ok, timeout: -1 }, error: RangeError, names: 'flow.timeout' },
  { name: 'port out of range', input: { ...ok, dstPort: 70000 }, error: RangeError, names: 'flow.dstPort' },
  { name: 'missing port', input: { ...ok, srcPort: undefined }, error: TypeError, names: 'flow.srcPort' },
  { name: 'bad address', input: { ...ok, src: '10.0.0.300' }, error: TypeError, names: 'flow.src' },
  { name: 'mixed families', input: { ...ok, dst: '::1' }, error: TypeError, names: 'same family' },
  { name: 'unknown key', input: { ...ok, Mark: 1 }, error: TypeError, names: "'Mark'" },
  { name: 'unknown status', input: { ...ok, status: 'FAST' }, error: TypeError, names: 'flow.status' },
  { name: 'mark too big', input: { ...ok, mark: 2 ** 32 }, error: RangeError, names: 'flow.mark' },
  { name: 'label out of range', input: { ...ok, labels: [128] }, error: RangeError, names: 'flow.labels' },
  { name: 'TCP state on UDP', input: { ...ok, protocol: 'udp', state: 'ESTABLISHED' }, error: TypeError,
    names: 'flow.state' },
  { name: 'unknown TCP state', input: { ...ok, state: 'OPEN' }, error: TypeError,
    names: /\.state: unknown TCP state "OPEN" \(one of NONE, SYN_SENT, SYN_RECV, ESTABLISHED, /u },
  { name: 'vtag on TCP', input: { ...ok, vtag: { original: 1, reply: 2 } }, error: TypeError, names: 'flow.vtag' },
  { name: 'NAT address of another family', input: { ...ok, dnat: { address: '::1' } }, error: TypeError,
    names: 'flow.dnat.address' },
  { name: 'NAT port out of range', input: { ...ok, snat: { address: '10.9.9.9', port: 65536 } }, error: RangeError,
    names: 'flow.snat.port' },
  { name: 'reply with NAT', input: { ...ok, dnat: { address: '10.9.9.9' }, reply: { src: '10.9.9.9' } },
    error: TypeError, names: 'reply or snat/dnat' },
  { name: 'bad reply address', input: { ...ok, reply: { src: 'x' } }, error: TypeError, names: 'flow.reply.src' },
  { name: 'unknown reply key', input: { ...ok, reply: { sport: 1 } }, error: TypeError, names: "'sport'" },
  { name: 'zone and replyZone', input: { ...ok, zone: 1, replyZone: 2 }, error: TypeError, names: 'replyZone' },
  // The kernel refuses both (EINVAL): said before the request.
  { name: 'origZone and replyZone', input: { ...ok, origZone: 1, replyZone: 2 }, error: TypeError,
    names: 'the kernel takes origZone or replyZone, not both' },
  { name: 'ICMP error type without reply',
    input: { protocol: 'icmp', src: '10.0.0.1', dst: '10.0.0.2', type: 3, code: 1, id: 0, timeout: 5 },
    error: TypeError, names: 'reply.type' },
  { name: 'helper name', input: { ...ok, helper: 'no such/helper' }, error: TypeError, names: 'flow.helper' },
  // A Flow read from the table (original and status) whose tuples are not objects.
  { name: "a Flow's original that is no tuple", input: { original: null, reply: {}, status: {}, timeout: 5 },
    error: TypeError, names: 'flow.original must be a tuple object' },
  { name: "a Flow's original that is a number", input: { original: 5, reply: {}, status: {}, timeout: 5 },
    error: TypeError, names: "flow.original must be a tuple object (a Flow's), got 5" },
  { name: "a Flow's reply that is no tuple", input: { original: { src: '10.0.0.1' }, reply: 7, status: {}, timeout: 5 },
    error: TypeError, names: 'flow.reply must be a tuple object' },
  { name: "a Flow's reply that is null", input: { original: { src: '10.0.0.1' }, reply: null, status: {}, timeout: 5 },
    error: TypeError, names: "flow.reply must be a tuple object (a Flow's), got null" },
];

describe('create(), add() and createMany()', () => {
  for (const c of createCases) {
    test(c.name, async () => {
      rec.calls.length = 0;
      expectRefused(await failure(() => ct.create(c.input as never)), c);
      expectRefused(await failure(() => ct.add(c.input as never)), c);
      const many = { ...c, names: typeof c.names === 'string' ? c.names.replace('flow.', 'flows[1].') : c.names };
      expectRefused(await failure(() => ct.createMany([ok, c.input] as never)), many);
      expect(rec.calls).toEqual([]);
    });
  }

  test('a valid flow reaches native code normalised, reply swapped, CONFIRMED left to native', async () => {
    rec.calls.length = 0;
    rec.specs.length = 0;
    await ct.create({ ...ok, protocol: 'tcp', state: 'ESTABLISHED', status: 'ASSURED', mark: 7 });
    expect(rec.calls).toEqual(['create']);
    const spec = rec.specs[0]!;
    expect(spec.reply).toMatchObject({ srcPort: 2, dstPort: 1 });
    expect([...spec.reply!.src]).toEqual([10, 0, 0, 2]);
    expect(spec).toMatchObject({ timeout: 60, mark: 7, status: 4, tcpState: 3 });
  });

  test('the first state of each list is a state too: TCP and SCTP NONE are state 0', async () => {
    rec.specs.length = 0;
    await ct.create({ ...ok, protocol: 'tcp', state: 'NONE' });
    await ct.create({ ...ok, protocol: 'sctp', state: 'NONE', vtag: { original: 1, reply: 2 } });
    expect(rec.specs.map((s) => [s.tcpState, s.sctpState])).toEqual([[0, undefined], [undefined, 0]]);
  });

  test('createMany() takes only iterables', async () => {
    for (const bad of [null, 5, { length: 1 }]) {
      expectRefused(await failure(() => ct.createMany(bad as never)), { name: 'iterable', input: bad, error: TypeError,
        names: 'createMany() flows' });
    }
    expectRefused(await failure(() => ct.createMany([], { batchSize: 0 })), { name: 'batchSize', input: 0,
      error: RangeError, names: 'batchSize' });
    expectRefused(await failure(() => ct.createMany([], { ifExists: 'replace' as never })), { name: 'ifExists',
      input: 0, error: TypeError, names: 'ifExists' });
  });
});

describe('update()', () => {
  const target = { protocol: 'tcp' as const, src: '10.0.0.1', dst: '10.0.0.2', srcPort: 1, dstPort: 2 };
  const cases: BadCase[] = [
    { name: 'nothing to change', input: {}, error: TypeError, names: 'nothing to change' },
    { name: 'unknown change', input: { zone: 3 }, error: TypeError, names: "'zone'" },
    { name: 'mark mask missing', input: { mark: { value: 1 } }, error: TypeError, names: 'mark.mask' },
    { name: 'label both added and removed', input: { labels: { add: [1], remove: [1] } }, error: TypeError,
      names: 'both added and removed' },
    { name: 'label out of range', input: { labels: { add: 200 } }, error: RangeError, names: 'labels.add' },
    { name: 'bad timeout', input: { timeout: 1.5 }, error: TypeError, names: 'changes.timeout' },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      rec.calls.length = 0;
      expectRefused(await failure(() => ct.update(target, c.input as never)), c);
      expect(rec.calls).toEqual([]);
    });
  }
  test('a bad target is refused too', async () => {
    expectRefused(await failure(() => ct.update({ ...target, srcPort: -1 }, { mark: 1 })), { name: 't', input: 0,
      error: RangeError, names: 'update() target.srcPort' });
  });
});

describe('delete(), deleteWhere(), flush() and expectations', () => {
  test('each names what is wrong', async () => {
    rec.calls.length = 0;
    const cases: [() => unknown, BadCase][] = [
      [() => ct.delete({ id: -1 }), { name: 'id', input: 0, error: RangeError, names: 'delete() target.id' }],
      [() => ct.delete({ protocol: 'udp', src: '1.2.3.4' } as never), { name: 'dst', input: 0, error: TypeError,
        names: 'delete() target.dst' }],
      [() => ct.deleteWhere({ srcport: 1 } as never), { name: 'key', input: 0, error: TypeError,
        names: "did you mean 'srcPort'" }],
      // eslint-disable-next-line @typescript-eslint/no-deprecated -- the old form's options are what is checked
      [() => ct.deleteWhere({}, { dryrun: true } as never), { name: 'opt', input: 0, error: TypeError,
        names: "'dryrun'" }],
      // eslint-disable-next-line @typescript-eslint/no-deprecated -- the old form's options are what is checked
      [() => ct.deleteWhere({}, { dryRun: 1 } as never), { name: 'dryRun', input: 0, error: TypeError,
        names: 'options.dryRun' }],
      // A Flow (original and status) whose original tuple is no object.
      [() => ct.delete({ original: 'x', status: {} } as never), { name: 'original', input: 0, error: TypeError,
        names: /^delete\(\) target\.original must be a tuple object \(a Flow's\), got "x"$/ }],
      [() => ct.flush({ family: 'ipx' } as never), { name: 'family', input: 0, error: TypeError, names: 'family' }],
      [() => ct.flush({ mark: 1 } as never), { name: 'key', input: 0, error: TypeError, names: "'mark'" }],
      [() => ct.expectations.create({ master: {}, tuple: {}, timeout: 1 } as never), { name: 'master', input: 0,
        error: TypeError, names: 'expectations.create().master' }],
      [() => ct.expectations.flush({ helper: '' }), { name: 'helper', input: 0, error: TypeError,
        names: 'options.helper' }],
      [() => ct.expectations.list({ family: 'x' } as never), { name: 'family', input: 0, error: TypeError,
        names: 'filter.family' }],
    ];
    for (const [fn, c] of cases) expectRefused(await failure(fn), c);
    expect(rec.calls).toEqual([]);
  });
});

describe('events() options', () => {
  const cases: BadCase[] = [
    { name: 'unknown type', input: { types: ['create'] }, error: TypeError, names: 'options.types' },
    { name: 'empty types', input: { types: [] }, error: TypeError, names: 'options.types' },
    { name: 'tiny buffer', input: { bufferSize: 100 }, error: RangeError, names: 'options.bufferSize' },
    { name: 'max below start', input: { bufferSize: 1 << 20, maxBufferSize: 1 << 16 }, error: RangeError,
      names: 'maxBufferSize' },
    { name: 'queue bound', input: { maxQueueBytes: 1000 }, error: RangeError, names: 'options.maxQueueBytes' },
    { name: 'resync', input: { resync: 'yes' }, error: TypeError, names: 'options.resync' },
    { name: 'signal', input: { signal: {} }, error: TypeError, names: 'options.signal' },
    { name: 'filter field', input: { srcPort: 70000 }, error: RangeError, names: 'options.srcPort' },
    { name: 'unknown key', input: { type: 'new' }, error: TypeError, names: "'type'" },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      rec.calls.length = 0;
      expectRefused(await failure(() => ct.events(c.input as never)), c);
      expect(rec.calls).toEqual([]);
    });
  }
});
