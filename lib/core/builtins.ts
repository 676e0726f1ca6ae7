// Node's modules that only some uses of the library need, loaded on first use. `import
// '@x/nfct'` (and every nfct command, through the CLI's one bundle) would otherwise load http,
// https, tls, crypto, dgram, net, tty and the stream modules they bring, for code that may never
// run: some 10 ms and 4 MB of every start.
interface Builtins {
  'node:child_process': typeof import('node:child_process');
  'node:crypto': typeof import('node:crypto');
  'node:dgram': typeof import('node:dgram');
  'node:fs/promises': typeof import('node:fs/promises');
  'node:http': typeof import('node:http');
  'node:https': typeof import('node:https');
  'node:net': typeof import('node:net');
  'node:timers/promises': typeof import('node:timers/promises');
  'node:tty': typeof import('node:tty');
}

/** The builtin module `name`, loaded on the first call (node caches it after). */
export function builtin<K extends keyof Builtins>(name: K): Builtins[K] {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(name) as Builtins[K];
}
