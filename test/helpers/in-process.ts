// Running `nfct` in the test's own process (its main()), for tests that need what it prints as
// it happens and to end it as Ctrl-C would.
import { main } from '../../lib/cli/main.js';

/**
 * `nfct ARGV` running in this process: its stdout lines and stderr collected until stop(), which
 * ends it as SIGINT does and resolves its exit status.
 */
export function startNfct(argv: string[]): { lines: string[]; stderr: () => string; stop: () => Promise<number> } {
  const lines: string[] = [];
  let err = '';
  let partial = '';
  const ow = process.stdout.write.bind(process.stdout);
  const ew = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((s: string | Uint8Array) => {
    partial += String(s);
    const parts = partial.split('\n');
    partial = parts.pop()!;
    lines.push(...parts);
    return true;
  }) as typeof process.stdout.write;
  process.stderr.write = ((s: string | Uint8Array) => ((err += String(s)), true)) as typeof process.stderr.write;
  const run = main(argv);
  return {
    lines,
    stderr: () => err,
    stop: async () => {
      process.emit('SIGINT');
      try {
        return await run;
      } finally {
        process.stdout.write = ow;
        process.stderr.write = ew;
      }
    },
  };
}
