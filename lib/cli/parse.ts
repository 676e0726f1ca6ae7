// conntrack's command line, read with conntrack's rules: which commands and options exist,
// which options each command takes or needs, the protocol options that `-p` makes known, and
// the refusals, in the order conntrack makes them. The result describes what to do; the
// command modules do it.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';

import { type LongOption, Scanner } from './getopt.js';
import { CliExit } from './messages.js';

/** conntrack's options in its order (the columns of the tables below). */
export const OPT = [
  'src', 'dst', 'reply-src', 'reply-dst', 'protonum', 'timeout', 'status', 'zero', 'event-mask', 'tuple-src',
  'tuple-dst', 'mask-src', 'mask-dst', 'nat-range', 'mark', 'id', 'family', 'src-nat', 'dst-nat', 'output',
  'secmark', 'buffer-size', 'any-nat', 'zone', 'label', 'label-add', 'label-del', 'orig-zone', 'reply-zone',
] as const;
export type OptName = (typeof OPT)[number];
const bit = (name: OptName): number => 1 << OPT.indexOf(name);

export type CommandName =
  | 'list' | 'create' | 'update' | 'delete' | 'get' | 'flush' | 'event' | 'version' | 'help'
  | 'exp-list' | 'exp-create' | 'exp-delete' | 'exp-get' | 'exp-flush' | 'exp-event'
  | 'count' | 'exp-count' | 'stats' | 'exp-stats' | 'add';
const COMMANDS: readonly CommandName[] = [
  'list', 'create', 'update', 'delete', 'get', 'flush', 'event', 'version', 'help', 'exp-list', 'exp-create',
  'exp-delete', 'exp-get', 'exp-flush', 'exp-event', 'count', 'exp-count', 'stats', 'exp-stats', 'add',
];

// 0 illegal, 1 needed, 2 optional, 3 address pairs (either direction, both ends)
const LEGAL: Record<CommandName, string> = {
  list: '22222022000220202222202220022',
  create: '33331120000002200220000202022',
  update: '22222220000220222222000022200',
  delete: '22222220000220222222000220022',
  get: '33331000000000020002000020000',
  flush: '00000000000000002000000000000',
  event: '22222000200220202222222220022',
  version: '00000000000000000000000000000',
  help: '00002000000000000000000000000',
  'exp-list': '00000000000000002002000000000',
  'exp-create': '11221120011110000000000000000',
  'exp-delete': '11221000000000000000000000000',
  'exp-get': '11221000000000000000000000000',
  'exp-flush': '00000000000000000000000000000',
  'exp-event': '00000000000000000002000000000',
  count: '00000000000000000000000000000',
  'exp-count': '00000000000000000000000000000',
  stats: '00000000000000000000000000000',
  'exp-stats': '00000000000000000000000000000',
  add: '33331120000002200220000202022',
};

/** Protocol option sets: names (first is the flag conntrack names), and per-command legality. */
interface ProtoKind {
  opts: Array<[string, number]>; // long name -> option index
  flags: string[];
  legal: Partial<Record<CommandName, string>>;
  pairs?: [string, string];
}
const PORTS_LEGAL = { list: '2222', create: '3333', update: '2222', delete: '2222', get: '3333', event: '2222', add: '3333' };
const pad = (rows: Record<string, string>, n: number, extra: Record<string, string> = {}): Partial<Record<CommandName, string>> =>
  Object.fromEntries(Object.entries(rows).map(([k, v]) => [k, (v + (extra[k] ?? '')).padEnd(n, '0')]));
const PORT_OPTS: Array<[string, number]> = [
  ['orig-port-src', 0], ['sport', 0], ['orig-port-dst', 1], ['dport', 1], ['reply-port-src', 2], ['reply-port-dst', 3],
  ['mask-port-src', 4], ['mask-port-dst', 5],
];
const PORT_FLAGS = ['sport', 'dport', 'reply-port-src', 'reply-port-dst', 'mask-port-src', 'mask-port-dst'];
const PORT_PAIRS: [string, string] = ['`--sport\' and `--dport\'', '`--reply-src-port\' and `--reply-dst-port\''];
const KINDS: Record<string, ProtoKind> = {
  tcp: {
    opts: [...PORT_OPTS, ['state', 6], ['tuple-port-src', 7], ['tuple-port-dst', 8]],
    flags: [...PORT_FLAGS, 'state', 'tuple-port-src', 'tuple-port-dst'],
    legal: pad(PORTS_LEGAL, 9, { list: '002', create: '001', update: '002', delete: '002', get: '002', event: '002', add: '001' }),
    pairs: PORT_PAIRS,
  },
  udp: {
    opts: [...PORT_OPTS, ['tuple-port-src', 6], ['tuple-port-dst', 7]],
    flags: [...PORT_FLAGS, 'tuple-port-src', 'tuple-port-dst'],
    legal: pad(PORTS_LEGAL, 8),
    pairs: PORT_PAIRS,
  },
  sctp: {
    opts: [...PORT_OPTS.filter(([n]) => n !== 'sport' && n !== 'dport'), ['state', 6], ['tuple-port-src', 7], ['tuple-port-dst', 8], ['orig-vtag', 9], ['reply-vtag', 10], ['sport', 0], ['dport', 1]],
    flags: [...PORT_FLAGS, 'state', 'tuple-port-src', 'tuple-port-dst', 'orig-vtag', 'reply-vtag'],
    legal: pad(PORTS_LEGAL, 11, { list: '0020000', create: '0010011', update: '0020022', delete: '0020000', get: '0020022', event: '0020000', add: '0010011' }),
    pairs: PORT_PAIRS,
  },
  dccp: {
    opts: [...PORT_OPTS.filter(([n]) => n !== 'sport' && n !== 'dport'), ['state', 6], ['tuple-port-src', 7], ['tuple-port-dst', 8], ['sport', 0], ['dport', 1], ['role', 9]],
    flags: [...PORT_FLAGS, 'state', 'tuple-port-src', 'tuple-port-dst', 'role'],
    legal: pad(PORTS_LEGAL, 10, { list: '002000', create: '001001', update: '002000', delete: '002000', get: '002000', event: '002000', add: '001001' }),
    pairs: PORT_PAIRS,
  },
  gre: {
    opts: [['orig-key-src', 0], ['srckey', 0], ['orig-key-dst', 1], ['dstkey', 1], ['reply-key-src', 2], ['reply-key-dst', 3], ['mask-key-src', 4], ['mask-key-dst', 5], ['tuple-key-src', 6], ['tuple-key-dst', 7]],
    flags: ['srckey', 'dstkey', 'reply-key-src', 'reply-key-dst', 'mask-key-src', 'mask-key-dst', 'tuple-key-src', 'tuple-key-dst'],
    legal: pad(PORTS_LEGAL, 8),
    pairs: ['`--srckey\' and `--dstkey\'', '`--reply-src-key\' and `--reply-dst-key\''],
  },
  icmp: {
    opts: [['icmp-type', 0], ['icmp-code', 1], ['icmp-id', 2]],
    flags: ['icmp-type', 'icmp-code', 'icmp-id'],
    legal: { list: '222', create: '112', update: '222', delete: '222', get: '112', event: '222', add: '112' },
  },
  icmpv6: {
    opts: [['icmpv6-type', 0], ['icmpv6-code', 1], ['icmpv6-id', 2]],
    flags: ['icmpv6-type', 'icmpv6-code', 'icmpv6-id'],
    legal: { list: '222', create: '112', update: '222', delete: '222', get: '112', event: '222', add: '112' },
  },
  unknown: { opts: [], flags: [], legal: {} },
};
/** Protocols conntrack handles by name, with their option set. */
const HANDLERS: Array<[string, number, string]> = [
  ['tcp', 6, 'tcp'], ['udp', 17, 'udp'], ['udplite', 136, 'udp'], ['sctp', 132, 'sctp'], ['dccp', 33, 'dccp'],
  ['icmp', 1, 'icmp'], ['icmpv6', 58, 'icmpv6'], ['gre', 47, 'gre'], ['unknown', 0, 'unknown'],
];

export const TCP_STATE_NAMES = ['NONE', 'SYN_SENT', 'SYN_RECV', 'ESTABLISHED', 'FIN_WAIT', 'CLOSE_WAIT', 'LAST_ACK', 'TIME_WAIT', 'CLOSE', 'SYN_SENT2'];
const SCTP_STATE_NAMES = ['NONE', 'CLOSED', 'COOKIE_WAIT', 'COOKIE_ECHOED', 'ESTABLISHED', 'SHUTDOWN_SENT', 'SHUTDOWN_RECD', 'SHUTDOWN_ACK_SENT', 'HEARTBEAT_SENT', 'HEARTBEAT_ACKED'];
const DCCP_STATE_NAMES = ['NONE', 'REQUEST', 'RESPOND', 'PARTOPEN', 'OPEN', 'CLOSEREQ', 'CLOSING', 'TIMEWAIT', 'IGNORE', 'INVALID'];
const STATUS_WORDS: Array<[string, number]> = [
  ['ASSURED', 1 << 2], ['SEEN_REPLY', 1 << 1], ['UNSET', 0], ['FIXED_TIMEOUT', 1 << 10], ['EXPECTED', 1 << 0], ['OFFLOAD', 1 << 14], ['HW_OFFLOAD', 1 << 15],
];
const EVENT_WORDS: Array<[string, number]> = [['ALL', 7], ['NEW', 1], ['UPDATES', 2], ['DESTROY', 4]];
export const OUTPUT_WORDS = ['xml', 'extended', 'timestamp', 'id', 'ktimestamp', 'labels', 'userspace', 'save'] as const;
export type OutputWord = (typeof OUTPUT_WORDS)[number];

const BASE_LONGS: LongOption[] = [
  ['dump', 2, 'L'], ['create', 2, 'I'], ['add', 2, 'A'], ['delete', 2, 'D'], ['update', 2, 'U'], ['get', 2, 'G'],
  ['flush', 2, 'F'], ['event', 2, 'E'], ['counter', 2, 'C'], ['stats', 0, 'S'], ['version', 0, 'V'], ['help', 0, 'h'],
  ['orig-src', 1, 's'], ['src', 1, 's'], ['orig-dst', 1, 'd'], ['dst', 1, 'd'], ['reply-src', 1, 'r'], ['reply-dst', 1, 'q'],
  ['protonum', 1, 'p'], ['timeout', 1, 't'], ['status', 1, 'u'], ['zero', 0, 'z'], ['event-mask', 1, 'e'],
  ['tuple-src', 1, '['], ['tuple-dst', 1, ']'], ['mask-src', 1, '{'], ['mask-dst', 1, '}'], ['nat-range', 1, 'a'],
  ['mark', 1, 'm'], ['secmark', 1, 'c'], ['id', 2, 'i'], ['family', 1, 'f'], ['src-nat', 2, 'n'], ['dst-nat', 2, 'g'],
  ['output', 1, 'o'], ['buffer-size', 1, 'b'], ['any-nat', 2, 'j'], ['zone', 1, 'w'], ['label', 1, 'l'],
  ['label-add', 1, '<'], ['label-del', 2, '>'], ['orig-zone', 1, '('], ['reply-zone', 1, ')'],
  // nfct's own
  ['json', 0, 'json'], ['netns', 1, 'netns'], ['pid', 1, 'pid'],
].map(([name, arg, key]) => ({ name: name as string, arg: arg as 0 | 1 | 2, key: key as string }));
const SHORTS: Record<string, 0 | 1 | 2> = {
  L: 2, I: 2, U: 2, D: 2, G: 2, E: 2, F: 2, A: 2, h: 0, V: 0, s: 1, d: 1, r: 1, q: 1, p: 1, t: 1, u: 1, e: 1, a: 1, z: 0,
  '[': 1, ']': 1, '{': 1, '}': 1, m: 1, i: 1, f: 1, o: 1, n: 2, g: 2, c: 1, b: 1, C: 2, S: 0, j: 2, w: 1, l: 1, '<': 1,
  '>': 2, '(': 1, ')': 1,
};
const LETTER_OPT: Record<string, OptName> = {
  s: 'src', d: 'dst', r: 'reply-src', q: 'reply-dst', '[': 'tuple-src', ']': 'tuple-dst', '{': 'mask-src', '}': 'mask-dst',
  n: 'src-nat', g: 'dst-nat', j: 'any-nat', m: 'mark', c: 'secmark', i: 'id', w: 'zone', l: 'label', '<': 'label-add',
  '>': 'label-del', '(': 'orig-zone', ')': 'reply-zone',
};
const LONG_OF: Record<string, string> = { s: 'orig-src', d: 'orig-dst', r: 'reply-src', q: 'reply-dst', '[': 'tuple-src', ']': 'tuple-dst', '{': 'mask-src', '}': 'mask-dst', n: 'src-nat', g: 'dst-nat', j: 'any-nat' };

export interface Address {
  text: string;
  family: 4 | 6;
  /** Prefix length from ADDR/N (only -s/-d), or undefined. */
  prefix?: number;
}
export interface NatTarget {
  address: string;
  port?: number;
}

export interface CtRequest {
  command: CommandName;
  table: 'conntrack' | 'expect' | 'dying' | 'unconfirmed';
  /** conntrack options given (bits of OPT). */
  options: number;
  has(name: OptName): boolean;
  /** 0 unspecified, 4, 6. */
  family: 0 | 4 | 6;
  proto?: { num: number; kind: string };
  /** Protocol option index -> value (see KINDS). */
  l4: Map<number, string>;
  src?: Address;
  dst?: Address;
  replySrc?: Address;
  replyDst?: Address;
  maskSrc?: Address;
  maskDst?: Address;
  tupleSrc?: Address;
  tupleDst?: Address;
  timeout?: number;
  status: { value: number; mask: number };
  events: number;
  output: Set<OutputWord>;
  snat?: NatTarget;
  dnat?: NatTarget;
  mark?: { value: number; mask: number };
  secmark?: number;
  id?: number;
  zone?: number;
  origZone?: number;
  replyZone?: number;
  labels?: number[];
  labelAdd?: number[];
  /** undefined: not given; null: delete every label. */
  labelDel?: number[] | null;
  bufferSize?: number;
  json: boolean;
  netns?: string;
  pid?: number;
  labelNames?: Map<number, string>;
}

const problem = (message: string): never => {
  throw new CliExit(2, message, true);
};
const otherProblem = (message: string): never => {
  throw new CliExit(1, message);
};

/** C's strtoul(s, NULL, 0) as far as conntrack relies on it: leading digits, 0x hex, 0 octal. */
export function cNumber(text: string): number {
  const m = /^\s*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)/.exec(text);
  if (!m) return 0;
  const body = m[2]!;
  let n = body.startsWith('0x') || body.startsWith('0X') ? parseInt(body.slice(2), 16) : body.length > 1 && body.startsWith('0') ? parseInt(body, 8) : parseInt(body, 10);
  if (m[1] === '-') n = -n;
  return n;
}
/** C's atoi. */
export function cAtoi(text: string): number {
  const m = /^\s*([+-]?\d+)/.exec(text);
  return m ? Number.parseInt(m[1]!, 10) | 0 : 0;
}

/** inet_aton's forms (a, a.b, a.b.c, a.b.c.d, hex/octal parts) normalised to dotted quad. */
function inetAton(text: string): string | undefined {
  if (isIP(text) === 4) return text;
  if (!/^[0-9a-fA-FxX.]+$/.test(text)) return undefined;
  const parts = text.split('.');
  if (parts.length > 4 || parts.some((p) => p === '')) return undefined;
  const nums: number[] = [];
  for (const p of parts) {
    if (!/^(0[xX][0-9a-fA-F]*|0[0-7]*|[1-9][0-9]*)$/.test(p)) return undefined;
    nums.push(cNumber(p === '0x' || p === '0X' ? '0' : p));
  }
  let value: number;
  const last = nums[nums.length - 1]!;
  const head = nums.slice(0, -1);
  if (head.some((n) => n > 255)) return undefined;
  const room = 2 ** (8 * (4 - head.length));
  if (last >= room) return undefined;
  value = 0;
  for (const n of head) value = value * 256 + n;
  value = value * room + last;
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join('.');
}

function parseAddress(text: string, cidr: boolean, flag: string): Address {
  let body = text.slice(0, 45);
  let prefix: number | undefined;
  let badMask = false;
  if (cidr || body.includes('/')) {
    const slash = body.indexOf('/');
    if (slash >= 0) {
      const p = body.slice(slash + 1);
      if (!/^[+-]?\d+$/.test(p) || Number(p) < 0) badMask = true;
      else prefix = Number(p);
      body = body.slice(0, slash);
    }
  }
  const v4 = inetAton(body);
  const family = v4 ? 4 : isIP(body) === 6 ? 6 : 0;
  if (family === 0) return problem(`Invalid IP address \`${text}'`);
  const hasMask = badMask || prefix !== undefined;
  if (hasMask && !cidr) return problem(`CIDR notation unavailable for \`--${flag}'`);
  if (badMask || (prefix !== undefined && prefix > (family === 4 ? 32 : 128))) return problem('Invalid netmask');
  return { text: v4 ?? body, family: family as 4 | 6, prefix };
}

function protocolsFile(): Array<{ names: string[]; num: number }> {
  try {
    return readFileSync('/etc/protocols', 'utf8')
      .split('\n')
      .map((l) => l.replace(/#.*/, '').trim().split(/\s+/))
      .filter((f) => f.length >= 2 && /^\d+$/.test(f[1]!))
      .map((f) => ({ names: [f[0]!, ...f.slice(2)], num: Number(f[1]) }));
  } catch {
    return [];
  }
}

/** conntrack's lookup of `-p`: a handler by name, /etc/protocols, then a number (0-255). */
export function findProtocol(text: string): { num: number; kind: string } | undefined {
  const h = HANDLERS.find(([name]) => name.toLowerCase() === text.toLowerCase());
  if (h) return { num: h[1], kind: h[2] };
  const entry = protocolsFile().find((e) => e.names.includes(text));
  if (entry) return { num: entry.num, kind: 'unknown' };
  const m = /^(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/.exec(text);
  if (m) {
    const num = cNumber(text);
    if (num > 255) return undefined;
    const byNum = HANDLERS.find(([name, n]) => n === num && name !== 'unknown');
    return { num, kind: byNum ? byNum[2] : 'unknown' };
  }
  return undefined;
}

/** Label names from /etc/xtables/connlabel.conf, or undefined when there is no such file. */
export function readLabelNames(): Map<number, string> | undefined {
  let text: string;
  try {
    text = readFileSync('/etc/xtables/connlabel.conf', 'utf8');
  } catch {
    return undefined;
  }
  const names = new Map<number, string>();
  for (const line of text.split('\n')) {
    const m = /^\s*(\d+)\s+(\S+)/.exec(line);
    if (m && !names.has(Number(m[1]))) names.set(Number(m[1]), m[2]!);
  }
  return names;
}

function parseWords(arg: string, words: ReadonlyArray<[string, number]>, warn: (l: string) => void): number {
  let value = 0;
  const one = (w: string, whole: string): void => {
    const lw = w.toLowerCase();
    if ('src_nat'.startsWith(lw) && w.length > 0 && words === STATUS_WORDS) return void warn('WARNING: ignoring SRC_NAT, use --src-nat instead');
    if ('dst_nat'.startsWith(lw) && w.length > 0 && words === STATUS_WORDS) return void warn('WARNING: ignoring DST_NAT, use --dst-nat instead');
    const hit = words.find(([name]) => w.length > 0 && name.toLowerCase().startsWith(lw));
    if (!hit) problem(`Bad parameter \`${whole}'`);
    value |= hit![1];
  };
  let rest = arg;
  for (let comma = rest.indexOf(','); comma >= 0; comma = rest.indexOf(',')) {
    if (comma === 0) problem(`Bad parameter \`${rest}'`);
    one(rest.slice(0, comma), rest);
    rest = rest.slice(comma + 1);
  }
  if (rest.length === 0) problem(`Bad parameter \`${rest}'`);
  one(rest, rest);
  return value;
}

function parseStatus(arg: string, st: { value: number; mask: number }, warn: (l: string) => void): void {
  const parts = arg.split(',');
  let rest = arg;
  for (let i = 0; i < parts.length; i++) {
    let w = parts[i]!;
    const last = i === parts.length - 1;
    if (w === '' && !last) problem(`Bad parameter \`${rest}'`);
    const negated = w.startsWith('!');
    if (negated) w = w.slice(1);
    if (negated && w === '' && !last) problem(`Bad parameter \`${rest.slice(1)}'`);
    if (!negated && w.startsWith('UNREPLIED')) st.mask |= 1 << 1;
    else if (w === '') problem(`Bad parameter \`${negated ? rest.slice(1) : rest}'`);
    else {
      const v = parseWords(w, STATUS_WORDS, warn);
      if (negated) st.mask |= v;
      else st.value |= v;
    }
    rest = rest.slice(parts[i]!.length + 1);
  }
}

function splitNat(arg: string): { address: string; port?: string } {
  const open = arg.indexOf('[');
  let address: string;
  let port: string | undefined;
  if (open >= 0) {
    const start = open + 1;
    const close = arg.indexOf(']', start);
    if (close === start) problem('No IPv6 address specified');
    if (close < 0) problem("No closing ']' around IPv6 address");
    const colon = arg.indexOf(':', close);
    if (colon >= 0) {
      address = arg.slice(start, close);
      port = arg.slice(colon + 1);
    } else address = arg;
  } else {
    const colon = arg.indexOf(':');
    if (colon >= 0 && !arg.includes(':', colon + 1)) {
      address = arg.slice(0, colon);
      port = arg.slice(colon + 1);
    } else address = arg;
  }
  if (port !== undefined) {
    if (port.length === 0) problem("No port specified after `:'");
    if (!/^\d+$/.test(port) || Number(port) > 65535) problem(`Invalid port \`${port}'`);
  }
  return { address, port };
}

function optCheck(given: number, legal: string, names: readonly string[], pairs?: readonly number[]): number | true {
  let special = false;
  for (let i = 0; i < legal.length; i++) {
    const rule = legal[i];
    const set = (given & (1 << i)) !== 0;
    if (!set && rule === '1') problem(`You need to supply the \`--${names[i]}' option for this command`);
    if (set && rule === '0') problem(`Illegal option \`--${names[i]}' with this command`);
    if (rule === '3') special = true;
  }
  if (!special || !pairs) return true;
  let partial = -1;
  for (let i = 0; i < pairs.length; i++) {
    if ((given & pairs[i]!) === pairs[i]) return true;
    if (given & pairs[i]! && partial < 0) partial = i;
  }
  return partial;
}

/**
 * Reads one conntrack command line. `warn` gets the warnings conntrack prints while reading.
 * Throws CliExit for every refusal.
 */
export function parseCommandLine(argv: readonly string[], warn: (line: string) => void): CtRequest {
  const scanner = new Scanner(argv, SHORTS, BASE_LONGS);
  let command: CommandName | undefined;
  let table: CtRequest['table'] = 'conntrack';
  let options = 0;
  let family: 0 | 4 | 6 = 0;
  let l4flags = 0;
  let kind: ProtoKind | undefined;
  const r = {
    l4: new Map<number, string>(),
    status: { value: 0, mask: 0 },
    events: 0,
    output: new Set<OutputWord>(),
    json: false,
  } as unknown as CtRequest;
  let labelNames: Map<number, string> | undefined | null = null;
  const labelsInit = (): void => {
    if (labelNames !== null) return;
    labelNames = readLabelNames();
    if (!labelNames) warn('nfct: cannot read label names: /etc/xtables/connlabel.conf: No such file or directory');
  };
  const labelBits = (text: string): number[] =>
    text.split(',').map((name) => {
      const found = labelNames ? [...labelNames].find(([, n]) => n === name) : undefined;
      if (!found) problem(`unknown label '${name}'`);
      return found![0];
    });
  const setFamily = (f: 4 | 6): void => {
    if (family === 0) family = f;
    else if (family !== f) problem('mismatched address family');
  };
  const addCommand = (c: CommandName): void => {
    if (command) problem('Invalid commands combination');
    command = c;
  };
  const checkType = (): CtRequest['table'] => {
    const t = scanner.optionalNext();
    if (t === undefined) return 'conntrack';
    for (const name of ['expect', 'conntrack', 'dying', 'unconfirmed'] as const) if (name.startsWith(t)) return name;
    return problem(`unknown type \`${t}'`);
  };
  const address = (letter: string, value: string, cidr: boolean): Address => {
    const a = parseAddress(value, cidr, LONG_OF[letter] ?? letter);
    setFamily(a.family);
    return a;
  };

  for (let item = scanner.next(); item !== null; item = scanner.next()) {
    if (item.kind === 'missing') problem(`option \`${item.text}' requires an argument`);
    if (item.kind === 'unknown') problem(`unknown option \`${item.text}'`);
    if (item.kind !== 'option') continue;
    const { key } = item;
    const v = item.value ?? '';
    switch (key) {
      case 'L': {
        const t = item.value === undefined ? checkType() : 'conntrack';
        table = t;
        addCommand(t === 'expect' ? 'exp-list' : 'list');
        break;
      }
      case 'I': case 'D': case 'G': case 'F': case 'E': case 'V': case 'h': case 'C': case 'S': case 'U': case 'A': {
        const t = item.value === undefined ? checkType() : 'conntrack';
        if (t === 'dying' || t === 'unconfirmed') problem("Can't do that command with tables `dying' and `unconfirmed'");
        const ct: Record<string, CommandName> = { I: 'create', D: 'delete', G: 'get', F: 'flush', E: 'event', V: 'version', h: 'help', C: 'count', S: 'stats', U: 'update', A: 'add' };
        const exp: Record<string, CommandName> = { I: 'exp-create', D: 'exp-delete', G: 'exp-get', F: 'exp-flush', E: 'exp-event', V: 'version', h: 'help', C: 'exp-count', S: 'exp-stats' };
        const c = t === 'expect' ? exp[key] : ct[key];
        if (!c) problem(`Can't do --${key === 'U' ? 'update' : 'add'} on expectations`);
        table = t;
        addCommand(c!);
        break;
      }
      case 's': case 'd': case 'r': case 'q': case '[': case ']': {
        const cidr = key === 's' || key === 'd' || key === '[' || key === ']';
        const a = address(key, v, cidr);
        options |= bit(LETTER_OPT[key]!);
        const field = ({ s: 'src', d: 'dst', r: 'replySrc', q: 'replyDst', '[': 'tupleSrc', ']': 'tupleDst' } as const)[key];
        r[field] = a;
        const full = a.family === 4 ? 32 : 128;
        if (a.prefix !== undefined && a.prefix !== full) {
          options |= bit(key === 's' || key === '[' ? 'mask-src' : 'mask-dst');
          const mask: Address = { text: prefixMask(a.prefix, a.family), family: a.family };
          if (key === 's' || key === '[') r.maskSrc = mask;
          else r.maskDst = mask;
        }
        break;
      }
      case '{': case '}': {
        const a = address(key, v, false);
        options |= bit(LETTER_OPT[key]!);
        if (key === '{') r.maskSrc = a;
        else r.maskDst = a;
        break;
      }
      case 'p': {
        options |= bit('protonum');
        const p = findProtocol(v);
        if (!p) problem(`\`${v}' unsupported protocol`);
        r.proto = p;
        kind = KINDS[p!.kind]!;
        scanner.addLongs(kind.opts.map(([name, index]) => ({ name, arg: 1 as const, key: `${p!.kind}:${index}` })));
        break;
      }
      case 't':
        options |= bit('timeout');
        r.timeout = cAtoi(v) >>> 0;
        break;
      case 'u':
        options |= bit('status');
        parseStatus(v, r.status, warn);
        break;
      case 'e':
        options |= bit('event-mask');
        r.events |= parseWords(v, EVENT_WORDS, warn);
        break;
      case 'o': {
        options |= bit('output');
        const bits = parseWords(v, OUTPUT_WORDS.map((w, i) => [w, 1 << i] as [string, number]), warn);
        OUTPUT_WORDS.forEach((w, i) => {
          if (bits & (1 << i)) r.output.add(w);
        });
        if (r.output.has('labels')) labelsInit();
        if (r.output.has('save') && [...r.output].some((w) => w !== 'save' && w !== 'userspace')) {
          otherProblem('cannot combine save output with any other output type, use -o save only');
        }
        break;
      }
      case 'z':
        options |= bit('zero');
        break;
      case 'n': case 'g': case 'j': {
        options |= bit(LETTER_OPT[key]!);
        const text = item.value ?? scanner.optionalNext();
        if (text === undefined) break;
        const { address: addr, port } = splitNat(text);
        const a = address(key, addr, false);
        const target: NatTarget = { address: a.text, port: port === undefined ? undefined : Number(port) };
        if (key === 'n' || key === 'j') r.snat = target;
        if (key === 'g' || key === 'j') r.dnat = target;
        break;
      }
      case 'w': case '(': case ')': {
        options |= bit(LETTER_OPT[key]!);
        const z = cNumber(v) & 0xffff;
        if (key === 'w') r.zone = z;
        else if (key === '(') r.origZone = z;
        else r.replyZone = z;
        break;
      }
      case 'i': case 'c':
        options |= bit(LETTER_OPT[key]!);
        if (key === 'i') r.id = cNumber(v) >>> 0;
        else r.secmark = cNumber(v) >>> 0;
        break;
      case 'm': {
        options |= bit('mark');
        const slash = /^\s*[+-]?(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)?/.exec(v)![0].length;
        const value = cNumber(v) >>> 0;
        const mask = v[slash] === '/' ? cNumber(v.slice(slash + 1)) >>> 0 : 0xffffffff;
        r.mark = { value, mask };
        break;
      }
      case 'l': case '<': case '>': {
        options |= bit(LETTER_OPT[key]!);
        labelsInit();
        if ((options & bit('label-add')) && (options & bit('label-del'))) otherProblem('cannot use --label-add and --label-del at the same time');
        let text = item.value;
        if (key === '>' && text === undefined) {
          text = scanner.optionalNext();
          if (text === undefined) {
            r.labelDel = null;
            break;
          }
        }
        const bits = labelBits(text ?? '');
        if (key === 'l') r.labels = [...(r.labels ?? []), ...bits];
        else if (key === '<') r.labelAdd = [...(r.labelAdd ?? []), ...bits];
        else r.labelDel = [...(r.labelDel ?? []), ...bits];
        break;
      }
      case 'a':
        warn('WARNING: ignoring -a, deprecated option.');
        break;
      case 'f':
        options |= bit('family');
        if (v.startsWith('ipv4')) setFamily(4);
        else if (v.startsWith('ipv6')) setFamily(6);
        else problem(`\`${v}' unsupported protocol`);
        break;
      case 'b':
        options |= bit('buffer-size');
        r.bufferSize = cAtoi(v);
        break;
      case 'json':
        r.json = true;
        break;
      case 'netns':
        r.netns = v;
        break;
      case 'pid': {
        const pid = Number(v);
        if (!/^\d+$/.test(v) || pid < 1) problem(`Bad parameter \`--pid ${v}'`);
        r.pid = pid;
        break;
      }
      default: {
        const [k, idx] = key.split(':');
        const index = Number(idx);
        if (k === undefined || r.proto?.kind !== k) break; // options of an earlier -p: conntrack ignores them
        const name = kind!.opts.find(([, i]) => i === index)![0];
        if (name === 'state') {
          const states = k === 'tcp' ? TCP_STATE_NAMES : k === 'sctp' ? SCTP_STATE_NAMES : DCCP_STATE_NAMES;
          if (!(states.includes(v) || (k === 'tcp' && v === 'LISTEN'))) problem(`unknown ${k.toUpperCase()} state \`${v}'`);
        }
        if (name === 'role' && v !== 'client' && v !== 'server') problem(`unknown DCCP role \`${v}'`);
        r.l4.set(index, v);
        l4flags |= 1 << index;
      }
    }
  }

  if (!command) return Object.assign(r, { command: 'help' as const, table, options, family, has: () => false, bare: true });
  if (family === 0 && !['list', 'update', 'delete', 'get', 'flush', 'event'].includes(command)) family = 4;
  if ((options & bit('any-nat')) && (options & (bit('src-nat') | bit('dst-nat')))) {
    problem("cannot specify `--src-nat' or `--dst-nat' with `--any-nat'");
  }
  const pairs = [bit('src') | bit('dst'), bit('reply-src') | bit('reply-dst')];
  const res = optCheck(options, LEGAL[command], OPT, pairs);
  if (res !== true) problem(res === 1 ? "you have to specify `--reply-src' and `--reply-dst'" : "you have to specify `--src' and `--dst'");
  if (command !== 'help' && kind && kind.legal) {
    const legal = kind.legal[command] ?? '0'.repeat(kind.flags.length);
    const res2 = optCheck(l4flags, legal.padEnd(kind.flags.length, '0'), kind.flags, [3, 12]);
    if (res2 !== true && kind.pairs) problem(`you have to specify ${kind.pairs[res2 === 1 ? 1 : 0]}`);
  }
  r.command = command;
  r.table = table;
  r.options = options;
  r.family = family;
  r.has = (name: OptName): boolean => (options & bit(name)) !== 0;
  if (labelNames) r.labelNames = labelNames;
  return r;
}

function prefixMask(prefix: number, family: 4 | 6): string {
  if (family === 4) {
    const m = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
    return [m >>> 24, (m >>> 16) & 255, (m >>> 8) & 255, m & 255].join('.');
  }
  const groups: string[] = [];
  for (let i = 0; i < 8; i++) {
    const b = Math.max(0, Math.min(16, prefix - i * 16));
    groups.push(((0xffff << (16 - b)) & 0xffff).toString(16));
  }
  return groups.join(':');
}

/** The protocol option value by its name (for the protocol given with -p). */
export function l4(r: CtRequest, name: string): string | undefined {
  if (!r.proto) return undefined;
  const entry = KINDS[r.proto.kind]!.opts.find(([n]) => n === name);
  return entry ? r.l4.get(entry[1]) : undefined;
}

export { COMMANDS };
