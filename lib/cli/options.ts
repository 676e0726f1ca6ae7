// conntrack's command-line vocabulary: its commands and options in its own order, which
// options each command takes, needs or refuses, the protocol options `-p` makes known, and the
// words -u, -e and -o take. Data only; parse.ts reads command lines with it.
import type { LongOption } from './getopt.js';

/** conntrack's options in its order (the columns of the tables below). */
export const OPT = [
  'src',
  'dst',
  'reply-src',
  'reply-dst',
  'protonum',
  'timeout',
  'status',
  'zero',
  'event-mask',
  'tuple-src',
  'tuple-dst',
  'mask-src',
  'mask-dst',
  'nat-range',
  'mark',
  'id',
  'family',
  'src-nat',
  'dst-nat',
  'output',
  'secmark',
  'buffer-size',
  'any-nat',
  'zone',
  'label',
  'label-add',
  'label-del',
  'orig-zone',
  'reply-zone',
] as const;
export type OptName = (typeof OPT)[number];
export const bit = (name: OptName): number => 1 << OPT.indexOf(name);

export type CommandName = 'list' | 'create' | 'update' | 'delete' | 'get' | 'flush' | 'event' | 'version' | 'help'
  | 'exp-list' | 'exp-create' | 'exp-delete' | 'exp-get' | 'exp-flush' | 'exp-event' | 'count' | 'exp-count' | 'stats' |
  'exp-stats' | 'add';
export const COMMANDS: readonly CommandName[] = [
  'list',
  'create',
  'update',
  'delete',
  'get',
  'flush',
  'event',
  'version',
  'help',
  'exp-list',
  'exp-create',
  'exp-delete',
  'exp-get',
  'exp-flush',
  'exp-event',
  'count',
  'exp-count',
  'stats',
  'exp-stats',
  'add',
];

// 0 illegal, 1 needed, 2 optional, 3 address pairs (either direction, both ends)
export const LEGAL: Record<CommandName, string> = {
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
export interface ProtoKind {
  opts: [string, number][]; // long name -> option index
  flags: string[];
  legal: Partial<Record<CommandName, string>>;
  pairs?: [string, string];
}
const PORTS_LEGAL = { list: '2222', create: '3333', update: '2222', delete: '2222', get: '3333', event: '2222',
  add: '3333' };
const pad = (rows: Record<string, string>, n: number,
  extra: Record<string, string> = {}): Partial<Record<CommandName, string>> =>
  Object.fromEntries(Object.entries(rows).map(([k, v]) => [k, (v + (extra[k] ?? '')).padEnd(n, '0')]));
const PORT_OPTS: [string, number][] = [
  ['orig-port-src', 0],
  ['sport', 0],
  ['orig-port-dst', 1],
  ['dport', 1],
  ['reply-port-src', 2],
  ['reply-port-dst', 3],
  ['mask-port-src', 4],
  ['mask-port-dst', 5],
];
const PORT_FLAGS = ['sport', 'dport', 'reply-port-src', 'reply-port-dst', 'mask-port-src', 'mask-port-dst'];
const PORT_PAIRS: [string, string] = ["`--sport' and `--dport'", "`--reply-src-port' and `--reply-dst-port'"];
export const KINDS: Record<string, ProtoKind> = {
  tcp: {
    opts: [...PORT_OPTS, ['state', 6], ['tuple-port-src', 7], ['tuple-port-dst', 8]],
    flags: [...PORT_FLAGS, 'state', 'tuple-port-src', 'tuple-port-dst'],
    legal: pad(PORTS_LEGAL, 9, { list: '002', create: '001', update: '002', delete: '002', get: '002', event: '002',
      add: '001' }),
    pairs: PORT_PAIRS,
  },
  udp: {
    opts: [...PORT_OPTS, ['tuple-port-src', 6], ['tuple-port-dst', 7]],
    flags: [...PORT_FLAGS, 'tuple-port-src', 'tuple-port-dst'],
    legal: pad(PORTS_LEGAL, 8),
    pairs: PORT_PAIRS,
  },
  sctp: {
    opts: [...PORT_OPTS.filter(([n]) => n !== 'sport' && n !== 'dport'), ['state', 6], ['tuple-port-src', 7], [
      'tuple-port-dst',
      8,
    ], ['orig-vtag', 9], ['reply-vtag', 10], ['sport', 0], ['dport', 1]],
    flags: [...PORT_FLAGS, 'state', 'tuple-port-src', 'tuple-port-dst', 'orig-vtag', 'reply-vtag'],
    legal: pad(PORTS_LEGAL, 11, { list: '0020000', create: '0010011', update: '0020022', delete: '0020000',
      get: '0020022', event: '0020000', add: '0010011' }),
    pairs: PORT_PAIRS,
  },
  dccp: {
    opts: [...PORT_OPTS.filter(([n]) => n !== 'sport' && n !== 'dport'), ['state', 6], ['tuple-port-src', 7], [
      'tuple-port-dst',
      8,
    ], ['sport', 0], ['dport', 1], ['role', 9]],
    flags: [...PORT_FLAGS, 'state', 'tuple-port-src', 'tuple-port-dst', 'role'],
    legal: pad(PORTS_LEGAL, 10, { list: '002000', create: '001001', update: '002000', delete: '002000', get: '002000',
      event: '002000', add: '001001' }),
    pairs: PORT_PAIRS,
  },
  gre: {
    opts: [['orig-key-src', 0], ['srckey', 0], ['orig-key-dst', 1], ['dstkey', 1], ['reply-key-src', 2], [
      'reply-key-dst',
      3,
    ], ['mask-key-src', 4], ['mask-key-dst', 5], ['tuple-key-src', 6], ['tuple-key-dst', 7]],
    flags: ['srckey', 'dstkey', 'reply-key-src', 'reply-key-dst', 'mask-key-src', 'mask-key-dst', 'tuple-key-src',
      'tuple-key-dst'],
    legal: pad(PORTS_LEGAL, 8),
    pairs: ["`--srckey' and `--dstkey'", "`--reply-src-key' and `--reply-dst-key'"],
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
// The expectation commands (conntrack 1.4.7's extensions): -I expect needs the master's ports,
// the expected tuple's and the mask's; -D/-G expect the ports of both of the master's tuples.
Object.assign(KINDS.tcp!.legal, { 'exp-create': '110011011', 'exp-delete': '111100000', 'exp-get': '111100000' });
Object.assign(KINDS.udp!.legal, { 'exp-create': '11001111', 'exp-delete': '11110000', 'exp-get': '11110000' });
Object.assign(KINDS.sctp!.legal, { 'exp-create': '11001101111', 'exp-delete': '11110000000',
  'exp-get': '11110000000' });
Object.assign(KINDS.dccp!.legal, { 'exp-create': '1100110111', 'exp-delete': '1111000000', 'exp-get': '1111000000' });
Object.assign(KINDS.gre!.legal, { 'exp-create': '11111111', 'exp-delete': '11110000', 'exp-get': '11110000' });

/** Protocols conntrack handles by name, with their option set. */
export const HANDLERS: [string, number, string][] = [
  ['tcp', 6, 'tcp'],
  ['udp', 17, 'udp'],
  ['udplite', 136, 'udp'],
  ['sctp', 132, 'sctp'],
  ['dccp', 33, 'dccp'],
  ['icmp', 1, 'icmp'],
  ['icmpv6', 58, 'icmpv6'],
  ['gre', 47, 'gre'],
  ['unknown', 0, 'unknown'],
];

export const TCP_STATE_NAMES = ['NONE', 'SYN_SENT', 'SYN_RECV', 'ESTABLISHED', 'FIN_WAIT', 'CLOSE_WAIT', 'LAST_ACK',
  'TIME_WAIT', 'CLOSE', 'SYN_SENT2'];
export const SCTP_STATE_NAMES = ['NONE', 'CLOSED', 'COOKIE_WAIT', 'COOKIE_ECHOED', 'ESTABLISHED', 'SHUTDOWN_SENT',
  'SHUTDOWN_RECD', 'SHUTDOWN_ACK_SENT', 'HEARTBEAT_SENT', 'HEARTBEAT_ACKED'];
export const DCCP_STATE_NAMES = ['NONE', 'REQUEST', 'RESPOND', 'PARTOPEN', 'OPEN', 'CLOSEREQ', 'CLOSING', 'TIMEWAIT',
  'IGNORE', 'INVALID'];
export const STATUS_WORDS: [string, number][] = [
  ['ASSURED', 1 << 2],
  ['SEEN_REPLY', 1 << 1],
  ['UNSET', 0],
  ['FIXED_TIMEOUT', 1 << 10],
  ['EXPECTED', 1 << 0],
  ['OFFLOAD', 1 << 14],
  ['HW_OFFLOAD', 1 << 15],
];
export const EVENT_WORDS: [string, number][] = [['ALL', 7], ['NEW', 1], ['UPDATES', 2], ['DESTROY', 4]];
export const OUTPUT_WORDS = ['xml', 'extended', 'timestamp', 'id', 'ktimestamp', 'labels', 'userspace',
  'save'] as const;
export type OutputWord = (typeof OUTPUT_WORDS)[number];

export const BASE_LONGS: LongOption[] = [
  ['dump', 2, 'L'],
  ['create', 2, 'I'],
  ['add', 2, 'A'],
  ['delete', 2, 'D'],
  ['update', 2, 'U'],
  ['get', 2, 'G'],
  ['flush', 2, 'F'],
  ['event', 2, 'E'],
  ['counter', 2, 'C'],
  ['stats', 0, 'S'],
  ['version', 0, 'V'],
  ['help', 0, 'h'],
  ['orig-src', 1, 's'],
  ['src', 1, 's'],
  ['orig-dst', 1, 'd'],
  ['dst', 1, 'd'],
  ['reply-src', 1, 'r'],
  ['reply-dst', 1, 'q'],
  ['protonum', 1, 'p'],
  ['timeout', 1, 't'],
  ['status', 1, 'u'],
  ['zero', 0, 'z'],
  ['event-mask', 1, 'e'],
  ['tuple-src', 1, '['],
  ['tuple-dst', 1, ']'],
  ['mask-src', 1, '{'],
  ['mask-dst', 1, '}'],
  ['nat-range', 1, 'a'],
  ['mark', 1, 'm'],
  ['secmark', 1, 'c'],
  ['id', 2, 'i'],
  ['family', 1, 'f'],
  ['src-nat', 2, 'n'],
  ['dst-nat', 2, 'g'],
  ['output', 1, 'o'],
  ['buffer-size', 1, 'b'],
  ['any-nat', 2, 'j'],
  ['zone', 1, 'w'],
  ['label', 1, 'l'],
  ['label-add', 1, '<'],
  ['label-del', 2, '>'],
  ['orig-zone', 1, '('],
  ['reply-zone', 1, ')'],
  // nfct's own
  ['json', 0, 'json'],
  ['netns', 1, 'netns'],
  ['pid', 1, 'pid'],
  ['all-netns', 0, 'all-netns'],
  ['pod', 1, 'pod'],
  ['pod-log-dir', 1, 'pod-log-dir'],
  ['services', 0, 'services'],
].map(([name, arg, key]) => ({ name: name as string, arg: arg as 0 | 1 | 2, key: key as string,
  own: (key as string).length > 1 })
);
export const SHORTS: Record<string, 0 | 1 | 2> = {
  L: 2,
  I: 2,
  U: 2,
  D: 2,
  G: 2,
  E: 2,
  F: 2,
  A: 2,
  h: 0,
  V: 0,
  s: 1,
  d: 1,
  r: 1,
  q: 1,
  p: 1,
  t: 1,
  u: 1,
  e: 1,
  a: 1,
  z: 0,
  '[': 1,
  ']': 1,
  '{': 1,
  '}': 1,
  m: 1,
  i: 1,
  f: 1,
  o: 1,
  n: 2,
  g: 2,
  c: 1,
  b: 1,
  C: 2,
  S: 0,
  j: 2,
  w: 1,
  l: 1,
  '<': 1,
  '>': 2,
  '(': 1,
  ')': 1,
};
export const LETTER_OPT: Record<string, OptName> = {
  s: 'src',
  d: 'dst',
  r: 'reply-src',
  q: 'reply-dst',
  '[': 'tuple-src',
  ']': 'tuple-dst',
  '{': 'mask-src',
  '}': 'mask-dst',
  n: 'src-nat',
  g: 'dst-nat',
  j: 'any-nat',
  m: 'mark',
  c: 'secmark',
  i: 'id',
  w: 'zone',
  l: 'label',
  '<': 'label-add',
  '>': 'label-del',
  '(': 'orig-zone',
  ')': 'reply-zone',
};
export const LONG_OF: Record<string, string> = { s: 'orig-src', d: 'orig-dst', r: 'reply-src', q: 'reply-dst',
  '[': 'tuple-src', ']': 'tuple-dst', '{': 'mask-src', '}': 'mask-dst', n: 'src-nat', g: 'dst-nat', j: 'any-nat' };
