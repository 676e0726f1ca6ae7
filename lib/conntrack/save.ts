// conntrack-tools' save format (`conntrack -L -o save`, the input of `conntrack -R`) read into
// entries for create()/createMany().
import { ipFamily } from '../core/address.js';
import type { FlowInput } from './flowspec.js';
import type { StatusName } from './types.js';

const FAST_PROTOCOLS: Record<string, number> = { tcp: 6, udp: 17, udplite: 136, icmp: 1, icmpv6: 58 };
const FAST_STATUS: Record<string, StatusName | null> = { ASSURED: 'ASSURED', SEEN_REPLY: 'SEEN_REPLY', UNSET: null, FIXED_TIMEOUT: 'FIXED_TIMEOUT', EXPECTED: 'EXPECTED', OFFLOAD: 'OFFLOAD', HW_OFFLOAD: 'HW_OFFLOAD' };
const TCP_STATES = new Set(['NONE', 'SYN_SENT', 'SYN_RECV', 'ESTABLISHED', 'FIN_WAIT', 'CLOSE_WAIT', 'LAST_ACK', 'TIME_WAIT', 'CLOSE', 'SYN_SENT2', 'LISTEN']);

/** The options a plain line may carry, by their index in the line's `seen` bits. */
const OPTIONS = [
  '-p', '-t', '-s', '-d', '-r', '-q', '--sport', '--dport', '--reply-port-src', '--reply-port-dst',
  '--state', '-u', '-m', '-w', '--icmp-type', '--icmp-code', '--icmp-id', '--icmpv6-type', '--icmpv6-code', '--icmpv6-id',
] as const;
const enum O { P, T, S, D, R, Q, SPORT, DPORT, RSPORT, RDPORT, STATE, U, M, W, ITYPE, ICODE, IID, I6TYPE, I6CODE, I6ID }
const PORTS = (1 << O.SPORT) | (1 << O.DPORT);
const REPLY_PORTS = (1 << O.RSPORT) | (1 << O.RDPORT);
const ICMP = (1 << O.ITYPE) | (1 << O.ICODE) | (1 << O.IID);
const ICMPV6 = (1 << O.I6TYPE) | (1 << O.I6CODE) | (1 << O.I6ID);
/** The long options (two dashes), which optionAt() compares in place. */
const LONG = OPTIONS.map((name, o) => [name, o] as const).filter(([name]) => name.length > 2);

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
  for (const [name, o] of LONG) if (name.length === n && line.startsWith(name, from)) return o;
  return -1;
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

/** Where each option's value starts and ends in the line being read (one line at a time). */
const FROM = new Int32Array(OPTIONS.length);
const TO = new Int32Array(OPTIONS.length);

/**
 * The entry of one plain `-I`/`-A` line (what `conntrack -L -o save` prints for TCP, UDP,
 * UDP-Lite, ICMP and ICMPv6 entries without NAT, what scripts write): options `-t -u -s -d -r
 * -q -p --sport --dport --reply-port-src --reply-port-dst --state --icmp[v6]-type/-code/-id -m
 * -w`, each once, decimal numbers, canonical addresses, everything a create needs. Undefined
 * for any other line (nfct -R reads those with its full conntrack parser; for the lines read
 * here both give the same entry: test/cli/restore.unit.test.ts). One pass over the line, the
 * words compared in place: a restore reads a hundred thousand of these.
 */
export function parseSaveLine(text: string): { command: 'create' | 'add'; flow: FlowInput } | undefined {
  const line = text.trimEnd();
  const len = line.length;
  if (len < 3 || line.charCodeAt(0) !== 45 || line.charCodeAt(2) !== 32) return undefined;
  const c = line.charCodeAt(1);
  const command = c === 73 ? 'create' : c === 65 ? 'add' : undefined;
  if (!command) return undefined;
  let seen = 0;
  for (let at = 3; at < len; ) {
    const keyEnd = line.indexOf(' ', at);
    if (keyEnd <= at) return undefined; // an option without a value, or an empty word
    let valueEnd = line.indexOf(' ', keyEnd + 1);
    if (valueEnd === -1) valueEnd = len;
    if (valueEnd === keyEnd + 1 || valueEnd === len - 1) return undefined; // an empty word
    const o = optionAt(line, at, keyEnd);
    if (o < 0 || (seen & (1 << o)) !== 0) return undefined;
    seen |= 1 << o;
    FROM[o] = keyEnd + 1;
    TO[o] = valueEnd;
    at = valueEnd + 1;
  }
  const has = (o: O): boolean => (seen & (1 << o)) !== 0;
  const value = (o: O): string => line.slice(FROM[o], TO[o]);
  const number = (o: O, max: number): number => (has(o) ? decimalAt(line, FROM[o]!, TO[o]!, max) : -1);
  if (!has(O.P) || !has(O.S) || !has(O.D)) return undefined;
  const proto = FAST_PROTOCOLS[value(O.P)];
  const timeout = number(O.T, 999_999_999);
  if (proto === undefined || timeout < 0) return undefined;
  const src = value(O.S);
  const dst = value(O.D);
  const family = ipFamily(src);
  if (family === 0 || ipFamily(dst) !== family) return undefined;
  if ((proto === 1 && family !== 4) || (proto === 58 && family !== 6)) return undefined;
  const flow: Record<string, unknown> = { protocol: proto, src, dst, timeout };
  if (proto === 6 || proto === 17 || proto === 136) {
    if (seen & (ICMP | ICMPV6)) return undefined;
    const sp = number(O.SPORT, 65535);
    const dp = number(O.DPORT, 65535);
    if (sp < 0 || dp < 0) return undefined;
    flow.srcPort = sp;
    flow.dstPort = dp;
  } else {
    const v6 = proto === 58;
    if (seen & (PORTS | REPLY_PORTS | (v6 ? ICMP : ICMPV6))) return undefined;
    const type = number(v6 ? O.I6TYPE : O.ITYPE, 255);
    const code = number(v6 ? O.I6CODE : O.ICODE, 255);
    const id = number(v6 ? O.I6ID : O.IID, 65535);
    if (type < 0 || code < 0 || id < 0) return undefined;
    flow.type = type;
    flow.code = code;
    flow.id = id;
  }
  if (has(O.R) || has(O.Q)) {
    if (!has(O.R) || !has(O.Q)) return undefined;
    const rs = value(O.R);
    const rq = value(O.Q);
    if (ipFamily(rs) !== family || ipFamily(rq) !== family) return undefined;
    const reply: Record<string, unknown> = { src: rs, dst: rq };
    if ((seen & REPLY_PORTS) !== 0) {
      const rsp = number(O.RSPORT, 65535);
      const rdp = number(O.RDPORT, 65535);
      if (rsp < 0 || rdp < 0) return undefined;
      reply.srcPort = rsp;
      reply.dstPort = rdp;
    }
    flow.reply = reply;
  } else if ((seen & REPLY_PORTS) !== 0) return undefined;
  if (has(O.U)) {
    const names: StatusName[] = [];
    for (const word of value(O.U).split(',')) {
      const name = FAST_STATUS[word];
      if (name === undefined) return undefined;
      if (name) names.push(name);
    }
    if (names.length > 0) flow.status = names;
  }
  if (proto === 6) {
    const state = has(O.STATE) ? value(O.STATE) : '';
    if (!TCP_STATES.has(state)) return undefined;
    flow.state = state === 'LISTEN' ? 'SYN_SENT2' : state;
  } else if (has(O.STATE)) return undefined;
  if (has(O.M)) {
    // Marks of ten digits take the full parser.
    const m = number(O.M, 999_999_999);
    if (m < 0) return undefined;
    flow.mark = m;
  }
  if (has(O.W)) {
    const z = number(O.W, 65535);
    if (z < 0) return undefined;
    flow.zone = z;
  }
  return { command, flow: flow as unknown as FlowInput };
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
  for (const { n, line } of saveLines(text)) out.push(readSaveLine(line, n, 'parseSave()').flow);
  return out;
}

/** The lines of a save file that say something (blank lines and `#` comments skipped), numbered from 1. */
export function* saveLines(text: string): Generator<{ n: number; line: string }> {
  let n = 0;
  for (let at = 0; at <= text.length; ) {
    let end = text.indexOf('\n', at);
    if (end < 0) end = text.length;
    const line = text.slice(at, end).trim();
    at = end + 1;
    n++;
    if (line !== '' && line.charCodeAt(0) !== 35) yield { n, line };
  }
}

/** parseSaveLine(), or a TypeError carrying the `line` number for a line it cannot read (`where` names the call). */
export function readSaveLine(line: string, n: number, where: string): { command: 'create' | 'add'; flow: FlowInput } {
  const parsed = parseSaveLine(line);
  if (!parsed) throw Object.assign(new TypeError(`${where} line ${n} is not a -I/-A line it can read: ${JSON.stringify(line.slice(0, 200))}`), { line: n });
  return parsed;
}
