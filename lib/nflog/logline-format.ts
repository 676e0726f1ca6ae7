/**
 * The text the kernel's LOG target (`-j LOG`, nft `log` without `group`) writes for a packet,
 * rebuilt from the same packet received through NFLOG.
 *
 * The kernel's writer is net/netfilter/nf_log_syslog.c; this follows its walk, field order and
 * spacing: every field is written followed by one space, so a line normally ends in a space
 * (`... URGP=0 `), and the few paths that give up half-way end without one (`TRUNCATED`,
 * `OPT (TRUNCATED)`, an IPv6 `OPT ( ESP SPI=0x... )`, ARP lines). The result is the message as
 * dmesg shows it after the `[ seconds]` stamp and as syslog shows it after `kernel: `, without the
 * printk level.
 *
 * What NFLOG cannot tell (documented per option below): the length of a packet the group's copy
 * range cut short, whether the link-layer header pointer equals the network header, and the
 * socket's user namespace. With a full copy (the default) and names resolved for the
 * interfaces, the text is the kernel's, byte for byte (test/nflog/logline.unit.test.ts checks it
 * against lines the kernel wrote for the same packets).
 */
import { assertKnownKeys, assertObject, boolean, describeValue } from '../core/validate.js';
import { formatIpv4, u16 } from '../packet/headers.js';
import { dumpIpv4, dumpIpv6 } from './logline-ip.js';
import { type Flags, hex2, hex4, Line, mac } from './logline-writer.js';
import type { LogInterface, NflogPacket } from './types.js';

/**
 * Which optional parts to write, as the LOG target's flags select them. All default to false,
 * as for `-j LOG` and nft `log` without flags.
 */
export interface LogLineOptions {
  /** `SEQ=... ACK=...` of TCP (iptables `--log-tcp-sequence`, nft `flags tcp sequence`). */
  tcpSequence?: boolean;
  /** `OPT (...)` of TCP (iptables `--log-tcp-options`, nft `flags tcp options`). */
  tcpOptions?: boolean;
  /** `OPT (...)` of IPv4, the IPv6 extension headers in `OPT ( ... )` (iptables `--log-ip-options`, nft `flags ip options`). */
  ipOptions?: boolean;
  /** `UID=... GID=...` of the sending socket, from `packet.uid`/`gid` (iptables `--log-uid`, nft `flags skuid`). */
  uid?: boolean;
  /** `MACSRC=... MACDST=... MACPROTO=...` instead of `MAC=` on Ethernet (iptables `--log-macdecode`, nft `flags ether`). */
  macDecode?: boolean;
  /** All of the above (nft `flags all`); an explicit `false` for one of them still wins. */
  all?: boolean;
}

const OPTION_KEYS = ['tcpSequence', 'tcpOptions', 'ipOptions', 'uid', 'macDecode', 'all'] as const;

const ARPHRD_ETHER = 1;
const ARPHRD_SIT = 776;
const ETH_P_IP = 0x0800;
const ETH_P_IPV6 = 0x86dd;
const ETH_P_ARP = 0x0806;
const ETH_P_RARP = 0x8035;

function ifname(dev: LogInterface | undefined): string {
  if (!dev) return '';
  return dev.name ?? `#${dev.index}`;
}

type Kind = 'ipv4' | 'ipv6' | 'arp' | 'other';

/** Which logger the kernel picks: by family, and for bridge/netdev by the link-layer protocol. */
function kindOf(packet: NflogPacket, buf: Buffer): Kind {
  const f: unknown = packet.family; // numbers too: packets made by hand
  if (f === 'ipv4' || f === 2) return 'ipv4';
  if (f === 'ipv6' || f === 10) return 'ipv6';
  if (f === 'arp' || f === 3) return 'arp';
  const byProto = (p: number | undefined): Kind | undefined => {
    if (p === ETH_P_IP) return 'ipv4';
    if (p === ETH_P_IPV6) return 'ipv6';
    if (p === ETH_P_ARP || p === ETH_P_RARP) return 'arp';
    return undefined;
  };
  if (f === 'bridge' || f === 7 || f === 'netdev' || f === 5) return byProto(packet.hwProtocol) ?? 'other';
  // 'inet' or an unknown number: the kernel never logs under those; guess as best we can.
  const guess = byProto(packet.hwProtocol);
  if (guess) return guess;
  const v = buf.length > 0 ? buf[0]! >> 4 : 0;
  return v === 4 ? 'ipv4' : v === 6 ? 'ipv6' : 'other';
}

function isBridge(packet: NflogPacket): boolean {
  const f: unknown = packet.family;
  return f === 'bridge' || f === 7;
}

function resolveFlags(options: LogLineOptions | undefined): Flags {
  if (options === undefined) {
    return { tcpSequence: false, tcpOptions: false, ipOptions: false, uid: false, macDecode: false };
  }
  assertObject(options, 'options');
  assertKnownKeys(options, OPTION_KEYS, 'formatLogLine options');
  const all = boolean(options.all, 'options.all') ?? false;
  const pick = (k: keyof Flags): boolean => boolean(options[k], `options.${k}`) ?? all;
  return {
    tcpSequence: pick('tcpSequence'),
    tcpOptions: pick('tcpOptions'),
    ipOptions: pick('ipOptions'),
    uid: pick('uid'),
    macDecode: pick('macDecode'),
  };
}

/**
 * The LOG target's line for a packet received through NFLOG.
 *
 * Uses `prefix`, `indev`/`outdev` (and `physindev`/`physoutdev`) names, `hwType` and `hwHeader`
 * (for `MAC=`), `mark`, `uid`/`gid` and the `payload` decoded from its network header. For the
 * bridge family, NFLOG reports the bridge as `indev` and the port as `physindev`, while the LOG
 * target names the port: `IN=` is then the port, as the kernel writes it.
 *
 * Limits: an interface without a `name` is written `#<index>`; a payload cut short by the NFLOG
 * copy range makes `INCOMPLETE [n bytes]` count what was copied, not the packet's length; a
 * packet without `payload` (copy mode 'meta') gives the line the kernel writes for an unreadable
 * header (`... TRUNCATED`).
 *
 * @throws TypeError for a packet that is not an object, a payload that is not a Buffer or
 *   Uint8Array, or an unknown or non-boolean option.
 *
 * @example
 * formatLogLine(pkt, { uid: true })
 * // 'nfct: IN= OUT=lo SRC=127.0.0.1 DST=127.0.0.1 LEN=84 TOS=0x00 PREC=0x00 TTL=64 ID=5 DF PROTO=ICMP TYPE=8 CODE=0 ID=7 SEQ=1 UID=0 GID=0 '
 */
export function formatLogLine(packet: NflogPacket, options?: LogLineOptions): string {
  assertObject(packet, 'packet');
  const flags = resolveFlags(options);
  const payload: unknown = packet.payload;
  let buf: Buffer;
  if (payload === undefined) buf = Buffer.alloc(0);
  else if (Buffer.isBuffer(payload)) buf = payload;
  else if (payload instanceof Uint8Array) buf = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  else throw new TypeError(`packet.payload must be a Buffer or Uint8Array, got ${describeValue(payload)}`);

  const m = new Line(buf, flags, packet);
  const kind = kindOf(packet, buf);

  // nf_log_dump_packet_common
  let inName: string;
  let outName: string;
  if (isBridge(packet)) {
    // NFLOG (PF_BRIDGE) sends the bridge as indev and the port as physindev; LOG names the port.
    inName = ifname(packet.physindev ?? packet.indev);
    outName = ifname(packet.physoutdev ?? packet.outdev);
  } else {
    inName = ifname(packet.indev);
    outName = ifname(packet.outdev);
  }
  const hasIn = isBridge(packet)
    ? packet.physindev !== undefined || packet.indev !== undefined
    : packet.indev !== undefined;
  m.add(`${packet.prefix ?? ''}IN=${inName} OUT=${outName} `);
  if (!isBridge(packet)) {
    if (packet.physindev && ifname(packet.physindev) !== inName) m.add(`PHYSIN=${ifname(packet.physindev)} `);
    if (packet.physoutdev && ifname(packet.physoutdev) !== outName) m.add(`PHYSOUT=${ifname(packet.physoutdev)} `);
  }

  switch (kind) {
    case 'ipv4':
      if (hasIn) dumpMac(m);
      dumpIpv4(m, 0);
      break;
    case 'ipv6':
      if (hasIn) dumpMac(m);
      dumpIpv6(m, 0, true);
      break;
    case 'arp':
      dumpArp(m);
      break;
    default:
      dumpMac(m);
  }
  return m.out;
}

/** dump_mac_header: `MAC=` with the link-layer header, or the decoded Ethernet header. */
function dumpMac(m: Line): void {
  const { packet, flags } = m;
  const hw = packet.hwHeader;
  if (flags.macDecode && packet.hwType === ARPHRD_ETHER) {
    if (!hw || hw.length < 14) return;
    m.add(`MACSRC=${mac(hw, 6)} MACDST=${mac(hw, 0)} `);
    dumpVlan(m);
    m.add(`MACPROTO=${hex4(u16(hw, 12))} `);
    return;
  }
  m.add('MAC=');
  if (hw && hw.length > 0) {
    const parts: string[] = [];
    for (const byte of hw) parts.push(hex2(byte));
    m.add(parts.join(':'));
    // SIT: the kernel hands over the 14 bytes before the outer IPv4 header, then names that
    // header's addresses. Untested here (this kernel has no SIT).
    if (packet.hwType === ARPHRD_SIT && hw.length >= 34) {
      m.add(` TUNNEL=${formatIpv4(hw, 26)}->${formatIpv4(hw, 30)}`);
    }
  }
  m.add(' ');
}

function dumpVlan(m: Line): void {
  const v = m.packet.vlan;
  if (v) m.add(`VPROTO=${hex4(v.protocol)} VID=${v.id} `);
}

/** dump_arp_packet. */
function dumpArp(m: Line): void {
  const buf = m.buf;
  if (!m.has(0, 8)) {
    m.add('TRUNCATED');
    return;
  }
  const { packet, flags } = m;
  const hw = packet.hwHeader;
  if (flags.macDecode && packet.hwType === ARPHRD_ETHER && hw && hw.length >= 14) {
    m.add(`MACSRC=${mac(hw, 6)} MACDST=${mac(hw, 0)} `);
    dumpVlan(m);
    m.add(`MACPROTO=${hex4(u16(hw, 12))} `);
  }
  const htype = u16(buf, 0);
  const ptype = u16(buf, 2);
  const hln = buf[4]!;
  const pln = buf[5]!;
  const op = u16(buf, 6);
  m.add(`ARP HTYPE=${htype} PTYPE=0x${hex4(ptype)} OPCODE=${op}`);
  if (htype !== 1 || hln !== 6 || pln !== 4) return;
  if (!m.has(8, 20)) {
    m.add(` INCOMPLETE [${m.rest(8)} bytes]`);
    return;
  }
  m.add(` MACSRC=${mac(buf, 8)} IPSRC=${formatIpv4(buf, 14)} MACDST=${mac(buf, 18)} IPDST=${formatIpv4(buf, 24)}`);
}
