// The exporter image (scripts/release/image.sh builds it from deploy/Dockerfile; NFCT_IMAGE
// names it), run with podman as the DaemonSet of deploy/ runs it: every podman flag below comes
// from the rendered DaemonSet (host PID namespace, capabilities, no privilege escalation,
// read-only root, /run/netns with its propagation, limits, user, arguments), so a manifest
// change the container cannot honour fails here. The pod gets a network namespace of its own
// joined by a veth to a "node" namespace, from which the exporter is scraped at the pod's
// address, as Prometheus would; its count for a namespace must be what `conntrack -C` says
// there. Run by scripts/release/ci.sh (not part of `npx vitest run`: it needs the image).
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseAllDocuments } from 'yaml';

import { Conntrack } from '../../lib/index.js';
import { createNetns, type Netns } from '../helpers/netns.js';

const ROOT = join(__dirname, '..', '..');
const IMAGE = process.env.NFCT_IMAGE;
if (!IMAGE) {
  throw new Error(
    'NFCT_IMAGE is not set: bash scripts/release/image.sh builds the image (localhost/nfct-exporter:ci), then NFCT_IMAGE=localhost/nfct-exporter:ci npx vitest run --config vitest.release.config.mts',
  );
}
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const ENTRIES = 1234;
const POD_IP = '10.252.0.2';

interface Container {
  args: string[];
  ports: { name: string; containerPort: number }[];
  securityContext: Record<string, unknown> & { capabilities: { add: string[]; drop: string[] };
    seccompProfile?: { type: string } };
  resources: { limits: { cpu: string; memory: string } };
  volumeMounts: { name: string; mountPath: string; readOnly?: boolean; mountPropagation?: string }[];
  livenessProbe: { httpGet: { path: string; port: string } };
  readinessProbe: { httpGet: { path: string; port: string } };
}
interface PodSpec {
  hostPID: boolean;
  hostNetwork: boolean;
  containers: Container[];
  volumes: { name: string; hostPath: { path: string } }[];
}

const rendered = parseAllDocuments(execFileSync('kubectl', ['kustomize', join(ROOT, 'deploy')], { encoding: 'utf8' }))
  .map((d) => d.toJS() as { kind: string; spec: { template: { spec: PodSpec } } });
const pod = rendered.find((r) => r.kind === 'DaemonSet')!.spec.template.spec;
const container = pod.containers[0]!;

/** podman run flags for what the DaemonSet's pod spec asks; anything it cannot map is an error. */
function podmanFlags(spec: PodSpec, c: Container, netnsPath: string): string[] {
  const flags = ['--network', `ns:${netnsPath}`];
  if (spec.hostNetwork) throw new Error('hostNetwork: the test gives the pod a namespace of its own');
  if (spec.hostPID) flags.push('--pid', 'host');
  const sc = c.securityContext;
  for (const key of Object.keys(sc)) {
    if (!['runAsUser', 'runAsNonRoot', 'privileged', 'allowPrivilegeEscalation', 'readOnlyRootFilesystem',
      'capabilities', 'seccompProfile'].includes(key)) throw new Error(`securityContext.${key}: not mapped to podman`);
  }
  if (sc.privileged) throw new Error('privileged: not what the DaemonSet should ask');
  flags.push('--user', String(sc.runAsUser));
  if (sc.allowPrivilegeEscalation === false) flags.push('--security-opt', 'no-new-privileges');
  if (sc.readOnlyRootFilesystem) flags.push('--read-only');
  flags.push(...sc.capabilities.drop.flatMap((cap) => ['--cap-drop', cap]),
    ...sc.capabilities.add.flatMap((cap) => ['--cap-add', cap]));
  // RuntimeDefault: podman's own default seccomp profile, which is what it applies unasked.
  if (sc.seccompProfile && sc.seccompProfile.type !== 'RuntimeDefault') {
    throw new Error(`seccompProfile ${sc.seccompProfile.type}: not mapped`);
  }
  for (const m of c.volumeMounts) {
    const vol = spec.volumes.find((v) => v.name === m.name)!;
    const propagation =
      { HostToContainer: 'rslave', None: 'rprivate', Bidirectional: 'rshared' }[m.mountPropagation ?? 'None'];
    flags.push('-v', `${vol.hostPath.path}:${m.mountPath}:${m.readOnly ? 'ro' : 'rw'},${propagation}`);
  }
  const memory = /^(\d+)Mi$/.exec(c.resources.limits.memory);
  const cpu = /^(\d+)m$/.exec(c.resources.limits.cpu);
  if (!memory || !cpu) throw new Error(`limits ${JSON.stringify(c.resources.limits)}: not mapped`);
  flags.push('--memory', `${memory[1]}m`, '--cpus', String(Number(cpu[1]) / 1000));
  // The rlimits podman raises by default fail here with EPERM (docs: DESIGN, containers).
  flags.push('--ulimit', 'nofile=20000:20000', '--ulimit', 'nproc=4096:4096');
  return flags;
}

const podman = (...args: string[]): string =>
  execFileSync('podman', ['--runtime', 'runc', ...args], { encoding: 'utf8' }).trim();
/** The container's output: podman logs writes its stdout and stderr to the same streams. */
const containerLog = (): string => {
  const r = spawnSync('podman', ['logs', name], { encoding: 'utf8' });
  return r.stdout + r.stderr;
};
const port = container.ports.find((p) => p.name === 'metrics')!.containerPort;
const name = `nfct-image-test-${process.pid}`;
let podNs: Netns;
let nodeNs: Netns;
let target: Netns;

/** GET http://POD_IP:port/path from the node namespace, as a scraper there would. */
async function get(path: string): Promise<{ status: number; type: string; body: string }> {
  const script =
    `const r = await fetch('http://${POD_IP}:${port}${path}', { signal: AbortSignal.timeout(20000) }); console.log(JSON.stringify({ status: r.status, type: r.headers.get('content-type'), body: await r.text() }));`;
  const out = await nodeNs.execOk(process.execPath, ['--input-type=module', '-e', script], { timeoutMs: 30_000 });
  return JSON.parse(out.stdout) as { status: number; type: string; body: string };
}
/** Waits (bounded) for the container's log line that says it listens. */
async function listening(): Promise<string> {
  for (let i = 0; i < 300; i++) {
    const state = podman('inspect', '--format', '{{.State.Status}}', name);
    const log = containerLog();
    if (/nfct exporter: serving (https? )?\/metrics on/.test(log)) return log;
    if (state !== 'running') throw new Error(`the container is ${state}: ${log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the container did not say it listens: ${containerLog()}`);
}

beforeAll(async () => {
  [podNs, nodeNs, target] = await Promise.all([createNetns('nfct-imgpod', { conntrack: false }),
    createNetns('nfct-imgnode', { conntrack: false }), createNetns('nfct-imgtarget', { conntrack: false })]);
  await podNs.execOk('ip', ['link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', nodeNs.name]);
  await podNs.execOk('ip', ['addr', 'add', `${POD_IP}/30`, 'dev', 'eth0']);
  await nodeNs.execOk('ip', ['addr', 'add', '10.252.0.1/30', 'dev', 'eth0']);
  await podNs.execOk('ip', ['link', 'set', 'eth0', 'up']);
  await nodeNs.execOk('ip', ['link', 'set', 'eth0', 'up']);
  const ct = await Conntrack.open({ netns: target.name });
  try {
    const flows = Array.from({ length: ENTRIES },
      (_, i) => ({ protocol: 'tcp' as const, src: `10.77.${i >> 8}.${i & 255}`, dst: '10.77.255.1', srcPort: 40000,
        dstPort: 443, state: 'ESTABLISHED' as const, timeout: 900 }));
    expect((await ct.createMany(flows)).failed).toEqual([]);
  } finally {
    await ct.close();
  }
  podman('rm', '--force', '--ignore', name);
  podman('run', '--detach', '--name', name, ...podmanFlags(pod, container, podNs.path), IMAGE, ...container.args);
  await listening();
}, 120_000);

afterAll(async () => {
  try {
    podman('rm', '--force', '--ignore', name);
  } finally {
    await Promise.all([podNs?.remove(), nodeNs?.remove(), target?.remove()]);
  }
}, 60_000);

describe(`the image ${IMAGE}, run as the DaemonSet runs it`, () => {
  test('runs with exactly the capabilities the DaemonSet adds, in the host PID namespace, read-only', () => {
    const pid = Number(podman('inspect', '--format', '{{.State.Pid}}', name));
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const bits = { NET_ADMIN: 12, SYS_PTRACE: 19, SYS_ADMIN: 21 } as Record<string, number>;
    const want = container.securityContext.capabilities.add.reduce((m, cap) => m | (1n << BigInt(bits[cap]!)), 0n);
    expect(BigInt(`0x${/^CapEff:\s+(\w+)$/m.exec(status)![1]}`)).toBe(want);
    expect(/^NoNewPrivs:\s+(\d)$/m.exec(status)![1]).toBe('1');
    // Host PID namespace: the exporter's pid inside is the one the host sees.
    expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')).toContain('exporter');
    expect(execFileSync('readlink', [`/proc/${pid}/ns/pid`], { encoding: 'utf8' })).toBe(
      execFileSync('readlink', ['/proc/self/ns/pid'], { encoding: 'utf8' }),
    );
    expect(podman('inspect', '--format', '{{.HostConfig.ReadonlyRootfs}}', name)).toBe('true');
  });

  test(`serves, at the pod's address, the count conntrack -C gives in a namespace (${ENTRIES}), and the build info`,
    async () => {
      const r = await get('/metrics');
      expect(r.status).toBe(200);
      expect(r.type).toMatch(/^text\/plain; version=0\.0\.4/);
      const count = Number((await target.execOk('conntrack', ['-C'])).stdout.trim());
      expect(count).toBe(ENTRIES);
      expect(r.body).toContain(`nfct_conntrack_entries{netns="${target.name}"} ${count}\n`);
      expect(r.body).toMatch(
        new RegExp(
          `^nfct_build_info\\{version="${VERSION.replaceAll('.', '\\.')}",nodejs="v20\\.[0-9.]+",napi="\\d+"\\} 1$`,
          'm',
        ),
      );
      expect(r.body).toMatch(/^process_cpu_seconds_total [0-9.e-]+$/m);
      execFileSync('promtool', ['check', 'metrics'], { input: r.body });
    }, 60_000);

  test("the probes' path (/healthz) answers 200 without a scrape", async () => {
    for (const probe of [container.livenessProbe, container.readinessProbe]) {
      expect(probe.httpGet.port).toBe('metrics');
      const r = await get(probe.httpGet.path);
      expect(r.status, r.body).toBe(200);
      expect(r.body).not.toContain('nfct_conntrack_entries');
    }
  });

  test('stops on SIGTERM (podman stop) with exit status 0, before podman would kill it', () => {
    podman('stop', '--time', '10', name);
    expect(podman('inspect', '--format', '{{.State.ExitCode}}', name)).toBe('0');
    expect(containerLog()).not.toMatch(/Error/);
  }, 30_000);
});
