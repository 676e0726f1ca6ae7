// `nft -j list ruleset` read into the neutral NatRule shape (lib/k8s/rules.ts): per table, the
// destination each rule matches, its jumps (also through a numgen verdict map), its DNAT
// targets, and the elements of verdict maps keyed by `daddr . l4proto . dport` (kube-proxy's
// service-ips). Tables written by iptables-nft (rules with `xt` expressions, whose matches and
// comments the JSON does not carry) are named apart: their rules are read from iptables-save.
import type { Endpoint, L4, NatRule, NatTable } from './rules.js';

export class RulesetJsonError extends Error {}

type Json = unknown;
type Obj = Record<string, Json>;

const isObj = (v: Json): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const L4S = new Set(['tcp', 'udp', 'sctp']);

/** The parsed ruleset: tables in the neutral shape, and those iptables-nft owns. */
export interface NftRuleset {
  tables: NatTable[];
  /** `ip nat`, `ip6 filter`, ...: tables whose rules use xt expressions (iptables-nft's). */
  iptablesTables: string[];
  /** Every rule's handle -> its table, chain and position in its chain (1 = first). */
  positions: Map<string, number>;
}

const FAMILIES: Record<string, 'ipv4' | 'ipv6' | 'inet'> = { ip: 'ipv4', ip6: 'ipv6', inet: 'inet' };

/** Reads the text `nft -j list ruleset` prints. Throws RulesetJsonError on anything else. */
export function parseNftJson(text: string): NftRuleset {
  let doc: Json;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new RulesetJsonError(`not JSON: ${(e as Error).message}`);
  }
  if (!isObj(doc) || !Array.isArray(doc.nftables)) {
    throw new RulesetJsonError('not an nft JSON listing: no "nftables" array at the top');
  }
  const tables = new Map<string, NatTable>();
  const xt = new Set<string>();
  const positions = new Map<string, number>();
  const counts = new Map<string, number>();
  const maps = new Map<string, { key: Json; verdict: Json; comment?: string }[]>();
  const vmapRules: { table: string; rule: NatRule; map: string }[] = [];

  const tableOf = (family: string, name: string): NatTable | undefined => {
    const fam = FAMILIES[family];
    if (!fam) return undefined; // arp, bridge, netdev: no NAT of IP destinations
    const key = `${family} ${name}`;
    let t = tables.get(key);
    if (!t) tables.set(key, t = { ruleset: 'nftables', table: key, family: fam, rules: [] });
    return t;
  };

  for (const item of doc.nftables as Json[]) {
    if (!isObj(item)) throw new RulesetJsonError('an item of the "nftables" array is not an object');
    if (isObj(item.table)) tableOf(String(item.table.family), String(item.table.name));
    const map = item.map;
    if (isObj(map) && map.map === 'verdict') {
      const list: { key: Json; verdict: Json; comment?: string }[] = [];
      for (const el of Array.isArray(map.elem) ? map.elem : []) {
        if (!Array.isArray(el) || el.length !== 2) continue;
        let key = el[0] as Json;
        let comment: string | undefined;
        if (isObj(key) && isObj(key.elem)) {
          comment = typeof key.elem.comment === 'string' ? key.elem.comment : undefined;
          key = key.elem.val;
        }
        list.push({ key, verdict: el[1], comment });
      }
      maps.set(`${String(map.family)} ${String(map.table)} ${String(map.name)}`, list);
    }
    const rule = item.rule;
    if (!isObj(rule)) continue;
    if (!Array.isArray(rule.expr)) {
      throw new RulesetJsonError(
        `rule ${String(rule.handle)} of ${String(rule.table)} ${String(rule.chain)} has no expr array`,
      );
    }
    const tableKey = `${String(rule.family)} ${String(rule.table)}`;
    const chainKey = `${tableKey} ${String(rule.chain)}`;
    const n = (counts.get(chainKey) ?? 0) + 1;
    counts.set(chainKey, n);
    positions.set(`${tableKey} ${String(rule.handle)}`, n);
    const t = tableOf(String(rule.family), String(rule.table));
    if (!t) continue;
    if ((rule.expr as Json[]).some((e) => isObj(e) && 'xt' in e)) xt.add(tableKey);
    const { natRule, vmapName } = readRule(String(rule.chain), rule.expr as Json[],
      typeof rule.comment === 'string' ? rule.comment : undefined);
    t.rules.push(natRule);
    if (vmapName) vmapRules.push({ table: tableKey, rule: natRule, map: vmapName });
  }
  // Named verdict maps: their elements, once all maps are read.
  for (const { table, rule, map } of vmapRules) {
    const elements = maps.get(`${table} ${map}`) ?? [];
    rule.vmap = [];
    for (const el of elements) {
      const k = destinationKey(el.key);
      if (!k) continue;
      const chain = verdictChain(el.verdict) ?? '';
      rule.vmap.push({ ...k, chain, ...(el.comment ? { comment: el.comment } : {}) });
    }
  }
  return {
    tables: [...tables.values()].filter((t) => !xt.has(t.table)),
    iptablesTables: [...xt],
    positions,
  };
}

function verdictChain(v: Json): string | undefined {
  if (!isObj(v)) return undefined;
  const j = isObj(v.jump) ? v.jump : isObj(v.goto) ? v.goto : undefined;
  return j && typeof j.target === 'string' ? j.target : undefined;
}

/** `[addr, proto, port]` of a concatenated map key, when it is one. */
function destinationKey(key: Json): { address: string; protocol?: L4; port?: number } | undefined {
  if (!isObj(key) || !Array.isArray(key.concat)) return undefined;
  const [a, p, port] = key.concat as Json[];
  if (typeof a !== 'string' || typeof port !== 'number') return undefined;
  const out: { address: string; protocol?: L4; port?: number } = { address: a, port };
  if (typeof p === 'string' && L4S.has(p)) out.protocol = p as L4;
  return out;
}

function payload(v: Json): { protocol: string; field: string } | undefined {
  return isObj(v) && isObj(v.payload)
    ? { protocol: String(v.payload.protocol), field: String(v.payload.field) }
    : undefined;
}

function readRule(chain: string, expr: Json[], comment: string | undefined): { natRule: NatRule; vmapName?: string } {
  const r: NatRule = { chain, jumps: [], dnat: [] };
  if (comment) r.comment = comment;
  let address: string | undefined;
  let port: number | undefined;
  let protocol: L4 | undefined;
  let vmapName: string | undefined;
  for (const e of expr) {
    if (!isObj(e)) continue;
    if (isObj(e.match)) {
      const m = e.match;
      if (m.op !== '==' && m.op !== 'in') continue;
      const left = payload(m.left);
      if (left && (left.protocol === 'ip' || left.protocol === 'ip6') && left.field === 'daddr' &&
        typeof m.right === 'string') address = m.right;
      else if (left?.field === 'dport' && typeof m.right === 'number') {
        port = m.right;
        if (L4S.has(left.protocol)) protocol = left.protocol as L4;
      } else if (isObj(m.left) && isObj(m.left.meta) && m.left.meta.key === 'l4proto' && typeof m.right === 'string' &&
        L4S.has(m.right)) protocol = m.right as L4;
    } else if (isObj(e.jump) || isObj(e.goto)) {
      const target = verdictChain(e);
      if (target) r.jumps.push(target);
    } else if (isObj(e.vmap)) {
      const data = e.vmap.data;
      if (typeof data === 'string' && data.startsWith('@')) {
        const key = e.vmap.key;
        const parts = isObj(key) && Array.isArray(key.concat) ? (key.concat as Json[]) : [];
        const d = payload(parts[0]);
        if (d?.field === 'daddr') vmapName = data.slice(1);
      } else if (isObj(data) && Array.isArray(data.set)) {
        for (const el of data.set as Json[]) {
          const target = Array.isArray(el) ? verdictChain(el[1]) : undefined;
          if (target) r.jumps.push(target);
        }
      }
    } else if (isObj(e.dnat)) {
      const d = e.dnat;
      if (typeof d.addr === 'string') {
        const ep: Endpoint = { address: d.addr };
        if (typeof d.port === 'number') ep.port = d.port;
        r.dnat.push(ep);
      }
    } else if (typeof e.comment === 'string') {
      r.comment = e.comment;
    }
  }
  if (address !== undefined) {
    r.dst = { address, ...(port !== undefined ? { port } : {}), ...(protocol ? { protocol } : {}) };
  }
  return vmapName ? { natRule: r, vmapName } : { natRule: r };
}
