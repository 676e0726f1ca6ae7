// nfct log --group N (NFLOG), as a user runs it: --prefix-only and -g, the namespace named by
// --netns or --pid, the refusals of its parameters, and the summary's count of packets lost when
// nfct could not read (stopped while a flood was logged): exactly what the kernel logged and
// nfct did not print, the kernel's own nft counter being the oracle.
import { describe, expect, test } from 'vitest';

import { enteredNamespace } from '../helpers/netns-core.js';
import { useNetns } from '../helpers/netns.js';
import { spawnNfct } from '../helpers/nfct.js';
import { flood, nftCounter } from '../helpers/streams.js';
import { runNfct } from '../support/run-nfct.js';

const GROUP = 43;
const ns = useNetns('nfct-loggroup');

/** Logs the UDP datagrams to `port` with `prefix` to GROUP, counted, in table `table`. */
async function logRule(table: string, port: number, prefix: string): Promise<void> {
  await ns.execOk('nft', ['-f', '-'], {
    input:
      `table inet ${table} {\n chain out { type filter hook output priority 0; udp dport ${port} counter log prefix "${prefix}" group ${GROUP}; }\n}\n`,
  });
}

/** One datagram of `size` bytes to 127.0.0.1:port from inside the namespace. */
function send(port: number, size = 1): Promise<unknown> {
  return ns.execOk('node', ['-e',
    `const s=require('dgram').createSocket('udp4');s.send(Buffer.alloc(${size}),${port},'127.0.0.1',()=>s.close())`]);
}

/** Sends to `port` every 100 ms until nfct printed `n` lines; a timeout only bounds a failure. */
async function untilLines(run: ReturnType<typeof spawnNfct>, port: number, n: number): Promise<void> {
  for (let end = Date.now() + 15_000; run.out.all.length < n;) {
    if (Date.now() > end) throw new Error(`nfct printed ${run.out.all.length} lines, not ${n}`);
    await send(port);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('nfct log --group', () => {
  test('--prefix-only: the time and the prefix; -g and --pid as --group and --netns; the summary counts them', async () => {
    await logRule('lgflags', 9921, 'p1: ');
    const sleeper = ns.spawn('sleep', ['60']);
    try {
      const pid = await enteredNamespace(sleeper);
      for (const where of [['--netns', ns.name], ['--pid', String(pid)]]) {
        const run = spawnNfct(['log', '-g', String(GROUP), ...where, '--prefix-only']);
        await untilLines(run, 9921, 1);
        run.child.kill('SIGTERM');
        expect(await run.out.closed).toBe(0);
        const n = run.out.all.length;
        expect(run.out.all.every((l) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z p1: $/.test(l))).toBe(true);
        expect(run.out.err).toBe(`nfct: ${n} packet${n === 1 ? '' : 's'} logged; none lost.\n`);
      }
    } finally {
      sleeper.kill();
      await ns.execOk('nft', ['delete', 'table', 'inet', 'lgflags']);
    }
  });

  test.each([
    [[], 'nfct log: --group is required'],
    [['--group', 'x'], "nfct log: Bad parameter `--group x'"],
    [['--group'], "nfct log: Bad parameter `--group'"],
    [['-g', '-1'], "nfct log: Bad parameter `-g -1'"],
    [['--group', '1', '--pid', 'abc'], "nfct log: Bad parameter `--pid abc'"],
    [['--group', '1', '--pod', 'web'], "nfct log: Bad parameter `--pod web' (NAMESPACE/NAME)"],
    [['--group', '1', '--bogus'], "nfct log: unknown option `--bogus'"],
  ])('%j: exit status 2, %s', async (args, message) => {
    const r = await runNfct(['log', ...args]);
    expect([r.code, r.stdout, r.stderr]).toEqual([2, '', `${message}\nTry \`nfct log --help' for more information.\n`]);
  });

  test('-h is --help', async () => {
    const help = await runNfct(['log', '--help']);
    expect(help.stdout).toMatch(/^Usage: nfct log --group N /);
    expect(await runNfct(['log', '--group', '1', '-h'])).toEqual(help);
  });

  test('stopped while a flood was logged: the packets lost are what the kernel logged and nfct did not print',
    async () => {
      await logRule('lgflood', 9922, 'flood: ');
      await logRule('lgend', 9923, 'end: ');
      const run = spawnNfct(['log', '--group', String(GROUP), '--netns', ns.name]);
      const logged = async () => await nftCounter(ns, 'lgflood') + await nftCounter(ns, 'lgend');
      let size = 100;
      /**
       * Sends datagrams, each of a size of its own (the line's LEN=), until nfct prints one: then
       * every packet logged before it was printed or lost, as the socket keeps their order (those
       * logged before nfct subscribed reached nobody).
       */
      const sentinel = async (): Promise<void> => {
        for (const end = Date.now() + 60_000;; size++) {
          if (Date.now() > end) throw new Error('nfct printed none of the packets sent');
          await send(9923, size);
          const line = ` end: IN= OUT=lo SRC=127.0.0.1 DST=127.0.0.1 LEN=${28 + size} `;
          const seen = () => run.out.all.some((l) => l.includes(line));
          for (let wait = Date.now() + 2000; !seen() && Date.now() < wait;) await new Promise((r) => setTimeout(r, 50));
          if (seen()) {
            size++;
            return;
          }
        }
      };
      try {
        await sentinel();
        const [before, printedBefore] = [await logged(), run.out.all.length];
        // Nothing reads while 400,000 packets are logged: more than nfct's socket buffer holds
        // (32 MiB asked for, about 200,000 of these packets on this kernel), so the kernel drops
        // the rest.
        run.child.kill('SIGSTOP');
        await flood(ns, 9922, 400_000);
        run.child.kill('SIGCONT');
        // A packet after the loss: its sequence number says how many went before it.
        await sentinel();
        run.child.kill('SIGTERM');
        expect(await run.out.closed).toBe(0);
        const printed = run.out.all.length;
        const lost = await logged() - before - (printed - printedBefore);
        expect(lost).toBeGreaterThan(0);
        const said = /^nfct: (\d+) packets logged; (\d+) lost \((\d+) overruns?\)\.\n$/.exec(run.out.err);
        expect(said, run.out.err).not.toBeNull();
        expect([Number(said![1]), Number(said![2])]).toEqual([printed, lost]);
        expect(said![0]).toContain(said![3] === '1' ? '(1 overrun).' : 'overruns).');
      } finally {
        if (run.child.exitCode === null) run.child.kill('SIGKILL');
        for (const t of ['lgflood', 'lgend']) await ns.exec('nft', ['delete', 'table', 'inet', t]);
      }
    }, 120_000);
});
