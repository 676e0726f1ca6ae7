// The rules of TRACE: the temporary nft table that marks the packets to trace, the nft
// expression of a TraceMatch, and the text of the rule each hop names (`nft -a list chain`,
// `iptables-legacy-save`), looked up on demand.
import { parseCidr } from '../core/address.js';
import { assertKnownKeys, assertObject, describeValue, optionalInteger } from '../core/validate.js';
import { inNamespace, runCommand } from './commands.js';
import type { TraceMatch } from './types.js';

/** Rule texts, looked up on demand and kept for a second. */
export class RuleTexts {
  private readonly cache = new Map<string, { at: number; rules: Promise<Map<string, string>> }>();
  constructor(private readonly ns: string | null) {}

  private load(key: string, loader: () => Promise<Map<string, string>>): Promise<Map<string, string>> {
    const hit = this.cache.get(key);
    if (hit && Date.now() - hit.at < 1000) return hit.rules;
    const rules = loader().catch(() => new Map<string, string>());
    this.cache.set(key, { at: Date.now(), rules });
    return rules;
  }

  /** nftables: the rule with this handle, as `nft -a list chain` prints it (without the handle comment). */
  async nft(family: string, table: string, chain: string, handle: number): Promise<string | undefined> {
    const rules = await this.load(`nft ${family} ${table} ${chain}`, async () => {
      const [cmd, args] = inNamespace(this.ns, 'nft', ['-a', 'list', 'chain', family, table, chain]);
      const stdout = await runCommand(cmd, args, undefined, 'reading rule texts');
      const out = new Map<string, string>();
      for (const line of stdout.split('\n')) {
        const m = /^\s*(.*\S)\s+# handle (\d+)\s*$/.exec(line);
        if (m && !m[1]!.startsWith('chain ') && !m[1]!.startsWith('type ')) out.set(m[2]!, m[1]!);
      }
      return out;
    });
    return rules.get(String(handle));
  }

  /** Legacy: the Nth rule of a chain, as iptables-legacy-save prints it. */
  async legacy(family: string, table: string, chain: string, n: number): Promise<string | undefined> {
    const tool = family === 'ipv6' ? 'ip6tables-legacy-save' : 'iptables-legacy-save';
    const rules = await this.load(`${tool} ${table}`, async () => {
      const [cmd, args] = inNamespace(this.ns, tool, ['-t', table]);
      const stdout = await runCommand(cmd, args, undefined, 'reading rule texts');
      const out = new Map<string, string>();
      const count = new Map<string, number>();
      for (const line of stdout.split('\n')) {
        const m = /^-A (\S+) /.exec(line);
        if (!m) continue;
        const k = (count.get(m[1]!) ?? 0) + 1;
        count.set(m[1]!, k);
        out.set(`${m[1]} ${k}`, line);
      }
      return out;
    });
    return rules.get(`${chain} ${n}`);
  }
}

/** The temporary table: `meta nftrace set 1` for the match, before raw and conntrack. */
export function ruleScript(name: string, expr: string): string {
  return [
    `table inet ${name} {`,
    `  chain pre { type filter hook prerouting priority -350; ${expr} meta nftrace set 1; }`,
    `  chain out { type filter hook output priority -350; ${expr} meta nftrace set 1; }`,
    '}',
    '',
  ].join('\n');
}

/** The nft expression for a match; validates it. */
export function matchExpression(m: TraceMatch): string {
  assertObject(m, 'trace options.match');
  assertKnownKeys(m, ['family', 'protocol', 'src', 'dst', 'port', 'srcPort', 'dstPort'], 'trace options.match');
  const parts: string[] = [];
  if (m.family !== undefined && m.family !== 'ipv4' && m.family !== 'ipv6') throw new TypeError(`trace options.match.family must be 'ipv4' or 'ipv6', got ${describeValue(m.family)}`);
  let family: number | undefined = m.family === undefined ? undefined : m.family === 'ipv6' ? 10 : 2;
  const addrs: string[] = [];
  for (const key of ['src', 'dst'] as const) {
    const value = m[key];
    if (value === undefined) continue;
    const parsed = typeof value === 'string' ? parseCidr(value) : undefined;
    if (!parsed) throw new TypeError(`trace options.match.${key} must be an address or CIDR, got ${describeValue(value)}`);
    if (family !== undefined && parsed.family !== family) throw new TypeError(`trace options.match.${key} ${describeValue(value)} is not of the family of the rest of the match`);
    family = parsed.family;
    addrs.push(`${parsed.family === 10 ? 'ip6' : 'ip'} ${key === 'src' ? 'saddr' : 'daddr'} ${value}`);
  }
  if (m.family) parts.push(`meta nfproto ${m.family}`);
  parts.push(...addrs);
  const protos = ['tcp', 'udp', 'icmp', 'icmpv6', 'sctp'];
  if (m.protocol !== undefined) {
    if (!protos.includes(m.protocol)) throw new TypeError(`trace options.match.protocol must be one of ${protos.join(', ')}, got ${describeValue(m.protocol)}`);
    parts.push(`meta l4proto ${m.protocol}`);
  }
  const port = (key: 'port' | 'srcPort' | 'dstPort', field: string): void => {
    const value = optionalInteger(m[key], `trace options.match.${key}`, 0, 65535);
    if (value === undefined) return;
    if (m.protocol !== 'tcp' && m.protocol !== 'udp' && m.protocol !== 'sctp') throw new TypeError(`trace options.match.${key} needs protocol 'tcp', 'udp' or 'sctp'`);
    parts.push(`${m.protocol} ${field} ${value}`);
  };
  port('srcPort', 'sport');
  port('dstPort', 'dport');
  if (m.port !== undefined) {
    const value = optionalInteger(m.port, 'trace options.match.port', 0, 65535)!;
    if (m.protocol !== 'tcp' && m.protocol !== 'udp' && m.protocol !== 'sctp') throw new TypeError(`trace options.match.port needs protocol 'tcp', 'udp' or 'sctp'`);
    parts.push(`${m.protocol} sport . ${m.protocol} dport { ${value} . 0-65535, 0-65535 . ${value} }`);
  }
  return parts.join(' ');
}
