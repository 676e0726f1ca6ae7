// iptables-save text (iptables-nft-save, iptables-legacy-save, and the ip6 ones): split into
// tables and rules, each rule read into the neutral NatRule shape (lib/k8s/rules.ts) and kept
// as its line, so that a trace hop can be printed as iptables-save prints it.
import type { L4, NatRule, NatTable, RulesetKind } from './rules.js';

/** One `-A` line of a table, with its position in its chain (1 = first). */
export interface SavedRule {
  table: string;
  chain: string;
  position: number;
  line: string;
}

/** The tables of an iptables-save text: name -> chain -> its rule lines in order. */
export type SavedTables = Map<string, Map<string, SavedRule[]>>;

export class RulesetSyntaxError extends Error {}

/** Splits a rule line into words as iptables-save quotes them (`"a b"`, `\"` inside quotes). */
export function splitSaveWords(line: string): string[] {
  const out: string[] = [];
  let i = 0;
  const n = line.length;
  while (i < n) {
    while (i < n && line[i] === ' ') i++;
    if (i >= n) break;
    let word = '';
    while (i < n && line[i] !== ' ') {
      const c = line[i]!;
      if (c === '"') {
        i++;
        for (;;) {
          if (i >= n) throw new RulesetSyntaxError(`unterminated quote in: ${line}`);
          const q = line[i]!;
          if (q === '\\' && i + 1 < n) {
            word += line[i + 1]!;
            i += 2;
          } else if (q === '"') {
            i++;
            break;
          } else {
            word += q;
            i++;
          }
        }
      } else {
        word += c;
        i++;
      }
    }
    out.push(word);
  }
  return out;
}

/** Reads the tables and rule lines of an iptables-save text. */
export function parseSaveTables(text: string): SavedTables {
  const tables: SavedTables = new Map();
  let current: Map<string, SavedRule[]> | undefined;
  let name = '';
  let lineNo = 0;
  for (const raw of text.split('\n')) {
    lineNo++;
    const line = raw.trimEnd();
    if (line === '' || line.startsWith('#')) continue;
    if (line.startsWith('*')) {
      name = line.slice(1);
      current = tables.get(name) ?? new Map();
      tables.set(name, current);
      continue;
    }
    if (line === 'COMMIT') {
      current = undefined;
      continue;
    }
    if (!current) throw new RulesetSyntaxError(`line ${lineNo} is outside a table (no *TABLE before it): ${line}`);
    if (line.startsWith(':')) {
      const chain = line.slice(1).split(' ')[0]!;
      if (!current.has(chain)) current.set(chain, []);
      continue;
    }
    const m = /^-A (\S+)( |$)/.exec(line);
    if (!m) throw new RulesetSyntaxError(`line ${lineNo} is not a rule (-A CHAIN ...): ${line}`);
    let rules = current.get(m[1]!);
    if (!rules) current.set(m[1]!, rules = []);
    rules.push({ table: name, chain: m[1]!, position: rules.length + 1, line });
  }
  return tables;
}

const L4S = new Set(['tcp', 'udp', 'sctp']);
const PROTO_NUMBERS: Record<string, L4> = { '6': 'tcp', '17': 'udp', '132': 'sctp' };

/** `10.96.0.10/32` -> `10.96.0.10`; undefined for a wider prefix. */
function singleAddress(text: string): string | undefined {
  const [addr, prefix] = text.split('/') as [string, string | undefined];
  if (prefix === undefined) return addr;
  if ((addr.includes(':') && prefix === '128') ||
    (!addr.includes(':') && (prefix === '32' || prefix === '255.255.255.255'))) return addr;
  return undefined;
}

/** `10.244.1.7:53`, `10.244.1.7`, `[fd00::7]:53`, `10.0.0.1-10.0.0.2:80-81` (the first of a range). */
export function parseToDestination(text: string): { address: string; port?: number } | undefined {
  let addr: string;
  let port: string | undefined;
  const v6 = /^\[([^\]]+)\](?::(\d+)(?:-\d+)?)?$/.exec(text);
  if (v6) {
    addr = v6[1]!;
    port = v6[2];
  } else if ((text.match(/:/g) ?? []).length > 1) {
    addr = text; // a bare IPv6 address
  } else {
    const at = text.indexOf(':');
    addr = at < 0 ? text : text.slice(0, at);
    port = at < 0 ? undefined : /^(\d+)/.exec(text.slice(at + 1))?.[1];
  }
  addr = addr.split('-')[0]!;
  if (!addr) return undefined;
  return port === undefined ? { address: addr } : { address: addr, port: Number(port) };
}

/** A rule line read into the neutral shape. */
export function natRuleOfLine(chain: string, words: string[]): NatRule {
  const rule: NatRule = { chain, jumps: [], dnat: [] };
  let dst: string | undefined;
  let dport: number | undefined;
  let protocol: L4 | undefined;
  let anyProto = false;
  for (let i = 2; i < words.length; i++) {
    const w = words[i]!;
    const negated = words[i - 1] === '!';
    const next = words[i + 1];
    switch (w) {
      case '-d':
      case '--destination':
        if (!negated && next !== undefined) dst = singleAddress(next);
        i++;
        break;
      case '-p':
      case '--protocol': {
        const p = next === undefined ? undefined : (PROTO_NUMBERS[next] ?? (L4S.has(next) ? (next as L4) : undefined));
        if (negated || p === undefined) anyProto = true;
        else protocol = p;
        i++;
        break;
      }
      case '--dport':
      case '--destination-port':
        if (!negated && next !== undefined && /^\d+$/.test(next)) dport = Number(next);
        i++;
        break;
      case '--comment':
        if (next !== undefined) rule.comment = next;
        i++;
        break;
      case '-j':
      case '--jump':
      case '-g':
      case '--goto':
        // Built-in targets (ACCEPT, MARK, ...) are no chain of the table: the walk finds nothing there.
        if (next !== undefined && next !== 'DNAT') rule.jumps.push(next);
        i++;
        break;
      case '--to-destination': {
        const e = next === undefined ? undefined : parseToDestination(next);
        if (e) rule.dnat.push(e);
        i++;
        break;
      }
      default:
    }
  }
  if (dst !== undefined && !anyProto) {
    rule.dst = { address: dst, ...(dport !== undefined ? { port: dport } : {}), ...(protocol ? { protocol } : {}) };
  }
  return rule;
}

/** A table of an iptables-save text (nat, filter) in the neutral shape; undefined when absent. */
export function natTableOfSave(tables: SavedTables, ruleset: RulesetKind, family: 'ipv4' | 'ipv6', name = 'nat'):
  | NatTable
  | undefined
{
  const table = tables.get(name);
  if (!table) return undefined;
  const rules: NatRule[] = [];
  for (const [chain, list] of table) for (const r of list) rules.push(natRuleOfLine(chain, splitSaveWords(r.line)));
  return { ruleset, table: name, family, rules };
}
