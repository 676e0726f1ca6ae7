#!/usr/bin/env node
// A long-running service: keeps a live map of a namespace's conntrack table from events (read
// the table once, then apply new/update/destroy; after an event overrun, rebuild from the
// table the stream hands over) and serves it over HTTP.
//
// The kernel sends no destroy event for an entry made while nobody listened to the namespace's
// events (it adds the event extension to an entry only when a listener exists), so such entries
// would stay in the map after they are gone: the map is also read afresh from the table every
// --refresh seconds, the events that arrive meanwhile applied on top.
//
//   node examples/flow-map-service.mjs --netns my-pod-ns --port 9100
//   curl -s localhost:9100/flows | jq .    # every flow, as JSON
//   curl -s localhost:9100/summary         # counts per protocol and state
//
// Root (CAP_NET_ADMIN, and CAP_SYS_ADMIN for another namespace). Stops on SIGINT/SIGTERM.
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

import { Conntrack, jsonSafe } from '@x/nfct';

const { values: opts } = parseArgs({
  options: {
    netns: { type: 'string' },
    port: { type: 'string', default: '9100' },
    host: { type: 'string', default: '127.0.0.1' },
    refresh: { type: 'string', default: '60' },
  },
});

/** The flow's key: its original tuple, as the kernel identifies the entry. */
const keyOf = (f) => {
  const o = f.original;
  return `${f.family} ${f.protonum} ${o.src} ${o.dst} ${o.srcPort ?? o.type ?? ''} ${o.dstPort ?? o.code ?? ''} ${o.id ?? ''} ${f.zone ?? 0}`;
};

let flows = new Map();
let overruns = 0;
let events = 0;
/** Events seen while the table is being read afresh, to apply on top of it. */
let pending;

const ct = await Conntrack.open(opts.netns ? { netns: opts.netns } : {});
const ac = new AbortController();
// Subscribe first, then read the table: a change made in between is in the stream.
const stream = ct.events({ resync: true, signal: ac.signal });
for await (const f of ct.list()) flows.set(keyOf(f), f);

const server = createServer((req, res) => {
  const path = new URL(req.url ?? '/', 'http://x').pathname;
  if (path === '/flows') {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify([...flows.values()].map(jsonSafe)));
  } else if (path === '/summary') {
    const by = {};
    for (const f of flows.values()) {
      const k = `${f.protocol}${f.tcp ? ` ${f.tcp.state}` : ''}`;
      by[k] = (by[k] ?? 0) + 1;
    }
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ flows: flows.size, events, overruns, by }));
  } else {
    res.statusCode = 404;
    res.end('try /flows or /summary\n');
  }
});
server.listen(Number(opts.port), opts.host, () => {
  const { port } = server.address();
  console.log(`listening on http://${opts.host}:${port} (${flows.size} flows)`);
});

async function refresh() {
  pending = [];
  const next = new Map();
  for await (const f of ct.list()) next.set(keyOf(f), f);
  for (const ev of pending) apply(next, ev);
  pending = undefined;
  flows = next;
}
const refreshing = setInterval(() => refresh().catch((e) => console.error(`refresh: ${e.message}`)), Number(opts.refresh) * 1000);

function apply(map, ev) {
  if (ev.type === 'new' || ev.type === 'update') map.set(keyOf(ev.flow), ev.flow);
  else if (ev.type === 'destroy') map.delete(keyOf(ev.flow));
}

const stop = () => {
  clearInterval(refreshing);
  ac.abort();
  server.close();
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);

try {
  for await (const ev of stream) {
    events++;
    if (ev.type === 'overrun') overruns++;
    else if (ev.type === 'resync') flows = new Map(ev.flows.map((f) => [keyOf(f), f]));
    else {
      apply(flows, ev);
      pending?.push(ev);
    }
  }
} finally {
  ct.close();
}
