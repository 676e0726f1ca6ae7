/**
 * Ends the children a test left running. Outside a mutation run: SIGKILL, at once. In a
 * mutation run's coverage pass (test/mutation/setup.ts) a child writes what it executed when it
 * exits, which SIGKILL prevents: a server a test stopped that way would cover nothing, and its
 * mutants would count as never reached. There each child gets SIGTERM first (nfct ends within a
 * second), and SIGKILL after 3 s. Resolves once every child has exited.
 */
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';

const live = (c: ChildProcess): boolean => c.exitCode === null && c.signalCode === null;

export async function endChildren(children: Iterable<ChildProcess>): Promise<void> {
  const running = [...children].filter(live);
  const coverage = process.env.NFCT_MUTATION_COVERAGE_DIR !== undefined &&
    process.env.__STRYKER_ACTIVE_MUTANT__ === undefined;
  await Promise.all(running.map(async (c) => {
    const exited = once(c, 'exit');
    if (coverage) {
      c.kill('SIGTERM');
      await Promise.race([exited, sleep(3000)]);
    }
    if (live(c)) c.kill('SIGKILL');
    await exited;
  }));
}
