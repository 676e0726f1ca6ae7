// -E: the event stream, matched as -L matches, written a batch at a time (one write per
// batch of events, waiting while stdout is full); on SIGINT/SIGTERM/SIGHUP it says how many
// events it showed and how many the kernel dropped.

import type { Conntrack } from '../../conntrack/handle.js';
import type { EventType } from '../../conntrack/events.js';
import { jsonSafe } from '../../conntrack/flow.js';
import * as fmt from '../../conntrack/text.js';
import type { Context } from '../context.js';
import { comm, ownerOf } from '../procs.js';
import { selection } from '../filter.js';
import type { CtRequest } from '../parse.js';

const origins = new Map<number, string | undefined>();
function origin(portid: number | undefined): fmt.UserspaceOrigin | undefined {
  if (!portid) return undefined;
  if (!origins.has(portid)) origins.set(portid, comm(portid) ?? ownerOf(portid));
  const progname = origins.get(portid);
  return progname === undefined ? { portid } : { portid, progname };
}

export async function events(ct: Conntrack, r: CtRequest, ctx: Context): Promise<number> {
  const types: EventType[] | undefined = r.events
    ? (['new', 'update', 'destroy'] as const).filter((_, i) => r.events & (1 << i))
    : undefined;
  const sel = selection(r, 'list');
  const o = r.output;
  const labels = r.labelNames ? Object.fromEntries(r.labelNames) : undefined;
  const options: fmt.EventFormatOptions = { extended: o.has('extended'), id: o.has('id'), timestamp: o.has('timestamp'), ktimestamp: o.has('ktimestamp'), labels, xml: o.has('xml'), save: o.has('save') };
  const { out } = ctx;
  let shown = 0;
  let overruns = 0;
  let xmlOpen = false;
  // -b: the size asked, within what the library takes (4096 bytes to 2 GiB); the notice says
  // what the kernel then reports for the socket (SO_RCVBUF, twice the size asked), as
  // conntrack's says.
  const bufferSize = r.bufferSize === undefined ? undefined : Math.min(Math.max(r.bufferSize, 4096), 2 ** 31 - 1);
  const stream = ct.events({ ...sel.filter, types, signal: ctx.stop, bufferSize });
  if (bufferSize !== undefined) ctx.err(`NOTICE: Netlink socket buffer size has been set to ${stream.stats.socketBuffer} bytes.`);
  // Items arrive a batch at a time; the writer sends them once the loop waits for the next.
  let pending = 0;
  for await (const ev of stream) {
    if (ev.type === 'overrun') {
      overruns = ev.overruns;
      ctx.err(`WARNING: the kernel dropped events (${ev.overruns} overruns so far); raise --buffer-size`);
      continue;
    }
    if (ev.type !== 'new' && ev.type !== 'update' && ev.type !== 'destroy') continue;
    if (!sel.match(ev.flow)) continue;
    if (r.json) out.line(JSON.stringify(jsonSafe(ev)));
    else {
      if (options.xml && !xmlOpen) {
        out.raw(fmt.XML_HEADER);
        xmlOpen = true;
      }
      out.line(fmt.formatEvent(ev, { ...options, userspace: origin(ev.portid) }));
    }
    shown++;
    out.schedule();
    if (++pending >= 4096) {
      pending = 0;
      await out.ready();
    }
  }
  if (xmlOpen) out.raw(fmt.XML_FOOTER);
  await out.drain();
  ctx.say(`${shown} flow events have been shown.`);
  const st = stream.stats;
  if (overruns > 0) ctx.err(`nfct: events were lost: the kernel reported ${overruns} overruns (the number of events it dropped is not known); at most ${st.peakRecords} events waited in memory`);
  return 0;
}

/**
 * -E expect: the expectation events ([NEW], [DESTROY]), written as -E writes flow events; on
 * SIGINT/SIGTERM/SIGHUP it says how many it showed.
 */
export async function expectEvents(ct: Conntrack, r: CtRequest, ctx: Context): Promise<number> {
  const o = r.output;
  const options = { timestamp: o.has('timestamp'), xml: o.has('xml') };
  const { out } = ctx;
  let shown = 0;
  let overruns = 0;
  let xmlOpen = false;
  const stream = ct.events({ types: ['expect-new', 'expect-destroy'], signal: ctx.stop });
  let pending = 0;
  for await (const ev of stream) {
    if (ev.type === 'overrun') {
      overruns = ev.overruns;
      ctx.err(`WARNING: the kernel dropped events (${ev.overruns} overruns so far); raise --buffer-size`);
      continue;
    }
    if (ev.type !== 'expect-new' && ev.type !== 'expect-destroy') continue;
    if (r.json) out.line(JSON.stringify(jsonSafe(ev)));
    else {
      if (options.xml && !xmlOpen) {
        out.raw(fmt.XML_EXPECT_HEADER);
        xmlOpen = true;
      }
      out.line(fmt.formatExpectationEvent(ev, options));
    }
    shown++;
    out.schedule();
    if (++pending >= 4096) {
      pending = 0;
      await out.ready();
    }
  }
  if (xmlOpen) out.raw(fmt.XML_EXPECT_FOOTER);
  await out.drain();
  ctx.say(`${shown} expectation events have been shown.`);
  if (overruns > 0) ctx.err(`nfct: events were lost: the kernel reported ${overruns} overruns (the number of events it dropped is not known); at most ${stream.stats.peakRecords} events waited in memory`);
  return 0;
}
