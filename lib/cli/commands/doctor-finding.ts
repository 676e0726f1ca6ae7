// What a check of `nfct doctor` reports (doctor-checks.ts, doctor-stale.ts): a finding, with what
// was seen, why it matters and what to run.

export type Severity = 'error' | 'warning' | 'info';

export interface Finding {
  severity: Severity;
  /** A stable name for the check ('table-full', 'stats-rising', ...): CHECK_LIST. */
  check: string;
  /** Whether it concerns one namespace, or the whole node (a global setting: said once). */
  scope: 'namespace' | 'node';
  /** The namespace it concerns ('node' for the node). */
  netns: string;
  /** One line: what is wrong. */
  title: string;
  /** The numbers behind it. */
  seen: Record<string, unknown>;
  why: string;
  /** The command that fixes or investigates it. */
  fix: string;
}
