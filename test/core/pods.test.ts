// Pod identity from the node alone: the fixture's pod log directories and cgroup paths, with
// `ip` (addresses) and the directory listing as the oracles.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { statSync } from 'node:fs';

import { parseFibTrie, parseIfInet6, readNamespaceAddresses, readPodLogDirs } from '../../lib/core/pods.js';
import { createExporter, listNamespaces, namespaceLabel } from '../../lib/index.js';
import { NODE_PODS, NODE_SERVICES, NodeFixture } from '../helpers/k8s-node.js';

describe('pods of a node', () => {
  let node: NodeFixture;
  beforeAll(async () => {
    node = await NodeFixture.create('nftables', [...NODE_PODS, { namespace: 'team-a', name: 'orphan-1',
      ip: '10.244.1.30', noLogDir: true }], NODE_SERVICES);
  }, 60000);
  afterAll(async () => {
    await node?.remove();
  });

  test('log directories name each pod UID; the cgroup path of its namespace gives the UID; a pod without one stays a UID', async () => {
    const pods = await readPodLogDirs(node.podLogDir);
    const coredns = node.pod('kube-system/coredns-5d78c9869d-x2v7q');
    expect(pods.get(coredns.uid)).toEqual({ namespace: 'kube-system', name: 'coredns-5d78c9869d-x2v7q',
      uid: coredns.uid, containers: ['coredns'] });
    expect(pods.size).toBe(NODE_PODS.length);
    const orphan = node.pod('team-a/orphan-1');
    expect(pods.has(orphan.uid)).toBe(false);
    const all = await listNamespaces();
    for (const p of node.pods.values()) {
      const ns = all.find((n) => n.processes.some((x) => x.pid === p.pid));
      expect(ns?.podUid, p.spec.name).toBe(p.uid);
    }
    expect(await readPodLogDirs('/nonexistent/pods')).toEqual(new Map());
  });

  test('listNamespaces() items carry the pod; labels and exporter labels name it; a pod without a log directory stays its UID', async () => {
    const all = await listNamespaces({ podLogDir: node.podLogDir });
    const coredns = node.pod('kube-system/coredns-5d78c9869d-x2v7q');
    const ns = all.find((n) => n.inode === statSync(`/proc/${coredns.pid}/ns/net`).ino)!;
    expect(ns.pod).toEqual({ namespace: 'kube-system', name: 'coredns-5d78c9869d-x2v7q', uid: coredns.uid,
      containers: ['coredns'] });
    expect(namespaceLabel(ns)).toBe('kube-system/coredns-5d78c9869d-x2v7q');
    const orphan = node.pod('team-a/orphan-1');
    const orphanNs = all.find((n) => n.inode === statSync(`/proc/${orphan.pid}/ns/net`).ino)!;
    expect(orphanNs.pod).toBeUndefined();
    expect(namespaceLabel(orphanNs)).toBe(`pod:${orphan.uid}`);
    const inodes = new Set([ns.inode, orphanNs.inode]);
    const exporter = await createExporter({ podLogDir: node.podLogDir, namespaces: (n) => inodes.has(n.inode) });
    try {
      const text = await exporter.metrics();
      const info = text.split('\n').filter((l) => l.startsWith('nfct_netns_info{'));
      expect(info).toContain(
        `nfct_netns_info{netns="kube-system/coredns-5d78c9869d-x2v7q",inode="${ns.inode}",names="${
          ns.names.join(',')
        }",pod="coredns-5d78c9869d-x2v7q",pod_namespace="kube-system",pod_uid="${coredns.uid}"} 1`,
      );
      expect(info.some((l) => l.includes(`pod="",pod_namespace="",pod_uid="${orphan.uid}"`))).toBe(true);
      expect(text).toMatch(/nfct_conntrack_entries\{netns="kube-system\/coredns-5d78c9869d-x2v7q"\} \d+/);
    } finally {
      await exporter.close();
    }
    await expect(listNamespaces({ podLogDir: 'relative' })).rejects.toThrow(/podLogDir must be an absolute path/);
  });

  test("a namespace's addresses, as ip shows them", async () => {
    const web = node.pod('default/web-6b7f9c-q4z8m');
    const addrs = await readNamespaceAddresses(`/proc/${web.pid}/net`);
    const ip = JSON.parse((await web.netns.execOk('ip', ['-j', 'addr', 'show', 'scope', 'global'])).stdout) as {
      addr_info: { local: string }[];
    }[];
    expect(addrs.sort()).toEqual(ip.flatMap((l) => l.addr_info.map((a) => a.local)).filter(Boolean).sort());
    expect(addrs).toEqual(['10.244.1.9']);
  });

  test('fib_trie and if_inet6 texts', () => {
    const trie = ['Main:', '  +-- 0.0.0.0/0 3 0 5', '     |-- 0.0.0.0', '        /0 universe UNICAST',
      '     |-- 10.244.1.5', '        /32 host LOCAL', '     |-- 127.0.0.1', '        /32 host LOCAL', 'Local:',
      '     |-- 10.244.1.5', '        /32 host LOCAL'].join('\n');
    expect(parseFibTrie(trie)).toEqual(['10.244.1.5']);
    const inet6 = ['00000000000000000000000000000001 01 80 10 80       lo',
      'fe800000000000000000000000000001 02 40 20 80     eth0', 'fd000000000000000000000000000007 02 80 00 80     eth0',
      '20010db8000000010000000000000000 02 40 00 80     eth0'].join('\n');
    expect(parseIfInet6(inet6)).toEqual(['fd00::7', '2001:db8:0:1::']);
  });
});
