// A worker_threads script for test/core/lifecycle.test.ts: loads the library bundle (support/bundle.ts)
// and runs one job in a namespace, reporting to the parent with postMessage.
//   workerData: { lib, ns, job }
//   dump         open, dump the whole table, post { count, distinct }, close, end
//   paused-dump  dump 100 entries a batch, post { paused } after 500 and stop consuming
//   dumps        dump the table again and again, posting { dumps } after each, until terminated
//   events       post { ready }, then { event } for each event, until terminated
//   nflog        subscribe to NFLOG group 30, post { ready }, then { packet } for each
//   control      count(), stats(), get() and createMany() in a loop, posting { looping } once,
//                until terminated (promises are settling when the worker goes)
'use strict';
const { parentPort, workerData } = require('node:worker_threads');

const { Conntrack, Nflog } = require(workerData.lib);
const { ns, job } = workerData;

async function main() {
  const ct = await Conntrack.open({ netns: ns });
  if (job === 'dump') {
    const seen = new Set();
    let count = 0;
    for await (const f of ct.list()) {
      count++;
      seen.add(`${f.original.src} ${f.original.srcPort}`);
    }
    ct.close();
    parentPort.postMessage({ count, distinct: seen.size });
  } else if (job === 'paused-dump') {
    let n = 0;
    for await (const _ of ct.list({ batchSize: 100 })) {
      if (++n === 500) {
        parentPort.postMessage({ paused: n });
        await new Promise(() => setInterval(() => {}, 1000)); // stays here until terminated
      }
    }
  } else if (job === 'dumps') {
    for (let dumps = 1;; dumps++) {
      for await (const _ of ct.list()) {
        // consume
      }
      parentPort.postMessage({ dumps });
    }
  } else if (job === 'events') {
    const stream = ct.events();
    parentPort.postMessage({ ready: true });
    for await (const e of stream) parentPort.postMessage({ event: e.type });
  } else if (job === 'nflog') {
    const nf = await Nflog.open({ netns: ns });
    const stream = nf.subscribe({ group: 30 });
    parentPort.postMessage({ ready: true });
    for await (const e of stream) parentPort.postMessage({ packet: e.type });
  } else if (job === 'control') {
    const tuple = { protocol: 'udp', src: '10.1.0.1', dst: '10.2.0.1', srcPort: 1, dstPort: 2 };
    const flows = [{ ...tuple, src: '10.98.0.1', timeout: 30 }];
    for (let i = 0;; i++) {
      await Promise.all([ct.count(), ct.stats(), ct.get(tuple), ct.createMany(flows, { ifExists: 'skip' })]);
      if (i === 0) parentPort.postMessage({ looping: true });
    }
  } else {
    throw new Error(`unknown job ${job}`);
  }
}

main().catch((e) => parentPort.postMessage({ error: String(e && e.stack ? e.stack : e) }));
