// `nfct log --kmsg | --file PATH` and `nfct trace --kmsg | --file PATH`: the LOG and legacy
// TRACE lines of the kernel log (/dev/kmsg, a syslog file, a journal export, stdin), through
// KernelLog, written as the NFLOG paths write theirs (a LOG line after its time, or NDJSON;
// trace blocks), a batch at a time; the loss summary on exit. Losses (records the ring buffer
// overwrote before they were read) are said on stderr as they happen, and are NDJSON lines of
// their own with --json.
import { parseCidr } from '../../core/address.js';
import { isoTime } from '../../core/json.js';
import type { NetnsOption } from '../../core/netns.js';
import { PROTOCOLS } from '../../core/protocols.js';
import { KernelLog, type KernelLogOptions, type KernelLogStream } from '../../kmsg/handle.js';
import type { Context } from '../context.js';
import { KERNEL_LOG_HELP, KERNEL_TRACE_HELP } from '../help.js';
import { CliExit } from '../messages.js';
import { kernelLogLine } from '../ndjson-packets.js';
import { writeTracePacket } from './trace.js';

type Mode = 'log' | 'trace';

interface Parsed {
  kmsg: boolean;
  file?: string;
  follow: boolean;
  fromStart: boolean;
  fromEnd: boolean;
  json: boolean;
  prefixOnly: boolean;
  lines: boolean;
  options: KernelLogOptions;
}

function bad(mode: Mode, flag: string, value: string | undefined, what: string): never {
  throw new CliExit(2,
    `nfct ${mode}: ${flag} ${value === undefined ? 'needs a value' : `${JSON.stringify(value)} is not ${what}`}`, true);
}

function value(mode: Mode, argv: readonly string[], i: number): string {
  const v = argv[i + 1];
  if (v === undefined) bad(mode, argv[i]!, undefined, '');
  return v;
}

function port(mode: Mode, flag: string, v: string): number {
  if (!/^\d{1,5}$/.test(v) || Number(v) > 65535) bad(mode, flag, v, 'a port (0-65535)');
  return Number(v);
}

function parse(mode: Mode, argv: readonly string[]): Parsed | 'help' {
  const o: Parsed = { kmsg: false, follow: false, fromStart: false, fromEnd: false, json: false, prefixOnly: false,
    lines: false, options: {} };
  const f = o.options;
  let ns: NetnsOption | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    switch (a) {
      case '--kmsg':
        o.kmsg = true;
        break;
      case '--file':
        o.file = value(mode, argv, i++);
        break;
      case '--follow':
      case '-F':
        o.follow = true;
        break;
      case '--from-start':
        o.fromStart = true;
        break;
      case '--from-end':
        o.fromEnd = true;
        break;
      case '--json':
        o.json = true;
        break;
      case '--help':
      case '-h':
        return 'help';
      case '-p':
      case '--proto': {
        const v = value(mode, argv, i++);
        const n = /^\d{1,3}$/.test(v) ? Number(v) : Object.hasOwn(PROTOCOLS, v) ? v : undefined;
        if (n === undefined || (typeof n === 'number' && n > 255)) {
          bad(mode, a, v, `a protocol (${Object.keys(PROTOCOLS).join(', ')} or 0-255)`);
        }
        f.protocol = n;
        break;
      }
      case '-s':
      case '--src':
      case '-d':
      case '--dst': {
        const v = value(mode, argv, i++);
        if (!parseCidr(v)) bad(mode, a, v, 'an address or CIDR');
        if (a === '-s' || a === '--src') f.src = v;
        else f.dst = v;
        break;
      }
      case '--sport':
        f.srcPort = port(mode, a, value(mode, argv, i++));
        break;
      case '--dport':
        f.dstPort = port(mode, a, value(mode, argv, i++));
        break;
      case '--port':
        f.port = port(mode, a, value(mode, argv, i++));
        break;
      case '-f':
      case '--family': {
        const v = value(mode, argv, i++);
        if (v !== 'ipv4' && v !== 'ipv6') bad(mode, a, v, "'ipv4' or 'ipv6'");
        f.family = v;
        break;
      }
      default:
        if (mode === 'log' && a === '--prefix') f.prefix = value(mode, argv, i++);
        else if (mode === 'log' && a === '--prefix-only') o.prefixOnly = true;
        else if (mode === 'log' && a === '--lines') o.lines = true;
        else if (mode === 'trace' && a === '--netns') ns = value(mode, argv, i++);
        else if (mode === 'trace' && a === '--pid') {
          const v = value(mode, argv, i++);
          if (!/^\d{1,10}$/.test(v)) bad(mode, a, v, 'a process id');
          ns = { pid: Number(v) };
        } else if (mode === 'trace' && a === '--no-rules') f.resolveRules = false;
        else {
          throw new CliExit(2,
            `nfct ${mode}: unknown option \`${a}'${
              a === '--group' || a === '--all-netns' ? ' with --kmsg or --file' : ''
            }`, true);
        }
    }
  }
  if (o.kmsg === (o.file !== undefined)) throw new CliExit(2, `nfct ${mode}: use one of --kmsg and --file`, true);
  if (o.fromStart && !o.kmsg) {
    throw new CliExit(2, `nfct ${mode}: --from-start is for --kmsg --follow (a file is read from its start)`, true);
  }
  if (o.fromEnd && o.kmsg) throw new CliExit(2, `nfct ${mode}: --from-end is for --file`, true);
  if (ns !== undefined) f.netns = ns;
  if (mode === 'log') {
    f.traces = false;
    f.lines = o.lines;
  } else {
    f.packets = false;
  }
  return o;
}

function open(o: Parsed, ctx: Context): KernelLogStream {
  const options = { ...o.options, signal: ctx.stop };
  if (o.kmsg) return KernelLog.kmsg({ ...options, follow: o.follow, from: o.follow && !o.fromStart ? 'now' : 'start' });
  // A file may come from another host: its TRACE rules are looked up only in a namespace named.
  return KernelLog.file(o.file === '-' ? 0 : o.file!, { ...options, follow: o.follow, from: o.fromEnd ? 'end' : 'start',
    resolveRules: options.resolveRules ?? options.netns !== undefined });
}

/** `nfct log|trace --kmsg|--file ...`: resolves the exit status. */
export async function kernelLogCommand(mode: Mode, argv: readonly string[], ctx: Context): Promise<number> {
  const o = parse(mode, argv);
  if (o === 'help') {
    ctx.out.raw(mode === 'log' ? KERNEL_LOG_HELP : KERNEL_TRACE_HELP);
    await ctx.out.drain();
    return 0;
  }
  const where = o.kmsg ? '' : ` from ${o.file === '-' ? 'standard input' : o.file}`;
  const stream = open(o, ctx);
  const { out } = ctx;
  const tty = process.stdout.isTTY === true;
  let n = 0;
  let lines = 0;
  try {
    for await (const item of stream) {
      switch (item.type) {
        case 'packet':
          n++;
          if (o.json) out.line(kernelLogLine(item));
          else out.line(`${isoTime(item.timestamp)} ${o.prefixOnly ? item.prefix : item.message}`);
          break;
        case 'trace':
          n++;
          writeTracePacket(out, item, o.json, tty);
          break;
        case 'line':
          if (o.json) out.line(kernelLogLine(item));
          else out.line(`${isoTime(item.timestamp)} ${item.message}`);
          break;
        case 'loss':
          if (o.json) out.line(kernelLogLine(item));
          ctx.err(
            `nfct: ${
              item.lost ?? 'an unknown number of'
            } kernel log records lost: the ring buffer overwrote them before they were read`,
          );
          break;
      }
      out.schedule();
      // A file's batches are there as soon as asked for: the loop may never yield to the event
      // loop, where schedule() writes. Every 1024 lines, write (and wait for the write before):
      // memory holds two batches of output at most.
      if (++lines % 1024 === 0) await out.flush();
    }
    await out.drain();
  } finally {
    await stream.close();
    ctx.err(summary(mode, n, where, stream));
  }
  return 0;
}

/** What the command says on exit: what it wrote, and what was lost or skipped. */
function summary(mode: Mode, n: number, where: string, stream: KernelLogStream): string {
  const what = mode === 'log' ? `${n} packet${n === 1 ? '' : 's'} logged` : `${n} packet${n === 1 ? '' : 's'} traced`;
  const parts: string[] = [];
  const losses = stream.lossCount;
  if (losses > 0) {
    const unknown = stream.lostUnknown > 0 ? '+' : '';
    parts.push(`${stream.lostRecords}${unknown} kernel log records lost (${losses} overrun${losses === 1 ? '' : 's'})`);
  }
  const skipped = stream.stats.malformed;
  if (skipped > 0) parts.push(`${skipped} line${skipped === 1 ? '' : 's'} skipped (too long or malformed)`);
  return `nfct: ${what}${where}; ${parts.length > 0 ? parts.join('; ') : 'none lost'}.`;
}
