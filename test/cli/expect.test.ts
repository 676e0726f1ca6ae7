// nfct against conntrack on the expectation table: -L expect in every -o mode.
// Both programs read the same namespace, whose expectations the library makes on masters
// that have the ftp helper.
import { resolve } from 'node:path';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { Conntrack, type ExpectationInput } from '../../lib/index.js';
import { createNetns, type Netns, setSysctl } from '../helpers/netns.js';
import { runConntrack } from '../oracle/conntrack-cli.js';

const MAIN = resolve(__dirname, '../../dist/cli/main.js');
const SENTINEL = '10.77.7.7';

let ns: Netns;
let ct: Conntrack;

const master = (src: string, srcPort: number) => ({ protocol: 'tcp' as const, src, dst: '10.70.0.2', srcPort, dstPort: 21 });
const expected = (m: ReturnType<typeof master>, dport: number, extra: Partial<ExpectationInput> = {}): ExpectationInput => ({
  master: m,
  tuple: { protocol: 'tcp', src: m.dst, dst: m.src, srcPort: 0, dstPort: dport },
  mask: { srcPort: 0 },
  timeout: 300,
  ...extra,
});

async function nfct(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return ns.exec('node', [MAIN, ...args]);
}

/** What may differ between two runs a moment apart: timeouts, times, the program's name. */
function mask(text: string): string {
  return text
    .replace(/^\[\d{10}\.[\d ]{6}\]\t/gm, '[T]\t')
    .replace(/^((?:\[T\]\t)?(?: *\[NEW\] |\[DESTROY\] )?)\d+ proto=/gm, '$1N proto=')
    .replace(/<timeout>\d+<\/timeout>/g, '<timeout>N</timeout>')
    .replace(/<when>.*?<\/when>/g, '<when/>')
    .replace(/conntrack v1\.4\.7 \(conntrack-tools\): /g, 'SIGNED: ')
    .replace(/nfct v\d+\.\d+\.\d+ \(conntrack-tools compatible\): /g, 'SIGNED: ');
}

beforeAll(async () => {
  ns = await createNetns('nfct-expcli');
  // Every master gets the event extension, whoever listened when it was made.
  await setSysctl(ns, 'net.netfilter.nf_conntrack_events', 1);
  ct = await Conntrack.open({ netns: ns.name });
  for (const m of [master(SENTINEL, 9), master('10.70.0.1', 40000), master('10.70.0.3', 40001), master('10.70.0.4', 40002)]) {
    await ct.create({ ...m, timeout: 600, state: 'ESTABLISHED', helper: 'ftp' });
  }
}, 60_000);

afterAll(async () => {
  ct?.close();
  await ns?.remove();
});

describe('-L expect', () => {
  test.each(['', 'xml', 'xml,id', 'xml,timestamp', 'timestamp', 'id', 'extended'])('-o %s: same stdout, stderr and exit status as conntrack', async (o) => {
    await ct.expectations.flush();
    await ct.expectations.create(expected(master('10.70.0.1', 40000), 50000));
    await ct.expectations.create(expected(master('10.70.0.3', 40001), 50001, { flags: ['PERMANENT'] }));
    const args = ['-L', 'expect', ...(o ? ['-o', o] : [])];
    const [theirs, mine] = [await runConntrack(ns, args, { env: { ...process.env, TZ: 'UTC' } }), await nfct(args)];
    expect(mine.code).toBe(theirs.code);
    const sorted = (s: string) => mask(s).split('\n').sort().join('\n');
    expect(sorted(mine.stdout)).toBe(sorted(theirs.stdout));
    expect(mask(mine.stderr)).toBe(mask(theirs.stderr));
    if (o.includes('xml')) expect(mine.stdout).toMatch(/^<\?xml version="1.0" encoding="utf-8"\?>\n<expect>\n<flow>.*<meta><helper-name>ftp<\/helper-name>/);
    if (o.includes('timestamp')) expect(theirs.stdout).toMatch(o.includes('xml') ? /<when>/ : /^\[\d+\.[\d ]+\]\t/);
  });
});
