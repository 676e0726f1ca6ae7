// The pieces every conntrack-tools text format shares (text.ts, text-xml.ts, text-expect.ts):
// tuples as `src=... dst=... sport=...`, protocol names padded as `%-8s %u `, the status bits
// conntrack tests, and its time formats.
import { AF_INET, AF_INET6, protocolName } from '../core/protocols.js';
import { statusBit, type StatusName } from './status.js';
import type { DccpInfo, Flow, PortTuple, SctpInfo, TcpInfo, Tuple } from './types.js';

export const NS_PER_S = 1_000_000_000n;

export const PORT_PROTOS = new Set([6, 17, 136, 132, 33]);

const bit = (name: StatusName): number => 1 << statusBit(name)!;
export const IPS_SEEN_REPLY = bit('SEEN_REPLY');
export const IPS_ASSURED = bit('ASSURED');
export const IPS_SRC_NAT_DONE = bit('SRC_NAT_DONE');
export const IPS_DST_NAT_DONE = bit('DST_NAT_DONE');
export const IPS_OFFLOAD = bit('OFFLOAD');
export const IPS_HW_OFFLOAD = bit('HW_OFFLOAD');

/** `%-8s`: left-aligned in 8 columns (longer strings are not cut). */
export function left8(s: string): string {
  return s.length >= 8 ? s : s + ' '.repeat(8 - s.length);
}

/** `%-8s %u ` of each protocol number (its name, then the number), made once per number. */
export const PROTO_ITEMS: string[] = [];
export function protoItems(num: number): string {
  return (PROTO_ITEMS[num] ??= `${left8(l4name(num))} ${num} `);
}
export const FAMILY_ITEMS = { [AF_INET]: `${left8('ipv4')} ${AF_INET} `, [AF_INET6]: `${left8('ipv6')} ${AF_INET6} ` };

export function l3num(flow: { family: string }): typeof AF_INET | typeof AF_INET6 {
  return flow.family === 'ipv6' ? AF_INET6 : AF_INET;
}

export function l4name(num: number): string {
  return protocolName(num);
}

export function field(t: Tuple, key: string): number {
  return (t as unknown as Partial<Record<string, number>>)[key] ?? 0;
}

/** `src=... dst=... ` and the layer-4 part of one tuple, as __snprintf_address/__snprintf_proto. */
export function tupleText(t: Tuple, srcTag = 'src', dstTag = 'dst'): string {
  let s = `${srcTag}=${t.src} ${dstTag}=${t.dst} `;
  const p = t.protonum;
  if (PORT_PROTOS.has(p)) {
    const ports = t as Partial<PortTuple>;
    s += `sport=${ports.srcPort ?? 0} dport=${ports.dstPort ?? 0} `;
  } else if (p === 47) {
    s += `srckey=0x${field(t, 'srcKey').toString(16)} dstkey=0x${field(t, 'dstKey').toString(16)} `;
  } else if (p === 1 || p === 58) {
    s += `type=${field(t, 'type')} code=${field(t, 'code')} id=${field(t, 'id')} `;
  }
  return s;
}

export function nowNs(now: bigint | undefined): bigint {
  return now ?? BigInt(Date.now()) * 1_000_000n;
}

/** `%llu` of a time_t difference (a negative one wraps, as it does in C). */
export function u64(n: bigint): string {
  return BigInt.asUintN(64, n).toString();
}

export const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
export const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
export const pad2 = (n: number): string => (n < 10 ? `0${n}` : String(n));

/** ctime() without its newline, in the local time zone: `Sun Nov  2 15:33:56 2026`. */
export function ctime(seconds: bigint): string {
  const d = new Date(Number(seconds) * 1000);
  const day = d.getDate();
  return (
    `${DAYS[d.getDay()]} ${MONTHS[d.getMonth()]} ${day < 10 ? ' ' : ''}${day} ` +
    `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())} ${d.getFullYear()}`
  );
}

export function labelNames(bits: readonly number[], map: Readonly<Record<number, string>>): string[] {
  const out: string[] = [];
  for (const bit of [...bits].sort((a, b) => a - b)) {
    const name = Object.hasOwn(map, bit) ? map[bit] : undefined;
    if (name) out.push(name);
  }
  return out;
}

/** The protocol info the kernel sent, whatever the flow's protocol (as conntrack tests the attributes). */
export function protoInfo(flow: Flow): { tcp?: TcpInfo; sctp?: SctpInfo; dccp?: DccpInfo } {
  return flow as { tcp?: TcpInfo; sctp?: SctpInfo; dccp?: DccpInfo };
}

/** `<when>` of NFCT_OF_TIME: local broken-down time. */
export function xmlWhen(ns: bigint): string {
  const d = new Date(Number(ns / NS_PER_S) * 1000);
  return (
    `<when><hour>${d.getHours()}</hour><min>${pad2(d.getMinutes())}</min><sec>${pad2(d.getSeconds())}</sec>` +
    `<wday>${d.getDay() + 1}</wday><day>${d.getDate()}</day><month>${d.getMonth() + 1}</month>` +
    `<year>${d.getFullYear()}</year></when>`
  );
}
