// The NDJSON contract of nfct (schema/*.json, documented in docs/cli.md): every line is one
// object that starts with `type`, `time` (ISO 8601: the kernel's time of the item where it gives
// one, else when nfct received it) and `timeSource` (which of the two), then the item's own
// fields; lines of a namespace named on the command line (or one of --all-netns) end with its
// `netns` object. Each command builds its lines with these; the lines of packets (nfct log,
// nfct trace) are in ndjson-packets.ts, so that a conntrack command loads no packet decoder.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

import type { ExpectationEvent, FlowEvent } from '../conntrack/events.js';
import type { Expectation } from '../conntrack/expect.js';
import { flowJson, flowJsonAfter } from '../conntrack/flow.js';
import type { Flow } from '../conntrack/types.js';
import { NfctError } from '../core/errors.js';
import { listNamespaces, namespaceLabel, type NetworkNamespace } from '../core/netns-discovery.js';
import { type NetnsOption, netnsPath } from '../core/netns.js';
import { isoOfNs, line, lineHead, receivedNow } from './ndjson-line.js';

export { isoOfNs, line, lineHead, receivedNow, type TimeSource, withHead } from './ndjson-line.js';

/** -L, -G, -D, -U: an entry, its fields after the line's head; `time` when it was read. */
export function entryLine(f: Flow): string {
  return flowJsonAfter(`${lineHead('entry', receivedNow(), 'received')},`, f);
}

/** -E: an event; `time` the kernel's where it sent one (nf_conntrack_timestamp=1). */
export function eventLine(ev: FlowEvent): string {
  const head = lineHead(ev.type, isoOfNs(ev.timestamp), ev.flow.eventTime !== undefined ? 'kernel' : 'received');
  return `${head},"timestamp":"${ev.timestamp}"${ev.portid !== undefined ? `,"portid":${ev.portid}` : ''},"flow":${
    flowJson(ev.flow)
  }}`;
}

/** -L expect, -G expect: an expectation as read. */
export function expectationLine(e: Expectation): string {
  return line('expectation', receivedNow(), 'received', e);
}

/** -E expect: an expectation created or removed; `time` when it was received. */
export function expectationEventLine(ev: ExpectationEvent): string {
  return line(ev.type, isoOfNs(ev.timestamp), 'received', { timestamp: ev.timestamp, expectation: ev.expectation });
}

/** The `netns` object of the lines of a namespace. */
export function netnsJson(ns: NetworkNamespace, label = namespaceLabel(ns)): Record<string, unknown> {
  const o: Record<string, unknown> = { label, inode: ns.inode, names: ns.names, path: ns.path };
  if (ns.podUid) o.podUid = ns.podUid;
  if (ns.pod) {
    o.pod = { namespace: ns.pod.namespace, name: ns.pod.name, uid: ns.pod.uid, containers: ns.pod.containers };
  }
  if (ns.containerIds.length > 0) o.containerIds = ns.containerIds;
  return o;
}

/**
 * The `netns` object of a namespace named on the command line (`--netns NAME|PATH`, `--pid
 * PID`; `{ path: '/proc/self/ns/net' }` for our own): what listNamespaces() knows of it,
 * labelled as the user named it (or `label`).
 */
export async function netnsJsonOf(option: NetnsOption, label?: string): Promise<Record<string, unknown>> {
  const given = netnsPath(option)!;
  const pid = typeof option === 'object' && 'pid' in option ? option.pid : undefined;
  const name = /^\/run\/netns\/([^/]+)$/.exec(given)?.[1];
  const named = label ?? (pid !== undefined ? `pid:${pid}` : name);
  let inode: number;
  try {
    inode = statSync(given).ino;
  } catch (e) {
    throw new NfctError(Math.abs((e as NodeJS.ErrnoException).errno ?? 2), 'open', given);
  }
  const found = (await listNamespaces()).find((n) => n.inode === inode);
  // Our own namespace is named by a path that opens it from anywhere.
  const path = given.startsWith('/proc/self/') && found ? found.path : given;
  if (found) return netnsJson({ ...found, path }, named ?? namespaceLabel(found));
  return { label: named ?? `inode:${inode}`, inode, names: [], path };
}

/** Puts `,"netns":{...}` at the end of a JSON line (other lines as they are). */
export function withNetns(netns: Record<string, unknown>): (line: string) => string {
  const field = `,"netns":${JSON.stringify(netns)}}`;
  return (l) => (l.endsWith('}') ? l.slice(0, -1) + field : l);
}

/** A trace id as the text output prints it. */
export function traceId(id: number): string {
  return id.toString(16).padStart(8, '0');
}

let versions: Record<string, number> | undefined;

/** The version of each schema shipped with this package (schema/NAME.json), by name. */
export function schemaVersions(): Record<string, number> {
  if (versions) return versions;
  versions = {};
  for (const up of ['..', '../..']) {
    const dir = join(__dirname, up, 'schema');
    let files: string[];
    try {
      files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
    } catch {
      continue;
    }
    for (const f of files) {
      const id = (JSON.parse(readFileSync(join(dir, f), 'utf8')) as { $id?: string }).$id ?? '';
      const m = /\/v(\d+)\/[^/]+\.json$/.exec(id);
      if (m) versions[f.slice(0, -5)] = Number(m[1]);
    }
    break;
  }
  return versions;
}
