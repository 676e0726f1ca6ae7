// nfct on a node fixture, as an operator uses it: entries named by their Service, namespaces by
// their pod. conntrack -L and the fixture's own traffic are the oracles.

import { spawnSync } from 'node:child_process';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { NODE_PODS, NODE_SERVICES, NodeFixture } from '../helpers/k8s-node.js';
import { execNfct } from '../helpers/nfct.js';
import { runNfct } from '../support/run-nfct.js';

const CLIENT = 'default/client-7c9d8-abcde';

describe('nfct on a node (kube-proxy in iptables-nft mode)', () => {
  let node: NodeFixture;
  beforeAll(async () => {
    node = await NodeFixture.create('iptables-nft', NODE_PODS, NODE_SERVICES);
    expect(await node.ask(CLIENT, '10.96.0.10', 53, 42001)).toBe('coredns-5d78c9869d-x2v7q');
    // A second endpoint, then the first dropped from the rules: the entry above is now stale.
    await node.setEndpoints('kube-system/kube-dns', ['kube-system/coredns-5d78c9869d-h8k2p']);
    expect(await node.ask(CLIENT, '10.96.0.10', 53, 42002)).toBe('coredns-5d78c9869d-h8k2p');
  }, 60000);
  afterAll(async () => {
    await node?.remove();
  });

  test('-L --services: each entry with its Service and endpoint, a stale one marked; the rest as -L prints it', async () => {
    const plain = await runNfct(['-L', '-p', 'udp', '--netns', node.node.name]);
    const r = await runNfct(['-L', '-p', 'udp', '--services', '--netns', node.node.name]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    const plainLines = plain.stdout.trim().split('\n');
    expect(lines.length).toBe(plainLines.length);
    const stale = lines.find((l) => l.includes('sport=42001 '))!;
    const fresh = lines.find((l) => l.includes('sport=42002 '))!;
    expect(stale).toMatch(/ service=kube-system\/kube-dns:dns endpoint=10\.244\.1\.7:53 stale$/);
    expect(fresh).toMatch(/ service=kube-system\/kube-dns:dns endpoint=10\.244\.1\.8:53$/);
    // The line before the annotation is -L's line, as conntrack prints it.
    const ct = (await node.node.execOk('conntrack', ['-L', '-p', 'udp'])).stdout.trim().split('\n');
    const base = fresh.replace(/ service=.*$/, '');
    expect(ct.map((l) => l.replace(/ +$/, ''))).toContain(base);

    // -o ktimestamp (no start times here: timestamps are off): the lines are made in JavaScript,
    // where the native formatter makes the plain ones; the annotation is the same.
    const kt = (await runNfct(['-L', '-p', 'udp', '--services', '-o', 'ktimestamp', '--netns', node.node.name])).stdout
      .trim().split('\n');
    expect(kt.length).toBe(plainLines.length);
    expect(kt.find((l) => l.includes('sport=42001 '))).toMatch(
      / service=kube-system\/kube-dns:dns endpoint=10\.244\.1\.7:53 stale$/,
    );
    expect(kt.find((l) => l.includes('sport=42002 '))).toMatch(
      / service=kube-system\/kube-dns:dns endpoint=10\.244\.1\.8:53$/,
    );

    const j = await runNfct(['-L', '--services', '--json', '--netns', node.node.name]);
    const objs = j.stdout.trim().split('\n').map((l) =>
      JSON.parse(l) as { original: { srcPort?: number }; service?: Record<string, unknown> }
    );
    const s1 = objs.find((o) => o.original.srcPort === 42001)!;
    expect(s1.service).toEqual({ name: 'kube-system/kube-dns:dns', address: '10.96.0.10', port: 53, protocol: 'udp',
      endpoint: '10.244.1.7:53', endpoints: ['10.244.1.8:53'], stale: true });
  });

  test('top --by service: entries counted per Service, the rest as -', async () => {
    // One more entry that is no Service's: a TCP connection straight to the web pod.
    const direct = await node.hold(CLIENT, '10.244.1.9', 8080);
    try {
      const r = await runNfct(['top', '--netns', node.node.name, '--by', 'service', '--once', '--json']);
      expect(r.code).toBe(0);
      const snap = JSON.parse(r.stdout.trim().split('\n').pop()!) as { by: string[];
        groups: { key: { service: string }; count: number }[] };
      expect(snap.by).toEqual(['service']);
      const count = (name: string): number | undefined => snap.groups.find((g) => g.key.service === name)?.count;
      // The oracle: conntrack -L counted by original destination.
      const ct = (await node.node.execOk('conntrack', ['-L'])).stdout;
      const towards = (dst: string, proto: string): number =>
        ct.split('\n').filter((l) =>
          l.startsWith(proto) && l.includes(` dst=${dst} `) &&
          l.indexOf(` dst=${dst} `) < l.indexOf(' src=', l.indexOf(' dst='))
        ).length;
      expect(count('kube-system/kube-dns:dns')).toBe(towards('10.96.0.10', 'udp'));
      expect(count('kube-system/kube-dns:dns')).toBe(2);
      expect(count('-')).toBeGreaterThanOrEqual(1);
      expect(Object.keys(snap.groups[0]!.key)).toEqual(['service']);
    } finally {
      direct.close();
    }
  });

  test("--pod NAMESPACE/NAME selects that pod's namespace; an unknown pod says which there are", async () => {
    const web = node.pod('default/web-6b7f9c-q4z8m');
    await web.netns.execOk('conntrack', ['-I', '-p', 'tcp', '-s', '10.9.9.1', '-d', '10.9.9.2', '--sport', '1',
      '--dport', '2', '--state', 'ESTABLISHED', '-t', '60']);
    const r = await runNfct(['-L', '--pod', 'default/web-6b7f9c-q4z8m', '--pod-log-dir', node.podLogDir]);
    expect(r.code).toBe(0);
    // The oracle: conntrack -L inside that namespace.
    const ct = (await web.netns.execOk('conntrack', ['-L'])).stdout.trim().split('\n').map((l) => l.trimEnd());
    expect(r.stdout.trim().split('\n')).toEqual(ct);
    expect(ct.some((l) => l.includes('src=10.9.9.1'))).toBe(true);
    // --all-netns: the pod's lines carry its name, its NDJSON lines a pod object.
    const all = await runNfct(['-L', '--all-netns', '--pod-log-dir', node.podLogDir, '-s', '10.9.9.1']);
    expect(all.stdout).toMatch(/^\[default\/web-6b7f9c-q4z8m\] tcp +6 \d+ ESTABLISHED src=10\.9\.9\.1 /m);
    const allJson = await runNfct(['-L', '--all-netns', '--json', '--pod-log-dir', node.podLogDir, '-s', '10.9.9.1']);
    const line = allJson.stdout.trim().split('\n').map((l) =>
      JSON.parse(l) as { netns: { label: string; pod?: unknown } }
    ).find((o) => o.netns.label === 'default/web-6b7f9c-q4z8m');
    expect(line?.netns.pod).toEqual({ namespace: 'default', name: 'web-6b7f9c-q4z8m', uid: web.uid,
      containers: ['nginx'] });
    const none = await runNfct(['-L', '--pod', 'default/nosuch-1', '--pod-log-dir', node.podLogDir]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(
      /--pod default\/nosuch-1: no network namespace of pod default\/nosuch-1: pods on this node: .*default\/web-6b7f9c-q4z8m/,
    );
    const bad = await runNfct(['-L', '--pod', 'web-6b7f9c-q4z8m']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/Bad parameter `--pod web-6b7f9c-q4z8m' \(NAMESPACE\/NAME\)/);
  });

  test('under ip netns exec NAME, doctor calls the namespace NAME, not host', async () => {
    const r = await execNfct(['doctor', '--interval', '0.1', '--json'], { ns: node.node });
    const findings = r.rows as { scope: string; netns?: { label: string } }[];
    expect(findings.filter((f) => f.scope === 'namespace').length).toBeGreaterThan(0);
    for (const f of findings) if (f.scope === 'namespace') expect(f.netns?.label).toBe(node.node.name);
    const text = await execNfct(['doctor', '--interval', '0.1'], { ns: node.node });
    expect(text.stdout).toContain(`[${node.node.name}] `);
    expect(text.stdout).not.toContain('[host]');
  });

  test("doctor --pod: the fix commands enter the pod's namespace by its file name, and run", async () => {
    const pod = node.pods.get(CLIENT)!;
    const file = pod.netns.name;
    const r = await execNfct(['doctor', '--pod', CLIENT, '--pod-log-dir', node.podLogDir, '--interval', '0.1',
      '--json']);
    const findings = r.rows as { scope: string; netns?: { label: string }; fix?: string }[];
    const fixes = findings.filter((f) => f.scope === 'namespace' && f.fix?.startsWith('ip netns exec ')).map((f) =>
      f.fix!
    );
    // nf_conntrack_acct is off in the pod, so at least that finding says what to run there.
    expect(fixes.length).toBeGreaterThan(0);
    for (const fix of fixes) expect(fix.startsWith(`ip netns exec ${file} `), fix).toBe(true);
    // The command an operator would paste works: ip netns knows the name.
    const probe = spawnSync('ip', ['netns', 'exec', file, 'true']);
    expect(probe.status).toBe(0);
  });

  test('--services is refused where it has no meaning, before anything runs', async () => {
    const r = await runNfct(['-D', '--services', '-p', 'udp', '--netns', node.node.name]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/Illegal option `--services' with this command/);
  });
});
