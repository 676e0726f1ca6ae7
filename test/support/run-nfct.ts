// Runs the nfct command in this process (no node start-up per command line): what it wrote on
// stdout and stderr, and its exit status.
import { main } from '../../lib/cli/main.js';

export interface NfctRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * With `stdoutFd` the command writes its output straight to that descriptor (as the nfct
 * program does with fd 1), e.g. one open on /dev/null; `stdout` is then empty. `onStdout` sees
 * each write as it is made (a test of a streaming command waits for a line there).
 */
export async function runNfct(argv: string[], options: { stdoutFd?: number; onStdout?: (text: string) => void } = {}): Promise<NfctRun> {
  const { onStdout, ...mainOptions } = options;
  let stdout = '';
  let stderr = '';
  const ow = process.stdout.write.bind(process.stdout);
  const ew = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((s: string | Uint8Array) => ((stdout += String(s)), onStdout?.(String(s)), true)) as typeof process.stdout.write;
  process.stderr.write = ((s: string | Uint8Array) => ((stderr += String(s)), true)) as typeof process.stderr.write;
  try {
    const code = await main(argv, mainOptions);
    return { code, stdout, stderr };
  } finally {
    process.stdout.write = ow;
    process.stderr.write = ew;
  }
}
