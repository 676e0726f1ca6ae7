// The doctor's stale-entry check: entries whose DNAT target is no longer an endpoint of the
// rule for their original destination (lib/k8s/stale.ts), one finding per Service port and old
// endpoint, naming the client pods, the Service, the old and current endpoints, what the
// counters of each entry say, and the `nfct -D` that deletes exactly those entries.
import { podText } from '../../core/pods.js';
import type { AddressOwner } from '../../k8s/node.js';
import { endpointText } from '../../k8s/rules.js';
import { staleDeleteArgs, type StaleGroup } from '../../k8s/stale.js';
import type { Finding } from './doctor-finding.js';

const int = (n: number): string => Math.round(n).toLocaleString('en-US');
const plural = (n: number, one: string, many = `${one}s`): string => `${int(n)} ${n === 1 ? one : many}`;

/** `default/client-7c9d8-abcde (10.244.1.5)`, `pod:<uid> (10.244.1.5)`, or the address. */
export function clientText(address: string, owners: ReadonlyMap<string, AddressOwner>): string {
  const o = owners.get(address);
  if (!o) return address;
  const name = o.pod ? podText(o.pod) : o.label;
  return `${name} (${address})`;
}

function serviceAddress(g: StaleGroup): string {
  const a = g.service.address.includes(':') ? `[${g.service.address}]` : g.service.address;
  return g.service.port === undefined ? a : `${a}:${g.service.port}`;
}

/** One finding per stale group, of the namespace `netns` (its command-line flag in nsFlag). */
export function staleFindings(netns: string, nsFlag: string, seconds: number, groups: readonly StaleGroup[],
  owners: ReadonlyMap<string, AddressOwner>): Finding[]
{
  return groups.map((g) => {
    const proto = g.protocol.toUpperCase();
    const old = endpointText(g.oldEndpoint);
    const current = g.service.endpoints.length > 0
      ? g.service.endpoints.map(endpointText).join(', ')
      : 'none (the Service has no endpoints)';
    const clients = [...g.clients.entries()].sort((a, b) => b[1] - a[1]);
    const shown = clients.slice(0, 5).map(([addr]) => clientText(addr, owners));
    const more = clients.length > 5 ? ` and ${int(clients.length - 5)} more` : '';
    let counters: string;
    if (g.withCounters === 0) {
      counters =
        'the entries carry no counters (they were made while nf_conntrack_acct was 0), so whether packets still flow cannot be told';
    } else if (g.growing > 0) {
      counters = `${plural(g.growing, 'entry', 'entries')} of ${int(g.withCounters)} with counters sent ${
        plural(g.packetsInInterval, 'more packet')
      } towards it in ${seconds.toFixed(1)} s`;
    } else counters = `none of the ${int(g.withCounters)} with counters sent a packet in ${seconds.toFixed(1)} s`;
    const what = g.protocol === 'tcp'
      ? "TCP connections through it hang until their entries time out (ESTABLISHED: 5 days by default), the clients' retransmissions going to an address that is gone"
      : 'every packet of the client refreshes the entry, so it never times out, and goes to an endpoint that is gone: the client sees timeouts (DNS: 5 s delays, then failures) until the entry is deleted';
    return {
      severity: 'warning',
      check: 'stale-dnat',
      scope: 'namespace',
      netns,
      title: `${proto} to ${g.service.name} (${
        serviceAddress(g)
      }) still DNATed to ${old}, no longer one of its endpoints: ${plural(g.entries, 'entry', 'entries')}${
        g.assured > 0 ? ` (${int(g.assured)} [ASSURED])` : ''
      } from ${shown.join(', ')}${more}`,
      seen: {
        service: g.service.name,
        address: g.service.address,
        port: g.service.port ?? null,
        protocol: g.protocol,
        oldEndpoint: old,
        endpoints: g.service.endpoints.map(endpointText),
        entries: g.entries,
        assured: g.assured,
        clients: clients.map(([address, entries]) => {
          const o = owners.get(address);
          return { address, entries, ...(o?.pod ? { pod: podText(o.pod) } : o?.podUid ? { podUid: o.podUid } : {}) };
        }),
        entriesWithCounters: g.withCounters,
        entriesGrowing: g.growing,
        packetsInInterval: g.packetsInInterval,
        seconds,
      },
      why:
        `The rules now send ${g.service.name} to ${current}; these entries were made when ${old} was an endpoint, and ${what}. Counters: ${counters}.`,
      fix: `nfct${staleDeleteArgs(g).map((a) => ` ${a}`).join('').replace(/^ -D/, ` -D${nsFlag}`)}`,
    };
  });
}
