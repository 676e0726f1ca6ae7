// -R FILE / -R - (--load-file): conntrack command lines, one per line (what `-o save` prints).
// As conntrack does, every line is read and parsed before anything is done: a line that cannot
// be parsed ends nfct there (exit 2, the table unchanged), and a command a load file may not
// hold (-L, ...) refuses the whole file once it has been read. The file is streamed
// (lib/core/input.ts: killable whatever it is, a FIFO, a terminal, /dev/zero) through
// conntrack's line reader (load-file.ts); what is kept until the end is only what will be run:
// runs of plain -I/-A lines as their bytes (packed for the kernel by the library's restore()
// when their turn comes, many creates per system call), other lines as parsed requests. A line
// that is refused, blank or garbage keeps nothing, so memory stays flat on endless input.
import { readFileSync } from 'node:fs';

import type { FlowInput } from '../../conntrack/flowspec.js';
import type { Conntrack } from '../../conntrack/handle.js';
import { parseSaveLine, readSave } from '../../conntrack/save.js';
import { NfctError } from '../../core/errors.js';
import { InputOpenError, openInput } from '../../core/input.js';
import type { Context } from '../context.js';
import { CliExit, operationFailed } from '../messages.js';
import type { CtRequest } from '../parse.js';
import { LoadFileReader, splitWords } from './load-file.js';

export { splitWords } from './load-file.js';

const ALLOWED = new Set(['create', 'add', 'update', 'delete', 'flush']);
const NAMES: Record<string, string> = {
  list: '-L',
  get: '-G',
  event: '-E',
  version: '-V',
  help: '-h',
  'exp-list': '-L expect',
  'exp-create': '-C expect',
  'exp-delete': '-D expect',
  'exp-get': '-G expect',
  'exp-flush': '-F expect',
  'exp-event': '-E expect',
  count: '-C',
  'exp-count': '-C expect',
  stats: '-S',
  'exp-stats': '-S expect',
};

/**
 * What is run once the file has been read, in order: `restore`, a run of plain -I/-A lines
 * (their bytes); a create or add parsed from a line (`refused`: the kernel refuses it as
 * conntrack sends it, when its turn comes); any other command.
 */
type Step =
  | { command: 'restore'; bytes: Buffer; lines: number }
  | { command: 'create' | 'add'; flow: FlowInput; refused?: boolean }
  | { command: 'other'; request: CtRequest };

interface Modules {
  parseCommandLine: typeof import('../parse.js').parseCommandLine;
  create: typeof import('./create.js');
}

/** The file as read so far: the steps to run, or the first command a load file may not hold. */
class LoadPlan {
  steps: Step[] = [];
  /** conntrack's name of the first command not allowed in a load file (then nothing more is kept). */
  refused: string | undefined;
  /** The command-line parser and the create module: loaded only for a file with other lines. */
  private modules: Promise<Modules> | undefined;

  constructor(private readonly ctx: Context) {}

  /** Plain lines: those the library's save reader takes are kept as bytes, each other one is parsed. */
  async run(bytes: Buffer): Promise<void> {
    let rest = bytes;
    while (rest.length > 0) {
      const { kinds, ranges, bad } = readSave(rest);
      if (bad < 0) {
        if (kinds.length > 0) this.keep({ command: 'restore', bytes: rest, lines: kinds.length });
        return;
      }
      const at = ranges[2 * bad]!;
      const start = at === 0 ? 0 : rest.lastIndexOf(10, at - 1) + 1;
      const end = rest.indexOf(10, at);
      if (bad > 0) this.keep({ command: 'restore', bytes: rest.subarray(0, start), lines: bad });
      await this.piece(rest.toString('latin1', start, end));
      rest = rest.subarray(end + 1);
    }
  }

  /** A line conntrack does not skip (leading blanks are cut here). */
  async piece(raw: string): Promise<void> {
    const line = raw.charCodeAt(0) === 32 || raw.charCodeAt(0) === 9 ? raw.replace(/^[ \t]+/, '') : raw;
    const fast = parseSaveLine(line);
    if (fast) {
      this.keep(fast);
      return;
    }
    const words = splitWords(line);
    // No words (a piece that was only blanks, or ended at a NUL at once): no command.
    if (words.length === 0) {
      this.refuse('unknown');
      return;
    }
    this.modules ??= Promise.all([import('../parse.js'), import('./create.js')]).then((
      [{ parseCommandLine }, create],
    ) => ({ parseCommandLine, create }));
    const { parseCommandLine, create } = await this.modules;
    const r = parseCommandLine(words, this.ctx.err);
    if (r.command === 'create' || r.command === 'add') {
      this.keep({ command: r.command, flow: create.flowInputOf(r), refused: create.refusedByKernel(r) });
    } else if (ALLOWED.has(r.command)) this.keep({ command: 'other', request: r });
    else this.refuse(NAMES[r.command] ?? 'unknown');
  }

  private keep(step: Step): void {
    if (this.refused === undefined) this.steps.push(step);
  }

  private refuse(name: string): void {
    this.refused ??= name;
    this.steps = [];
  }
}

/** Reads the whole file into a plan (exit 2 at its first bad line); undefined when stopped by a signal. */
async function readPlan(file: string, ctx: Context): Promise<LoadPlan | undefined> {
  let input;
  try {
    input = openInput(file);
  } catch (e) {
    if (e instanceof InputOpenError) {
      throw new CliExit(2, `Failed to open file ${file === '-' ? '/dev/stdin' : file} for reading`, true);
    }
    throw e;
  }
  const plan = new LoadPlan(ctx);
  // The pieces of one chunk, in order: runs of plain lines (bytes), other lines (text), and a
  // line that breaks a limit of conntrack's splitter (its message: every line before it is
  // parsed first, and a parse error there is what ends nfct).
  const pieces: (Buffer | string | { broken: string })[] = [];
  const reader = new LoadFileReader({
    run: (bytes) => void pieces.push(bytes),
    piece: (text) => void pieces.push(text),
    broken: (_line, message) => void pieces.push({ broken: message }),
  });
  const take = async (): Promise<void> => {
    for (const p of pieces.splice(0)) {
      if (typeof p === 'string') await plan.piece(p);
      else if (Buffer.isBuffer(p)) await plan.run(p);
      else throw new CliExit(2, p.broken, true);
    }
  };
  try {
    for await (const chunk of input.chunks(ctx.stop)) {
      reader.push(chunk);
      await take();
    }
    if (ctx.stop.aborted) return undefined;
    reader.end();
    await take();
  } finally {
    input.close();
  }
  return plan;
}

export async function restore(ct: Conntrack, file: string, ctx: Context): Promise<number> {
  const plan = await readPlan(file, ctx);
  if (!plan) {
    // Stopped while reading: nothing was done; the signal ends nfct, as it ends conntrack.
    ctx.dieBySignal = true;
    return 0;
  }
  if (plan.refused !== undefined) throw new CliExit(2, `Cannot use command \`${plan.refused}' with --load-file`, true);
  const { steps } = plan;
  plan.steps = [];
  if (steps.some((s) => s.command === 'other')) {
    await runSteps(ct, steps, ctx, await import('./modify.js'), await import('./table.js'));
  } else await runSteps(ct, steps, ctx);
  return 0;
}

/**
 * A create the kernel refused because the namespace's table is full (ENOMEM): said as that,
 * with how much of the file went in; any other refusal in conntrack's words.
 */
function refusedCreate(errno: number, command: string, applied: number, total: number): never {
  if (errno === ENOMEM) {
    let max = '';
    try {
      max = ` (nf_conntrack_max ${
        readFileSync('/proc/sys/net/netfilter/nf_conntrack_max', 'utf8').trim()
      }, global, counted per namespace)`;
    } catch {
      // not readable: said without the figure
    }
    throw new CliExit(1, `-R: the conntrack table is full${max}: ${applied} of ${total} lines applied`);
  }
  operationFailed(errno, command);
}

const ENOMEM = 12;

async function runSteps(ct: Conntrack, steps: Step[], ctx: Context, modify?: typeof import('./modify.js'),
  table?: typeof import('./table.js')): Promise<void>
{
  const quiet: Context = { ...ctx, say: (line) => (line.endsWith('emptied.') ? ctx.say(line) : undefined) };
  // Lines of the file that do something, and those done so far (for a table that fills up).
  const total = steps.reduce((n, s) => n + (s.command === 'restore' ? s.lines : 1), 0);
  let applied = 0;
  for (let i = 0; i < steps.length;) {
    if (ctx.stop.aborted) {
      ctx.dieBySignal = true;
      return;
    }
    const step = steps[i]!;
    if (step.command === 'restore') {
      i++;
      let result;
      try {
        result = await ct.restore(step.bytes);
      } catch (e) {
        if (e instanceof NfctError) refusedCreate(e.errno, 'create', applied, total);
        throw e;
      }
      applied += result.created + result.existed;
      const first = result.failed[0];
      if (first) refusedCreate(first.error.errno, first.command, applied, total);
      continue;
    }
    if (step.command === 'create' || step.command === 'add') {
      const run: FlowInput[] = [];
      const kind = step.command;
      let refused = false;
      for (let s = steps[i]; s?.command === kind; s = steps[++i]) {
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
      applied += result.created + result.existed;
      const first = result.failed[0];
      if (first) refusedCreate(first.error.errno, kind, applied, total);
      if (refused) operationFailed(22, kind);
      continue;
    }
    i++;
    applied++;
    const r = (step as { request: CtRequest }).request;
    if (r.command === 'delete') await modify!.remove(ct, r, quiet);
    else if (r.command === 'update') await modify!.update(ct, r, quiet);
    else await table!.flush(ct, r, quiet);
  }
}
