// Compares a Flow read through the library with the same entry as `conntrack -L -o
// extended,id` printed it (parsed by test/oracle), field by field. Returns the differences
// as readable lines, so a failing test shows every one at once.
import type { Flow, Tuple } from '../../lib/index.js';
import type { CtEntry, CtTuple } from '../oracle/conntrack-parse.js';

export interface CompareOptions {
  /** Seconds the countdown may have moved between the two reads. */
  timeoutSlack?: number;
  /** Label names by bit, when conntrack printed labels. */
  labelNames?: Record<number, string>;
  /** Unix seconds when conntrack ran, to check its delta-time against the flow's start. */
  oracleTime?: number;
  /** Fields not to compare. */
  ignore?: readonly string[];
}

function tupleDiffs(name: string, t: Tuple, o: CtTuple, out: string[]): void {
  const want: Record<string, unknown> = { src: o.src, dst: o.dst };
  const got: Record<string, unknown> = { src: t.src, dst: t.dst };
  const tt = t as unknown as Record<string, number | undefined>;
  if (o.sport !== undefined || o.dport !== undefined) {
    Object.assign(want, { sport: o.sport, dport: o.dport });
    Object.assign(got, { sport: tt.srcPort, dport: tt.dstPort });
  }
  if (o.icmpType !== undefined) {
    Object.assign(want, { type: o.icmpType, code: o.icmpCode, id: o.icmpId });
    Object.assign(got, { type: tt.type, code: tt.code, id: tt.id });
  }
  if (o.greSrcKey !== undefined) {
    Object.assign(want, { srckey: o.greSrcKey, dstkey: o.greDstKey });
    Object.assign(got, { srckey: tt.srcKey, dstkey: tt.dstKey });
  }
  want.zone = o.zone;
  got.zone = t.zone;
  for (const k of Object.keys(want)) {
    if (want[k] !== got[k]) out.push(`${name}.${k}: library ${String(got[k])}, conntrack ${String(want[k])}`);
  }
}

export function diffFlow(flow: Flow, e: CtEntry, opts: CompareOptions = {}): string[] {
  const out: string[] = [];
  const check = (field: string, got: unknown, want: unknown): void => {
    if (opts.ignore?.includes(field)) return;
    if (got !== want) out.push(`${field}: library ${String(got)}, conntrack ${String(want)}`);
  };
  check('family', flow.family, e.family === 6 ? 'ipv6' : 'ipv4');
  check('protocol', flow.protocol, e.l4proto);
  check('protonum', flow.protonum, e.l4protonum);
  check('id', flow.id, e.id);
  if (e.timeout !== undefined) {
    const slack = opts.timeoutSlack ?? 2;
    if (flow.timeout === undefined || Math.abs(flow.timeout - e.timeout) > slack) {
      out.push(`timeout: library ${flow.timeout}, conntrack ${e.timeout}`);
    }
  }
  const state = flow.protocol === 'tcp'
    ? flow.tcp?.state
    : flow.protocol === 'sctp'
    ? flow.sctp?.state
    : flow.protocol === 'dccp'
    ? flow.dccp?.state
    : undefined;
  check('state', state, e.state);
  tupleDiffs('original', flow.original, e.orig, out);
  tupleDiffs('reply', flow.reply, e.reply, out);
  check('counters.original.packets', flow.counters?.original.packets, e.orig.packets);
  check('counters.original.bytes', flow.counters?.original.bytes, e.orig.bytes);
  check('counters.reply.packets', flow.counters?.reply.packets, e.reply.packets);
  check('counters.reply.bytes', flow.counters?.reply.bytes, e.reply.bytes);
  check('seenReply (no [UNREPLIED])', flow.status.seenReply, e.seenReply);
  check('assured', flow.status.assured, e.assured);
  check('offload', flow.status.offload, e.offload);
  check('hwOffload', flow.status.hwOffload, e.hwOffload);
  check('mark', flow.mark, e.mark);
  check('secmark', flow.secmark, e.secmark);
  check('secctx', flow.secctx, e.secctx);
  check('zone', flow.zone, e.zone);
  check('use', flow.use, e.use);
  check('helper', flow.helper, e.helper);
  if (opts.labelNames) {
    const names = (flow.labels ?? []).map((b) => opts.labelNames![b]).filter((n): n is string => n !== undefined);
    check('labels', names.join(','), (e.labels ?? []).join(','));
  }
  if (e.deltaTime !== undefined || flow.timestamp) {
    if (!flow.timestamp || e.deltaTime === undefined) {
      out.push(
        `timestamp: library ${flow.timestamp ? 'has' : 'has no'} start, conntrack ${
          e.deltaTime === undefined ? 'no' : ''
        } delta-time`,
      );
    } else if (opts.oracleTime !== undefined) {
      const start = Number(flow.timestamp.start / 1_000_000_000n);
      if (Math.abs(opts.oracleTime - e.deltaTime - start) > 2) {
        out.push(`timestamp.start: library ${start}, conntrack now-delta ${opts.oracleTime - e.deltaTime}`);
      }
    }
  }
  return out;
}

/** Pairs flows with conntrack entries by id; returns the unpaired on each side too. */
export function pairById(flows: Flow[],
  entries: CtEntry[]): { pairs: [Flow, CtEntry][]; onlyLibrary: Flow[]; onlyConntrack: CtEntry[] }
{
  const byId = new Map(entries.map((e) => [e.id, e]));
  const pairs: [Flow, CtEntry][] = [];
  const onlyLibrary: Flow[] = [];
  for (const f of flows) {
    const e = byId.get(f.id);
    if (e) {
      pairs.push([f, e]);
      byId.delete(f.id);
    } else onlyLibrary.push(f);
  }
  return { pairs, onlyLibrary, onlyConntrack: [...byId.values()] };
}
