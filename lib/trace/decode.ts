// Decoding of TRACE hops: nftables trace records (native/trace/nftrace.cc) and legacy TRACE
// prefixes, from NFLOG group 0 or from a dmesg / syslog line.
import { TracePresent, TraceWord } from '../core/layout.js';
import type { RawBatch } from '../core/reader.js';
import { describeValue } from '../core/validate.js';
import type { NflogPacketEvent } from '../nflog/handle.js';
import { parseLogLine } from '../nflog/logline-parse.js';
import { decodePacket } from '../packet/decode.js';
import type { DecodedPacket } from '../packet/types.js';
import type { LegacyTraceEvent, NftablesFamily, NftablesTraceEvent, TraceConntrack, TraceKind } from './types.js';

const NFT_TYPES: Record<number, TraceKind> = { 1: 'policy', 2: 'return', 3: 'rule' };
/** The families nf_tables has tables of (NFPROTO_*). */
const NFT_FAMILY: Record<number, NftablesFamily> = { 1: 'inet', 2: 'ip', 3: 'arp', 5: 'netdev', 7: 'bridge',
  10: 'ip6' };
const VERDICTS: Record<number, string> = { 0: 'drop', 1: 'accept', 2: 'stolen', 3: 'queue', 4: 'repeat', 5: 'stop',
  [-1 >>> 0]: 'continue', [-2 >>> 0]: 'break', [-3 >>> 0]: 'jump', [-4 >>> 0]: 'goto', [-5 >>> 0]: 'return' };

// The record layout of native/layout/layouts.h (lib/core/layout.ts is generated from it).
const { TRACE_WORDS, TRACE_PRESENT, TRACE_KIND, TRACE_ID, TRACE_HANDLE, TRACE_VERDICT, TRACE_POLICY, TRACE_IIF,
  TRACE_OIF, TRACE_MARK, TRACE_NFPROTO, TRACE_NETWORK, TRACE_TRANSPORT, TRACE_TIME, TRACE_CT_ID, TRACE_CT_DIRECTION,
  TRACE_CT_STATUS, TRACE_CT_STATE } = TraceWord;
const {
  TRACE_HAS_TABLE,
  TRACE_HAS_CHAIN,
  TRACE_HAS_RULE_HANDLE,
  TRACE_HAS_VERDICT,
  TRACE_HAS_JUMP_TARGET,
  TRACE_HAS_IIF,
  TRACE_HAS_OIF,
  TRACE_HAS_MARK,
  TRACE_HAS_POLICY,
  TRACE_HAS_NETWORK,
  TRACE_HAS_TRANSPORT,
  TRACE_HAS_CT_ID,
  TRACE_HAS_CT_DIRECTION,
  TRACE_HAS_CT_STATUS,
  TRACE_HAS_CT_STATE,
} = TracePresent;

/** nft's ct state bits (NF_CT_STATE_BIT of the ctinfo, untracked and invalid apart). */
function ctStateName(bits: number): string {
  if (bits & 64) return 'untracked';
  if (bits & 1) return 'invalid';
  if (bits & 8) return 'new';
  if (bits & 4) return 'related';
  if (bits & 2) return 'established';
  return String(bits);
}

/** The conntrack attributes of a trace record (Linux 6.8 and later). */
function traceConntrack(w: Uint32Array, b: number, p: number): TraceConntrack | undefined {
  if (!(p & (TRACE_HAS_CT_ID | TRACE_HAS_CT_DIRECTION | TRACE_HAS_CT_STATUS | TRACE_HAS_CT_STATE))) return undefined;
  const ct: TraceConntrack = {};
  if (p & TRACE_HAS_CT_STATE) ct.state = ctStateName(w[b + TRACE_CT_STATE]!);
  if (p & TRACE_HAS_CT_STATUS) ct.status = w[b + TRACE_CT_STATUS]!;
  if (p & TRACE_HAS_CT_ID) ct.id = w[b + TRACE_CT_ID]!;
  if (p & TRACE_HAS_CT_DIRECTION) ct.direction = w[b + TRACE_CT_DIRECTION] === 1 ? 'reply' : 'original';
  return ct;
}

/**
 * Parses a legacy TRACE prefix, `TRACE: raw:cali-PREROUTING:rule:1 ` (table, chain, kind,
 * rule number; chain names may hold dashes and colons). Undefined when it is not one.
 */
export function parseTracePrefix(prefix: string):
  | {
    /** The table the rule is in ('raw', 'filter', 'nat', ...). */
    table: string;
    /** The chain the rule is in. */
    chain: string;
    /** What the packet met: a rule, the chain's return, or its policy. */
    kind: TraceKind;
    /** The rule's position in its chain (1 = first). */
    rule: number;
  }
  | undefined
{
  if (typeof prefix !== 'string') {
    throw new TypeError(`parseTracePrefix() prefix must be a string, got ${describeValue(prefix)}`);
  }
  const m = /^TRACE: ([^:\s]+):(\S+):(rule|return|policy):(\d{1,10}) ?$/.exec(prefix.trimStart());
  if (!m) return undefined;
  return { table: m[1]!, chain: m[2]!, kind: m[3] as TraceKind, rule: Number(m[4]) };
}

/** Parses a TRACE line from dmesg or syslog: the hop, and the packet fields parseLogLine reads. */
export function parseTraceLine(line: string):
  | (ReturnType<typeof parseTracePrefix> & {
    /** The whole line taken apart, as parseLogLine() gives it. */
    log: ReturnType<typeof parseLogLine>;
  })
  | undefined
{
  const log = parseLogLine(line);
  const hop = log.prefix !== undefined ? parseTracePrefix(log.prefix) : undefined;
  return hop ? { ...hop, log } : undefined;
}

/** Decodes nftables trace records (native/trace/nftrace.h). */
export function decodeTraceBatch(batch: RawBatch): NftablesTraceEvent[] {
  const w = new Uint32Array(batch.buffer);
  const s = batch.strings.split('\0');
  let si = 0;
  const bytes = batch.bytes;
  const slice = (at: number): Buffer => (bytes ? Buffer.from(bytes, w[at], w[at + 1]) : Buffer.alloc(0));
  const out: NftablesTraceEvent[] = [];
  for (let i = 0; i < batch.count; i++) {
    const b = i * TRACE_WORDS;
    const p = w[b + TRACE_PRESENT]!;
    const kind = w[b + TRACE_KIND]!;
    const family = NFT_FAMILY[kind & 0xff] ?? 'unknown';
    const table = p & TRACE_HAS_TABLE ? s[si++]! : '';
    const chain = p & TRACE_HAS_CHAIN ? s[si++]! : '';
    const target = p & TRACE_HAS_JUMP_TARGET ? s[si++] : undefined;
    const iifName = p & TRACE_HAS_IIF ? s[si++] : undefined;
    const oifName = p & TRACE_HAS_OIF ? s[si++] : undefined;
    // A 'rule' event without a rule is the end of a chain: the packet returns to the caller.
    const type = NFT_TYPES[(kind >>> 8) & 0xff] === 'rule' && !(p & TRACE_HAS_RULE_HANDLE)
      ? 'return'
      : (NFT_TYPES[(kind >>> 8) & 0xff] ?? 'rule');
    let packet: DecodedPacket | undefined;
    // The network header is an IP header for IPv4 and IPv6 packets (an ARP or bridge hook's
    // packet is decoded by nothing here).
    const nfproto = w[b + TRACE_NFPROTO]!;
    if (p & TRACE_HAS_NETWORK && (nfproto === 2 || nfproto === 10)) {
      const raw = Buffer.concat([slice(b + TRACE_NETWORK),
        p & TRACE_HAS_TRANSPORT ? slice(b + TRACE_TRANSPORT) : Buffer.alloc(0)]);
      packet = decodePacket(raw, nfproto === 10 ? 'ipv6' : 'ipv4');
    }
    const verdictCode = type === 'policy' && p & TRACE_HAS_POLICY
      ? w[b + TRACE_POLICY]!
      : p & TRACE_HAS_VERDICT
      ? w[b + TRACE_VERDICT]!
      : undefined;
    out.push({
      source: 'nftables',
      id: w[b + TRACE_ID]!,
      family,
      table,
      chain,
      kind: type,
      handle: p & TRACE_HAS_RULE_HANDLE ? w[b + TRACE_HANDLE + 1]! * 0x100000000 + w[b + TRACE_HANDLE]! : undefined,
      verdict: verdictCode === undefined ? undefined : (VERDICTS[verdictCode] ?? String(verdictCode)),
      target,
      iif: p & TRACE_HAS_IIF
        ? (iifName ? { index: w[b + TRACE_IIF]!, name: iifName } : { index: w[b + TRACE_IIF]! })
        : undefined,
      oif: p & TRACE_HAS_OIF
        ? (oifName ? { index: w[b + TRACE_OIF]!, name: oifName } : { index: w[b + TRACE_OIF]! })
        : undefined,
      mark: p & TRACE_HAS_MARK ? w[b + TRACE_MARK] : undefined,
      packet,
      ct: traceConntrack(w, b, p),
      timestamp: (BigInt(w[b + TRACE_TIME + 1]!) << 32n) | BigInt(w[b + TRACE_TIME]!),
    });
  }
  return out;
}

/** A legacy hop from an NFLOG packet of group 0, or undefined when it is not a TRACE. */
export function legacyHop(pkt: NflogPacketEvent): LegacyTraceEvent | undefined {
  const hop = pkt.prefix !== undefined ? parseTracePrefix(pkt.prefix) : undefined;
  if (!hop) return undefined;
  const family = pkt.family === 'ipv6' ? 'ipv6' : 'ipv4';
  const packet = pkt.payload ? decodePacket(pkt.payload, family) : undefined;
  return {
    source: 'legacy',
    id: legacyId(packet, pkt),
    family,
    table: hop.table,
    chain: hop.chain,
    kind: hop.kind,
    rule: hop.rule,
    verdict: hop.kind === 'return' ? 'return' : undefined,
    iif: pkt.indev,
    oif: pkt.outdev,
    mark: pkt.mark,
    packet,
    timestamp: pkt.timestamp ?? BigInt(Date.now()) * 1_000_000n,
  };
}

/** Legacy TRACE has no id: hops of one packet share its IP header (id, addresses, length). */
function legacyId(packet: DecodedPacket | undefined, pkt: NflogPacketEvent): number {
  const head = pkt.payload?.subarray(0, packet?.family === 'ipv6' ? 40 : 20) ?? Buffer.alloc(0);
  let h = 0x811c9dc5;
  for (const byte of head) h = Math.imul(h ^ byte, 0x01000193) >>> 0;
  return h;
}
