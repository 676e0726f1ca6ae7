// The expectation table: what the library creates, conntrack -L expect shows; what conntrack
// flushes, the library no longer sees.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { Conntrack, type Expectation, type ExpectationInput, NfctError } from '../../lib/index.js';
import { createNetns, type Netns } from '../helpers/netns.js';
import { runConntrackOk } from '../oracle/conntrack-cli.js';

let ns: Netns;
let ct: Conntrack;

const master = { protocol: 'tcp' as const, src: '10.0.0.1', dst: '10.0.0.2', srcPort: 40000, dstPort: 21 };
const expected = (dport: number): ExpectationInput => ({
  master,
  tuple: { protocol: 'tcp', src: '10.0.0.2', dst: '10.0.0.1', srcPort: 0, dstPort: dport },
  mask: { srcPort: 0 },
  timeout: 120,
});

/** `conntrack -L expect` lines as key/value lists (keys repeat: sport/dport per tuple). */
async function oracle(): Promise<{ timeout: number; kv: [string, string][] }[]> {
  const r = await runConntrackOk(ns, ['-L', 'expect']);
  return r.stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [timeout, ...rest] = line.trim().split(/\s+/);
      return { timeout: Number(timeout),
        kv: rest.filter((t) => t.includes('=')).map((t) => t.split('=') as [string, string]) };
    });
}

function asOracle(e: Expectation): [string, string][] {
  const t = e.tuple as { srcPort: number; dstPort: number };
  const m = e.mask as { srcPort: number; dstPort: number };
  const ma = e.master as { srcPort: number; dstPort: number };
  return [
    ['proto', String(e.protonum)],
    ['src', e.tuple.src],
    ['dst', e.tuple.dst],
    ['sport', String(t.srcPort)],
    ['dport', String(t.dstPort)],
    ['mask-src', e.mask.src],
    ['mask-dst', e.mask.dst],
    ['sport', String(m.srcPort)],
    ['dport', String(m.dstPort)],
    ['master-src', e.master.src],
    ['master-dst', e.master.dst],
    ['sport', String(ma.srcPort)],
    ['dport', String(ma.dstPort)],
    ['class', String(e.class)],
    ['helper', e.helper ?? ''],
  ];
}

beforeAll(async () => {
  ns = await createNetns('nfct-expect');
  ct = await Conntrack.open({ netns: ns.name });
  // The master: an FTP control connection with the ftp helper attached.
  await ct.create({ ...master, timeout: 600, state: 'ESTABLISHED', helper: 'ftp' });
});
afterAll(async () => {
  await ct?.close();
  await ns?.remove();
});

describe('expectations', () => {
  test('one created for the FTP helper reads back through conntrack -L expect', async () => {
    await ct.expectations.create(expected(50000));
    const [line] = await oracle();
    const [mine] = await ct.expectations.list().toArray();
    expect(mine).toBeDefined();
    expect(line!.kv).toEqual(asOracle(mine!));
    expect(Math.abs(line!.timeout - mine!.timeout!)).toBeLessThanOrEqual(2);
    expect(mine).toMatchObject({ family: 'ipv4', protocol: 'tcp', helper: 'ftp' });
    expect(mine!.tuple).toMatchObject({ src: '10.0.0.2', dst: '10.0.0.1', srcPort: 0, dstPort: 50000 });
    expect(mine!.mask).toMatchObject({ src: '255.255.255.255', dst: '255.255.255.255', srcPort: 0, dstPort: 65535 });
  });

  test('get() finds it by its tuple; a missing one is null', async () => {
    const e = await ct.expectations.get({ protocol: 'tcp', src: '10.0.0.2', dst: '10.0.0.1', srcPort: 0,
      dstPort: 50000 });
    expect(e?.master).toMatchObject({ srcPort: 40000, dstPort: 21 });
    expect(await ct.expectations.get({ protocol: 'tcp', src: '10.0.0.2', dst: '10.0.0.1', srcPort: 0, dstPort: 1 }))
      .toBeNull();
  });

  test('create() of an existing one is EEXIST; without a master flow ENOENT', async () => {
    const dup = await ct.expectations.create(expected(50000)).catch((e: unknown) => e);
    expect((dup as NfctError).code).toBe('EEXIST');
    const orphan = await ct.expectations
      .create({ ...expected(50001), master: { ...master, srcPort: 1 } })
      .catch((e: unknown) => e);
    expect(orphan).toBeInstanceOf(NfctError);
    expect((orphan as NfctError).code).toBe('ENOENT');
  });

  test('an ICMP expected tuple: its mask fields are checked by name before anything is sent; the kernel takes none', async () => {
    const icmp = { ...expected(50002),
      tuple: { protocol: 'icmp' as const, src: master.dst, dst: master.src, type: 8, code: 0, id: 7 } };
    for (const [mask, message] of [
      [{ type: 256 }, 'expectations.create().mask.type must be between 0 and 255, got 256'],
      [{ code: -1 }, 'expectations.create().mask.code must be between 0 and 255, got -1'],
      [{ id: 65536 }, 'expectations.create().mask.id must be between 0 and 65535, got 65536'],
    ] as const) {
      await expect(ct.expectations.create({ ...icmp, mask })).rejects.toThrow(new RangeError(message));
    }
    // Well formed, it reaches the kernel, which makes no ICMP expectation.
    const refused = await ct.expectations.create({ ...icmp, mask: { type: 255, code: 255, id: 65535 } })
      .catch((e: unknown) => e);
    expect((refused as NfctError).code).toBe('EINVAL');
  });

  test('delete() removes it from conntrack -L expect', async () => {
    // The ftp helper keeps one expectation per master: a new one replaces the old.
    await ct.expectations.create(expected(50002));
    const [e] = await ct.expectations.list().toArray();
    expect((e!.tuple as { dstPort: number }).dstPort).toBe(50002);
    await ct.expectations.delete(e!);
    expect(await oracle()).toEqual([]);
    await ct.expectations.create(expected(50005));
    expect((await oracle()).length).toBe(1);
    await ct.expectations.delete({ protocol: 'tcp', src: '10.0.0.2', dst: '10.0.0.1', srcPort: 0, dstPort: 50005 });
    expect(await oracle()).toEqual([]);
    const missing = await ct.expectations.delete(e!).catch((x: unknown) => x);
    expect((missing as NfctError).code).toBe('ENOENT');
  });

  test('stats(): the per-CPU counters conntrack -S expect prints, counting what was made and removed', async () => {
    const parse = (text: string) =>
      text
        .trim()
        .split('\n')
        .map((line) =>
          Object.fromEntries(line.trim().split(/\s+/).map((kv) => kv.split('=')).map(([k, v]) => [k, Number(v)]))
        );
    const before = await ct.expectations.stats();
    expect(parse((await runConntrackOk(ns, ['-S', 'expect'])).stdout)).toEqual(before.map((r) => ({ ...r })));
    await ct.expectations.create(expected(50010));
    await ct.expectations.delete({ protocol: 'tcp', src: '10.0.0.2', dst: '10.0.0.1', srcPort: 0, dstPort: 50010 });
    const after = await ct.expectations.stats();
    expect(parse((await runConntrackOk(ns, ['-S', 'expect'])).stdout)).toEqual(after.map((r) => ({ ...r })));
    const sum = (rows: typeof after, k: 'expect_create' | 'expect_delete') => rows.reduce((n, r) => n + r[k], 0);
    expect(sum(after, 'expect_create') - sum(before, 'expect_create')).toBe(1);
    expect(sum(after, 'expect_delete') - sum(before, 'expect_delete')).toBe(1);
    expect(Object.keys(after[0]!)).toEqual(['cpu', 'expect_new', 'expect_create', 'expect_delete']);
  });

  test('conntrack -F expect is seen by the library; flush({ helper }) empties it too', async () => {
    await ct.expectations.create(expected(50003));
    await runConntrackOk(ns, ['-F', 'expect']);
    expect(await ct.expectations.list().toArray()).toEqual([]);
    await ct.expectations.create(expected(50004));
    await ct.expectations.flush({ helper: 'ftp' });
    expect(await oracle()).toEqual([]);
  });
});
