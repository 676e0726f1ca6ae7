#!/usr/bin/env node
// nfct: conntrack-tools' command line over the library, plus NFLOG and TRACE streams, and
// --json (NDJSON) for every command.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

import { Conntrack, type ListOptions } from '../conntrack/handle.js';
import { NfctError } from '../core/errors.js';
import type { EventType } from '../conntrack/events.js';
import type { FlowFilter } from '../conntrack/filter.js';
import type { FlowChanges, FlowInput } from '../conntrack/flowspec.js';
import { jsonSafe } from '../conntrack/flow.js';
import * as fmt from '../conntrack/text.js';
import { formatLogLine } from '../nflog/logline-format.js';
import { Nflog } from '../nflog/handle.js';
import type { NetnsOption } from '../core/netns.js';
import { Trace, type TraceMatch } from '../trace/handle.js';
import type { Flow } from '../conntrack/types.js';
import { one, type Parsed, parseArgs, UsageError } from './args.js';
import { HELP, LOG_HELP, TRACE_HELP } from './help.js';

const PREFIX = 'conntrack v1.4.7 (conntrack-tools): ';
const out = (line: string): void => void process.stdout.write(`${line}\n`);
const say = (line: string): void => void process.stderr.write(`${PREFIX}${line}\n`);

/** Exit codes as conntrack's: 0 done, 1 an operation failed, 2 a parameter problem. */
class Exit extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

function fail(message: string, code = 1): never {
  say(message);
  throw new Exit(code);
}

function num(text: string | undefined, what: string): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) fail(`Bad parameter \`${what}'`, 2);
  return n;
}

function labelNames(): Map<string, number> {
  const names = new Map<string, number>();
  try {
    for (const line of readFileSync('/etc/xtables/connlabel.conf', 'utf8').split('\n')) {
      const m = /^\s*(\d+)\s+(\S+)/.exec(line);
      if (m) names.set(m[2]!, Number(m[1]));
    }
  } catch {
    // no label file: names cannot be used
  }
  return names;
}

function labelBits(text: string | undefined): number[] | undefined {
  if (text === undefined) return undefined;
  const names = labelNames();
  return text.split(',').map((n) => names.get(n) ?? fail(`unknown label \`${n}'`, 2));
}

function comm(pid: string | number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.indexOf('(') + 1, stat.indexOf(')'));
  } catch {
    return undefined;
  }
}

/** The process holding the netlink socket with this port id (any namespace), by its inode. */
function ownerOf(portid: number): string | undefined {
  let inode: string | undefined;
  const pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  for (const pid of pids) {
    try {
      for (const line of readFileSync(`/proc/${pid}/net/netlink`, 'utf8').split('\n')) {
        const f = line.trim().split(/\s+/);
        if (f[2] === String(portid)) inode = f[9];
      }
    } catch {
      // gone, or not ours to read
    }
    if (inode) break;
  }
  if (!inode) return undefined;
  for (const pid of pids) {
    try {
      for (const fd of readdirSync(`/proc/${pid}/fd`)) {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`) === `socket:[${inode}]`) return comm(pid);
      }
    } catch {
      // gone, or not ours to read
    }
  }
  return undefined;
}

const origins = new Map<number, string | undefined>();

/**
 * Who made a change over netlink, as conntrack -E names it: the port id and the name of the
 * process (the port id is its pid for its first socket, any number for others).
 */
function origin(portid: number | undefined): fmt.UserspaceOrigin | undefined {
  if (!portid) return undefined;
  if (!origins.has(portid)) origins.set(portid, comm(portid) ?? ownerOf(portid));
  const progname = origins.get(portid);
  return progname === undefined ? { portid } : { portid, progname };
}

function netns(p: Parsed): NetnsOption | undefined {
  if (p.pid !== undefined) return { pid: p.pid };
  return p.netns;
}

/** The filter a -L/-D/-E/-U command's options describe. */
function filterOf(p: Parsed): FlowFilter {
  const f: Record<string, unknown> = {};
  const set = (key: string, value: unknown): void => {
    if (value !== undefined) f[key] = value;
  };
  set('src', one(p, 'orig-src'));
  set('dst', one(p, 'orig-dst'));
  set('replySrc', one(p, 'reply-src'));
  set('replyDst', one(p, 'reply-dst'));
  const proto = one(p, 'protonum');
  if (proto !== undefined) set('protocol', /^\d+$/.test(proto) ? Number(proto) : proto);
  set('family', one(p, 'family'));
  set('srcPort', num(one(p, 'orig-port-src'), '--sport'));
  set('dstPort', num(one(p, 'orig-port-dst'), '--dport'));
  set('replySrcPort', num(one(p, 'reply-port-src'), '--reply-port-src'));
  set('replyDstPort', num(one(p, 'reply-port-dst'), '--reply-port-dst'));
  set('zone', num(one(p, 'zone'), '--zone'));
  set('origZone', num(one(p, 'orig-zone'), '--orig-zone'));
  set('replyZone', num(one(p, 'reply-zone'), '--reply-zone'));
  const mark = one(p, 'mark');
  if (mark !== undefined) {
    const [v, m] = mark.split('/');
    set('mark', m === undefined ? Number(v) : { value: Number(v), mask: Number(m) });
  }
  const status = one(p, 'status');
  if (status !== undefined) set('status', status.split(','));
  const state = one(p, 'state');
  if (state !== undefined) set('state', state.toUpperCase());
  set('labels', labelBits(one(p, 'label')));
  return f as FlowFilter;
}

/** What the library's filter cannot express, checked here: ICMP fields and NAT addresses. */
function postFilter(p: Parsed): (f: Flow) => boolean {
  const type = num(one(p, 'icmp-type'), '--icmp-type');
  const code = num(one(p, 'icmp-code'), '--icmp-code');
  const id = num(one(p, 'icmp-id'), '--icmp-id');
  const snat = one(p, 'src-nat');
  const dnat = one(p, 'dst-nat');
  const anat = one(p, 'any-nat');
  return (f) => {
    const o = f.original as { type?: number; code?: number; id?: number };
    if (type !== undefined && o.type !== type) return false;
    if (code !== undefined && o.code !== code) return false;
    if (id !== undefined && o.id !== id) return false;
    if (snat !== undefined && f.nat?.src?.address !== snat) return false;
    if (dnat !== undefined && f.nat?.dst?.address !== dnat) return false;
    if (anat !== undefined && f.nat?.src?.address !== anat && f.nat?.dst?.address !== anat) return false;
    return true;
  };
}

function outputOptions(p: Parsed) {
  const modes = new Set((one(p, 'output') ?? '').split(',').filter(Boolean));
  for (const m of modes) {
    if (!['extended', 'xml', 'id', 'timestamp', 'ktimestamp', 'labels', 'save', 'userspace'].includes(m)) fail(`Bad parameter \`-o ${m}'`, 2);
  }
  const labels = modes.has('labels') ? Object.fromEntries([...labelNames()].map(([n, b]) => [b, n])) : undefined;
  return {
    modes,
    options: { extended: modes.has('extended'), id: modes.has('id'), timestamp: modes.has('timestamp'), ktimestamp: modes.has('ktimestamp'), labels },
  };
}

function printFlows(p: Parsed, flows: Flow[]): void {
  const { modes, options } = outputOptions(p);
  if (p.json) {
    for (const f of flows) out(JSON.stringify(jsonSafe(f)));
  } else if (modes.has('xml')) {
    process.stdout.write(fmt.formatXmlDocument(flows));
  } else if (modes.has('save')) {
    for (const f of flows) out(fmt.formatSave(f));
  } else {
    for (const f of flows) out(fmt.formatFlow(f, options));
  }
}

/** The tuple of a -G/-D/-I command, or undefined when the options do not give a whole one. */
function flowInput(p: Parsed, needTimeout: boolean): FlowInput {
  const src = one(p, 'orig-src');
  const dst = one(p, 'orig-dst');
  const proto = one(p, 'protonum');
  if (!src || !dst || !proto) fail('missing required source, destination or protocol', 2);
  const input: Record<string, unknown> = { protocol: /^\d+$/.test(proto) ? Number(proto) : proto, src, dst };
  const put = (key: string, value: unknown): void => {
    if (value !== undefined) input[key] = value;
  };
  put('srcPort', num(one(p, 'orig-port-src'), '--sport'));
  put('dstPort', num(one(p, 'orig-port-dst'), '--dport'));
  put('type', num(one(p, 'icmp-type'), '--icmp-type'));
  put('code', num(one(p, 'icmp-code'), '--icmp-code'));
  put('id', num(one(p, 'icmp-id'), '--icmp-id'));
  put('zone', num(one(p, 'zone'), '--zone'));
  put('origZone', num(one(p, 'orig-zone'), '--orig-zone'));
  if (needTimeout) {
    const timeout = num(one(p, 'timeout'), '--timeout');
    if (timeout === undefined) fail('missing required timeout', 2);
    input.timeout = timeout;
    put('replyZone', num(one(p, 'reply-zone'), '--reply-zone'));
    const mark = one(p, 'mark');
    put('mark', mark === undefined ? undefined : Number(mark));
    const status = one(p, 'status');
    put('status', status?.split(',').filter((s) => s !== 'UNSET'));
    const state = one(p, 'state');
    put('state', state?.toUpperCase());
    put('labels', labelBits(one(p, 'label-add')));
    const nat = (text: string | undefined) => {
      if (!text) return undefined;
      const m = /^\[?([^\]]+?)\]?(?::(\d+))?$/.exec(text)!;
      return m[2] ? { address: m[1]!, port: Number(m[2]) } : { address: m[1]! };
    };
    put('snat', nat(one(p, 'src-nat')));
    put('dnat', nat(one(p, 'dst-nat')));
    const rs = one(p, 'reply-src');
    const rd = one(p, 'reply-dst');
    if (rs || rd) put('reply', { src: rs, dst: rd, srcPort: num(one(p, 'reply-port-src'), '--reply-port-src'), dstPort: num(one(p, 'reply-port-dst'), '--reply-port-dst') });
  }
  return input as unknown as FlowInput;
}

async function conntrackCommand(p: Parsed): Promise<void> {
  const ct = await Conntrack.open({ netns: netns(p) });
  try {
    switch (p.command) {
      case 'L': {
        if (p.table === 'expect') {
          const exps = await ct.expectations.list().toArray();
          for (const e of exps) out(p.json ? JSON.stringify(jsonSafe(e)) : fmt.formatExpectation(e));
          say(`${exps.length} expectations have been shown.`);
          return;
        }
        const query: ListOptions = { ...filterOf(p), table: p.table === 'conntrack' ? undefined : p.table };
        if (p.options.has('zero')) query.zeroCounters = true;
        const keep = postFilter(p);
        const flows = (await ct.list(query).toArray()).filter(keep);
        printFlows(p, flows);
        say(`${flows.length} flow entries have been shown.`);
        return;
      }
      case 'G': {
        const flow = await ct.get(flowInput(p, false));
        if (!flow) fail("Operation failed: such conntrack doesn't exist");
        printFlows(p, [flow]);
        say('1 flow entries have been shown.');
        return;
      }
      case 'D': {
        if (p.table === 'expect') {
          await ct.expectations.delete({ protocol: one(p, 'protonum') ?? 'tcp', src: one(p, 'tuple-src') ?? one(p, 'orig-src')!, dst: one(p, 'tuple-dst') ?? one(p, 'orig-dst')!, srcPort: num(one(p, 'tuple-port-src'), '--tuple-port-src'), dstPort: num(one(p, 'tuple-port-dst'), '--tuple-port-dst') } as never);
          say('1 expectation entries have been deleted.');
          return;
        }
        const keep = postFilter(p);
        const flows = (await ct.list(filterOf(p)).toArray()).filter(keep);
        let deleted = 0;
        for (const f of flows) {
          try {
            await ct.delete(f);
            deleted++;
            printFlows(p, [f]);
          } catch (e) {
            if (!(e instanceof NfctError && e.code === 'ENOENT')) throw e;
          }
        }
        say(`${deleted} flow entries have been deleted.`);
        if (deleted === 0) throw new Exit(1);
        return;
      }
      case 'I':
      case 'A': {
        try {
          if (p.command === 'A') await ct.add(flowInput(p, true));
          else await ct.create(flowInput(p, true));
        } catch (e) {
          if (e instanceof NfctError && e.code === 'EEXIST') fail('Operation failed: Such conntrack exists, try -U to update');
          throw e;
        }
        say('1 flow entries have been created.');
        return;
      }
      case 'U': {
        // -m, -u, -t and the labels are what to change, not what to match.
        const { mark: _m, status: _s, labels: _l, ...match } = filterOf(p) as FlowFilter & Record<string, unknown>;
        const keep = postFilter(p);
        const flows = (await ct.list(match).toArray()).filter(keep);
        const changes: Record<string, unknown> = {};
        const mark = one(p, 'mark');
        if (mark !== undefined) {
          const [v, m] = mark.split('/');
          changes.mark = m === undefined ? Number(v) : { value: Number(v), mask: Number(m) };
        }
        const timeout = num(one(p, 'timeout'), '--timeout');
        if (timeout !== undefined) changes.timeout = timeout;
        const status = one(p, 'status');
        if (status !== undefined) changes.status = status.split(',');
        const add = labelBits(one(p, 'label-add'));
        const del = labelBits(one(p, 'label-del'));
        if (add || del) changes.labels = { add, remove: del };
        let updated = 0;
        for (const f of flows) {
          await ct.update(f, changes as FlowChanges);
          const now = await ct.get(f);
          if (now) printFlows(p, [now]);
          updated++;
        }
        say(`${updated} flow entries have been updated.`);
        return;
      }
      case 'F': {
        if (p.table === 'expect') {
          await ct.expectations.flush();
          say('expectation table has been emptied.');
          return;
        }
        const family = one(p, 'family') as 'ipv4' | 'ipv6' | undefined;
        await ct.flush(family ? { family } : {});
        say('connection tracking table has been emptied.');
        return;
      }
      case 'C':
        out(String(await ct.count()));
        return;
      case 'S':
        if (p.json) for (const row of await ct.stats()) out(JSON.stringify(row));
        else process.stdout.write(fmt.formatCpuStats(await ct.stats()));
        return;
      case 'E': {
        const mask = one(p, 'event-mask');
        const types = mask ? mask.split(',').map((t) => t.toLowerCase() as EventType) : undefined;
        const ac = new AbortController();
        const stop = (): void => ac.abort();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        const { options } = outputOptions(p);
        const keep = postFilter(p);
        let shown = 0;
        const buffer = num(one(p, 'buffer-size'), '--buffer-size');
        for await (const ev of ct.events({ ...filterOf(p), types, signal: ac.signal, bufferSize: buffer && buffer >= 4096 ? buffer : undefined })) {
          if (ev.type === 'overrun') {
            say(`WARNING: the kernel dropped events (${ev.overruns} overruns so far)`);
            continue;
          }
          if (ev.type === 'new' || ev.type === 'update' || ev.type === 'destroy') {
            if (!keep(ev.flow)) continue;
            out(p.json ? JSON.stringify(jsonSafe(ev)) : fmt.formatEvent(ev, { ...options, userspace: origin(ev.portid) }));
            shown++;
          }
        }
        say(`${shown} flow events have been shown.`);
        return;
      }
    }
  } finally {
    ct.close();
  }
}

/** `nfct log --group N [--prefix-only] [--json] [--netns NAME] [--pid PID]` */
async function logCommand(argv: string[]): Promise<void> {
  let group: number | undefined;
  let prefixOnly = false;
  let json = false;
  let ns: NetnsOption | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--group' || a === '-g') group = num(argv[++i], '--group');
    else if (a === '--prefix-only') prefixOnly = true;
    else if (a === '--json') json = true;
    else if (a === '--netns') ns = argv[++i];
    else if (a === '--pid') ns = { pid: num(argv[++i], '--pid')! };
    else if (a === '--help' || a === '-h') return void process.stdout.write(LOG_HELP);
    else fail(`unknown option \`${a}'`, 2);
  }
  if (group === undefined) fail('nfct log: --group is required', 2);
  const nf = await Nflog.open({ netns: ns });
  const ac = new AbortController();
  process.once('SIGINT', () => ac.abort());
  process.once('SIGTERM', () => ac.abort());
  let n = 0;
  try {
    for await (const item of nf.subscribe({ group, signal: ac.signal })) {
      if (item.type !== 'packet') {
        process.stderr.write(`nfct: ${item.type === 'overrun' ? `the kernel dropped packets (${item.overruns} overruns)` : `${item.missing} packets missing`}\n`);
        continue;
      }
      n++;
      const time = new Date(Number((item.timestamp ?? BigInt(Date.now()) * 1_000_000n) / 1_000_000n)).toISOString();
      if (json) out(JSON.stringify(jsonSafe(item)));
      else if (prefixOnly) out(`${time} ${item.prefix ?? ''}`);
      else out(`${time} ${formatLogLine(item)}`);
    }
  } finally {
    nf.close();
    process.stderr.write(`nfct: ${n} packets logged.\n`);
  }
}

/** `nfct trace [--legacy | --nftables] [--json] [-p PROTO] [-s SRC] [-d DST] [--sport N] [--dport N] [--port N]` */
async function traceCommand(argv: string[]): Promise<void> {
  let legacy = true;
  let nftables = true;
  let json = false;
  let ns: NetnsOption | undefined;
  let bind = false;
  const match: Record<string, unknown> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--legacy') nftables = false;
    else if (a === '--nftables') legacy = false;
    else if (a === '--json') json = true;
    else if (a === '--bind-logger') bind = true;
    else if (a === '--netns') ns = argv[++i];
    else if (a === '--pid') ns = { pid: num(argv[++i], '--pid')! };
    else if (a === '-p' || a === '--protonum') match.protocol = argv[++i];
    else if (a === '-s' || a === '--src') match.src = argv[++i];
    else if (a === '-d' || a === '--dst') match.dst = argv[++i];
    else if (a === '--sport') match.srcPort = num(argv[++i], '--sport');
    else if (a === '--dport') match.dstPort = num(argv[++i], '--dport');
    else if (a === '--port') match.port = num(argv[++i], '--port');
    else if (a === '-f' || a === '--family') match.family = argv[++i];
    else if (a === '--help' || a === '-h') return void process.stdout.write(TRACE_HELP);
    else fail(`unknown option \`${a}'`, 2);
  }
  const trace = await Trace.open({ netns: ns, legacy, nftables, bindLogger: bind });
  const ac = new AbortController();
  // A closed terminal (SIGHUP) ends it as Ctrl-C does: the temporary rule is removed.
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(sig, () => ac.abort());
  const tty = process.stdout.isTTY === true;
  let packets = 0;
  try {
    const stream = trace.packets({ match: Object.keys(match).length > 0 ? (match as TraceMatch) : undefined, signal: ac.signal });
    for await (const pkt of stream) {
      packets++;
      if (json) {
        out(JSON.stringify(jsonSafe(pkt)));
        continue;
      }
      const d = pkt.packet;
      const what = d ? `${d.ipv4?.src ?? d.ipv6?.src ?? ''} -> ${d.ipv4?.dst ?? d.ipv6?.dst ?? ''} ${d.protocolName ?? ''}` : '';
      out(`packet ${pkt.id.toString(16).padStart(8, '0')} ${pkt.source} ${pkt.family} ${what}`.trimEnd());
      for (const h of pkt.hops) {
        const where = h.source === 'legacy' ? `${h.table} ${h.chain} ${h.kind} ${h.rule ?? ''}` : `${h.family} ${h.table} ${h.chain} ${h.kind}${h.handle !== undefined ? ` handle ${h.handle}` : ''}`;
        const verdict = h.verdict ? ` (verdict ${h.verdict}${h.target ? ` ${h.target}` : ''})` : '';
        out(`  ${where.trimEnd()}${h.ruleText ? `: ${h.ruleText}` : ''}${verdict}`);
      }
      const final = pkt.verdict ?? 'unknown';
      const colour = final === 'drop' ? '\x1b[1;31m' : '\x1b[1;32m';
      out(`  => ${tty ? `${colour}${final}\x1b[0m` : final}`);
    }
  } finally {
    await trace.close();
    process.stderr.write(`nfct: ${packets} packets traced.\n`);
  }
}

export async function main(argv: string[]): Promise<number> {
  try {
    if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h') {
      process.stdout.write(HELP);
      return argv.length === 0 ? 2 : 0;
    }
    if (argv[0] === 'log') return await logCommand(argv.slice(1)), 0;
    if (argv[0] === 'trace') return await traceCommand(argv.slice(1)), 0;
    const parsed = parseArgs(argv);
    await conntrackCommand(parsed);
    return 0;
  } catch (e) {
    if (e instanceof Exit) return e.code;
    if (e instanceof UsageError) {
      say(e.message);
      process.stderr.write("Try `nfct -h' or 'nfct --help' for more information.\n");
      return 2;
    }
    if (e instanceof TypeError || e instanceof RangeError) {
      say(e.message);
      return 2;
    }
    if (e instanceof NfctError) {
      say(`Operation failed: ${e.message}`);
      return 1;
    }
    throw e;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`nfct: ${e instanceof Error ? e.stack : String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
