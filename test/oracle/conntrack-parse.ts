/**
 * Parser for the text conntrack-tools (1.4.x, libnetfilter_conntrack 1.0.x) prints for one
 * entry: `conntrack -L` with or without `-o extended,id,ktimestamp,labels`, and `conntrack -E`
 * lines (with their `[NEW]`/`[UPDATE]`/`[DESTROY]` prefix, `-o timestamp` prefix and
 * `[USERSPACE] portid=... progname=...` suffix).
 *
 * The layout, from libnetfilter_conntrack's default printer (every item ends with one space,
 * the last one is removed):
 *
 *   [event]  l3name l3num (extended only)  l4name l4num  timeout?  STATE?
 *   orig tuple: src= dst= (sport= dport= | type= code= id= | srckey=0x dstkey=0x)
 *               zone-orig=?  packets= bytes=?  [UNREPLIED]?
 *   reply tuple: src= dst= ...  zone-reply=?  packets= bytes=?
 *   [ASSURED] | [OFFLOAD] | [HW_OFFLOAD]  (at most one)  mark=? secmark=? secctx=? zone=?
 *   delta-time=?  [start=<ctime>]? [stop=<ctime>]? (ktimestamp only)  helper=? use=? id=?
 *   labels=a,b? (only with -o labels and names from connlabel.conf)
 *
 * Pure code: no I/O.
 */

export interface CtTuple {
  src: string;
  dst: string;
  /** TCP, UDP, UDPlite, SCTP, DCCP */
  sport?: number;
  dport?: number;
  /** ICMP / ICMPv6 (`type= code= id=`) */
  icmpType?: number;
  icmpCode?: number;
  icmpId?: number;
  /** GRE (`srckey=0x.. dstkey=0x..`, printed in hex) */
  greSrcKey?: number;
  greDstKey?: number;
  /** `zone-orig=` / `zone-reply=` */
  zone?: number;
  /** accounting (net.netfilter.nf_conntrack_acct=1). Numbers: exact below 2^53. */
  packets?: number;
  bytes?: number;
}

export type CtEvent = 'NEW' | 'UPDATE' | 'DESTROY';

export interface CtEntry {
  /** The line as given (trimmed). */
  line: string;
  /** `conntrack -E`: the event type prefix. */
  event?: CtEvent;
  /** `conntrack -E -o timestamp`: the `[sec.usec]` prefix, in seconds. */
  time?: number;
  /** 4 or 6, from `ipv4`/`ipv6` (extended) or from the address form. */
  family: 4 | 6;
  /** `-o extended` only: `ipv4`/`ipv6` and 2/10. */
  l3proto?: string;
  l3protonum?: number;
  /** `tcp`, `udp`, `icmp`, `icmpv6`, `sctp`, `gre`, `udplite`, `dccp` or `unknown`. */
  l4proto: string;
  l4protonum: number;
  /** Seconds left; absent in DESTROY events. */
  timeout?: number;
  /** TCP, SCTP or DCCP state name (`ESTABLISHED`, `TIME_WAIT`, ...). */
  state?: string;
  orig: CtTuple;
  reply: CtTuple;
  /** Bracketed flags in the order printed, e.g. `['UNREPLIED']`, `['ASSURED']`. */
  flags: string[];
  /** No `[UNREPLIED]`: conntrack prints that flag when IPS_SEEN_REPLY is NOT set. */
  seenReply: boolean;
  assured: boolean;
  offload: boolean;
  hwOffload: boolean;
  mark?: number;
  secmark?: number;
  secctx?: string;
  /** `zone=` (the entry's zone for both directions) */
  zone?: number;
  use?: number;
  /** `-o id`: the kernel's entry id. */
  id?: number;
  helper?: string;
  /** `-o labels`: names from connlabel.conf; unnamed bits are not printed. */
  labels?: string[];
  /** `delta-time=`: seconds since start (to now, or to stop), printed when timestamps are on. */
  deltaTime?: number;
  /** `-o ktimestamp`: ctime() text of `[start=...]`/`[stop=...]`, and the same parsed as UTC. */
  startText?: string;
  stopText?: string;
  start?: Date;
  stop?: Date;
  /** `conntrack -E` of a change made by a netlink user: `[USERSPACE] portid=N progname=X`. */
  portid?: number;
  progname?: string;
  /** key=value tokens this parser does not know, as printed. */
  extra: Record<string, string>;
  /** bare tokens this parser does not know. */
  unknown: string[];
}

const EVENTS = new Set(['NEW', 'UPDATE', 'DESTROY']);

/** Numbers of a tuple, by the key conntrack prints (the GRE keys in hex). */
const TUPLE_NUMBERS: Partial<
  Record<string, 'sport' | 'dport' | 'icmpType' | 'icmpCode' | 'greSrcKey' | 'greDstKey' | 'packets' | 'bytes'>
> = { sport: 'sport', dport: 'dport', type: 'icmpType', code: 'icmpCode', srckey: 'greSrcKey', dstkey: 'greDstKey',
  packets: 'packets', bytes: 'bytes' };

/** Numbers of an entry, by the key conntrack prints. */
const ENTRY_NUMBERS: Partial<Record<string, 'mark' | 'secmark' | 'zone' | 'use' | 'id' | 'deltaTime' | 'portid'>> = {
  mark: 'mark',
  secmark: 'secmark',
  zone: 'zone',
  use: 'use',
  id: 'id',
  'delta-time': 'deltaTime',
  portid: 'portid',
};
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** Split on blanks, but keep `[...]` (which may hold blanks, e.g. `[start=Sun Nov  2 ...]`) whole. */
export function tokenize(line: string): string[] {
  const tokens: string[] = [];
  let i = 0;
  const n = line.length;
  while (i < n) {
    const c = line[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
      continue;
    }
    let j: number;
    if (c === '[') {
      j = line.indexOf(']', i);
      j = j < 0 ? n : j + 1;
    } else {
      j = i;
      while (j < n && !/\s/.test(line[j]!)) j++;
    }
    tokens.push(line.slice(i, j));
    i = j;
  }
  return tokens;
}

/** Parse ctime() text (`Sun Nov 22 15:33:56 2026`) as UTC. Returns undefined if it is not that. */
export function parseCtime(text: string): Date | undefined {
  const m = /^\w{3} (\w{3}) +(\d{1,2}) (\d{2}):(\d{2}):(\d{2}) (\d{4})$/.exec(text.trim());
  if (!m) return undefined;
  const month = MONTHS.indexOf(m[1]!);
  if (month < 0) return undefined;
  return new Date(Date.UTC(Number(m[6]), month, Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5])));
}

const isUint = (s: string | undefined): s is string => s !== undefined && /^\d+$/.test(s);
const isWord = (s: string | undefined): s is string => s !== undefined && /^[A-Za-z][\w-]*$/.test(s);

function num(key: string, value: string, line: string): number {
  if (!/^\d+$/.test(value)) throw new SyntaxError(`conntrack line: ${key}=${value} is not a number: ${line}`);
  return Number(value);
}

function hex(key: string, value: string, line: string): number {
  if (!/^0x[0-9a-fA-F]+$/.test(value)) throw new SyntaxError(`conntrack line: ${key}=${value} is not hex: ${line}`);
  return parseInt(value.slice(2), 16);
}

/**
 * Parse one line of conntrack output. Throws SyntaxError when the line does not have the shape
 * of an entry (no protocol, or no two tuples).
 */
export function parseConntrackLine(input: string): CtEntry {
  const line = input.trim();
  const tokens = tokenize(line);
  let k = 0;

  let time: number | undefined;
  let event: CtEvent | undefined;
  const tsm = tokens[k] !== undefined ? /^\[(\d+)\.(\d+)\]$/.exec(tokens[k]!) : null;
  if (tsm) {
    time = Number(`${tsm[1]}.${tsm[2]}`);
    k++;
  }
  const evm = tokens[k] !== undefined ? /^\[([A-Z]+)\]$/.exec(tokens[k]!) : null;
  if (evm && EVENTS.has(evm[1]!)) {
    event = evm[1] as CtEvent;
    k++;
  }

  // Positional part: everything before the first key=value or [flag].
  const pos: string[] = [];
  while (k < tokens.length && !tokens[k]!.includes('=') && !tokens[k]!.startsWith('[')) pos.push(tokens[k++]!);

  let l3proto: string | undefined;
  let l3protonum: number | undefined;
  let p = 0;
  if (isWord(pos[0]) && isUint(pos[1]) && isWord(pos[2]) && isUint(pos[3])) {
    l3proto = pos[0];
    l3protonum = Number(pos[1]);
    p = 2;
  }
  const l4proto = pos[p];
  const l4num = pos[p + 1];
  if (!isWord(l4proto) || !isUint(l4num)) throw new SyntaxError(`conntrack line: no protocol: ${line}`);
  p += 2;
  let timeout: number | undefined;
  let state: string | undefined;
  const unknown: string[] = [];
  if (isUint(pos[p])) timeout = Number(pos[p++]);
  if (isWord(pos[p]) && /^[A-Z][A-Z0-9_]*$/.test(pos[p]!)) state = pos[p++];
  while (p < pos.length) unknown.push(pos[p++]!);

  const orig: Partial<CtTuple> = {};
  const reply: Partial<CtTuple> = {};
  let cur: Partial<CtTuple> = orig;
  let inTuples = true;
  const flags: string[] = [];
  const extra: Record<string, string> = {};
  const entry: Partial<CtEntry> = {};

  for (; k < tokens.length; k++) {
    const tok = tokens[k]!;
    if (tok.startsWith('[')) {
      const inner = tok.endsWith(']') ? tok.slice(1, -1) : tok.slice(1);
      const eq = inner.indexOf('=');
      if (eq > 0) {
        const key = inner.slice(0, eq);
        const value = inner.slice(eq + 1);
        if (key === 'start') {
          entry.startText = value;
          const d = parseCtime(value);
          if (d) entry.start = d;
        } else if (key === 'stop') {
          entry.stopText = value;
          const d = parseCtime(value);
          if (d) entry.stop = d;
        } else {
          extra[key] = value;
        }
      } else {
        flags.push(inner);
      }
      if (inner === 'ASSURED' || inner === 'OFFLOAD' || inner === 'HW_OFFLOAD') inTuples = false;
      continue;
    }
    const eq = tok.indexOf('=');
    if (eq <= 0) {
      if (tok === 'labels') entry.labels = []; // `-o labels` with no named bit set
      else unknown.push(tok);
      continue;
    }
    const key = tok.slice(0, eq);
    const value = tok.slice(eq + 1);

    if (inTuples) {
      switch (key) {
        case 'src':
          if (orig.src === undefined) cur = orig;
          else if (reply.src === undefined) cur = reply;
          else {
            extra[key] = value;
            continue;
          }
          cur.src = value;
          continue;
        case 'dst':
          cur.dst = value;
          continue;
        case 'id':
          // ICMP id belongs to the tuple (right after type/code); otherwise it is the entry id.
          if (cur.icmpType !== undefined && cur.icmpId === undefined) {
            cur.icmpId = num(key, value, line);
            continue;
          }
          break;
        case 'zone-orig':
          orig.zone = num(key, value, line);
          continue;
        case 'zone-reply':
          reply.zone = num(key, value, line);
          continue;
        default: {
          const field = TUPLE_NUMBERS[key];
          if (field) {
            cur[field] = (field === 'greSrcKey' || field === 'greDstKey' ? hex : num)(key, value, line);
            continue;
          }
        }
      }
      if (reply.src !== undefined) inTuples = false;
    }

    const field = ENTRY_NUMBERS[key];
    if (field) entry[field] = num(key, value, line);
    else if (key === 'secctx' || key === 'helper' || key === 'progname') entry[key] = value;
    else if (key === 'labels') entry.labels = value === '' ? [] : value.split(',');
    else extra[key] = value;
  }

  if (orig.src === undefined || orig.dst === undefined || reply.src === undefined || reply.dst === undefined) {
    throw new SyntaxError(`conntrack line: expected an original and a reply tuple: ${line}`);
  }
  const family: 4 | 6 = l3proto === 'ipv6' ? 6 : l3proto === 'ipv4' ? 4 : orig.src.includes(':') ? 6 : 4;

  const result: CtEntry = {
    line,
    family,
    l4proto,
    l4protonum: Number(l4num),
    orig: orig as CtTuple,
    reply: reply as CtTuple,
    flags,
    seenReply: !flags.includes('UNREPLIED'),
    assured: flags.includes('ASSURED'),
    offload: flags.includes('OFFLOAD'),
    hwOffload: flags.includes('HW_OFFLOAD'),
    ...entry,
    extra,
    unknown,
  };
  if (event !== undefined) result.event = event;
  if (time !== undefined) result.time = time;
  if (l3proto !== undefined) result.l3proto = l3proto;
  if (l3protonum !== undefined) result.l3protonum = l3protonum;
  if (timeout !== undefined) result.timeout = timeout;
  if (state !== undefined) result.state = state;
  return result;
}

export interface ParsedListing {
  entries: CtEntry[];
  /** Lines that did not parse (should be none). */
  rejected: string[];
}

/** Parse a whole `conntrack -L` stdout (one entry per line; blank lines skipped). */
export function parseConntrackOutput(stdout: string): ParsedListing {
  const entries: CtEntry[] = [];
  const rejected: string[] = [];
  for (const raw of stdout.split('\n')) {
    const l = raw.trim();
    if (!l) continue;
    try {
      entries.push(parseConntrackLine(l));
    } catch {
      rejected.push(l);
    }
  }
  return { entries, rejected };
}

/** The N of conntrack's stderr summary `N flow entries have been shown.` (or created/deleted/...). */
export function parseSummaryCount(stderr: string): number | undefined {
  const m = /(\d+) flow entries have been (?:shown|created|updated|deleted|added)\./.exec(stderr);
  return m ? Number(m[1]) : undefined;
}
