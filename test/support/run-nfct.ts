// Runs the nfct command in this process (no node start-up per command line): what it wrote on
// stdout and stderr, and its exit status. Its JSON lines are validated against schema/*.json
// (test/helpers/schema.ts) before the test sees them.
import { main } from '../../lib/cli/main.js';
import { withLiveFields } from '../../lib/core/view.js';
import { checkOutput, wantsJson } from '../helpers/schema.js';

export interface NfctRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** A command running in this process: its output so far, and its end. */
export interface RunningNfct {
  /** The whole stdout lines so far. */
  readonly lines: string[];
  readonly stdout: string;
  readonly stderr: string;
  /** Its end (stop it with process.emit('SIGINT') or 'SIGTERM'); rejects on a line that breaks the schema. */
  done: Promise<NfctRun>;
}

let running = false;

/** How the command runs: see startNfct(). */
export interface NfctOptions {
  /** Output written straight to this descriptor (as the nfct program does with fd 1), e.g. one
   * open on /dev/null; `stdout` is then empty. */
  stdoutFd?: number;
  /** Sees each write as it is made. */
  onStdout?: (text: string) => void;
}

/**
 * Starts nfct with these arguments in this process, its stdout and stderr captured until it
 * ends (one at a time: they share the process's streams).
 */
export function startNfct(argv: string[], options: NfctOptions = {}): RunningNfct {
  const { onStdout, ...mainOptions } = options;
  if (running) throw new Error('startNfct: another nfct is running in this process');
  running = true;
  const r = { lines: [] as string[], stdout: '', stderr: '' };
  let partial = '';
  const ow = process.stdout.write.bind(process.stdout);
  const ew = process.stderr.write.bind(process.stderr);
  process.stdout.write = (s: string | Uint8Array) => {
    const text = String(s);
    r.stdout += text;
    const parts = (partial + text).split('\n');
    partial = parts.pop()!;
    r.lines.push(...parts);
    onStdout?.(text);
    return true;
  };
  process.stderr.write = (s: string | Uint8Array) => ((r.stderr += String(s)), true);
  const done = (async (): Promise<NfctRun> => {
    let code: number;
    try {
      code = await main(argv, mainOptions);
    } finally {
      process.stdout.write = ow;
      process.stderr.write = ew;
      running = false;
    }
    checkOutput(r.stdout, wantsJson(argv), `nfct ${argv.join(' ')}`);
    return { code, stdout: r.stdout, stderr: r.stderr };
  })();
  return withLiveFields({ done }, r, ['lines', 'stdout', 'stderr']);
}

/** Runs nfct with these arguments in this process to its end. */
export function runNfct(argv: string[], options: NfctOptions = {}): Promise<NfctRun> {
  return startNfct(argv, options).done;
}
