/**
 * Throwaway network namespaces for integration tests: everything in ./netns-core.ts plus
 * `useNetns()`, a per-file vitest fixture. (Import ./netns-core.js instead from code that runs
 * outside vitest workers: importing this module there fails, as it imports vitest.)
 */
import { afterAll, beforeAll } from 'vitest';

import { createNetns, type CreateNetnsOptions, type Netns } from './netns-core.js';

export * from './netns-core.js';

/**
 * One namespace per test file: created in beforeAll, removed in afterAll (also when tests
 * fail). Call at module or describe level; the returned object is usable inside tests and
 * hooks and forwards to the current namespace.
 *
 *   const ns = useNetns();
 *   test('x', async () => { await ns.execOk('conntrack', ['-L']); });
 */
export function useNetns(prefix = 'nfct-test', opts: CreateNetnsOptions = {}): Netns & { readonly current: Netns } {
  let ns: Netns | undefined;
  beforeAll(async () => {
    ns = await createNetns(prefix, opts);
  });
  afterAll(async () => {
    const n = ns;
    ns = undefined;
    await n?.remove();
  });
  const get = (): Netns => {
    if (!ns) throw new Error('useNetns(): the namespace exists only inside tests and hooks of this file');
    return ns;
  };
  return {
    get current() {
      return get();
    },
    get name() {
      return get().name;
    },
    get path() {
      return get().path;
    },
    get removed() {
      return ns ? ns.removed : true;
    },
    exec: (cmd, args, o) => get().exec(cmd, args, o),
    execOk: (cmd, args, o) => get().execOk(cmd, args, o),
    sh: (script, o) => get().sh(script, o),
    shOk: (script, o) => get().shOk(script, o),
    spawn: (cmd, args, o) => get().spawn(cmd, args, o),
    remove: () => get().remove(),
  };
}

/**
 * A namespace and a handle opened in it, for the tests of a file: `open` runs in beforeAll once
 * the namespace exists (keep what it gives in the file's own variables), and the handle it
 * returns is closed in afterAll before the namespace is removed, also when tests fail.
 *
 *   let ns: Netns;
 *   let ct: Conntrack;
 *   useNetnsWith('nfct-x', async (n) => (ns = n, ct = await Conntrack.open({ netns: n.name })));
 */
export function useNetnsWith(prefix: string, open: (ns: Netns) => Promise<{ close(): unknown }>,
  opts: CreateNetnsOptions = {}): void
{
  let ns: Netns | undefined;
  let handle: { close(): unknown } | undefined;
  beforeAll(async () => {
    ns = await createNetns(prefix, opts);
    handle = await open(ns);
  });
  afterAll(async () => {
    await handle?.close();
    await ns?.remove();
  });
}
