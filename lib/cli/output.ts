// How the conntrack commands print flows, for each -o mode and --json, through the one writer
// (writer.ts, re-exported here).
import type { LineFormat } from '../conntrack/line-format.js';
import * as fmt from '../conntrack/text.js';
import type { Flow } from '../conntrack/types.js';
import { entryLine } from './ndjson.js';
import type { CtRequest } from './parse.js';
import type { Writer } from './writer.js';

export { Output, type Sink, StdoutClosed, type Writer } from './writer.js';

/** How the conntrack command prints one flow, for each -o mode (and --json). */
export interface FlowPrinter {
  /** Adds the flow's line(s) to the batch. */
  flow(out: Writer, flow: Flow): void;
  /** After the last flow (closes an XML document that was opened). */
  end(out: Writer): void;
  /**
   * Set when the library can format these lines in native code (listText(),
   * deleteEach()'s onDeletedText): the -o flags to hand it. Plain lines only: not --json,
   * save, xml, labels or ktimestamp.
   */
  native?: LineFormat;
}

export function flowPrinter(r: CtRequest, kind: 'list' | 'delete' | 'update' | 'get'): FlowPrinter {
  if (r.json) {
    return { flow: (out, f) => out.line(entryLine(f)), end: () => undefined };
  }
  const o = r.output;
  if (o.has('save')) {
    const type = kind === 'delete' ? 'destroy' : 'new';
    return { flow: (out, f) => out.line(fmt.formatSave(f, { type })), end: () => undefined };
  }
  // Labels are printed when a label map was read (-o labels, -l, --label-add/--label-del),
  // except by -D, which prints without one.
  const labels = kind !== 'delete' && r.labelNames ? Object.fromEntries(r.labelNames) : undefined;
  const ktimestamp = (kind === 'list' || kind === 'get') && o.has('ktimestamp');
  if (o.has('xml')) {
    let opened = kind !== 'list' && kind !== 'get';
    return {
      flow: (out, f) => {
        if (!opened) {
          out.raw(fmt.XML_HEADER);
          opened = true;
        }
        out.line(fmt.formatXml(f, { ktimestamp, labels }));
      },
      end: (out) => {
        if (opened && kind === 'list') out.raw(fmt.XML_FOOTER);
      },
    };
  }
  const options: fmt.FlowFormatOptions = { extended: o.has('extended'), id: o.has('id'), ktimestamp, labels };
  const native = ktimestamp || labels ? undefined : { extended: options.extended, id: options.id };
  return { flow: (out, f) => out.line(fmt.formatFlow(f, options)), end: () => undefined, native };
}
