/**
 * Packet header decoding from the network header on: IPv4 and IPv6 (with the IPv6 extension
 * header chain), then TCP, UDP, UDP-Lite, SCTP, ICMP, ICMPv6, GRE, ESP and AH.
 *
 * What an NFLOG payload (or a pcap record from its network header) holds is decoded into plain
 * objects. Nothing here throws on packet bytes: a short buffer yields what could be decoded plus
 * `truncated: true` and the layer that was cut; a header that contradicts itself yields
 * `malformed` with the reason. Only a wrong argument type is refused (TypeError).
 *
 * Each layer also has its own decoder (`decodeIpv4Header`, `decodeTcpHeader`, ...) taking an
 * offset; those return `undefined` when the fixed part of the header does not fit. The LOG line
 * formatter (lib/nflog/logline-format.ts) uses them to follow the kernel's own walk byte for byte.
 */

import { IPPROTO, protocolLabel } from '../core/protocols.js';
import { describeValue } from '../core/validate.js';
import { decodeAhHeader, decodeEspHeader, decodeGreHeader, decodeIcmpHeader, decodeIcmpv6Header } from './headers.js';
import { decodeIpv4Header, decodeIpv6Header, decodeSctpHeader, decodeTcpHeader, decodeUdpHeader } from './headers.js';
import { copy, decodeUdpLiteHeader, ICMP_MIN_LENGTH, u16, u32 } from './headers.js';
import type { DecodedPacket, Ipv4Header, Ipv6FragmentExtension, Ipv6Header, LayerName } from './types.js';

// ---- the whole packet ----------------------------------------------------------------------

/** Maps NFPROTO numbers and names to the two families decoded here. */
function familyOf(family: unknown): 'ipv4' | 'ipv6' | undefined {
  if (family === 'ipv4' || family === 2) return 'ipv4';
  if (family === 'ipv6' || family === 10) return 'ipv6';
  return undefined;
}

/** A Buffer view (no copy) of a Buffer or Uint8Array; undefined for anything else. */
function asBuffer(value: unknown): Buffer | undefined {
  if (Buffer.isBuffer(value)) return value;
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  return undefined;
}

/** The packet as decoded so far, with the reason its headers contradict themselves. */
function malformed(p: DecodedPacket, why: string): DecodedPacket {
  p.malformed = why;
  return p;
}

function cut(p: DecodedPacket, layer: LayerName): DecodedPacket {
  p.truncated = true;
  p.truncatedLayer = layer;
  return p;
}

/**
 * Decodes a packet starting at its network header.
 *
 * @param buffer The bytes, from the IP header on (an NFLOG payload, a raw-socket read, the data
 *   of a pcap record of link type RAW). Not modified and not retained: option fields are copies.
 * @param family 'ipv4' or 'ipv6', or an NFPROTO number (2 IPv4, 10 IPv6).
 * @returns What could be decoded. Never throws on the bytes: a short buffer gives
 *   `truncated: true` with `truncatedLayer`, a self-contradicting header gives `malformed`.
 * @throws TypeError when `buffer` is not a Buffer/Uint8Array or `family` is not one of the above.
 *
 * @example
 * const p = decodePacket(nflogPacket.payload, 'ipv4');
 * if (p.tcp?.flags.includes('SYN')) console.log(p.ipv4?.src, p.tcp.srcPort);
 */
export function decodePacket(buffer: Buffer | Uint8Array, family: 'ipv4' | 'ipv6' | number): DecodedPacket {
  const buf = asBuffer(buffer);
  if (!buf) throw new TypeError(`buffer must be a Buffer or Uint8Array, got ${describeValue(buffer)}`);
  const fam = familyOf(family);
  if (!fam) {
    throw new TypeError(
      `family must be 'ipv4', 'ipv6', 2 (NFPROTO_IPV4) or 10 (NFPROTO_IPV6), got ${describeValue(family)}`,
    );
  }
  return decodeAt(buf, fam, true);
}

/**
 * The packet from its IP header on: that header, or where it was cut or why it is not one.
 * `nested`: whether an ICMP error's quoted packet may be decoded (one level only).
 */
function decodeAt(buf: Buffer, family: 'ipv4' | 'ipv6', nested: boolean): DecodedPacket {
  const p: DecodedPacket = { family, length: buf.length };
  const v4 = family === 'ipv4';
  const ip = v4 ? decodeIpv4Header(buf, 0) : decodeIpv6Header(buf, 0);
  if (!ip) return cut(p, family);
  if (v4) p.ipv4 = ip as Ipv4Header;
  else p.ipv6 = ip as Ipv6Header;
  const version = v4 ? 4 : 6;
  if (ip.version !== version) return malformed(p, `IPv${version} version field is ${ip.version}`);
  return v4 ? decodeIpv4(p, ip as Ipv4Header, buf, nested) : decodeIpv6(p, ip as Ipv6Header, buf, nested);
}

function decodeIpv4(p: DecodedPacket, ip: Ipv4Header, buf: Buffer, nested: boolean): DecodedPacket {
  if (ip.ihl < 5) return malformed(p, `IPv4 header length ${ip.ihl * 4} is less than 20`);
  if (ip.totalLength < ip.headerLength) {
    return malformed(p, `IPv4 total length ${ip.totalLength} is less than the header length ${ip.headerLength}`);
  }
  p.protocol = ip.protocol;
  const name = protocolLabel(ip.protocol);
  if (name) p.protocolName = name;
  if (ip.flags.mf || ip.fragmentOffset !== 0) {
    p.fragment = { offset: ip.fragmentOffset * 8, more: ip.flags.mf, id: ip.id, first: ip.fragmentOffset === 0 };
  }
  if (buf.length < ip.headerLength) return cut(p, 'ipv4');
  // The end of the packet: the IP length when the buffer holds it all, else the buffer's end.
  const end = Math.min(buf.length, ip.totalLength);
  const view = end < buf.length ? buf.subarray(0, end) : buf;
  if (ip.fragmentOffset !== 0) {
    p.noTransport = 'fragment';
    return finish(p, view, ip.headerLength, ip.totalLength);
  }
  return decodeTransport(p, view, ip.headerLength, ip.protocol, ip.totalLength, nested);
}

function decodeIpv6(p: DecodedPacket, ip: Ipv6Header, buf: Buffer, nested: boolean): DecodedPacket {
  // A zero Payload Length with more bytes present is a jumbogram (RFC 2675) or a BIG TCP
  // packet as the kernel builds them: the buffer's end is then the only bound there is.
  const total = ip.payloadLength === 0 && buf.length > 40 ? buf.length : 40 + ip.payloadLength;
  const view = total < buf.length ? buf.subarray(0, total) : buf;
  let next = ip.nextHeader;
  let off = 40;
  let nonFirstFragment = false;
  // Bounded: every header is at least 8 bytes and the buffer is finite; the cap guards the rest.
  for (let hops = 0; hops < 64; hops++) {
    if (next === IPPROTO.HOPOPTS || next === IPPROTO.DSTOPTS || next === IPPROTO.ROUTING) {
      if (next === IPPROTO.HOPOPTS && hops !== 0) {
        return malformed(p, `hop-by-hop options header at offset ${off} is not the first extension header`);
      }
      if (view.length - off < 2) return setProto(cut(p, 'ipv6-extension'), next);
      const len = (view[off + 1]! + 1) * 8;
      if (view.length - off < len) return setProto(cut(p, 'ipv6-extension'), next);
      const nh = view[off]!;
      if (next === IPPROTO.ROUTING) {
        ip.extensions.push({
          type: 'routing',
          protocol: next,
          offset: off,
          length: len,
          nextHeader: nh,
          routingType: view[off + 2]!,
          segmentsLeft: view[off + 3]!,
          data: copy(view, off + 4, len - 4),
        });
      } else {
        ip.extensions.push({
          type: next === IPPROTO.HOPOPTS ? 'hop-by-hop' : 'destination',
          protocol: next,
          offset: off,
          length: len,
          nextHeader: nh,
          options: copy(view, off + 2, len - 2),
        });
      }
      next = nh;
      off += len;
    } else if (next === IPPROTO.FRAGMENT) {
      if (view.length - off < 8) return setProto(cut(p, 'ipv6-extension'), next);
      const fo = u16(view, off + 2);
      const f: Ipv6FragmentExtension = {
        type: 'fragment',
        protocol: next,
        offset: off,
        length: 8,
        nextHeader: view[off]!,
        fragmentOffset: fo & 0xfff8,
        more: (fo & 1) !== 0,
        id: u32(view, off + 4),
      };
      ip.extensions.push(f);
      p.fragment = { offset: f.fragmentOffset, more: f.more, id: f.id, first: f.fragmentOffset === 0 };
      next = f.nextHeader;
      off += 8;
      if (f.fragmentOffset !== 0) {
        nonFirstFragment = true;
        break;
      }
    } else if (next === IPPROTO.AH) {
      const ah = decodeAhHeader(view, off);
      if (!ah) return setProto(cut(p, 'ah'), next);
      ip.extensions.push({ type: 'ah', protocol: next, offset: off, length: ah.headerLength, nextHeader: ah.nextHeader,
        ah });
      p.ah = ah;
      if (ah.headerLength < 12) {
        p.malformed = `AH length ${ah.headerLength} is less than 12`;
        return setProto(p, next);
      }
      next = ah.nextHeader;
      off += ah.headerLength;
    } else {
      break;
    }
  }
  setProto(p, next);
  if (off > view.length) return cut(p, 'ipv6-extension');
  if (nonFirstFragment) {
    p.noTransport = 'fragment';
    return finish(p, view, off, total);
  }
  if (next === IPPROTO.NONE) {
    p.noTransport = 'no-next-header';
    return finish(p, view, off, total);
  }
  return decodeTransport(p, view, off, next, total, nested);
}

function setProto(p: DecodedPacket, protocol: number): DecodedPacket {
  p.protocol = protocol;
  const name = protocolLabel(protocol);
  if (name) p.protocolName = name;
  else delete p.protocolName;
  return p;
}

/** Records where the data starts and whether the IP length promised more than the buffer holds. */
function finish(p: DecodedPacket, view: Buffer, dataOffset: number, ipEnd: number): DecodedPacket {
  p.payloadOffset = Math.min(dataOffset, view.length);
  p.payloadLength = Math.max(0, view.length - dataOffset);
  if (view.length < ipEnd && !p.truncated) cut(p, 'payload');
  return p;
}

function decodeTransport(
  p: DecodedPacket,
  view: Buffer,
  off: number,
  protocol: number,
  ipEnd: number,
  nested: boolean,
): DecodedPacket {
  p.transportOffset = off;
  switch (protocol) {
    case IPPROTO.TCP: {
      const h = decodeTcpHeader(view, off);
      if (!h) return cut(p, 'tcp');
      p.tcp = h;
      if (h.dataOffset < 5) return malformed(p, `TCP data offset ${h.dataOffset} is less than 5`);
      if (view.length - off < h.headerLength) return cut(p, 'tcp');
      return finish(p, view, off + h.headerLength, ipEnd);
    }
    case IPPROTO.UDP: {
      const h = decodeUdpHeader(view, off);
      if (!h) return cut(p, 'udp');
      p.udp = h;
      if (h.length < 8 && !(h.length === 0 && p.family === 'ipv6')) {
        // IPv6 jumbograms carry 0 here; anything else under 8 cannot be.
        p.malformed = `UDP length ${h.length} is less than 8`;
      }
      return finish(p, view, off + 8, ipEnd);
    }
    case IPPROTO.UDPLITE: {
      const h = decodeUdpLiteHeader(view, off);
      if (!h) return cut(p, 'udplite');
      p.udplite = h;
      return finish(p, view, off + 8, ipEnd);
    }
    case IPPROTO.SCTP: {
      const h = decodeSctpHeader(view, off);
      if (!h) return cut(p, 'sctp');
      p.sctp = h;
      return finish(p, view, off + 12, ipEnd);
    }
    case IPPROTO.ICMP: {
      const h = decodeIcmpHeader(view, off);
      if (!h) return cut(p, 'icmp');
      p.icmp = h;
      const isError = h.type === 3 || h.type === 4 || h.type === 5 || h.type === 11 || h.type === 12;
      if (nested && isError && view.length > off + 8) {
        h.original = decodeAt(view.subarray(off + 8), 'ipv4', false);
      }
      // Shorter than its type's fixed part (an error must quote an IP header and 8 bytes).
      const min = ICMP_MIN_LENGTH[h.type];
      if (min !== undefined && view.length - off < min) {
        finish(p, view, off + 8, ipEnd);
        return cut(p, 'icmp');
      }
      return finish(p, view, off + 8, ipEnd);
    }
    case IPPROTO.ICMPV6: {
      const h = decodeIcmpv6Header(view, off);
      if (!h) return cut(p, 'icmpv6');
      p.icmpv6 = h;
      if (nested && h.type >= 1 && h.type <= 4 && view.length > off + 8) {
        h.original = decodeAt(view.subarray(off + 8), 'ipv6', false);
      }
      return finish(p, view, off + 8, ipEnd);
    }
    case IPPROTO.GRE: {
      const h = decodeGreHeader(view, off);
      if (!h) return cut(p, 'gre');
      p.gre = h;
      return finish(p, view, off + h.headerLength, ipEnd);
    }
    case IPPROTO.ESP: {
      const h = decodeEspHeader(view, off);
      if (!h) return cut(p, 'esp');
      p.esp = h;
      p.noTransport = 'esp';
      if (p.ipv6) {
        p.ipv6.extensions.push({ type: 'esp', protocol: IPPROTO.ESP, offset: off, length: 8, esp: h });
      }
      return finish(p, view, Math.min(off + 8, view.length), ipEnd);
    }
    case IPPROTO.AH: {
      // IPv4 only: IPv6 walks AH as an extension header. Decode it, then what it protects.
      const h = decodeAhHeader(view, off);
      if (!h) return cut(p, 'ah');
      p.ah = h;
      if (h.headerLength < 12) return malformed(p, `AH length ${h.headerLength} is less than 12`);
      if (view.length < off + h.headerLength) return cut(p, 'ah');
      setProto(p, h.nextHeader);
      if (h.nextHeader === IPPROTO.AH) {
        // AH over AH: report it as is rather than recurse.
        p.noTransport = 'unknown-protocol';
        return finish(p, view, off + h.headerLength, ipEnd);
      }
      return decodeTransport(p, view, off + h.headerLength, h.nextHeader, ipEnd, nested);
    }
    default:
      p.noTransport = 'unknown-protocol';
      delete p.transportOffset;
      return finish(p, view, off, ipEnd);
  }
}
