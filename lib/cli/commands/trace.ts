// `nfct trace`: every rule each traced packet passes, one block per packet, written a batch at
// a time; on exit it says how many packets it traced and how many trace events were lost.
// `--kmsg` / `--file` read legacy TRACE lines of the kernel log instead (./kernel-log.ts).
import { NfctError } from '../../core/errors.js';
import { type NetnsOption, netnsPath } from '../../core/netns.js';
import { Trace } from '../../trace/handle.js';
import type { TraceMatch, TraceOpenOptions, TracePacket } from '../../trace/types.js';
import { type Context, withWriter } from '../context.js';
import { TRACE_HELP } from '../help.js';
import { CliExit } from '../messages.js';
import { traceLine } from '../ndjson-packets.js';
import { netnsJsonOf, withNetns } from '../ndjson.js';
import type { Writer } from '../output.js';
import { groupHolder } from '../procs.js';
import { POD_NAME } from '../subcommand.js';
import { tracePacketLines } from './trace-text.js';

function count(text: string | undefined, flag: string): number {
  if (text === undefined || !/^\d+$/.test(text)) {
    throw new CliExit(2, `Bad parameter \`${flag} ${text ?? ''}'`.trimEnd(), true);
  }
  return Number(text);
}

/** Why `nfct trace --all-netns` is refused (docs/cli.md, "`--all-netns`"). */
export const ALL_NETNS_REFUSED =
  'nfct trace: --all-netns is refused: tracing changes the namespace it traces (a temporary nft table; ' +
  'with --bind-logger its nf_log backends), and a process killed outright (SIGKILL, the OOM killer) ' +
  'would leave that in every namespace of the node, each cleaned only by a later trace there. ' +
  'Trace one namespace with --netns NAME or --pid PID (nfct log --all-netns or nfct -L --all-netns shows which).';

/**
 * One traced packet: a block of its hops and the final verdict, or (json) one JSON object with
 * `type` and `time` (its first hop's). The same for every source of hops.
 */
export function writeTracePacket(out: Writer, pkt: TracePacket, json: boolean, tty: boolean): void {
  if (json) {
    out.line(traceLine(pkt));
    return;
  }
  const colour = (
    fate: string,
  ): string => (tty ? `${fate === 'drop' ? '\x1b[1;31m' : '\x1b[1;32m'}${fate}\x1b[0m` : fate);
  for (const line of tracePacketLines(pkt, colour)) out.line(line);
}

export async function trace(argv: readonly string[], ctx: Context): Promise<number> {
  if (argv.includes('--kmsg') || argv.includes('--file')) {
    return (await import('./kernel-log.js')).kernelLogCommand('trace', argv, ctx);
  }
  let legacy = true;
  let nftables = true;
  let json = false;
  let ns: NetnsOption | undefined;
  let bind = false;
  let showOwn = false;
  let pod: string | undefined;
  let podLogDir: string | undefined;
  const match: Record<string, unknown> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--legacy') nftables = false;
    else if (a === '--nftables') legacy = false;
    else if (a === '--json') json = true;
    else if (a === '--bind-logger') bind = true;
    else if (a === '--show-own-hops') showOwn = true;
    else if (a === '--pod') {
      pod = argv[++i];
      if (!pod || !POD_NAME.test(pod)) {
        throw new CliExit(2, `Bad parameter \`--pod ${pod ?? ''}' (NAMESPACE/NAME)`, true);
      }
    } else if (a === '--pod-log-dir') {
      podLogDir = argv[++i];
      if (!podLogDir?.startsWith('/')) {
        throw new CliExit(2, `Bad parameter \`--pod-log-dir ${podLogDir ?? ''}' (an absolute path)`, true);
      }
    } else if (a === '--all-netns') throw new CliExit(2, ALL_NETNS_REFUSED);
    else if (a === '--netns') ns = argv[++i];
    else if (a === '--pid') ns = { pid: count(argv[++i], '--pid') };
    else if (a === '-p' || a === '--protonum') match.protocol = argv[++i];
    else if (a === '-s' || a === '--src') match.src = argv[++i];
    else if (a === '-d' || a === '--dst') match.dst = argv[++i];
    else if (a === '--sport') match.srcPort = count(argv[++i], '--sport');
    else if (a === '--dport') match.dstPort = count(argv[++i], '--dport');
    else if (a === '--port') match.port = count(argv[++i], '--port');
    else if (a === '-f' || a === '--family') match.family = argv[++i];
    else if (a === '--help' || a === '-h') {
      ctx.out.raw(TRACE_HELP);
      await ctx.out.drain();
      return 0;
    } else throw new CliExit(2, `unknown option \`${a}'`, true);
  }
  if (pod !== undefined) {
    if (ns !== undefined) throw new CliExit(2, "`--pod' cannot be combined with `--netns' or `--pid'", true);
    const { findPodNamespace } = await import('../../k8s/node.js');
    ns = { path: (await findPodNamespace(pod, { podLogDir })).path };
  }
  const where = pod ??
    (typeof ns === 'string'
      ? ns
      : ns && 'pid' in ns
      ? `pid ${ns.pid}`
      : ns && 'path' in ns
      ? ns.path
      : 'this namespace');
  const opts = { netns: ns, legacy, nftables, bindLogger: bind };
  const m = Object.keys(match).length > 0 ? (match as TraceMatch) : undefined;
  // Lines of a namespace named here end with its netns object (read before tracing starts).
  const c = json && ns !== undefined ? withWriter(ctx, ctx.out.marked(withNetns(await netnsJsonOf(ns)))) : ctx;
  try {
    return await traceOnce(opts, m, json, c, showOwn, where);
  } catch (e) {
    if (!(e instanceof NfctError && e.code === 'EBUSY' && legacy)) throw e;
    // NFLOG group 0 is held (another tracer, ulogd, tcpdump -i nflog): who holds it is said;
    // without --legacy the trace goes on with nftables alone, beside the other one.
    const who = await groupHolder(netnsPath(ns), 0);
    if (!nftables) {
      throw new CliExit(1,
        `NFLOG group 0, where legacy TRACE goes, is held in this namespace by ${who}: stop it, or trace nftables alone (--nftables)`);
    }
    ctx.err(`nfct trace: NFLOG group 0 (legacy TRACE) is held in this namespace by ${who}: tracing nftables alone`);
    return traceOnce({ ...opts, legacy: false, bindLogger: false }, m, json, c, showOwn, where);
  }
}

/** One trace run: opens the handle, writes every packet until the stream ends, says the count. */
async function traceOnce(opts: TraceOpenOptions, match: TraceMatch | undefined, json: boolean, ctx: Context,
  showOwn: boolean, where: string): Promise<number>
{
  const t = await Trace.open(opts);
  const tty = process.stdout.isTTY === true;
  const { out } = ctx;
  let packets = 0;
  let failed = false;
  let stream: ReturnType<typeof t.packets> | undefined;
  try {
    stream = t.packets({ match, signal: ctx.stop, ownHops: showOwn });
    // What it waits for, once the stream listens and its rule is in place (one that cannot
    // fails: EPERM alone is said); without a match, only packets something else marks.
    if (await stream.ready.then(() => true, () => false)) {
      ctx.err(match
        ? `nfct: tracing ${
          Object.entries(match).map(([k, v]) => `${k}=${String(v)}`).join(' ')
        } in ${where}; Ctrl-C ends it.`
        : `nfct: no -p/-s/-d/--sport/--dport/--port given: waiting for packets already marked for tracing in ${where} (nft 'meta nftrace set 1', iptables -j TRACE${
          opts.legacy ? ', legacy TRACE through NFLOG group 0' : ''
        }); give a match to trace packets of your choice.`);
    }
    for await (const pkt of stream) {
      packets++;
      writeTracePacket(out, pkt, json, tty);
      out.schedule();
      if ((packets & 1023) === 0) await out.ready();
    }
    await out.drain();
  } catch (e) {
    failed = true;
    throw e;
  } finally {
    await t.close();
    // A stream that failed before its first packet (no privilege: EPERM) traced nothing: its
    // error alone is said.
    if (!failed || packets > 0) {
      const overruns = (stream as { stats?: { overruns: number } } | undefined)?.stats?.overruns ?? 0;
      // Traces whose marking hop was lost cannot be told ours: left out, and said.
      const unattributed = stream?.leftOut.unattributed ?? 0;
      const untold = unattributed > 0 ? `, ${unattributed} traces left out whose first hops were among them` : '';
      ctx.err(
        `nfct: ${packets} packets traced${
          overruns > 0 ? `; the kernel reported ${overruns} overruns (trace events lost${untold})` : '; none lost'
        }.`,
      );
    }
  }
  return 0;
}
