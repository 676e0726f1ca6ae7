// deploy/: what `kubectl kustomize deploy/` renders (kubectl's built-in kustomize) is what a
// cluster admin applies. Every resource is valid against its schema (kubernetes-models for the
// core kinds, @kubernetes-models/prometheus-operator for ServiceMonitor and PrometheusRule: types,
// required fields, enums) and type-checks, strictly, against the same models' TypeScript types
// so that an unknown or misspelt field fails. The pieces fit each other (selectors, port names,
// the service account), the image is a kustomize parameter, the probes are cheap, and the
// DaemonSet asks for what the exporter needs and no more. The image itself is built and run by
// test/release/image.test.ts; the rules are tested by alerts.test.ts and test/deploy/alerts-prometheus.test.ts.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseAllDocuments } from 'yaml';

import { parseListen } from '../../lib/exporter/server.js';
import { DEFAULT_EXPORTER_PORT } from '../../lib/index.js';

const ROOT = join(__dirname, '..', '..');
const DEPLOY = join(ROOT, 'deploy');
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

interface Probe {
  httpGet?: { path: string; port: string | number };
  exec?: unknown;
  tcpSocket?: unknown;
  periodSeconds?: number;
}
interface Container {
  image: string;
  args: string[];
  ports: { containerPort: number; name: string }[];
  securityContext: { privileged: boolean; allowPrivilegeEscalation: boolean; readOnlyRootFilesystem: boolean;
    runAsUser: number; capabilities: { add: string[]; drop: string[] } };
  resources: { requests: Record<string, string>; limits: Record<string, string> };
  volumeMounts: { name: string; mountPath: string; readOnly?: boolean; mountPropagation?: string }[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  startupProbe?: Probe;
}
interface Resource {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [k: string]: unknown;
}
interface DaemonSet extends Resource {
  spec: { selector: { matchLabels: Record<string, string> };
    template: { metadata: { labels: Record<string, string>; annotations: Record<string, string> };
      spec: { hostPID: boolean; hostNetwork: boolean; serviceAccountName: string; automountServiceAccountToken: boolean;
        containers: Container[]; volumes: { name: string; hostPath?: { path: string } }[] } } };
}
interface Service extends Resource {
  spec: { clusterIP: string; selector: Record<string, string>;
    ports: { name: string; port: number; targetPort: string | number }[] };
}
interface ServiceMonitor extends Resource {
  spec: { selector: { matchLabels: Record<string, string> }; endpoints: { port: string; path: string }[] };
}

/** `kubectl kustomize DIR`: the resources it renders. */
function kustomize(dir: string): Resource[] {
  const text = execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8' });
  return parseAllDocuments(text).map((d) => d.toJS() as Resource);
}

let rendered: Resource[] = [];
let tmp = '';
const one = (kind: string): Resource => {
  const found = rendered.filter((r) => r.kind === kind);
  expect(found, kind).toHaveLength(1);
  return found[0]!;
};
const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

/** Type-checks each resource against its TypeScript model type: an unknown or misspelt field is an error. */
function typeErrors(resources: Resource[]): string {
  const types: Record<string, [string, string]> = {
    DaemonSet: ['IDaemonSet', 'kubernetes-models/apps/v1'],
    Service: ['IService', 'kubernetes-models/v1'],
    ServiceAccount: ['IServiceAccount', 'kubernetes-models/v1'],
    ConfigMap: ['IConfigMap', 'kubernetes-models/v1'],
    ServiceMonitor: ['IServiceMonitor', '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1'],
    PrometheusRule: ['IPrometheusRule', '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1'],
  };
  const dir = mkdtempSync(join(ROOT, 'node_modules', '.nfct-manifest-'));
  try {
    const lines = resources.map((r, i) => {
      const [type, from] = types[r.kind] ?? ['never', 'kubernetes-models/v1'];
      return `import type { ${type} as T${i} } from '${from}';\nexport const r${i}: T${i} = ${
        JSON.stringify(r, null, 1)
      };`;
    });
    writeFileSync(join(dir, 'check.mts'), `${lines.join('\n')}\n`);
    const r = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '--noEmit',
      '--strict', '--module', 'node16', '--moduleResolution', 'node16', '--skipLibCheck', '--types', 'node',
      join(dir, 'check.mts')], { encoding: 'utf8' });
    return r.status === 0 ? '' : r.stdout + r.stderr;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function validate(r: Resource): Promise<void> {
  const core = await import('kubernetes-models/v1');
  const apps = await import('kubernetes-models/apps/v1');
  const po = await import('@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1');
  const classes: Record<string, new(x: never) => { validate(): void }> = {
    DaemonSet: apps.DaemonSet,
    Service: core.Service,
    ServiceAccount: core.ServiceAccount,
    ConfigMap: core.ConfigMap,
    ServiceMonitor: po.ServiceMonitor,
    PrometheusRule: po.PrometheusRule,
  };
  const Model = classes[r.kind];
  if (!Model) throw new Error(`no schema for ${r.kind}`);
  new Model(r as never).validate();
}

beforeAll(() => {
  rendered = kustomize(DEPLOY);
  tmp = mkdtempSync(join(ROOT, 'node_modules', '.nfct-overlay-'));
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('deploy/ (kubectl kustomize)', () => {
  test('renders a ServiceAccount, DaemonSet, headless Service, ServiceMonitor, PrometheusRule and the dashboard ConfigMap, in kube-system', () => {
    expect(rendered.map((r) => `${r.kind}/${r.metadata.name}`).sort()).toEqual([
      'ConfigMap/nfct-exporter-dashboard',
      'DaemonSet/nfct-exporter',
      'PrometheusRule/nfct-exporter',
      'Service/nfct-exporter',
      'ServiceAccount/nfct-exporter',
      'ServiceMonitor/nfct-exporter',
    ]);
    for (const r of rendered) expect(r.metadata.namespace, r.kind).toBe('kube-system');
  });

  test('each resource is valid against its schema, and a broken copy is not', async () => {
    for (const r of rendered) await validate(r);
    const ds = clone(one('DaemonSet') as DaemonSet);
    (ds.spec.template.spec.containers[0]!.ports[0] as { containerPort: unknown }).containerPort = 'nine';
    await expect(validate(ds)).rejects.toThrow(/containerPort must be integer/);
    const sm = clone(one('ServiceMonitor') as ServiceMonitor);
    (sm.spec.endpoints[0] as unknown as { interval: unknown }).interval = 30;
    await expect(validate(sm)).rejects.toThrow(/interval must be string/);
  });

  test("no unknown fields (the models' TypeScript types, strict), and a misspelt one is caught", () => {
    expect(typeErrors(rendered)).toBe('');
    const ds = clone(one('DaemonSet') as DaemonSet) as unknown as {
      spec: { template: { spec: Record<string, unknown> } };
    };
    ds.spec.template.spec.hostPid = true;
    expect(typeErrors([ds as unknown as Resource])).toMatch(/'"?hostPid"?' does not exist in type 'IPodSpec'/);
    const rule = clone(one('PrometheusRule')) as unknown as {
      spec: { groups: { rules: Record<string, unknown>[] }[] };
    };
    rule.spec.groups[0]!.rules[0]!.fro = '5m';
    expect(typeErrors([rule as unknown as Resource])).toMatch(/'"?fro"?' does not exist/);
  }, 120_000);

  test("the image is a kustomize parameter: this version by default, an overlay's reference otherwise", () => {
    expect((one('DaemonSet') as DaemonSet).spec.template.spec.containers[0]!.image).toBe(`nfct-exporter:${VERSION}`);
    const overlay = join(tmp, 'overlay');
    mkdirSync(overlay, { recursive: true });
    writeFileSync(join(overlay, 'kustomization.yaml'), [
      // `bases:`, which kustomize 5 still takes, for the kustomize 2 in Debian's kubectl 1.20.
      'bases:',
      `  - ${relative(overlay, DEPLOY)}`,
      'images:',
      '  - name: nfct-exporter',
      '    newName: registry.example.net/infra/nfct-exporter',
      '    newTag: 0.1.0-rc1',
      '',
    ].join('\n'));
    const ds = kustomize(overlay).find((r) => r.kind === 'DaemonSet') as DaemonSet;
    expect(ds.spec.template.spec.containers[0]!.image).toBe('registry.example.net/infra/nfct-exporter:0.1.0-rc1');
  });

  test('liveness and readiness probes ask /healthz, never a scrape', () => {
    const c = (one('DaemonSet') as DaemonSet).spec.template.spec.containers[0]!;
    for (const probe of [c.livenessProbe, c.readinessProbe]) {
      expect(probe?.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
    }
    for (const probe of [c.livenessProbe, c.readinessProbe, c.startupProbe]) {
      expect(probe?.httpGet?.path).not.toBe('/metrics');
    }
  });

  test('the pieces fit: Service selects the pods by their labels and port name, the ServiceMonitor the Service, the pods the ServiceAccount', () => {
    const ds = one('DaemonSet') as DaemonSet;
    const pod = ds.spec.template;
    const svc = one('Service') as Service;
    const sm = one('ServiceMonitor') as ServiceMonitor;
    expect(svc.spec.clusterIP).toBe('None');
    expect(pod.metadata.labels).toMatchObject(svc.spec.selector);
    expect(pod.metadata.labels).toMatchObject(ds.spec.selector.matchLabels);
    const port = pod.spec.containers[0]!.ports.find((p) => p.name === svc.spec.ports[0]!.targetPort)!;
    expect(port.containerPort).toBe(svc.spec.ports[0]!.port);
    expect(svc.metadata.labels).toMatchObject(sm.spec.selector.matchLabels);
    expect(sm.spec.endpoints.map((e) => [e.port, e.path])).toEqual([[svc.spec.ports[0]!.name, '/metrics']]);
    const sa = one('ServiceAccount') as Resource & { automountServiceAccountToken: boolean };
    expect(pod.spec.serviceAccountName).toBe(sa.metadata.name);
    expect([sa.automountServiceAccountToken, pod.spec.automountServiceAccountToken]).toEqual([false, false]);
  });

  test("the dashboard ConfigMap holds deploy/grafana-dashboard.json, labelled for Grafana's sidecar", () => {
    const cm = one('ConfigMap') as Resource & { data: Record<string, string> };
    expect(cm.metadata.labels).toMatchObject({ grafana_dashboard: '1' });
    expect(JSON.parse(cm.data['nfct-exporter.json']!)).toEqual(
      JSON.parse(readFileSync(join(DEPLOY, 'grafana-dashboard.json'), 'utf8')),
    );
  });

  test('host PID namespace, only NET_ADMIN, SYS_ADMIN and SYS_PTRACE, /run/netns read-only, scrape annotations, limits', () => {
    const pod = (one('DaemonSet') as DaemonSet).spec.template.spec;
    expect(pod.hostPID).toBe(true);
    expect(pod.hostNetwork).toBe(false);
    expect(pod.containers).toHaveLength(1);
    const c = pod.containers[0]!;
    expect(c.securityContext.privileged).toBe(false);
    expect(c.securityContext.allowPrivilegeEscalation).toBe(false);
    expect(c.securityContext.readOnlyRootFilesystem).toBe(true);
    expect(c.securityContext.capabilities.drop).toEqual(['ALL']);
    expect([...c.securityContext.capabilities.add].sort()).toEqual(['NET_ADMIN', 'SYS_ADMIN', 'SYS_PTRACE']);
    const mount = c.volumeMounts.find((v) => v.mountPath === '/run/netns')!;
    expect(mount.readOnly).toBe(true);
    expect(pod.volumes.find((v) => v.name === mount.name)?.hostPath?.path).toBe('/run/netns');
    const port = c.ports.find((p) => p.name === 'metrics')!.containerPort;
    expect(port).toBe(DEFAULT_EXPORTER_PORT);
    expect(parseListen(c.args[c.args.indexOf('--listen') + 1]!).port).toBe(port);
    const ann = (one('DaemonSet') as DaemonSet).spec.template.metadata.annotations;
    expect(ann).toMatchObject({ 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(port),
      'prometheus.io/path': '/metrics' });
    for (const kind of ['requests', 'limits'] as const) {
      expect(Object.keys(c.resources[kind]).sort()).toEqual(['cpu', 'memory']);
    }
  });
});

describe('deploy/Dockerfile', () => {
  test('the build stage copies every script `npm run build` runs', () => {
    const text = readFileSync(join(DEPLOY, 'Dockerfile'), 'utf8');
    const build = text.slice(0, text.lastIndexOf('FROM '));
    const copied = new Set([...build.matchAll(/^COPY ([^\n]+) \S+\/?$/gm)].flatMap((m) => m[1]!.split(/\s+/)));
    const pkg = JSON.parse(readFileSync(join(DEPLOY, '..', 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    const runs = ['build', 'build:native', 'build:ts'].flatMap((k) =>
      [...(pkg.scripts[k] ?? '').matchAll(/node (scripts\/\S+)/g)].map((m) => m[1]!)
    );
    expect(runs.length).toBeGreaterThan(0);
    for (const script of runs) {
      expect(copied.has(script) || copied.has('scripts/'), `${script} is not copied into the build stage`).toBe(true);
    }
  });

  test('the runtime libraries it installs exist in the Debian archive', () => {
    const text = readFileSync(join(DEPLOY, 'Dockerfile'), 'utf8');
    const runtime =
      /FROM node:20-bookworm-slim\nRUN apt-get update \\\n && apt-get install -y --no-install-recommends ([^\\\n]+)/
        .exec(text.slice(text.lastIndexOf('FROM ')))![1]!.trim().split(/\s+/);
    expect(runtime).toEqual(['libnetfilter-conntrack3', 'libnetfilter-log1', 'libmnl0']);
    const shown = execFileSync('apt-cache', ['show', '--no-all-versions', ...runtime], { encoding: 'utf8' });
    for (const p of runtime) expect(shown).toContain(`Package: ${p}\n`);
  });
});
