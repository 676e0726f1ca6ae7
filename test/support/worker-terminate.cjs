// Run by test/core/lifecycle.test.ts in a child process (a crash must not take the test runner
// down): starts workers (support/nfct-worker.cjs) in a namespace, terminates them in the middle
// of their job, and reports on the main thread, one JSON object per line.
//   node worker-terminate.cjs LIB NS SCENARIO ROUNDS
//   paused    a dump paused mid-way, an idle event stream, an idle NFLOG subscription
//   inflight  a worker dumping non-stop; a worker reading an event burst (batches in flight)
//   control   a worker looping count(), stats(), get() and createMany() (promises settling)
// The last line is { done: true, fds: [before, after], threads: [before, after], dump } where
// dump counts the entries from 10.1.0.0/16 that a dump on the main thread sees at the end.
'use strict';
const { readdirSync } = require('node:fs');
const { join } = require('node:path');
const { setTimeout: sleep } = require('node:timers/promises');
const { Worker } = require('node:worker_threads');

const [lib, ns, scenario, roundsArg] = process.argv.slice(2);
const rounds = Number(roundsArg ?? 3);
const { Conntrack } = require(lib);
const WORKER = join(__dirname, 'nfct-worker.cjs');

const fds = () => readdirSync('/proc/self/fd').length;
const threads = () => readdirSync('/proc/self/task').length;
const report = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);

function start(job) {
  const w = new Worker(WORKER, { workerData: { lib, ns, job } });
  const messages = [];
  w.on('message', (m) => messages.push(m));
  w.on('error', (e) => messages.push({ error: String(e) }));
  const exited = new Promise((r) => w.once('exit', r));
  return { w, messages, exited };
}

async function until(worker, pred, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!worker.messages.some(pred)) {
    if (Date.now() > deadline) throw new Error(`worker never got there: ${JSON.stringify(worker.messages.slice(-3))}`);
    const err = worker.messages.find((m) => m.error);
    if (err) throw new Error(err.error);
    await sleep(2);
  }
}

async function terminate(worker, label, round) {
  const t = Date.now();
  const code = await worker.w.terminate();
  await worker.exited;
  report({ label, round, code, ms: Date.now() - t, messages: worker.messages.length });
}

async function gcSettle() {
  for (let i = 0; i < 3; i++) {
    global.gc?.();
    await sleep(20);
  }
}

async function main() {
  const ct = await Conntrack.open({ netns: ns });
  // Warm up: the first worker loads the addon, starts libuv's pool, and so on.
  const warm = start('dump');
  await warm.exited;
  await gcSettle();
  const before = [fds(), threads()];
  let burst = 0;
  for (let round = 0; round < rounds; round++) {
    if (scenario === 'paused') {
      const d = start('paused-dump');
      await until(d, (m) => m.paused);
      await sleep(100); // the reader has filled its credits and waits
      await terminate(d, 'paused dump', round);
      const e = start('events');
      await until(e, (m) => m.ready);
      await sleep(100);
      await terminate(e, 'idle event stream', round);
      const l = start('nflog');
      await until(l, (m) => m.ready);
      await sleep(100);
      await terminate(l, 'idle NFLOG subscription', round);
    } else if (scenario === 'inflight') {
      const d = start('dumps');
      await until(d, (m) => m.dumps >= 1);
      await sleep(round % 5);
      await terminate(d, 'dumping', round);
      const e = start('events');
      await until(e, (m) => m.ready);
      await sleep(50);
      const flows = [];
      for (let i = 0; i < 5000; i++) {
        flows.push({ protocol: 'udp', src: `10.${100 + (burst % 100)}.${i >> 8}.${i & 255}`, dst: '10.99.0.1',
          srcPort: 1, dstPort: 2, timeout: 30 });
      }
      burst++;
      const creating = ct.createMany(flows);
      await until(e, (m) => m.event);
      await terminate(e, 'event burst', round);
      await creating;
      await ct.deleteWhere({ dst: '10.99.0.1' });
    } else if (scenario === 'control') {
      const c = start('control');
      await until(c, (m) => m.looping);
      await sleep(round % 7);
      await terminate(c, 'control loop', round);
    } else {
      throw new Error(`unknown scenario ${scenario}`);
    }
  }
  await gcSettle();
  const after = [fds(), threads()];
  let dump = 0;
  for await (const _ of ct.list({ src: '10.1.0.0/16' })) dump++;
  ct.close();
  report({ done: true, fds: [before[0], after[0]], threads: [before[1], after[1]], dump });
}

main().then(
  () => process.exit(0),
  (e) => {
    report({ failed: String(e && e.stack ? e.stack : e) });
    process.exit(1);
  },
);
