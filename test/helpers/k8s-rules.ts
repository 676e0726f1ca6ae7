/**
 * kube-proxy's rules for the node fixture (./k8s-node.ts), generated in kube-proxy's own chain
 * names and comments for both of its modes, so that the library reads what a real node holds:
 *
 * - iptables mode: `KUBE-SERVICES` jumps to `KUBE-SVC-<hash>` per Service port (comment
 *   `ns/svc:port cluster IP`), which picks a `KUBE-SEP-<hash>` per endpoint
 *   (`ns/svc:port -> IP:PORT`, `-m statistic --mode random --probability`), which DNATs;
 *   Services without endpoints are rejected in the filter table (`... has no endpoints`).
 * - nftables mode: table `ip kube-proxy`, map `service-ips` (`IP . proto . port : goto
 *   service-<hash>-ns/svc/proto/port`), `numgen random mod N vmap` to `endpoint-<hash>-...__IP/PORT`
 *   chains that DNAT; `no-endpoint-services` elements for Services without endpoints.
 *
 * The chain hashes are computed as kube-proxy computes them (sha256, base32, cut to 16 or 8
 * characters), so the names match a real cluster's (kube-system/kube-dns:dns over UDP is
 * KUBE-SVC-TCOU7JCQXEZGVUNU).
 */
import { createHash } from 'node:crypto';

export interface FixtureServicePort {
  namespace: string;
  name: string;
  /** The Service port's name ('' for an unnamed port). */
  portName: string;
  protocol: 'tcp' | 'udp';
  clusterIP: string;
  port: number;
  /** Endpoint addresses with their target port. */
  endpoints: { ip: string; port: number }[];
}

const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function base32(buf: Buffer): string {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of buf) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += B32.charAt((value >>> (bits - 5)) & 31);
      bits -= 5;
    }
  }
  if (bits > 0) out += B32.charAt((value << (5 - bits)) & 31);
  return out;
}

const hash = (text: string, n: number): string => base32(createHash('sha256').update(text).digest()).slice(0, n);

/** `ns/svc:port`, or `ns/svc` for an unnamed port: kube-proxy's ServicePortName. */
export function servicePortName(s: FixtureServicePort): string {
  return `${s.namespace}/${s.name}${s.portName ? `:${s.portName}` : ''}`;
}

export function svcChain(s: FixtureServicePort): string {
  return `KUBE-SVC-${hash(servicePortName(s) + s.protocol, 16)}`;
}

export function sepChain(s: FixtureServicePort, e: { ip: string; port: number }): string {
  return `KUBE-SEP-${hash(servicePortName(s) + s.protocol + `${e.ip}:${e.port}`, 16)}`;
}

function nftBase(s: FixtureServicePort): string {
  return `${s.namespace}/${s.name}/${s.protocol}/${s.portName}`;
}

export function nftServiceChain(s: FixtureServicePort): string {
  const base = nftBase(s);
  return `service-${hash(base, 8)}-${base}`;
}

export function nftEndpointChain(s: FixtureServicePort, e: { ip: string; port: number }): string {
  const base = `${nftBase(s)}__${e.ip}/${e.port}`;
  return `endpoint-${hash(base, 8)}-${base}`;
}

const q = (text: string): string => (/[\s"]/.test(text) ? `"${text.replace(/"/g, '\\"')}"` : text);

/** iptables-restore input (nat and filter tables) as kube-proxy's iptables mode writes it. */
export function kubeProxyIptables(services: readonly FixtureServicePort[], clusterCidr: string): string {
  const chains: string[] = [];
  const rules: string[] = [];
  const filter: string[] = [];
  for (const s of services) {
    const name = servicePortName(s);
    const p = s.protocol;
    if (s.endpoints.length === 0) {
      filter.push(
        `-A KUBE-SERVICES -m comment --comment ${
          q(`${name} has no endpoints`)
        } -m ${p} -p ${p} -d ${s.clusterIP} --dport ${s.port} -j REJECT`,
      );
      continue;
    }
    const svc = svcChain(s);
    chains.push(svc);
    rules.push(
      `-A KUBE-SERVICES -m comment --comment ${
        q(`${name} cluster IP`)
      } -m ${p} -p ${p} -d ${s.clusterIP} --dport ${s.port} -j ${svc}`,
    );
    rules.push(
      `-A ${svc} -m comment --comment ${
        q(`${name} cluster IP`)
      } -m ${p} -p ${p} -d ${s.clusterIP} --dport ${s.port} ! -s ${clusterCidr} -j KUBE-MARK-MASQ`,
    );
    s.endpoints.forEach((e, i) => {
      const sep = sepChain(s, e);
      chains.push(sep);
      const n = s.endpoints.length - i;
      const pick = n > 1 ? ` -m statistic --mode random --probability ${(1 / n).toFixed(10)}` : '';
      rules.push(`-A ${svc} -m comment --comment ${q(`${name} -> ${e.ip}:${e.port}`)}${pick} -j ${sep}`);
      rules.push(`-A ${sep} -m comment --comment ${q(name)} -s ${e.ip} -j KUBE-MARK-MASQ`);
      rules.push(
        `-A ${sep} -m comment --comment ${q(name)} -m ${p} -p ${p} -j DNAT --to-destination ${e.ip}:${e.port}`,
      );
    });
  }
  return [
    '*filter',
    ':INPUT ACCEPT [0:0]',
    ':FORWARD ACCEPT [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    ':KUBE-SERVICES - [0:0]',
    '-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    ...filter,
    'COMMIT',
    '*nat',
    ':PREROUTING ACCEPT [0:0]',
    ':INPUT ACCEPT [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    ':POSTROUTING ACCEPT [0:0]',
    ':KUBE-SERVICES - [0:0]',
    ':KUBE-NODEPORTS - [0:0]',
    ':KUBE-POSTROUTING - [0:0]',
    ':KUBE-MARK-MASQ - [0:0]',
    ...chains.map((c) => `:${c} - [0:0]`),
    '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
    '-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN',
    '-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000',
    '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE',
    '-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000',
    ...rules,
    '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS',
    'COMMIT',
    '',
  ].join('\n');
}

/** An `nft -f` script that (re)creates table `ip kube-proxy` as kube-proxy's nftables mode does. */
export function kubeProxyNft(services: readonly FixtureServicePort[], clusterCidr: string): string {
  const out: string[] = [
    'add table ip kube-proxy { comment "rules for kube-proxy" ; }',
    'delete table ip kube-proxy',
    'add table ip kube-proxy { comment "rules for kube-proxy" ; }',
    'add set ip kube-proxy cluster-ips { type ipv4_addr ; comment "Active ClusterIPs" ; }',
    'add map ip kube-proxy no-endpoint-services { type ipv4_addr . inet_proto . inet_service : verdict ; comment "vmap to drop or reject packets to services with no endpoints" ; }',
    'add map ip kube-proxy service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; comment "ClusterIP, ExternalIP and LoadBalancer IP traffic" ; }',
    'add chain ip kube-proxy filter-forward { type filter hook forward priority 0 ; }',
    'add chain ip kube-proxy filter-input { type filter hook input priority 0 ; }',
    'add chain ip kube-proxy filter-output { type filter hook output priority 0 ; }',
    'add chain ip kube-proxy mark-for-masquerade',
    'add chain ip kube-proxy masquerading',
    'add chain ip kube-proxy nat-output { type nat hook output priority -100 ; }',
    'add chain ip kube-proxy nat-postrouting { type nat hook postrouting priority 100 ; }',
    'add chain ip kube-proxy nat-prerouting { type nat hook prerouting priority -100 ; }',
    'add chain ip kube-proxy reject-chain { comment "helper for @no-endpoint-services / @no-endpoint-nodeports" ; }',
    'add chain ip kube-proxy services',
    'add chain ip kube-proxy service-endpoints-check',
    'add rule ip kube-proxy filter-forward ct state new jump service-endpoints-check',
    'add rule ip kube-proxy filter-input ct state new jump service-endpoints-check',
    'add rule ip kube-proxy filter-output ct state new jump service-endpoints-check',
    'add rule ip kube-proxy mark-for-masquerade mark set mark or 0x4000',
    'add rule ip kube-proxy masquerading mark and 0x4000 == 0 return',
    'add rule ip kube-proxy masquerading mark set mark xor 0x4000',
    'add rule ip kube-proxy masquerading masquerade fully-random',
    'add rule ip kube-proxy nat-output jump services',
    'add rule ip kube-proxy nat-postrouting jump masquerading',
    'add rule ip kube-proxy nat-prerouting jump services',
    'add rule ip kube-proxy reject-chain reject',
    'add rule ip kube-proxy services ip daddr . meta l4proto . th dport vmap @service-ips',
    'add rule ip kube-proxy service-endpoints-check ip daddr . meta l4proto . th dport vmap @no-endpoint-services',
  ];
  for (const s of services) {
    const name = servicePortName(s);
    const p = s.protocol;
    out.push(`# ${name}`);
    if (s.endpoints.length === 0) {
      out.push(
        `add element ip kube-proxy no-endpoint-services { ${s.clusterIP} . ${p} . ${s.port} comment "${name}" : goto reject-chain }`,
      );
      continue;
    }
    const svc = nftServiceChain(s);
    out.push(`add chain ip kube-proxy ${svc}`);
    for (const e of s.endpoints) out.push(`add chain ip kube-proxy ${nftEndpointChain(s, e)}`);
    out.push(
      `add rule ip kube-proxy ${svc} ip daddr ${s.clusterIP} ${p} dport ${s.port} ip saddr != ${clusterCidr} jump mark-for-masquerade`,
    );
    const picks = s.endpoints.map((e, i) => `${i} : goto ${nftEndpointChain(s, e)}`).join(' , ');
    out.push(`add rule ip kube-proxy ${svc} numgen random mod ${s.endpoints.length} vmap { ${picks} }`);
    for (const e of s.endpoints) {
      const ep = nftEndpointChain(s, e);
      out.push(`add rule ip kube-proxy ${ep} ip saddr ${e.ip} jump mark-for-masquerade`);
      out.push(`add rule ip kube-proxy ${ep} meta l4proto ${p} dnat to ${e.ip}:${e.port}`);
    }
    out.push(`add element ip kube-proxy cluster-ips { ${s.clusterIP} }`);
    out.push(`add element ip kube-proxy service-ips { ${s.clusterIP} . ${p} . ${s.port} : goto ${svc} }`);
  }
  out.push('');
  return out.join('\n');
}
