// The expectation table as conntrack prints it: `conntrack -L expect` (and `-o xml`),
// `conntrack -E expect`, `conntrack -S expect`.
import { AF_INET, AF_INET6 } from '../core/protocols.js';
import type { ExpectationEvent } from './events.js';
import type { Expectation, ExpectationCpuStats } from './expect.js';
import { field, l4name, NS_PER_S, PORT_PROTOS, tupleText, xmlWhen } from './text-parts.js';
import type { Tuple } from './types.js';

/** The same for `conntrack -L expect -o xml` and `-E expect -o xml`. */
export const XML_EXPECT_HEADER = '<?xml version="1.0" encoding="utf-8"?>\n<expect>\n';
export const XML_EXPECT_FOOTER = '</expect>\n';

const EXPECT_FLAG_NAMES: readonly [number, string][] = [
  [1, 'PERMANENT'],
  [2, 'INACTIVE'],
  [4, 'USERSPACE'],
];

/** How formatExpectation() writes a line, as `conntrack -L expect -o ...` would. */
export interface ExpectationFormatOptions {
  /** For `conntrack -E expect`: the `    [NEW] ` / `[DESTROY] ` tag first. */
  type?: 'new' | 'update' | 'destroy';
}

/**
 * One line of `conntrack -L expect`: `timeout proto=N` the expected tuple, `mask-src=`...,
 * `master-src=`..., `zone=`, the flags (`PERMANENT,INACTIVE,USERSPACE`), `class=`, `helper=`.
 */
export function formatExpectation(e: Expectation, options: ExpectationFormatOptions = {}): string {
  let s = '';
  if (options.type === 'new') s += '    [NEW] ';
  else if (options.type === 'update') s += ' [UPDATE] ';
  else if (options.type === 'destroy') s += '[DESTROY] ';
  if (e.timeout !== undefined) s += `${e.timeout} `;
  s += `proto=${e.tuple.protonum} `;
  s += tupleText(e.tuple);
  s += tupleText(e.mask, 'mask-src', 'mask-dst');
  s += tupleText(e.master, 'master-src', 'master-dst');
  if (e.zone !== undefined) s += `zone=${e.zone} `;
  const flags = EXPECT_FLAG_NAMES.filter(([bit]) => e.flagBits & bit).map(([, n]) => n);
  s += flags.join(',');
  if (e.flagBits) s += ' ';
  if (e.class !== undefined) s += `class=${e.class} `;
  if (e.helper !== undefined) s += `helper=${e.helper}`;
  return s.endsWith(' ') ? s.slice(0, -1) : s;
}

/** `[%-8ld.%-6ld]\t`, the prefix of `-L expect` / `-E expect` lines with `-o timestamp`. */
export function expectationTimePrefix(ns: bigint): string {
  const sec = (ns / NS_PER_S).toString();
  const usec = ((ns % NS_PER_S) / 1000n).toString();
  return `[${sec.padEnd(8)}.${usec.padEnd(6)}]\t`;
}

/** How an expectation is written as `conntrack -L expect -o xml` does. */
export interface ExpectationXmlOptions {
  /** Events print `<flow type="new|destroy">`; listed ones `<flow>`. */
  type?: 'new' | 'update' | 'destroy';
  /** With `-o xml,timestamp`: a `<when>` element in `<meta>` for this time (ns since the epoch). */
  when?: bigint;
}

/** The layer-4 fields of one expectation tuple (`<sport>`/`<dport>`, GRE keys; none for ICMP). */
function xmlExpectL4(t: Tuple): string {
  if (PORT_PROTOS.has(t.protonum)) return `<sport>${field(t, 'srcPort')}</sport><dport>${field(t, 'dstPort')}</dport>`;
  if (t.protonum === 47) {
    return `<srckey>0x${field(t, 'srcKey').toString(16)}</srckey><dstkey>0x${field(t, 'dstKey').toString(16)}</dstkey>`;
  }
  return '';
}

/**
 * One `<flow>...</flow>` line of `conntrack -L expect -o xml` (or of `-E expect -o xml` with
 * `type`): layer 3 and layer 4 each with `<expected>`, `<mask>`, `<master>`, then `<meta>` with
 * `<helper-name>`, `<timeout>`, `<class>`, `<zone>`, `<when>` and the flags as empty elements.
 */
export function formatExpectationXml(e: Expectation, options: ExpectationXmlOptions = {}): string {
  const n = e.family === 'ipv6' ? AF_INET6 : AF_INET;
  let s = options.type ? `<flow type="${options.type}">` : '<flow>';
  s += `<layer3 protonum="${n}" protoname="${n === AF_INET ? 'ipv4' : 'ipv6'}">`;
  s += `<expected><src>${e.tuple.src}</src><dst>${e.tuple.dst}</dst></expected>`;
  s += `<mask><src>${e.mask.src}</src><dst>${e.mask.dst}</dst></mask>`;
  s += `<master><src>${e.master.src}</src><dst>${e.master.dst}</dst></master></layer3>`;
  s += `<layer4 protonum="${e.tuple.protonum}" protoname="${l4name(e.tuple.protonum)}">`;
  s += `<expected>${xmlExpectL4(e.tuple)}</expected>`;
  s += `<mask>${xmlExpectL4(e.mask)}</mask>`;
  s += `<master>${xmlExpectL4(e.master)}</master></layer4>`;
  s += '<meta>';
  if (e.helper !== undefined) s += `<helper-name>${e.helper}</helper-name>`;
  if (e.timeout !== undefined) s += `<timeout>${e.timeout}</timeout>`;
  if (e.class !== undefined) s += `<class>${e.class}</class>`;
  if (e.zone !== undefined) s += `<zone>${e.zone}</zone>`;
  if (options.when !== undefined) s += xmlWhen(options.when);
  if (e.flagBits & 1) s += '<permanent/>';
  if (e.flagBits & 2) s += '<inactive/>';
  if (e.flagBits & 4) s += '<userspace/>';
  return `${s}</meta></flow>`;
}

/** Options of formatExpectationEvent(): conntrack's `-o timestamp` and `-o xml`. */
export interface ExpectationEventFormatOptions {
  /** The `[seconds.microseconds]` prefix (or, with `xml`, the `<when>` element). */
  timestamp?: boolean;
  /** The `<flow type="...">` line instead of the text line. */
  xml?: boolean;
}

/**
 * One line of `conntrack -E expect`. With `timestamp`, the prefix that command prints, whose
 * format differs from the flow events' (`[%-8ld.%-6ld]`: microseconds padded with blanks on
 * the right, not zeros on the left). With `xml`, the `<flow type="...">` line instead (and
 * with `timestamp`, its `<when>` element).
 */
export function formatExpectationEvent(event: ExpectationEvent, options: ExpectationEventFormatOptions = {}): string {
  const type = event.type === 'expect-destroy' ? 'destroy' : 'new';
  if (options.xml) {
    return formatExpectationXml(event.expectation, { type, when: options.timestamp ? event.timestamp : undefined });
  }
  const prefix = options.timestamp ? expectationTimePrefix(event.timestamp) : '';
  return prefix + formatExpectation(event.expectation, { type });
}

/**
 * What `conntrack -S expect` prints on stdout: one line per CPU (`cpu=0   \texpect_new=0
 * expect_create=1 expect_delete=0 `, trailing blank included), each with its newline.
 */
export function formatExpectationCpuStats(rows: readonly ExpectationCpuStats[]): string {
  let s = '';
  for (const row of rows) {
    s += `cpu=${String(row.cpu).padEnd(4)}\t`;
    for (const name of ['expect_new', 'expect_create', 'expect_delete']) {
      if (Object.hasOwn(row, name)) s += `${name}=${row[name]! >>> 0} `;
    }
    s += '\n';
  }
  return s;
}
