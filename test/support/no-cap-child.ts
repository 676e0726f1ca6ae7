// Run without CAP_NET_ADMIN/CAP_SYS_ADMIN (by test/core/errors.test.ts): tries each operation and
// prints what it failed with, one JSON object per line.
import { Conntrack, NfctError } from '../../lib/index.js';

const nsPath = process.argv[2]!;

async function attempt(name: string, fn: () => Promise<unknown>): Promise<void> {
  try {
    await fn();
    console.log(JSON.stringify({ name, ok: true }));
  } catch (e) {
    const err = e as NfctError;
    console.log(
      JSON.stringify({ name, ok: false, isNfct: e instanceof NfctError, code: err.code, errno: err.errno,
        message: err.message }),
    );
  }
}

async function main(): Promise<void> {
  const ct = await Conntrack.open();
  await attempt('list', () => ct.list().toArray());
  await attempt('get', () => ct.get({ protocol: 'udp', src: '10.0.0.1', dst: '10.0.0.2', srcPort: 1, dstPort: 2 }));
  await attempt('count', () => ct.count());
  await attempt('stats', () => ct.stats());
  await ct.close();
  await attempt('open in another netns', () => Conntrack.open({ netns: nsPath }));
}

void main();
