// Run by test/core/privilege.test.ts as an unprivileged user (no capabilities at all), inside the
// test's namespace, on the library bundle (support/bundle.ts):
//   node no-privilege-child.cjs LIB NSPATH
// Prints { identity } first (uid, gid, groups, capability sets), then tries every operation
// and prints one JSON object per line: { name, ok, ...error } where the
// error part is { type, isNfct, code, errno, syscall, message, callerInStack }. The last line
// is { done: true } (a crash or a hang never prints it).
'use strict';
const { readFileSync } = require('node:fs');

const { Conntrack, KernelLog, Nflog, NfctError, Trace } = require(process.argv[2]);

const nsPath = process.argv[3];
const ME = __filename;

async function attempt(name, fn) {
  try {
    const value = await fn();
    console.log(JSON.stringify({ name, ok: true, value: value === undefined ? null : value }));
  } catch (e) {
    console.log(
      JSON.stringify({
        name,
        ok: false,
        type: e && e.name,
        isNfct: e instanceof NfctError,
        code: e && e.code,
        errno: e && e.errno,
        syscall: e && e.syscall,
        message: e && e.message,
        callerInStack: typeof (e && e.stack) === 'string' && e.stack.includes(ME),
      }),
    );
  }
}

/** The first item of a stream (starting it), or 'ended'. */
async function first(stream) {
  for await (const item of stream) return item && item.type;
  return 'ended';
}

const tuple = { protocol: 'udp', src: '10.0.0.1', dst: '10.0.0.2', srcPort: 1, dstPort: 2 };
const master = { protocol: 'tcp', src: '10.0.0.1', dst: '10.0.0.2', srcPort: 40000, dstPort: 21 };
const expTuple = { protocol: 'tcp', src: '10.0.0.2', dst: '10.0.0.1', srcPort: 0, dstPort: 50000 };

async function main() {
  const status = readFileSync('/proc/self/status', 'utf8');
  const cap = (set) => new RegExp(`^Cap${set}:\\s+([0-9a-f]+)$`, 'm').exec(status)?.[1];
  const identity = { uid: process.getuid(), gid: process.getgid(), groups: process.getgroups(), capEff: cap('Eff'),
    capPrm: cap('Prm'), capInh: cap('Inh') };
  console.log(JSON.stringify({ identity }));
  // Opening a handle in one's own namespace takes no privilege: it only makes a socket.
  const ct = await Conntrack.open();
  await attempt('list', () => ct.list().toArray());
  await attempt('list().batches()', () => first(ct.list().batches()));
  await attempt('get', () => ct.get(tuple));
  await attempt('count', () => ct.count());
  await attempt('stats', () => ct.stats());
  await attempt('create', () => ct.create({ ...tuple, timeout: 60 }));
  await attempt('add', () => ct.add({ ...tuple, timeout: 60 }));
  await attempt('update', () => ct.update(tuple, { mark: 1 }));
  await attempt('delete', () => ct.delete(tuple));
  await attempt('delete by id', () => ct.delete({ id: 1 }));
  await attempt('deleteWhere (dump)', () => ct.deleteWhere({ protocol: 'udp', dstPort: 2 }));
  await attempt('deleteWhere (kernel flush)', () => ct.deleteWhere({ mark: 1 }));
  await attempt('deleteWhere dryRun', () => ct.deleteWhere({ mark: 1, dryRun: true }));
  await attempt('flush', () => ct.flush());
  // createMany never rejects for the entries it could not create: each one carries its error.
  await attempt('createMany', async () => {
    const r = await ct.createMany([1, 2, 3].map((srcPort) => ({ ...tuple, srcPort, timeout: 60 })));
    return {
      created: r.created,
      failed: r.failed.map((f) => ({ index: f.index, isNfct: f.error instanceof NfctError, code: f.error.code,
        message: f.error.message })
      ),
    };
  });
  await attempt('events', () => first(ct.events()));
  await attempt('events (expectations)', () => first(ct.events({ types: ['expect-new', 'expect-destroy'] })));
  await attempt('expectations.list', () => ct.expectations.list().toArray());
  await attempt('expectations.get', () => ct.expectations.get(expTuple));
  await attempt('expectations.create',
    () => ct.expectations.create({ master, tuple: expTuple, mask: { srcPort: 0 }, timeout: 60 }));
  await attempt('expectations.delete', () => ct.expectations.delete(expTuple));
  await attempt('expectations.flush', () => ct.expectations.flush());
  ct.close();

  const nf = await Nflog.open();
  await attempt('Nflog subscribe', () => first(nf.subscribe({ group: 3 })));
  nf.close();

  const both = await Trace.open();
  await attempt('Trace events', () => first(both.events({ resolveRules: false })));
  await attempt('Trace packets', () => first(both.packets({ resolveRules: false })));
  await both.close();
  const nft = await Trace.open({ legacy: false });
  await attempt('Trace events (nftables only)', () => first(nft.events({ resolveRules: false })));
  await nft.close();
  const legacy = await Trace.open({ nftables: false });
  await attempt('Trace events (legacy only)', () => first(legacy.events({ resolveRules: false })));
  await legacy.close();

  // Another namespace needs CAP_SYS_ADMIN to enter.
  await attempt('Conntrack.open(netns)', async () => {
    (await Conntrack.open({ netns: nsPath })).close();
  });
  await attempt('Nflog subscribe in netns', async () => {
    const h = await Nflog.open({ netns: nsPath });
    try {
      return await first(h.subscribe({ group: 4 }));
    } finally {
      h.close();
    }
  });
  await attempt('Nflog.open(netns)', async () => {
    (await Nflog.open({ netns: nsPath })).close();
  });
  await attempt('Trace.open(netns)', async () => {
    await (await Trace.open({ netns: nsPath, legacy: false })).close();
  });
  await attempt('Conntrack.open({ pid: 1 })', async () => {
    (await Conntrack.open({ netns: { pid: 1 } })).close();
  });
  await attempt('Trace.open(netns, bindLogger)', async () => {
    await (await Trace.open({ netns: nsPath, bindLogger: true })).close();
  });
  // The kernel log: /dev/kmsg needs CAP_SYSLOG while kernel.dmesg_restrict is 1; a file the
  // user may not read.
  await attempt('KernelLog.kmsg()', () => KernelLog.kmsg().close());
  await attempt('KernelLog.file(unreadable)', () => KernelLog.file('/etc/shadow').close());
  console.log(JSON.stringify({ done: true }));
}

main().catch((e) => {
  console.log(JSON.stringify({ crashed: String(e && e.stack) }));
  process.exitCode = 1;
});
