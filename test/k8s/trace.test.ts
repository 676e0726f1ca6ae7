// nfct trace on a node fixture, in the ruleset's own words, against the kernel's own tracers:
// xtables-monitor --trace for kube-proxy's iptables mode (iptables-nft), nft monitor trace for
// its nftables mode, hop for hop for the same packet (same trace id).
import type { ChildProcess } from 'node:child_process';

import { describe, expect, test } from 'vitest';

import { NODE_PODS, NODE_SERVICES, type ProxyMode, useNodeFixture } from '../helpers/k8s-node.js';
import { startNfct } from '../support/run-nfct.js';

const CLIENT = 'default/client-7c9d8-abcde';

/** nfct trace running in this process, its stdout lines and stderr collected, until stop(). */
function startTrace(argv: string[]): { lines: string[]; stderr: () => string; stop: () => Promise<number> } {
  const run = startNfct(argv);
  return {
    lines: run.lines,
    stderr: () => run.stderr,
    stop: async () => {
      process.emit('SIGINT');
      return (await run.done).code;
    },
  };
}

function collect(child: ChildProcess): () => string {
  let text = '';
  child.stdout!.on('data', (d: Buffer) => (text += d.toString()));
  return () => text;
}

async function until<T>(what: string | (() => string), fn: () => Promise<T | undefined> | T | undefined,
  ms = 15000): Promise<T>
{
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Our block of the packet from this source port: its id and its lines. */
function ourBlock(lines: readonly string[], sport: number): { id: string; lines: string[] } | undefined {
  for (let i = 0; i < lines.length; i++) {
    const m = /^packet ([0-9a-f]{8}) nftables ipv4 udp 10\.244\.1\.5:(\d+) -> 10\.96\.0\.10:53/.exec(lines[i]!);
    if (!m || Number(m[2]) !== sport) continue;
    const out = [lines[i]!];
    for (let j = i + 1; j < lines.length && lines[j]!.startsWith('  '); j++) out.push(lines[j]!);
    if (out[out.length - 1]!.startsWith('  => ')) return { id: m[1]!, lines: out };
  }
  return undefined;
}

/**
 * The rule hops the kernel's own tracer printed for trace `id`, outside our marking tables:
 * iptables-nft as `TABLE CHAIN HANDLE: -A ...` (xtables-monitor --trace prints
 * `TRACE: 2 <id> nat:CHAIN:rule:0xHANDLE:VERDICT  -4 -t nat -A CHAIN ...`), nftables as
 * `FAMILY TABLE CHAIN HANDLE: RULE (VERDICT)` (nft -a monitor trace prints
 * `trace id <id> ip TABLE CHAIN rule TEXT # handle N (verdict V)`).
 */
function oracleRules(mode: ProxyMode, text: string, id: string): string[] {
  if (mode === 'iptables-nft') {
    return [
      ...text.matchAll(new RegExp(`TRACE: \\d+ ${id} (\\w+):(\\S+?):rule:0x([0-9a-f]+):\\S+ +-4 -t \\w+ (.*)$`, 'gm')),
    ]
      .filter((m) => !m[1]!.startsWith('nfct_trace_'))
      .map((m) => `${m[1]} ${m[2]} ${parseInt(m[3]!, 16)}: ${m[4]!.trim()}`);
  }
  return [
    ...text.matchAll(
      new RegExp(`^trace id ${id} (ip6?) (\\S+) (\\S+) rule (.*) # handle (\\d+) \\(verdict ([^)]*)\\)`, 'gm'),
    ),
  ]
    .filter((m) => !m[2]!.startsWith('nfct_trace_'))
    .map((m) => `${m[1]} ${m[2]} ${m[3]} ${m[5]}: ${m[4]!.trim()} (${m[6]})`);
}

describe.each(['iptables-nft', 'nftables'] as ProxyMode[])('nfct trace, kube-proxy in %s mode', (mode) => {
  const node = useNodeFixture(mode);

  /** The kernel's own tracer for this mode, in the node; the text it printed so far. */
  function startOracle(): { oracle: ChildProcess; oracleText: () => string } {
    const oracle = mode === 'nftables'
      ? node().node.spawn('nft', ['-a', 'monitor', 'trace'], { stdio: ['ignore', 'pipe', 'ignore'] })
      : node().node.spawn('xtables-monitor', ['--trace'], { stdio: ['ignore', 'pipe', 'ignore'] });
    return { oracle, oracleText: collect(oracle) };
  }

  /** Waits for nfct trace's notice: its stream listens and its rule is in place. */
  const noticed = (trace: { stderr: () => string }) =>
    until('the notice of what is traced',
      () => (trace.stderr().includes(`nfct: tracing protocol=udp dstPort=53 in ${node().node.name}; Ctrl-C ends it.`)
        ? true
        : undefined));

  /**
   * Asks the DNS Service from new source ports (after `port`) until `ours(sport)` finds our
   * packet from that port and the oracle has printed its trace id too.
   */
  async function askUntilBothSaw<T extends { id: string }>(port: number, oracleText: () => string,
    ours: (sport: number) => T | undefined, said: () => string): Promise<{ found: T; sport: number }>
  {
    let sport = port;
    const found = await until(
      () => `a packet both tracers saw; ours: ${said()}; theirs: ${oracleText().slice(-1500)}`,
      async () => {
        sport++;
        await node().ask(CLIENT, '10.96.0.10', 53, sport);
        const deadline = Date.now() + 2000;
        while (Date.now() < deadline) {
          const o = ours(sport);
          if (o && oracleText().includes(o.id)) return o;
          await new Promise((r) => setTimeout(r, 50));
        }
        return undefined;
      },
    );
    return { found, sport };
  }

  /**
   * The rule hops of packet `id` the oracle printed (whole lines only: one still being written
   * waits), once it has shown `count` of them: it prints a packet's hops as the kernel reports
   * them, and more, or others, fail the comparison.
   */
  async function theirRulesOnce(oracleText: () => string, id: string, count: number): Promise<() => string[]> {
    const theirRules = (): string[] => oracleRules(mode, oracleText().replace(/[^\n]*$/, ''), id);
    await until(() => `the oracle to show ${count} rule hops of ${id}: ${theirRules().join(' | ')}`,
      () => (theirRules().length >= count ? true : undefined));
    return theirRules;
  }

  /** Runs `body`, then stops nfct trace and the oracle, also on failure: nfct exits 0. */
  async function tracing(trace: { stop: () => Promise<number> }, oracle: ChildProcess,
    body: () => Promise<void>): Promise<void>
  {
    let code: number | undefined;
    try {
      await body();
    } finally {
      code = await trace.stop();
      oracle.kill();
    }
    expect(code).toBe(0);
  }

  test("every hop as its tool prints it, the Service named on the jump, the packet rewritten by DNAT; the kernel's tracer agrees hop for hop", async () => {
    const { oracle, oracleText } = startOracle();
    const trace = startTrace(['trace', '-p', 'udp', '--dport', '53', '--netns', node().node.name]);
    await tracing(trace, oracle, async () => {
      await noticed(trace);
      expect((await node().node.exec('nft', ['list', 'tables'])).stdout).toContain('nfct_trace_');
      // Ask until both tracers have shown one packet whole (each from a port of its own).
      const { found, sport } = await askUntilBothSaw(43000, oracleText, (p) => ourBlock(trace.lines, p),
        () => `${trace.lines.slice(-30).join('\n')}; stderr ${trace.stderr()}`);
      const lines = found.lines;
      const hops = lines.filter((l) => /^ {2}ip6? /.test(l));
      // The rule hops of that packet, ours and the oracle's, in one form to compare.
      const ourRules = mode === 'iptables-nft'
        ? hops.filter((l) => / rule handle \d+: -A /.test(l)).map((l) => {
          const m = /^ {2}ip (\S+) (\S+) rule handle (\d+): (.*?) \(verdict/.exec(l)!;
          return `${m[1]} ${m[2]} ${m[3]}: ${m[4]}`;
        })
        : hops.filter((l) => / rule handle \d+: /.test(l)).map((l) => {
          const m = /^ {2}(ip6?) (\S+) (\S+) rule handle (\d+): (.*) \(verdict ([^)]*)\)/.exec(l)!;
          return `${m[1]} ${m[2]} ${m[3]} ${m[4]}: ${m[5]} (${m[6]})`;
        });
      const theirRules = await theirRulesOnce(oracleText, found.id, ourRules.length);
      expect(lines[0]).toMatch(
        new RegExp(
          `^packet ${found.id} nftables ipv4 udp 10\\.244\\.1\\.5:${sport} -> 10\\.96\\.0\\.10:53 iif cali[0-9a-f]+ hook prerouting ct new$`,
        ),
      );
      // Our own marking table is not shown.
      expect(lines.some((l) => l.includes('nfct_trace_'))).toBe(false);
      // After the DNAT, the packet is shown going to the endpoint.
      expect(lines).toContainEqual(
        expect.stringMatching(
          /^ {2}now udp 10\.244\.1\.5:\d+ -> 10\.244\.1\.7:53 iif cali[0-9a-f]+ oif cali[0-9a-f]+ hook forward/,
        ),
      );
      expect(lines[lines.length - 1]).toBe('  => accept');

      if (mode === 'iptables-nft') {
        // iptables-save form, comments and all; the jump to the Service chain names the Service.
        expect(hops).toContainEqual(
          expect.stringMatching(
            /^ {2}ip nat KUBE-SERVICES rule handle \d+: -A KUBE-SERVICES -d 10\.96\.0\.10\/32 -p udp -m comment --comment "kube-system\/kube-dns:dns cluster IP" -m udp --dport 53 -j KUBE-SVC-TCOU7JCQXEZGVUNU \(verdict jump KUBE-SVC-TCOU7JCQXEZGVUNU\) \[service kube-system\/kube-dns:dns\]$/,
          ),
        );
        expect(hops).toContainEqual(
          expect.stringMatching(
            /-A KUBE-SEP-[A-Z2-7]{16} -p udp -m comment --comment "kube-system\/kube-dns:dns" -m udp -j DNAT --to-destination 10\.244\.1\.7:53 \(verdict accept\)$/,
          ),
        );
        const theirs = theirRules();
        expect(theirs.length).toBeGreaterThan(4);
        expect(ourRules).toEqual(theirs);
      } else {
        expect(hops).toContainEqual(
          expect.stringMatching(
            /^ {2}ip kube-proxy services rule handle \d+: ip daddr \. meta l4proto \. th dport vmap @service-ips \(verdict goto service-[A-Z2-7]{8}-kube-system\/kube-dns\/udp\/dns\) \[service kube-system\/kube-dns:dns\]$/,
          ),
        );
        expect(hops).toContainEqual(
          expect.stringMatching(/: meta l4proto udp dnat to 10\.244\.1\.7:53 \(verdict accept\)$/),
        );
        const theirs = theirRules();
        expect(theirs.length).toBeGreaterThan(3);
        expect(ourRules).toEqual(theirs);
      }
    });
    expect((await node().node.execOk('nft', ['list', 'tables'])).stdout).not.toContain('nfct_trace');
  });

  test("--json: the packet once, rules in the ruleset's words with their Service, hooks and ct state, the packet again after the DNAT; the kernel's tracer agrees", async () => {
    const { oracle, oracleText } = startOracle();
    // Every line it prints is checked against schema/trace.json when it ends (startNfct).
    const trace = startTrace(['trace', '--json', '-p', 'udp', '--dport', '53', '--netns', node().node.name]);
    interface Rule {
      family: string;
      table: string;
      chain: string;
      handle?: number;
      text?: string;
      syntax?: string;
      service?: string;
    }
    interface Hop {
      kind: string;
      rule: number;
      verdict?: string;
      target?: string;
      hook?: string;
      ct?: { state?: string };
      packet?: { ip: { dst: string }; udp: { dstPort: number } };
    }
    interface Line {
      id: string;
      packet: { ip: { src: string; dst: string }; udp: { srcPort: number; dstPort: number } };
      rules: Rule[];
      hops: Hop[];
      verdict?: string;
      netns: { label: string };
    }
    await tracing(trace, oracle, async () => {
      await noticed(trace);
      const { found } = await askUntilBothSaw(44000, oracleText,
        (sport) =>
          trace.lines.map((l) => JSON.parse(l) as Line).find((o) =>
            o.packet?.udp?.srcPort === sport && o.packet.ip.dst === '10.96.0.10'
          ), () => trace.lines.slice(-5).join('\n'));
      const { rules, hops } = found;
      expect(found.netns.label).toBe(node().node.name);
      expect(found.packet.ip.src).toBe('10.244.1.5');
      expect(found.verdict).toBe('accept');
      // As the text's first line: the hook and conntrack state where the packet came in.
      expect(hops[0]).toMatchObject({ hook: 'prerouting', ct: { state: 'new' } });
      // Each rule once, however often it was passed; our own marking table never.
      const keys = rules.map((r) => JSON.stringify([r.family, r.table, r.chain, r.handle ?? null]));
      expect(new Set(keys).size).toBe(keys.length);
      expect(rules.some((r) => r.table.startsWith('nfct_trace_'))).toBe(false);
      // The packet again where the DNAT rewrote it, and only there.
      const rewritten = hops.filter((h) => h.packet !== undefined);
      expect(rewritten.length).toBe(1);
      expect(rewritten[0]!.packet).toMatchObject({ ip: { dst: '10.244.1.7' }, udp: { dstPort: 53 } });
      // The jump to the Service's chain names the Service, in the ruleset's own syntax.
      const jump = rules.find((r) => r.service === 'kube-system/kube-dns:dns');
      expect(jump?.syntax).toBe(mode === 'iptables-nft' ? 'iptables' : 'nft');
      // The rule hops, in order, as the kernel's tracer printed them.
      const ours = hops.filter((h) => h.kind === 'rule').map((h) => {
        const r = rules[h.rule]!;
        return mode === 'iptables-nft'
          ? `${r.table} ${r.chain} ${r.handle}: ${r.text}`
          : `${r.family} ${r.table} ${r.chain} ${r.handle}: ${r.text} (${h.verdict}${h.target ? ` ${h.target}` : ''})`;
      });
      const theirs = (await theirRulesOnce(oracleText, found.id, ours.length))();
      expect(theirs.length).toBeGreaterThan(3);
      expect(ours).toEqual(theirs);
    });
  });
});

describe('nfct trace without a match', () => {
  const node = useNodeFixture('nftables', NODE_PODS.slice(0, 2), NODE_SERVICES.slice(0, 1));

  test('says what it waits for: packets something else marks', async () => {
    const trace = startTrace(['trace', '--nftables', '--netns', node().node.name]);
    await until('the message', () => (trace.stderr().includes('waiting for') ? true : undefined));
    const code = await trace.stop();
    expect(code).toBe(0);
    expect(trace.stderr()).toContain(
      `nfct: no -p/-s/-d/--sport/--dport/--port given: waiting for packets already marked for tracing in ${node().node.name} (nft 'meta nftrace set 1', iptables -j TRACE); give a match to trace packets of your choice.`,
    );
  });
});
