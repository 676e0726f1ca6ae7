// Running the built `nfct` (dist/cli/main.js) from tests, as a user would: to its end
// (execNfct) or in the background (spawnNfct). Every JSON line it prints is validated against
// schema/*.json (./schema.ts) before the test sees it; test/support/run-nfct.ts does the same
// for nfct run in the test's own process. Tests run nfct only through these (a unit test,
// test/core/ndjson-contract.unit.test.ts, finds any that does not).
import { type ChildProcess, execFile, spawn, type SpawnOptions } from 'node:child_process';
import { join } from 'node:path';

import type { Netns } from './netns-core.js';
import { type CollectedOutput, collectOutput } from './output.js';
import { checkOutput, wantsJson } from './schema.js';

/** The CLI as it is built and shipped. */
export const CLI = join(__dirname, '..', '..', 'dist', 'cli', 'bin.js');

/**
 * nfct as a shell command, for the lines a test runs through a shell to check pipes or text
 * against conntrack's; what they print is not checked against the schemas (use execNfct or
 * spawnNfct for --json).
 */
export const NFCT_SHELL = `${process.execPath} ${CLI}`;

export interface NfctResult {
  stdout: string;
  stderr: string;
  /** The exit status (null when a signal ended it). */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** stdout's JSON lines, parsed and validated. */
  rows: Record<string, unknown>[];
}

export interface ExecNfctOptions {
  /** Run inside this namespace (ip netns exec). */
  ns?: Netns;
  /** A failure bound, not a wait (default 60 s). */
  timeout?: number;
  env?: NodeJS.ProcessEnv;
  /** Written to its stdin, which is then closed. */
  input?: string;
  /** Its working directory. */
  cwd?: string;
}

/** Runs nfct to its end; resolves what it printed and its exit status (a failure status is not an error). */
export function execNfct(args: readonly string[], o: ExecNfctOptions = {}): Promise<NfctResult> {
  const [cmd, argv] = o.ns
    ? ['ip', ['netns', 'exec', o.ns.name, process.execPath, CLI, ...args]]
    : [process.execPath, [CLI, ...args]];
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, argv, { timeout: o.timeout ?? 60000, maxBuffer: 256 << 20, env: o.env, cwd: o.cwd,
      encoding: 'utf8' }, (err, stdout, stderr) => {
      const e = err as (Error & { code?: number | string; signal?: NodeJS.Signals | null }) | null;
      if (e && typeof e.code === 'string') {
        reject(e);
        return;
      }
      try {
        const rows = checkOutput(stdout, wantsJson(args), `nfct ${args.join(' ')}`);
        resolve({ stdout, stderr, code: e ? ((e.code as number | undefined) ?? null) : 0, signal: e?.signal ?? null,
          rows });
      } catch (v) {
        reject(v instanceof Error ? v : new Error(String(v)));
      }
    });
    if (o.input !== undefined) child.stdin!.end(o.input);
    else child.stdin?.end();
  });
}

export interface SpawnedNfct {
  child: ChildProcess;
  /** Its output as it comes; its JSON lines are validated as they come (see collectOutput). */
  out: CollectedOutput;
}

/**
 * Starts nfct in the background (in `ns` when given), its output collected as it comes; lines
 * holding `hidden` (a sentinel's address) are kept out of `out.lines`.
 */
export function spawnNfct(args: readonly string[],
  o: { ns?: Netns; hidden?: string; env?: NodeJS.ProcessEnv } = {}): SpawnedNfct
{
  const options: SpawnOptions = { stdio: ['ignore', 'pipe', 'pipe'], env: o.env };
  const child = o.ns
    ? o.ns.spawn(process.execPath, [CLI, ...args], options)
    : spawn(process.execPath, [CLI, ...args], options);
  return { child,
    out: collectOutput(child, o.hidden ?? '\0', { json: wantsJson(args), where: `nfct ${args.join(' ')}` }) };
}
