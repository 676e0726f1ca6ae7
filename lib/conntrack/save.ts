// conntrack-tools' save format (`conntrack -L -o save`, the input of `conntrack -R`) read into
// entries for create()/createMany(), or packed straight for the kernel (restore()).
import { addressBytes, dottedQuadAt } from '../core/address.js';
import { AF_INET, AF_INET6, TCP_STATES } from '../core/constants.js';
import { SpecFlags, SpecTupleFlags, SpecTupleWord, SpecWord } from '../core/layout.js';
import { ICMP_REPLY, type FlowInput } from './flowspec.js';
import { STATUS_NAMES, statusBit } from './status.js';
import type { StatusName } from './types.js';

const { SPEC_WORDS, S_FLAGS, S_KIND, S_MARK, S_ORIG, S_REPLY, S_STATE, S_STATUS, S_TIMEOUT, S_ZONE } = SpecWord;
const { SF_MARK, SF_REPLY, SF_STATUS, SF_TCP_STATE, SF_TIMEOUT, SF_ZONE } = SpecFlags;
const { ST_DST, ST_FLAGS, ST_ICMP, ST_PORTS, ST_SRC } = SpecTupleWord;
const { STF_ICMP, STF_PORTS } = SpecTupleFlags;

/** Status bits a plain line may set by name (UNSET: none). */
const FAST_STATUS: readonly (readonly [string, number])[] = [['UNSET', 0], ...(['ASSURED', 'SEEN_REPLY', 'FIXED_TIMEOUT', 'EXPECTED', 'OFFLOAD', 'HW_OFFLOAD'] as const).map((n) => [n, 1 << statusBit(n)!] as const)];
/** TCP states by name, as the kernel numbers them (LISTEN is conntrack's name for SYN_SENT2). */
const TCP_STATE: readonly (readonly [string, number])[] = [...TCP_STATES.map((n, i) => [n, i] as const), ['LISTEN', TCP_STATES.indexOf('SYN_SENT2')]];

/** The value of the [name, value] entry whose name is spelt by text[from, to), -1 for none. Compared in place. */
function wordAt(table: readonly (readonly [string, number])[], text: string, from: number, to: number): number {
  const n = to - from;
  for (const [name, value] of table) if (name.length === n && text.startsWith(name, from)) return value;
  return -1;
}

/** The options a plain line may carry, by their index in the line's `seen` bits. */
const OPTIONS = [
  '-p', '-t', '-s', '-d', '-r', '-q', '--sport', '--dport', '--reply-port-src', '--reply-port-dst',
  '--state', '-u', '-m', '-w', '--icmp-type', '--icmp-code', '--icmp-id', '--icmpv6-type', '--icmpv6-code', '--icmpv6-id',
] as const;
const enum O { P, T, S, D, R, Q, SPORT, DPORT, RSPORT, RDPORT, STATE, U, M, W, ITYPE, ICODE, IID, I6TYPE, I6CODE, I6ID }
const REQUIRED = (1 << O.P) | (1 << O.T) | (1 << O.S) | (1 << O.D);
const PORTS = (1 << O.SPORT) | (1 << O.DPORT);
const REPLY = (1 << O.R) | (1 << O.Q);
const REPLY_PORTS = (1 << O.RSPORT) | (1 << O.RDPORT);
const ICMP = (1 << O.ITYPE) | (1 << O.ICODE) | (1 << O.IID);
const ICMPV6 = (1 << O.I6TYPE) | (1 << O.I6CODE) | (1 << O.I6ID);
/** The long options (two dashes) by their length, which optionAt() compares in place. */
const LONG: (readonly [string, number])[][] = [];
OPTIONS.forEach((name, o) => {
  if (name.length > 2) (LONG[name.length] ??= []).push([name, o]);
});

/** The option spelt by line[from, to), -1 for any other word. Compared in place: no string per word. */
function optionAt(line: string, from: number, to: number): number {
  const n = to - from;
  if (line.charCodeAt(from) !== 45) return -1;
  if (n === 2) {
    switch (line.charCodeAt(from + 1)) {
      case 112: return O.P;
      case 116: return O.T;
      case 115: return O.S;
      case 100: return O.D;
      case 114: return O.R;
      case 113: return O.Q;
      case 117: return O.U;
      case 109: return O.M;
      case 119: return O.W;
      default: return -1;
    }
  }
  const same = LONG[n];
  return same ? wordAt(same, line, from, to) : -1;
}

/** The protocol number spelt by line[from, to) (tcp, udp, udplite, icmp, icmpv6), -1 for another word. */
function protocolAt(line: string, from: number, to: number): number {
  switch (to - from) {
    case 3: return line.startsWith('tcp', from) ? 6 : line.startsWith('udp', from) ? 17 : -1;
    case 4: return line.startsWith('icmp', from) ? 1 : -1;
    case 6: return line.startsWith('icmpv6', from) ? 58 : -1;
    case 7: return line.startsWith('udplite', from) ? 136 : -1;
    default: return -1;
  }
}

/** The decimal number in line[from, to): at most 9 digits and at most max (-1: not one). */
function decimalAt(line: string, from: number, to: number, max: number): number {
  if (to <= from || to - from > 9) return -1;
  let v = 0;
  for (let i = from; i < to; i++) {
    const c = line.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v <= max ? v : -1;
}

/** The address in line[from, to) written into bytes[offset..]: its family (4 or 6), 0 when it is not one. */
function addressAt(line: string, from: number, to: number, bytes: Uint8Array, offset: number): 0 | 4 | 6 {
  if (dottedQuadAt(line, from, to, bytes, offset)) return 4;
  const b = addressBytes(line.slice(from, to));
  if (!b) return 0;
  bytes.set(b, offset);
  return b.length === 4 ? 4 : 6;
}

/**
 * Where each option's value starts and ends in the line last read, and which options it
 * carried (bits by O). One line at a time: parseSaveLine() reads them back right after.
 */
const FROM = new Int32Array(OPTIONS.length);
const TO = new Int32Array(OPTIONS.length);
let SEEN = 0;

/** Option o's decimal value in the line last scanned (at most max), -1 when absent or not one. */
function numberOf(line: string, o: O, max: number): number {
  return (SEEN & (1 << o)) !== 0 ? decimalAt(line, FROM[o]!, TO[o]!, max) : -1;
}

/**
 * Reads one plain `-I`/`-A` line, text[from, to) (blanks at either end already cut), straight
 * into a packed spec (native/ct/request.h FlowSpec) at words[at..] (`bytes` a view of the same
 * memory), which must be zeroed: what normalizeFlowInput() then packFlowSpecs() give for the
 * entry parseSaveLine() reads from it (test/conntrack/save.unit.test.ts holds the two ways
 * equal). 1 for a create line, 2 for an add line, 0 for a line it cannot read (see
 * parseSaveLine()). One pass, the words compared in place, no string or object made: a
 * restore reads a hundred thousand of these.
 */
export function packSaveLine(text: string, from: number, to: number, words: Uint32Array, bytes: Uint8Array, at: number): 0 | 1 | 2 {
  if (to - from < 3 || text.charCodeAt(from) !== 45 || text.charCodeAt(from + 2) !== 32) return 0;
  const c = text.charCodeAt(from + 1);
  const command = c === 73 ? 1 : c === 65 ? 2 : 0;
  if (command === 0) return 0;
  let seen = 0;
  for (let i = from + 3; i < to; ) {
    const keyEnd = text.indexOf(' ', i);
    if (keyEnd <= i || keyEnd >= to) return 0; // an option without a value, or an empty word
    let valueEnd = text.indexOf(' ', keyEnd + 1);
    if (valueEnd === -1 || valueEnd > to) valueEnd = to;
    if (valueEnd === keyEnd + 1 || valueEnd === to - 1) return 0; // an empty word
    const o = optionAt(text, i, keyEnd);
    if (o < 0 || (seen & (1 << o)) !== 0) return 0;
    seen |= 1 << o;
    FROM[o] = keyEnd + 1;
    TO[o] = valueEnd;
    i = valueEnd + 1;
  }
  SEEN = seen;
  if ((seen & REQUIRED) !== REQUIRED) return 0;
  const proto = protocolAt(text, FROM[O.P]!, TO[O.P]!);
  const timeout = numberOf(text, O.T, 999_999_999);
  if (proto < 0 || timeout < 0) return 0;
  const orig = at + S_ORIG;
  const reply = at + S_REPLY;
  const family = addressAt(text, FROM[O.S]!, TO[O.S]!, bytes, (orig + ST_SRC) * 4);
  if (family === 0 || addressAt(text, FROM[O.D]!, TO[O.D]!, bytes, (orig + ST_DST) * 4) !== family) return 0;
  if ((proto === 1 && family !== 4) || (proto === 58 && family !== 6)) return 0;
  words[at + S_KIND] = (family === 4 ? AF_INET : AF_INET6) | (proto << 8);
  // The ports or ICMP word of each direction; the reply's is the original's swapped.
  let word: number;
  let replyWord: number;
  let tuple: number;
  if (proto === 6 || proto === 17 || proto === 136) {
    if (seen & (ICMP | ICMPV6)) return 0;
    const sp = numberOf(text, O.SPORT, 65535);
    const dp = numberOf(text, O.DPORT, 65535);
    if (sp < 0 || dp < 0) return 0;
    word = sp | (dp << 16);
    replyWord = dp | (sp << 16);
    tuple = ST_PORTS;
  } else {
    const v6 = proto === 58;
    if (seen & (PORTS | REPLY_PORTS | (v6 ? ICMP : ICMPV6))) return 0;
    const type = numberOf(text, v6 ? O.I6TYPE : O.ITYPE, 255);
    const code = numberOf(text, v6 ? O.I6CODE : O.ICODE, 255);
    const id = numberOf(text, v6 ? O.I6ID : O.IID, 65535);
    const replyType = ICMP_REPLY[proto]![type];
    if (type < 0 || code < 0 || id < 0 || replyType === undefined) return 0;
    word = type | (code << 8) | (id << 16);
    replyWord = replyType | (code << 8) | (id << 16);
    tuple = ST_ICMP;
  }
  if (seen & REPLY) {
    if ((seen & REPLY) !== REPLY) return 0;
    if (addressAt(text, FROM[O.R]!, TO[O.R]!, bytes, (reply + ST_SRC) * 4) !== family) return 0;
    if (addressAt(text, FROM[O.Q]!, TO[O.Q]!, bytes, (reply + ST_DST) * 4) !== family) return 0;
    if (seen & REPLY_PORTS) {
      const rsp = numberOf(text, O.RSPORT, 65535);
      const rdp = numberOf(text, O.RDPORT, 65535);
      if (rsp < 0 || rdp < 0) return 0;
      replyWord = rsp | (rdp << 16);
    }
  } else {
    if (seen & REPLY_PORTS) return 0;
    for (let i = family === 4 ? 0 : 3; i >= 0; i--) {
      words[reply + ST_SRC + i] = words[orig + ST_DST + i]!;
      words[reply + ST_DST + i] = words[orig + ST_SRC + i]!;
    }
  }
  const tupleFlags = tuple === ST_PORTS ? STF_PORTS : STF_ICMP;
  words[orig + tuple] = word >>> 0;
  words[orig + ST_FLAGS] = tupleFlags;
  words[reply + tuple] = replyWord >>> 0;
  words[reply + ST_FLAGS] = tupleFlags;
  words[at + S_TIMEOUT] = timeout;
  let flags = SF_REPLY | SF_TIMEOUT;
  if (seen & (1 << O.U)) {
    let bits = 0;
    for (let i = FROM[O.U]!, end = TO[O.U]!; i <= end; ) {
      let comma = text.indexOf(',', i);
      if (comma < 0 || comma > end) comma = end;
      const bit = wordAt(FAST_STATUS, text, i, comma);
      if (bit < 0) return 0;
      bits |= bit;
      i = comma + 1;
    }
    if (bits !== 0) {
      words[at + S_STATUS] = bits >>> 0;
      flags |= SF_STATUS;
    }
  }
  if (proto === 6) {
    const state = (seen & (1 << O.STATE)) !== 0 ? wordAt(TCP_STATE, text, FROM[O.STATE]!, TO[O.STATE]!) : -1;
    if (state < 0) return 0;
    words[at + S_STATE] = state;
    flags |= SF_TCP_STATE;
  } else if (seen & (1 << O.STATE)) return 0;
  if (seen & (1 << O.M)) {
    // Marks of ten digits take the full parser.
    const m = numberOf(text, O.M, 999_999_999);
    if (m < 0) return 0;
    words[at + S_MARK] = m;
    flags |= SF_MARK;
  }
  if (seen & (1 << O.W)) {
    const z = numberOf(text, O.W, 65535);
    if (z < 0) return 0;
    words[at + S_ZONE] = z;
    flags |= SF_ZONE;
  }
  words[at + S_FLAGS] = flags;
  return command;
}

const SCRATCH = new Uint32Array(SPEC_WORDS);
const SCRATCH_BYTES = new Uint8Array(SCRATCH.buffer);

/**
 * The entry of one plain `-I`/`-A` line (what `conntrack -L -o save` prints for TCP, UDP,
 * UDP-Lite, ICMP and ICMPv6 entries without NAT, what scripts write): options `-t -u -s -d -r
 * -q -p --sport --dport --reply-port-src --reply-port-dst --state --icmp[v6]-type/-code/-id -m
 * -w`, each once, decimal numbers, canonical addresses, everything a create needs. Undefined
 * for any other line (nfct -R reads those with its full conntrack parser; for the lines read
 * here both give the same entry: test/cli/restore.unit.test.ts).
 */
export function parseSaveLine(text: string): { command: 'create' | 'add'; flow: FlowInput } | undefined {
  const line = text.trimEnd();
  const w = SCRATCH;
  w.fill(0);
  const command = packSaveLine(line, 0, line.length, w, SCRATCH_BYTES, 0);
  if (command === 0) return undefined;
  const seen = SEEN;
  const value = (o: O): string => line.slice(FROM[o], TO[o]);
  const flow: Record<string, unknown> = { protocol: w[S_KIND]! >>> 8, src: value(O.S), dst: value(O.D), timeout: w[S_TIMEOUT] };
  const word = w[S_ORIG + ST_PORTS]!;
  if (w[S_ORIG + ST_FLAGS]! & STF_PORTS) {
    flow.srcPort = word & 0xffff;
    flow.dstPort = word >>> 16;
  } else {
    const icmp = w[S_ORIG + ST_ICMP]!;
    flow.type = icmp & 0xff;
    flow.code = (icmp >>> 8) & 0xff;
    flow.id = icmp >>> 16;
  }
  if (seen & REPLY) {
    const reply: Record<string, unknown> = { src: value(O.R), dst: value(O.Q) };
    if (seen & REPLY_PORTS) {
      const r = w[S_REPLY + ST_PORTS]!;
      reply.srcPort = r & 0xffff;
      reply.dstPort = r >>> 16;
    }
    flow.reply = reply;
  }
  const flags = w[S_FLAGS]!;
  if (flags & SF_STATUS) flow.status = STATUS_NAMES.filter((_, bit) => (w[S_STATUS]! >>> bit) & 1) as StatusName[];
  if (flags & SF_TCP_STATE) flow.state = TCP_STATES[w[S_STATE]!];
  if (flags & SF_MARK) flow.mark = w[S_MARK];
  if (flags & SF_ZONE) flow.zone = w[S_ZONE];
  return { command: command === 1 ? 'create' : 'add', flow: flow as unknown as FlowInput };
}

/**
 * The entries of a save file (`conntrack -L -o save` output): one FlowInput per `-I`/`-A` line,
 * blank lines and `#` comments skipped. A line of another kind (or with options this reader
 * does not take, see parseSaveLine) is a TypeError naming its line number. Feed the result to
 * createMany() (`ifExists: 'skip'` for `-A` semantics).
 */
export function parseSave(text: string): FlowInput[] {
  if (typeof text !== 'string') throw new TypeError(`parseSave() text must be a string, got ${typeof text}`);
  const out: FlowInput[] = [];
  eachSaveLine(text, (from, to, n) => out.push(readSaveLine(text.slice(from, to), n, 'parseSave()').flow));
  return out;
}

/** ASCII white space, as String.prototype.trim() cuts it. */
function blank(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13);
}

/**
 * Calls visit(from, to, n) for each line of a save file that says something: text[from, to)
 * is line n (counted from 1) with the white space at either end cut (as trim() cuts it);
 * blank lines and `#` comments are skipped. No string is made per line.
 */
export function eachSaveLine(text: string, visit: (from: number, to: number, n: number) => void): void {
  let n = 0;
  for (let at = 0; at <= text.length; ) {
    let end = text.indexOf('\n', at);
    if (end < 0) end = text.length;
    let from = at;
    let to = end;
    at = end + 1;
    n++;
    while (from < to && blank(text.charCodeAt(from))) from++;
    while (to > from && blank(text.charCodeAt(to - 1))) to--;
    if (from < to && (text.charCodeAt(from) > 127 || text.charCodeAt(to - 1) > 127)) {
      // White space beyond ASCII: trim()'s own idea of it.
      const line = text.slice(from, to);
      const start = line.length - line.trimStart().length;
      to = from + line.trimEnd().length;
      from += start;
    }
    if (from < to && text.charCodeAt(from) !== 35) visit(from, to, n);
  }
}

/** parseSaveLine(), or a TypeError carrying the `line` number for a line it cannot read (`where` names the call). */
export function readSaveLine(line: string, n: number, where: string): { command: 'create' | 'add'; flow: FlowInput } {
  const parsed = parseSaveLine(line);
  if (!parsed) throw unreadableLine(line, n, where);
  return parsed;
}

/** The TypeError, carrying the `line` number, for a save line the reader cannot read (`where` names the call). */
export function unreadableLine(line: string, n: number, where: string): TypeError {
  return Object.assign(new TypeError(`${where} line ${n} is not a -I/-A line it can read: ${JSON.stringify(line.slice(0, 200))}`), { line: n });
}
