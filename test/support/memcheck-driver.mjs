// Drives every native path of the addon once or a few times, for the memory checkers
// (scripts/valgrind.sh runs it under valgrind memcheck, scripts/asan.sh under ASan +
// LeakSanitizer). vitest under valgrind would take hours; this takes a minute or two.
//
//   node --expose-gc test/support/memcheck-driver.mjs [kernel|fuzz|all]   (as root)
//
// It loads the built dist/ (npm run build:ts), so NFCT_ADDON picks the addon build to check.
// `kernel`: handles, dumps (with and without filters, early break, small batches), get, count,
// stats, aggregate, create/add/update/delete/createMany/deleteWhere/flush, expectations, events (kernel
// filter, expectation events, an overrun with resync), NFLOG with traffic, trace events (with
// the nf_log backend bound), the kernel log (/dev/kmsg and files), streams and handles dropped
// to the garbage collector, and a worker
// thread terminated with readers running (the addon's per-environment cleanup hook).
// Everything happens in a network namespace of its own (`nfct-memcheck-<pid>-<hex>`, which
// test/helpers' leftover clean-up also recognises), removed at the end, also on failure or
// SIGINT/SIGTERM; traffic goes only to its loopback. `fuzz`: decodeForTest() on random and
// malformed messages of every kind, decodeLogLines() on mangled kernel log lines. The process ends by draining its event loop, never by
// process.exit(), so node tears its environment down and a leak checker sees only real leaks.
//
// Exit status 0 when every path ran; 1 with the list of the ones that did not (a path that
// did not run is not checked, so it counts as a failure of the run).
import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

const require = createRequire(import.meta.url);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const lib = require(`${ROOT}dist/index.js`);
const { addon } = require(`${ROOT}dist/core/native.js`);
const { Conntrack, Nflog, Trace } = lib;

const part = process.argv[2] ?? 'all';
if (!['kernel', 'fuzz', 'all'].includes(part)) {
  console.error('usage: memcheck-driver.mjs [kernel|fuzz|all]');
  process.exitCode = 2;
}
const gc = typeof globalThis.gc === 'function' ? globalThis.gc : () => {};

// ---- bookkeeping ----------------------------------------------------------------------------

const ran = new Map(); // path -> note
const missed = [];
const t0 = Date.now();
const say = (msg) => console.log(`[memcheck-driver +${((Date.now() - t0) / 1000).toFixed(1)}s] ${msg}`);

// NFCT_MEMCHECK_ONLY=REGEX runs only the steps whose names match (for debugging the driver).
const only = process.env.NFCT_MEMCHECK_ONLY ? new RegExp(process.env.NFCT_MEMCHECK_ONLY) : undefined;

async function step(name, fn) {
  if (only && !only.test(name) && !/open and close/.test(name)) return;
  const started = Date.now();
  try {
    const note = await fn();
    ran.set(name, note ?? '');
    say(`ok   ${name}${note ? `: ${note}` : ''} (${Date.now() - started} ms)`);
  } catch (err) {
    missed.push(`${name}: ${err?.stack ?? err}`);
    say(`FAIL ${name}: ${err?.message ?? err}`);
  }
}

/** Resolves with the rejection of `p` (which must reject), for the error paths. */
async function rejects(p, code) {
  try {
    await p;
  } catch (err) {
    if (code && err.code !== code) throw new Error(`expected ${code}, got ${err.code}: ${err.message}`, { cause: err });
    return err;
  }
  throw new Error(`expected a rejection${code ? ` with ${code}` : ''}`);
}

function throws(fn) {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

/** Collects from an async iterable until `until(item, items)` or `ms` pass, then closes it. */
async function collect(stream, until, ms = 15000) {
  const items = [];
  const timer = setTimeout(() => stream.close(), ms);
  try {
    for await (const item of stream) {
      items.push(item);
      if (until(item, items)) {
        // close() first: leaving trace.packets() with break alone waits for its next event.
        stream.close?.();
        break;
      }
    }
  } finally {
    clearTimeout(timer);
    stream.close?.();
  }
  return items;
}

// ---- the namespace --------------------------------------------------------------------------

const NS = `nfct-memcheck-${process.pid}-${randomBytes(3).toString('hex')}`;
let nsMade = false;

function runSync(cmd, args, input) {
  const r = spawnSync(cmd, args, { input, encoding: 'utf8', timeout: 60000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.status ?? r.signal}: ${r.stderr}`);
  return r.stdout;
}
const inNs = (cmd, args = [], input) => runSync('ip', ['netns', 'exec', NS, cmd, ...args], input);

/** Runs a command in the namespace without blocking the event loop (readers keep draining). */
function inNsAsync(cmd, args = []) {
  return new Promise((resolve, reject) => {
    execFile('ip', ['netns', 'exec', NS, cmd, ...args], { timeout: 60000 },
      (err, stdout, stderr) =>
        err ? reject(new Error(`${cmd} ${args.join(' ')}: ${stderr || err.message}`)) : resolve(stdout));
  });
}

function removeNs() {
  if (!nsMade) return;
  nsMade = false;
  spawnSync('ip', ['netns', 'delete', NS]);
}
process.on('exit', removeNs);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    removeNs();
    process.kill(process.pid, sig);
  });
}

const RULES = `table inet memcheck {
  chain out {
    type filter hook output priority 0; policy accept;
    ct state new counter
    meta mark 0x7f7f7f7f ct label set 127
    ip daddr 127.0.0.1 meta l4proto { icmp, udp } log group 5 prefix "mc5: "
    ip daddr 127.0.0.1 meta l4proto icmp log group 6 prefix "mc6: "
    ip daddr 127.0.0.1 udp dport 7777 log group 0 prefix "TRACE: raw:OUTPUT:rule:1 "
  }
}
table ip memtrace {
  chain c1 { ip protocol udp counter; return; }
  chain c2 { udp dport 7777 accept; }
  chain output {
    type filter hook output priority 1; policy accept;
    udp dport 7777 meta nftrace set 1
    jump c1
    ip daddr 127.0.0.1 goto c2
  }
}
`;

function makeNs() {
  runSync('ip', ['netns', 'add', NS]);
  nsMade = true;
  runSync('ip', ['-n', NS, 'link', 'set', 'lo', 'up']);
  inNs('nft', ['-f', '-'], RULES);
  for (const [k, v] of [['net.netfilter.nf_conntrack_acct', 1], ['net.netfilter.nf_conntrack_timestamp', 1]]) {
    spawnSync('ip', ['netns', 'exec', NS, 'sysctl', '-q', '-w', `${k}=${v}`]);
  }
}

const udpTo = (port, count = 1) =>
  inNsAsync('bash', ['-c', `for i in $(seq ${count}); do echo memcheck > /dev/udp/127.0.0.1/${port}; done`]);
const ping = (count = 2) =>
  inNsAsync('ping', ['-c', String(count), '-i', '0.2', '-W', '1', '127.0.0.1']).catch(() => '');

// ---- the kernel part -------------------------------------------------------------------------

const base = { protocol: 'tcp', src: '10.0.0.1', dst: '10.0.0.2', srcPort: 1000, dstPort: 80, timeout: 3600 };

async function kernelPart() {
  makeNs();
  say(`netns ${NS}`);
  let ct;

  await step('open and close handles', async () => {
    const a = await Conntrack.open({ netns: NS });
    const b = await Conntrack.open({ netns: `/run/netns/${NS}` });
    await a.count();
    a.close();
    a.close(); // idempotent
    throws(() => a.list());
    await rejects(Promise.resolve().then(() => a.count()));
    b.close();
    await rejects(Conntrack.open({ netns: 'nfct-memcheck-no-such-netns' }), 'ENOENT');
    const n = await Nflog.open({ netns: NS });
    n.close();
    n.close();
    throws(() => n.subscribe({ group: 9 }));
    ct = await Conntrack.open({ netns: NS });
  });
  if (!ct) return;

  await step('create, add (existing), create (EEXIST)', async () => {
    await ct.create({ ...base, state: 'ESTABLISHED', status: 'ASSURED', mark: 42 });
    await ct.create({ protocol: 'icmp', src: '10.0.0.1', dst: '10.0.0.2', type: 8, code: 0, id: 9, timeout: 3600 });
    await ct.create({ protocol: 'udp', src: 'fd00::1', dst: 'fd00::2', srcPort: 5000, dstPort: 53, timeout: 3600,
      zone: 4 });
    await ct.create({ protocol: 'udp', src: '10.0.0.5', dst: '10.0.0.6', srcPort: 7, dstPort: 8, timeout: 3600,
      origZone: 2 });
    await ct.create({ protocol: 'sctp', src: '10.0.0.1', dst: '10.0.0.2', srcPort: 9, dstPort: 10, timeout: 3600,
      state: 'ESTABLISHED', vtag: { original: 1, reply: 2 } });
    await ct.create({ protocol: 'udp', src: '10.0.0.7', dst: '10.0.0.8', srcPort: 11, dstPort: 12, timeout: 3600,
      labels: [3, 7, 127] });
    await ct.create({ protocol: 'udp', src: '10.1.0.1', dst: '10.1.0.2', srcPort: 100, dstPort: 53, timeout: 3600,
      dnat: { address: '10.1.9.9', port: 5353 } });
    await ct.create({ protocol: 'tcp', src: '10.1.0.1', dst: '10.1.0.2', srcPort: 101, dstPort: 80, timeout: 3600,
      state: 'ESTABLISHED', snat: { address: '192.0.2.1', port: 40000 } });
    await ct.create({ protocol: 'icmpv6', src: 'fd00::1', dst: 'fd00::2', type: 128, code: 0, id: 3, timeout: 3600 });
    const flow = { protocol: 'udp', src: '10.0.0.9', dst: '10.0.0.10', srcPort: 1, dstPort: 2, timeout: 3600 };
    if ((await ct.add(flow)) !== true) throw new Error('add() of a new entry');
    if ((await ct.add({ ...flow, mark: 2 })) !== false) throw new Error('add() of an existing entry');
    await rejects(ct.create(flow), 'EEXIST');
    return `${await ct.count()} entries`;
  });

  // Some real traffic, so entries carry counters and timestamps.
  await step('traffic entries', async () => {
    await ping(2);
    await udpTo(9, 2);
  });

  await step('dump: no filter, every filter shape, small batches, early break', async () => {
    const counts = [];
    counts.push((await ct.list().toArray()).length);
    const filters = [
      { protocol: 'tcp' },
      { protocol: 'udp', family: 'ipv4' },
      { src: '10.0.0.0/8' },
      { src: '10.0.0.1', dst: '10.0.0.2' },
      { dst: '10.0.0.0/30', protocol: 'tcp', srcPort: 1000, dstPort: 80 },
      { replySrc: '10.0.0.2', replyDstPort: 1000, protocol: 'tcp' },
      { family: 'ipv6', src: 'fd00::/64' },
      { family: 'ipv6', src: 'fd00::1', dst: 'fd00::2', protocol: 'udp' },
      { mark: 42 },
      { mark: { value: 0x2, mask: 0xff } },
      { status: 'ASSURED' },
      { status: ['ASSURED', 'CONFIRMED'] },
      { state: 'ESTABLISHED' },
      { protocol: 'tcp', state: ['ESTABLISHED', 'SYN_SENT'] },
      { labels: [3] },
      { labels: 127 },
      { zone: 4 },
      { origZone: 2 },
      { replyZone: 0 },
      { protocol: 'icmp' },
      { protocol: 'tcp', src: '10.0.0.1', kernelFilter: false },
    ];
    for (const f of filters) counts.push((await ct.list(f).toArray()).length);
    counts.push((await ct.list({ table: 'dying' }).toArray()).length);
    counts.push((await ct.list({ table: 'unconfirmed' }).toArray()).length);
    counts.push((await ct.list({ zeroCounters: true }).toArray()).length);
    // One flow per batch: many crossings, credits returned one by one.
    let n = 0;
    for await (const batch of ct.list({ batchSize: 1 }).batches()) n += batch.length;
    counts.push(n);
    // Stopped after the first flow: the reader is torn down mid-dump.
    for await (const _ of ct.list({ batchSize: 1 })) break;
    // The same flows as -L lines, formatted natively from the records, in every -o mode taken.
    let bytes = 0;
    for (const format of [{}, { extended: true }, { id: true }, { extended: true, id: true }]) {
      for (const chunk of await ct.listText({ ...format, batchSize: 3 }).toArray()) bytes += chunk.length;
    }
    for (const f of filters) await ct.listText(f).toArray();
    return `flows per query ${counts.join(',')}, text ${bytes > 0}`;
  });

  await step('aggregate: every key at once, each sort, a filter, all groups, an empty result', async () => {
    const keys = ['family', 'protocol', 'src', 'dst', 'sport', 'dport', 'state', 'mark'];
    const more = ['zone', 'status', 'dnat', 'snat', 'replySrc'];
    const a = await ct.aggregate({ by: keys, top: 0 });
    const b = await ct.aggregate({ by: more, top: 2, sort: 'bytes' });
    const c = await ct.aggregate({ by: 'src', sort: 'packets', filter: { protocol: 'udp' } });
    const d = await ct.aggregate({ by: 'dnat', filter: { src: '192.0.2.99' } });
    if (a.total.count === 0 || d.groups.length !== 0) throw new Error('aggregate() totals');
    return `groups ${a.groupCount},${b.groupCount},${c.groupCount},${d.groupCount}`;
  });

  await step('get (found, not found), count, stats', async () => {
    const f = await ct.get({ protocol: 'tcp', src: '10.0.0.1', dst: '10.0.0.2', srcPort: 1000, dstPort: 80 });
    if (!f) throw new Error('get() found nothing');
    const again = await ct.get(f);
    if (!again) throw new Error('get(flow) found nothing');
    const none = await ct.get({ protocol: 'udp', src: '10.9.9.9', dst: '10.9.9.8', srcPort: 1, dstPort: 2 });
    if (none !== null) throw new Error('get() of a missing entry');
    await ct.get({ protocol: 'udp', src: 'fd00::1', dst: 'fd00::2', srcPort: 5000, dstPort: 53, zone: 4 });
    const stats = await ct.stats();
    return `count ${await ct.count()}, ${stats.length} cpus`;
  });

  await step('update', async () => {
    const a = { protocol: 'tcp', src: '10.0.0.1', dst: '10.0.0.2', srcPort: 1000, dstPort: 80 };
    await ct.update(a, { mark: { value: 0x50, mask: 0xf0 } });
    await ct.update(a, { timeout: 1000, status: 'ASSURED', mark: 7 });
    await ct.update({ protocol: 'udp', src: '10.0.0.7', dst: '10.0.0.8', srcPort: 11, dstPort: 12 }, {
      labels: { add: [4, 100], remove: 3 },
    });
    await ct.update(a, { state: 'FIN_WAIT' });
    await rejects(ct.update({ ...a, dst: '10.3.9.9' }, { mark: 1 }), 'ENOENT');
  });

  await step('expectations: create, list, get, events, delete, flush', async () => {
    const ex = ct.expectations;
    const events = ct.events({ types: ['expect-new', 'expect-destroy'] });
    const got = collect(events, (_e, all) => all.length >= 6, 10000);
    await sleep(100);
    // The master flow, with a helper; made while a listener exists so that it carries the
    // event cache its expectations' events need (nf_conntrack_events=2).
    const master = { protocol: 'tcp', src: '10.23.0.1', dst: '10.23.0.2', srcPort: 40000, dstPort: 21 };
    await ct.create({ ...master, timeout: 3600, state: 'ESTABLISHED', helper: 'ftp' });
    const tuple = { protocol: 'tcp', src: '10.23.0.2', dst: '10.23.0.1', srcPort: 0, dstPort: 50000 };
    await ex.create({ master, tuple, mask: { srcPort: 0 }, timeout: 3600 });
    const first = await ex.get(tuple);
    if (!first) throw new Error('expectations.get() found nothing');
    if ((await ex.get({ ...tuple, dstPort: 1 })) !== null) throw new Error('expectations.get() of a missing one');
    // ftp allows one expectation per master: this one replaces the first.
    const second = { ...tuple, dstPort: 50001 };
    await ex.create({ master, tuple: second, timeout: 3600, flags: ['PERMANENT'], helper: 'ftp' });
    const all = await ex.list().toArray();
    await ex.list({ family: 'ipv4' }).toArray();
    await ex.list({ family: 'ipv6' }).toArray();
    const one = await ex.get(second);
    if (!one) throw new Error('expectations.get() found nothing');
    await ex.delete(one);
    await rejects(ex.delete(one));
    await ex.flush({ helper: 'ftp' });
    await ex.create({ master, tuple, timeout: 3600 });
    await ex.flush();
    await ex.flush({ family: 'ipv6' });
    const seen = await got;
    const expStats = await ex.stats();
    if (expStats.length === 0) throw new Error('expectations.stats(): no cpu');
    if (!(events.stats.socketBuffer > 0)) throw new Error('events().stats.socketBuffer not read');
    return `${all.length} listed, ${seen.length} events, expectation stats of ${expStats.length} cpus`;
  });

  await step('events: filtered in the kernel and not, IPv6 and mark filters; counted (countEvents)', async () => {
    const streams = [
      ct.events({ protocol: 'udp', src: '10.21.0.0/16' }),
      ct.events({ protocol: 'udp', src: '10.21.0.0/16', kernelFilter: false }),
      ct.events({ family: 'ipv6', src: 'fd21::/64', dst: 'fd21::1' }),
      ct.events({ protocol: 'tcp', state: ['ESTABLISHED', 'SYN_SENT'] }),
      ct.events({ mark: 5, types: ['new', 'destroy'] }),
      ct.events({ types: 'update' }),
    ];
    const done = streams.map((s) =>
      collect(s, (e) => e.type === 'new' && e.flow?.original?.src === '10.21.9.9', 120000)
    );
    // The counting reader (countEvents()): decoded, counted and dropped on the reader thread.
    const counters = [ct.countEvents(),
      ct.countEvents({ protocol: 'udp', src: '10.21.0.0/16', types: ['new', 'update'] })];
    await sleep(200);
    const flows = [];
    for (let i = 0; i < 20; i++) {
      flows.push({ protocol: 'udp', src: `10.21.1.${i}`, dst: '10.21.0.1', srcPort: 1, dstPort: 2, timeout: 3600,
        mark: i % 2 ? 5 : 0 });
    }
    for (let i = 0; i < 5; i++) {
      flows.push({ protocol: 'udp', src: `fd21::${i + 2}`, dst: 'fd21::1', srcPort: 1, dstPort: 2, timeout: 3600 });
    }
    for (let i = 0; i < 5; i++) {
      flows.push({ protocol: 'tcp', src: `10.22.1.${i}`, dst: '10.21.0.1', srcPort: 1, dstPort: 2, timeout: 3600,
        state: 'ESTABLISHED' });
    }
    await ct.createMany(flows);
    await ct.update({ protocol: 'udp', src: '10.21.1.0', dst: '10.21.0.1', srcPort: 1, dstPort: 2 }, { mark: 9 });
    await ct.create({ protocol: 'udp', src: '10.21.9.9', dst: '10.21.0.1', srcPort: 1, dstPort: 2, timeout: 3600 });
    await Promise.all(done.slice(0, 2)); // these two see the marker
    await sleep(1000);
    for (const st of streams) st.close();
    const counted = counters.map((c) => Object.values(c.counts).reduce((a, n) => a + n, 0));
    for (const c of counters) c.close();
    await Promise.all(counters.map((c) => c.done));
    const got = await Promise.all(done);
    if (counted[0] === 0 || counted[1] === 0) throw new Error(`countEvents() counted ${counted.join(', ')}`);
    return `events per stream ${got.map((g) => g.length).join(',')}; counted ${counted.join(',')}`;
  });

  await step('events: overrun into a tiny buffer, resync, stream goes on', async () => {
    const stream = ct.events({ bufferSize: 4096, maxBufferSize: 16384, maxQueueBytes: 65536, resync: true });
    const it = stream[Symbol.asyncIterator]();
    let timer;
    const stalled = new Promise((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`stalled for 60 s: ${overruns} overrun items, resync ${resync ? 'seen' : 'not seen'}`)),
        60000,
      );
    });
    stalled.catch(() => {});
    let overruns = 0;
    let resync;
    try {
      let next = it.next(); // starts reading; the consumer then stays away
      await sleep(200);
      const flows = [];
      for (let i = 0; i < 400; i++) {
        flows.push({ protocol: 'udp', src: `10.30.${i >> 8}.${i & 255}`, dst: '10.31.0.1', srcPort: 1, dstPort: 2,
          timeout: 3600 });
      }
      await ct.createMany(flows, { batchSize: 100 });
      while (!resync) {
        const r = await Promise.race([next, stalled]);
        if (r.done) throw new Error('the stream ended');
        next = it.next();
        if (r.value.type === 'overrun') overruns++;
        if (r.value.type === 'resync') resync = r.value;
      }
      if (!overruns) throw new Error('no overrun');
      // Events after the overrun still arrive. The tail of the burst may overrun the buffer
      // again (each loss is its own overrun item), so the marker goes once the stream is quiet,
      // and again if it was lost.
      const idle = () => sleep(500).then(() => null);
      let seen = false;
      for (let attempt = 0; attempt < 5 && !seen; attempt++) {
        for (;;) {
          const r = await Promise.race([next, idle(), stalled]);
          if (r === null) break;
          if (r.done) throw new Error('the stream ended after the overrun');
          next = it.next();
          if (r.value.type === 'overrun') overruns++;
        }
        await ct.create({ protocol: 'udp', src: `10.39.9.${attempt}`, dst: '10.31.0.1', srcPort: 1, dstPort: 2,
          timeout: 3600 });
        for (;;) {
          const r = await Promise.race([next, sleep(3000).then(() => null), stalled]);
          if (r === null) break;
          if (r.done) throw new Error('the stream ended after the overrun');
          next = it.next();
          if (r.value.type === 'overrun') overruns++;
          if (r.value.type === 'new' && r.value.flow.original.src === `10.39.9.${attempt}`) {
            seen = true;
            break;
          }
        }
      }
      if (!seen) throw new Error('no event arrived after the overrun');
    } finally {
      clearTimeout(timer);
      await it.return();
      stream.close();
    }
    return `${overruns} overrun items, resync of ${resync.flows.length} flows`;
  });

  await step('createMany, deleteWhere (dry run and real), delete, flush', async () => {
    const flows = [];
    for (let i = 0; i < 40; i++) {
      flows.push({ protocol: 'udp', src: `10.40.0.${i}`, dst: '10.41.0.1', srcPort: 1, dstPort: 2, timeout: 3600 });
    }
    const r1 = await ct.createMany(flows, { batchSize: 16 });
    const r2 = await ct.createMany(flows.slice(0, 10), { ifExists: 'skip' });
    const r3 = await ct.createMany(flows.slice(0, 3));
    async function* gen() {
      for (let i = 0; i < 10; i++) {
        yield { protocol: 'tcp', src: `10.42.0.${i}`, dst: '10.41.0.1', srcPort: 1, dstPort: 2, timeout: 3600,
          state: 'ESTABLISHED' };
      }
    }
    await ct.createMany(gen(), { batchSize: 4 });
    // restore(): the native save reader, then batched creates and adds (some already there).
    const saved = flows.slice(0, 5).map((f) => `-A -p udp -s ${f.src} -d ${f.dst} --sport 1 --dport 2 -t 3600`);
    saved.push('', '# comment',
      '-I -p tcp -s 2001:db8::1 -d 2001:db8::2 --sport 3 --dport 4 --state ESTABLISHED -t 60 -u SEEN_REPLY,ASSURED');
    const restored = await ct.restore(saved.join('\n'), { batchSize: 2 });
    if (restored.existed !== 5 || restored.created !== 1) throw new Error(`restore: ${JSON.stringify(restored)}`);
    await rejects(ct.restore('-I -p udp -s 10.40.0.1\n'));
    // deleteEach() with its deletes printed as -L lines (natively; through match, in JS).
    let lines = 0;
    await ct.deleteEach({ src: '10.40.0.32/30', batchSize: 2, lineFormat: { id: true },
      onDeletedText: (_, n) => void (lines += n) });
    await ct.deleteEach({ src: '10.40.0.36/30', match: () => true, onDeletedText: (_, n) => void (lines += n) });
    if (lines !== 8) throw new Error(`deleteEach onDeletedText: ${lines} lines`);
    const dry = await ct.deleteWhere({ src: '10.40.0.0/24', dryRun: true });
    const del = await ct.deleteWhere({ src: '10.40.0.0/24' });
    await ct.deleteWhere({ protocol: 'tcp', src: '10.42.0.0/24', kernelFilter: false });
    await ct.deleteWhere({ src: '192.0.2.0/24' });
    await ct.deleteWhere({ family: 'ipv6' });
    await ct.deleteWhere({ mark: 5 });
    await ct.delete({ protocol: 'udp', src: '10.0.0.9', dst: '10.0.0.10', srcPort: 1, dstPort: 2 });
    const f = await ct.get({ protocol: 'udp', src: '10.0.0.5', dst: '10.0.0.6', srcPort: 7, dstPort: 8, origZone: 2 });
    if (f) await ct.delete(f);
    const flow = (await ct.list({ protocol: 'icmp' }).toArray())[0];
    if (flow?.id !== undefined) await ct.delete({ id: flow.id });
    await rejects(ct.delete({ protocol: 'udp', src: '10.4.1.1', dst: '10.4.1.2', srcPort: 1, dstPort: 2 }), 'ENOENT');
    await ct.flush({ family: 'ipv6' });
    await ct.flush();
    return `created ${r1.created}, skipped ${r2.existed}, failed ${r3.failed.length}, dry run ${dry}, deleted ${del}, left ${await ct
      .count()}`;
  });

  await step('NFLOG: packets with payload, sequence numbers and conntrack', async () => {
    const nf = await Nflog.open({ netns: NS });
    try {
      const s6 = nf.subscribe({ group: 6, copy: 'meta', bufferSize: 65536 });
      await sleep(300); // its reader has bound group 6 by now
      // A held group is refused at subscribe() (EBUSY).
      let busyErr;
      try {
        const busy = nf.subscribe({ group: 6 });
        busyErr = await collect(busy, () => true, 3000).then(() => undefined, (e) => e);
      } catch (e) {
        busyErr = e;
      }
      const traffic = async () => {
        await sleep(200);
        await ping(2);
        await udpTo(9, 4);
      };
      const enough = (_p, all) => all.filter((x) => x.type === 'packet').length >= 6;
      // conntrack: true needs CONFIG_NETFILTER_NETLINK_GLUE_CT; without it the stream fails
      // with EOPNOTSUPP and the group is read again without.
      let withCt = true;
      const got6 = collect(s6, (_p, all) => all.length >= 2, 8000);
      let p5;
      try {
        const s5 = nf.subscribe({ group: 5, sequence: 'both', conntrack: true, timeout: 0.05, qthreshold: 2 });
        [p5] = await Promise.all([collect(s5, enough, 8000), traffic()]);
      } catch (err) {
        if (err.code !== 'EOPNOTSUPP') throw err;
        withCt = false;
        const s5 = nf.subscribe({ group: 5, sequence: 'both', timeout: 0.05 });
        [p5] = await Promise.all([collect(s5, enough, 8000), traffic()]);
      }
      const p6 = await got6;
      const s7 = nf.subscribe({ group: 7, copy: 'none', range: 0 });
      await sleep(100);
      s7.close();
      const packets = p5.filter((x) => x.type === 'packet');
      if (packets.length === 0) throw new Error('no NFLOG packets');
      for (const p of packets) if (p.payload) lib.decodePacket(p.payload, p.family === 'ipv6' ? 'ipv6' : 'ipv4');
      return `group 5: ${packets.length} packets${
        withCt ? ' with conntrack' : ' (kernel without NFLOG conntrack)'
      }, group 6: ${p6.length}, second bind: ${busyErr?.code ?? 'no error'}`;
    } finally {
      nf.close();
    }
  });

  await step('trace: nftables and legacy (NFLOG group 0), nf_log backend bound and restored', async () => {
    const trace = await Trace.open({ netns: NS, bindLogger: true });
    try {
      // One stream at a time: each binds NFLOG group 0 for the legacy path.
      const events = trace.events();
      const got = collect(events, (_e, all) => new Set(all.map((h) => h.source)).size === 2 && all.length >= 6, 10000);
      await sleep(500);
      await udpTo(7777, 2);
      const hops = await got;
      say(`     ${hops.length} trace events`);
      const packets = trace.packets({ idleMs: 200, match: { protocol: 'udp', dstPort: 7777 } });
      const gotPackets = collect(packets, (_p, all) => all.length >= 1, 10000);
      await sleep(800); // the temporary trace rule goes in
      await udpTo(7777, 1);
      const pk = await gotPackets;
      const sources = new Set(hops.map((h) => h.source));
      if (hops.length === 0) throw new Error('no trace events');
      return `${hops.length} hops from ${[...sources].join('+')}, ${pk.length} packets`;
    } finally {
      await trace.close();
    }
  });

  await step('kernel log: /dev/kmsg read whole, followed, a loss into a bounded queue; files followed through rotation',
    async () => {
      const { KernelLog } = lib;
      const { appendFileSync, closeSync, mkdtempSync, openSync, renameSync, rmSync, writeFileSync, writeSync } =
        require('node:fs');
      const { tmpdir } = require('node:os');
      const { join } = require('node:path');
      const mark = `nfct-memcheck-${process.pid}`;
      const writeKmsg = (n, text) => {
        for (let i = 0; i < n; i += 10) {
          const fd = openSync('/dev/kmsg', 'w');
          for (let k = i; k < Math.min(n, i + 10); k++) {
            writeSync(fd, `${text} ${k} IN=lo OUT= SRC=127.0.0.1 DST=127.0.0.1 LEN=20 PROTO=UDP SPT=1 DPT=2 LEN=8\n`);
          }
          closeSync(fd);
        }
      };
      let whole = 0;
      for await (const _ of KernelLog.kmsg({ lines: true })) whole++;
      const follow = KernelLog.follow({ lines: true, maxQueueBytes: 64 * 1024 });
      writeKmsg(1500, `${mark} ${'x'.repeat(120)}`);
      const items = await collect(follow,
        (i) => i.type === 'line' && i.message.startsWith(`${mark} `) && i.message.includes(' 1499 '), 10000);
      const losses = items.filter((i) => i.type === 'loss').length;
      const dir = mkdtempSync(join(tmpdir(), 'nfct-memcheck-'));
      try {
        const file = join(dir, 'kern.log');
        const log = (port) =>
          `Jun 13 19:58:21 gw kernel: [ 1.000001] mc: IN=eth0 OUT= MAC=52:54:00:12:34:56:52:54:00:65:43:21:08:00 SRC=10.0.0.1 DST=10.0.0.2 LEN=56 TOS=0x00 PREC=0xC0 TTL=64 ID=${port} PROTO=ICMP TYPE=3 CODE=3 [SRC=10.0.0.2 DST=10.0.0.1 LEN=28 TOS=0x00 PREC=0x00 TTL=64 ID=1 PROTO=UDP SPT=1 DPT=${port} LEN=8 ] \n`;
        const trace = (port) =>
          `TRACE: raw:PREROUTING:rule:1 IN=eth0 OUT= SRC=10.0.0.1 DST=10.0.0.2 LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=1 PROTO=TCP SPT=1 DPT=${port} WINDOW=1 RES=0x00 SYN URGP=0 OPT (020405B4) \n`;
        writeFileSync(file,
          log(1) + trace(2) +
            JSON.stringify({ __REALTIME_TIMESTAMP: '1718308701000001', _TRANSPORT: 'kernel',
              MESSAGE: log(3).slice(log(3).indexOf('mc: '), -1) }) +
            '\n' + 'x'.repeat(70000) + '\n');
        const followed = KernelLog.file(file, { follow: true, maxLineBytes: 65536 });
        const got = collect(followed, (i) => i.type === 'packet' && i.inner?.dpt === 6, 10000);
        await sleep(200);
        renameSync(file, `${file}.1`);
        appendFileSync(`${file}.1`, log(4));
        writeFileSync(file, trace(5) + log(6));
        const fileItems = await got;
        const ports = fileItems.flatMap((i) => (i.type === 'packet' ? [i.inner?.dpt] : []));
        if (ports.join() !== '1,3,4,6') throw new Error(`file: packets ${ports.join()}`);
        return `${whole} records of the ring buffer, ${items.length} followed with ${losses} losses, ${fileItems.length} items of a rotated file`;
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

  await step('handles and ended streams left to the garbage collector', async () => {
    for (let i = 0; i < 3; i++) {
      const c = await Conntrack.open({ netns: NS });
      await c.count();
      await c.list().toArray(); // its Stream ended; the JS object is dropped unclosed
      const s = c.events();
      s.close(); // closed, never iterated, dropped
      // c is not closed: the control socket goes with the garbage collector
    }
    const nf = await Nflog.open({ netns: NS });
    nf.subscribe({ group: 11 }).close();
    for (let i = 0; i < 5; i++) {
      gc();
      await sleep(100);
    }
  });

  await step('a worker thread ended with readers running (environment cleanup hook)', async () => {
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      const lib = require(workerData.root + 'dist/index.js');
      (async () => {
        const c = await lib.Conntrack.open({ netns: workerData.ns });
        const ev = c.events();
        ev[Symbol.asyncIterator]().next();
        c.list({ batchSize: 1 })[Symbol.asyncIterator]().next();
        const nf = await lib.Nflog.open({ netns: workerData.ns });
        nf.subscribe({ group: 12 });
        await c.count();
        parentPort.postMessage('ready');
      })().catch((e) => parentPort.postMessage(String(e && e.stack || e)));
    `;
    const w = new Worker(code, { eval: true, workerData: { root: ROOT, ns: NS } });
    const msg = await new Promise((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
    if (msg !== 'ready') throw new Error(`worker: ${msg}`);
    await sleep(200);
    await w.terminate();
  });

  ct.close();
  for (let i = 0; i < 3; i++) {
    gc();
    await sleep(50);
  }
}

// ---- the fuzz part ---------------------------------------------------------------------------

const KINDS = {
  // [nlmsg_type values that reach the decoder's parsing, nested attribute types worth trying]
  flow: { types: [0x0100, 0x0101, 0x0102], attrs: 28 },
  expect: { types: [0x0200, 0x0202], attrs: 13 },
  packet: { types: [0x0400], attrs: 22 },
  trace: { types: [(10 << 8) | 17], attrs: 17 }, // NFNL_SUBSYS_NFTABLES, NFT_MSG_TRACE
};

/** Random attributes, nested at random, `budget` bytes at most; lengths sometimes lie. */
function randomAttrs(budget, maxType, depth) {
  const parts = [];
  let used = 0;
  while (used + 4 <= budget && Math.random() < 0.85) {
    const type = Math.floor(Math.random() * (maxType + 2)) | (Math.random() < 0.3 ? 0x8000 : 0);
    let payload;
    if (depth < 3 && Math.random() < 0.4) payload = randomAttrs(Math.min(budget - used - 4, 96), 8, depth + 1);
    else payload = randomBytes([0, 1, 2, 3, 4, 8, 16, 20][Math.floor(Math.random() * 8)]);
    let len = 4 + payload.length;
    if (Math.random() < 0.08) len = Math.floor(Math.random() * 64); // a lie
    const hdr = Buffer.alloc(4);
    hdr.writeUInt16LE(len & 0xffff, 0);
    hdr.writeUInt16LE(type, 2);
    const pad = Buffer.alloc((4 - (payload.length % 4)) % 4);
    const a = Buffer.concat([hdr, payload, pad]);
    if (used + a.length > budget) break;
    parts.push(a);
    used += a.length;
  }
  return Buffer.concat(parts);
}

function message(type, body, lenAdjust = 0) {
  const hdr = Buffer.alloc(16);
  const total = 16 + body.length;
  hdr.writeUInt32LE(Math.max(16, total + lenAdjust), 0);
  hdr.writeUInt16LE(type, 4);
  return Buffer.concat([hdr, body]).subarray(0, Math.max(16, total));
}

async function fuzzPart() {
  const iterations = Number(process.env.NFCT_MEMCHECK_FUZZ ?? 1000);
  for (const [kind, { types, attrs }] of Object.entries(KINDS)) {
    await step(`decodeForTest('${kind}'): random, structured, truncated`, async () => {
      let records = 0;
      let malformed = 0;
      let lines = 0;
      const run = (buf) => {
        const [records_, strings, count, bad] = addon.decodeForTest(kind, buf);
        records += count;
        malformed += bad;
        // A flow record, whatever it holds, formatted as an -L line (listText()), with its
        // strings, without them, and cut short.
        if (kind === 'flow' && count > 0) {
          const format = { extended: lines % 2 === 0, id: true };
          lines += addon.formatFlows(records_, strings, count, format).length > 0 ? 1 : 0;
          addon.formatFlows(records_, '', count, format);
          addon.formatFlows(records_, strings.slice(0, lines % 7), count, format);
        }
      };
      for (let i = 0; i < iterations; i++) {
        const type = types[i % types.length];
        run(randomBytes(Math.floor(Math.random() * 96)));
        const nfgen = Buffer.from([Math.random() < 0.5 ? 2 : 10, 0, 0, 0]);
        const body = Buffer.concat([nfgen, randomAttrs(256, attrs, 0)]);
        run(message(type, body));
        // nlmsg_len shorter than what follows, or not a multiple of 4.
        run(message(type, body, -Math.floor(Math.random() * 8)));
        run(message(type, body).subarray(0, 16 + Math.floor(Math.random() * (body.length + 1))));
        // An nlmsg_len that is not a multiple of 4, the buffer ending exactly there (libmnl's
        // iterators, ours among them, read up to the 4-byte aligned end).
        const cut = 1 + Math.floor(Math.random() * 3);
        run(message(type, body, -cut).subarray(0, 16 + body.length - cut));
      }
      // The edge cases by hand: a bare header, and each length up to a whole nfgenmsg.
      for (const type of types) for (let extra = 0; extra <= 4; extra++) run(message(type, Buffer.alloc(extra, 2)));
      return `${iterations * 5} inputs, ${records} records, ${malformed} malformed${
        kind === 'flow' ? `, ${lines} formatted` : ''
      }`;
    });
  }
  await step('decodeLogLines(): LOG, TRACE, journal JSON and /dev/kmsg lines, random and mangled', async () => {
    const base = [
      'Jun 13 19:58:21 gw kernel: [ 1.000001] fw: IN=eth0 OUT= MAC=52:54:00:12:34:56:52:54:00:65:43:21:08:00 SRC=10.0.0.1 DST=10.0.0.2 LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=1 DF PROTO=TCP SPT=1 DPT=2 SEQ=1 ACK=0 WINDOW=1 RES=0x00 CWR ECE SYN URGP=0 OPT (020405B4) UID=0 GID=0 MARK=0x1 ',
      'TRACE: raw:PREROUTING:rule:1 IN=lo OUT= SRC=0000:0000:0000:0000:0000:0000:0000:0001 DST=0000:0000:0000:0000:0000:0000:0000:0001 LEN=60 TC=0 HOPLIMIT=64 FLOWLBL=1 PROTO=ICMPv6 TYPE=1 CODE=4 [SRC=0000:0000:0000:0000:0000:0000:0000:0001 DST=0000:0000:0000:0000:0000:0000:0000:0001 LEN=20 TC=0 HOPLIMIT=64 FLOWLBL=0 PROTO=UDP SPT=1 DPT=2 LEN=8 ] ',
      '{"__REALTIME_TIMESTAMP":"1718308701000001","_TRANSPORT":"kernel","MESSAGE":"x IN=lo OUT= SRC=1.2.3.4 PROTO=UDP SPT=1 DPT=2 LEN=8 \\u00e9"}',
      '[Thu Jun 13 19:58:21 2024] <4>x: IN=a OUT= ARP HTYPE=1 INCOMPLETE [12 bytes]',
      '2024-06-13T19:58:21.5+02:00 gw kernel: y: IN=b OUT=c PHYSIN=d MACSRC=02:00:00:00:00:01 VPROTO=8100 VID=10 SRC=1.1.1.1 DST=2.2.2.2 LEN=20 MF FRAG:185 PROTO=47 ',
    ];
    let records = 0;
    let bad = 0;
    const filters = [undefined, { packets: true, hops: true, lines: true }, { packets: true, hops: false, lines: false,
      prefix: 'fw', protocol: 6, port: 2, src: { addr: Buffer.from([10, 0, 0, 0]), bits: 8 } }];
    for (let i = 0; i < iterations; i++) {
      let line = base[i % base.length];
      for (let k = 0; k < 1 + (i % 4); k++) {
        const at = Math.floor(Math.random() * (line.length + 1));
        const junk = randomBytes(Math.floor(Math.random() * 6)).toString('latin1');
        line = Math.random() < 0.5
          ? line.slice(0, at) + junk + line.slice(at)
          : line.slice(0, at) + line.slice(at + 1 + Math.floor(Math.random() * 8));
      }
      const text = i % 3 === 0 ? randomBytes(Math.floor(Math.random() * 200)).toString('latin1') : line;
      for (const kind of ['text', 'kmsg']) {
        const input = kind === 'kmsg' ? `4,${i},${i * 1000},-;${text}` : text;
        const [, , count, , malformed] = addon.decodeLogLines(i % 2 ? Buffer.from(input, 'latin1') : input, kind,
          filters[i % filters.length]);
        records += count;
        bad += malformed;
      }
    }
    return `${iterations * 2} lines, ${records} records, ${bad} malformed`;
  });
  await step('readSave(): valid and mangled save lines, one at a time and as files', async () => {
    const lines = mangledSave(iterations);
    let read = 0;
    // Bytes in an ArrayBuffer of their own (exactly their length), so reading past them is seen.
    const bytesOf = (text) => new Uint8Array(Buffer.from(text, 'latin1'));
    for (const line of lines) {
      if (addon.readSave(line, true)[4] === -1) read++;
      addon.readSave(bytesOf(line), true);
    }
    let files = 0;
    for (let i = 0; i + 50 <= lines.length; i += 50) {
      const text = lines.slice(i, i + 50).join('\n');
      for (const input of [text, bytesOf(text)]) {
        const [words, kinds, numbers, ranges, bad] = addon.readSave(input, i % 100 === 0);
        if (words.byteLength < kinds.length * 52 * 4 || ranges.length !== 2 * numbers.length || bad >= kinds.length) {
          throw new Error('readSave: arrays of the wrong length');
        }
      }
      files++;
    }
    addon.readSave('');
    addon.readSave('\n\n#\n');
    addon.readSave(new Uint8Array(0));
    return `${lines.length} lines (${read} read as entries), ${files} files, each also as bytes`;
  });
}

/** Save-file lines, valid and mangled (bytes changed, cut, spliced, any UTF-16), for readSave(). */
function mangledSave(iterations) {
  const base = [
    '-A -t 119 -u SEEN_REPLY,ASSURED -s 10.0.0.1 -d 10.0.0.2 -r 10.0.0.2 -q 10.0.0.1 -p tcp --sport 1 --dport 2 --reply-port-src 2 --reply-port-dst 1 --state ESTABLISHED',
    '-I -p icmpv6 -s fe80::1 -d fe80::2 -r fe80::2 -q fe80::1 --icmpv6-type 130 --icmpv6-code 3 --icmpv6-id 0 -t 30',
    '-I -p udp -s 2001:db8::1 -d 2001:db8:0:0:0:0:0:2 --sport 5 --dport 53 -t 10 -m 7 -w 3',
    '-A -t 30 -u UNSET -s 10.0.0.1 -d 10.0.0.9 -p icmp --icmp-type 8 --icmp-code 0 --icmp-id 7',
  ];
  const alphabet = ' -0123456789.:,abcdefIApdstruqmw#\n\t\u00a0\u0131\ud800\uffff\u2028';
  const pick = (s) => s[Math.floor(Math.random() * s.length)];
  const lines = [];
  for (let i = 0; i < iterations; i++) {
    let line = pick(base);
    for (let k = Math.floor(Math.random() * 5); k >= 0; k--) {
      const at = Math.floor(Math.random() * (line.length + 1));
      const op = Math.floor(Math.random() * 4);
      if (op === 0) line = line.slice(0, at) + pick(alphabet) + line.slice(at + 1);
      else if (op === 1) line = line.slice(0, at);
      else if (op === 2) line = line.slice(0, at) + line.slice(Math.floor(Math.random() * line.length));
      else line = line.slice(0, at) + String.fromCharCode(Math.floor(Math.random() * 0x10000)) + line.slice(at);
    }
    lines.push(line);
  }
  return lines;
}

// ---- main ------------------------------------------------------------------------------------

async function main() {
  if (process.exitCode) return;
  say(`addon ${process.env.NFCT_ADDON ?? `${ROOT}build/Release/nfct.node`}, part ${part}`);
  try {
    if (part === 'kernel' || part === 'all') await kernelPart();
  } finally {
    removeNs();
  }
  if (part === 'fuzz' || part === 'all') await fuzzPart();
  say(`${ran.size} paths ran, ${missed.length} did not`);
  if (missed.length > 0) {
    for (const m of missed) console.error(`[memcheck-driver] did not run: ${m}`);
    process.exitCode = 1;
  }
}

await main();
