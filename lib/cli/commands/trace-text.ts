// How `nfct trace` prints a traced packet: a packet line (protocol, addresses and ports,
// interfaces, hook, conntrack state), one line per hop with the rule in its ruleset's own words
// (iptables-save form for iptables rules, nft form for nft rules, the Service a jump leads to),
// a line whenever the packet shows up rewritten (after a DNAT: its new destination), and its
// fate.
import type { KernelLogPacket } from '../../kmsg/types.js';
import type { DecodedPacket } from '../../packet/types.js';
import type { TraceEvent, TracePacket } from '../../trace/types.js';
import { traceId } from '../ndjson.js';

type Hop = TraceEvent;

function ports(d: DecodedPacket): { sport?: number; dport?: number } {
  const l4 = d.tcp ?? d.udp ?? d.udplite ?? d.sctp;
  return l4 ? { sport: l4.srcPort, dport: l4.dstPort } : {};
}

const hostPort = (addr: string, port: number | undefined): string =>
  port === undefined ? addr : addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`;

/** `udp 10.244.1.5:40053 -> 10.96.0.10:53` */
export function packetText(d: DecodedPacket): string {
  const src = d.ipv4?.src ?? d.ipv6?.src ?? '?';
  const dst = d.ipv4?.dst ?? d.ipv6?.dst ?? '?';
  const { sport, dport } = ports(d);
  const icmp = d.icmp ?? d.icmpv6;
  const extra = icmp ? ` type ${icmp.type} code ${icmp.code}` : '';
  return `${(d.protocolName ?? String(d.protocol ?? '?')).toLowerCase()} ${hostPort(src, sport)} -> ${
    hostPort(dst, dport)
  }${extra}`;
}

/** The same from a kernel log TRACE line's fields (`--kmsg`, `--file`). */
export function logPacketText(l: KernelLogPacket): string {
  const extra = l.icmp?.type !== undefined ? ` type ${l.icmp.type} code ${l.icmp.code ?? '?'}` : '';
  return `${(l.proto ?? String(l.protocol ?? '?')).toLowerCase()} ${hostPort(l.src ?? '?', l.spt)} -> ${
    hostPort(l.dst ?? '?', l.dpt)
  }${extra}`;
}

/** ` iif cali1 oif cali2 hook prerouting ct new` (the parts known). */
function whereText(h: Hop): string {
  const parts: string[] = [];
  if (h.iif) parts.push(`iif ${h.iif.name ?? h.iif.index}`);
  if (h.oif) parts.push(`oif ${h.oif.name ?? h.oif.index}`);
  if (h.hook) parts.push(`hook ${h.hook}`);
  if (h.ct?.state) parts.push(`ct ${h.ct.state}`);
  return parts.length > 0 ? ` ${parts.join(' ')}` : '';
}

/** One hop, as `  ip nat KUBE-SERVICES rule handle 21: -A KUBE-SERVICES ... (verdict jump KUBE-SVC-...) [service ns/svc:port]`. */
export function hopText(h: Hop): string {
  const where = h.source !== 'nftables'
    ? `${h.family} ${h.table} ${h.chain} ${h.kind}${h.rule !== undefined ? ` ${h.rule}` : ''}`
    : `${h.family} ${h.table} ${h.chain} ${h.kind}${h.handle !== undefined ? ` handle ${h.handle}` : ''}`;
  const verdict = h.verdict ? ` (verdict ${h.verdict}${h.target ? ` ${h.target}` : ''})` : '';
  const service = h.service ? ` [service ${h.service}]` : '';
  return `  ${where}${h.ruleText ? `: ${h.ruleText}` : ''}${verdict}${service}`;
}

/** The lines of one packet (without colour; `colour` wraps the fate). */
export function tracePacketLines(pkt: TracePacket, colour?: (fate: string) => string): string[] {
  const hops = pkt.hops;
  const first = hops[0];
  const d = pkt.packet;
  const what = d ? ` ${packetText(d)}` : first?.log ? ` ${logPacketText(first.log)}` : '';
  const head = `packet ${traceId(pkt.id)} ${pkt.source} ${pkt.family}${what}${first ? whereText(first) : ''}`;
  const out = [head];
  let shown = d ? packetText(d) : undefined;
  let seen = first?.packet;
  let hook = first?.hook;
  for (const h of hops) {
    // A hop that brings headers of its own starts another base chain: say where the packet is,
    // and what it looks like now when a NAT rewrote it.
    if (h !== first && h.packet && h.packet !== seen) {
      seen = h.packet;
      const now = packetText(h.packet);
      if (now !== shown || h.hook !== hook) out.push(`  ${now !== shown ? `now ${now}` : 'at'}${whereText(h)}`);
      shown = now;
      hook = h.hook;
    }
    out.push(hopText(h));
  }
  const fate = pkt.verdict ?? 'unknown';
  out.push(`  => ${colour ? colour(fate) : fate}`);
  return out;
}
