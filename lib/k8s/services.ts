// Services and their endpoints as a namespace's NAT rules define them, read once and looked up
// by hash: `readServices()` runs `nft -j list ruleset` and the iptables-save tools in the
// namespace (one process for all of them), `parseServices()` reads their texts.
import { callSite, NfctError, withCallSite } from '../core/errors.js';
import { addon } from '../core/native.js';
import { type NetnsOption, netnsPath } from '../core/netns.js';
import { assertKnownKeys, assertObject } from '../core/validate.js';
import { inNamespace, onPath, runCommand } from '../trace/commands.js';
import { natTableOfSave, parseSaveTables, RulesetSyntaxError, type SavedTables } from './iptables-save.js';
import { type NftRuleset, parseNftJson, RulesetJsonError } from './nft-json.js';
import { KUBE_PROXY_TABLES, type NativeRuleset, parseNftNative } from './nft-native.js';
import { type Endpoint, endpointText, type NatTable, type RulesetKind, type ServicePort,
  servicesOfTable } from './rules.js';

export type { Endpoint, KubernetesServiceName, L4, RulesetKind, ServicePort } from './rules.js';
export { endpointText } from './rules.js';

const EINVAL = 22;
const ENOENT = 2;
const PROTONUM: Record<number, string> = { 6: 'tcp', 17: 'udp', 132: 'sctp' };

/** An iptables-save text and where it came from. */
export interface SaveText {
  /** The iptables flavour that printed it. */
  ruleset: Exclude<RulesetKind, 'nftables'>;
  /** iptables-save (ipv4) or ip6tables-save (ipv6). */
  family: 'ipv4' | 'ipv6';
  /** The text, as the tool printed it. */
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
  readonly #index = new Map<string, ServicePort>();
  #wildcards = false;
  readonly #chains = new Map<string, string>();

  constructor(
    /** Every Service port found, in the order the rules hold them. */
    readonly ports: readonly ServicePort[],
    chainNames = new Map<string, Set<string>>(),
  ) {
    for (const p of ports) {
      const key = `${p.protocol ?? '*'}|${p.address}|${p.port ?? '*'}`;
      const prev = this.#index.get(key);
      if (prev) {
        // The same port in two rulesets (nft and iptables both): one entry, endpoints joined.
        for (const e of p.endpoints) {
          if (!prev.endpoints.some((x) => x.address === e.address && x.port === e.port)) prev.endpoints.push(e);
        }
        continue;
      }
      this.#index.set(key, p);
      if (p.protocol === undefined || p.port === undefined) this.#wildcards = true;
    }
    for (const [k, names] of chainNames) if (names.size === 1) this.#chains.set(k, [...names][0]!);
  }

  /** The Service port a packet or entry to this destination belongs to. */
  lookup(protocol: string | number, address: string, port: number | undefined): ServicePort | undefined {
    const proto = typeof protocol === 'number' ? (PROTONUM[protocol] ?? String(protocol)) : protocol;
    const hit = this.#index.get(`${proto}|${address}|${port ?? '*'}`);
    if (hit || !this.#wildcards) return hit;
    return this.#index.get(`*|${address}|${port ?? '*'}`) ?? this.#index.get(`${proto}|${address}|*`) ??
      this.#index.get(`*|${address}|*`);
  }

  /** Whether an address (and port) is one of the port's current endpoints. */
  static isEndpoint(sp: ServicePort, address: string, port: number | undefined): boolean {
    return sp.endpoints.some((e) =>
      e.address === address && (e.port === undefined || port === undefined || e.port === port)
    );
  }

  /**
   * The Service a chain belongs to, when it belongs to exactly one (KUBE-SVC-..., KUBE-SEP-...,
   * service-..., endpoint-..., a plain rule's chain). `table` as in ServicePort.table.
   */
  chainService(table: string, chain: string): string | undefined {
    return this.#chains.get(`${table} ${chain}`);
  }

  /** How many distinct (protocol, address, port) keys lookup() knows. */
  get size(): number {
    return this.#index.size;
  }

  #table: object | undefined;

  /** @internal The native lookup table formatFlows() appends ` service=...` from (made once). */
  nativeTable(): object {
    if (this.#table) return this.#table;
    const lines: string[] = [];
    for (const [key, p] of this.#index) {
      const [proto, address, port] = key.split('|') as [string, string, string];
      const num = proto === 'tcp' ? '6' : proto === 'udp' ? '17' : proto === 'sctp' ? '132' : '*';
      // Names and endpoints hold no tab or newline (they come from rule comments: kept safe here).
      const name = p.name.replace(/[\t\n]/g, ' ');
      lines.push(`${num}\t${address}\t${port}\t${name}\t${p.endpoints.map(endpointText).join(' ')}`);
    }
    this.#table = addon.serviceTable(lines.join('\n'));
    return this.#table;
  }
}

/** The Services of the ruleset texts. A malformed text is an NfctError EINVAL saying where. */
export function parseRuleset(texts: RulesetTexts): Ruleset {
  assertObject(texts, 'parseServices() texts');
  assertKnownKeys(texts, ['nftJson', 'nftText', 'iptablesSave'], 'parseServices() texts');
  let nft: NftRuleset | undefined;
  if (texts.nftJson !== undefined && texts.nftJson.trim() !== '') {
    try {
      nft = parseNftJson(texts.nftJson);
    } catch (e) {
      if (e instanceof RulesetJsonError) {
        throw new NfctError(EINVAL, 'nft -j list ruleset', e.message, 'reading Services from the ruleset');
      }
      throw e;
    }
  }
  return buildRuleset(nft, texts.iptablesSave ?? [], texts.nftText, false);
}

const toolName = (s: SaveText): string =>
  `${s.family === 'ipv6' ? 'ip6tables' : 'iptables'}-${s.ruleset === 'iptables-nft' ? 'nft' : 'legacy'}-save`;

/**
 * The Ruleset of an nf_tables reading and iptables-save texts. `nftHasIptables`: the nf_tables
 * reading already holds iptables-nft's rules (the native one decodes them), so their
 * iptables-save text is kept for printing only.
 */
function buildRuleset(nft: NftRuleset | undefined, saves: readonly SaveText[], nftText: string | undefined,
  nftHasIptables: boolean): Ruleset
{
  const tables: NatTable[] = [...(nft?.tables ?? [])];
  const saved = new Map<string, SavedTables>();
  for (const s of saves) {
    try {
      const parsed = parseSaveTables(s.text);
      saved.set(`${s.ruleset} ${s.family}`, parsed);
      if (nftHasIptables && s.ruleset === 'iptables-nft') continue;
      for (const name of ['nat', 'filter']) {
        const t = natTableOfSave(parsed, s.ruleset, s.family, name);
        if (t) tables.push(t);
      }
    } catch (e) {
      if (e instanceof RulesetSyntaxError) {
        throw new NfctError(EINVAL, toolName(s), e.message, 'reading Services from the ruleset');
      }
      throw e;
    }
  }
  const chainNames = new Map<string, Set<string>>();
  const ports = tables.flatMap((t) => servicesOfTable(t, chainNames));
  const out: Ruleset = { services: new Services(ports, chainNames), saved };
  if (nft) out.nft = nft;
  if (nftText !== undefined) out.nftText = nftText;
  return out;
}

/** The Services of the ruleset texts (see parseRuleset). */
export function parseServices(texts: RulesetTexts): Services {
  return parseRuleset(texts).services;
}

// The tools one process runs, each section named by its argument: nft's text (for traces),
// the iptables-save tools of the tables the kernel holds.
const SCRIPT = `
for s in "$@"; do
  case "$s" in
    nft-text) out=$(nft -a list ruleset 2>&1);;
    iptables-nft-ipv4) out=$(iptables-nft-save 2>&1);;
    iptables-nft-ipv6) out=$(ip6tables-nft-save 2>&1);;
    iptables-legacy-ipv4) out=$(iptables-legacy-save 2>&1);;
    iptables-legacy-ipv6) out=$(ip6tables-legacy-save 2>&1);;
    *) continue;;
  esac
  rc=$?
  printf '\n@@nfct-section %s %s\n%s' "$s" "$rc" "$out"
done
`;

const SECTION_TOOL: Record<string, string> = {
  'nft-text': 'nft',
  'iptables-nft-ipv4': 'iptables-nft-save',
  'iptables-nft-ipv6': 'ip6tables-nft-save',
  'iptables-legacy-ipv4': 'iptables-legacy-save',
  'iptables-legacy-ipv6': 'ip6tables-legacy-save',
};

/** Options of readServices(): the namespace whose rules to read. */
export interface ReadServicesOptions {
  /** The namespace whose rules to read (default: the caller's). */
  netns?: NetnsOption;
  /** @internal Also read what a trace prints rules with (`nft -a list ruleset`, iptables-nft-save). */
  nftText?: boolean;
}

/** Runs the tools of these sections in the namespace (one process); their outputs by section. */
async function runSections(path: string | null, sections: string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const wanted = sections.filter((s) => onPath(SECTION_TOOL[s]!));
  if (wanted.length === 0) return out;
  if (!onPath('sh') || (path !== null && !onPath('nsenter'))) {
    throw new NfctError(ENOENT, 'spawn', path !== null ? 'sh and nsenter are needed on PATH' : 'sh is needed on PATH',
      'reading the ruleset');
  }
  const [cmd, args] = inNamespace(path, 'sh', ['-c', SCRIPT, 'sh', ...wanted]);
  const stdout = await runCommand(cmd, args, undefined, 'reading the ruleset');
  for (const part of stdout.split(/\n@@nfct-section /).slice(1)) {
    const nl = part.indexOf('\n');
    const [name, rc] = (nl < 0 ? part : part.slice(0, nl)).split(' ') as [string, string];
    const body = nl < 0 ? '' : part.slice(nl + 1);
    if (rc !== '0') {
      const errno = /Operation not permitted|Permission denied/.test(body) ? 1 : EINVAL;
      throw new NfctError(errno, SECTION_TOOL[name] ?? name, `exited with status ${rc}: ${body.trim().slice(0, 300)}`,
        'reading the ruleset');
    }
    out.set(name, body);
  }
  return out;
}

/**
 * Reads a namespace's NAT rules once: nf_tables over netlink (kube-proxy's nftables mode, plain
 * nft rules, and iptables-nft's rules with their comments), the legacy iptables tables with
 * iptables-legacy-save when the kernel holds any there; with `nftText`, also the texts a trace
 * prints rules with.
 */
export async function readRuleset(options: ReadServicesOptions = {}): Promise<Ruleset> {
  assertObject(options, 'readServices() options');
  assertKnownKeys(options, ['netns', 'nftText'], 'readServices() options');
  const path = netnsPath(options.netns, 'readServices() options.netns');
  const site = callSite(readRuleset);
  let nft: NativeRuleset;
  try {
    nft = parseNftNative(await addon.nftRuleset(path, KUBE_PROXY_TABLES));
  } catch (e) {
    throw withCallSite(e, site, 'reading the nf_tables ruleset');
  }
  const sections: string[] = [];
  if (nft.legacy.ipv4.length > 0) sections.push('iptables-legacy-ipv4');
  if (nft.legacy.ipv6.length > 0) sections.push('iptables-legacy-ipv6');
  if (options.nftText) {
    sections.push('nft-text');
    if (nft.iptablesTables.some((t) => t.startsWith('ip '))) sections.push('iptables-nft-ipv4');
    if (nft.iptablesTables.some((t) => t.startsWith('ip6 '))) sections.push('iptables-nft-ipv6');
  }
  const texts = sections.length > 0 ? await runSections(path, sections) : new Map<string, string>();
  const saves: SaveText[] = [];
  for (const [name, text] of texts) {
    const m = /^iptables-(nft|legacy)-(ipv4|ipv6)$/.exec(name);
    if (m) {
      saves.push({ ruleset: m[1] === 'nft' ? 'iptables-nft' : 'iptables-legacy', family: m[2] as 'ipv4' | 'ipv6',
        text });
    }
  }
  return buildRuleset(nft, saves, texts.get('nft-text'), true);
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
