// Run inside a bare root, from a project that installed the packed tarball: which binary
// node-gyp-build picked, then the library used as a user would: open, list(), count(), and one
// event. After "events: subscribed" the caller adds an entry with the host's `conntrack -I`;
// the NEW event for it is printed, then the count again.
import { Conntrack } from '@x/nfct';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const root = require.resolve('@x/nfct/package.json').replace(/\/package\.json$/, '');
console.log(`binary: ${require('node-gyp-build').path(root).slice(root.length + 1)}`);
const line = (f) =>
  `${f.protocol} ${f.original.src}:${f.original.srcPort ?? ''} -> ${f.original.dst}:${f.original.dstPort ?? ''} ${
    f.status.names().join(',')
  } mark=${f.mark}`;

const ct = await Conntrack.open();
try {
  console.log(`open: ${ct.closed === false ? 'ok' : 'closed?'}`);
  for await (const f of ct.list()) console.log(`list: ${line(f)}`);
  console.log(`count() = ${await ct.count()}`);
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), 20_000);
  const events = ct.events({ types: ['new'], signal: ac.signal });
  console.log('events: subscribed');
  for await (const ev of events) {
    if (ev.type !== 'new') continue;
    console.log(`event: ${ev.type} ${line(ev.flow)}`);
    break;
  }
  clearTimeout(timer);
  console.log(`count() = ${await ct.count()}`);
} finally {
  ct.close();
}
