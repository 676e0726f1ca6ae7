// The JSON native/trace/ruleset.cc makes of a namespace's nf_tables ruleset, read into the
// shape of lib/k8s/rules.ts. iptables-nft's tables (compat expressions) are named as iptables
// names them (`nat`), with their comments and DNAT targets decoded from the compat data.
import type { NftRuleset } from './nft-json.js';
import type { Endpoint, L4, NatRule, NatTable } from './rules.js';

interface NativeRule {
  chain: string;
  handle: number;
  dst?: { address: string; port?: number; protocol?: L4 };
  comment?: string;
  jumps: string[];
  dnat: Endpoint[];
  vmap?: string;
  anonymousMap?: string;
}

interface NativeElement {
  chain: string;
  address?: string;
  protocol?: L4;
  port?: number;
  comment?: string;
}

interface NativeTable {
  family: string;
  name: string;
  xt: boolean;
  rules: NativeRule[];
  maps: Record<string, NativeElement[]>;
}

export interface NativeRuleset extends NftRuleset {
  /** The legacy iptables tables the kernel holds in the namespace, per family. */
  legacy: { ipv4: string[]; ipv6: string[] };
}

/** Tables whose anonymous maps are not read: kube-proxy's chain names link service to endpoint chains. */
export const KUBE_PROXY_TABLES = ['ip kube-proxy', 'ip6 kube-proxy'];

const FAMILIES: Record<string, 'ipv4' | 'ipv6' | 'inet'> = { ip: 'ipv4', ip6: 'ipv6', inet: 'inet' };

export function parseNftNative(text: string): NativeRuleset {
  const doc = JSON.parse(text) as { tables: NativeTable[]; legacy: { ipv4: string; ipv6: string } };
  const tables: NatTable[] = [];
  const iptablesTables: string[] = [];
  const positions = new Map<string, number>();
  for (const t of doc.tables) {
    const key = `${t.family} ${t.name}`;
    const counts = new Map<string, number>();
    for (const r of t.rules) {
      const n = (counts.get(r.chain) ?? 0) + 1;
      counts.set(r.chain, n);
      positions.set(`${key} ${r.handle}`, n);
    }
    const family = FAMILIES[t.family];
    if (!family) continue;
    if (t.xt) iptablesTables.push(key);
    // kube-proxy's service chains pick an endpoint chain through an anonymous numgen map, not
    // read (see KUBE_PROXY_TABLES): its endpoint chains carry the service chain's name.
    const endpointChains = new Map<string, string[]>();
    if (t.name === 'kube-proxy') {
      for (const r of t.rules) {
        const m = /^endpoint-[A-Z2-7]{8}-(.*)__[^_]+$/.exec(r.chain);
        if (!m) continue;
        const list = endpointChains.get(m[1]!) ?? [];
        if (!list.includes(r.chain)) list.push(r.chain);
        endpointChains.set(m[1]!, list);
      }
    }
    const rules: NatRule[] = t.rules.map((r) => {
      const out: NatRule = { chain: r.chain, jumps: [...r.jumps], dnat: r.dnat };
      if (r.dst) out.dst = r.dst;
      if (r.comment !== undefined) out.comment = r.comment;
      if (r.anonymousMap) {
        const elements = t.maps[r.anonymousMap];
        if (elements) {
          for (const el of elements) if (el.chain) out.jumps.push(el.chain);
        } else {
          const m = /^service-[A-Z2-7]{8}-(.*)$/.exec(r.chain);
          if (m) out.jumps.push(...(endpointChains.get(m[1]!) ?? []));
        }
      }
      if (r.vmap) {
        out.vmap = (t.maps[r.vmap] ?? []).filter((el) => el.address !== undefined).map((el) => ({
          address: el.address!,
          ...(el.protocol ? { protocol: el.protocol } : {}),
          ...(el.port !== undefined ? { port: el.port } : {}),
          chain: el.chain,
          ...(el.comment ? { comment: el.comment } : {}),
        }));
      }
      return out;
    });
    tables.push(
      t.xt
        ? { ruleset: 'iptables-nft', table: t.name, family, rules }
        : { ruleset: 'nftables', table: key, family, rules },
    );
  }
  const names = (s: string): string[] => s.split('\n').map((x) => x.trim()).filter(Boolean);
  return { tables, iptablesTables, positions, legacy: { ipv4: names(doc.legacy.ipv4), ipv6: names(doc.legacy.ipv6) } };
}
