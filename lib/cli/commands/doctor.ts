// `nfct doctor`: reads what the checks of doctor-checks.ts need from each namespace (sysctls,
// the entry count, per-CPU statistics and UDP NAT groups at both ends of a sampling interval,
// trace tables and whether their tracer lives, NFLOG listeners, rules writing to the kernel
// log), prints the findings, and
// exits 1 when one is an error.
import { statSync } from 'node:fs';

import { Conntrack } from '../../conntrack/handle.js';
import type { Flow } from '../../conntrack/types.js';
import { NfctError } from '../../core/errors.js';
import { addon } from '../../core/native.js';
import { isInitialNetns, listNamespaces, namespaceLabel } from '../../core/netns-discovery.js';
import { addressOwners } from '../../k8s/node.js';
import { readServices, type Services } from '../../k8s/services.js';
import { judgeTables, tableOwnerName, traceTableNames, traceTables } from '../../trace/state.js';
import { namespaceFailure } from '../messages.js';
import { line, netnsJsonOf, receivedNow } from '../ndjson.js';
import { readSysctls, resolveTargets, sysctlPaths, type Sysctls, sysctlsOf, type Target } from '../node-state.js';
import { abstractSocketOwner, NFLOG_FILES, nflogGroupsOf, processName, threadNet } from '../procs.js';
import { CommandUsage, POD_NAME, podFlag, runSubcommand } from '../subcommand.js';
import { atLeast, CHECK_LIST, diagnose, type Finding, type NamespaceReport, type Severity } from './doctor-checks.js';
import { countLogRules, LEGACY_TABLE_FILES } from './doctor-logrules.js';

const ID_WIDTH = Math.max(...CHECK_LIST.map(([id]) => id.length)) + 2;

export const DOCTOR_HELP = `nfct doctor: what in the kernel's conntrack and logging state is wrong, and what to run.

Usage:
  nfct doctor [--netns NAME | --pid PID | --pod NS/NAME | --all-netns] [--pod-log-dir DIR]
              [--interval SECS] [--min-severity error|warning|info] [--json]

  --interval S       how long counters are watched for rising (default 2)
  --min-severity L   only findings this severe or more (default info: all of them)
  --json             one JSON object per finding (NDJSON, schema/finding.json)
  --pod NS/NAME      the namespace of that pod (pods are named from the kubelet's pod log
                     directories, --pod-log-dir, default /var/log/pods)

Checks (the id each finding carries):
${CHECK_LIST.map(([id, severity, what]) => `  ${id.padEnd(ID_WIDTH)}${severity.padEnd(14)}${what}`).join('\n')}
A node-wide finding (a global setting) comes once, as [node], however many namespaces show it.
Exit status: 0 no error found, 1 an error found or a namespace that could not be examined
(the summary on stderr counts both), 2 a bad argument.
`;

const SEVERITIES: readonly Severity[] = ['error', 'warning', 'info'];

export interface DoctorOptions {
  targets: Target[];
  interval: number;
  json: boolean;
  /** Findings less severe than this are counted, not shown. */
  minSeverity: Severity;
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
  let minSeverity: Severity = 'info';
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--netns') {
      netns = argv[++i];
      if (!netns) throw new CommandUsage('nfct doctor: --netns needs a name');
    } else if (a === '--pid') {
      pid = Number(argv[++i]);
      if (!Number.isInteger(pid) || pid < 1) throw new CommandUsage('nfct doctor: --pid needs a process id');
    } else if (a === '--pod' || a === '--pod-log-dir') {
      const v = podFlag(a, argv[++i], 'nfct doctor');
      if (a === '--pod') pod = v;
      else podLogDir = v;
    } else if (a === '--all-netns') allNetns = true;
    else if (a === '--interval') {
      interval = Number(argv[++i]);
      if (!Number.isFinite(interval) || interval < 0.1 || interval > 3600) {
        throw new CommandUsage('nfct doctor: --interval needs seconds between 0.1 and 3600');
      }
    } else if (a === '--min-severity') {
      const v = argv[++i];
      if (!SEVERITIES.includes(v as Severity)) {
        throw new CommandUsage(
          `nfct doctor: --min-severity must be one of ${SEVERITIES.join(', ')}, got ${
            v === undefined ? 'nothing' : `'${v}'`
          }`,
        );
      }
      minSeverity = v as Severity;
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
  return { targets, interval, json, minSeverity, ...(podLogDir !== undefined ? { podLogDir } : {}) };
}

/** The temporary trace tables in the namespace, each judged, with who holds a live one. */
export async function traceTablesIn(path: string | null,
  names?: readonly string[]): Promise<NamespaceReport['traceTables']>
{
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

/** Whether the namespace (null: ours) is the initial one; undefined when that cannot be told. */
function isInitial(path: string | null): boolean | undefined {
  try {
    return isInitialNetns(statSync(path ?? '/proc/self/ns/net').ino);
  } catch {
    return undefined;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

type Inside = Pick<NamespaceReport, 'sysctls' | 'traceTables' | 'nflogGroups'> & {
  /** What tells which tables exist (for counting the rules that log): nf_tables, legacy iptables. */
  nftTables: string[] | Error | null;
  legacyTables: (string | null)[];
};

/**
 * What the checks read inside the namespace, in one visit of a thread there (no process per
 * namespace): the sysctls, the NFLOG groups and netlink sockets, the nf_tables tables, the
 * legacy iptables tables.
 */
async function readInside(path: string | null): Promise<Inside> {
  const files = sysctlPaths();
  let texts: (string | null)[];
  let tables: string[] | Error | null;
  try {
    [texts, tables] = await addon.readInNamespace(path, [...files, ...NFLOG_FILES.map(threadNet),
      ...LEGACY_TABLE_FILES.map(threadNet)], true);
  } catch {
    return { sysctls: {}, traceTables: [], nflogGroups: [], nftTables: null, legacyTables: [] };
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
    // Holders named as an operator knows them (`nfct log`, not node).
    nflogGroups: nflogGroupsOf(texts[n] ?? '', texts[n + 1] ?? '').map((
      g,
    ) => (g.pid !== undefined ? { ...g, comm: processName(g.pid, g.comm) } : g)),
    nftTables: tables,
    legacyTables: texts.slice(n + NFLOG_FILES.length),
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
    const [{ sysctls, traceTables, nflogGroups: groups, nftTables, legacyTables }, host, entries, statsBefore,
      dnatBefore] = await Promise.all([
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
    const pod = POD_NAME.test(target.label);
    const nsFlag = target.path === null
      ? ''
      : pod
      ? ` --pod ${target.label}${podLogDir !== undefined ? ` --pod-log-dir ${podLogDir}` : ''}`
      : target.path.startsWith('/run/netns/')
      ? ` --netns ${target.label}`
      : ` --netns ${target.path}`;
    // `ip netns exec` takes the file's name under /run/netns (a pod's label is the pod's name).
    const nsExec = target.path === null
      ? ''
      : target.path.startsWith('/run/netns/')
      ? `ip netns exec ${target.path.slice('/run/netns/'.length)} `
      : `nsenter --net=${target.path} `;
    if (sysctls.nf_log_all_netns === undefined && 'nf_log_all_netns' in host) {
      sysctls.nf_log_all_netns = host.nf_log_all_netns!;
    }
    const initial = isInitial(target.path);
    const report: NamespaceReport = { netns: target.label, nsFlag, nsExec, sysctls, entries, statsBefore, statsAfter,
      seconds, dnatBefore, dnatAfter, owners: new Map(), traceTables, nflogGroups: groups };
    if (initial !== undefined) report.initial = initial;
    // The rules that log matter only where the kernel mutes them (checkLogSuppressed).
    if (initial === false && Number(sysctls.nf_log_all_netns) === 0 && sysctls.nf_log_all_netns !== undefined) {
      report.logRules = await countLogRules(target.path, { nftTables, legacyTables });
    }
    if (services) report.services = services;
    if (servicesError !== undefined) report.servicesError = servicesError;
    return report;
  } finally {
    await ct.close();
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
  const examined = await Promise.all(opts.targets.map(async (t) => {
    try {
      // What NDJSON says of the namespace, and what was read in it.
      const netns = opts.json ? await netnsJsonOf({ path: t.path ?? '/proc/self/ns/net' }, t.label) : undefined;
      return { report: await examine(t, opts.interval, opts.podLogDir), netns };
    } catch (e) {
      // Among several, a namespace gone since it was listed is only mentioned.
      const gone = opts.targets.length > 1 && e instanceof NfctError && (e.code === 'ENOENT' || e.code === 'EINVAL');
      if (!gone) failed++;
      const why = e instanceof NfctError
        ? (namespaceFailure(e) ?? e.message)
        : e instanceof Error
        ? e.message
        : String(e);
      process.stderr.write(`nfct doctor: [${t.label}] ${gone ? 'left out: ' : ''}${why}\n`);
      return undefined;
    }
  }));
  const done = examined.filter((x) => x !== undefined);
  // Clients of DNATed entries are named by the pod holding their address.
  if (done.some((x) => x.report.dnatAfter.length > 0)) {
    const owners = await addressOwners(
      await listNamespaces(opts.podLogDir !== undefined ? { podLogDir: opts.podLogDir } : {}),
      namespaceLabel,
    ).catch(() => new Map());
    for (const x of done) x.report.owners = owners;
  }
  const netnsOf = new Map(done.map((x) => [x.report.netns, x.netns]));
  const findings = diagnose(done.map((x) => x.report));
  const shown = findings.filter((f) => atLeast(f, opts.minSeverity));
  const colour = process.stdout.isTTY === true && !opts.json;
  for (const f of shown) {
    process.stdout.write(`${opts.json ? findingLine(f, netnsOf.get(f.netns)) : formatFinding(f, colour)}\n`);
  }
  // A namespace that could not be examined is an error as much as an error found in one.
  const errors = findings.filter((f) => f.severity === 'error').length + failed;
  const hidden = findings.length - shown.length;
  const n = (count: number, word: string): string => `${count} ${word}${count === 1 ? '' : 's'}`;
  // Nothing could be examined (no privilege: EPERM; no such namespace): the error said it all,
  // no summary of nothing.
  if (done.length > 0 || failed === 0) {
    process.stderr.write(
      `nfct doctor: ${n(done.length, 'namespace')} examined${failed > 0 ? `, ${failed} could not be` : ''}; ` +
        `${n(shown.length, 'finding')}${hidden > 0 ? ` (${hidden} below ${opts.minSeverity} not shown)` : ''}; ${
          n(errors, 'error')
        }.\n`,
    );
  }
  return errors > 0 ? 1 : 0;
}

/** A finding as an NDJSON line (schema/finding.json). */
function findingLine(f: Finding, netns: Record<string, unknown> | undefined): string {
  const { severity, check, scope, title, seen, why, fix } = f;
  return line('finding', receivedNow(), 'received', { severity, check, scope,
    ...(scope === 'namespace' && netns ? { netns } : {}), title, seen, why, fix });
}
