// `nfct doctor`: reads what the checks of doctor-checks.ts need from each namespace (sysctls,
// the entry count, per-CPU statistics and UDP NAT groups at both ends of a sampling interval,
// trace tables and whether their tracer lives, NFLOG listeners), prints the findings, and
// exits 1 when one is an error.
import { Conntrack } from '../../conntrack/handle.js';
import { NfctError } from '../../core/errors.js';
import { type Finding, type NamespaceReport, diagnose } from './doctor-checks.js';
import { readSysctls, resolveTargets, type Sysctls, sysctlPaths, sysctlsOf, type Target } from '../node-state.js';
import { abstractSocketOwner, NFLOG_FILES, nflogGroupsOf, threadNet } from '../procs.js';
import { CommandUsage, runSubcommand } from '../subcommand.js';
import { judgeTables, tableOwnerName, traceTableNames, traceTables } from '../../trace/state.js';
import { addon } from '../../core/native.js';
import type { Flow } from '../../conntrack/types.js';
import { listNamespaces, namespaceLabel } from '../../core/netns-discovery.js';
import { addressOwners } from '../../k8s/node.js';
import { readServices, type Services } from '../../k8s/services.js';

export const DOCTOR_HELP = `nfct doctor: what in the kernel's conntrack and logging state is wrong, and what to run.

Usage:
  nfct doctor [--netns NAME | --pid PID | --pod NS/NAME | --all-netns] [--pod-log-dir DIR]
              [--interval SECS] [--json]

  --interval S   how long counters are watched for rising (default 2)
  --json         one JSON object per finding (NDJSON)
  --pod NS/NAME  the namespace of that pod (pods are named from the kubelet's pod log
                 directories, --pod-log-dir, default /var/log/pods)

Checks: table nearing nf_conntrack_max; hash table too small for the limit; per-CPU drop,
early_drop, insert_failed, clash_resolve, chaintoolong rising; entries still DNATed to an
endpoint the Service's rules no longer name (stale, with the clients' pods and the nfct -D that
removes them); UDP entries towards a NAT target that never answers; settings hiding what you want to see (nf_conntrack_events, _acct,
_timestamp, nf_log backends, nf_log_all_netns); trace tables left by ended tracers, an nf_log
binding nobody hears, NFLOG groups already held.
Exit status: 0 no error found, 1 an error found, 2 a bad argument.
`;

export interface DoctorOptions {
  targets: Target[];
  interval: number;
  json: boolean;
  podLogDir?: string;
}

export async function parseDoctorArgs(argv: readonly string[]): Promise<DoctorOptions | 'help'> {
  let netns: string | undefined;
  let pid: number | undefined;
  let pod: string | undefined;
  let podLogDir: string | undefined;
  let allNetns = false;
  let interval = 2;
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--netns') {
      netns = argv[++i];
      if (!netns) throw new CommandUsage('nfct doctor: --netns needs a name');
    } else if (a === '--pid') {
      pid = Number(argv[++i]);
      if (!Number.isInteger(pid) || pid < 1) throw new CommandUsage('nfct doctor: --pid needs a process id');
    } else if (a === '--pod') {
      pod = argv[++i];
      if (!pod || !/^[a-z0-9][a-z0-9-]*\/[a-z0-9][a-z0-9.-]*$/.test(pod)) throw new CommandUsage('nfct doctor: --pod needs NAMESPACE/NAME');
    } else if (a === '--pod-log-dir') {
      podLogDir = argv[++i];
      if (!podLogDir || !podLogDir.startsWith('/')) throw new CommandUsage('nfct doctor: --pod-log-dir needs an absolute path');
    } else if (a === '--all-netns') allNetns = true;
    else if (a === '--interval') {
      interval = Number(argv[++i]);
      if (!Number.isFinite(interval) || interval < 0.1 || interval > 3600) throw new CommandUsage('nfct doctor: --interval needs seconds between 0.1 and 3600');
    } else if (a === '--json') json = true;
    else if (a === '--help' || a === '-h') return 'help';
    else throw new CommandUsage(`nfct doctor: unknown option '${a}'`);
  }
  if ([netns !== undefined, pid !== undefined, pod !== undefined, allNetns].filter(Boolean).length > 1) {
    throw new CommandUsage('nfct doctor: use one of --netns, --pid, --pod, --all-netns');
  }
  let targets: Target[];
  try {
    targets = await resolveTargets({ netns, pid, pod, podLogDir, allNetns });
  } catch (e) {
    if (e instanceof NfctError && pod !== undefined) throw new CommandUsage(`nfct doctor: --pod ${pod}: ${e.detail}`);
    throw e;
  }
  return { targets, interval, json, ...(podLogDir !== undefined ? { podLogDir } : {}) };
}

/** The temporary trace tables in the namespace, each judged, with who holds a live one. */
export async function traceTablesIn(path: string | null, names?: readonly string[]): Promise<NamespaceReport['traceTables']> {
  let found;
  try {
    found = names === undefined ? await traceTables(path) : await judgeTables(path, names);
  } catch {
    return []; // no nf_tables
  }
  return Promise.all(found.map(async (t) => {
    const name = t.owner === 'alive' ? tableOwnerName(t.name) : undefined;
    const holder = name ? await abstractSocketOwner(path, name) : undefined;
    return holder ? { ...t, holder } : t;
  }));
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

type Inside = Pick<NamespaceReport, 'sysctls' | 'traceTables' | 'nflogGroups'>;

/**
 * What the checks read inside the namespace, in one visit of a thread there (no process per
 * namespace): the sysctls, the NFLOG groups and netlink sockets, the nf_tables tables.
 */
async function readInside(path: string | null): Promise<Inside> {
  const files = sysctlPaths();
  let texts: Array<string | null>;
  let tables: string[] | Error | null;
  try {
    [texts, tables] = await addon.readInNamespace(path, [...files, ...NFLOG_FILES.map(threadNet)], true);
  } catch {
    return { sysctls: {}, traceTables: [], nflogGroups: [] };
  }
  let names: string[] = [];
  try {
    names = traceTableNames(tables, path);
  } catch {
    // no nf_tables: no trace table either
  }
  const n = files.length;
  return {
    sysctls: sysctlsOf(files, texts),
    traceTables: await traceTablesIn(path, names),
    nflogGroups: nflogGroupsOf(texts[n] ?? '', texts[n + 1] ?? ''),
  };
}

/** The initial namespace's sysctls, read once for every namespace of a run. */
let hostRead: Promise<Sysctls> | undefined;
const hostSysctls = (): Promise<Sysctls> => (hostRead ??= readSysctls(null));

/** Reads one namespace over the sampling interval. */
export async function examine(target: Target, interval: number, podLogDir?: string): Promise<NamespaceReport> {
  const ct = await Conntrack.open(target.path === null ? {} : { netns: target.path });
  try {
    // The Services first: where the rules DNAT nothing there is no entry to judge, and the DNAT
    // dumps are left out (each walks the kernel's whole hash table, whatever the namespace holds).
    let services: Services | undefined;
    let servicesError: string | undefined;
    try {
      services = await readServices(target.path === null ? {} : { netns: target.path });
    } catch (e) {
      servicesError = e instanceof Error ? e.message : String(e);
    }
    const judged = services === undefined || services.size > 0;
    const dnat = async (): Promise<Flow[]> => {
      if (!judged) return [];
      const out: Flow[] = [];
      for await (const batch of ct.list({ status: 'DST_NAT' }).batches()) for (const f of batch) out.push(f);
      return out;
    };
    const [{ sysctls, traceTables, nflogGroups: groups }, host, entries, statsBefore, dnatBefore] = await Promise.all([
      readInside(target.path),
      // nf_log_all_netns exists only in the initial namespace (it is global).
      target.path === null ? Promise.resolve<Record<string, string>>({}) : hostSysctls(),
      ct.count(),
      ct.stats(),
      dnat(),
    ]);
    const t0 = performance.now();
    await sleep(interval * 1000);
    const [statsAfter, dnatAfter] = await Promise.all([ct.stats(), dnat()]);
    const seconds = (performance.now() - t0) / 1000;
    const pod = /^[a-z0-9][a-z0-9-]*\/[a-z0-9][a-z0-9.-]*$/.test(target.label);
    const nsFlag = target.path === null ? '' : pod ? ` --pod ${target.label}${podLogDir !== undefined ? ` --pod-log-dir ${podLogDir}` : ''}` : target.path.startsWith('/run/netns/') ? ` --netns ${target.label}` : ` --netns ${target.path}`;
    const nsExec = target.path === null ? '' : target.path.startsWith('/run/netns/') ? `ip netns exec ${target.label} ` : `nsenter --net=${target.path} `;
    if (sysctls.nf_log_all_netns === undefined && 'nf_log_all_netns' in host) sysctls.nf_log_all_netns = host.nf_log_all_netns!;
    const report: NamespaceReport = { netns: target.label, nsFlag, nsExec, sysctls, entries, statsBefore, statsAfter, seconds, dnatBefore, dnatAfter, owners: new Map(), traceTables, nflogGroups: groups };
    if (services) report.services = services;
    if (servicesError !== undefined) report.servicesError = servicesError;
    return report;
  } finally {
    ct.close();
  }
}

const LABEL = { error: 'ERROR  ', warning: 'WARNING', info: 'INFO   ' };
const COLOUR = { error: '\x1b[1;31m', warning: '\x1b[1;33m', info: '\x1b[36m' };

export function formatFinding(f: Finding, colour: boolean): string {
  const label = colour ? `${COLOUR[f.severity]}${LABEL[f.severity]}\x1b[0m` : LABEL[f.severity];
  return [`${label} [${f.netns}] ${f.title}`, `        why: ${f.why}`, `        run: ${f.fix}`, ''].join('\n');
}

/** `nfct doctor ...`: resolves the exit status. */
export function doctorCommand(argv: readonly string[]): Promise<number> {
  return runSubcommand(argv, parseDoctorArgs, DOCTOR_HELP, runDoctor);
}

async function runDoctor(opts: DoctorOptions): Promise<number> {
  hostRead = undefined;
  let failed = 0;
  const reports = await Promise.all(opts.targets.map(async (t) => {
    try {
      return await examine(t, opts.interval, opts.podLogDir);
    } catch (e) {
      // Among several, a namespace gone since it was listed is only mentioned.
      const gone = opts.targets.length > 1 && e instanceof NfctError && (e.code === 'ENOENT' || e.code === 'EINVAL');
      if (!gone) failed++;
      process.stderr.write(`nfct doctor: [${t.label}] ${gone ? 'left out: ' : ''}${e instanceof Error ? e.message : String(e)}\n`);
      return undefined;
    }
  }));
  // Clients of DNATed entries are named by the pod holding their address.
  if (reports.some((r) => r && r.dnatAfter.length > 0)) {
    const owners = await addressOwners(await listNamespaces(opts.podLogDir !== undefined ? { podLogDir: opts.podLogDir } : {}), namespaceLabel).catch(() => new Map());
    for (const r of reports) if (r) r.owners = owners;
  }
  const findings = reports.flatMap((r) => (r ? diagnose(r) : []));
  const colour = process.stdout.isTTY === true && !opts.json;
  for (const f of findings) process.stdout.write(opts.json ? `${JSON.stringify(f)}\n` : `${formatFinding(f, colour)}\n`);
  const errors = findings.filter((f) => f.severity === 'error').length;
  const examined = reports.filter(Boolean).length;
  // Nothing could be examined (no privilege: EPERM): the error said it all, no summary of nothing.
  if (!opts.json && (examined > 0 || failed === 0)) {
    const unread = failed > 0 ? `, ${failed} could not be read` : '';
    process.stderr.write(`nfct doctor: ${examined} namespace${examined === 1 ? '' : 's'} examined${unread}, ${findings.length} finding${findings.length === 1 ? '' : 's'}, ${errors} error${errors === 1 ? '' : 's'}.\n`);
  }
  return errors > 0 || failed > 0 ? 1 : 0;
}
