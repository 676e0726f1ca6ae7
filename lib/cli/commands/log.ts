// `nfct log --group N`: NFLOG packets as LOG lines (or NDJSON), written a batch at a time,
// with kernel sequence numbers on so that losses are counted exactly; a signal stops its
// reading and the packets it had received are still written (./stop-gently.ts); on exit it says
// how many packets it logged and how many were lost. With --all-netns: the group in every namespace of
// the node, each line marked with its namespace, one summary for them all. `--kmsg` / `--file`
// read the kernel log's LOG lines instead (./kernel-log.ts).
import { NfctError } from '../../core/errors.js';
import { namespaceLabel, type NetworkNamespace } from '../../core/netns-discovery.js';
import { type NetnsOption, netnsPath } from '../../core/netns.js';
import { Nflog, type PacketStream } from '../../nflog/handle.js';
import { formatLogLine } from '../../nflog/logline-format.js';
import { type Context, withWriter } from '../context.js';
import { LOG_HELP } from '../help.js';
import { CliExit } from '../messages.js';
import { packetLine } from '../ndjson-packets.js';
import { netnsJsonOf, withNetns } from '../ndjson.js';
import { groupHolder } from '../procs.js';
import { POD_NAME } from '../subcommand.js';
import { followNamespaces } from './all-netns.js';
import { eachUntilStopped, unwrittenLine } from './stop-gently.js';

function count(text: string | undefined, flag: string): number {
  if (text === undefined || !/^\d+$/.test(text)) {
    throw new CliExit(2, `Bad parameter \`${text === undefined ? flag : `${flag} ${text}`}'`, true);
  }
  return Number(text);
}

interface LogOptions {
  group: number;
  prefixOnly: boolean;
  json: boolean;
}

/** What the summary at exit says: packets logged and lost, over every subscription. */
class Tally {
  packets = 0;
  lost = 0;
  overruns = 0;
  unknownLoss = false;
  /** Namespaces subscribed (with --all-netns). */
  namespaces = 0;
  /** Packets received and not written: the signal's time ran out first. */
  unwritten = 0;

  summary(allNetns: boolean): string {
    // With sequence numbers the kernel's losses are counted exactly; an overrun after the last
    // packet cannot be (nothing came after it to compare with).
    const loss = this.lost > 0 || this.overruns > 0
      ? `; ${this.lost}${this.unknownLoss ? '+' : ''} lost (${this.overruns} overrun${this.overruns === 1 ? '' : 's'})`
      : '; none lost';
    const where = allNetns ? ` from ${this.namespaces} namespace${this.namespaces === 1 ? '' : 's'}` : '';
    return `nfct: ${this.packets} packet${this.packets === 1 ? '' : 's'} logged${where}${loss}.`;
  }
}

/**
 * Writes one subscription's packets until it ends, a batch per write; counts them into `tally`.
 * ctx.stop ends its reading; the packets it had received are still written (for up to FLUSH_MS,
 * the rest counted as unwritten).
 */
async function write(stream: PacketStream, o: LogOptions, ctx: Context, tally: Tally): Promise<void> {
  const { out } = ctx;
  let overruns = 0;
  try {
    await eachUntilStopped(stream, ctx.stop, out, (item) => {
      if (item.type === 'gap') {
        tally.lost += item.missing;
      } else if (item.type === 'overrun') {
        tally.overruns += item.overruns - overruns;
        overruns = item.overruns;
        if (item.lost !== undefined) tally.lost += item.lost;
        else tally.unknownLoss = true;
      } else {
        tally.packets++;
        if (o.json) out.line(packetLine(item));
        else {
          const time = new Date(Number((item.timestamp ?? BigInt(Date.now()) * 1_000_000n) / 1_000_000n))
            .toISOString();
          out.line(o.prefixOnly ? `${time} ${item.prefix ?? ''}` : `${time} ${formatLogLine(item)}`);
        }
        out.schedule();
      }
    });
  } finally {
    tally.unwritten += stream.dropped;
  }
  await out.drain();
}

/**
 * The group in every namespace, followed as namespaces come and go (as -E --all-netns): a
 * namespace where another socket holds the group, or that goes away, is said once and skipped.
 */
async function logEveryNamespace(o: LogOptions, ctx: Context, tally: Tally): Promise<number> {
  const say = (ns: NetworkNamespace, what: string): void => ctx.err(`nfct: [${namespaceLabel(ns)}] ${what}`);
  return followNamespaces(ctx, {
    json: o.json,
    gone: (ns) => say(ns, 'the namespace is gone: no longer logged'),
    open: async (ns) => {
      const nf = await Nflog.open({ netns: ns.path });
      let stream: PacketStream;
      try {
        stream = nf.subscribe({ group: o.group, sequence: true });
      } catch (e) {
        await nf.close();
        if (!(e instanceof NfctError && e.code === 'EBUSY')) throw e;
        say(ns, `NFLOG group ${o.group} is held by ${await groupHolder(ns.path, o.group)}: skipped`);
        return null;
      }
      tally.namespaces++;
      return {
        run: async (c) => {
          await write(stream, o, c, tally);
          return 0;
        },
        close: () => void nf.close(),
      };
    },
  });
}

export async function log(argv: readonly string[], ctx: Context): Promise<number> {
  if (argv.includes('--kmsg') || argv.includes('--file')) {
    return (await import('./kernel-log.js')).kernelLogCommand('log', argv, ctx);
  }
  let group: number | undefined;
  let prefixOnly = false;
  let json = false;
  let allNetns = false;
  let ns: NetnsOption | undefined;
  let nsFlag: string | undefined;
  let pod: string | undefined;
  let podLogDir: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--group' || a === '-g') group = count(argv[++i], a);
    else if (a === '--prefix-only') prefixOnly = true;
    else if (a === '--json') json = true;
    else if (a === '--all-netns') allNetns = true;
    else if (a === '--netns' || a === '--pid' || a === '--pod') {
      nsFlag = a;
      if (a === '--netns') ns = argv[++i];
      else if (a === '--pid') ns = { pid: count(argv[++i], '--pid') };
      else pod = argv[++i];
    } else if (a === '--pod-log-dir') podLogDir = argv[++i];
    else if (a === '--help' || a === '-h') {
      ctx.out.raw(LOG_HELP);
      await ctx.out.drain();
      return 0;
    } else throw new CliExit(2, `unknown option \`${a}'`, true);
  }
  if (group === undefined) throw new CliExit(2, 'nfct log: --group is required', true);
  if (allNetns && nsFlag) throw new CliExit(2, `nfct log: --all-netns cannot be combined with ${nsFlag}`, true);
  const o: LogOptions = { group, prefixOnly, json };
  const tally = new Tally();
  if (allNetns) {
    let failed = false;
    try {
      return await logEveryNamespace(o, ctx, tally);
    } catch (e) {
      failed = true;
      throw e;
    } finally {
      if (!failed || tally.namespaces > 0) ctx.err(tally.summary(true));
      const unwritten = unwrittenLine(tally.unwritten, 'packets', ctx.signal);
      if (unwritten) ctx.err(unwritten);
    }
  }
  if (pod !== undefined) {
    if (!POD_NAME.test(pod)) throw new CliExit(2, `Bad parameter \`--pod ${pod}' (NAMESPACE/NAME)`, true);
    const { findPodNamespace } = await import('../../k8s/node.js');
    ns = { path: (await findPodNamespace(pod, { podLogDir })).path };
  }
  const nf = await Nflog.open({ netns: ns });
  let stream: PacketStream;
  try {
    stream = nf.subscribe({ group, sequence: true });
  } catch (e) {
    await nf.close();
    // One socket per group and namespace: who has it, so that the operator can act.
    if (e instanceof NfctError && e.code === 'EBUSY') {
      throw new CliExit(1,
        `NFLOG group ${group} is held by ${await groupHolder(netnsPath(ns),
          group)}: stop it, or log to another --group`);
    }
    throw e;
  }
  let failed = false;
  try {
    const c = json && ns !== undefined ? withWriter(ctx, ctx.out.marked(withNetns(await netnsJsonOf(ns)))) : ctx;
    await write(stream, o, c, tally);
  } catch (e) {
    failed = true;
    throw e;
  } finally {
    await nf.close();
    // A subscription that failed before its first packet (no privilege: EPERM; the group held
    // by another socket: EBUSY) logged nothing: its error alone is said.
    if (!failed || tally.packets > 0) ctx.err(tally.summary(false));
    const unwritten = unwrittenLine(tally.unwritten, 'packets', ctx.signal);
    if (unwritten) ctx.err(unwritten);
  }
  return 0;
}
