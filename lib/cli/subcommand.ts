// What `nfct top` and `nfct doctor` share as commands of their own: a usage error that exits
// with 2, --help, and running the command to its exit status.

/** A bad argument: the message is printed and the exit status is 2. */
export class CommandUsage extends Error {}

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
