// -L (conntrack, dying, unconfirmed) and -G: each batch of the dump is matched, formatted and
// written as it arrives, one write per batch.
import type { Conntrack, ListOptions } from '../../conntrack/handle.js';
import type { Flow } from '../../conntrack/types.js';
import { NfctError } from '../../core/errors.js';
import { readServices, type Services } from '../../k8s/services.js';
import { flowServiceJson, flowServiceText, serviceOfFlow } from '../../k8s/stale.js';
import type { Context } from '../context.js';
import { CliExit, operationFailed } from '../messages.js';
import { entryLine } from '../ndjson.js';
import { type FlowPrinter, flowPrinter, type Writer } from '../output.js';
import { type CtRequest, l4 } from '../parse.js';
import { COMPARISON, getHolds, inKernelOrder, selection } from '../selection.js';
import { tupleOf } from './create.js';

/**
 * With --services: the namespace's Services, read once, and a printer that adds each entry's
 * Service (native lines get it from native code; JSON a `service` object).
 */
async function servicePrinter(pending: Promise<Services> | undefined, r: CtRequest,
  printer: FlowPrinter): Promise<FlowPrinter>
{
  if (!pending) return printer;
  let services: Services;
  try {
    services = await pending;
  } catch (e) {
    throw new CliExit(1, `--services: ${(e as Error).message}`);
  }
  const out: FlowPrinter = {
    flow: (w, f) => {
      const s = serviceOfFlow(f, services);
      if (!s) {
        printer.flow(w, f);
        return;
      }
      if (r.json) {
        const json = entryLine(f);
        w.line(`${json.slice(0, -1)},"service":${JSON.stringify(flowServiceJson(s))}}`);
      } else {
        printer.flow({ line: (text: string) => w.line(`${text}${flowServiceText(s)}`) } as Writer, f);
      }
    },
    end: (w) => printer.end(w),
  };
  if (printer.native) out.native = { ...printer.native, services };
  return out;
}

/** conntrack's checks of --mask-src / --mask-dst before a -L, -D or -U. */
export function checkMasks(r: CtRequest): void {
  if (r.has('mask-src') && !r.has('src')) throw new CliExit(2, "Can't use --mask-src without --src", true);
  if (r.has('mask-dst') && !r.has('dst')) throw new CliExit(2, "Can't use --mask-dst without --dst", true);
}

/** Lines in a chunk of whole lines. */
function lineCount(chunk: Buffer): number {
  let n = 0;
  for (let at = chunk.indexOf(10); at !== -1; at = chunk.indexOf(10, at + 1)) n++;
  return n;
}

export async function list(ct: Conntrack, r: CtRequest, ctx: Context): Promise<number> {
  // The ruleset is read while the listing is prepared.
  const pending = r.services ? readServices(ct.netnsPath === null ? {} : { netns: ct.netnsPath }) : undefined;
  pending?.catch(() => undefined);
  const base = flowPrinter(r, 'list');
  let printer = base;
  const { out } = ctx;
  let shown = 0;
  let query: ListOptions;
  let match: ((f: Flow) => boolean) | undefined;
  if (r.table === 'dying' || r.table === 'unconfirmed') {
    query = { table: r.table };
  } else {
    if (r.options & COMPARISON && r.has('zero')) throw new CliExit(2, "Can't use -z with filtering parameters", true);
    checkMasks(r);
    // conntrack sends -u as the kernel's status filter, and the kernel refuses one that tests
    // no bit (-u UNSET alone): nothing is listed.
    if (r.has('status') && (r.status.mask || r.status.value) === 0) operationFailed(22, 'list');
    const sel = selection(r, 'list');
    if (!sel.matchesAll) match = sel.match;
    query = { ...sel.filter, zeroCounters: r.has('zero') || undefined };
  }
  try {
    // In the kernel's order, as conntrack lists (a -z read resets counters: no probe first).
    if (!query.zeroCounters && query.table === undefined) query = await inKernelOrder(ct, query);
    printer = await servicePrinter(pending, r, base);
    if (printer.native && !match) {
      // Plain lines and a filter the library applies whole: its native formatter makes them.
      for await (const chunk of ct.listText({ ...query, ...printer.native })) {
        const n = lineCount(chunk);
        out.bytes(chunk, n);
        shown += n;
        await out.flush();
        if (ctx.stop.aborted) break;
      }
    } else {
      for await (const batch of ct.list(query).batches()) {
        for (const f of batch) {
          if (match && !match(f)) continue;
          printer.flow(out, f);
          shown++;
        }
        await out.flush();
        if (ctx.stop.aborted) break;
      }
    }
  } catch (e) {
    if (e instanceof NfctError) operationFailed(e.errno, 'list');
    throw e;
  }
  printer.end(out);
  await out.drain();
  ctx.say(`${shown} flow entries have been shown.`);
  return 0;
}

export async function get(ct: Conntrack, r: CtRequest, ctx: Context): Promise<number> {
  // conntrack's request for an entry by its reply tuple alone is one the kernel refuses; reply
  // ports (or GRE keys) without the reply addresses make a reply tuple the kernel cannot read,
  // and conntrack reports that failure with the errno its last call left: ENODATA after TCP's
  // options, 0 after the others' ("Operation failed: Success").
  if (!r.src && !r.dst) operationFailed(22, 'get');
  if (!r.replySrc && !r.replyDst &&
    ['reply-port-src', 'reply-port-dst', 'reply-key-src', 'reply-key-dst'].some((n) => l4(r, n) !== undefined))
  {
    operationFailed(r.proto?.kind === 'tcp' ? 61 : 0, 'get');
  }
  let flow;
  try {
    flow = await ct.get(tupleOf(r));
  } catch (e) {
    if (e instanceof NfctError) operationFailed(e.errno, 'get');
    throw e;
  }
  if (!flow) operationFailed(2, 'get');
  const sel = selection(r, 'list');
  let shown = 0;
  const printer = flowPrinter(r, 'get');
  if (sel.match(flow) && getHolds(flow, sel.filter)) {
    printer.flow(ctx.out, flow);
    shown++;
  }
  await ctx.out.drain();
  ctx.say(`${shown} flow entries have been shown.`);
  return shown === 0 ? 1 : 0;
}
