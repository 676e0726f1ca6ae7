// conntrack-tools' save format (`conntrack -L -o save`, the input of `conntrack -R`) read into
// entries for create()/createMany().
import { isIP } from 'node:net';

import type { FlowInput } from './flowspec.js';
import type { StatusName } from './types.js';

const FAST_PROTOCOLS: Record<string, number> = { tcp: 6, udp: 17, udplite: 136, icmp: 1, icmpv6: 58 };
const FAST_STATUS: Record<string, StatusName | null> = { ASSURED: 'ASSURED', SEEN_REPLY: 'SEEN_REPLY', UNSET: null, FIXED_TIMEOUT: 'FIXED_TIMEOUT', EXPECTED: 'EXPECTED', OFFLOAD: 'OFFLOAD', HW_OFFLOAD: 'HW_OFFLOAD' };
const TCP_STATES = new Set(['NONE', 'SYN_SENT', 'SYN_RECV', 'ESTABLISHED', 'FIN_WAIT', 'CLOSE_WAIT', 'LAST_ACK', 'TIME_WAIT', 'CLOSE', 'SYN_SENT2', 'LISTEN']);
const DECIMAL = /^\d{1,9}$/;

/**
 * The entry of one plain `-I`/`-A` line (what `conntrack -L -o save` prints for TCP, UDP,
 * UDP-Lite, ICMP and ICMPv6 entries without NAT, what scripts write): options `-t -u -s -d -r
 * -q -p --sport --dport --reply-port-src --reply-port-dst --state --icmp[v6]-type/-code/-id -m
 * -w`, each once, decimal numbers, canonical addresses, everything a create needs. Undefined
 * for any other line (nfct -R reads those with its full conntrack parser; for the lines read
 * here both give the same entry: test/cli/restore.unit.test.ts).
 */
export function parseSaveLine(line: string): { command: 'create' | 'add'; flow: FlowInput } | undefined {
  const w = line.trimEnd().split(' ');
  const command = w[0] === '-I' ? 'create' : w[0] === '-A' ? 'add' : undefined;
  if (!command || (w.length & 1) === 0) return undefined;
  const seen = new Set<string>();
  const v: Record<string, string> = {};
  for (let i = 1; i < w.length; i += 2) {
    const k = w[i]!;
    if (seen.has(k)) return undefined;
    seen.add(k);
    v[k] = w[i + 1]!;
  }
  const proto = FAST_PROTOCOLS[v['-p'] ?? ''];
  if (proto === undefined || v['-t'] === undefined || !DECIMAL.test(v['-t'])) return undefined;
  const src = v['-s'];
  const dst = v['-d'];
  if (!src || !dst) return undefined;
  const family = isIP(src);
  if (family === 0 || isIP(dst) !== family) return undefined;
  if ((proto === 1 && family !== 4) || (proto === 58 && family !== 6)) return undefined;
  const flow: Record<string, unknown> = { protocol: proto, src, dst, timeout: Number(v['-t']) };
  let known = 4;
  const num = (key: string, max: number): number | undefined | null => {
    const t = v[key];
    if (t === undefined) return undefined;
    known++;
    return DECIMAL.test(t) && Number(t) <= max ? Number(t) : null;
  };
  const ports = proto === 6 || proto === 17 || proto === 136;
  if (ports) {
    const sp = num('--sport', 65535);
    const dp = num('--dport', 65535);
    if (sp == null || dp == null) return undefined;
    flow.srcPort = sp;
    flow.dstPort = dp;
  } else {
    const pre = proto === 1 ? '--icmp-' : '--icmpv6-';
    const type = num(`${pre}type`, 255);
    const code = num(`${pre}code`, 255);
    const id = num(`${pre}id`, 65535);
    if (type == null || code == null || id == null) return undefined;
    Object.assign(flow, { type, code, id });
  }
  const rs = v['-r'];
  const rq = v['-q'];
  if (rs !== undefined || rq !== undefined) {
    if (rs === undefined || rq === undefined || isIP(rs) !== family || isIP(rq) !== family) return undefined;
    known += 2;
    const reply: Record<string, unknown> = { src: rs, dst: rq };
    if (ports) {
      const rsp = num('--reply-port-src', 65535);
      const rdp = num('--reply-port-dst', 65535);
      if (rsp === null || rdp === null || (rsp === undefined) !== (rdp === undefined)) return undefined;
      if (rsp !== undefined) Object.assign(reply, { srcPort: rsp, dstPort: rdp });
    }
    flow.reply = reply;
  }
  if (v['-u'] !== undefined) {
    known++;
    const names: StatusName[] = [];
    for (const word of v['-u'].split(',')) {
      const name = FAST_STATUS[word];
      if (name === undefined) return undefined;
      if (name) names.push(name);
    }
    if (names.length > 0) flow.status = names;
  }
  const state = v['--state'];
  if (proto === 6) {
    if (state === undefined || !TCP_STATES.has(state)) return undefined;
    known++;
    flow.state = state === 'LISTEN' ? 'SYN_SENT2' : state;
  } else if (state !== undefined) return undefined;
  const mark = num('-m', 0xffffffff);
  if (mark === null) return undefined;
  if (mark !== undefined) flow.mark = mark;
  const zone = num('-w', 65535);
  if (zone === null) return undefined;
  if (zone !== undefined) flow.zone = zone;
  if (known !== seen.size) return undefined;
  return { command, flow: flow as unknown as FlowInput };
}

/**
 * The entries of a save file (`conntrack -L -o save` output): one FlowInput per `-I`/`-A` line,
 * blank lines and `#` comments skipped. A line of another kind (or with options this reader
 * does not take, see parseSaveLine) is a TypeError naming its line number. Feed the result to
 * createMany() (`ifExists: 'skip'` for `-A` semantics).
 */
export function parseSave(text: string): FlowInput[] {
  if (typeof text !== 'string') throw new TypeError(`parseSave() text must be a string, got ${typeof text}`);
  const out: FlowInput[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    const parsed = parseSaveLine(line);
    if (!parsed) throw new TypeError(`parseSave() line ${i + 1} is not a -I/-A line it can read: ${JSON.stringify(line.slice(0, 200))}`);
    out.push(parsed.flow);
  }
  return out;
}
