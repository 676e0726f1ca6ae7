// What `nfct top` shows: one snapshot of a node (per-namespace header figures and the top
// groups), drawn as a screen, as plain lines, or as one NDJSON object.
import { type AggregateKey, type AggregateKeyValues, keyTexts } from '../../conntrack/aggregate.js';
import type { Counters } from '../../conntrack/types.js';

/** A group-by key of `nfct top`: any of ct.aggregate()'s, or the namespace. */
export type TopKey = AggregateKey | 'netns' | 'service';
export type TopSort = 'count' | 'packets' | 'bytes';

export interface NamespaceFigures {
  netns: string;
  entries: number;
  /** nf_conntrack_max (global, enforced per namespace). */
  max: number;
  /** entries / max, in percent. */
  percent: number;
  /** Events per second since the previous snapshot (null on the first). */
  newPerSec: number | null;
  destroyPerSec: number | null;
  /** Times the kernel dropped events for us (the rates are then low). */
  eventOverruns: number;
  /** Per-second increases of the per-CPU counters summed (null on the first). */
  drop: number | null;
  early_drop: number | null;
  insert_failed: number | null;
}

export interface TopGroup {
  key: AggregateKeyValues & { netns?: string; service?: string };
  count: number;
  counters?: { original: Counters; reply: Counters };
}

export interface TopSnapshot {
  time: string;
  interval: number;
  by: TopKey[];
  sort: TopSort;
  namespaces: NamespaceFigures[];
  groups: TopGroup[];
  /** Entries of every namespace shown (the groups' share is against this). */
  entries: number;
  groupCount: number;
}

const int = (n: number): string => Math.round(n).toLocaleString('en-US');
const rate = (n: number | null): string => (n === null ? '-' : n >= 100 ? int(n) : n.toFixed(1).replace(/\.0$/, ''));

function human(n: number): string {
  if (n < 1000) return String(n);
  const units = ['k', 'M', 'G', 'T', 'P'];
  let v = n;
  let u = -1;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)}${units[u]}`;
}

const COLOUR = { red: '\x1b[1;31m', yellow: '\x1b[1;33m', green: '\x1b[32m', dim: '\x1b[2m', bold: '\x1b[1m', reverse: '\x1b[7m', off: '\x1b[0m' };

/** Percent full with the colour of its severity: red from 90%, yellow from 75%. */
function fullness(percent: number, colour: boolean): string {
  const text = `${percent.toFixed(1)}% full`;
  if (!colour) return text;
  const c = percent >= 90 ? COLOUR.red : percent >= 75 ? COLOUR.yellow : COLOUR.green;
  return `${c}${text}${COLOUR.off}`;
}

function namespaceLine(n: NamespaceFigures, colour: boolean, named: boolean): string {
  const who = named ? `[${n.netns}] ` : '';
  const events = `new ${rate(n.newPerSec)}/s  destroy ${rate(n.destroyPerSec)}/s${n.eventOverruns > 0 ? ` (events lost: ${n.eventOverruns} overruns)` : ''}`;
  const stats = `drop ${rate(n.drop)}/s  early_drop ${rate(n.early_drop)}/s  insert_failed ${rate(n.insert_failed)}/s`;
  return `${who}entries ${int(n.entries)} / ${int(n.max)} (${fullness(n.percent, colour)})  ${events}  ${stats}`;
}

export interface FrameOptions {
  /** Escape sequences for colour and emphasis. */
  colour: boolean;
  /** Terminal size; lines past `rows` are left out, lines are cut at `columns`. */
  columns?: number;
  rows?: number;
  /** The key help line (screen mode). */
  help?: boolean;
  /** What the view is of ('host', a namespace name, 'all namespaces'). */
  title: string;
}

/** One frame as lines. */
export function renderFrame(s: TopSnapshot, o: FrameOptions): string[] {
  const c = o.colour;
  const b = (t: string): string => (c ? `${COLOUR.bold}${t}${COLOUR.off}` : t);
  const lines: string[] = [];
  const clock = s.time.slice(11, 19);
  lines.push(`${b('nfct top')} - ${o.title}  every ${s.interval}s  by ${s.by.join(',')}  sort ${s.sort}  ${clock} UTC`);
  const many = s.namespaces.length > 1;
  if (many) {
    const fullest = [...s.namespaces].sort((x, y) => y.percent - x.percent)[0]!;
    lines.push(`namespaces ${s.namespaces.length}  entries ${int(s.entries)}  fullest [${fullest.netns}] ${int(fullest.entries)} / ${int(fullest.max)} (${fullness(fullest.percent, c)})`);
  }
  const shown = many ? [...s.namespaces].sort((x, y) => y.entries - x.entries).slice(0, 5) : s.namespaces;
  for (const n of shown) lines.push(namespaceLine(n, c, many));
  if (many && s.namespaces.length > shown.length) lines.push(`  ... ${s.namespaces.length - shown.length} more namespaces`);
  lines.push('');
  const acct = s.groups.some((g) => g.counters);
  const head = ['COUNT', '%', ...(acct ? ['PACKETS', 'BYTES'] : []), ...s.by.map((k) => k.toUpperCase())];
  const rows = s.groups.map((g) => {
    const pk = g.counters ? g.counters.original.packets + g.counters.reply.packets : 0;
    const by = g.counters ? g.counters.original.bytes + g.counters.reply.bytes : 0;
    const share = s.entries > 0 ? (100 * g.count) / s.entries : 0;
    return [int(g.count), share.toFixed(1), ...(acct ? [g.counters ? human(pk) : '-', g.counters ? human(by) : '-'] : []), ...keyTexts(g.key, s.by)];
  });
  const numeric = acct ? 4 : 2;
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (r: string[]): string =>
    r.map((v, i) => (i < numeric ? v.padStart(widths[i]!) : i === r.length - 1 ? v : v.padEnd(widths[i]!))).join('  ');
  lines.push(c ? `${COLOUR.reverse}${fmt(head)}${COLOUR.off}` : fmt(head));
  for (const r of rows) lines.push(fmt(r));
  if (s.groups.length === 0) lines.push(c ? `${COLOUR.dim}(no entries)${COLOUR.off}` : '(no entries)');
  if (s.groupCount > s.groups.length) lines.push(`... ${int(s.groupCount - s.groups.length)} more groups`);
  if (o.help) {
    const helpLine = 'g/G: group by next/previous key  s: sort  +/-: interval  q: quit';
    const room = o.rows ?? Infinity;
    while (lines.length < room - 1 && o.rows !== undefined) lines.push('');
    lines.push(c ? `${COLOUR.dim}${helpLine}${COLOUR.off}` : helpLine);
  }
  let out = o.rows !== undefined && lines.length > o.rows ? [...lines.slice(0, o.rows - 1), lines[lines.length - 1]!] : lines;
  if (o.columns !== undefined) out = out.map((l) => cut(l, o.columns!));
  return out;
}

/** Cuts a line to `n` visible characters, escape sequences not counting. */
function cut(line: string, n: number): string {
  let visible = 0;
  let i = 0;
  while (i < line.length) {
    if (line[i] === '\x1b') {
      const end = line.indexOf('m', i);
      i = end < 0 ? line.length : end + 1;
      continue;
    }
    if (visible === n) return `${line.slice(0, i)}${line.includes('\x1b') ? COLOUR.off : ''}`;
    visible++;
    i++;
  }
  return line;
}

/** The snapshot as one NDJSON line's object. */
export function snapshotJson(s: TopSnapshot): Record<string, unknown> {
  return {
    time: s.time,
    interval: s.interval,
    by: s.by,
    sort: s.sort,
    entries: s.entries,
    namespaces: s.namespaces,
    groupCount: s.groupCount,
    groups: s.groups,
  };
}
