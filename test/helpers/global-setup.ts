/**
 * vitest globalSetup: removes leftover test namespaces.
 *
 * - setup: namespaces named `nfct-...-<pid>-<hex>` whose creating pid is dead (a crashed or
 *   killed earlier run) are deleted. Those of live processes (a concurrent run) are left alone.
 * - teardown: the same, plus any made by this process itself. By then the test workers of this
 *   run have exited (forks pool), so whatever they left has a dead pid; with the threads pool the
 *   workers share our pid.
 * - both: global sysctls held by processes that are gone are put back (./sysctl-hold.ts).
 *
 * vitest.config: `test: { globalSetup: ['test/helpers/global-setup.ts'] }`
 */
import { removeStaleNetnsSync } from './netns-core.js';
import { releaseStaleHolds } from './sysctl-hold.js';

/** Global sysctls tests hold for their run (./sysctl-hold.ts): put back if their holders died. */
const HELD = ['net.netfilter.nf_log_all_netns'];

function report(when: string, removed: string[]): void {
  if (removed.length > 0) {
    console.warn(`[nfct test global-setup] ${when}: removed leftover netns ${removed.join(', ')}`);
  }
}

export function setup(): void {
  report('setup', removeStaleNetnsSync());
  releaseStaleHolds(HELD);
}

export function teardown(): void {
  report('teardown', removeStaleNetnsSync({ pids: [process.pid] }));
  releaseStaleHolds(HELD);
}
