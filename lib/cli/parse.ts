// conntrack's command line, read with conntrack's rules: which commands and options exist,
// which options each command takes or needs, the protocol options that `-p` makes known, and
// the refusals, in the order conntrack makes them. The result describes what to do; the
// command modules do it.
import { Scanner } from './getopt.js';
import { BASE_LONGS, bit, type CommandName, DCCP_STATE_NAMES, EVENT_WORDS, KINDS, LEGAL, LETTER_OPT, LONG_OF, OPT,
  type OptName, OUTPUT_WORDS, type OutputWord, type ProtoKind, SCTP_STATE_NAMES, SHORTS,
  TCP_STATE_NAMES } from './options.js';
import { type Address, type CtRequest, type NatTarget, otherProblem, problem } from './request.js';
import { POD_NAME } from './subcommand.js';
import { cAtoi, cNumber, findProtocol, parseAddress, parseStatus, parseWords, prefixMask, readLabelNames,
  splitNat } from './values.js';

export { COMMANDS, OPT, OUTPUT_WORDS, TCP_STATE_NAMES } from './options.js';
export type { CommandName, OptName, OutputWord } from './options.js';
export type { Address, CtRequest, NatTarget } from './request.js';
export { cAtoi, cNumber, findProtocol, readLabelNames } from './values.js';

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
    allNetns: false,
    services: false,
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
      case 'I':
      case 'D':
      case 'G':
      case 'F':
      case 'E':
      case 'V':
      case 'h':
      case 'C':
      case 'S':
      case 'U':
      case 'A': {
        const t = item.value === undefined ? checkType() : 'conntrack';
        if (t === 'dying' || t === 'unconfirmed') {
          problem("Can't do that command with tables `dying' and `unconfirmed'");
        }
        const ct: Record<string, CommandName> = { I: 'create', D: 'delete', G: 'get', F: 'flush', E: 'event',
          V: 'version', h: 'help', C: 'count', S: 'stats', U: 'update', A: 'add' };
        const exp: Record<string, CommandName> = { I: 'exp-create', D: 'exp-delete', G: 'exp-get', F: 'exp-flush',
          E: 'exp-event', V: 'version', h: 'help', C: 'exp-count', S: 'exp-stats' };
        const c = t === 'expect' ? exp[key] : ct[key];
        if (!c) problem(`Can't do --${key === 'U' ? 'update' : 'add'} on expectations`);
        table = t;
        addCommand(c!);
        break;
      }
      case 's':
      case 'd':
      case 'r':
      case 'q':
      case '[':
      case ']': {
        const cidr = key === 's' || key === 'd' || key === '[' || key === ']';
        const a = address(key, v, cidr);
        options |= bit(LETTER_OPT[key]!);
        const field =
          ({ s: 'src', d: 'dst', r: 'replySrc', q: 'replyDst', '[': 'tupleSrc', ']': 'tupleDst' } as const)[key];
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
      case '{':
      case '}': {
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
      case 'n':
      case 'g':
      case 'j': {
        options |= bit(LETTER_OPT[key]!);
        // conntrack takes the address from the next word only: a value attached to the option
        // (`--src-nat=ADDR`, `-nADDR`) is ignored.
        const text = scanner.optionalNext();
        if (text === undefined) break;
        const { address: addr, port } = splitNat(text);
        const a = address(key, addr, false);
        const target: NatTarget = { address: a.text, port: port === undefined ? undefined : Number(port) };
        if (key === 'n' || key === 'j') r.snat = target;
        if (key === 'g' || key === 'j') r.dnat = target;
        break;
      }
      case 'w':
      case '(':
      case ')': {
        options |= bit(LETTER_OPT[key]!);
        const z = cNumber(v) & 0xffff;
        if (key === 'w') r.zone = z;
        else if (key === '(') r.origZone = z;
        else r.replyZone = z;
        break;
      }
      case 'i':
      case 'c':
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
      case 'l':
      case '<':
      case '>': {
        options |= bit(LETTER_OPT[key]!);
        labelsInit();
        if ((options & bit('label-add')) && (options & bit('label-del'))) {
          otherProblem('cannot use --label-add and --label-del at the same time');
        }
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
      case 'all-netns':
        r.allNetns = true;
        break;
      case 'pod':
        if (!POD_NAME.test(v)) problem(`Bad parameter \`--pod ${v}' (NAMESPACE/NAME)`);
        r.pod = v;
        break;
      case 'pod-log-dir':
        if (!v.startsWith('/')) problem(`Bad parameter \`--pod-log-dir ${v}' (an absolute path)`);
        r.podLogDir = v;
        break;
      case 'services':
        r.services = true;
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
          // conntrack's DCCP extension says `Unknown`, its TCP and SCTP ones `unknown`.
          if (!(states.includes(v) || (k === 'tcp' && v === 'LISTEN'))) {
            problem(`${k === 'dccp' ? 'Unknown' : 'unknown'} ${k.toUpperCase()} state \`${v}'`);
          }
        }
        let value = v;
        if (name === 'role') {
          // As conntrack reads it: any case, and any beginning of the word.
          const lv = v.toLowerCase();
          value = 'client'.startsWith(lv)
            ? 'client'
            : 'server'.startsWith(lv)
            ? 'server'
            : problem(`Unknown DCCP role \`${v}'`);
        }
        r.l4.set(index, value);
        l4flags |= 1 << index;
      }
    }
  }

  if (!command) {
    // Options without a command: each is illegal with none (the first, in option order, is named).
    if (options !== 0) optCheck(options, '0'.repeat(OPT.length), OPT);
    return Object.assign(r, { command: 'help' as const, table, options, family, has: () => false, bare: true });
  }
  if (family === 0 && !['list', 'update', 'delete', 'get', 'flush', 'event'].includes(command)) family = 4;
  if ((options & bit('any-nat')) && (options & (bit('src-nat') | bit('dst-nat')))) {
    problem("cannot specify `--src-nat' or `--dst-nat' with `--any-nat'");
  }
  const pairs = [bit('src') | bit('dst'), bit('reply-src') | bit('reply-dst')];
  const res = optCheck(options, LEGAL[command], OPT, pairs);
  if (res !== true) {
    problem(
      res === 1 ? "you have to specify `--reply-src' and `--reply-dst'" : "you have to specify `--src' and `--dst'",
    );
  }
  if (command !== 'help' && kind?.legal) {
    const legal = kind.legal[command] ?? '0'.repeat(kind.flags.length);
    const res2 = optCheck(l4flags, legal.padEnd(kind.flags.length, '0'), kind.flags, [3, 12]);
    if (res2 !== true && kind.pairs) problem(`you have to specify ${kind.pairs[res2 === 1 ? 1 : 0]}`);
  }
  if (r.allNetns) checkAllNetns(r, command);
  if (r.pod !== undefined && (r.netns !== undefined || r.pid !== undefined)) {
    problem("`--pod' cannot be combined with `--netns' or `--pid'");
  }
  if (r.services && command !== 'list') problem("Illegal option `--services' with this command");
  if (r.services && (r.output.has('xml') || r.output.has('save'))) {
    problem("`--services' cannot be combined with `-o xml' or `-o save'");
  }
  r.command = command;
  r.table = table;
  r.options = options;
  r.family = family;
  r.has = (name: OptName): boolean => (options & bit(name)) !== 0;
  if (labelNames) r.labelNames = labelNames;
  return r;
}

/** Commands that --all-netns runs in every namespace. */
export const ALL_NETNS_COMMANDS: readonly CommandName[] = ['list', 'count', 'stats', 'event'];

/** --all-netns goes with -L, -C, -S and -E, alone of the namespace options, and not with -o xml. */
function checkAllNetns(r: CtRequest, command: CommandName): void {
  if (!ALL_NETNS_COMMANDS.includes(command)) problem("Illegal option `--all-netns' with this command");
  if (r.netns !== undefined) problem("`--all-netns' cannot be combined with `--netns'");
  if (r.pid !== undefined) problem("`--all-netns' cannot be combined with `--pid'");
  if (r.pod !== undefined) problem("`--all-netns' cannot be combined with `--pod'");
  if (r.output.has('xml')) problem("`--all-netns' cannot be combined with `-o xml'");
}

/** The protocol option value by its name (for the protocol given with -p). */
export function l4(r: CtRequest, name: string): string | undefined {
  if (!r.proto) return undefined;
  const entry = KINDS[r.proto.kind]!.opts.find(([n]) => n === name);
  return entry ? r.l4.get(entry[1]) : undefined;
}
