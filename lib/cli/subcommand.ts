// What `nfct top` and `nfct doctor` share as commands of their own: a usage error that exits
// with 2, --help, and running the command to its exit status.

/** A bad argument: the message is printed and the exit status is 2. */
export class CommandUsage extends Error {}

/** A pod as --pod names it: NAMESPACE/NAME, as Kubernetes spells both. */
export const POD_NAME = /^[a-z0-9][a-z0-9-]*\/[a-z0-9][a-z0-9.-]*$/;

/**
 * The value of --pod (NAMESPACE/NAME) or --pod-log-dir (an absolute path) given to `command`
 * ('nfct top'), checked: a CommandUsage naming the flag when it is not one.
 */
export function podFlag(flag: '--pod' | '--pod-log-dir', value: string | undefined, command: string): string {
  const ok = value !== undefined && (flag === '--pod' ? POD_NAME.test(value) : value.startsWith('/'));
  if (!ok) {
    throw new CommandUsage(`${command}: ${flag} needs ${flag === '--pod' ? 'NAMESPACE/NAME' : 'an absolute path'}`);
  }
  return value;
}

/** Parses, prints the help or the usage error, runs; resolves the exit status. */
export async function runSubcommand<O>(
  argv: readonly string[],
  parse: (argv: readonly string[]) => O | 'help' | Promise<O | 'help'>,
  help: string,
  run: (options: O) => Promise<number>,
): Promise<number> {
  let o: O | 'help';
  try {
    o = await parse(argv);
  } catch (e) {
    if (!(e instanceof CommandUsage)) throw e;
    process.stderr.write(`${e.message}\n`);
    return 2;
  }
  if (o === 'help') {
    process.stdout.write(help);
    return 0;
  }
  return run(o);
}
