/**
 * Global sysctls a test needs changed for its run, held across every process of the machine
 * that holds them and put back by the last to let go: bench/lib/sysctl-hold.cjs (one
 * implementation for the tests and the benchmarks).
 */
export { holdSysctl, releaseStaleHolds } from '../../bench/lib/sysctl-hold.cjs';
