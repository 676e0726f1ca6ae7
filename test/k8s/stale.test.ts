// The stale-entry story on a node fixture: a client's UDP "DNS" entry is [ASSURED] towards
// CoreDNS pod A; A goes away and the Service now DNATs to B; the client's packets keep the old
// entry alive and go nowhere. findStaleEntries() names it, and the `nfct -D` it gives removes
// exactly that entry: the client's next packet reaches B. conntrack -L is the oracle.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { Conntrack, type Flow } from '../../lib/index.js';
import { readServices } from '../../lib/k8s/services.js';
import { findStaleEntries, serviceOfFlow, staleDeleteArgs } from '../../lib/k8s/stale.js';
import { NODE_PODS, NODE_SERVICES, NodeFixture, type ProxyMode } from '../helpers/k8s-node.js';
import { runNfct } from '../support/run-nfct.js';

const CLIENT = 'default/client-7c9d8-abcde';
const OLD = 'kube-system/coredns-5d78c9869d-x2v7q';
const NEW = 'kube-system/coredns-5d78c9869d-h8k2p';

async function dnatEntries(path: string): Promise<Flow[]> {
  const ct = await Conntrack.open({ netns: path });
  try {
    const out: Flow[] = [];
    for await (const f of ct.list({ status: 'DST_NAT' })) out.push(f);
    return out;
  } finally {
    await ct.close();
  }
}

/** Asks until the client's entry is [ASSURED] (the kernel wants it 2 s old with replies seen). */
async function untilAssured(node: NodeFixture, port: number): Promise<void> {
  const deadline = Date.now() + 15000;
  for (;;) {
    expect(await node.ask(CLIENT, '10.96.0.10', 53, port)).toBe(OLD.split('/')[1]);
    const r = await node.node.execOk('conntrack', ['-L', '-p', 'udp', '--sport', String(port)]);
    if (r.stdout.includes('ASSURED')) return;
    if (Date.now() > deadline) throw new Error(`no [ASSURED] entry for port ${port}: ${r.stdout}`);
    await new Promise((res) => setTimeout(res, 400));
  }
}

describe.each([['iptables-nft', 1], ['nftables', 0]] as [ProxyMode, number][])(
  'stale entries, kube-proxy in %s mode, nf_conntrack_acct=%i',
  (mode, acct) => {
    let node: NodeFixture;
    beforeAll(async () => {
      node = await NodeFixture.create(mode, NODE_PODS, NODE_SERVICES);
      await node.node.execOk('sysctl', ['-q', '-w', `net.netfilter.nf_conntrack_acct=${acct}`]);
    }, 60000);
    afterAll(async () => {
      await node?.remove();
    });

    test('an [ASSURED] entry towards a vanished endpoint is found, named, and its nfct -D fixes it', async () => {
      await untilAssured(node, 40053);
      const tcp = await node.hold(CLIENT, '10.96.0.10', 53, 40054);
      expect(tcp.answeredBy).toBe(OLD.split('/')[1]);
      // Endpoint A goes, the Service now DNATs to B.
      await node.setEndpoints('kube-system/kube-dns', [NEW]);
      await node.removePod(OLD);
      const before = await dnatEntries(node.node.path);
      // The client keeps asking from the same port: its packets refresh the old entry, nobody answers.
      expect(await node.ask(CLIENT, '10.96.0.10', 53, 40053)).toBeUndefined();
      const after = await dnatEntries(node.node.path);
      const services = await readServices({ netns: node.node.path });

      const client = after.find((f) => f.protocol === 'udp' && f.original.srcPort === 40053)!;
      expect(serviceOfFlow(client, services)).toMatchObject({ name: 'kube-system/kube-dns:dns',
        endpoint: { address: '10.244.1.7', port: 53 }, stale: true });
      const groups = findStaleEntries(before, after, services);
      const udp = groups.find((g) => g.protocol === 'udp')!;
      expect(udp.service.name).toBe('kube-system/kube-dns:dns');
      expect(udp.service.endpoints).toEqual([{ address: '10.244.1.8', port: 53 }]);
      expect(udp.oldEndpoint).toEqual({ address: '10.244.1.7', port: 53 });
      expect(udp.entries).toBe(1);
      expect(udp.assured).toBe(1);
      expect([...udp.clients]).toEqual([['10.244.1.5', 1]]);
      // Counters judged per entry: only an entry made with accounting on carries them.
      expect(udp.withCounters).toBe(acct);
      expect(udp.growing).toBe(acct);
      const tcpGroup = groups.find((g) => g.protocol === 'tcp')!;
      expect(tcpGroup.service.name).toBe('kube-system/kube-dns:dns-tcp');
      expect(tcpGroup.oldEndpoint).toEqual({ address: '10.244.1.7', port: 53 });
      tcp.close();

      // A fresh client port is not stale: it goes to B.
      expect(await node.ask(CLIENT, '10.96.0.10', 53, 40099)).toBe(NEW.split('/')[1]);
      const args = staleDeleteArgs(udp);
      expect(args).toEqual(['-D', '-p', 'udp', '-d', '10.96.0.10', '--dport', '53', '-r', '10.244.1.7',
        '--reply-port-src', '53']);
      // nfct doctor says the same, in the operator's terms, with the command to run.
      const doc = await runNfct(['doctor', '--netns', node.node.name, '--pod-log-dir', node.podLogDir, '--interval',
        '0.2', '--json']);
      const findings = doc.stdout.trim().split('\n').map((l) =>
        JSON.parse(l) as { check: string; title: string; seen: Record<string, unknown>; fix: string }
      );
      const f = findings.find((x) => x.check === 'stale-dnat' && x.seen.protocol === 'udp')!;
      expect(f.title).toBe(
        `UDP to kube-system/kube-dns:dns (10.96.0.10:53) still DNATed to 10.244.1.7:53, no longer one of its endpoints: 1 entry (1 [ASSURED]) from default/client-7c9d8-abcde (10.244.1.5)`,
      );
      expect(f.seen).toMatchObject({ service: 'kube-system/kube-dns:dns', oldEndpoint: '10.244.1.7:53',
        endpoints: ['10.244.1.8:53'],
        clients: [{ address: '10.244.1.5', entries: 1, pod: 'default/client-7c9d8-abcde' }] });
      const t = findings.find((x) => x.check === 'stale-dnat' && x.seen.protocol === 'tcp')!;
      expect(t.title).toMatch(
        /^TCP to kube-system\/kube-dns:dns-tcp \(10\.96\.0\.10:53\) still DNATed to 10\.244\.1\.7:53/,
      );
      expect(f.fix).toBe(`nfct -D --netns ${node.node.name} ${args.slice(1).join(' ')}`);
      const r = await runNfct(f.fix.split(' ').slice(1));
      expect(r.stderr).toMatch(/1 flow entries have been deleted/);
      // Only the stale entry went: the fresh one towards B is still there.
      const left = (await node.node.execOk('conntrack', ['-L', '-p', 'udp'])).stdout;
      expect(left).toMatch(/sport=40099 dport=53 .*src=10\.244\.1\.8/);
      expect(left).not.toMatch(/sport=40053 /);
      // And the client's next packet from the same port reaches the new endpoint.
      expect(await node.ask(CLIENT, '10.96.0.10', 53, 40053)).toBe(NEW.split('/')[1]);
    });
  },
);
