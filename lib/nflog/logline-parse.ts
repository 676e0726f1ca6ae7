/**
 * Parsing of the lines the kernel's LOG target writes (`-j LOG`, nft `log`), as found in dmesg,
 * the journal or a syslog file: the reverse of lib/nflog/logline-format.ts.
 *
 * Accepted around the message: a printk level `<4>` (dmesg -r), a syslog header
 * (`Jun 13 19:58:21 host kernel: `, or an RFC 3339 time instead), a kernel time stamp
 * (`[ 1234.567890] `) or dmesg -T's `[Thu Jun 13 19:58:21 2024] `. The prefix is everything
 * before `IN=` and is kept exactly (it may hold spaces, colons, brackets, or end without a
 * space). Every field the kernel writes is read into a typed property; whatever is not
 * understood is kept, KEY=VALUE pairs in `extra` and bare words in `unparsed`. Text never makes
 * it throw.
 */

import { describeValue } from '../core/validate.js';
import type { ParsedLogLine, ParsedLogPacket } from './logline-types.js';

const PROTO_NUMBERS: Readonly<Record<string, number>> = {
  TCP: 6,
  UDP: 17,
  UDPLITE: 136,
  ICMP: 1,
  ICMPv6: 58,
  AH: 51,
  ESP: 50,
};

const TCP_FLAGS = new Set(['AE', 'CWR', 'ECE', 'URG', 'ACK', 'PSH', 'RST', 'SYN', 'FIN']);
const IP_FLAGS = new Set(['CE', 'DF', 'MF']);

function dec(v: string): number | undefined {
  return /^\d{1,10}$/.test(v) ? Number(v) : undefined;
}

function hex0x(v: string): number | undefined {
  return /^0x[0-9a-fA-F]{1,8}$/.test(v) ? parseInt(v.slice(2), 16) : undefined;
}

function hexBare(v: string): number | undefined {
  return /^[0-9a-fA-F]{1,8}$/.test(v) ? parseInt(v, 16) : undefined;
}

const RE_LEVEL = /^<(\d{1,3})>/;
const RE_SYSLOG_BSD = /^([A-Z][a-z]{2} {1,2}\d{1,2} \d{2}:\d{2}:\d{2}(?:\.\d+)?) (\S+) ([^\s:[\]]+)(?:\[(\d+)\])?: /;
const RE_SYSLOG_ISO =
  /^(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?) (\S+) ([^\s:[\]]+)(?:\[(\d+)\])?: /;
const RE_KTIME = /^\[\s*(\d+\.\d+)\] ?/;
const RE_CTIME = /^\[([A-Z][a-z]{2} [A-Z][a-z]{2} {1,2}\d{1,2} \d{2}:\d{2}:\d{2} \d{4})\] ?/;
const RE_MONO_HOST = /^(\S+) (kernel)(?:\[(\d+)\])?: /;
const RE_IN_OUT = /IN=([^\s=]*) OUT=([^\s=]*)(?: |$)/;
const RE_IN_ONLY = /IN=([^\s=]*)(?: |$)/;

/**
 * Takes a LOG line apart.
 *
 * @param line One line from dmesg, the journal or a syslog file (a trailing newline is allowed).
 * @returns The fields found; `prefix` is undefined when the line has no `IN=` (not a LOG line).
 *   Never throws on the text: what is not understood lands in `extra` or `unparsed`.
 * @throws TypeError when `line` is not a string.
 *
 * @example
 * parseLogLine('[12345.678901] [UFW BLOCK] IN=eth0 OUT= MAC=... SRC=10.0.0.1 DST=10.0.0.2 LEN=60 ... PROTO=TCP SPT=5000 DPT=22 ...')
 * // { prefix: '[UFW BLOCK] ', in: 'eth0', out: '', src: '10.0.0.1', proto: 'TCP', dpt: 22, tcp: { flags: ['SYN'], ... }, ... }
 */
export function parseLogLine(line: string): ParsedLogLine {
  if (typeof line !== 'string') throw new TypeError(`line must be a string, got ${describeValue(line)}`);
  let text = line.replace(/\r?\n$/, '');
  const r: ParsedLogLine = { line: text, message: '', ipFlags: [], extra: [], unparsed: [] };

  let m = RE_LEVEL.exec(text);
  if (m) {
    r.level = Number(m[1]) & 7;
    text = text.slice(m[0].length);
  }
  m = RE_SYSLOG_BSD.exec(text) ?? RE_SYSLOG_ISO.exec(text);
  if (m) {
    r.syslog = { time: m[1]!, host: m[2]!, tag: m[3]! };
    if (m[4] !== undefined) r.syslog.pid = Number(m[4]);
    text = text.slice(m[0].length);
  }
  m = RE_LEVEL.exec(text);
  if (m && r.level === undefined) {
    r.level = Number(m[1]) & 7;
    text = text.slice(m[0].length);
  }
  m = RE_KTIME.exec(text);
  if (m) {
    r.kernelTime = Number(m[1]);
    text = text.slice(m[0].length);
    // journalctl -o short-monotonic: "[ 1234.567890] host kernel: ..."
    const h = r.syslog ? null : RE_MONO_HOST.exec(text);
    if (h) {
      r.syslog = { time: m[1]!, host: h[1]!, tag: h[2]! };
      if (h[3] !== undefined) r.syslog.pid = Number(h[3]);
      text = text.slice(h[0].length);
      const k = RE_KTIME.exec(text);
      if (k) text = text.slice(k[0].length);
    }
  } else {
    m = RE_CTIME.exec(text);
    if (m) {
      r.dmesgTime = m[1]!;
      text = text.slice(m[0].length);
    }
  }
  readMessage(r, text);
  return r;
}

/**
 * @internal Reads a message (the text after any syslog or dmesg head) into `r`: the prefix,
 * `IN=`/`OUT=` and every field after them. For lib/kmsg, whose native reader parses the heads.
 */
export function readMessage(r: ParsedLogLine, text: string): void {
  r.message = text;
  let rest: string;
  const io = RE_IN_OUT.exec(text);
  if (io) {
    r.prefix = text.slice(0, io.index);
    r.in = io[1]!;
    r.out = io[2]!;
    rest = text.slice(io.index + io[0].length);
  } else {
    const i = RE_IN_ONLY.exec(text);
    if (i) {
      r.prefix = text.slice(0, i.index);
      r.in = i[1]!;
      rest = text.slice(i.index + i[0].length);
    } else {
      rest = text;
    }
  }
  // The closing bracket of a quoted packet sticks to the last word when that word ends the
  // kernel's text without a space ("TRUNCATED]", ")]" after an IPv6 ESP group): split it off.
  const tokens: string[] = [];
  for (const t of rest.split(' ')) {
    if (t === '') continue;
    if (t.length > 1 && t.endsWith(']') && t !== 'bytes]') tokens.push(t.slice(0, -1), ']');
    else tokens.push(t);
  }
  new Walker(tokens, r).run();
}

/** Reads the tokens after `IN= OUT=` into the result, packet by packet. */
class Walker {
  private i = 0;

  constructor(
    private readonly tokens: string[],
    private readonly r: ParsedLogLine,
  ) {}

  run(): void {
    this.packet(this.r, false);
  }

  private extra(key: string, value: string): void {
    this.r.extra.push({ key, value });
  }

  private unparsed(tok: string): void {
    this.r.unparsed.push(tok);
  }

  /**
   * Reads one packet's fields into `p`. `nested`: inside `[ ... ]`, stops after the closing
   * bracket.
   */
  private packet(p: ParsedLogPacket, nested: boolean): void {
    const t = this.tokens;
    while (this.i < t.length) {
      const tok = t[this.i++]!;
      if (nested && tok === ']') return;
      if (!nested && !p.inner && (tok.startsWith('[SRC=') || tok === '[TRUNCATED')) {
        // The packet an ICMP error quotes, up to the "]" token.
        const inner: ParsedLogPacket = { ipFlags: [] };
        p.inner = inner;
        this.token(inner, tok.slice(1), true);
        this.packet(inner, true);
        continue;
      }
      this.token(p, tok, nested);
    }
  }

  /** `INCOMPLETE [n bytes]`: reads the two tokens after INCOMPLETE when they are there. */
  private incomplete(p: ParsedLogPacket): boolean {
    const t = this.tokens;
    const a = t[this.i];
    const b = t[this.i + 1];
    if (a !== undefined && b === 'bytes]' && /^\[\d{1,10}$/.test(a)) {
      p.incomplete = Number(a.slice(1));
      this.i += 2;
      return true;
    }
    return false;
  }

  private token(p: ParsedLogPacket, tok: string, nested: boolean): void {
    const r = this.r;
    const t = this.tokens;
    switch (tok) {
      case 'INCOMPLETE':
        if (this.incomplete(p)) return;
        if (p.fragOffset !== undefined && !p.proto) {
          p.fragMore = true;
          return;
        }
        this.unparsed(tok);
        return;
      case 'TRUNCATED':
        p.truncated = true;
        return;
      case 'ARP':
        r.arp ??= {};
        return;
      case 'OPT': {
        const next = t[this.i];
        if (next === '(') {
          // IPv6: "OPT ( ... )", ") " or ")" closes it.
          this.i++;
          const words: string[] = [];
          while (this.i < t.length) {
            const w = t[this.i++]!;
            if (w === ')') break;
            if (w === ']') {
              this.i--;
              break;
            }
            words.push(w);
            if (w === 'INCOMPLETE' && this.incomplete(p)) {
              words.push(`[${p.incomplete}`, 'bytes]');
              continue;
            }
            // The kernel nests no OPT group in another; hostile text may, without end.
            if (w === 'OPT') continue;
            this.token(p, w, nested);
          }
          (p.ipv6Options ??= []).push(words.join(' '));
          return;
        }
        if (next !== undefined && /^\(.*\)$/.test(next)) {
          this.i++;
          const body = next.slice(1, -1);
          if (body === 'TRUNCATED') {
            p.truncated = true;
            if (p.tcp) p.tcp.options = undefined;
            return;
          }
          if (p.proto === 'TCP' && p.tcp) p.tcp.options = body;
          else p.ipOptions = body;
          return;
        }
        this.unparsed(tok);
        return;
      }
    }
    if (IP_FLAGS.has(tok) && !p.proto) {
      p.ipFlags.push(tok as 'CE' | 'DF' | 'MF');
      return;
    }
    if (TCP_FLAGS.has(tok) && p.proto === 'TCP' && p.tcp) {
      p.tcp.flags.push(tok);
      return;
    }
    if (tok === 'AH' || tok === 'ESP') {
      // inside an IPv6 OPT group: the header's name; SPI= follows
      return;
    }
    if (tok.startsWith('FRAG:')) {
      if (tok === 'FRAG:TRUNCATED') {
        // an IPv6 fragment header cut short: the kernel writes "FRAG:" then "TRUNCATED "
        p.truncated = true;
        return;
      }
      const n = dec(tok.slice(5));
      if (n !== undefined) p.fragOffset = n;
      else this.unparsed(tok);
      return;
    }
    if (tok.startsWith('ID:')) {
      const n = hexBare(tok.slice(3));
      if (n !== undefined) p.fragId = n;
      else this.unparsed(tok);
      return;
    }
    const eq = tok.indexOf('=');
    if (eq <= 0) {
      this.unparsed(tok);
      return;
    }
    const key = tok.slice(0, eq);
    const value = tok.slice(eq + 1);
    if (!this.field(p, key, value, nested)) this.extra(key, value);
  }

  /** One KEY=VALUE; false when not understood. */
  private field(p: ParsedLogPacket, key: string, value: string, nested: boolean): boolean {
    const r = this.r;
    // After the ARP token, its fields (r.arp is made there).
    const arp = r.arp ? assign(r.arp, ARP_FIELDS, key, value) : undefined;
    if (arp !== undefined) return arp;
    const line = nested ? undefined : assign(r, LINE_FIELDS, key, value);
    if (line !== undefined) return line;
    const l4 = p.proto !== undefined;
    switch (key) {
      case 'SRC':
      case 'DST':
        // after PROTO=, the quoted packet of an ICMP error has its own
        if (l4) return false;
        p[key === 'SRC' ? 'src' : 'dst'] = value;
        return true;
      case 'LEN':
        return set(dec(value), (v) => (l4 ? (p.udpLen = v) : (p.len = v)));
      case 'ID':
        if (!l4) return set(dec(value), (v) => (p.id = v));
        return p.icmp ? set(dec(value), (v) => (p.icmp!.id = v)) : false;
      case 'PROTO': {
        p.proto = value;
        const n = Object.hasOwn(PROTO_NUMBERS, value) ? PROTO_NUMBERS[value] : dec(value);
        if (n !== undefined) p.protocol = n;
        if (value === 'TCP') p.tcp = { flags: [] };
        return true;
      }
    }
    const ip = assign(p, IP_FIELDS, key, value);
    if (ip !== undefined) return ip;
    if (!l4) return key === 'SPI' ? set(hex0x(value), (v) => (p.spi = v)) : false;
    const ports = assign(p, PORT_FIELDS, key, value);
    if (ports !== undefined) return ports;
    if (p.tcp) return assign(p.tcp, TCP_FIELDS, key, value) ?? false;
    if (key === 'TYPE' || key === 'CODE') {
      return set(dec(value), (v) => ((p.icmp ??= {})[key === 'TYPE' ? 'type' : 'code'] = v));
    }
    return p.icmp ? (assign(p.icmp, ICMP_FIELDS, key, value) ?? false) : false;
  }
}

/** How a field's value is read: d decimal, x 0x-hex, h bare hex, s text as it is. */
const READERS: Readonly<Record<string, (v: string) => string | number | undefined>> = { d: dec, x: hex0x, h: hexBare,
  s: (v) => v };

/** The KEY=VALUE fields of one part of a line: key to [property, how the value is read]. */
type Fields = ReadonlyMap<string, readonly [string, (v: string) => string | number | undefined]>;

/** Fields from `KEY property reader` entries (see READERS), comma-separated. */
function fields(spec: string): Fields {
  return new Map(
    spec.split(',').map((entry) => {
      const [key, property, reader] = entry.trim().split(' ') as [string, string, string];
      return [key, [property, READERS[reader]!]] as const;
    }),
  );
}

const ARP_FIELDS = fields(
  'HTYPE htype d, PTYPE ptype x, OPCODE opcode d, MACSRC macSrc s, IPSRC ipSrc s, MACDST macDst s, IPDST ipDst s',
);
/** Written once per line, for the outer packet: the link layer, the socket, the mark. */
const LINE_FIELDS = fields(
  'PHYSIN physin s, PHYSOUT physout s, MAC mac s, TUNNEL tunnel s, MACSRC macSrc s, MACDST macDst s, MACPROTO macProto h, VPROTO vlanProto h, VID vlanId d, UID uid d, GID gid d, MARK mark x',
);
const IP_FIELDS = fields('TOS tos x, PREC prec x, TTL ttl d, TC tc d, HOPLIMIT hopLimit d, FLOWLBL flowLabel d');
const PORT_FIELDS = fields('SPT spt d, DPT dpt d, SPI spi x');
const TCP_FIELDS = fields('SEQ seq d, ACK ack d, WINDOW window d, RES res x, URGP urgp d');
const ICMP_FIELDS = fields('SEQ seq d, PARAMETER parameter d, GATEWAY gateway s, POINTER pointer h, MTU mtu d');

/** Sets the field `key` of `target` from `value`: true, false when the value is not what the field holds, undefined when `key` is none of `table`'s. */
function assign(target: object, table: Fields, key: string, value: string): boolean | undefined {
  const field = table.get(key);
  if (!field) return undefined;
  const v = field[1](value);
  if (v === undefined) return false;
  (target as Record<string, unknown>)[field[0]] = v;
  return true;
}

function set(v: number | undefined, assign: (v: number) => void): boolean {
  if (v === undefined) return false;
  assign(v);
  return true;
}
