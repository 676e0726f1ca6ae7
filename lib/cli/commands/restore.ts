// -R FILE / -R - (--load-file): conntrack command lines, one per line (what `-o save` prints),
// read whole first and refused whole on any bad line, as conntrack does; then run in order,
// with each run of -I or -A lines going to the kernel through createMany (many creates per
// system call) instead of one request per line.
import { isAscii } from 'node:buffer';
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';

import type { Conntrack } from '../../conntrack/handle.js';
import type { FlowInput } from '../../conntrack/flowspec.js';
import type { Context } from '../context.js';
import { NfctError } from '../../core/errors.js';
import { CliExit, operationFailed } from '../messages.js';
import type { CtRequest } from '../parse.js';
import { parseSaveLine } from '../../conntrack/save.js';

const ALLOWED = new Set(['create', 'add', 'update', 'delete', 'flush']);
const NAMES: Record<string, string> = {
  list: '-L', get: '-G', event: '-E', version: '-V', help: '-h', 'exp-list': '-L expect', 'exp-create': '-C expect',
  'exp-delete': '-D expect', 'exp-get': '-G expect', 'exp-flush': '-F expect', 'exp-event': '-E expect', count: '-C',
  'exp-count': '-C expect', stats: '-S', 'exp-stats': '-S expect',
};

/**
 * Splits a line into words as conntrack does: blanks separate, double quotes group, \ escapes
 * inside quotes, and a closing quote ends its word (`"1"2` is two words, `""` an empty one).
 */
export function splitWords(line: string): string[] {
  const words: string[] = [];
  let word = '';
  let inQuote = false;
  let escaped = false;
  let started = false;
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
        started = false;
      } else word += ch;
      continue;
    }
    if (ch === '"') {
      inQuote = true;
      started = true;
    } else if (ch === ' ' || ch === '\t' || ch === '\n') {
      if (word.length > 0 || started) words.push(word);
      word = '';
      started = false;
    } else word += ch;
  }
  if (word.length > 0) words.push(word);
  return words;
}

/** conntrack reads a file with fgets into 10240 bytes: a longer line is read as several. */
const FGETS_LINE = 10239;
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
 * Which limit of conntrack's line reader the line in bytes [start, end) breaks, if any, in
 * the order conntrack would find it: its words as conntrack splits them (blanks separate,
 * double quotes group and a closing quote ends a word, a backslash escapes inside quotes).
 */
function brokenLimit(b: Buffer, start: number, end: number): string | undefined {
  let s = start;
  while (s < end && (b[s] === 0x20 || b[s] === 0x09)) s++;
  // Blank lines and comments are skipped before they are split.
  if (s >= end || b[s] === 0x0a || b[s] === 0x23) return undefined;
  let words = 0;
  let len = 0;
  let quote = false;
  let escaped = false;
  for (let i = s; i < end; i++) {
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

/**
 * The file as conntrack's reader sees it: a line longer than its line buffer split where the
 * buffer splits it (a newline put in), and the first line (counted in the result) that
 * breaks one of its limits, with conntrack's message.
 */
export function asConntrackReads(bytes: Buffer): { bytes: Buffer; broken?: { line: number; message: string } } {
  let broken: { line: number; message: string } | undefined;
  const check = (line: number, start: number, end: number): void => {
    if (broken) return;
    const message = brokenLimit(bytes, start, end);
    if (message) broken = { line, message };
  };
  const cuts: number[] = [];
  let line = 0;
  for (let pos = 0; pos < bytes.length; line++) {
    const nl = bytes.indexOf(10, pos);
    // The line with its newline (the last line may have none).
    const end = nl < 0 ? bytes.length : nl + 1;
    if (end - pos > SURELY_FINE) {
      let s = pos;
      for (; end - s > FGETS_LINE; s += FGETS_LINE, line++) {
        cuts.push(s + FGETS_LINE);
        check(line, s, s + FGETS_LINE);
      }
      check(line, s, end);
    }
    pos = end;
  }
  if (cuts.length === 0) return { bytes, broken };
  const parts: Buffer[] = [];
  let from = 0;
  for (const cut of cuts) {
    parts.push(bytes.subarray(from, cut), Buffer.from('\n'));
    from = cut;
  }
  parts.push(bytes.subarray(from));
  return { bytes: Buffer.concat(parts), broken };
}

/**
 * Whether this process started with its standard input closed: Node then opens /dev/null on
 * fd 0 itself, read-write. (A shell's `<>/dev/null` looks the same, and is taken as closed.)
 */
function stdinWasClosed(): boolean {
  try {
    const flags = /^flags:\s+([0-7]+)$/m.exec(readFileSync('/proc/self/fdinfo/0', 'latin1'))?.[1];
    const st = fstatSync(0);
    // O_RDWR (2) on /dev/null (character device 1:3).
    return flags !== undefined && (parseInt(flags, 8) & 3) === 2 && st.isCharacterDevice() && st.rdev === 0x103;
  } catch {
    return false;
  }
}

/**
 * The file's bytes, as conntrack gets them: a file it cannot open is refused (for `-`, the
 * path it opens, /dev/stdin), and one it opens but cannot read (a directory) reads as empty.
 */
function readLoadFile(file: string): Buffer {
  const path = file === '-' ? '/dev/stdin' : file;
  let fd: number;
  try {
    if (file === '-' && stdinWasClosed()) throw new Error('stdin closed');
    fd = file === '-' ? 0 : openSync(path, 'r');
  } catch {
    throw new CliExit(2, `Failed to open file ${path} for reading`, true);
  }
  try {
    return readFileSync(fd);
  } catch {
    return Buffer.alloc(0);
  } finally {
    if (fd !== 0) closeSync(fd);
  }
}

export async function restore(ct: Conntrack, file: string, ctx: Context): Promise<number> {
  // Every line is checked against conntrack's limits first: with a line that breaks one, the
  // file takes the way below, which reads lines in order and stops at the first problem (a
  // line before it may have another).
  const { bytes, broken } = asConntrackReads(readLoadFile(file));
  // The common file, only -I/-A lines the library's save reader takes: the library's restore()
  // reads and checks all of them (from the bytes as read), then creates them in batches. A line
  // it cannot read comes back (a TypeError with its number) before anything is sent, and the
  // whole file takes the way below instead.
  if (!broken) {
    try {
      const result = await ct.restore(bytes);
      const first = result.failed[0];
      if (first) operationFailed(first.error.errno, first.command);
      return 0;
    } catch (e) {
      if (!(e instanceof TypeError && typeof (e as { line?: unknown }).line === 'number')) {
        if (e instanceof NfctError) operationFailed(e.errno, 'create');
        throw e;
      }
    }
  }
  // A file of ASCII (every save file conntrack writes) is the same text in latin1, which is a
  // plain copy; UTF-8 decoding would take several times as long.
  const text = isAscii(bytes) ? bytes.toString('latin1') : bytes.toString('utf8');
  // Every line is read (and a bad one refuses the whole file) before anything is done. Plain
  // create lines are kept as the entries they describe, the rest as parsed requests. The
  // command-line parser and the other commands load only for such a file.
  const [{ parseCommandLine }, { flowInputOf, replyWithoutPorts }, { remove, update }, { flush }] = await Promise.all([
    import('../parse.js'),
    import('./create.js'),
    import('./modify.js'),
    import('./table.js'),
  ]);
  // `refused`: a line the kernel refuses as conntrack sends it (invalid parameters, when its turn comes).
  type Step = { command: 'create' | 'add'; flow: FlowInput; refused?: boolean } | { command: 'other'; request: CtRequest };
  const steps: Step[] = [];
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    if (n === broken?.line) throw new CliExit(2, broken.message, true);
    const raw = lines[n]!;
    const line = raw.charCodeAt(0) === 32 || raw.charCodeAt(0) === 9 ? raw.replace(/^[ \t]+/, '') : raw;
    if (line === '' || line.startsWith('#')) continue;
    const fast = parseSaveLine(line);
    if (fast) {
      steps.push(fast);
      continue;
    }
    const r = parseCommandLine(splitWords(line), ctx.err);
    if (r.command === 'create' || r.command === 'add') steps.push({ command: r.command, flow: flowInputOf(r), refused: replyWithoutPorts(r) });
    else steps.push({ command: 'other', request: r });
  }
  for (const s of steps) {
    if (s.command === 'other' && !ALLOWED.has(s.request.command)) {
      throw new CliExit(2, `Cannot use command \`${NAMES[s.request.command] ?? 'unknown'}' with --load-file`, true);
    }
  }
  const quiet: Context = { ...ctx, say: (line) => (line.endsWith('emptied.') ? ctx.say(line) : undefined) };
  for (let i = 0; i < steps.length; ) {
    const step = steps[i]!;
    if (step.command === 'create' || step.command === 'add') {
      const run: FlowInput[] = [];
      const kind = step.command;
      let refused = false;
      for (let s = steps[i]; s && s.command === kind; s = steps[++i]) {
        if (s.refused) {
          refused = true;
          break;
        }
        run.push(s.flow);
      }
      let result;
      try {
        result = await ct.createMany(run, { ifExists: kind === 'add' ? 'skip' : 'fail', batchSize: 2000 });
      } catch (e) {
        // An entry the library refuses before the kernel: what the kernel answers conntrack.
        if (e instanceof TypeError || e instanceof RangeError) operationFailed(22, kind);
        throw e;
      }
      const first = result.failed[0];
      if (first) operationFailed(first.error.errno, kind);
      if (refused) operationFailed(22, kind);
      continue;
    }
    i++;
    const r = (step as { request: CtRequest }).request;
    if (r.command === 'delete') await remove(ct, r, quiet);
    else if (r.command === 'update') await update(ct, r, quiet);
    else await flush(ct, r, quiet);
  }
  return 0;
}
