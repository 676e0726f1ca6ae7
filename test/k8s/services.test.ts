// readServices() on a node fixture in each of kube-proxy's modes: the Service ports and their
// endpoints as the rules define them, checked against where a client's packets really go.
import { describe, expect, test } from 'vitest';

import { NfctError } from '../../lib/index.js';
import { parseServices, readRuleset, readServices } from '../../lib/k8s/services.js';
import { type ProxyMode, useNodeFixture } from '../helpers/k8s-node.js';

const MODES: ProxyMode[] = ['iptables-nft', 'iptables-legacy', 'nftables'];

describe.each(MODES)('readServices() with kube-proxy in %s mode', (mode) => {
  const node = useNodeFixture(mode);

  test('each Service port with its cluster IP and endpoints; the client reaches the endpoint named', async () => {
    const services = await readServices({ netns: node().node.path });
    const dns = services.lookup('udp', '10.96.0.10', 53)!;
    expect(dns).toMatchObject({ name: 'kube-system/kube-dns:dns',
      kubernetes: { namespace: 'kube-system', service: 'kube-dns', port: 'dns' }, protocol: 'udp',
      address: '10.96.0.10', port: 53 });
    expect(dns.endpoints).toEqual([{ address: '10.244.1.7', port: 53 }]);
    expect(dns.ruleset).toBe(mode);
    expect(services.lookup(6, '10.96.0.10', 53)?.name).toBe('kube-system/kube-dns:dns-tcp');
    const web = services.lookup('tcp', '10.96.0.20', 80)!;
    expect(web.name).toBe('default/web:http');
    expect(web.endpoints).toEqual([{ address: '10.244.1.9', port: 8080 }]);
    expect(services.lookup('udp', '10.96.0.20', 80)).toBeUndefined();
    // The traffic agrees: the pod that answers is the endpoint the rules name.
    expect(await node().ask('default/client-7c9d8-abcde', '10.96.0.10', 53, 41000)).toBe('coredns-5d78c9869d-x2v7q');
    const conn = await node().hold('default/client-7c9d8-abcde', '10.96.0.20', 80);
    expect(conn.answeredBy).toBe('web-6b7f9c-q4z8m');
    conn.close();
  });

  test('endpoints moved: read again, the new endpoints; a Service without endpoints has none', async () => {
    await node().setEndpoints('kube-system/kube-dns', ['kube-system/coredns-5d78c9869d-h8k2p']);
    await node().setEndpoints('default/web', []);
    const services = await readServices({ netns: node().node.path });
    expect(services.lookup('udp', '10.96.0.10', 53)!.endpoints).toEqual([{ address: '10.244.1.8', port: 53 }]);
    const web = services.lookup('tcp', '10.96.0.20', 80)!;
    expect(web.name).toBe('default/web:http');
    expect(web.endpoints).toEqual([]);
    expect(await node().ask('default/client-7c9d8-abcde', '10.96.0.10', 53, 41001)).toBe('coredns-5d78c9869d-h8k2p');
    await node().setEndpoints('kube-system/kube-dns', ['kube-system/coredns-5d78c9869d-x2v7q',
      'kube-system/coredns-5d78c9869d-h8k2p']);
    const both = await readServices({ netns: node().node.path });
    expect(both.lookup('udp', '10.96.0.10', 53)!.endpoints.map((e) => e.address).sort()).toEqual(['10.244.1.7',
      '10.244.1.8']);
    // The tools' own listings read the same Services as the netlink reading (nft -j for nf_tables,
    // iptables-save for iptables-nft's and legacy tables).
    const tool = async (cmd: string, args: string[]): Promise<string> => (await node().node.exec(cmd, args)).stdout;
    const nftJson = await tool('nft', ['-j', 'list', 'ruleset']);
    const saves = mode === 'nftables'
      ? []
      : [{ ruleset: mode, family: 'ipv4' as const,
        text: await tool(mode === 'iptables-nft' ? 'iptables-nft-save' : 'iptables-legacy-save', []) }];
    const byTools = parseServices({ nftJson, iptablesSave: saves });
    const key = (p: { protocol?: string; address: string; port?: number }): string =>
      `${p.protocol} ${p.address} ${p.port}`;
    const norm = (
      ports: readonly { protocol?: string; address: string; port?: number; name: string; endpoints: unknown[];
        ruleset: string }[],
    ) =>
      [...ports].sort((a, b) => key(a).localeCompare(key(b))).map((p) => ({ key: key(p), name: p.name,
        endpoints: [...p.endpoints].map((e) => JSON.stringify(e)).sort(), ruleset: p.ruleset })
      );
    expect(norm(both.ports)).toEqual(norm(byTools.ports));
    expect(both.ports.length).toBe(3);
    // Chains name their Service (what trace prints beside a jump).
    const rs = await readRuleset({ netns: node().node.path });
    const sp = rs.services.lookup('udp', '10.96.0.10', 53)!;
    expect(rs.services.chainService(sp.table, sp.chain)).toBe('kube-system/kube-dns:dns');
  });
});

describe('plain DNAT rules and bad rulesets', () => {
  test('a plain nft DNAT rule is named by its comment, an iptables one by its chain', () => {
    const nftJson = JSON.stringify({ nftables: [
      { table: { family: 'ip', name: 'mynat', handle: 1 } },
      { chain: { family: 'ip', table: 'mynat', name: 'pre', handle: 1 } },
      { rule: { family: 'ip', table: 'mynat', chain: 'pre', handle: 2, comment: 'legacy dns', expr: [
        { match: { op: '==', left: { payload: { protocol: 'ip', field: 'daddr' } }, right: '10.0.0.53' } },
        { match: { op: '==', left: { payload: { protocol: 'udp', field: 'dport' } }, right: 53 } },
        { dnat: { addr: '192.168.7.7', port: 5353 } },
      ] } },
    ] });
    const text = ['*nat', ':PREROUTING ACCEPT [0:0]', ':WEB-FRONT - [0:0]',
      '-A PREROUTING -d 10.0.0.80/32 -p tcp -m tcp --dport 80 -j WEB-FRONT',
      '-A WEB-FRONT -p tcp -j DNAT --to-destination 192.168.7.8:8080', 'COMMIT', ''].join('\n');
    const s = parseServices({ nftJson, iptablesSave: [{ ruleset: 'iptables-legacy', family: 'ipv4', text }] });
    expect(s.lookup('udp', '10.0.0.53', 53)).toMatchObject({ name: 'legacy dns',
      endpoints: [{ address: '192.168.7.7', port: 5353 }], ruleset: 'nftables' });
    expect(s.lookup('tcp', '10.0.0.80', 80)).toMatchObject({ name: 'WEB-FRONT',
      endpoints: [{ address: '192.168.7.8', port: 8080 }], ruleset: 'iptables-legacy' });
    expect(s.lookup('tcp', '10.0.0.80', 80)!.kubernetes).toBeUndefined();
  });

  test('a malformed ruleset is an NfctError EINVAL saying where, not a crash', () => {
    const bad = (texts: Parameters<typeof parseServices>[0]): NfctError => {
      try {
        parseServices(texts);
      } catch (e) {
        return e as NfctError;
      }
      throw new Error('no error');
    };
    const e1 = bad({ nftJson: '{"nftables": [ {"table": ' });
    expect(e1).toBeInstanceOf(NfctError);
    expect(e1.code).toBe('EINVAL');
    expect(e1.message).toMatch(/nft -j list ruleset failed with EINVAL \(not JSON/);
    const e2 = bad({
      iptablesSave: [{ ruleset: 'iptables-nft', family: 'ipv4',
        text: '*nat\n-A PREROUTING -m comment --comment "unterminated -j X\nCOMMIT\n' }],
    });
    expect(e2.code).toBe('EINVAL');
    expect(e2.message).toMatch(/iptables-nft-save failed with EINVAL \(unterminated quote/);
    const e3 = bad({ iptablesSave: [{ ruleset: 'iptables-legacy', family: 'ipv6', text: '-A PREROUTING -j X\n' }] });
    expect(e3.message).toMatch(/ip6tables-legacy-save failed with EINVAL \(line 1 is outside a table/);
    expect(() => parseServices({ nftJson: '{"x": 1}' })).toThrow(/no "nftables" array/);
    expect(() => parseServices({ bogus: 1 } as never)).toThrow(TypeError);
  });
});
