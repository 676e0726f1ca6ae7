// Runs the nfct command in this process (no node start-up per command line): what it wrote on
// stdout and stderr, and its exit status. Its JSON lines are validated against schema/*.json
// (test/helpers/schema.ts) before the test sees them.
import { main } from '../../lib/cli/main.js';
import { checkOutput, wantsJson } from '../helpers/schema.js';

export interface NfctRun {
  code: number;
  stdout: string;
  stderr: string;
}

export async function runNfct(argv: string[]): Promise<NfctRun> {
  let stdout = '';
  let stderr = '';
  const ow = process.stdout.write.bind(process.stdout);
  const ew = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((s: string | Uint8Array) => ((stdout += String(s)), true)) as typeof process.stdout.write;
  process.stderr.write = ((s: string | Uint8Array) => ((stderr += String(s)), true)) as typeof process.stderr.write;
  let code: number;
  try {
    code = await main(argv);
  } finally {
    process.stdout.write = ow;
    process.stderr.write = ew;
  }
  checkOutput(stdout, wantsJson(argv), `nfct ${argv.join(' ')}`);
  return { code, stdout, stderr };
}
