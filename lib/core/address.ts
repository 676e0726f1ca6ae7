import { AF_INET, AF_INET6 } from './protocols.js';

import { builtin } from './builtins.js';

/** node:net, loaded on first use: dotted quads need none of it (see builtins.ts). */
const net = (): typeof import('node:net') => builtin('node:net');

export interface ParsedAddress {
  family: typeof AF_INET | typeof AF_INET6;
  bytes: Buffer;
}

export interface ParsedCidr extends ParsedAddress {
  prefix: number;
}

function ipv4Bytes(text: string): Buffer {
  return Buffer.from(text.split('.').map((p) => Number(p)));
}

function ipv6Bytes(text: string): Buffer {
  let s = text;
  const out = Buffer.alloc(16);
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two groups.
  const lastColon = s.lastIndexOf(':');
  const tail = s.slice(lastColon + 1);
  if (tail.includes('.')) {
    const v4 = ipv4Bytes(tail);
    s = `${s.slice(0, lastColon + 1)}${v4.readUInt16BE(0).toString(16)}:${v4.readUInt16BE(2).toString(16)}`;
  }
  const [head, rest] = s.split('::') as [string, string | undefined];
  const headGroups = head ? head.split(':') : [];
  const restGroups = rest ? rest.split(':') : [];
  const groups = rest === undefined
    ? headGroups
    : [...headGroups, ...new Array<string>(8 - headGroups.length - restGroups.length).fill('0'), ...restGroups];
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

/**
 * Dotted-quad IPv4 in one pass (the common case, hot in createMany and save files), read from
 * text[from, to) in place: four decimal parts of 0-255 without leading zeros, as node's isIPv4
 * accepts them. Writes the four bytes into out[offset..] when given; false for anything else.
 */
export function dottedQuadAt(text: string, from: number, to: number, out?: Uint8Array, offset = 0): boolean {
  const n = to - from;
  if (n < 7 || n > 15) return false;
  let part = 0;
  let value = 0;
  let digits = 0;
  for (let i = from; i <= to; i++) {
    const c = i < to ? text.charCodeAt(i) : 46;
    if (c === 46) {
      if (digits === 0 || part > 3 || value > 255) return false;
      if (out) out[offset + part] = value;
      part++;
      value = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && value === 0) return false; // a leading zero
      value = value * 10 + (c - 48);
      if (++digits > 3) return false;
    } else {
      return false;
    }
  }
  return part === 4;
}

function fastIpv4(text: string): Buffer | undefined {
  const out = Buffer.allocUnsafe(4);
  return dottedQuadAt(text, 0, text.length, out) ? out : undefined;
}

/** 4 or 6 for an IPv4 or IPv6 address, 0 for anything else (node's isIP, quicker for IPv4). */
export function ipFamily(text: string): 0 | 4 | 6 {
  if (dottedQuadAt(text, 0, text.length) || net().isIPv4(text)) return 4;
  return net().isIPv6(text) ? 6 : 0;
}

/** An address's bytes (4 for IPv4, 16 for IPv6), or undefined when it is not one. */
export function addressBytes(text: string): Buffer | undefined {
  const v4 = fastIpv4(text);
  if (v4) return v4;
  if (net().isIPv4(text)) return ipv4Bytes(text);
  if (net().isIPv6(text) && !text.includes('%')) return ipv6Bytes(text);
  return undefined;
}

/** Parses an IPv4 or IPv6 address; returns undefined when it is not one. */
export function parseAddress(text: string): ParsedAddress | undefined {
  const v4 = fastIpv4(text);
  if (v4) return { family: AF_INET, bytes: v4 };
  if (net().isIPv4(text)) return { family: AF_INET, bytes: ipv4Bytes(text) };
  if (net().isIPv6(text) && !text.includes('%')) return { family: AF_INET6, bytes: ipv6Bytes(text) };
  return undefined;
}

/** Parses an address with an optional /prefix; returns undefined when malformed. */
export function parseCidr(text: string): ParsedCidr | undefined {
  const slash = text.indexOf('/');
  const addr = parseAddress(slash < 0 ? text : text.slice(0, slash));
  if (!addr) return undefined;
  const max = addr.family === AF_INET ? 32 : 128;
  if (slash < 0) return { ...addr, prefix: max };
  const p = text.slice(slash + 1);
  if (!/^(0|[1-9]\d{0,2})$/.test(p) || Number(p) > max) return undefined;
  return { ...addr, prefix: Number(p) };
}
