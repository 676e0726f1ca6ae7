// deploy/: the DaemonSet manifest is valid against the Kubernetes schema (kubernetes-models:
// types, required fields, enums; and its TypeScript types for unknown fields) and asks for what
// the exporter needs and no more; the Dockerfile builds from files that exist.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, test } from 'vitest';
import { parse } from 'yaml';

import { DEFAULT_EXPORTER_PORT } from '../../lib/index.js';
import { parseListen } from '../../lib/exporter/server.js';

const ROOT = join(__dirname, '..', '..');
const manifestText = readFileSync(join(ROOT, 'deploy', 'daemonset.yaml'), 'utf8');

interface Container {
  args: string[];
  ports: { containerPort: number; name: string }[];
  securityContext: { privileged: boolean; allowPrivilegeEscalation: boolean; capabilities: { add: string[]; drop: string[] } };
  resources: { requests: Record<string, string>; limits: Record<string, string> };
  volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[];
}
const load = () => parse(manifestText) as { kind: string; apiVersion: string; spec: { template: { metadata: { annotations: Record<string, string> }; spec: { hostPID: boolean; hostNetwork: boolean; containers: Container[]; volumes: { name: string; hostPath?: { path: string } }[] } } } };

/** Type-checks the manifest as Kubernetes' IDaemonSet: an unknown or misspelt field is an error. */
function typeErrors(manifest: unknown): string {
  const dir = mkdtempSync(join(ROOT, 'node_modules', '.nfct-manifest-'));
  try {
    writeFileSync(join(dir, 'check.mts'), `import type { IDaemonSet } from 'kubernetes-models/apps/v1';\nexport const manifest: IDaemonSet = ${JSON.stringify(manifest, null, 1)};\n`);
    const r = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '--noEmit', '--strict', '--module', 'node16', '--moduleResolution', 'node16', '--skipLibCheck', '--types', 'node', join(dir, 'check.mts')], { encoding: 'utf8' });
    return r.status === 0 ? '' : r.stdout + r.stderr;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('deploy/daemonset.yaml', () => {
  test('valid against the Kubernetes apps/v1 DaemonSet schema, and a broken copy is not', async () => {
    const { DaemonSet } = await import('kubernetes-models/apps/v1'); // an ES module
    const m = load();
    expect([m.apiVersion, m.kind]).toEqual(['apps/v1', 'DaemonSet']);
    expect(() => new DaemonSet(m as never).validate()).not.toThrow();
    const broken = load();
    (broken.spec.template.spec.containers[0]!.ports[0] as { containerPort: unknown }).containerPort = 'nine';
    expect(() => new DaemonSet(broken as never).validate()).toThrow(/containerPort must be integer/);
  });

  test('no unknown fields (Kubernetes types, strict), and a misspelt one is caught', () => {
    expect(typeErrors(load())).toBe('');
    const typo = load() as unknown as { spec: { template: { spec: Record<string, unknown> } } };
    typo.spec.template.spec.hostPid = true;
    expect(typeErrors(typo)).toMatch(/'"?hostPid"?' does not exist in type 'IPodSpec'/);
  }, 60_000);

  test('host PID namespace, only NET_ADMIN, SYS_ADMIN and SYS_PTRACE, /run/netns read-only, scrape annotations, limits', () => {
    const m = load();
    const pod = m.spec.template.spec;
    expect(pod.hostPID).toBe(true);
    expect(pod.hostNetwork).toBe(false);
    expect(pod.containers).toHaveLength(1);
    const c = pod.containers[0]!;
    expect(c.securityContext.privileged).toBe(false);
    expect(c.securityContext.allowPrivilegeEscalation).toBe(false);
    expect(c.securityContext.capabilities.drop).toEqual(['ALL']);
    expect([...c.securityContext.capabilities.add].sort()).toEqual(['NET_ADMIN', 'SYS_ADMIN', 'SYS_PTRACE']);
    const mount = c.volumeMounts.find((v) => v.mountPath === '/run/netns')!;
    expect(mount.readOnly).toBe(true);
    expect(pod.volumes.find((v) => v.name === mount.name)?.hostPath?.path).toBe('/run/netns');
    const port = c.ports.find((p) => p.name === 'metrics')!.containerPort;
    expect(port).toBe(DEFAULT_EXPORTER_PORT);
    expect(parseListen(c.args[c.args.indexOf('--listen') + 1]!).port).toBe(port);
    const ann = m.spec.template.metadata.annotations;
    expect(ann).toMatchObject({ 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(port), 'prometheus.io/path': '/metrics' });
    for (const kind of ['requests', 'limits'] as const) expect(Object.keys(c.resources[kind]).sort()).toEqual(['cpu', 'memory']);
  });
});

describe('deploy/Dockerfile', () => {
  const text = readFileSync(join(ROOT, 'deploy', 'Dockerfile'), 'utf8');

  test('copies files that exist, exposes the exporter port, runs nfct exporter', () => {
    const copies = [...text.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) => m[1]!.split(/\s+/));
    expect(copies.length).toBeGreaterThan(3);
    for (const src of copies) expect(existsSync(join(ROOT, src)), src).toBe(true);
    expect(text).toMatch(new RegExp(`^EXPOSE ${DEFAULT_EXPORTER_PORT}$`, 'm'));
    expect(text).toMatch(/^ENTRYPOINT \["node", "\/opt\/nfct\/dist\/cli\/main\.js", "exporter"\]$/m);
  });

  test('the runtime libraries it installs exist in the Debian archive', () => {
    const runtime = /FROM node:20-bookworm-slim\nRUN apt-get update \\\n && apt-get install -y --no-install-recommends ([^\\\n]+)/.exec(text.slice(text.lastIndexOf('FROM ')))![1]!.trim().split(/\s+/);
    expect(runtime).toEqual(['libnetfilter-conntrack3', 'libnetfilter-log1', 'libmnl0']);
    const shown = execFileSync('apt-cache', ['show', '--no-all-versions', ...runtime], { encoding: 'utf8' });
    for (const p of runtime) expect(shown).toContain(`Package: ${p}\n`);
  });
});
