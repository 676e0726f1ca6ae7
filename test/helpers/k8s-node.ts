/**
 * A throwaway Kubernetes node: a "node" namespace holding kube-proxy's rules (iptables-nft,
 * iptables-legacy or nftables mode; ./k8s-rules.ts), pods as namespaces of their own joined to
 * it by veth pairs and routed as Calico routes them (a /32 per pod on the node, the pod's
 * default route via 169.254.1.1), a pause process per pod in a cgroup whose path names the pod
 * UID as the kubelet's does, and a /var/log/pods-shaped directory naming each pod.
 *
 * Traffic stays inside: pods are 10.244.1.0/24, Services 10.96.0.0/16, and nothing routes
 * further. remove() takes it all down (also when a test failed); leftovers of a dead process
 * go with its namespaces (nfct-... names, removed by the global setup).
 */
import { type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { afterAll, beforeAll } from 'vitest';

import { type FixtureServicePort, kubeProxyIptables, kubeProxyNft } from './k8s-rules.js';
import { createNetns, enteredNamespace, type Netns, runOk } from './netns-core.js';

const HERE = typeof __dirname === 'string' ? __dirname : resolve('test', 'helpers');
const AGENT = join(HERE, 'k8s-agent.mjs');

export type ProxyMode = 'iptables-nft' | 'iptables-legacy' | 'nftables';

export interface PodSpec {
  namespace: string;
  name: string;
  ip: string;
  containers?: string[];
  /** Ports its server answers on (the agent's serve mode). */
  udp?: number[];
  tcp?: number[];
  /** No /var/log/pods directory for it (the name falls back to the UID). */
  noLogDir?: boolean;
}

/** A Service port as the fixture is told it: its endpoints are pods, reached on targetPort. */
export interface ServiceSpec extends Omit<FixtureServicePort, 'endpoints'> {
  targetPort: number;
  /** Endpoint pods, as 'namespace/name'. */
  endpoints: string[];
}

export interface FixturePod {
  spec: PodSpec;
  uid: string;
  netns: Netns;
  /** The pause process (its cgroup names the pod UID). */
  pid: number;
  /** The node-side veth. */
  hostIf: string;
  server?: ChildProcess;
}

export const CLUSTER_CIDR = '10.244.0.0/16';

/** The cgroup v2 mount, where this process may make directories; undefined where it cannot. */
function cgroup2Root(): string | undefined {
  for (const line of readFileSync('/proc/self/mounts', 'utf8').split('\n')) {
    const f = line.split(' ');
    if (f[2] !== 'cgroup2') continue;
    try {
      const probe = join(f[1]!, `nfct-probe-${process.pid}-${randomBytes(3).toString('hex')}`);
      mkdirSync(probe);
      rmdirSync(probe);
      return f[1];
    } catch {
      // read-only here
    }
  }
  return undefined;
}

function removeTree(dir: string): void {
  try {
    for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) removeTree(join(dir, e.name));
    rmdirSync(dir);
  } catch {
    // already gone
  }
}

function podUid(): string {
  const h = randomBytes(16).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

async function waitLine(child: ChildProcess, pred: (o: Record<string, unknown>) => boolean, what: string,
  ms = 10000): Promise<Record<string, unknown>>
{
  return new Promise((res, rej) => {
    let buf = '';
    const t = setTimeout(() => rej(new Error(`${what}: no readiness line in ${ms} ms`)), ms);
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          const o = JSON.parse(line) as Record<string, unknown>;
          if (o.event === 'error') {
            clearTimeout(t);
            rej(new Error(`${what}: ${String(o.message)}`));
          } else if (pred(o)) {
            clearTimeout(t);
            res(o);
          }
        } catch {
          // not a JSON line
        }
      }
    });
    child.once('exit', (code) => {
      clearTimeout(t);
      rej(new Error(`${what}: exited with ${code}`));
    });
  });
}

export class NodeFixture {
  readonly pods = new Map<string, FixturePod>();
  services: ServiceSpec[] = [];
  private pauses: ChildProcess[] = [];
  private constructor(
    readonly mode: ProxyMode,
    readonly node: Netns,
    readonly podLogDir: string,
    private readonly cgroupDir: string,
  ) {}

  static async create(mode: ProxyMode, pods: PodSpec[], services: ServiceSpec[]): Promise<NodeFixture> {
    const root = cgroup2Root();
    if (!root) {
      throw new Error('the node fixture needs a writable cgroup v2 mount (pods are named by their cgroup path)');
    }
    const node = await createNetns('nfct-k8s-node', { conntrack: false });
    const logs = mkdtempSync(join(tmpdir(), 'nfct-pods-'));
    const cg = join(root, `nfct-k8s-${process.pid}-${randomBytes(3).toString('hex')}`);
    mkdirSync(cg);
    const f = new NodeFixture(mode, node, logs, cg);
    try {
      await node.execOk('sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1']);
      for (const p of pods) await f.addPod(p);
      await f.setServices(services);
    } catch (e) {
      await f.remove();
      throw e;
    }
    return f;
  }

  pod(key: string): FixturePod {
    const p = this.pods.get(key);
    if (!p) throw new Error(`no pod ${key} in the fixture`);
    return p;
  }

  async addPod(spec: PodSpec): Promise<FixturePod> {
    const uid = podUid();
    const netns = await createNetns('nfct-k8s-pod', { conntrack: false });
    const index = this.pods.size + this.pauses.length;
    // As Calico names it: a hash of the pod's name, the same in every run.
    const hostIf = `cali${createHash('sha1').update(`${spec.namespace}.${spec.name}`).digest('hex').slice(0, 11)}`;
    await runOk('ip', ['-n', this.node.name, 'link', 'add', hostIf, 'type', 'veth', 'peer', 'name', 'eth0', 'netns',
      netns.name]);
    await runOk('ip', ['-n', this.node.name, 'link', 'set', hostIf, 'up']);
    await runOk('ip', ['-n', this.node.name, 'addr', 'add', '169.254.1.1/32', 'dev', hostIf]);
    await runOk('ip', ['-n', this.node.name, 'route', 'add', `${spec.ip}/32`, 'dev', hostIf]);
    await runOk('ip', ['-n', netns.name, 'addr', 'add', `${spec.ip}/32`, 'dev', 'eth0']);
    await runOk('ip', ['-n', netns.name, 'link', 'set', 'eth0', 'up']);
    await runOk('ip', ['-n', netns.name, 'route', 'add', '169.254.1.1', 'dev', 'eth0', 'scope', 'link']);
    await runOk('ip', ['-n', netns.name, 'route', 'add', 'default', 'via', '169.254.1.1', 'dev', 'eth0']);
    // The pause process, in kubepods-besteffort-pod<uid>.slice/cri-containerd-<id>.scope.
    const pause = netns.spawn('sleep', ['600'], { stdio: 'ignore' });
    this.pauses.push(pause);
    const pid = await enteredNamespace(pause);
    const slice = join(this.cgroupDir, 'kubepods.slice', 'kubepods-besteffort.slice',
      `kubepods-besteffort-pod${uid.replaceAll('-', '_')}.slice`);
    const scope = join(slice, `cri-containerd-${randomBytes(32).toString('hex')}.scope`);
    mkdirSync(scope, { recursive: true });
    writeFileSync(join(scope, 'cgroup.procs'), String(pid));
    const containers = spec.containers ?? [spec.name.replace(/-[a-z0-9]+-[a-z0-9]+$/, '')];
    if (!spec.noLogDir) {
      for (const c of containers) {
        mkdirSync(join(this.podLogDir, `${spec.namespace}_${spec.name}_${uid}`, c), { recursive: true });
        writeFileSync(join(this.podLogDir, `${spec.namespace}_${spec.name}_${uid}`, c, '0.log'),
          '2024-01-01T00:00:00.000000000Z stdout F started\n');
      }
    }
    const pod: FixturePod = { spec, uid, netns, pid, hostIf };
    void index;
    if ((spec.udp?.length ?? 0) + (spec.tcp?.length ?? 0) > 0) {
      const server = netns.spawn('node', [AGENT,
        JSON.stringify({ mode: 'serve', name: spec.name, udp: spec.udp ?? [], tcp: spec.tcp ?? [], maxMs: 300000 })], {
        stdio: ['pipe', 'pipe', 'inherit'],
      });
      await waitLine(server, (o) => o.event === 'ready', `the server of ${spec.namespace}/${spec.name}`);
      pod.server = server;
    }
    this.pods.set(`${spec.namespace}/${spec.name}`, pod);
    return pod;
  }

  /** Takes a pod away: its processes, namespace (and so its veth and route) and log directory. */
  async removePod(key: string): Promise<void> {
    const p = this.pod(key);
    this.pods.delete(key);
    p.server?.kill('SIGKILL');
    await p.netns.remove();
    rmSync(join(this.podLogDir, `${p.spec.namespace}_${p.spec.name}_${p.uid}`), { recursive: true, force: true });
  }

  /** The Service ports with their endpoints' addresses. */
  servicePorts(services = this.services): FixtureServicePort[] {
    return services.map((s) => ({
      namespace: s.namespace,
      name: s.name,
      portName: s.portName,
      protocol: s.protocol,
      clusterIP: s.clusterIP,
      port: s.port,
      endpoints: s.endpoints.map((k) => ({ ip: this.pod(k).spec.ip, port: s.targetPort })),
    }));
  }

  /** Writes kube-proxy's rules for these Services (replacing the previous ones at once). */
  async setServices(services: ServiceSpec[]): Promise<void> {
    this.services = services;
    const ports = this.servicePorts(services);
    if (this.mode === 'nftables') {
      await this.node.execOk('nft', ['-f', '-'], { input: kubeProxyNft(ports, CLUSTER_CIDR) });
    } else {
      await this.node.execOk(this.mode === 'iptables-nft' ? 'iptables-nft-restore' : 'iptables-legacy-restore', [], {
        input: kubeProxyIptables(ports, CLUSTER_CIDR),
      });
    }
  }

  /** Moves a Service's endpoints (as kube-proxy does when the endpoint pods change). */
  async setEndpoints(service: string, endpoints: string[]): Promise<void> {
    await this.setServices(
      this.services.map((s) => (`${s.namespace}/${s.name}` === service ? { ...s, endpoints } : s)),
    );
  }

  /** One UDP datagram from a pod (from `localPort`) to an address; the answering pod, or undefined. */
  async ask(from: string, host: string, port: number, localPort: number, text = 'q'): Promise<string | undefined> {
    const r = await this.pod(from).netns.execOk('node', [AGENT,
      JSON.stringify({ mode: 'ask', host, port, localPort, text, timeoutMs: 1500 })]);
    const o = JSON.parse(r.stdout.trim().split('\n').pop()!) as { event: string; reply?: { pod: string } };
    return o.event === 'reply' ? o.reply!.pod : undefined;
  }

  /** A TCP connection from a pod, held until close(); resolves once the first answer came. */
  async hold(from: string, host: string, port: number,
    localPort?: number): Promise<{ answeredBy: string; close(): void }>
  {
    const child = this.pod(from).netns.spawn('node', [AGENT,
      JSON.stringify({ mode: 'hold', host, port, localPort, maxMs: 120000 })], { stdio: ['pipe', 'pipe', 'inherit'] });
    const o = await waitLine(child, (x) => x.event === 'ready', `a TCP connection from ${from}`);
    return { answeredBy: (o.reply as { pod: string }).pod, close: () => child.kill('SIGKILL') };
  }

  async remove(): Promise<void> {
    for (const p of this.pods.values()) p.server?.kill('SIGKILL');
    for (const c of this.pauses) c.kill('SIGKILL');
    await Promise.all([...this.pods.values()].map((p) => p.netns.remove().catch(() => undefined)));
    this.pods.clear();
    await this.node.remove().catch(() => undefined);
    rmSync(this.podLogDir, { recursive: true, force: true });
    // The cgroups empty once their processes are gone.
    for (let i = 0; i < 50; i++) {
      removeTree(this.cgroupDir);
      try {
        statSync(this.cgroupDir);
      } catch {
        break;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

/** The fixture's usual cluster: a client pod, two CoreDNS pods and a web pod; kube-dns and web. */
export const NODE_PODS: PodSpec[] = [
  { namespace: 'default', name: 'client-7c9d8-abcde', ip: '10.244.1.5', containers: ['client'] },
  { namespace: 'kube-system', name: 'coredns-5d78c9869d-x2v7q', ip: '10.244.1.7', containers: ['coredns'], udp: [53],
    tcp: [53] },
  { namespace: 'kube-system', name: 'coredns-5d78c9869d-h8k2p', ip: '10.244.1.8', containers: ['coredns'], udp: [53],
    tcp: [53] },
  { namespace: 'default', name: 'web-6b7f9c-q4z8m', ip: '10.244.1.9', containers: ['nginx'], tcp: [8080] },
];

export const NODE_SERVICES: ServiceSpec[] = [
  { namespace: 'kube-system', name: 'kube-dns', portName: 'dns', protocol: 'udp', clusterIP: '10.96.0.10', port: 53,
    targetPort: 53, endpoints: ['kube-system/coredns-5d78c9869d-x2v7q'] },
  { namespace: 'kube-system', name: 'kube-dns', portName: 'dns-tcp', protocol: 'tcp', clusterIP: '10.96.0.10', port: 53,
    targetPort: 53, endpoints: ['kube-system/coredns-5d78c9869d-x2v7q'] },
  { namespace: 'default', name: 'web', portName: 'http', protocol: 'tcp', clusterIP: '10.96.0.20', port: 80,
    targetPort: 8080, endpoints: ['default/web-6b7f9c-q4z8m'] },
];

/**
 * A node made before the tests of the enclosing describe (or file) and removed after them, also
 * when they fail: the function returned is the node, inside tests and hooks.
 */
export function useNodeFixture(mode: ProxyMode, pods: PodSpec[] = NODE_PODS,
  services: ServiceSpec[] = NODE_SERVICES): () => NodeFixture
{
  let node: NodeFixture | undefined;
  beforeAll(async () => {
    node = await NodeFixture.create(mode, pods, services);
  }, 60000);
  afterAll(async () => {
    await node?.remove();
  });
  return () => {
    if (!node) throw new Error('useNodeFixture(): the node is made in beforeAll');
    return node;
  };
}
