// A kern.log for the kernel log benchmark and tests: lines as rsyslog writes them on Debian and
// Ubuntu (`Jun 13 19:58:21 host kernel: [ 1234.567890] ...`), mixed as a firewall's log is:
// LOG lines of TCP, UDP and ICMP over IPv4 and IPv6 (a few ICMP errors quoting the packet
// they answer), legacy TRACE lines (each packet's hops in a row, as the kernel writes them),
// and other kernel messages. Deterministic for a seed; written in chunks (memory stays flat).
import { closeSync, openSync, writeSync } from 'node:fs';

/** A small PRNG (mulberry32): the same file for the same seed. */
export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const OTHER = [
  'e1000e: eth0 NIC Link is Up 1000 Mbps Full Duplex, Flow Control: None',
  'audit: type=1400 audit(1718300000.123:456): apparmor="DENIED" operation="open" profile="snap.x" name="/proc/1/x" pid=123 comm="x"',
  'EXT4-fs (sda1): mounted filesystem with ordered data mode. Opts: (null). Quota mode: none.',
  'br-3c1f: port 2(veth99a1) entered forwarding state',
  'TCP: request_sock_TCP: Possible SYN flooding on port 8080. Sending cookies.  Check SNMP counters.',
  'nf_conntrack: nf_conntrack: table full, dropping packet',
  'IPv6: ADDRCONF(NETDEV_CHANGE): veth1f2e: link becomes ready',
];
const CHAINS = [
  ['raw', 'PREROUTING', 2],
  ['mangle', 'PREROUTING', 1],
  ['nat', 'PREROUTING', 3],
  ['mangle', 'INPUT', 1],
  ['filter', 'INPUT', 4],
];

const v4 = (r) => `10.${(r() * 256) | 0}.${(r() * 256) | 0}.${1 + ((r() * 254) | 0)}`;
const hex4 = (n) => n.toString(16).padStart(4, '0');
const v6 = (r) => `2001:0db8:${hex4((r() * 65536) | 0)}:0000:0000:0000:0000:${hex4(1 + ((r() * 65535) | 0))}`;
const mac = (r) => Array.from({ length: 6 }, () => ((r() * 256) | 0).toString(16).padStart(2, '0')).join(':');

/** The fields of one packet after `IN=... OUT=... MAC=...` (the IP and transport parts). */
function packetFields(r) {
  const six = r() < 0.15;
  const id = (r() * 65536) | 0;
  const ip = six
    ? `SRC=${v6(r)} DST=${v6(r)} LEN=${60 + ((r() * 1400) | 0)} TC=0 HOPLIMIT=${32 + ((r() * 32) | 0)} FLOWLBL=${
      (r() * 1048576) | 0
    }`
    : `SRC=${v4(r)} DST=${v4(r)} LEN=${40 + ((r() * 1400) | 0)} TOS=0x00 PREC=0x00 TTL=${
      32 + ((r() * 32) | 0)
    } ID=${id}${r() < 0.6 ? ' DF' : ''}`;
  const k = r();
  const sport = 1024 + ((r() * 60000) | 0);
  const dport = [22, 53, 80, 443, 8080, 3306, 5432][(r() * 7) | 0];
  if (k < 0.6) {
    const flags = r() < 0.7 ? 'SYN' : 'ACK PSH';
    return `${ip} PROTO=TCP SPT=${sport} DPT=${dport} WINDOW=${(r() * 65535) | 0} RES=0x00 ${flags} URGP=0`;
  }
  if (k < 0.9) return `${ip} PROTO=UDP SPT=${sport} DPT=${dport} LEN=${20 + ((r() * 500) | 0)}`;
  if (six) return `${ip} PROTO=ICMPv6 TYPE=128 CODE=0 ID=${id} SEQ=${1 + ((r() * 100) | 0)}`;
  if (k < 0.97) return `${ip} PROTO=ICMP TYPE=8 CODE=0 ID=${id} SEQ=${1 + ((r() * 100) | 0)}`;
  // An ICMP error quoting the packet it answers.
  return `${ip} PROTO=ICMP TYPE=3 CODE=3 [SRC=${v4(r)} DST=${v4(r)} LEN=${
    28 + ((r() * 100) | 0)
  } TOS=0x00 PREC=0x00 TTL=64 ID=${id} PROTO=UDP SPT=${sport} DPT=${dport} LEN=${8 + ((r() * 100) | 0)} ]`;
}

/**
 * Writes `lines` lines to `path`: about 55% LOG lines, 25% TRACE lines (packets of 2 to 5 hops),
 * 20% other messages. Returns what it wrote, by kind.
 */
export function writeKernLog(path, lines, { seed = 1, host = 'fw1', prefix = '[UFW BLOCK] ' } = {}) {
  const r = rng(seed);
  const fd = openSync(path, 'w');
  const counts = { lines: 0, log: 0, trace: 0, tracePackets: 0, other: 0 };
  let chunk = [];
  let t = 1718308701; // 2024-06-13T19:58:21Z
  let up = 4000;
  const head = () => {
    const d = new Date(t * 1000);
    const stamp = `${MONTHS[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, ' ')} ${
      String(d.getUTCHours()).padStart(2, '0')
    }:${String(d.getUTCMinutes()).padStart(2, '0')}:${String(d.getUTCSeconds()).padStart(2, '0')}`;
    return `${stamp} ${host} kernel: [${up.toFixed(6).padStart(12, ' ')}] `;
  };
  const push = (text) => {
    chunk.push(head() + text);
    counts.lines++;
    if (chunk.length >= 10000) {
      writeSync(fd, `${chunk.join('\n')}\n`);
      chunk = [];
    }
  };
  while (counts.lines < lines) {
    up += r() * 0.002;
    if (r() < 0.0005) t++;
    const k = r();
    if (k < 0.636) {
      const inbound = r() < 0.8;
      push(
        `${prefix}IN=${inbound ? 'eth0' : ''} OUT=${inbound ? '' : 'eth0'} ${
          inbound ? `MAC=${mac(r)}:${mac(r)}:08:00 ` : ''
        }${packetFields(r)} `,
      );
      counts.log++;
    } else if (k < 0.745) {
      const hops = 2 + ((r() * 4) | 0);
      const pkt = packetFields(r);
      const m = mac(r);
      counts.tracePackets++;
      for (let h = 0; h < hops && counts.lines < lines; h++) {
        const [table, chain, rules] = CHAINS[h]; // in the order the hooks see the packet
        const last = h === hops - 1;
        const rule = last ? `policy:${rules + 1}` : `rule:${1 + ((r() * rules) | 0)}`;
        push(`TRACE: ${table}:${chain}:${rule} IN=eth0 OUT= MAC=${m}:${m}:08:00 ${pkt} `);
        counts.trace++;
      }
    } else {
      push(OTHER[(r() * OTHER.length) | 0]);
      counts.other++;
    }
  }
  if (chunk.length > 0) writeSync(fd, `${chunk.join('\n')}\n`);
  closeSync(fd);
  return counts;
}
