// conntrack-tools' command line, as nfct accepts it: the same commands, tables, options and
// errors, parsed into one description of what to do.
export type Command = 'L' | 'G' | 'D' | 'I' | 'U' | 'E' | 'F' | 'C' | 'S' | 'A';
export type Table = 'conntrack' | 'expect' | 'dying' | 'unconfirmed';

export interface Parsed {
  command: Command;
  table: Table;
  /** Option name (long form) to its values, in the order given. */
  options: Map<string, string[]>;
  json: boolean;
  netns?: string;
  pid?: number;
  /** --all-netns: every network namespace of the node (-L, -C, -S, -E). */
  allNetns: boolean;
}

/** A usage error: conntrack prints it and exits with 2 (PARAMETER_PROBLEM). */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

const COMMANDS: Record<string, Command> = {
  '-L': 'L', '--dump': 'L', '-G': 'G', '--get': 'G', '-D': 'D', '--delete': 'D', '-I': 'I', '--create': 'I',
  '-U': 'U', '--update': 'U', '-E': 'E', '--event': 'E', '-F': 'F', '--flush': 'F', '-C': 'C', '--count': 'C',
  '-S': 'S', '--stats': 'S', '-A': 'A', '--add': 'A',
};

/** Options that take a value, by every spelling conntrack accepts, to their long name. */
const VALUED: Record<string, string> = {
  '-s': 'orig-src', '--src': 'orig-src', '--orig-src': 'orig-src',
  '-d': 'orig-dst', '--dst': 'orig-dst', '--orig-dst': 'orig-dst',
  '-r': 'reply-src', '--reply-src': 'reply-src', '-q': 'reply-dst', '--reply-dst': 'reply-dst',
  '-p': 'protonum', '--protonum': 'protonum', '--proto': 'protonum', '-f': 'family', '--family': 'family',
  '-t': 'timeout', '--timeout': 'timeout', '-u': 'status', '--status': 'status', '-w': 'zone', '--zone': 'zone',
  '--orig-zone': 'orig-zone', '--reply-zone': 'reply-zone', '-m': 'mark', '--mark': 'mark',
  '-c': 'secmark', '--secmark': 'secmark', '-e': 'event-mask', '--event-mask': 'event-mask',
  '-o': 'output', '--output': 'output', '-l': 'label', '--label': 'label', '--label-add': 'label-add',
  '--label-del': 'label-del', '-n': 'src-nat', '--src-nat': 'src-nat', '-g': 'dst-nat', '--dst-nat': 'dst-nat',
  '-j': 'any-nat', '--any-nat': 'any-nat', '-b': 'buffer-size', '--buffer-size': 'buffer-size',
  '--sport': 'orig-port-src', '--orig-port-src': 'orig-port-src', '--dport': 'orig-port-dst', '--orig-port-dst': 'orig-port-dst',
  '--reply-port-src': 'reply-port-src', '--reply-port-dst': 'reply-port-dst', '--state': 'state',
  '--icmp-type': 'icmp-type', '--icmp-code': 'icmp-code', '--icmp-id': 'icmp-id',
  '--icmpv6-type': 'icmp-type', '--icmpv6-code': 'icmp-code', '--icmpv6-id': 'icmp-id',
  '--tuple-src': 'tuple-src', '--tuple-dst': 'tuple-dst', '--mask-src': 'mask-src', '--mask-dst': 'mask-dst',
  '--tuple-port-src': 'tuple-port-src', '--tuple-port-dst': 'tuple-port-dst', '--mask-port-src': 'mask-port-src',
  '--mask-port-dst': 'mask-port-dst', '--netns': 'netns', '--pid': 'pid',
};
const FLAGS: Record<string, string> = { '-z': 'zero', '--zero': 'zero', '--json': 'json', '--all-netns': 'all-netns' };

/** Which options each command takes (conntrack refuses the others: "Illegal option"). */
const ALLOWED: Record<Command, readonly string[]> = {
  L: ['orig-src', 'orig-dst', 'reply-src', 'reply-dst', 'protonum', 'family', 'status', 'zone', 'orig-zone', 'reply-zone', 'mark', 'secmark', 'output', 'label', 'src-nat', 'dst-nat', 'any-nat', 'zero', 'orig-port-src', 'orig-port-dst', 'reply-port-src', 'reply-port-dst', 'state', 'icmp-type', 'icmp-code', 'icmp-id'],
  G: ['orig-src', 'orig-dst', 'reply-src', 'reply-dst', 'protonum', 'output', 'orig-port-src', 'orig-port-dst', 'reply-port-src', 'reply-port-dst', 'icmp-type', 'icmp-code', 'icmp-id', 'tuple-src', 'tuple-dst', 'tuple-port-src', 'tuple-port-dst'],
  D: ['orig-src', 'orig-dst', 'reply-src', 'reply-dst', 'protonum', 'family', 'status', 'zone', 'orig-zone', 'reply-zone', 'mark', 'label', 'src-nat', 'dst-nat', 'any-nat', 'orig-port-src', 'orig-port-dst', 'reply-port-src', 'reply-port-dst', 'state', 'icmp-type', 'icmp-code', 'icmp-id', 'tuple-src', 'tuple-dst', 'tuple-port-src', 'tuple-port-dst'],
  I: ['orig-src', 'orig-dst', 'reply-src', 'reply-dst', 'protonum', 'timeout', 'status', 'zone', 'orig-zone', 'reply-zone', 'mark', 'label-add', 'src-nat', 'dst-nat', 'orig-port-src', 'orig-port-dst', 'reply-port-src', 'reply-port-dst', 'state', 'icmp-type', 'icmp-code', 'icmp-id', 'tuple-src', 'tuple-dst', 'mask-src', 'mask-dst', 'tuple-port-src', 'tuple-port-dst', 'mask-port-src', 'mask-port-dst'],
  A: ['orig-src', 'orig-dst', 'reply-src', 'reply-dst', 'protonum', 'timeout', 'status', 'zone', 'orig-zone', 'reply-zone', 'mark', 'label-add', 'src-nat', 'dst-nat', 'orig-port-src', 'orig-port-dst', 'reply-port-src', 'reply-port-dst', 'state', 'icmp-type', 'icmp-code', 'icmp-id'],
  U: ['orig-src', 'orig-dst', 'reply-src', 'reply-dst', 'protonum', 'family', 'timeout', 'status', 'zone', 'orig-zone', 'reply-zone', 'mark', 'output', 'label', 'label-add', 'label-del', 'orig-port-src', 'orig-port-dst', 'reply-port-src', 'reply-port-dst', 'state', 'icmp-type', 'icmp-code', 'icmp-id'],
  E: ['orig-src', 'orig-dst', 'reply-src', 'reply-dst', 'protonum', 'family', 'status', 'zone', 'orig-zone', 'reply-zone', 'mark', 'event-mask', 'output', 'label', 'src-nat', 'dst-nat', 'any-nat', 'buffer-size', 'orig-port-src', 'orig-port-dst', 'reply-port-src', 'reply-port-dst', 'state', 'icmp-type', 'icmp-code', 'icmp-id'],
  F: ['family'],
  C: [],
  S: [],
};

const LONG_NAMES: Record<string, string> = { 'orig-src': '--orig-src', 'orig-dst': '--orig-dst', 'protonum': '--protonum', zone: '--zone' };

export function parseArgs(argv: readonly string[]): Parsed {
  let command: Command | undefined;
  let table: Table = 'conntrack';
  const options = new Map<string, string[]>();
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    if (COMMANDS[name]) {
      if (command) throw new UsageError('Invalid parameters');
      command = COMMANDS[name];
      const next = argv[i + 1];
      if (next === 'conntrack' || next === 'expect' || next === 'dying' || next === 'unconfirmed') {
        table = next;
        i++;
      }
      continue;
    }
    if (FLAGS[name]) {
      if (FLAGS[name] === 'json') json = true;
      else options.set(FLAGS[name], ['']);
      continue;
    }
    const key = VALUED[name];
    if (!key) throw new UsageError(`unknown option \`${arg}'`);
    const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new UsageError(`option \`${arg}' requires an argument`);
    options.set(key, [...(options.get(key) ?? []), value]);
  }
  if (!command) throw new UsageError('no command specified');
  const netns = options.get('netns')?.[0];
  const pidText = options.get('pid')?.[0];
  const allNetns = options.has('all-netns');
  options.delete('netns');
  options.delete('pid');
  options.delete('all-netns');
  if (allNetns && !['L', 'C', 'S', 'E'].includes(command)) throw new UsageError("Illegal option `--all-netns' with this command (it takes -L, -C, -S and -E)");
  if (allNetns && (netns !== undefined || pidText !== undefined)) throw new UsageError("`--all-netns' cannot be combined with `--netns' or `--pid'");
  for (const key of options.keys()) {
    if (!ALLOWED[command].includes(key)) throw new UsageError(`Illegal option \`${LONG_NAMES[key] ?? `--${key}`}' with this command`);
  }
  let pid: number | undefined;
  if (pidText !== undefined) {
    pid = Number(pidText);
    if (!Number.isInteger(pid) || pid < 1) throw new UsageError(`Bad parameter \`--pid ${pidText}'`);
  }
  return { command, table, options, json, netns, pid, allNetns };
}

/** The one value of an option, or undefined. */
export function one(p: Parsed, key: string): string | undefined {
  return p.options.get(key)?.at(-1);
}
