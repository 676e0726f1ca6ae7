#!/usr/bin/env node
// @ts-check
// A long-running service: a live map of a namespace's conntrack table, served over HTTP.
// ct.watch() does the work: it subscribes to events, reads the table, then applies every
// change to `table.flows` (keyed by flowKey()), reads the table again after an event overrun,
// and every --refresh seconds checks the entries it has heard nothing of (those made while no
// process listened to conntrack events send none, not even when they go).
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

const ct = await Conntrack.open({ netns: opts.netns });
const table = ct.watch({ refresh: Number(opts.refresh) });
await table.ready; // the table is read: table.flows holds it

/** Flows per protocol and TCP state. */
function summary() {
  /** @type {Record<string, number>} */
  const by = {};
  for (const f of table.flows.values()) {
    const k = f.protocol === 'tcp' && f.tcp ? `tcp ${f.tcp.state}` : f.protocol;
    by[k] = (by[k] ?? 0) + 1;
  }
  return { flows: table.flows.size, overruns: table.overruns, by };
}

const server = createServer((req, res) => {
  const path = new URL(req.url ?? '/', 'http://x').pathname;
  res.setHeader('content-type', 'application/json');
  if (path === '/flows') res.end(JSON.stringify([...table.flows.values()].map(jsonSafe)));
  else if (path === '/summary') res.end(JSON.stringify(summary()));
  else res.writeHead(404).end('"try /flows or /summary"\n');
});
server.listen(Number(opts.port), opts.host, () => {
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : opts.port;
  console.log(`listening on http://${opts.host}:${port} (${table.flows.size} flows)`);
});

const stop = () => {
  server.close();
  void table.close();
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);

for await (const change of table) {
  if (change.type === 'snapshot' && change.reason === 'overrun') {
    console.error('events were lost: the table was read again');
  }
}
await ct.close();
