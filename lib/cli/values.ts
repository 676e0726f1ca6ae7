// The values of conntrack's options, read as conntrack reads them: C's number parsing
// (strtoul, atoi), inet_aton's address forms, CIDRs and netmasks, /etc/protocols, label names,
// the word lists of -u/-e/-o and the NAT targets of --src-nat/--dst-nat/--any-nat.
import { readFileSync } from 'node:fs';

import { ipFamily } from '../core/address.js';
import { HANDLERS, STATUS_WORDS } from './options.js';
import { type Address, problem } from './request.js';

const ULONG_MAX = 2n ** 64n - 1n;
const LONG_MAX = 2n ** 63n - 1n;

/**
 * C's strtoul(s, NULL, 0) on a 64-bit machine, exactly: leading blanks, a sign, 0x hex, 0 octal
 * or decimal digits; a value past 2^64 - 1 is 2^64 - 1, and a minus sign negates modulo 2^64.
 */
export function cULong(text: string): bigint {
  const m = /^\s*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)/.exec(text);
  if (!m) return 0n;
  const body = m[2]!;
  const v = body.startsWith('0x') || body.startsWith('0X')
    ? BigInt(body)
    : body.length > 1 && body.startsWith('0')
    ? BigInt(`0o${body.slice(1)}`)
    : BigInt(body);
  if (v > ULONG_MAX) return ULONG_MAX;
  return m[1] === '-' ? BigInt.asUintN(64, -v) : v;
}

/** strtoul(s, NULL, 0) stored in 32 bits (or fewer, masked by the caller), as conntrack stores it. */
export function cNumber(text: string): number {
  return Number(BigInt.asUintN(32, cULong(text)));
}

/** C's atoi, exactly: (int) strtol(s, NULL, 10), the long clamped on overflow, then cut to 32 bits. */
export function cAtoi(text: string): number {
  const m = /^\s*([+-]?)(\d+)/.exec(text);
  if (!m) return 0;
  let v = BigInt(m[2]!);
  if (m[1] === '-') v = -v;
  if (v > LONG_MAX) v = LONG_MAX;
  else if (v < -LONG_MAX - 1n) v = -LONG_MAX - 1n;
  return Number(BigInt.asIntN(32, v));
}

/** inet_aton's forms (a, a.b, a.b.c, a.b.c.d, hex/octal parts) normalised to dotted quad. */
function inetAton(text: string): string | undefined {
  if (ipFamily(text) === 4) return text;
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

export function parseAddress(text: string, cidr: boolean, flag: string): Address {
  let body = text.slice(0, 45);
  let prefix: number | undefined;
  let badMask = false;
  if (cidr || body.includes('/')) {
    const slash = body.indexOf('/');
    if (slash >= 0) {
      // Read as strtol() reads it, the whole of it: blanks and a sign first; nothing at all is 0.
      const p = body.slice(slash + 1);
      if (p === '') prefix = 0;
      else if (!/^[ \t\n\v\f\r]*[+-]?\d+$/.test(p) || Number(p) < 0) badMask = true;
      else prefix = Number(p);
      body = body.slice(0, slash);
    }
  }
  const v4 = inetAton(body);
  // inet_pton() takes no scope (`%eth0`), where isIP() does.
  const family = v4 ? 4 : ipFamily(body) === 6 && !body.includes('%') ? 6 : 0;
  if (family === 0) return problem(`Invalid IP address \`${text}'`);
  const hasMask = badMask || prefix !== undefined;
  if (hasMask && !cidr) return problem(`CIDR notation unavailable for \`--${flag}'`);
  if (badMask || (prefix !== undefined && prefix > (family === 4 ? 32 : 128))) return problem('Invalid netmask');
  return { text: v4 ?? body, family: family, prefix };
}

let protocols: { names: string[]; num: number }[] | undefined;
function protocolsFile(): { names: string[]; num: number }[] {
  if (protocols) return protocols;
  try {
    return (protocols = readFileSync('/etc/protocols', 'utf8')
      .split('\n')
      .map((l) => l.replace(/#.*/, '').trim().split(/\s+/))
      .filter((f) => f.length >= 2 && /^\d+$/.test(f[1]!))
      .map((f) => ({ names: [f[0]!, ...f.slice(2)], num: Number(f[1]) })));
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
    if (cULong(text) > 255n) return undefined;
    const num = cNumber(text);
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

/** `named`: the text a bad last word is named by (parseStatus: the list from that word on). */
export function parseWords(arg: string, words: readonly [string, number][], warn: (l: string) => void,
  named?: string): number
{
  let value = 0;
  const one = (w: string, whole: string): void => {
    const lw = w.toLowerCase();
    if ('src_nat'.startsWith(lw) && w.length > 0 && words === STATUS_WORDS) {
      warn('WARNING: ignoring SRC_NAT, use --src-nat instead');
      return;
    }
    if ('dst_nat'.startsWith(lw) && w.length > 0 && words === STATUS_WORDS) {
      warn('WARNING: ignoring DST_NAT, use --dst-nat instead');
      return;
    }
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
  one(rest, named ?? rest);
  return value;
}

export function parseStatus(arg: string, st: { value: number; mask: number }, warn: (l: string) => void): void {
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
      // A bad word is named with the rest of the list after it, as conntrack names it.
      const v = parseWords(w, STATUS_WORDS, warn, negated ? rest.slice(1) : rest);
      if (negated) st.mask |= v;
      else st.value |= v;
    }
    rest = rest.slice(parts[i]!.length + 1);
  }
}

export function splitNat(arg: string): { address: string; port?: string } {
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

export function prefixMask(prefix: number, family: 4 | 6): string {
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
