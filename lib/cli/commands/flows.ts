// `nfct flows`: a record per finished connection, as text or NDJSON, and/or exported as IPFIX
// to collectors; in one namespace or (--all-netns) every namespace of the node, each an IPFIX
// observation domain. On exit (Ctrl-C, SIGTERM) it says how many records it wrote and
// exported, the overruns (DESTROY events the kernel dropped) and what each collector lost; with
// --json the same as a last NDJSON line of type "summary".
import type { FlowFilter } from '../../conntrack/filter.js';
import { Conntrack } from '../../conntrack/handle.js';
import { NfctError } from '../../core/errors.js';
import { namespaceLabel, type NetworkNamespace } from '../../core/netns-discovery.js';
import type { NetnsOption } from '../../core/netns.js';
import { type CollectorSpec, parseCollector } from '../../flows/collector.js';
import { IpfixExporter } from '../../flows/exporter.js';
import { type FlowNamespace, flowRecordJson, formatFlowRecord, namespaceJson } from '../../flows/record.js';
import { FLOW_SYSCTLS } from '../../flows/settings.js';
import type { FlowRecordStream, FlowsOptions } from '../../flows/stream.js';
import type { Context } from '../context.js';
import { FLOWS_HELP } from '../help.js';
import { CliExit, namespaceFailure } from '../messages.js';
import { lineHead, receivedNow } from '../ndjson.js';
import { POD_NAME } from '../subcommand.js';
import { followNamespaces } from './all-netns.js';

interface FlowsArgs {
  json: boolean;
  print: boolean;
  collectors: CollectorSpec[];
  allNetns: boolean;
  netns?: NetnsOption;
  nsFlag?: string;
  /** --pod NAMESPACE/NAME (found when the command runs) and --pod-log-dir. */
  pod?: string;
  podLogDir?: string;
  enable: boolean;
  activeTimeout?: number;
  mtu?: number;
  templateRefresh?: number;
  /** --all-netns: only namespaces with a name or pod UID matching it. */
  pattern?: RegExp;
  filter: FlowFilter;
}

function bad(message: string): never {
  throw new CliExit(2, `nfct flows: ${message}`, true);
}

function whole(text: string | undefined, flag: string, min: number, max: number): number {
  if (text === undefined || !/^\d+$/.test(text) || Number(text) < min || Number(text) > max) {
    bad(`${flag} must be a whole number from ${min} to ${max}, got ${JSON.stringify(text ?? '')}`);
  }
  return Number(text);
}

const PROTOCOLS = ['tcp', 'udp', 'udplite', 'sctp', 'dccp', 'icmp', 'icmpv6', 'gre'] as const;

/** Reads the command line; `help` for --help. */
export function parseFlowsArgs(argv: readonly string[]): FlowsArgs | 'help' {
  const a: FlowsArgs = { json: false, print: false, collectors: [], allNetns: false, enable: false, filter: {} };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) bad(`${arg} needs a value`);
      return v;
    };
    switch (arg) {
      case '--json':
        a.json = true;
        break;
      case '--print':
        a.print = true;
        break;
      case '--ipfix':
        try {
          a.collectors.push(parseCollector(value(), '--ipfix'));
        } catch (e) {
          if (e instanceof TypeError || e instanceof RangeError) bad(e.message);
          throw e;
        }
        break;
      case '--all-netns':
        a.allNetns = true;
        break;
      case '--netns':
        a.netns = value();
        a.nsFlag = arg;
        break;
      case '--pid':
        a.netns = { pid: whole(value(), arg, 1, 2 ** 31 - 1) };
        a.nsFlag = arg;
        break;
      case '--pod': {
        const pod = value();
        if (!POD_NAME.test(pod)) bad(`--pod must be NAMESPACE/NAME, got ${JSON.stringify(pod)}`);
        a.pod = pod;
        a.nsFlag = arg;
        break;
      }
      case '--pod-log-dir':
        a.podLogDir = value();
        break;
      case '--netns-regex': {
        const text = value();
        try {
          a.pattern = new RegExp(text);
        } catch {
          bad(`--netns-regex must be a regular expression, got ${JSON.stringify(text)}`);
        }
        break;
      }
      case '--enable-sysctls':
        a.enable = true;
        break;
      case '--active-timeout':
        a.activeTimeout = whole(value(), arg, 1, 86_400);
        break;
      case '--ipfix-mtu':
        a.mtu = whole(value(), arg, 256, 65_507);
        break;
      case '--template-refresh':
        a.templateRefresh = whole(value(), arg, 1, 86_400);
        break;
      case '-p':
      case '--proto': {
        const p = value();
        if (!(PROTOCOLS as readonly string[]).includes(p)) {
          bad(`${arg} must be one of ${PROTOCOLS.join(', ')}, got ${JSON.stringify(p)}`);
        }
        a.filter.protocol = p as (typeof PROTOCOLS)[number];
        break;
      }
      case '-f':
      case '--family': {
        const f = value();
        if (f !== 'ipv4' && f !== 'ipv6') bad(`${arg} must be ipv4 or ipv6, got ${JSON.stringify(f)}`);
        a.filter.family = f;
        break;
      }
      case '-s':
      case '--src':
        a.filter.src = value();
        break;
      case '-d':
      case '--dst':
        a.filter.dst = value();
        break;
      case '--sport':
        a.filter.srcPort = whole(value(), arg, 0, 65535);
        break;
      case '--dport':
        a.filter.dstPort = whole(value(), arg, 0, 65535);
        break;
      case '-m':
      case '--mark':
        a.filter.mark = whole(value(), arg, 0, 0xffffffff);
        break;
      case '-w':
      case '--zone':
        a.filter.zone = whole(value(), arg, 0, 65535);
        break;
      case '-h':
      case '--help':
        return 'help';
      default:
        bad(`unknown option \`${arg}'`);
    }
  }
  if (a.allNetns && a.nsFlag) bad(`--all-netns cannot be combined with ${a.nsFlag}`);
  if (a.pattern && !a.allNetns) bad('--netns-regex needs --all-netns');
  if (a.collectors.length === 0 || a.json) a.print = true;
  return a;
}

/** What the summary says, over every namespace. */
class Tally {
  records = 0;
  overruns = 0;
  namespaces = 0;
}

/** Writes and exports one stream's records until it ends. */
async function pump(stream: FlowRecordStream, a: FlowsArgs, out: Context['out'], exporter: IpfixExporter | undefined,
  tally: Tally): Promise<void>
{
  let overruns = 0;
  for await (const batch of stream.batches()) {
    exporter?.export(batch);
    for (const item of batch) {
      if (item.type === 'overrun') {
        tally.overruns += item.overruns - overruns;
        overruns = item.overruns;
        continue;
      }
      tally.records++;
      if (a.print) out.line(a.json ? flowRecordJson(item) : formatFlowRecord(item));
    }
    if (a.print) {
      out.schedule();
      await out.ready();
    }
  }
  await out.drain();
}

/** Says once what a namespace's records lack, and how to have it. */
function warnMissing(ctx: Context, where: string, missing: readonly (keyof typeof FLOW_SYSCTLS)[]): void {
  for (const name of missing) {
    ctx.err(
      `nfct flows: ${where}net.netfilter.${name} is 0: records have no ${
        FLOW_SYSCTLS[name]
      }; --enable-sysctls turns it on until nfct exits`,
    );
  }
}

function options(a: FlowsArgs, signal: AbortSignal): FlowsOptions {
  return { ...a.filter, sysctls: a.enable ? 'enable' : 'keep', activeTimeout: a.activeTimeout, signal };
}

async function openExporter(a: FlowsArgs, ctx: Context): Promise<IpfixExporter | undefined> {
  if (a.collectors.length === 0) return undefined;
  const warned = new Set<string>();
  try {
    return await IpfixExporter.open({
      collectors: a.collectors,
      maxMessageSize: a.mtu,
      templateRefresh: a.templateRefresh,
      onError: (collector, e) => {
        const code = (e as NodeJS.ErrnoException).code ?? e.message;
        const key = `${collector} ${code}`;
        if (warned.has(key)) return;
        warned.add(key);
        ctx.err(`nfct flows: ${collector}: ${e.message} (counted in the summary; said once)`);
      },
    });
  } catch (e) {
    if (e instanceof NfctError) throw new CliExit(1, `nfct flows: ${e.message}`);
    throw e;
  }
}

function summary(a: FlowsArgs, ctx: Context, tally: Tally, exporter: IpfixExporter | undefined,
  netns: FlowNamespace | undefined): void
{
  const stats = exporter?.stats;
  const lost = stats?.collectors.reduce((n, c) => n + c.lost, 0) ?? 0;
  const where = a.allNetns ? ` from ${tally.namespaces} namespace${tally.namespaces === 1 ? '' : 's'}` : '';
  const overruns = tally.overruns > 0
    ? `; ${tally.overruns} overrun${tally.overruns === 1 ? '' : 's'} (DESTROY events the kernel dropped, count unknown)`
    : '; no overruns';
  const exported = stats
    ? `; ${
      stats.collectors.map((c) =>
        `${c.collector}: ${c.records - c.refused} sent, ${c.lost} lost${
          c.reconnects ? `, ${c.reconnects} reconnects` : ''
        }`
      ).join('; ')
    }`
    : '';
  ctx.err(`nfct flows: ${tally.records} flow records${where}${overruns}${exported}.`);
  if (!a.json || !a.print) return;
  let line = `${
    lineHead('summary', receivedNow(), 'received')
  },"records":${tally.records},"overruns":${tally.overruns}`;
  if (netns) line += `,"netns":${namespaceJson(netns)}`;
  if (a.allNetns) line += `,"namespaces":${tally.namespaces}`;
  if (stats) line += `,"exported":${JSON.stringify(stats.collectors)},"lost":${lost}`;
  ctx.out.line(`${line}}`);
}

/** Runs `nfct flows`; resolves the exit status. */
export async function flows(argv: readonly string[], ctx: Context): Promise<number> {
  const a = parseFlowsArgs(argv);
  if (a === 'help') {
    ctx.out.raw(FLOWS_HELP);
    await ctx.out.drain();
    return 0;
  }
  const exporter = await openExporter(a, ctx);
  const tally = new Tally();
  let netns: FlowNamespace | undefined;
  let opened = true;
  try {
    if (a.allNetns) {
      return await followNamespaces(ctx, {
        json: a.json,
        gone: (ns: NetworkNamespace) =>
          ctx.err(`nfct: [${namespaceLabel(ns)}] the namespace is gone: no longer followed`),
        open: async (ns) => {
          const re = a.pattern;
          if (re && !ns.names.some((n) => re.test(n)) && !(ns.podUid !== undefined && re.test(ns.podUid))) return null;
          const ct = await Conntrack.open({ netns: ns.path });
          const stop = new AbortController();
          let stream: FlowRecordStream;
          try {
            stream = ct.flows(options(a, stop.signal));
            const ready = await stream.ready;
            warnMissing(ctx, `[${namespaceLabel(ns)}] `, ready.missing);
            ctx.err(`nfct flows: [${namespaceLabel(ns)}] watching (IPFIX observation domain ${ready.netns.inode})`);
          } catch (e) {
            await ct.close();
            throw e;
          }
          tally.namespaces++;
          return {
            end: () => stop.abort(),
            run: async (c) => {
              try {
                // NDJSON lines carry their namespace already: they go out unmarked.
                await pump(stream, a, a.json ? ctx.out : c.out, exporter, tally);
              } finally {
                await stream.close();
              }
              return 0;
            },
            close: () => void ct.close(),
          };
        },
      });
    }
    let ct: Conntrack;
    try {
      if (a.pod !== undefined) {
        a.netns = {
          path: (await (await import('../../k8s/node.js')).findPodNamespace(a.pod, { podLogDir: a.podLogDir })).path,
        };
      }
      ct = await Conntrack.open({ netns: a.netns });
    } catch (e) {
      // Nothing was watched: the error alone is said, no summary of nothing.
      opened = false;
      if (e instanceof NfctError) throw new CliExit(1, namespaceFailure(e) ?? `nfct flows: ${e.message}`);
      throw e;
    }
    try {
      const stream = ct.flows(options(a, ctx.stop));
      try {
        const ready = await stream.ready;
        netns = ready.netns;
        warnMissing(ctx, '', ready.missing);
        ctx.err(
          `nfct flows: watching ${netns.label} (IPFIX observation domain ${netns.inode})${
            exporter ? `; exporting to ${a.collectors.length} collector${a.collectors.length === 1 ? '' : 's'}` : ''
          }`,
        );
        await pump(stream, a, ctx.out, exporter, tally);
      } finally {
        await stream.close();
      }
    } catch (e) {
      if (e instanceof NfctError) throw new CliExit(1, `nfct flows: ${e.message}`);
      throw e;
    } finally {
      await ct.close();
    }
    return 0;
  } finally {
    await exporter?.close(500);
    if (opened) summary(a, ctx, tally, exporter, netns);
    await ctx.out.drain().catch(() => undefined);
  }
}
