// TableCounter (the count nfct -C makes on its thread): the same native requests as
// Conntrack.open() and count(), run on the calling thread, answering as conntrack -C does and
// failing with the same NfctError, thrown at once instead of rejected.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { TableCounter } from '../../lib/conntrack/count-now.js';
import { NfctError } from '../../lib/core/errors.js';
import { addon } from '../../lib/core/native.js';
import { Conntrack } from '../../lib/index.js';
import { createNetns, type Netns } from '../helpers/netns.js';
import { loadEntries, runConntrack } from '../oracle/conntrack-cli.js';

let ns: Netns;

beforeAll(async () => {
  ns = await createNetns('nfct-countnow');
  await loadEntries(ns,
    Array.from({ length: 4 },
      (_, i) => ({ proto: 'udp', src: `10.0.0.${i + 1}`, dst: '10.0.1.1', sport: 1000, dport: 53, timeout: 600 })));
}, 60_000);

afterAll(async () => {
  await ns?.remove();
});

describe('TableCounter', () => {
  test('counts what conntrack -C and Conntrack.count() count, in the namespace named', async () => {
    const counter = TableCounter.open(ns.name);
    let n: number;
    try {
      n = counter.count();
    } finally {
      counter.close();
    }
    const ct = await Conntrack.open({ netns: ns.name });
    const viaPromise = await ct.count().finally(() => ct.close());
    const oracle = await runConntrack(ns, ['-C']);
    expect(n).toBe(4);
    expect(viaPromise).toBe(4);
    expect(oracle.stdout).toBe('4\n');
  });

  test('a namespace that is not there: the NfctError Conntrack.open() rejects with, thrown', async () => {
    let thrown: unknown;
    try {
      TableCounter.open('nfct-no-such-netns');
    } catch (e) {
      thrown = e;
    }
    const rejected = await Conntrack.open({ netns: 'nfct-no-such-netns' }).catch((e: unknown) => e);
    expect(thrown).toBeInstanceOf(NfctError);
    expect(rejected).toBeInstanceOf(NfctError);
    const [a, b] = [thrown as NfctError, rejected as NfctError];
    expect({ code: a.code, syscall: a.syscall, detail: a.detail, message: a.message }).toEqual({ code: b.code,
      syscall: b.syscall, detail: b.detail, message: b.message });
    expect(a.code).toBe('ENOENT');
  });

  test('a bad namespace name is the TypeError Conntrack.open() gives, before any syscall', async () => {
    expect(() => TableCounter.open('../x')).toThrow(TypeError);
    await expect(Conntrack.open({ netns: '../x' })).rejects.toThrow(TypeError);
  });

  test('the native countNow() on a closed socket throws the NfctError count() rejects with (EBADF)', async () => {
    const native = addon.openConntrackNow(null);
    native.close();
    expect(() => native.countNow()).toThrow(NfctError);
    try {
      native.countNow();
    } catch (e) {
      expect((e as NfctError).code).toBe('EBADF');
    }
    await expect(native.count()).rejects.toMatchObject({ code: 'EBADF' });
    const counter = TableCounter.open();
    counter.close();
    expect(() => counter.count()).toThrow(/after close/);
  });
});
