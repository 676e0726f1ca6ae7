// nfct -E and nfct log stopped by a signal while their output is held up: what they had
// received from the kernel is still written before they end, and nothing received goes
// without a word. Their stdout is a pipe this test stops reading: nfct's writes wait and the
// events wait in its memory (the reader thread has taken them all from the kernel); then the
// signal, and the test reads again. The oracles: the entries made, the nft rule's counter.
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';

import { describe, expect, test } from 'vitest';

import { Conntrack } from '../../lib/index.js';
import { type Netns, useNetnsWith } from '../helpers/netns.js';
import { CLI } from '../helpers/nfct.js';
import { until, watchersReady } from '../helpers/sentinel.js';
import { flood, netfilterDrained, nftCounter, udpEntries, withLogRule } from '../helpers/streams.js';

let ns: Netns;
let ct: Conntrack;

useNetnsWith('nfct-stopflush', async (n) => ((ns = n), (ct = await Conntrack.open({ netns: n.name }))));

/** nfct in the namespace, its stdout collected until hold(), then left unread until stop(). */
function held(args: string[]) {
  const child: ChildProcess = ns.spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const chunks: Buffer[] = [];
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => chunks.push(d));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const closed = once(child, 'close') as Promise<[number | null, NodeJS.Signals | null]>;
  const text = (): string => Buffer.concat(chunks).toString();
  return {
    text,
    lines: (mark: string): number => text().split('\n').filter((l) => l.includes(mark)).length,
    hold: (): void => void child.stdout!.pause(),
    /** Bytes read so far. */
    size: (): number => chunks.reduce((a, c) => a + c.length, 0),
    /** SIGSTOP (true) or SIGCONT (false): nfct held off the CPU, or let go. */
    pause: (on: boolean): void => void child.kill(on ? 'SIGSTOP' : 'SIGCONT'),
    /** The signal, then reading again until nfct has ended and its stdout is closed. */
    async stop(signal: NodeJS.Signals): Promise<{ code: number | null; stderr: string }> {
      child.kill(signal);
      child.stdout!.resume();
      const [code] = await closed;
      return { code, stderr };
    },
  };
}

/** One datagram to 127.0.0.1:port from source port 40001 (a probe, told apart from a flood's). */
async function probePacket(port: number): Promise<void> {
  await ns.execOk('node', ['-e',
    `const s=require('dgram').createSocket('udp4');s.bind(40001,()=>s.send(Buffer.alloc(8),${port},'127.0.0.1',()=>s.close()))`]);
}

describe('a signal while stdout is held up: every event or packet received is written', () => {
  for (const [signal, json, net] of [['SIGTERM', false, 1], ['SIGINT', true, 2]] as const) {
    test(`nfct -E${json ? ' --json' : ''}, ${signal}: the 10,000 events it holds in memory are written`, async () => {
      const n = 10_000;
      const mark = json ? '"src":"10.99.' : 'src=10.99.';
      const probeMark = json ? `"src":"10.97.${net}.` : `src=10.97.${net}.`;
      const run = held(['-E', ...(json ? ['--json'] : [])]);
      try {
        await watchersReady(async (k) => {
          await ct.create({ protocol: 'udp', src: `10.97.${net}.${k + 1}`, dst: '10.98.0.1', srcPort: 7, dstPort: 53,
            timeout: 300 });
        }, (k) => run.text().includes(`${probeMark}${k + 1}"`) || run.text().includes(`${probeMark}${k + 1} `),
          'nfct -E');
        run.hold();
        expect((await ct.createMany(udpEntries(n, net * 20_000), { batchSize: 5000 })).created).toBe(n);
        await until(() => netfilterDrained(ns), 'nfct to take every event from the kernel');
        // Held up: most events wait in nfct's memory, not in the pipe.
        expect(run.lines(mark)).toBeLessThan(n / 2);
        const { stderr } = await run.stop(signal);
        expect(run.lines(mark)).toBe(n);
        expect(stderr).not.toMatch(/not written|lost|overrun/);
        const shown = n + run.lines(probeMark);
        expect(stderr).toMatch(new RegExp(`: ${shown} flow events have been shown\\.\\n$`));
      } finally {
        await ct.flush();
      }
    }, 120_000);
  }

  test('nfct -E --json, SIGTERM, then held off the CPU past its 750 ms: what it did not write it counts', async () => {
    const n = 150_000;
    const run = held(['-E', '--json']);
    try {
      await watchersReady(async (k) => {
        await ct.create({ protocol: 'udp', src: `10.97.3.${k + 1}`, dst: '10.98.0.1', srcPort: 7, dstPort: 53,
          timeout: 300 });
      }, (k) => run.text().includes(`"src":"10.97.3.${k + 1}"`), 'nfct -E');
      run.hold();
      expect((await ct.createMany(udpEntries(n, 60_000), { batchSize: 5000 })).created).toBe(n);
      await until(() => netfilterDrained(ns), 'nfct to take every event from the kernel', { ms: 60_000 });
      // Once it writes again it has seen the signal: then it is stopped for longer than the
      // time a signal leaves it (a stall), and let go.
      const before = run.size();
      const stopped = run.stop('SIGTERM');
      await until(() => run.size() > before, 'nfct to write after the signal');
      run.pause(true);
      await sleep(1000);
      run.pause(false);
      const { stderr } = await stopped;
      const written = run.lines('"src":"10.99.');
      const said = /: (\d+) events received from the kernel were not written: stopped by SIGTERM/.exec(stderr);
      const unwritten = said ? Number(said[1]) : 0;
      // Written and said add up to every event it received; the summary counts what it wrote.
      expect(written + unwritten).toBe(n);
      expect(written).toBeGreaterThan(0);
      if (written < n) expect(said, stderr).not.toBeNull();
      expect(stderr).toMatch(
        new RegExp(`: ${written + run.lines('"src":"10.97.3.')} flow events have been shown\\.\\n`),
      );
      expect(stderr).not.toMatch(/lost|overrun/);
    } finally {
      await ct.flush();
    }
  }, 180_000);

  test('nfct log --json, SIGTERM: the packets it holds in memory are written', async () => {
    await withLogRule(ns, 'stopflush', 9911, 31, async () => {
      const run = held(['log', '--group', '31', '--json']);
      const probe = '"srcPort":40001';
      const probes = await watchersReady(() => probePacket(9911), () => run.text().includes(probe), 'nfct log');
      run.hold();
      await flood(ns, 9911, 10_000);
      // Every packet the rule logged: the probes (seen by nfct or not) and the flood.
      const flooded = (await nftCounter(ns, 'stopflush')) - probes.length;
      expect(flooded).toBeGreaterThan(9_900); // the sender's own socket may refuse a few
      await until(() => netfilterDrained(ns), 'nfct to take every packet from the kernel');
      const floodLines = (): number => run.lines('"dstPort":9911') - run.lines(probe);
      expect(floodLines()).toBeLessThan(flooded / 2);
      const { stderr } = await run.stop('SIGTERM');
      expect(floodLines()).toBe(flooded);
      expect(stderr).toBe(`nfct: ${run.lines('"dstPort":9911')} packets logged; none lost.\n`);
    });
  }, 120_000);
});
