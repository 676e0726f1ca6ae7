// nfct -L with a filter the library cannot apply whole (an address and a mask): the entries are
// read in batches and checked one by one; over many batches, every match is listed, as
// conntrack lists them.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, expect, test } from 'vitest';

import { createNetns, type Netns } from '../helpers/netns.js';
import { execNfct } from '../helpers/nfct.js';
import { runConntrack } from '../oracle/conntrack-cli.js';

let ns: Netns;
let dir: string | undefined;

beforeAll(async () => {
  ns = await createNetns('nfct-lfilter');
  // 12,000 entries, half of them from 10.61.0.0/16: several of the library's batches.
  dir = await mkdtemp(join(tmpdir(), 'nfct-lfilter-'));
  const file = join(dir, 'entries');
  const at = (i: number) => `10.${60 + (i & 1)}.${(i >> 8) & 255}.${i & 255}`;
  await writeFile(file,
    `${
      Array.from({ length: 12000 }, (_, i) => `-I -p udp -s ${at(i)} -d 10.9.9.9 --sport 1 --dport 2 -t 300`).join('\n')
    }\n`);
  await runConntrack(ns, ['-R', file]);
}, 60_000);
afterAll(async () => {
  await ns?.remove();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('-L -s NET --mask-src MASK over many batches: the same entries as conntrack, each once', async () => {
  const args = ['-L', '-s', '10.61.0.0', '--mask-src', '255.255.0.0'];
  const theirs = await runConntrack(ns, args);
  const mine = await execNfct(args, { ns });
  const entries = (text: string) =>
    text.split('\n').filter(Boolean).map((l) => l.replace(/ \d+ src=/, ' T src=')).sort();
  expect(entries(theirs.stdout)).toHaveLength(6000);
  expect(entries(mine.stdout)).toEqual(entries(theirs.stdout));
  const unsigned = (text: string) => text.replace(/^(conntrack|nfct) v\S+ \(conntrack-tools(?: compatible)?\): /gm, '');
  expect(unsigned(theirs.stderr)).toBe('6000 flow entries have been shown.\n');
  expect(unsigned(mine.stderr)).toBe(unsigned(theirs.stderr));
});
