#!/usr/bin/env node
// @ts-check
// pod-trace: a small tool of its own built on @x/nfct (a dependency in its package.json). For
// one pod (its network namespace), it prints the connections the pod opens and closes
// (conntrack events) and, for the packets that match, every nftables/iptables rule they pass
// (TRACE), until Ctrl-C or --seconds. The library's own trace rule is not among the hops
// (`ownHops: true` would show it).
//
//   npm install && ./pod-trace.mjs --netns my-pod-ns --protocol tcp --port 443 --seconds 30
import { parseArgs } from 'node:util';

import { Conntrack, Trace } from '@x/nfct';

const { values: opts } = parseArgs({
  options: {
    netns: { type: 'string' },
    protocol: { type: 'string', default: 'tcp' },
    port: { type: 'string' },
    seconds: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
const USAGE = 'usage: pod-trace --netns NS [--protocol tcp|udp|icmp] [--port N] [--seconds N]\n';
const { protocol } = opts;
if (opts.help || !opts.netns || (protocol !== 'tcp' && protocol !== 'udp' && protocol !== 'icmp') ||
  (protocol === 'icmp' && opts.port))
{
  // Written before exiting (a pipe's write is asynchronous).
  process.stdout.write(USAGE, () => process.exit(opts.help ? 0 : 2));
  await new Promise(() => {});
  throw new Error('unreachable');
}
const port = opts.port === undefined ? undefined : Number(opts.port);
const ac = new AbortController();
if (opts.seconds) setTimeout(() => ac.abort(), Number(opts.seconds) * 1000).unref();
process.once('SIGINT', () => ac.abort());
process.once('SIGTERM', () => ac.abort());

const ct = await Conntrack.open({ netns: opts.netns });
const trace = await Trace.open({ netns: opts.netns });

const connections = (async () => {
  for await (const ev of ct.events({ protocol, dstPort: port, types: ['new', 'destroy'], signal: ac.signal })) {
    if (ev.type !== 'new' && ev.type !== 'destroy') continue;
    const o = ev.flow.original;
    const ports = 'srcPort' in o ? [`:${o.srcPort}`, `:${o.dstPort}`] : ['', ''];
    console.log(`conn ${ev.type.padEnd(7)} ${ev.flow.protocol} ${o.src}${ports[0]} -> ${o.dst}${ports[1]}`);
  }
})();
const packets = (async () => {
  // A port needs a protocol with ports: the types say so.
  /** @type {import('@x/nfct').TraceMatch} */
  const match = protocol === 'icmp' ? { protocol } : { protocol, port };
  for await (const pkt of trace.packets({ match, signal: ac.signal })) {
    console.log(`packet ${pkt.id.toString(16)} ${pkt.verdict ?? ''}`);
    for (const hop of pkt.hops) {
      console.log(`  ${hop.table} ${hop.chain} ${hop.kind} ${hop.verdict ?? ''} ${hop.ruleText ?? ''}`.trimEnd());
    }
  }
})();
try {
  await Promise.all([connections, packets]);
} finally {
  // The trace's temporary rule is removed before the process ends.
  await Promise.all([trace.close(), ct.close()]);
}
