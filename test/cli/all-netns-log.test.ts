// nfct log --all-netns: an NFLOG group in every namespace of the node. Two namespaces log
// their own loopback traffic to the same group with an nft rule each; every packet comes out
// marked with its own namespace (text and --json), and for each namespace the count equals
// the packet counter of its rule (nft is the oracle). A namespace where another socket holds
// the group (tcpdump here), or that goes away, is said once and skipped. And nfct trace
// --all-netns is refused, with the reason.
import { setTimeout as sleep } from 'node:timers/promises';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { createNetns, type Netns } from '../helpers/netns.js';
import { spawnNfct } from '../helpers/nfct.js';
import { udpFlow } from '../helpers/traffic.js';
import { runNfct } from '../support/run-nfct.js';

/** A group no other test uses. */
const GROUP = 20_000 + (process.pid % 20_000);
const PORT = 40_999;
let a: Netns;
let b: Netns;

/** The rule: datagrams to PORT leave through `lo`, are counted and logged to GROUP with a prefix naming the namespace. */
function ruleset(ns: Netns): string {
  return `table inet allns {
  chain out {
    type filter hook output priority 0;
    udp dport ${PORT} counter log group ${GROUP} prefix "${prefixOf(ns)}"
  }
}
`;
}
const prefixOf = (ns: Netns): string => `allns ${ns === a ? 'a' : 'b'}: `;

/** The rule's packet counter (the oracle). */
async function counter(ns: Netns): Promise<number> {
  const text = (await ns.execOk('nft', ['list', 'table', 'inet', 'allns'])).stdout;
  return Number(/counter packets (\d+)/.exec(text)![1]);
}

/** Whether the namespace's NFLOG group is bound (the kernel's own table of instances). */
async function bound(ns: Netns): Promise<boolean> {
  const text = (await ns.execOk('cat', ['/proc/net/netfilter/nfnetlink_log'])).stdout;
  return text.split('\n').some((l) => l.trim().split(/\s+/)[0] === String(GROUP));
}

async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 15_000,
  said?: () => string): Promise<void>
{
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${said ? `; nfct said:\n${said()}` : ''}`);
    await sleep(100);
  }
}

interface Run {
  /** Every stdout line so far. */
  lines: string[];
  stderr: () => string;
  /** SIGINT, then the exit status. */
  stop(): Promise<number | null>;
}

function nfctLog(args: string[]): Run {
  const { child, out } = spawnNfct(['log', '--all-netns', '--group', String(GROUP), ...args]);
  const guard = setTimeout(() => child.kill('SIGKILL'), 60_000);
  return {
    lines: out.all,
    stderr: () => out.err,
    async stop() {
      child.kill('SIGINT');
      try {
        return await out.closed;
      } finally {
        clearTimeout(guard);
      }
    },
  };
}

/** Starts nfct log --all-netns, sends `counts` datagrams in each namespace, stops it once they all came. */
async function logged(args: string[], counts: Map<Netns, number>, ours: (line: string, ns: Netns) => boolean) {
  const before = new Map(await Promise.all([...counts.keys()].map(async (ns) => [ns, await counter(ns)] as const)));
  const run = nfctLog(args);
  for (const ns of counts.keys()) await until(`NFLOG group ${GROUP} bound in ${ns.name}`, () => bound(ns));
  for (const [ns, count] of counts) await udpFlow(ns, { count, listenPort: PORT });
  const want = [...counts.values()].reduce((x, y) => x + y, 0);
  // The kernel sends a partial batch after 0.1 s.
  await until('every packet',
    () => [...counts.keys()].reduce((n, ns) => n + run.lines.filter((l) => ours(l, ns)).length, 0) >= want).catch(() =>
      undefined
    );
  const code = await run.stop();
  const delta = new Map(
    await Promise.all([...counts.keys()].map(async (ns) => [ns, (await counter(ns)) - before.get(ns)!] as const)),
  );
  return { run, code, delta };
}

beforeAll(async () => {
  [a, b] = await Promise.all([createNetns('nfct-loga'), createNetns('nfct-logb')]);
  for (const ns of [a, b]) await ns.execOk('nft', ['-f', '-'], { input: ruleset(ns) });
});
afterAll(async () => {
  await Promise.all([a?.remove(), b?.remove()]);
});

describe('nfct log --all-netns', () => {
  test("text: each namespace's packets marked [name], as many as its rule counted", async () => {
    const counts = new Map([[a, 7], [b, 11]]);
    const ours = (l: string, ns: Netns) => l.startsWith(`[${ns.name}] `);
    const { run, code, delta } = await logged([], counts, ours);
    expect(code).toBe(0);
    for (const [ns, count] of counts) {
      const mine = run.lines.filter((l) => ours(l, ns));
      expect(delta.get(ns)).toBe(count);
      expect(mine).toHaveLength(delta.get(ns)!);
      // The rule's own prefix says where the packet was logged: never under the other's mark.
      for (const line of mine) {
        expect(line).toMatch(
          new RegExp(
            `^\\[${ns.name}\\] \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z ${
              prefixOf(ns)
            }IN= OUT=lo .* PROTO=UDP SPT=\\d+ DPT=${PORT} `,
          ),
        );
      }
    }
    expect(run.lines.filter((l) => l.includes('allns ')).every((l) => ours(l, a) || ours(l, b))).toBe(true);
    // One summary for every namespace: all the packets printed, nothing lost.
    const m = /^nfct: (\d+) packets logged from (\d+) namespaces; none lost\.$/m.exec(run.stderr());
    expect(m, run.stderr()).not.toBeNull();
    expect(Number(m![1])).toBe(run.lines.length);
    expect(Number(m![2])).toBeGreaterThanOrEqual(2);
  }, 60_000);

  test('--json: a netns object on each packet, as -E --all-netns adds it; counts as the rules counted', async () => {
    const counts = new Map([[a, 5], [b, 3]]);
    interface Row {
      prefix?: string;
      group: number;
      netns: { label: string; names: string[]; path: string; inode: number };
    }
    const parse = (l: string): Row | undefined => (l.startsWith('{') ? (JSON.parse(l) as Row) : undefined);
    const ours = (l: string, ns: Netns) => parse(l)?.netns.label === ns.name;
    const { run, code, delta } = await logged(['--json'], counts, ours);
    expect(code).toBe(0);
    for (const [ns, count] of counts) {
      const rows = run.lines.filter((l) => ours(l, ns)).map((l) => parse(l)!);
      expect(delta.get(ns)).toBe(count);
      expect(rows).toHaveLength(delta.get(ns)!);
      for (const r of rows) {
        expect(r).toMatchObject({ group: GROUP, prefix: prefixOf(ns),
          netns: { label: ns.name, names: [ns.name], path: `/run/netns/${ns.name}` } });
      }
    }
  }, 60_000);

  test('a namespace where the group is held (EBUSY) and one that goes away: each said once, skipped; the rest logged',
    async () => {
      // tcpdump holds the group in b: nfct cannot bind it there.
      const holder = b.spawn('tcpdump', ['-i', `nflog:${GROUP}`, '-w', '/dev/null'], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let held = '';
      holder.stderr!.on('data', (d: Buffer) => (held += d.toString()));
      const c = await createNetns('nfct-logc');
      try {
        await until('tcpdump listening', () => held.includes('listening'));
        const before = await counter(a);
        const run = nfctLog([]);
        await until(`NFLOG group ${GROUP} bound in ${a.name} and ${c.name}`,
          async () => (await bound(a)) && (await bound(c)));
        await udpFlow(a, { count: 4, listenPort: PORT });
        await udpFlow(b, { count: 2, listenPort: PORT });
        // c is deleted while nfct follows it; the next look at the node's namespaces finds it gone
        // (and a later look says nothing more of b or c: it happened once nfct has bound the
        // group in a namespace made after the first).
        await c.remove();
        const gone = `nfct: [${c.name}] the namespace is gone: no longer logged`;
        await until('the namespace gone', () => run.stderr().includes(gone));
        const d = await createNetns('nfct-allnsd');
        try {
          // (A look lists every namespace of the node and opens the new ones: on a busy node, or
          // with the code instrumented for mutation testing, one may take a while.)
          await until(`a later look at the node's namespaces (NFLOG group ${GROUP} bound in ${d.name})`, () => bound(d),
            120_000, run.stderr);
        } finally {
          await d.remove();
        }
        const code = await run.stop();
        expect(code).toBe(0);
        const busy = `nfct: [${b.name}] NFLOG group ${GROUP} is held by pid ${holder.pid} (tcpdump): skipped`;
        expect(run.stderr().split('\n').filter((l) => l === busy)).toHaveLength(1);
        expect(run.stderr().split('\n').filter((l) => l === gone)).toHaveLength(1);
        expect(run.stderr()).not.toContain(`[${a.name}]`);
        expect(run.lines.filter((l) => l.startsWith(`[${a.name}] `))).toHaveLength((await counter(a)) - before);
        expect((await counter(a)) - before).toBe(4);
        expect(run.lines.some((l) => l.startsWith(`[${b.name}] `))).toBe(false);
        expect(run.stderr()).toMatch(/^nfct: \d+ packets logged from \d+ namespaces; none lost\.$/m);
      } finally {
        holder.kill('SIGINT');
        if (!c.removed) await c.remove();
      }
    }, 180_000);

  test('refused: --all-netns with --netns or --pid (exit 2); nfct trace --all-netns, saying why and what instead', async () => {
    const runs = [
      await runNfct(['log', '--group', '1', '--all-netns', '--netns', a.name]),
      await runNfct(['log', '--pid', '1', '--all-netns', '--group', '1']),
      await runNfct(['trace', '-p', 'udp', '--dport', String(PORT), '--all-netns']),
    ];
    expect(runs.map((r) => r.code)).toEqual([2, 2, 2]);
    expect(runs[0]!.stderr).toContain('nfct log: --all-netns cannot be combined with --netns');
    expect(runs[1]!.stderr).toContain('nfct log: --all-netns cannot be combined with --pid');
    expect(runs[2]!.stderr).toMatch(
      /nfct trace: --all-netns is refused: .*killed outright.* --netns NAME or --pid PID/,
    );
    // Refused before anything was installed.
    for (const ns of [a, b]) expect((await ns.execOk('nft', ['list', 'tables'])).stdout).not.toContain('nfct_trace_');
  });
});
