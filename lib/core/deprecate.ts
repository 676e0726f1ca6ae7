// Deprecated call forms still work for one minor version; the first use of each says so once
// per process (a DeprecationWarning, which `node --no-deprecation` silences), naming the form
// to use instead. The codes are listed in CHANGELOG.md and docs/api.md.

const warned = new Set<string>();

/** Warns once per process that `code` (NFCT_DEP001, ...) was used: `message` says what instead. */
export function deprecated(code: string, message: string): void {
  if (warned.has(code)) return;
  warned.add(code);
  process.emitWarning(message, { type: 'DeprecationWarning', code });
}
