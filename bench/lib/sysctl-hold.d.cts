/** Sets a global sysctl (dotted name) while held; returns the release (see sysctl-hold.mjs). */
export function holdSysctl(sysctl: string, value: string): () => void;
/** Puts back the values of holds whose processes are all gone. */
export function releaseStaleHolds(sysctls: readonly string[]): void;
