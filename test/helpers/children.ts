/**
 * Child processes and ports of the tests that run servers (the exporter, Prometheus): a free
 * loopback port, a child whose recent standard error is kept for failure messages, and the
 * cleanup that kills children and waits until they have exited.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';

import { endChildren } from './end-children.js';

/** A TCP port on 127.0.0.1 free when asked (the kernel picks it). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise((r) => server.close(r));
  return port;
}

/** A child and the last 4000 characters it wrote to standard error. */
export interface LoggedChild {
  readonly child: ChildProcess;
  readonly log: () => string;
}

/** Starts `cmd`, its standard output ignored, keeping the tail of its standard error. */
export function spawnLogged(cmd: string, args: string[]): LoggedChild {
  const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
  return { child, log: () => err };
}

/** Whether a child was started and has not exited. */
export const running = (c: ChildProcess | undefined): c is ChildProcess =>
  c?.exitCode === null && c.signalCode === null;

/** Ends every child still running (SIGKILL; see end-children.ts); resolves once each has exited. */
export async function killAll(children: readonly (ChildProcess | undefined)[]): Promise<void> {
  await endChildren(children.filter((c): c is ChildProcess => c !== undefined));
}
