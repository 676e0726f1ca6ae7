// conntrack-tools' save format (`conntrack -L -o save`, the input of `conntrack -R`) read into
// entries for create()/createMany(), or packed straight for the kernel (restore()).
import { SpecFlags, SpecTupleFlags, SpecTupleWord, SpecWord } from '../core/layout.js';
import { addon } from '../core/native.js';
import { describeValue } from '../core/validate.js';
import { TCP_STATES } from './constants.js';
import { type FlowInput, SPEC_WORDS } from './flowspec.js';
import { STATUS_NAMES } from './status.js';

const { SPEC_FLAGS, SPEC_KIND, SPEC_MARK, SPEC_ORIG, SPEC_REPLY, SPEC_STATE, SPEC_STATUS, SPEC_TIMEOUT, SPEC_ZONE } =
  SpecWord;
const { SPEC_HAS_MARK, SPEC_HAS_STATUS, SPEC_HAS_TCP_STATE, SPEC_HAS_ZONE } = SpecFlags;
const { SPEC_TUPLE_FLAGS, SPEC_TUPLE_ICMP, SPEC_TUPLE_PORTS } = SpecTupleWord;
const { SPEC_TUPLE_HAS_PORTS } = SpecTupleFlags;

/** A save file read by readSave(). */
export interface SaveRead {
  /** The packed entries, SPEC_WORDS words each (native/ct/request.h FlowSpec). */
  words: Uint32Array;
  /** Per line: 1 for a -I line, 2 for a -A line. */
  kinds: Uint8Array;
  /** Per line: its number in the file (from 1). */
  numbers: Int32Array;
  /** Per line: where it starts and ends in the text (white space at either end cut). */
  ranges: Int32Array;
  /** -1, or the index of the first line it cannot read (the arrays end with that line). */
  bad: number;
  /**
   * With readSave(text, true), per line packed, FIELD_WORDS numbers: reply given (1, | 2 with
   * its ports), then where its -s, -d, -r and -q values start and end in the text.
   */
  fields?: Int32Array;
}

const FIELD_WORDS = 9;

/**
 * Reads a save file: the lines that say something (white space at either end cut, as trim()
 * cuts it; blank lines and `#` comments left out), each packed for the kernel as
 * normalizeFlowInput() then packFlowSpecs() pack the entry parseSaveLine() reads from it
 * (test/conntrack/save.unit.test.ts holds the two ways equal). The reader is native
 * (native/ct/save.cc): a restore reads a hundred thousand lines, with no object made per line.
 * With `withFields`, also where each line's addresses are (entryAt() reads entries from that).
 * `text` may be a save file's bytes when they are all ASCII (each byte a character).
 */
export function readSave(text: string | Uint8Array, withFields = false): SaveRead {
  const [buffer, kinds, numbers, ranges, bad, fields] = addon.readSave(text, withFields);
  return { words: new Uint32Array(buffer), kinds, numbers, ranges, bad, fields };
}

/** The entry of line i of a save file readSave(text, true) read: from its packed words, and its addresses from the text. */
function entryAt(text: string, r: SaveRead, i: number): { command: 'create' | 'add'; flow: FlowInput } {
  const w = r.words.subarray(i * SPEC_WORDS, (i + 1) * SPEC_WORDS);
  const f = r.fields!.subarray(i * FIELD_WORDS, (i + 1) * FIELD_WORDS);
  const value = (k: number): string => text.slice(f[1 + 2 * k], f[2 + 2 * k]);
  const flow: Record<string, unknown> = { protocol: w[SPEC_KIND]! >>> 8, src: value(0), dst: value(1),
    timeout: w[SPEC_TIMEOUT] };
  const word = w[SPEC_ORIG + SPEC_TUPLE_PORTS]!;
  if (w[SPEC_ORIG + SPEC_TUPLE_FLAGS]! & SPEC_TUPLE_HAS_PORTS) {
    flow.srcPort = word & 0xffff;
    flow.dstPort = word >>> 16;
  } else {
    const icmp = w[SPEC_ORIG + SPEC_TUPLE_ICMP]!;
    flow.type = icmp & 0xff;
    flow.code = (icmp >>> 8) & 0xff;
    flow.id = icmp >>> 16;
  }
  if (f[0]! & 1) {
    const reply: Record<string, unknown> = { src: value(2), dst: value(3) };
    if (f[0]! & 2) {
      const rp = w[SPEC_REPLY + SPEC_TUPLE_PORTS]!;
      reply.srcPort = rp & 0xffff;
      reply.dstPort = rp >>> 16;
    }
    flow.reply = reply;
  }
  const flags = w[SPEC_FLAGS]!;
  if (flags & SPEC_HAS_STATUS) {
    flow.status = STATUS_NAMES.filter((_, bit) => (w[SPEC_STATUS]! >>> bit) & 1);
  }
  if (flags & SPEC_HAS_TCP_STATE) flow.state = TCP_STATES[w[SPEC_STATE]!];
  if (flags & SPEC_HAS_MARK) flow.mark = w[SPEC_MARK];
  if (flags & SPEC_HAS_ZONE) flow.zone = w[SPEC_ZONE];
  return { command: r.kinds[i] === 1 ? 'create' : 'add', flow: flow as unknown as FlowInput };
}

/**
 * The entry of one plain `-I`/`-A` line (what `conntrack -L -o save` prints for TCP, UDP,
 * UDP-Lite, ICMP and ICMPv6 entries without NAT, what scripts write): options `-t -u -s -d -r
 * -q -p --sport --dport --reply-port-src --reply-port-dst --state --icmp[v6]-type/-code/-id -m
 * -w`, each once, decimal numbers (a mark or zone without a leading zero: conntrack reads
 * `010` as octal), canonical addresses, everything a create needs. Undefined
 * for any other line (nfct -R reads those with its full conntrack parser; for the lines read
 * here both give the same entry: test/cli/restore.unit.test.ts).
 */
export function parseSaveLine(text: string):
  | {
    /** 'create' for a `-I` line, 'add' for `-A`. */
    command: 'create' | 'add';
    /** The entry the line describes, as create() takes it. */
    flow: FlowInput;
  }
  | undefined
{
  if (text.includes('\n')) return undefined;
  const r = readSave(text, true);
  if (r.bad !== -1 || r.kinds.length !== 1) return undefined;
  return entryAt(text, r, 0);
}

/**
 * The entries of a save file (`conntrack -L -o save` output): one FlowInput per `-I`/`-A` line,
 * blank lines and `#` comments skipped. A line of another kind (or with options this reader
 * does not take, see parseSaveLine) is a TypeError naming its line number. Feed the result to
 * createMany() (`ifExists: 'skip'` for `-A` semantics).
 */
export function parseSave(text: string): FlowInput[] {
  if (typeof text !== 'string') throw new TypeError(`parseSave() text must be a string, got ${describeValue(text)}`);
  // One pass of the native reader over the whole text; each entry is read from its words.
  const r = readSave(text, true);
  if (r.bad >= 0) {
    throw unreadableLine(text.slice(r.ranges[2 * r.bad], r.ranges[2 * r.bad + 1]), r.numbers[r.bad]!, 'parseSave()');
  }
  const out = new Array<FlowInput>(r.numbers.length);
  for (let i = 0; i < out.length; i++) out[i] = entryAt(text, r, i).flow;
  return out;
}

/** The TypeError, carrying the `line` number, for a save line the reader cannot read (`where` names the call). */
export function unreadableLine(line: string, n: number, where: string): TypeError {
  return Object.assign(
    new TypeError(`${where} line ${n} is not a -I/-A line it can read: ${JSON.stringify(line.slice(0, 200))}`),
    { line: n },
  );
}
