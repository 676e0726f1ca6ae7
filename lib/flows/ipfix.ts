// IPFIX (RFC 7011) encoding of flow records: templates and data sets, a batch of records at a
// time into one reusable buffer, cut into messages no larger than the transport allows.
//
// One record per connection, as a biflow (RFC 5103): the original direction's addresses and
// counters in the ordinary information elements, the reply direction's counters in the reverse
// elements (private enterprise 29305), the NAT translation in postNAT*/postNAPT* (RFC 5102 and
// the IANA registry), flowEndReason, biflowDirection 1 (the source is the initiator). A record
// carries only what the kernel knew: a template per shape (IPv4/IPv6, with or without counters,
// with or without a start time), so an absent value is an absent field, never a zero.
import { addressBytes, dottedQuadAt } from '../core/address.js';
import type { FlowEndReason, FlowRecord } from './record.js';

/** IANA information element ids used (https://www.iana.org/assignments/ipfix). */
export const IE = {
  octetDeltaCount: 1,
  packetDeltaCount: 2,
  protocolIdentifier: 4,
  sourceTransportPort: 7,
  sourceIPv4Address: 8,
  destinationTransportPort: 11,
  destinationIPv4Address: 12,
  sourceIPv6Address: 27,
  destinationIPv6Address: 28,
  icmpTypeCodeIPv4: 32,
  flowEndReason: 136,
  icmpTypeCodeIPv6: 139,
  flowStartMilliseconds: 152,
  flowEndMilliseconds: 153,
  postNATSourceIPv4Address: 225,
  postNATDestinationIPv4Address: 226,
  postNAPTSourceTransportPort: 227,
  postNAPTDestinationTransportPort: 228,
  biflowDirection: 239,
  postNATSourceIPv6Address: 281,
  postNATDestinationIPv6Address: 282,
} as const;

/** RFC 5103: reverse information elements are the forward ones under this enterprise number. */
export const REVERSE_PEN = 29305;

/** flowEndReason values (RFC 5102). */
export const END_REASON: Record<FlowEndReason, number> = { 'idle-timeout': 1, 'active-timeout': 2, 'end-of-flow': 3,
  'forced-end': 4 };

/** Shape bits: a template for each combination. */
export const SHAPE = { V6: 1, COUNTERS: 2, START: 4 } as const;
/** Template ids: FIRST_TEMPLATE + shape. */
export const FIRST_TEMPLATE = 256;
export const TEMPLATE_COUNT = 8;

export const MESSAGE_HEADER = 16;
const SET_HEADER = 4;

interface Field {
  id: number;
  length: number;
  pen?: number;
}

/** The fields of a shape's template, in record order. */
export function templateFields(shape: number): Field[] {
  const v6 = (shape & SHAPE.V6) !== 0;
  const a = v6 ? 16 : 4;
  const f: Field[] = [
    { id: v6 ? IE.sourceIPv6Address : IE.sourceIPv4Address, length: a },
    { id: v6 ? IE.destinationIPv6Address : IE.destinationIPv4Address, length: a },
    { id: IE.sourceTransportPort, length: 2 },
    { id: IE.destinationTransportPort, length: 2 },
    { id: IE.protocolIdentifier, length: 1 },
    { id: v6 ? IE.icmpTypeCodeIPv6 : IE.icmpTypeCodeIPv4, length: 2 },
    { id: v6 ? IE.postNATSourceIPv6Address : IE.postNATSourceIPv4Address, length: a },
    { id: v6 ? IE.postNATDestinationIPv6Address : IE.postNATDestinationIPv4Address, length: a },
    { id: IE.postNAPTSourceTransportPort, length: 2 },
    { id: IE.postNAPTDestinationTransportPort, length: 2 },
  ];
  if (shape & SHAPE.COUNTERS) {
    f.push(
      { id: IE.octetDeltaCount, length: 8 },
      { id: IE.packetDeltaCount, length: 8 },
      { id: IE.octetDeltaCount, length: 8, pen: REVERSE_PEN },
      { id: IE.packetDeltaCount, length: 8, pen: REVERSE_PEN },
    );
  }
  if (shape & SHAPE.START) f.push({ id: IE.flowStartMilliseconds, length: 8 });
  f.push({ id: IE.flowEndMilliseconds, length: 8 }, { id: IE.flowEndReason, length: 1 }, { id: IE.biflowDirection,
    length: 1 });
  return f;
}

/** Bytes of one data record of a shape. */
export function recordLength(shape: number): number {
  return templateFields(shape).reduce((n, f) => n + f.length, 0);
}

const LENGTHS = Array.from({ length: TEMPLATE_COUNT }, (_, s) => recordLength(s));

/** The shape of a record: what it has. */
export function shapeOf(r: FlowRecord): number {
  return (r.flow.family === 'ipv6' ? SHAPE.V6 : 0) | (r.counters ? SHAPE.COUNTERS : 0) |
    (r.start !== undefined ? SHAPE.START : 0);
}

/** A template set holding the templates of these shapes. */
export function templateSet(shapes: Iterable<number>): Buffer {
  const parts: number[] = [];
  const u16 = (v: number) => parts.push(v >>> 8, v & 0xff);
  for (const shape of shapes) {
    const fields = templateFields(shape);
    u16(FIRST_TEMPLATE + shape);
    u16(fields.length);
    for (const f of fields) {
      u16(f.pen === undefined ? f.id : f.id | 0x8000);
      u16(f.length);
      if (f.pen !== undefined) parts.push(f.pen >>> 24, (f.pen >>> 16) & 0xff, (f.pen >>> 8) & 0xff, f.pen & 0xff);
    }
  }
  const b = Buffer.alloc(SET_HEADER + parts.length);
  b.writeUInt16BE(2, 0);
  b.writeUInt16BE(b.length, 2);
  Buffer.from(parts).copy(b, SET_HEADER);
  return b;
}

/** An unsigned 64-bit value below 2^53, big-endian. */
function u64(v: DataView, at: number, n: number): void {
  v.setUint32(at, Math.floor(n / 0x100000000));
  v.setUint32(at + 4, n >>> 0);
}

/** Writes a message header over the first 16 bytes of `msg` (RFC 7011 section 3.1). */
export function writeHeader(msg: Buffer, exportTime: number, sequence: number, domain: number): void {
  msg.writeUInt16BE(10, 0);
  msg.writeUInt16BE(msg.length, 2);
  msg.writeUInt32BE(exportTime >>> 0, 4);
  msg.writeUInt32BE(sequence >>> 0, 8);
  msg.writeUInt32BE(domain >>> 0, 12);
}

/** @internal Data sets for one message: their bytes, how many records, which templates they use. */
export interface Chunk {
  body: Buffer;
  records: number;
  shapes: number;
}

/**
 * @internal
 * Encodes batches of records into chunks of data sets, each small enough to go in one message
 * of `maxMessage` bytes together with `reserve` bytes of templates.
 */
export class IpfixEncoder {
  private buf: Buffer;
  private view: DataView;

  constructor(private readonly maxMessage: number, private readonly reserve: number) {
    this.buf = Buffer.alloc(maxMessage);
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  }

  /** The chunks of a batch of records, in order. */
  encode(records: readonly FlowRecord[]): Chunk[] {
    const out: Chunk[] = [];
    const room = this.maxMessage - MESSAGE_HEADER - this.reserve;
    const buf = this.buf;
    const view = this.view;
    let at = 0;
    let setStart = -1;
    let setShape = -1;
    let count = 0;
    let shapes = 0;
    const closeSet = (): void => {
      if (setStart >= 0) view.setUint16(setStart + 2, at - setStart);
      setStart = -1;
      setShape = -1;
    };
    const flush = (): void => {
      closeSet();
      if (count > 0) out.push({ body: Buffer.from(buf.subarray(0, at)), records: count, shapes });
      at = 0;
      count = 0;
      shapes = 0;
    };
    for (const r of records) {
      const shape = shapeOf(r);
      const len = LENGTHS[shape]!;
      const need = len + (shape === setShape ? 0 : SET_HEADER);
      if (at + need > room) flush();
      if (shape !== setShape) {
        closeSet();
        setStart = at;
        setShape = shape;
        view.setUint16(at, FIRST_TEMPLATE + shape);
        at += SET_HEADER;
        shapes |= 1 << shape;
      }
      at = this.write(r, shape, at);
      count++;
    }
    flush();
    return out;
  }

  private addr(text: string, v6: boolean, at: number): number {
    if (!v6) {
      if (!dottedQuadAt(text, 0, text.length, this.buf, at)) addressBytes(text)?.copy(this.buf, at);
      return at + 4;
    }
    const b = addressBytes(text);
    if (b) b.copy(this.buf, at);
    else this.buf.fill(0, at, at + 16);
    return at + 16;
  }

  private write(r: FlowRecord, shape: number, start: number): number {
    const v = this.view;
    const v6 = (shape & SHAPE.V6) !== 0;
    const pre = r.nat.original.pre;
    const post = r.nat.original.post;
    let at = this.addr(pre.src, v6, start);
    at = this.addr(pre.dst, v6, at);
    v.setUint16(at, pre.srcPort ?? 0);
    v.setUint16(at + 2, pre.dstPort ?? 0);
    v.setUint8(at + 4, r.flow.protonum);
    const o = r.flow.original as { type?: number; code?: number };
    v.setUint16(at + 5, o.type === undefined ? 0 : (o.type << 8) | (o.code ?? 0));
    at = this.addr(post.src, v6, at + 7);
    at = this.addr(post.dst, v6, at);
    v.setUint16(at, post.srcPort ?? 0);
    v.setUint16(at + 2, post.dstPort ?? 0);
    at += 4;
    if (shape & SHAPE.COUNTERS) {
      const c = r.counters!;
      u64(v, at, c.original.bytes);
      u64(v, at + 8, c.original.packets);
      u64(v, at + 16, c.reply.bytes);
      u64(v, at + 24, c.reply.packets);
      at += 32;
    }
    if (shape & SHAPE.START) {
      u64(v, at, Number(r.start! / 1_000_000n));
      at += 8;
    }
    u64(v, at, Number(r.end / 1_000_000n));
    v.setUint8(at + 8, END_REASON[r.reason]);
    v.setUint8(at + 9, 1);
    return at + 10;
  }
}
