// close() frees a stream's native memory at once (its reader, decoder and pooled batches), not
// when the garbage collector gets to the stream object: V8 does not see that memory, so a
// process that opens and closes streams (the exporter, for namespaces that come and go) grew
// by it until a major collection. Here the closed streams stay referenced, as garbage not yet
// collected is: the process must not grow with them. Their figures stay readable after close().
import { readFileSync } from 'node:fs';

import { afterAll, beforeAll, expect, test } from 'vitest';

import { Conntrack } from '../../lib/index.js';
import { createNetns, type Netns } from '../helpers/netns.js';
import { udpEntries } from '../helpers/streams.js';

let ns: Netns;
let ct: Conntrack;

beforeAll(async () => {
  ns = await createNetns('nfct-closefree');
  ct = await Conntrack.open({ netns: ns.name });
});
afterAll(async () => {
  ct?.close();
  await ns?.remove();
});

const rssMiB = (): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1]) / 1024;

test('120 event streams, each fed 4,000 events then closed and kept: memory does not grow with them; stats() still reads', async () => {
  const kept: ReturnType<Conntrack['events']>[] = [];
  const round = async (): Promise<void> => {
    const stream = ct.events({ types: ['new', 'destroy'] });
    let seen = 0;
    const consumer = (async () => {
      for await (const e of stream) if ((e.type === 'new' || e.type === 'destroy') && ++seen === 4000) break;
    })();
    expect((await ct.createMany(udpEntries(2000), { batchSize: 2000 })).created).toBe(2000);
    await ct.flush();
    await consumer;
    stream.close();
    kept.push(stream);
  };
  // Warm-up: the allocator's and V8's working sizes settle first.
  for (let i = 0; i < 20; i++) await round();
  const before = rssMiB();
  for (let i = 0; i < 100; i++) await round();
  const grown = rssMiB() - before;
  // Each stream pooled up to 4 MiB of spent batches for reuse: kept until garbage collection,
  // a hundred of them were hundreds of MiB.
  expect(grown, `RSS grew by ${grown.toFixed(1)} MiB over 100 closed streams`).toBeLessThan(48);
  const last = kept.at(-1)!.stats;
  expect(last.received).toBeGreaterThanOrEqual(4000);
  expect(last.peakRecords).toBeGreaterThan(0);
  expect(kept).toHaveLength(120);
}, 240_000);
