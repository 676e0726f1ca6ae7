// The entry of dist/cli/nfct-count.js, the small bundle bin.js starts a command line that may
// count (-C) with: conntrack's parser (parse.ts), the writer and the count alone, an eighth of
// the whole CLI to read and compile. It runs the lines it serves as the whole CLI does, with
// the same modules; a line it does not serve (another command, or -C with `expect`,
// --all-netns, --pod, or --json in a named namespace) is left to the whole CLI before anything
// was printed or done, and is read again there.
import { countIn } from './commands/count.js';
import { parseCommandLine } from './parse.js';
import type { CtRequest } from './request.js';
import { conntrackLine, exitWith, netnsOf, runCommandLine } from './run.js';

/** A request this bundle runs: a count of one namespace's table, in plain words or NDJSON. */
export function served(r: CtRequest): boolean {
  return r.command === 'count' && !r.allNetns && r.pod === undefined
    && !(r.json && (r.netns !== undefined || r.pid !== undefined));
}

/**
 * Runs the command line (the process's own arguments) when this bundle serves it, or refuses it
 * as conntrack would, and exits with its status; false, having done nothing, when the whole
 * CLI must run it.
 */
export function run(argv: string[] = process.argv.slice(2)): boolean {
  if (!conntrackLine(argv)) return false;
  // What parse.ts warns of while it reads is said only if the line is run here.
  const warnings: string[] = [];
  let request: CtRequest | undefined;
  let refusal: unknown;
  try {
    request = parseCommandLine(argv, (line) => warnings.push(line));
  } catch (e) {
    refusal = e;
  }
  if (request && !served(request)) return false;
  exitWith(runCommandLine(argv, { stdoutFd: 1 }, async (ctx) => {
    for (const line of warnings) ctx.err(line);
    if (!request) throw refusal;
    return countIn(netnsOf(request), request, () => ctx);
  }));
  return true;
}
