// conntrack's reader of a -R file, modelled as a stream: conntrack reads a line at a time with
// fgets() into 10240 bytes (a longer line is read as several pieces), takes each piece as a C
// string (it ends at its first NUL byte), skips it when, past leading blanks, it is empty with
// its newline or a `#` comment, and splits the rest into at most 253 words of at most 1023
// bytes each. The reader here takes the input a chunk at a time and hands on runs of plain
// pieces (whole ASCII lines without NUL, within the limits: nearly every line of every file)
// as they are, and every other piece one at a time as conntrack's parser would see it.
import { isAscii } from 'node:buffer';

/** conntrack reads a file with fgets into 10240 bytes: a longer line is read as several. */
export const FGETS_LINE = 10239;
/** conntrack's argument vector holds 255 entries: its own name, up to 253 words, the NULL. */
const MAX_WORDS = 253;
/** conntrack's word buffer holds 1024 bytes, one of them the terminating NUL. */
const MAX_WORD_BYTES = 1023;
/**
 * A line no longer than this cannot break either limit: a word takes at least two bytes with
 * its separator (or its quotes), and no word can be long enough.
 */
const SURELY_FINE = 2 * MAX_WORDS;

/**
 * Splits a line into words as conntrack does: blanks separate, double quotes group, \ escapes
 * inside quotes, and a closing quote ends its word (`"1"2` is two words, `""` an empty one).
 */
export function splitWords(line: string): string[] {
  const words: string[] = [];
  let word = '';
  let inQuote = false;
  let escaped = false;
  for (const ch of line) {
    if (inQuote) {
      if (escaped) {
        word += ch;
        escaped = false;
      } else if (ch === '\\') escaped = true;
      else if (ch === '"') {
        inQuote = false;
        words.push(word);
        word = '';
      } else word += ch;
      continue;
    }
    if (ch === '"') inQuote = true;
    else if (ch === ' ' || ch === '\t' || ch === '\n') {
      if (word.length > 0) words.push(word);
      word = '';
    } else word += ch;
  }
  if (word.length > 0) words.push(word);
  return words;
}

/** Whether conntrack skips the piece b[start, end): past blanks, its newline or a `#`. */
function skipped(b: Buffer, start: number, end: number): boolean {
  let s = start;
  while (s < end && (b[s] === 0x20 || b[s] === 0x09)) s++;
  return s < end && (b[s] === 0x0a || b[s] === 0x23);
}

/**
 * Which limit of conntrack's word splitter the piece b[start, end) breaks, if any, in the
 * order conntrack would find it: its words as conntrack splits them (blanks separate, double
 * quotes group and a closing quote ends a word, a backslash escapes inside quotes).
 */
function brokenLimit(b: Buffer, start: number, end: number): string | undefined {
  if (skipped(b, start, end)) return undefined;
  let words = 0;
  let len = 0;
  let quote = false;
  let escaped = false;
  for (let i = start; i < end; i++) {
    const c = b[i]!;
    let endsWord = false;
    if (quote) {
      if (escaped) escaped = false;
      else if (c === 0x5c) {
        escaped = true;
        continue;
      } else if (c === 0x22) {
        quote = false;
        endsWord = true;
      }
    } else if (c === 0x22) {
      quote = true;
      continue;
    } else if (c === 0x20 || c === 0x09 || c === 0x0a) {
      if (len === 0) continue;
      endsWord = true;
    }
    if (endsWord) {
      if (++words > MAX_WORDS) return 'too many arguments';
      len = 0;
    } else if (++len > MAX_WORD_BYTES) return 'Parameter too long!';
  }
  if (len > 0 && ++words > MAX_WORDS) return 'too many arguments';
  return undefined;
}

/** Where the reader's pieces go. */
export interface PieceSink {
  /** Whole lines, each ending in a newline, ASCII, without NUL, within conntrack's limits. */
  run(bytes: Buffer): void;
  /** Any other piece conntrack does not skip: its text up to its first NUL, without its newline. */
  piece(text: string): void;
  /** The first piece (its number, from 1) that breaks a limit of conntrack's splitter, with conntrack's message. */
  broken(line: number, message: string): void;
}

/** conntrack's line reader over an input fed a chunk at a time. */
export class LoadFileReader {
  /** The start of a piece that goes on in the next chunk (shorter than FGETS_LINE, no newline). */
  private carry: Buffer | undefined;
  /** Pieces read so far. */
  private pieces = 0;

  constructor(private readonly sink: PieceSink) {}

  /** Reads a chunk: every piece it completes goes to the sink. */
  push(chunk: Buffer): void {
    let buf = chunk;
    if (this.carry) {
      const carry = this.carry;
      const room = FGETS_LINE - carry.length;
      const nl = chunk.subarray(0, room).indexOf(10);
      if (nl < 0 && chunk.length < room) {
        this.carry = Buffer.concat([carry, chunk]);
        return;
      }
      const take = nl < 0 ? room : nl + 1;
      this.carry = undefined;
      this.one(Buffer.concat([carry, chunk.subarray(0, take)]));
      buf = chunk.subarray(take);
    }
    this.scan(buf);
  }

  /** The input ended: a last piece without its newline goes too. */
  end(): void {
    const carry = this.carry;
    this.carry = undefined;
    if (carry) this.one(carry); // (never empty: it holds the bytes after a chunk's last newline)
  }

  private scan(buf: Buffer): void {
    const ascii = isAscii(buf);
    const nul = buf.indexOf(0) >= 0;
    let runStart = -1;
    const flush = (to: number): void => {
      if (runStart >= 0) this.sink.run(buf.subarray(runStart, to));
      runStart = -1;
    };
    let pos = 0;
    while (pos < buf.length) {
      const nl = buf.indexOf(10, pos);
      const end = nl < 0 ? buf.length : nl + 1;
      if (end - pos > FGETS_LINE) {
        // fgets() fills its buffer: this piece ends without a newline, the rest is the next one.
        flush(pos);
        this.one(buf.subarray(pos, pos + FGETS_LINE));
        pos += FGETS_LINE;
        continue;
      }
      if (nl < 0) {
        flush(pos);
        // Copied: the chunk itself need not be kept for a few bytes.
        this.carry = Buffer.from(buf.subarray(pos));
        return;
      }
      const plain = (ascii || isAscii(buf.subarray(pos, end))) && (!nul || buf.subarray(pos, end).indexOf(0) < 0) &&
        (end - pos <= SURELY_FINE || brokenLimit(buf, pos, end) === undefined);
      if (plain) {
        this.pieces++;
        if (runStart < 0) runStart = pos;
      } else {
        flush(pos);
        this.one(buf.subarray(pos, end));
      }
      pos = end;
    }
    flush(pos);
  }

  /** One piece as conntrack's parser sees it. */
  private one(piece: Buffer): void {
    const line = ++this.pieces;
    const z = piece.indexOf(0);
    const end = z < 0 ? piece.length : z;
    if (skipped(piece, 0, end)) return;
    const message = brokenLimit(piece, 0, end);
    if (message) {
      this.sink.broken(line, message);
      return;
    }
    const text = piece.toString('utf8', 0, end);
    this.sink.piece(text.endsWith('\n') ? text.slice(0, -1) : text);
  }
}
