#!/usr/bin/env node
// nfct: a dispatcher. `nfct log` and `nfct trace` are nfct's own commands; `-R FILE` restores;
// everything else is a conntrack command line, read with conntrack's rules (parse.ts) and run
// by one module per command (commands/), all writing through one batching writer (output.ts).
import type { Conntrack } from '../conntrack/handle.js';
import { NfctError } from '../core/errors.js';
import { NativeLoadError } from '../core/load-error.js';
import type { NetnsOption } from '../core/netns.js';
import type { Command } from './commands/all-netns.js';
import { type Context, makeContext, withWriter } from './context.js';
import { BANNER, CliExit, errnoText, namespaceFailure, TRY_HELP } from './messages.js';
import { netnsJsonOf, withNetns } from './ndjson.js';
import { StdoutClosed } from './output.js';
import type { CtRequest } from './parse.js';

function netnsOf(r: { netns?: string; pid?: number }): NetnsOption | undefined {
  return r.pid !== undefined ? { pid: r.pid } : r.netns;
}

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
    if (e instanceof NfctError) throw new CliExit(1, namespaceFailure(e) ?? "Can't open handler");
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
  return withConntrack(where,
    async (ct) =>
      command(ct, r,
        r.json && where !== undefined ? withWriter(ctx, ctx.out.marked(withNetns(await netnsJsonOf(where)))) : ctx));
}

/** nfct's own commands: their messages start `nfct NAME: `, not with conntrack's signature. */
const OWN_COMMANDS = new Set(['log', 'trace', 'top', 'flows', 'doctor', 'exporter']);

/**
 * Runs nfct with these arguments; resolves its exit status. Output goes to process.stdout, or
 * with `stdoutFd` straight to that file descriptor (the command itself).
 */
export async function main(argv: string[], options: { stdoutFd?: number } = {}): Promise<number> {
  const { ctx, dispose } = makeContext(options.stdoutFd === undefined ? undefined : { fd: options.stdoutFd });
  const own = OWN_COMMANDS.has(argv[0]!) ? `nfct ${argv[0]}` : undefined;
  // A message of one of nfct's own commands in its voice; conntrack command lines sign theirs.
  const say = (message: string): void => {
    if (!own) ctx.say(message);
    else ctx.err(message.startsWith(`${own}:`) || message.startsWith(`${own} `) ? message : `${own}: ${message}`);
  };
  try {
    // Loaded when used: a conntrack command line should not wait for them (the exporter brings
    // prom-client, which takes longer to load than the rest of nfct).
    if (argv[0] === 'log') return await (await import('./commands/log.js')).log(argv.slice(1), ctx);
    if (argv[0] === 'trace') return await (await import('./commands/trace.js')).trace(argv.slice(1), ctx);
    if (argv[0] === 'top') return await (await import('./commands/top.js')).topCommand(argv.slice(1));
    if (argv[0] === 'flows') return await (await import('./commands/flows.js')).flows(argv.slice(1), ctx);
    if (argv[0] === 'doctor') return await (await import('./commands/doctor.js')).doctorCommand(argv.slice(1));
    if (argv[0] === 'exporter') return await (await import('./commands/exporter.js')).exporterCommand(argv.slice(1)), 0;
    if (argv.length > 1 && (argv[0] === '-R' || argv[0] === '--load-file')) {
      const file = argv[1]!;
      const { restore } = await import('./commands/restore.js');
      return await withConntrack(netnsOf(restoreNetns(argv)), (ct) => restore(ct, file, ctx));
    }
    const { parseCommandLine } = await import('./parse.js');
    return await runRequest(parseCommandLine(argv, ctx.err), ctx);
  } catch (e) {
    if (e instanceof StdoutClosed) return 0;
    if (e instanceof CliExit) {
      ctx.out.flushSync();
      if (e.message) say(e.message);
      if (e.tryHelp) ctx.err(own ? `Try \`${own} --help' for more information.` : TRY_HELP);
      return e.code;
    }
    if (e instanceof NfctError) {
      // nfct's own commands say the library's message (what failed, and what to do about it);
      // conntrack command lines say it in conntrack's words.
      say(namespaceFailure(e) ?? (own ? e.message : `Operation failed: ${errnoText(e.errno, '')}`));
      return 1;
    }
    if (e instanceof NativeLoadError) {
      say(e.message);
      return 1;
    }
    if (e instanceof TypeError || e instanceof RangeError) {
      say(e.message);
      return 2;
    }
    throw e;
  } finally {
    dispose();
  }
}

/** Runs nfct on the process's own arguments and exits with its status (the command itself). */
export function run(): void {
  main(process.argv.slice(2), { stdoutFd: 1 }).then(
    (code) => {
      // A write to a reader that stopped reading may still be pending: do not wait for it.
      process.exit(code);
    },
    (e: unknown) => {
      process.stderr.write(`nfct: ${e instanceof Error ? e.stack : String(e)}\n`);
      process.exitCode = 1;
    },
  );
}

if (require.main === module) run();

export { BANNER };
