// A traced hop in the ruleset's own words: a rule written by iptables (legacy, or iptables-nft,
// whose nf_tables rules the nft tool cannot print with their matches and comments) as
// iptables-save prints it, an nft rule as `nft list` prints it, the Service a jump leads to,
// and the hook of a base chain. Read from one run of the ruleset tools (lib/k8s/services.ts).
import type { NetnsOption } from '../core/netns.js';
import { readRuleset, type Ruleset } from '../k8s/services.js';
import type { TraceSource } from './types.js';

/** What a hop's rule is, as its tool prints it. */
export interface HopWords {
  /** `-A KUBE-SERVICES -d 10.96.0.10/32 ...` (iptables) or `ip daddr . meta l4proto ...` (nft). */
  text?: string;
  syntax?: 'iptables' | 'nft';
  /** The Service a jump or goto leads to (`kube-system/kube-dns:dns`). */
  service?: string;
}

interface NftChain {
  hook?: string;
  rules: Map<number, string>;
}

/** Reads `nft -a list ruleset`: per `family table chain`, the hook and each rule by handle. */
export function parseNftText(text: string): Map<string, NftChain> {
  const out = new Map<string, NftChain>();
  let table: string | undefined;
  let chain: NftChain | undefined;
  const unquote = (s: string): string => (s.startsWith('"') && s.endsWith('"') ? s.slice(1, -1) : s);
  for (const line of text.split('\n')) {
    const t = /^table (\S+) (\S+) \{/.exec(line);
    if (t) {
      table = `${t[1]} ${unquote(t[2]!)}`;
      chain = undefined;
      continue;
    }
    const c = /^\tchain (\S+) \{/.exec(line);
    if (c && table) {
      chain = { rules: new Map() };
      out.set(`${table} ${unquote(c[1]!)}`, chain);
      continue;
    }
    if (line.startsWith('\t}')) {
      chain = undefined;
      continue;
    }
    if (!chain) continue;
    const hook = /^\t\ttype \S+ hook (\S+) /.exec(line);
    if (hook) {
      chain.hook = hook[1];
      continue;
    }
    const r = /^\t\t(.*\S)\s+# handle (\d+)$/.exec(line);
    if (r) chain.rules.set(Number(r[2]), r[1]!);
  }
  return out;
}

const LEGACY_HOOKS: Record<string, string> = { PREROUTING: 'prerouting', INPUT: 'input', FORWARD: 'forward',
  OUTPUT: 'output', POSTROUTING: 'postrouting' };

export class RulesetWords {
  private readonly chains: Map<string, NftChain>;

  constructor(private readonly ruleset: Ruleset) {
    this.chains = parseNftText(ruleset.nftText ?? '');
  }

  /** Reads the namespace's ruleset (nft JSON and text, iptables-save) once. */
  static async read(netns: NetnsOption | undefined): Promise<RulesetWords> {
    return new RulesetWords(await readRuleset({ netns, nftText: true }));
  }

  /** Whether a table of nf_tables is iptables-nft's (`ip nat`). */
  isIptablesTable(family: string, table: string): boolean {
    return this.ruleset.nft?.iptablesTables.includes(`${family} ${table}`) ?? false;
  }

  /** An nftables hop (family as nft names it: ip, ip6, inet, ...), by rule handle. */
  nft(family: string, table: string, chain: string, handle: number | undefined, target?: string): HopWords {
    const out: HopWords = {};
    if (this.isIptablesTable(family, table)) {
      const position = handle === undefined
        ? undefined
        : this.ruleset.nft?.positions.get(`${family} ${table} ${handle}`);
      const saved = this.ruleset.saved.get(`iptables-nft ${family === 'ip6' ? 'ipv6' : 'ipv4'}`);
      const line = position === undefined ? undefined : saved?.get(table)?.get(chain)?.[position - 1]?.line;
      if (line) {
        out.text = line;
        out.syntax = 'iptables';
      }
      if (target) this.name(out, table, target);
      return out;
    }
    const text = handle === undefined ? undefined : this.chains.get(`${family} ${table} ${chain}`)?.rules.get(handle);
    if (text) {
      out.text = text;
      out.syntax = 'nft';
    }
    if (target) this.name(out, `${family} ${table}`, target);
    return out;
  }

  /** A legacy iptables hop (TRACE through nf_log), by its position in its chain. */
  legacy(family: 'ipv4' | 'ipv6', table: string, chain: string, position: number | undefined,
    target?: string): HopWords
  {
    const out: HopWords = {};
    const saved = this.ruleset.saved.get(`iptables-legacy ${family}`);
    const line = position === undefined ? undefined : saved?.get(table)?.get(chain)?.[position - 1]?.line;
    if (line) {
      out.text = line;
      out.syntax = 'iptables';
      const jump = target ?? / -[jg] (\S+)/.exec(line)?.[1];
      if (jump) this.name(out, table, jump);
    }
    return out;
  }

  /** Whether a legacy rule text or nft rule was found for this position (to know when to reread). */
  hook(family: string, table: string, chain: string, legacy: boolean): string | undefined {
    if (legacy) return LEGACY_HOOKS[chain];
    return this.chains.get(`${family} ${table} ${chain}`)?.hook;
  }

  private name(out: HopWords, table: string, target: string): void {
    const service = this.ruleset.services.chainService(table, target);
    if (service) out.service = service;
  }
}

/** The fields describe() sets on a hop. */
export interface DescribedHop {
  family: string;
  /** legacy TRACE through NFLOG or the kernel log (kmsg, file), or nftables. */
  source: TraceSource;
  id: number;
  table: string;
  chain: string;
  kind: string;
  handle?: number;
  rule?: number;
  target?: string;
  ruleText?: string;
  ruleSyntax?: 'iptables' | 'nft';
  service?: string;
  hook?: string;
}

/**
 * Describes hops in their ruleset's words: reads the ruleset once and again at most once a
 * second when a hop names a rule it does not know (the rules changed); carries each packet's
 * hook from its base-chain hops to the chains they jump to.
 */
export class TraceDescriber {
  private words: { at: number; value: Promise<RulesetWords | undefined> } | undefined;
  private readonly hooks = new Map<string, string>();

  constructor(private readonly netns: NetnsOption | undefined) {}

  private read(fresh: boolean): Promise<RulesetWords | undefined> {
    if (!this.words || (fresh && Date.now() - this.words.at > 1000)) {
      this.words = { at: Date.now(), value: RulesetWords.read(this.netns).catch(() => undefined) };
    }
    return this.words.value;
  }

  async describe(h: DescribedHop): Promise<void> {
    let words = await this.read(false);
    const legacy = h.source !== 'nftables';
    const family = legacy ? (h.family === 'ipv6' ? 'ipv6' : 'ipv4') : h.family;
    const look = (w: RulesetWords | undefined): HopWords | undefined =>
      w &&
      (legacy
        ? w.legacy(family as 'ipv4' | 'ipv6', h.table, h.chain, h.rule, h.target)
        : w.nft(family, h.table, h.chain, h.handle, h.target));
    let found = h.kind === 'rule' ? look(words) : undefined;
    if (h.kind === 'rule' && !found?.text) {
      words = await this.read(true);
      found = look(words);
    }
    if (found?.text) {
      h.ruleText = found.text;
      h.ruleSyntax = found.syntax!;
    }
    if (found?.service) h.service = found.service;
    const key = `${h.source} ${h.id}`;
    const hook = words?.hook(family, h.table, h.chain, legacy);
    if (hook) {
      h.hook = hook;
      this.hooks.set(key, hook);
      if (this.hooks.size > 4096) this.hooks.delete(this.hooks.keys().next().value!);
    } else {
      const carried = this.hooks.get(key);
      if (carried) h.hook = carried;
    }
  }
}
