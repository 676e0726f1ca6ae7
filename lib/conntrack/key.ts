// What identifies a conntrack entry: its original tuple and zone, as the kernel looks it up.
// `Flow.id` does not: it is a 32-bit hash, and two live entries can share it.
import { describeValue } from '../core/validate.js';
import type { Flow } from './types.js';

const hostPort = (address: string,
  port: number): string => (address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`);

/**
 * The key of a conntrack entry: the protocol, its original tuple and, when not 0, the zone of
 * the original direction; e.g. `tcp 10.0.0.1:40000 -> 10.0.0.2:80`,
 * `udp [fd00::1]:5353 -> [fd00::2]:53 zone 7`, `icmp 10.0.0.1 -> 10.0.0.2 type 8 code 0 id 42`.
 * No two entries in a table share a key at the same moment (the kernel refuses a second entry
 * with the same original tuple and zone), and an entry's key does not change while it lives,
 * so it is the key for a map of the table. A later entry for the same connection (after the
 * first was destroyed) has the same key.
 *
 * `Flow.id` is not such a key: the kernel computes it as a 32-bit hash, so in a table of tens
 * of thousands of entries two often share one.
 */
export function flowKey(flow: Flow): string {
  const raw: unknown = flow;
  if (raw === null || typeof raw !== 'object' || typeof (raw as Flow).original !== 'object' ||
    (raw as Flow).original === null)
  {
    throw new TypeError(`flowKey() flow must be a Flow (with an original tuple), got ${describeValue(raw)}`);
  }
  const zone = flow.original.zone ?? flow.zone ?? 0;
  const z = zone !== 0 ? ` zone ${zone}` : '';
  switch (flow.protocol) {
    case 'tcp':
    case 'udp':
    case 'udplite':
    case 'sctp':
    case 'dccp': {
      const o = flow.original;
      return `${flow.protocol} ${hostPort(o.src, o.srcPort)} -> ${hostPort(o.dst, o.dstPort)}${z}`;
    }
    case 'icmp':
    case 'icmpv6': {
      const o = flow.original;
      return `${flow.protocol} ${o.src} -> ${o.dst} type ${o.type} code ${o.code} id ${o.id}${z}`;
    }
    case 'gre': {
      const o = flow.original;
      return `gre ${o.src} -> ${o.dst} key ${o.srcKey} ${o.dstKey}${z}`;
    }
    default:
      return `proto ${flow.protonum} ${flow.original.src} -> ${flow.original.dst}${z}`;
  }
}
