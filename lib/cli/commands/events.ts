// -E: the event stream, matched as -L matches, written a batch at a time (one write per
// batch of events, waiting while stdout is full); on SIGINT/SIGTERM/SIGHUP it stops reading,
// writes the events it had received (./stop-gently.ts), and says how many events it showed,
// how many the kernel dropped and how many it received but could not write in time.

import type { ConntrackEvent, EventStream, EventType } from '../../conntrack/events.js';
import type { Conntrack } from '../../conntrack/handle.js';
import * as fmt from '../../conntrack/text.js';
import type { Context } from '../context.js';
import { eventLine, expectationEventLine } from '../ndjson.js';
import type { CtRequest } from '../parse.js';
import { comm, ownerOf } from '../procs.js';
import { selection } from '../selection.js';
import { eachUntilStopped, unwrittenLine } from './stop-gently.js';

const origins = new Map<number, string | undefined>();
function origin(portid: number | undefined): fmt.UserspaceOrigin | undefined {
  if (!portid) return undefined;
  if (!origins.has(portid)) origins.set(portid, comm(portid) ?? ownerOf(portid));
  const progname = origins.get(portid);
  return progname === undefined ? { portid } : { portid, progname };
}

/**
 * Writes the events of a stream as -E does: each one `show` turns into a line (undefined: not
 * shown), the XML header before the first when `xml` is given and its footer at the end, a batch
 * per write; overruns are warned of as they come. Resolves how many events it showed and the
 * kernel's last overrun count, once the stream has ended: ctx.stop ends its reading, and the
 * events it had received are still written (for up to FLUSH_MS; the rest is counted).
 */
async function writeEvents(
  stream: EventStream,
  ctx: Context,
  show: (ev: ConntrackEvent) => string | undefined,
  xml: { header: string; footer: string } | undefined,
): Promise<{ shown: number; overruns: number }> {
  const { out } = ctx;
  let shown = 0;
  let overruns = 0;
  let xmlOpen = false;
  await eachUntilStopped(stream, ctx.stop, out, write);
  if (xml && xmlOpen) out.raw(xml.footer);
  await out.drain();
  return { shown, overruns };

  function write(ev: ConntrackEvent): void {
    if (ev.type === 'overrun') {
      overruns = ev.overruns;
      ctx.err(`WARNING: the kernel dropped events (${ev.overruns} overruns so far); raise --buffer-size`);
      return;
    }
    const line = show(ev);
    if (line === undefined) return;
    if (xml && !xmlOpen) {
      out.raw(xml.header);
      xmlOpen = true;
    }
    out.line(line);
    shown++;
    out.schedule();
  }
}

/**
 * After the summary: that events were lost, when the kernel reported overruns; that events
 * received were not written, when the signal's time ran out first.
 */
function reportLoss(ctx: Context, stream: EventStream, overruns: number): void {
  if (overruns > 0) {
    ctx.err(
      `nfct: events were lost: the kernel reported ${overruns} overruns (the number of events it dropped is not known); at most ${stream.stats.peakRecords} events waited in memory`,
    );
  }
  const unwritten = unwrittenLine(stream.dropped, 'events', ctx.signal);
  if (unwritten) ctx.err(unwritten);
}

export async function events(ct: Conntrack, r: CtRequest, ctx: Context): Promise<number> {
  const types: EventType[] | undefined = r.events
    ? (['new', 'update', 'destroy'] as const).filter((_, i) => r.events & (1 << i))
    : undefined;
  const sel = selection(r, 'list');
  const o = r.output;
  const labels = r.labelNames ? Object.fromEntries(r.labelNames) : undefined;
  const options: fmt.EventFormatOptions = { extended: o.has('extended'), id: o.has('id'), timestamp: o.has('timestamp'),
    ktimestamp: o.has('ktimestamp'), labels, xml: o.has('xml'), save: o.has('save') };
  // -b: the size asked, within what the library takes (4096 bytes to 2 GiB); the notice says
  // what the kernel then reports for the socket (SO_RCVBUF, twice the size asked), as
  // conntrack's says.
  const bufferSize = r.bufferSize === undefined ? undefined : Math.min(Math.max(r.bufferSize, 4096), 2 ** 31 - 1);
  const stream = ct.events({ ...sel.filter, types, bufferSize });
  if (bufferSize !== undefined) {
    ctx.err(`NOTICE: Netlink socket buffer size has been set to ${stream.stats.socketBuffer} bytes.`);
  }
  const { shown, overruns } = await writeEvents(stream, ctx, (ev) => {
    if (ev.type !== 'new' && ev.type !== 'update' && ev.type !== 'destroy') return undefined;
    if (!sel.match(ev.flow)) return undefined;
    return r.json ? eventLine(ev) : fmt.formatEvent(ev, { ...options, userspace: origin(ev.portid) });
  }, options.xml && !r.json ? { header: fmt.XML_HEADER, footer: fmt.XML_FOOTER } : undefined);
  ctx.say(`${shown} flow events have been shown.`);
  reportLoss(ctx, stream, overruns);
  return 0;
}

/**
 * -E expect: the expectation events ([NEW], [DESTROY]), written as -E writes flow events; on
 * SIGINT/SIGTERM/SIGHUP it says how many it showed.
 */
export async function expectEvents(ct: Conntrack, r: CtRequest, ctx: Context): Promise<number> {
  const o = r.output;
  const options = { timestamp: o.has('timestamp'), xml: o.has('xml') };
  const stream = ct.events({ types: ['expect-new', 'expect-destroy'] });
  const { shown, overruns } = await writeEvents(stream, ctx, (ev) => {
    if (ev.type !== 'expect-new' && ev.type !== 'expect-destroy') return undefined;
    return r.json ? expectationEventLine(ev) : fmt.formatExpectationEvent(ev, options);
  }, options.xml && !r.json ? { header: fmt.XML_EXPECT_HEADER, footer: fmt.XML_EXPECT_FOOTER } : undefined);
  ctx.say(`${shown} expectation events have been shown.`);
  reportLoss(ctx, stream, overruns);
  return 0;
}
