// -D and -U as the library's bulk operations: the dump is matched batch by batch, each batch
// of matches becomes one run of requests, and what was deleted or changed is printed as
// conntrack prints it, one write per batch.
import type { FlowFilter } from '../../conntrack/filter.js';
import type { FlowChanges } from '../../conntrack/flowspec.js';
import type { Conntrack } from '../../conntrack/handle.js';
import type { Flow, TcpState } from '../../conntrack/types.js';
import { NfctError } from '../../core/errors.js';
import type { Context } from '../context.js';
import { CliExit, operationFailed } from '../messages.js';
import { flowPrinter } from '../output.js';
import { type CtRequest, l4 } from '../parse.js';
import { inKernelOrder, selection } from '../selection.js';
import { checkMasks } from './list.js';

/**
 * Runs a bulk operation, printing each batch of entries it changed as conntrack prints them;
 * a signal (ctx.stop, which `run` hands to the library) ends it after the batch in hand, and
 * what was done so far is counted.
 */
async function bulk(r: CtRequest, ctx: Context, what: 'deleted' | 'updated',
  run: (print: (flows: Flow[]) => Promise<void>) => Promise<number>): Promise<number>
{
  const printer = flowPrinter(r, what === 'deleted' ? 'delete' : 'update');
  let n: number;
  const print = async (flows: Flow[]): Promise<void> => {
    for (const f of flows) {
      // -U prints the entry as a get returns it, while the get holds one more reference.
      if (what === 'updated' && f.use !== undefined) f.use += 1;
      printer.flow(ctx.out, f);
    }
    await ctx.out.flush();
  };
  try {
    n = await run(print);
  } catch (e) {
    if (e instanceof NfctError) {
      // What was printed stays; as conntrack, no count then, only the failure.
      await ctx.out.drain();
      operationFailed(e.errno, what === 'deleted' ? 'delete' : 'update');
    }
    throw e;
  }
  printer.end(ctx.out);
  await ctx.out.drain();
  ctx.say(`${n} flow entries have been ${what}.`);
  return n === 0 ? 1 : 0;
}

const FLUSHABLE = new Set(['family', 'mark']);

export async function remove(ct: Conntrack, r: CtRequest, ctx: Context): Promise<number> {
  checkMasks(r);
  const sel = selection(r, 'delete');
  // Nobody reads the deleted entries and the kernel's flush can apply the whole filter: the
  // kernel deletes them without a dump (deleteWhere counts them from the table's size).
  if (ctx.out.discarded && sel.matchesAll && Object.keys(sel.filter).every((k) => FLUSHABLE.has(k))) {
    let n: number;
    try {
      n = await ct.deleteWhere(sel.filter);
    } catch (e) {
      if (e instanceof NfctError) operationFailed(e.errno, 'delete');
      throw e;
    }
    ctx.say(`${n} flow entries have been deleted.`);
    return n === 0 ? 1 : 0;
  }
  const match = sel.matchesAll ? undefined : sel.match;
  const options = { match, batchSize: 4096, signal: ctx.stop };
  // Nobody reads the deleted entries: the library only counts them (no entry is decoded).
  if (ctx.out.discarded) return bulk(r, ctx, 'deleted', () => ct.deleteEach({ ...sel.filter, ...options }));
  // Printed in the kernel's order, as conntrack prints them.
  const ordered = (): Promise<FlowFilter> => inKernelOrder(ct, sel.filter);
  // Plain lines: the library formats them in native code as it deletes.
  const native = flowPrinter(r, 'delete').native;
  if (native) {
    return bulk(r, ctx, 'deleted', async () =>
      ct.deleteEach({
        ...(await ordered()),
        ...options,
        lineFormat: native,
        onDeletedText: (lines, count) => {
          ctx.out.bytes(lines, count);
          return ctx.out.flush();
        },
      }));
  }
  return bulk(r, ctx, 'deleted', async (onDeleted) => ct.deleteEach({ ...(await ordered()), ...options, onDeleted }));
}

export function update(ct: Conntrack, r: CtRequest, ctx: Context): Promise<number> {
  checkMasks(r);
  // A NAT address on -U goes into each update, and the kernel changes no NAT of an existing
  // entry: every update is refused (EOPNOTSUPP). Nothing is changed (docs/cli.md: deliberate differences).
  if (r.snat || r.dnat) operationFailed(95, 'update');
  const sel = selection(r, 'update');
  // What changes on each entry; null when it would stay as it is (conntrack sends nothing then).
  const changesFor = (f: Flow): FlowChanges | null => {
    const c: FlowChanges = {};
    let differs = false;
    if (r.mark) {
      const mark = (((f.mark ?? 0) & ~r.mark.mask) ^ r.mark.value) >>> 0;
      c.mark = mark;
      if (mark !== (f.mark ?? 0)) differs = true;
    }
    if (r.has('status') && r.status.value) {
      const bits = (f.status.bits | r.status.value) >>> 0;
      if (bits !== f.status.bits) differs = true;
      c.status = (Object.keys(STATUS_BITS) as (keyof typeof STATUS_BITS)[]).filter((n) =>
        r.status.value & STATUS_BITS[n]
      );
    }
    if (r.timeout !== undefined) {
      c.timeout = r.timeout;
      if (r.timeout !== f.timeout) differs = true;
    }
    // --state on -U sets the TCP state (LISTEN is conntrack's name for SYN_SENT2).
    const state = r.proto?.kind === 'tcp' ? l4(r, 'state') : undefined;
    if (state !== undefined && f.protocol === 'tcp') {
      c.state = (state === 'LISTEN' ? 'SYN_SENT2' : state) as TcpState;
      if (c.state !== f.tcp?.state) differs = true;
    }
    if (r.labelAdd || r.labelDel !== undefined) {
      const now = new Set(f.labels ?? []);
      if (r.labelAdd) { for (const b of r.labelAdd) now.add(b); }
      else if (r.labelDel === null) now.clear();
      else for (const b of r.labelDel!) now.delete(b);
      const next = [...now].sort((a, b) => a - b);
      const remove = (f.labels ?? []).filter((b) => !now.has(b));
      if (next.length > 0 || remove.length > 0) {
        c.labels = { ...(next.length > 0 ? { add: next } : {}), ...(remove.length > 0 ? { remove } : {}) };
      }
      // As conntrack: an entry that has labels is updated whatever the line does to them (its
      // comparison never finds a label set unchanged); one without, when it gets some.
      if ((f.labels ?? []).length > 0 || next.length > 0) differs = true;
    }
    // (differs is never set without a change in c: an entry that has labels gets some to add
    // or to remove.)
    return differs ? c : null;
  };
  // -t 0: the entries expire as they are changed. conntrack reads each back after its update,
  // finds none, and prints and counts none.
  const expire = r.timeout === 0;
  return bulk(r, ctx, 'updated', async (onUpdated) => {
    const n = await ct.updateWhere({ ...(await inKernelOrder(ct, sel.filter)),
      match: sel.matchesAll ? undefined : sel.match, onUpdated: expire ? undefined : onUpdated, signal: ctx.stop },
      changesFor);
    return expire ? 0 : n;
  });
}

const STATUS_BITS = { EXPECTED: 1, SEEN_REPLY: 2, ASSURED: 4, FIXED_TIMEOUT: 1 << 10, OFFLOAD: 1 << 14,
  HW_OFFLOAD: 1 << 15 } as const;

export { CliExit };
