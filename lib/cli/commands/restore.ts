// -R FILE / -R - (--load-file): conntrack command lines, one per line (what `-o save` prints),
// read whole first and refused whole on any bad line, as conntrack does; then run in order,
// with each run of -I or -A lines going to the kernel through createMany (many creates per
// system call) instead of one request per line.
import { isAscii } from 'node:buffer';
import { readFileSync } from 'node:fs';

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

/** Splits a line into words as conntrack does: blanks separate, double quotes group, \ escapes inside quotes. */
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
      else if (ch === '"') inQuote = false;
      else word += ch;
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

export async function restore(ct: Conntrack, file: string, ctx: Context): Promise<number> {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file === '-' ? 0 : file);
  } catch {
    throw new CliExit(2, `Failed to open file ${file === '-' ? '/dev/stdin' : file} for reading`, true);
  }
  // The common file, only -I/-A lines the library's save reader takes: the library's restore()
  // reads and checks all of them (from the bytes as read), then creates them in batches. A line
  // it cannot read comes back (a TypeError with its number) before anything is sent, and the
  // whole file takes the way below instead.
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
  for (const raw of text.split('\n')) {
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
