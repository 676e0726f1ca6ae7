// nfct -L -z as conntrack -L -z: the listing shows the counters as they were, and the kernel
// zeroes them as it lists (conntrack -L, run afterwards, is the oracle), in a namespace with
// accounting on and real datagrams counted.
import { afterAll, beforeAll, expect, test } from 'vitest';

import { createNetns, type Netns } from '../helpers/netns.js';
import { execNfct } from '../helpers/nfct.js';
import { until } from '../helpers/sentinel.js';
import { runConntrack } from '../oracle/conntrack-cli.js';

let ns: Netns;

beforeAll(async () => {
  ns = await createNetns('nfct-zero', { sysctls: { 'net.netfilter.nf_conntrack_acct': 1 } });
});
afterAll(async () => {
  await ns?.remove();
});

/** The packet counters of the entry from 127.0.0.1:41100, as `conntrack -L -o extended` prints them. */
async function packets(): Promise<string[]> {
  const r = await runConntrack(ns, ['-L', '-p', 'udp', '--sport', '41100', '-o', 'extended']);
  return [...r.stdout.matchAll(/packets=(\d+)/g)].map((m) => m[1]!);
}

test('-L -z prints the counters, and the kernel has zeroed them after', async () => {
  await ns.execOk(process.execPath, ['-e',
    `const s=require('dgram').createSocket('udp4');s.bind(41100,'127.0.0.1',()=>{let n=0;const go=()=>n++<3?s.send('x',9,'127.0.0.1',go):s.close();go()})`]);
  await until(async () => (await packets())[0] === '3', 'conntrack -L to count the three datagrams');
  const r = await execNfct(['-L', '-z', '-o', 'extended'], { ns }); // (-z takes no filter)
  expect(r.code).toBe(0);
  expect([...r.stdout.matchAll(/packets=(\d+)/g)].map((m) => m[1])).toEqual(['3', '0']);
  expect(await packets()).toEqual(['0', '0']);
});
