// -I and -A: the entry a command line describes, created through the library. Also what -G
// looks up and what -R restores (through createMany).
import type { FlowInput } from '../../conntrack/flowspec.js';
import type { Conntrack } from '../../conntrack/handle.js';
import { STATUS_NAMES } from '../../conntrack/status.js';
import type { TupleInput } from '../../conntrack/tuple.js';
import type { StatusName } from '../../conntrack/types.js';
import { NfctError } from '../../core/errors.js';
import type { Context } from '../context.js';
import { operationFailed } from '../messages.js';
import { cAtoi, cNumber, type CtRequest, l4 } from '../parse.js';

/** The layer-4 part of the original tuple, as given: ICMP type, code and id, ports or GRE keys. */
function layer4(r: CtRequest): Record<string, number | undefined> {
  const kind = r.proto?.kind;
  if (kind === 'icmp' || kind === 'icmpv6') {
    const type = l4(r, `${kind}-type`);
    const code = l4(r, `${kind}-code`);
    const id = l4(r, `${kind}-id`);
    return { type: type === undefined ? undefined : cAtoi(type) & 0xff,
      code: code === undefined ? undefined : cAtoi(code) & 0xff, id: id === undefined ? 0 : cAtoi(id) & 0xffff }; // no --icmp-id: 0, as conntrack sends it
  }
  const fields = kind === undefined ? undefined : BOTH[kind];
  return fields ? portsOf(r, fields, fields.orig) : {};
}

/** A tuple's two ports (or GRE keys) as FlowInput keys: undefined where the line gives none. */
function portsOf(r: CtRequest, fields: Fields, options: [string, string]): Record<string, number | undefined> {
  const value = (n: string): number | undefined => {
    const v = l4(r, n);
    return v === undefined ? undefined : fields.read(v);
  };
  return { [fields.keys[0]]: value(options[0]), [fields.keys[1]]: value(options[1]) };
}

const defined = <T extends Record<string, unknown>>(o: T): T =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;

/**
 * The original tuple a -G line or an expectation command names. An address not given is zeros
 * (0.0.0.0 or ::), as conntrack sends it: -G with -s, -r and -q looks up an original whose
 * destination is 0.0.0.0. (-G by its reply tuple alone is refused before this; the expectation
 * commands require -s and -d.)
 */
export function tupleOf(r: CtRequest): TupleInput {
  const zero = r.family === 6 ? '::' : '0.0.0.0';
  return defined({ protocol: r.proto!.num, src: r.src?.text ?? zero, dst: r.dst?.text ?? zero, ...layer4(r),
    zone: r.zone, origZone: r.origZone });
}

/** Both tuples given (-s/-d and -r/-q, no NAT): conntrack sends each as it was given. */
function bothTuples(r: CtRequest): boolean {
  return Boolean((r.src ?? r.dst) && (r.replySrc ?? r.replyDst) && !r.snat && !r.dnat);
}

/** The layer-4 options of each tuple of a port (or GRE) entry, the FlowInput keys, and how the values read. */
interface Fields {
  orig: [string, string];
  reply: [string, string];
  keys: [string, string];
  read: (v: string) => number;
}
const PORT_FIELDS: Fields = { orig: ['sport', 'dport'], reply: ['reply-port-src', 'reply-port-dst'],
  keys: ['srcPort', 'dstPort'], read: (v) => cAtoi(v) & 0xffff };
const BOTH: Record<string, Fields> = {
  tcp: PORT_FIELDS,
  udp: PORT_FIELDS,
  sctp: PORT_FIELDS,
  dccp: PORT_FIELDS,
  gre: { orig: ['srckey', 'dstkey'], reply: ['reply-key-src', 'reply-key-dst'], keys: ['srcKey', 'dstKey'],
    read: (v) => cNumber(v) & 0xffff },
};

const isIcmp = (r: CtRequest): boolean => r.proto?.kind === 'icmp' || r.proto?.kind === 'icmpv6';

/**
 * A -I/-A line the kernel refuses (invalid parameters) for what conntrack sends it: both tuples
 * of a port (or GRE) entry but no reply port (key), which goes as a reply tuple without its
 * protocol; or an ICMP entry with the reply tuple alone, whose original conntrack makes by
 * swapping the reply's ICMP fields as if they were ports.
 */
export function refusedByKernel(r: CtRequest): boolean {
  const both = r.proto && BOTH[r.proto.kind];
  if (both && bothTuples(r)) return l4(r, both.reply[0]) === undefined && l4(r, both.reply[1]) === undefined;
  return isIcmp(r) && !r.src && !r.dst && Boolean(r.replySrc ?? r.replyDst);
}

/**
 * The tuples of a -I/-A line, as conntrack sends them: each tuple starts as zeros (address
 * 0.0.0.0 or ::, port 0) and takes what the line gives. With the original alone, the reply is
 * its inverse (made by the kernel here, ICMP types too); with the reply alone, the original is
 * the reply's inverse; with both, each goes as given. (The parser requires -p and an address of
 * either tuple for -I and -A.)
 */
function tuples(r: CtRequest): { orig: TupleInput; reply?: Record<string, unknown> } {
  const origGiven = Boolean(r.src ?? r.dst);
  const replyGiven = Boolean(r.replySrc ?? r.replyDst);
  const proto = r.proto!;
  const fields = BOTH[proto.kind];
  const zero = r.family === 6 ? '::' : '0.0.0.0';
  const zeroFilled = (ports: Record<string, number | undefined>) =>
    Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, v ?? 0]));
  const reply = { src: r.replySrc?.text ?? zero, dst: r.replyDst?.text ?? zero,
    ...(fields ? zeroFilled(portsOf(r, fields, fields.reply)) : {}) };
  const orig = origGiven
    ? { src: r.src?.text ?? zero, dst: r.dst?.text ?? zero,
      ...(fields ? zeroFilled(portsOf(r, fields, fields.orig)) : layer4(r)) }
    : { src: reply.dst, dst: reply.src, ...(fields ? swapped(reply, fields.keys) : layer4(r)) };
  return { orig: { protocol: proto.num, ...orig }, ...(replyGiven ? { reply } : {}) };
}

/** A tuple's two ports (or keys) the other way round, as the inverse tuple has them. */
function swapped(t: Record<string, unknown>, [a, b]: [string, string]): Record<string, unknown> {
  return { [a]: t[b], [b]: t[a] };
}

/** The entry a -I/-A command line describes. */
export function flowInputOf(r: CtRequest): FlowInput {
  const given = tuples(r);
  const input = defined({ ...given.orig, zone: r.zone, origZone: r.origZone }) as unknown as
    & FlowInput
    & Record<string, unknown>;
  input.timeout = r.timeout ?? 0;
  // With NAT the kernel derives the reply tuple from the NAT target (what -o save prints
  // beside -n/-g is that derived tuple).
  if (given.reply && !r.snat && !r.dnat) input.reply = given.reply;
  if (r.status.value) {
    const names: StatusName[] = [];
    for (let b = 0; b < 32; b++) if (r.status.value & (1 << b)) names.push(STATUS_NAMES[b]!);
    input.status = names;
  }
  if (r.mark) input.mark = r.mark.value;
  if (r.replyZone !== undefined) input.replyZone = r.replyZone;
  if (r.labelAdd) input.labels = r.labelAdd;
  const state = l4(r, 'state');
  if (state !== undefined && r.proto?.kind === 'tcp') {
    input.state = (state === 'LISTEN' ? 'SYN_SENT2' : state) as FlowInput['state'];
  }
  if (state !== undefined && r.proto?.kind === 'sctp') input.state = state as FlowInput['state'];
  const ov = l4(r, 'orig-vtag');
  const rv = l4(r, 'reply-vtag');
  // conntrack hands the kernel these tags byte-swapped (and reads them back the same way):
  // swap them too, so the entry is the one conntrack would make.
  if (ov !== undefined || rv !== undefined) {
    input.vtag = { original: ov === undefined ? 0 : bswap32(cAtoi(ov)),
      reply: rv === undefined ? 0 : bswap32(cAtoi(rv)) };
  }
  if (r.snat) input.snat = defined({ address: r.snat.address, port: r.snat.port });
  if (r.dnat) input.dnat = defined({ address: r.dnat.address, port: r.dnat.port });
  return input;
}

export function bswap32(v: number): number {
  return (((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | ((v >>> 24) & 0xff)) >>> 0;
}

export async function create(ct: Conntrack, r: CtRequest, ctx: Context): Promise<number> {
  const add = r.command === 'add';
  let made = 0;
  try {
    // The tuples of refusedByKernel() (a zone for each direction at once the library refuses
    // as the kernel does, below).
    if (refusedByKernel(r)) operationFailed(22, r.command);
    const input = flowInputOf(r);
    if (add) made = (await ct.add(input)) ? 1 : 0;
    else {
      await ct.create(input);
      made = 1;
    }
  } catch (e) {
    if (e instanceof NfctError) operationFailed(e.errno, r.command);
    // What the library refuses before the kernel (a zone for each direction at once) is what
    // the kernel refuses conntrack with: invalid parameters.
    if (e instanceof TypeError || e instanceof RangeError) operationFailed(22, r.command);
    throw e;
  }
  ctx.say(`${made} flow entries have been ${add ? 'added' : 'created'}.`);
  return 0;
}
