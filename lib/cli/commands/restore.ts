// -R FILE / -R - (--load-file): conntrack command lines, one per line (what `-o save` prints),
// read whole first and refused whole on any bad line, as conntrack does; then run in order,
// with each run of -I or -A lines going to the kernel through createMany (many creates per
// system call) instead of one request per line.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';

import type { Conntrack } from '../../conntrack/handle.js';
import type { FlowInput } from '../../conntrack/flowspec.js';
import type { StatusName } from '../../conntrack/types.js';
import type { Context } from '../context.js';
import { CliExit, operationFailed } from '../messages.js';
import { type CtRequest, parseCommandLine } from '../parse.js';
import { flowInputOf } from './create.js';
import { remove, update } from './modify.js';
import { flush } from './table.js';

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

const FAST_PROTOCOLS: Record<string, number> = { tcp: 6, udp: 17, udplite: 136, icmp: 1, icmpv6: 58 };
const FAST_STATUS: Record<string, StatusName | null> = { ASSURED: 'ASSURED', SEEN_REPLY: 'SEEN_REPLY', UNSET: null, FIXED_TIMEOUT: 'FIXED_TIMEOUT', EXPECTED: 'EXPECTED', OFFLOAD: 'OFFLOAD', HW_OFFLOAD: 'HW_OFFLOAD' };
const TCP_STATES = new Set(['NONE', 'SYN_SENT', 'SYN_RECV', 'ESTABLISHED', 'FIN_WAIT', 'CLOSE_WAIT', 'LAST_ACK', 'TIME_WAIT', 'CLOSE', 'SYN_SENT2', 'LISTEN']);
const DECIMAL = /^\d{1,9}$/;

/**
 * The entry of a plain -I/-A line (what `-o save` prints, what scripts write): words of known
 * options with decimal numbers and canonical addresses, each option once, everything -I needs
 * given. Anything else (or undefined here) goes through the full parser; for the lines taken
 * here both give the same entry (test/cli/restore.unit.test.ts).
 */
export function fastCreateLine(line: string): { command: 'create' | 'add'; flow: FlowInput } | undefined {
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

export async function restore(ct: Conntrack, file: string, ctx: Context): Promise<number> {
  let text: string;
  try {
    text = readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch {
    throw new CliExit(2, `Failed to open file ${file === '-' ? '/dev/stdin' : file} for reading`, true);
  }
  // Every line is read (and a bad one refuses the whole file) before anything is done. Plain
  // create lines are kept as the entries they describe, the rest as parsed requests.
  type Step = { command: 'create' | 'add'; flow: FlowInput } | { command: 'other'; request: CtRequest };
  const steps: Step[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.charCodeAt(0) === 32 || raw.charCodeAt(0) === 9 ? raw.replace(/^[ \t]+/, '') : raw;
    if (line === '' || line.startsWith('#')) continue;
    const fast = fastCreateLine(line);
    if (fast) {
      steps.push(fast);
      continue;
    }
    const r = parseCommandLine(splitWords(line), ctx.err);
    if (r.command === 'create' || r.command === 'add') steps.push({ command: r.command, flow: flowInputOf(r) });
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
      for (let s = steps[i]; s && s.command === kind; s = steps[++i]) run.push(s.flow);
      const result = await ct.createMany(run, { ifExists: kind === 'add' ? 'skip' : 'fail', batchSize: 2000 });
      const first = result.failed[0];
      if (first) operationFailed(first.error.errno, kind);
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
