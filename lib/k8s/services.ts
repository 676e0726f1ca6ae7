// Services and their endpoints as a namespace's NAT rules define them, read once and looked up
// by hash: `readServices()` runs `nft -j list ruleset` and the iptables-save tools in the
// namespace (one process for all of them), `parseServices()` reads their texts.
import { NfctError } from '../core/errors.js';
import { type NetnsOption, netnsPath } from '../core/netns.js';
import { assertKnownKeys, assertObject } from '../core/validate.js';
import { addon } from '../core/native.js';
import { inNamespace, onPath, runCommand } from '../trace/commands.js';
import { natTableOfSave, parseSaveTables, RulesetSyntaxError, type SavedTables } from './iptables-save.js';
import { type NftRuleset, parseNftJson, RulesetJsonError } from './nft-json.js';
import { type Endpoint, endpointText, type NatTable, type RulesetKind, type ServicePort, servicesOfTable } from './rules.js';

export type { Endpoint, KubernetesServiceName, L4, RulesetKind, ServicePort } from './rules.js';
export { endpointText } from './rules.js';

const EINVAL = 22;
const ENOENT = 2;
const PROTONUM: Record<number, string> = { 6: 'tcp', 17: 'udp', 132: 'sctp' };

/** An iptables-save text and where it came from. */
export interface SaveText {
  ruleset: Exclude<RulesetKind, 'nftables'>;
  family: 'ipv4' | 'ipv6';
  text: string;
}

/** The texts a ruleset is read from (what readServices() runs, or a test's fixed inputs). */
export interface RulesetTexts {
  /** What `nft -j list ruleset` printed. */
  nftJson?: string;
  /** What `nft -a list ruleset` printed (read for traces, which print nft rules as nft does). */
  nftText?: string;
  /** What the iptables-save tools printed. */
  iptablesSave?: SaveText[];
}

/** The ruleset as read: the Services in it, and what a trace needs to print rules as their tool does. */
export interface Ruleset {
  services: Services;
  nft?: NftRuleset;
  /** iptables-save tables per tool: `iptables-nft ipv4` -> tables. */
  saved: Map<string, SavedTables>;
  /** `nft -a list ruleset` as printed, when read. */
  nftText?: string;
}

/** The Service ports of a namespace's ruleset, looked up by destination. */
export class Services {
  private readonly index = new Map<string, ServicePort>();
  private wildcards = false;
  private readonly chains = new Map<string, string>();

  constructor(
    readonly ports: readonly ServicePort[],
    chainNames: Map<string, Set<string>> = new Map(),
  ) {
    for (const p of ports) {
      const key = `${p.protocol ?? '*'}|${p.address}|${p.port ?? '*'}`;
      const prev = this.index.get(key);
      if (prev) {
        // The same port in two rulesets (nft and iptables both): one entry, endpoints joined.
        for (const e of p.endpoints) if (!prev.endpoints.some((x) => x.address === e.address && x.port === e.port)) prev.endpoints.push(e);
        continue;
      }
      this.index.set(key, p);
      if (p.protocol === undefined || p.port === undefined) this.wildcards = true;
    }
    for (const [k, names] of chainNames) if (names.size === 1) this.chains.set(k, [...names][0]!);
  }

  /** The Service port a packet or entry to this destination belongs to. */
  lookup(protocol: string | number, address: string, port: number | undefined): ServicePort | undefined {
    const proto = typeof protocol === 'number' ? (PROTONUM[protocol] ?? String(protocol)) : protocol;
    const hit = this.index.get(`${proto}|${address}|${port ?? '*'}`);
    if (hit || !this.wildcards) return hit;
    return this.index.get(`*|${address}|${port ?? '*'}`) ?? this.index.get(`${proto}|${address}|*`) ?? this.index.get(`*|${address}|*`);
  }

  /** Whether an address (and port) is one of the port's current endpoints. */
  static isEndpoint(sp: ServicePort, address: string, port: number | undefined): boolean {
    return sp.endpoints.some((e) => e.address === address && (e.port === undefined || port === undefined || e.port === port));
  }

  /**
   * The Service a chain belongs to, when it belongs to exactly one (KUBE-SVC-..., KUBE-SEP-...,
   * service-..., endpoint-..., a plain rule's chain). `table` as in ServicePort.table.
   */
  chainService(table: string, chain: string): string | undefined {
    return this.chains.get(`${table} ${chain}`);
  }

  get size(): number {
    return this.index.size;
  }

  private table: object | undefined;

  /** @internal The native lookup table formatFlows() appends ` service=...` from (made once). */
  nativeTable(): object {
    if (this.table) return this.table;
    const lines: string[] = [];
    for (const [key, p] of this.index) {
      const [proto, address, port] = key.split('|') as [string, string, string];
      const num = proto === 'tcp' ? '6' : proto === 'udp' ? '17' : proto === 'sctp' ? '132' : '*';
      // Names and endpoints hold no tab or newline (they come from rule comments: kept safe here).
      const name = p.name.replace(/[\t\n]/g, ' ');
      lines.push(`${num}\t${address}\t${port}\t${name}\t${p.endpoints.map(endpointText).join(' ')}`);
    }
    this.table = addon.serviceTable(lines.join('\n'));
    return this.table;
  }
}

/** The Services of the ruleset texts. A malformed text is an NfctError EINVAL saying where. */
export function parseRuleset(texts: RulesetTexts): Ruleset {
  assertObject(texts, 'parseServices() texts');
  assertKnownKeys(texts, ['nftJson', 'nftText', 'iptablesSave'], 'parseServices() texts');
  const tables: NatTable[] = [];
  const saved = new Map<string, SavedTables>();
  let nft: NftRuleset | undefined;
  if (texts.nftJson !== undefined && texts.nftJson.trim() !== '') {
    try {
      nft = parseNftJson(texts.nftJson);
    } catch (e) {
      if (e instanceof RulesetJsonError) throw new NfctError(EINVAL, 'nft -j list ruleset', e.message, 'reading Services from the ruleset');
      throw e;
    }
    tables.push(...nft.tables);
  }
  for (const s of texts.iptablesSave ?? []) {
    let parsed: SavedTables;
    try {
      parsed = parseSaveTables(s.text);
    } catch (e) {
      if (e instanceof RulesetSyntaxError) throw new NfctError(EINVAL, `${s.family === 'ipv6' ? 'ip6tables' : 'iptables'}-${s.ruleset === 'iptables-nft' ? 'nft' : 'legacy'}-save`, e.message, 'reading Services from the ruleset');
      throw e;
    }
    saved.set(`${s.ruleset} ${s.family}`, parsed);
    for (const name of ['nat', 'filter']) {
      let t: NatTable | undefined;
      try {
        t = natTableOfSave(parsed, s.ruleset, s.family, name);
      } catch (e) {
        if (e instanceof RulesetSyntaxError) throw new NfctError(EINVAL, `${s.family === 'ipv6' ? 'ip6tables' : 'iptables'}-${s.ruleset === 'iptables-nft' ? 'nft' : 'legacy'}-save`, e.message, 'reading Services from the ruleset');
        throw e;
      }
      if (t) tables.push(t);
    }
  }
  const chainNames = new Map<string, Set<string>>();
  const ports = tables.flatMap((t) => servicesOfTable(t, chainNames));
  const out: Ruleset = { services: new Services(ports, chainNames), saved };
  if (nft) out.nft = nft;
  if (texts.nftText !== undefined) out.nftText = texts.nftText;
  return out;
}

/** The Services of the ruleset texts (see parseRuleset). */
export function parseServices(texts: RulesetTexts): Services {
  return parseRuleset(texts).services;
}

// One process reads everything: nft's JSON, then the iptables-nft tools when nft shows tables
// of theirs, then the legacy tools when the kernel holds legacy tables in the namespace.
const SCRIPT = `
sec() { printf '\\n@@nfct-section %s %s\\n' "$1" "$2"; }
has() { command -v "$1" >/dev/null 2>&1; }
xt=0
if has nft; then out=$(nft -j list ruleset 2>&1); rc=$?; sec nft $rc; printf '%s' "$out"
  case "$out" in *'"xt"'*) xt=1;; esac
  if [ "$1" = text ]; then out=$(nft -a list ruleset 2>&1); rc=$?; sec nft-text $rc; printf '%s' "$out"; fi; fi
if [ $xt = 1 ]; then
  if has iptables-nft-save; then out=$(iptables-nft-save 2>&1); rc=$?; sec iptables-nft-ipv4 $rc; printf '%s' "$out"; fi
  if has ip6tables-nft-save; then out=$(ip6tables-nft-save 2>&1); rc=$?; sec iptables-nft-ipv6 $rc; printf '%s' "$out"; fi
fi
if grep -q . /proc/net/ip_tables_names 2>/dev/null && has iptables-legacy-save; then out=$(iptables-legacy-save 2>&1); rc=$?; sec iptables-legacy-ipv4 $rc; printf '%s' "$out"; fi
if grep -q . /proc/net/ip6_tables_names 2>/dev/null && has ip6tables-legacy-save; then out=$(ip6tables-legacy-save 2>&1); rc=$?; sec iptables-legacy-ipv6 $rc; printf '%s' "$out"; fi
sec end 0
`;

export interface ReadServicesOptions {
  /** The namespace whose rules to read (default: the caller's). */
  netns?: NetnsOption;
  /** @internal Also read `nft -a list ruleset` (for trace). */
  nftText?: boolean;
}

/** The raw texts of a namespace's ruleset (one shell run inside it). */
export async function readRulesetTexts(options: ReadServicesOptions = {}): Promise<RulesetTexts> {
  assertObject(options, 'readServices() options');
  assertKnownKeys(options, ['netns', 'nftText'], 'readServices() options');
  const path = netnsPath(options.netns, 'readServices() options.netns');
  if (!onPath('sh') || (path !== null && !onPath('nsenter'))) {
    throw new NfctError(ENOENT, 'spawn', path !== null ? 'sh and nsenter are needed on PATH' : 'sh is needed on PATH', 'reading Services from the ruleset');
  }
  const [cmd, args] = inNamespace(path, 'sh', ['-c', SCRIPT, 'sh', options.nftText ? 'text' : '']);
  const stdout = await runCommand(cmd, args, undefined, 'reading Services from the ruleset');
  const texts: RulesetTexts = {};
  const parts = stdout.split(/\n@@nfct-section /);
  let any = false;
  for (const part of parts.slice(1)) {
    const nl = part.indexOf('\n');
    const [name, rc] = (nl < 0 ? part : part.slice(0, nl)).split(' ') as [string, string];
    const body = nl < 0 ? '' : part.slice(nl + 1);
    if (name === 'end') continue;
    if (rc !== '0') {
      const tool = name === 'nft' ? 'nft -j list ruleset' : name === 'nft-text' ? 'nft -a list ruleset' : `${name.endsWith('ipv6') ? 'ip6tables' : 'iptables'}-${name.includes('legacy') ? 'legacy' : 'nft'}-save`;
      const errno = /Operation not permitted|Permission denied/.test(body) ? 1 : EINVAL;
      throw new NfctError(errno, tool, `exited with status ${rc}: ${body.trim().slice(0, 300)}`, 'reading Services from the ruleset');
    }
    any = true;
    if (name === 'nft') texts.nftJson = body;
    else if (name === 'nft-text') texts.nftText = body;
    else {
      const m = /^iptables-(nft|legacy)-(ipv4|ipv6)$/.exec(name);
      if (m) (texts.iptablesSave ??= []).push({ ruleset: m[1] === 'nft' ? 'iptables-nft' : 'iptables-legacy', family: m[2] as 'ipv4' | 'ipv6', text: body });
    }
  }
  if (!any && !onPath('nft')) throw new NfctError(ENOENT, 'spawn', 'nft is not on PATH: install the nftables package', 'reading Services from the ruleset');
  return texts;
}

/** Reads a namespace's NAT rules once: its Services, and the rule texts a trace prints. */
export async function readRuleset(options: ReadServicesOptions = {}): Promise<Ruleset> {
  return parseRuleset(await readRulesetTexts(options));
}

/**
 * The Service ports a namespace's NAT rules define, with their current endpoints: kube-proxy's
 * iptables mode (KUBE-SERVICES, KUBE-SVC-*, KUBE-SEP-*, named by their comments) and nftables
 * mode (table `ip kube-proxy`, service-* and endpoint-* chains), and plain DNAT rules (named by
 * their comment, else their chain).
 */
export async function readServices(options: ReadServicesOptions = {}): Promise<Services> {
  return (await readRuleset(options)).services;
}

/** ` service=default/kube-dns:dns endpoint=10.244.1.7:53` for a text line. */
export function serviceText(sp: ServicePort, endpoint: Endpoint | undefined): string {
  return ` service=${sp.name}${endpoint ? ` endpoint=${endpointText(endpoint)}` : ''}`;
}
