#!/usr/bin/env node
// nfct: a dispatcher. `nfct log` and `nfct trace` are nfct's own commands; `-R FILE` restores;
// everything else is a conntrack command line, read with conntrack's rules (parse.ts) and run
// by one module per command (commands/), all writing through one batching writer (output.ts).
import type { Conntrack } from '../conntrack/handle.js';
import { NfctError } from '../core/errors.js';
import type { NetnsOption } from '../core/netns.js';
import type { Command } from './commands/all-netns.js';
import { type Context, withWriter } from './context.js';
import { BANNER, cannotOpen, CliExit } from './messages.js';
import { netnsJsonOf, withNetns } from './ndjson.js';
import type { CtRequest } from './parse.js';
import { exitWith, netnsOf, runCommandLine } from './run.js';

/** Where --netns / --pid are on a -R command line (they apply to the whole file). */
function restoreNetns(argv: readonly string[]): { netns?: string; pid?: number } {
  const o: { netns?: string; pid?: number } = {};
  for (let i = 2; i < argv.length; i++) {
    if (argv[i] === '--netns') o.netns = argv[++i];
    else if (argv[i] === '--pid') o.pid = Number(argv[++i]);
  }
  return o;
}

async function withConntrack(ns: NetnsOption | undefined, run: (ct: Conntrack) => Promise<number>): Promise<number> {
  // Loaded here: nfct's own commands (log, trace, ...) start without the conntrack handle.
  const { Conntrack } = await import('../conntrack/handle.js');
  let ct: Conntrack;
  try {
    ct = await Conntrack.open({ netns: ns });
  } catch (e) {
    if (e instanceof NfctError) throw cannotOpen(e);
    throw e;
  }
  try {
    return await run(ct);
  } finally {
    await ct.close();
  }
}

/**
 * The module that runs a command in one namespace, loaded when it is used: a command starts
 * without the modules of the others.
 */
async function commandOf(r: CtRequest): Promise<Command> {
  const c = r.command;
  if (c === 'list' || c === 'get') return (await import('./commands/list.js'))[c];
  if (c === 'create' || c === 'add') return (await import('./commands/create.js')).create;
  if (c === 'delete' || c === 'update') {
    return (await import('./commands/modify.js'))[c === 'delete' ? 'remove' : 'update'];
  }
  if (c === 'event') return (await import('./commands/events.js')).events;
  if (c === 'exp-event') return (await import('./commands/events.js')).expectEvents;
  // flush, count and stats of either table (exp-flush: the expectation table's)
  const table = c.replace(/^exp-/, '');
  if (table === 'flush' || table === 'count' || table === 'stats') return (await import('./commands/table.js'))[table];
  return (await import('./commands/expect.js')).expectations;
}

/** Runs one conntrack command line. */
export async function runRequest(r: CtRequest, ctx: Context): Promise<number> {
  switch (r.command) {
    case 'version':
      return (await import('./commands/table.js')).version(r, ctx);
    case 'help':
      return (await import('./commands/table.js')).help(ctx);
    default:
  }
  const command = await commandOf(r);
  if (r.allNetns) return (await import('./commands/all-netns.js')).inEveryNamespace(r, ctx, command);
  let ns = netnsOf(r);
  if (r.pod !== undefined) {
    // --pod NAMESPACE/NAME: the namespace of that pod of the node.
    const { findPodNamespace } = await import('../k8s/node.js');
    try {
      ns = (await findPodNamespace(r.pod, { podLogDir: r.podLogDir })).path;
    } catch (e) {
      if (e instanceof NfctError) throw new CliExit(1, `--pod ${r.pod}: ${e.detail}`);
      throw e;
    }
  }
  // NDJSON lines of a namespace named on the command line end with its netns object.
  const where = ns;
  const contextFor = async (): Promise<Context> =>
    r.json && where !== undefined ? withWriter(ctx, ctx.out.marked(withNetns(await netnsJsonOf(where)))) : ctx;
  // -C in one namespace: counted on this thread (commands/count.ts).
  if (r.command === 'count') return (await import('./commands/count.js')).countIn(where, r, contextFor);
  return withConntrack(where, async (ct) => command(ct, r, await contextFor()));
}

/**
 * Runs nfct with these arguments; resolves its exit status. Output goes to process.stdout, or
 * with `stdoutFd` straight to that file descriptor (the command itself).
 */
export async function main(argv: string[], options: { stdoutFd?: number } = {}): Promise<number> {
  return runCommandLine(argv, options, async (ctx) => {
    // Loaded when used: a conntrack command line should not wait for them (the exporter brings
    // prom-client, which takes longer to load than the rest of nfct).
    if (argv[0] === 'log') return (await import('./commands/log.js')).log(argv.slice(1), ctx);
    if (argv[0] === 'trace') return (await import('./commands/trace.js')).trace(argv.slice(1), ctx);
    if (argv[0] === 'top') return (await import('./commands/top.js')).topCommand(argv.slice(1));
    if (argv[0] === 'flows') return (await import('./commands/flows.js')).flows(argv.slice(1), ctx);
    if (argv[0] === 'doctor') return (await import('./commands/doctor.js')).doctorCommand(argv.slice(1));
    if (argv[0] === 'exporter') return await (await import('./commands/exporter.js')).exporterCommand(argv.slice(1)), 0;
    if (argv.length > 1 && (argv[0] === '-R' || argv[0] === '--load-file')) {
      const file = argv[1]!;
      const { restore } = await import('./commands/restore.js');
      return withConntrack(netnsOf(restoreNetns(argv)), (ct) => restore(ct, file, ctx));
    }
    const { parseCommandLine } = await import('./parse.js');
    return runRequest(parseCommandLine(argv, ctx.err), ctx);
  });
}

/** Runs nfct on the process's own arguments and exits with its status (the command itself). */
export function run(): void {
  exitWith(main(process.argv.slice(2), { stdoutFd: 1 }));
}

if (require.main === module) run();

export { BANNER };
