// -C: the number of entries, as conntrack prints it (or its NDJSON line). In one namespace it
// is asked on the calling thread (TableCounter): nfct -C's start is then spared the trips to
// libuv's pool that an asynchronous open and count make. table.ts counts the expectations,
// and --all-netns counts each namespace with its handle; all print here.
import { TableCounter } from '../../conntrack/count-now.js';
import { NfctError } from '../../core/errors.js';
import type { NetnsOption } from '../../core/netns.js';
import type { Context } from '../context.js';
import { cannotOpen } from '../messages.js';
import { line, receivedNow } from '../ndjson-line.js';
import type { CtRequest } from '../request.js';

/** Prints the count `n` of the table `r` counts. */
export async function printCount(n: number, r: CtRequest, ctx: Context): Promise<number> {
  ctx.out.line(
    r.json
      ? line('count', receivedNow(), 'received', { table: r.command === 'exp-count' ? 'expect' : 'conntrack',
        count: n })
      : String(n),
  );
  await ctx.out.drain();
  return 0;
}

/**
 * Counts the entries of the table in `ns` (the caller's own without it) and prints the count
 * through the context `contextFor` gives once the table is open.
 */
export async function countIn(ns: NetnsOption | undefined, r: CtRequest,
  contextFor: () => Context | Promise<Context>): Promise<number>
{
  let counter: TableCounter;
  try {
    counter = TableCounter.open(ns);
  } catch (e) {
    if (e instanceof NfctError) throw cannotOpen(e);
    throw e;
  }
  let n: number;
  let ctx: Context;
  try {
    ctx = await contextFor();
    n = counter.count();
  } finally {
    counter.close();
  }
  return printCount(n, r, ctx);
}
