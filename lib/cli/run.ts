// How nfct runs one command line, whichever bundle runs it (dist/cli/nfct.js, or the small
// nfct-count.js: see bin.ts): the command's context (the writer, stderr in nfct's voice, the
// stop signal), then what each failure says and the status it exits with.
import { NfctError } from '../core/errors.js';
import { NativeLoadError } from '../core/load-error.js';
import type { NetnsOption } from '../core/netns.js';
import { type Context, makeContext } from './context.js';
import { CliExit, errnoText, namespaceFailure, TRY_HELP } from './messages.js';
import { StdoutClosed } from './writer.js';

/** nfct's own commands: their messages start `nfct NAME: `, not with conntrack's signature. */
export const OWN_COMMANDS: ReadonlySet<string> = new Set(['log', 'trace', 'top', 'flows', 'doctor', 'exporter']);

/** Whether argv is a conntrack command line read by parse.ts (not nfct's own command, not `-R FILE`). */
export function conntrackLine(argv: readonly string[]): boolean {
  return !OWN_COMMANDS.has(argv[0]!) && !(argv.length > 1 && (argv[0] === '-R' || argv[0] === '--load-file'));
}

/** The namespace --netns or --pid names. */
export function netnsOf(r: { netns?: string; pid?: number }): NetnsOption | undefined {
  return r.pid !== undefined ? { pid: r.pid } : r.netns;
}

/**
 * Runs `command` for the command line argv; resolves its exit status. Output goes to
 * process.stdout, or with `stdoutFd` straight to that file descriptor (the command itself).
 */
export async function runCommandLine(argv: readonly string[], options: { stdoutFd?: number },
  command: (ctx: Context) => Promise<number>): Promise<number>
{
  const { ctx, dispose } = makeContext(options.stdoutFd === undefined ? undefined : { fd: options.stdoutFd });
  const own = OWN_COMMANDS.has(argv[0]!) ? `nfct ${argv[0]}` : undefined;
  // A message of one of nfct's own commands in its voice; conntrack command lines sign theirs.
  const say = (message: string): void => {
    if (!own) ctx.say(message);
    else ctx.err(message.startsWith(`${own}:`) || message.startsWith(`${own} `) ? message : `${own}: ${message}`);
  };
  try {
    return await command(ctx);
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

/** Exits with the status `run` resolves (the command itself). */
export function exitWith(run: Promise<number>): void {
  run.then(
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
