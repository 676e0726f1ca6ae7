// NFLOG options are refused with a TypeError/RangeError naming the option, before any socket.
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';

import { addon } from '../../lib/core/native.js';
import { Nflog } from '../../lib/index.js';
import { type BadCase, expectRefused, failure } from '../support/recorder.js';

let nf: Nflog;
const calls: string[] = [];

beforeAll(async () => {
  // A native handle that records instead of binding anything.
  vi.spyOn(addon, 'openNflog').mockImplementation(async () => ({
    subscribe: () => {
      calls.push('subscribe');
      throw new Error('test recorder: subscribe() must not be reached');
    },
    close: () => calls.push('close'),
  }));
  nf = await Nflog.open();
});
afterAll(async () => {
  await nf?.close();
  vi.restoreAllMocks();
});

const cases: BadCase[] = [
  { name: 'no group', input: {}, error: TypeError, names: 'options.group' },
  { name: 'group out of range', input: { group: 65536 }, error: RangeError, names: 'options.group' },
  { name: 'group not an integer', input: { group: 1.5 }, error: TypeError, names: 'options.group' },
  { name: 'copy', input: { group: 1, copy: 'all' }, error: TypeError, names: 'options.copy' },
  { name: 'copy as Object property', input: { group: 1, copy: 'toString' }, error: TypeError, names: 'options.copy' },
  { name: 'range', input: { group: 1, range: 70000 }, error: RangeError, names: 'options.range' },
  { name: 'bufferSize', input: { group: 1, bufferSize: 10 }, error: RangeError, names: 'options.bufferSize' },
  { name: 'maxBufferSize below bufferSize', input: { group: 1, bufferSize: 1 << 20, maxBufferSize: 8192 },
    error: RangeError, names: 'maxBufferSize' },
  { name: 'nlbufsiz', input: { group: 1, nlbufsiz: 1 }, error: RangeError, names: 'options.nlbufsiz' },
  { name: 'qthreshold', input: { group: 1, qthreshold: 0 }, error: RangeError, names: 'options.qthreshold' },
  { name: 'timeout type', input: { group: 1, timeout: '1s' }, error: TypeError, names: 'options.timeout' },
  { name: 'timeout negative', input: { group: 1, timeout: -1 }, error: RangeError, names: 'options.timeout' },
  { name: 'sequence', input: { group: 1, sequence: 'yes' }, error: TypeError, names: 'options.sequence' },
  { name: 'conntrack', input: { group: 1, conntrack: 1 }, error: TypeError, names: 'options.conntrack' },
  { name: 'signal', input: { group: 1, signal: 'abort' }, error: TypeError, names: 'options.signal' },
  { name: 'unknown key', input: { group: 1, prefix: 'x' }, error: TypeError, names: "'prefix'" },
  { name: 'not an object', input: 5, error: TypeError, names: 'subscribe() options' },
];

describe('subscribe() options', () => {
  for (const c of cases) {
    test(c.name, async () => {
      calls.length = 0;
      expectRefused(await failure(() => nf.subscribe(c.input as never)), c);
      expect(calls).toEqual([]);
    });
  }

  test('Nflog.open refuses bad options before opening anything', async () => {
    expectRefused(await failure(() => Nflog.open({ netns: '../x' })), { name: 'netns', input: 0, error: TypeError,
      names: 'netns' });
    expectRefused(await failure(() => Nflog.open({ ns: 'x' } as never)), { name: 'key', input: 0, error: TypeError,
      names: "'ns'" });
  });

  test('after close() subscribe() throws ClosedError; close() is idempotent', async () => {
    const h = await Nflog.open();
    await h.close();
    await h.close();
    expect(() => h.subscribe({ group: 1 })).toThrow(expect.objectContaining({ code: 'ERR_NFCT_CLOSED' }));
  });
});
