// A stream keeps the call site it was started from (for its errors) for as long as it runs: the
// site must be text, not V8's captured frames, which hold every frame's function and scope. The
// exporter starts event streams inside a loop over a scrape's namespaces: with the frames kept,
// each stream held that scrape's results, which held the streams started before, and its heap
// grew with every namespace it ever saw (bench/exporter-churn.mjs).
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

import { expect, test } from 'vitest';

import { Conntrack } from '../../lib/index.js';
import { useNetnsWith } from '../helpers/netns.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

let ct: Conntrack;
useNetnsWith('nfct-callsite', async (n) => (ct = await Conntrack.open({ netns: n.name })));

test('what the code that started a running stream held is collected once that code is done', async () => {
  let weak: WeakRef<object> | undefined;
  const start = () => {
    const big = { payload: new Array(100_000).fill(7) };
    weak = new WeakRef(big);
    // The stream is started from a function whose scope holds `big`.
    return (function starter() {
      if (big.payload.length === 0) throw new Error('unreachable');
      return [ct.countEvents(), ct.events()] as const;
    })();
  };
  const [counter, stream] = start();
  try {
    for (let i = 0; i < 5 && weak!.deref() !== undefined; i++) {
      await new Promise((r) => setImmediate(r));
      gc();
    }
    expect(weak!.deref()).toBeUndefined();
  } finally {
    await counter.close();
    await stream.close();
  }
});
