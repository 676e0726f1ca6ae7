// The neutral shape both ruleset readers (iptables-save text, nft JSON) turn NAT rules into,
// and the walk that finds Services in it: a rule that matches one destination address (and
// port) and leads, directly or through the chains it jumps to, to DNAT targets is a Service
// port; the targets are its endpoints.

/** Where a ruleset was read from. */
export type RulesetKind = 'iptables-nft' | 'iptables-legacy' | 'nftables';

/** The transport protocol of a Service port. */
export type L4 = 'tcp' | 'udp' | 'sctp';

/** Where a Service port's DNAT sends a packet: one endpoint (a pod, for kube-proxy). */
export interface Endpoint {
  /** The address the destination is rewritten to. */
  address: string;
  /** Undefined: the packet keeps its destination port. */
  port?: number;
}

/** One rule, as much of it as finding Services needs. */
export interface NatRule {
  chain: string;
  /** The destination it matches, when it matches exactly one address (not negated). */
  dst?: { address: string; port?: number; protocol?: L4 };
  comment?: string;
  /** Chains it jumps or goes to (a numgen vmap lists several). */
  jumps: string[];
  /** Its DNAT targets. */
  dnat: Endpoint[];
  /** Destinations it maps to chains by a verdict map (`ip daddr . meta l4proto . th dport vmap`). */
  vmap?: { address: string; protocol?: L4; port?: number; chain: string; comment?: string }[];
}

/** The rules of one table (chains are looked up within it). */
export interface NatTable {
  ruleset: RulesetKind;
  /** `nat` (iptables), `ip kube-proxy` (nftables: family and name). */
  table: string;
  family: 'ipv4' | 'ipv6' | 'inet';
  rules: NatRule[];
}

/** The Kubernetes names in a kube-proxy Service port name `namespace/name:port`. */
export interface KubernetesServiceName {
  /** The Service's Kubernetes namespace. */
  namespace: string;
  /** The Service's name. */
  service: string;
  /** The Service port's name; undefined for an unnamed port. */
  port?: string;
}

/** One Service port as the ruleset shows it. */
export interface ServicePort {
  /** `default/kube-dns:dns` for kube-proxy's rules; a plain rule's comment or chain otherwise. */
  name: string;
  /** Set when the rules are kube-proxy's (named by its chains and comments). */
  kubernetes?: KubernetesServiceName;
  /** Undefined when the rule matches any protocol. */
  protocol?: L4;
  /** The cluster IP (or the address the rule matches). */
  address: string;
  /** Undefined when the rule matches any port. */
  port?: number;
  /** The DNAT targets it leads to now (empty: a Service without endpoints). */
  endpoints: Endpoint[];
  /** Which ruleset the rules were read from. */
  ruleset: RulesetKind;
  /** The table the rules are in ('nat' for iptables, 'kube-proxy' for nftables). */
  table: string;
  /** The chain its rules for this port start from (KUBE-SVC-..., service-..., or the plain rule's chain). */
  chain: string;
}

const KUBE_COMMENT =
  /^([a-z0-9][a-z0-9.-]*)\/([a-z0-9][a-z0-9.-]*)(?::([A-Za-z0-9-]+))?(?: (?:cluster IP|external IP|loadbalancer IP|health check node port))?$/;
const KUBE_NFT_CHAIN =
  /^(?:service|external|local)-[A-Z2-7]{8}-([a-z0-9][a-z0-9.-]*)\/([a-z0-9][a-z0-9.-]*)\/(tcp|udp|sctp)\/([A-Za-z0-9-]*)$/;
const KUBE_IPT_CHAIN = /^KUBE-(?:SVC|SVL|EXT|FW)-[A-Z2-7]{16}$/;

/** The Kubernetes Service port a kube-proxy comment (`ns/svc:port cluster IP`) names. */
export function kubeNameOfComment(comment: string): KubernetesServiceName | undefined {
  const m = KUBE_COMMENT.exec(comment);
  if (!m) return undefined;
  return m[3] ? { namespace: m[1]!, service: m[2]!, port: m[3] } : { namespace: m[1]!, service: m[2]! };
}

/** The Service port an nftables kube-proxy chain (`service-HASH-ns/svc/proto/port`) stands for. */
export function kubeNameOfNftChain(chain: string): KubernetesServiceName | undefined {
  const m = KUBE_NFT_CHAIN.exec(chain);
  if (!m) return undefined;
  return m[4] ? { namespace: m[1]!, service: m[2]!, port: m[4] } : { namespace: m[1]!, service: m[2]! };
}

export function kubeServiceText(k: KubernetesServiceName): string {
  return `${k.namespace}/${k.service}${k.port ? `:${k.port}` : ''}`;
}

/** `10.244.1.7:53`, `[fd00::7]:53`, or the bare address when the port is kept. */
export function endpointText(e: Endpoint): string {
  if (e.port === undefined) return e.address;
  return e.address.includes(':') ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`;
}

/** What the walk learned about the chains of a table, for naming trace hops. */
export interface ChainNames {
  /** chain -> the one Service port name it belongs to (only where exactly one). */
  byChain: Map<string, string>;
}

interface Reach {
  endpoints: Endpoint[];
  chains: Set<string>;
  dnatComment?: string;
}

/**
 * Finds the Service ports of a table. Each rule with one destination that leads to DNAT targets
 * is one; a verdict map's elements are each one. Ports found twice (PREROUTING and OUTPUT
 * both) are merged.
 */
export function servicesOfTable(t: NatTable, chainNames?: Map<string, Set<string>>): ServicePort[] {
  const byChain = new Map<string, NatRule[]>();
  for (const r of t.rules) {
    let list = byChain.get(r.chain);
    if (!list) byChain.set(r.chain, list = []);
    list.push(r);
  }
  const memo = new Map<string, Reach>();
  const reachChain = (chain: string, visiting: Set<string>): Reach => {
    const hit = memo.get(chain);
    if (hit) return hit;
    const out: Reach = { endpoints: [], chains: new Set([chain]) };
    if (visiting.has(chain)) return out; // a loop: the kernel refuses these, a text may not
    visiting.add(chain);
    for (const r of byChain.get(chain) ?? []) {
      const sub = reachRule(r, visiting);
      out.endpoints.push(...sub.endpoints);
      for (const c of sub.chains) out.chains.add(c);
      out.dnatComment ??= sub.dnatComment;
    }
    visiting.delete(chain);
    memo.set(chain, out);
    return out;
  };
  const reachRule = (r: NatRule, visiting: Set<string>): Reach => {
    const out: Reach = { endpoints: [...r.dnat], chains: new Set() };
    if (r.dnat.length > 0 && r.comment) out.dnatComment = r.comment;
    for (const j of r.jumps) {
      const sub = reachChain(j, visiting);
      out.endpoints.push(...sub.endpoints);
      for (const c of sub.chains) out.chains.add(c);
      out.dnatComment ??= sub.dnatComment;
    }
    return out;
  };

  const found = new Map<string, ServicePort>();
  const add = (sp: ServicePort, chains: Set<string>): void => {
    const key = `${sp.protocol ?? '*'} ${sp.address} ${sp.port ?? '*'}`;
    const prev = found.get(key);
    if (prev) {
      for (const e of sp.endpoints) {
        if (!prev.endpoints.some((p) => p.address === e.address && p.port === e.port)) prev.endpoints.push(e);
      }
    } else {
      found.set(key, sp);
    }
    if (chainNames) {
      for (const c of chains) {
        let s = chainNames.get(`${t.table} ${c}`);
        if (!s) chainNames.set(`${t.table} ${c}`, s = new Set());
        s.add(sp.name);
      }
    }
  };

  for (const r of t.rules) {
    if (r.vmap) {
      for (const el of r.vmap) {
        const reach = reachChain(el.chain, new Set());
        const kube = kubeNameOfNftChain(el.chain) ?? (el.comment ? kubeNameOfComment(el.comment) : undefined);
        // A map element leading nowhere is not a Service (a no-endpoint map names only reject chains).
        if (reach.endpoints.length === 0 && !kube) continue;
        add(
          port(t, el.chain, kube, el.comment ?? reach.dnatComment ?? el.chain, { address: el.address, port: el.port,
            protocol: el.protocol }, dedupe(reach.endpoints)),
          reach.chains,
        );
      }
    }
    if (!r.dst) continue;
    const reach = reachRule(r, new Set());
    if (reach.endpoints.length === 0) {
      // kube-proxy's iptables mode rejects a Service without endpoints in the filter table.
      const none = r.comment ? /^(.*) has no endpoints$/.exec(r.comment) : null;
      const kube = none ? kubeNameOfComment(none[1]!) : undefined;
      if (kube) add(port(t, r.chain, kube, none![1]!, r.dst, []), new Set());
      continue;
    }
    const target = r.jumps[0];
    const kube = (r.comment ? kubeNameOfComment(r.comment) : undefined) ??
      (target ? kubeNameOfNftChain(target) : undefined) ??
      (reach.dnatComment && (KUBE_IPT_CHAIN.test(target ?? '') || t.table.endsWith('kube-proxy'))
        ? kubeNameOfComment(reach.dnatComment)
        : undefined);
    const name = r.comment ?? reach.dnatComment ?? target ?? r.chain;
    const start = target && (KUBE_IPT_CHAIN.test(target) || KUBE_NFT_CHAIN.test(target)) ? target : r.chain;
    add(port(t, start, kube, name, r.dst, dedupe(reach.endpoints)), new Set([...reach.chains]));
  }
  return [...found.values()];
}

function port(t: NatTable, chain: string, kube: KubernetesServiceName | undefined, name: string,
  dst: { address: string; port?: number; protocol?: L4 }, endpoints: Endpoint[]): ServicePort
{
  const sp: ServicePort = {
    name: kube ? kubeServiceText(kube) : name,
    address: dst.address,
    endpoints,
    ruleset: t.ruleset,
    table: t.table,
    chain,
  };
  if (kube) sp.kubernetes = kube;
  if (dst.protocol) sp.protocol = dst.protocol;
  if (dst.port !== undefined) sp.port = dst.port;
  return sp;
}

function dedupe(list: Endpoint[]): Endpoint[] {
  const seen = new Set<string>();
  const out: Endpoint[] = [];
  for (const e of list) {
    const k = endpointText(e);
    if (seen.has(k)) continue;
    seen.add(k);
    out.push(e);
  }
  return out;
}
