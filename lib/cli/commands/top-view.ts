// What `nfct top` shows: one snapshot of a node (per-namespace header figures and the top
// groups, each with its change since the previous frame), drawn as a screen (with the key help,
// the filter being typed, a question, the selected row), as plain lines, or as one NDJSON line.
import { type AggregateKey, type AggregateKeyValues, keyTexts } from '../../conntrack/aggregate.js';
import type { Counters } from '../../conntrack/types.js';
import { lineHead, withHead } from '../ndjson.js';
import { grouped } from '../numbers.js';

/** A group-by key of `nfct top`: any of ct.aggregate()'s, or the namespace. */
export type TopKey = AggregateKey | 'netns' | 'service';
export type TopSort = 'count' | 'packets' | 'bytes';

export interface NamespaceFigures {
  /** Its label, as text lines print it. */
  netns: string;
  /** Its `netns` object (NDJSON). */
  netnsObject?: Record<string, unknown>;
  /** The kernel's count of its entries. */
  entries: number;
  /** Its entries the groups were made of (those the filter let through, as the dump read them). */
  matched: number;
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
  /** Entries more (or fewer) than in the previous frame; null when that is not known. */
  change?: number | null;
  /** change per second. */
  rate?: number | null;
  counters?: { original: Counters; reply: Counters };
}

export interface TopSnapshot {
  time: string;
  interval: number;
  /** The --by keys as given ('src/16'). */
  by: string[];
  /** Their key names ('src'). */
  keys: TopKey[];
  sort: TopSort;
  /** The screen's text filter, when one is set. */
  text?: string;
  namespaces: NamespaceFigures[];
  groups: TopGroup[];
  /** Entries of every namespace shown: the sum of their counts. */
  entries: number;
  /** Entries the groups were made of (each group's share is against this). */
  matched: number;
  groupCount: number;
}

const int = grouped;
const rate = (n: number | null): string => (n === null ? '-' : n >= 100 ? int(n) : n.toFixed(1).replace(/\.0$/, ''));
const signed = (n: number | null | undefined, unit = ''): string => {
  if (n === null || n === undefined) return '-';
  const text = Math.abs(n) >= 100 || Number.isInteger(n)
    ? int(Math.abs(n))
    : Math.abs(n).toFixed(1).replace(/\.0$/, '');
  return `${n > 0 ? '+' : n < 0 ? '-' : ''}${text}${unit}`;
};

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

const COLOUR = { red: '\x1b[1;31m', yellow: '\x1b[1;33m', green: '\x1b[32m', dim: '\x1b[2m', bold: '\x1b[1m',
  reverse: '\x1b[7m', off: '\x1b[0m' };

/** Percent full with the colour of its severity: red from 90%, yellow from 75%. */
function fullness(percent: number, colour: boolean): string {
  const text = `${percent.toFixed(1)}% full`;
  if (!colour) return text;
  const c = percent >= 90 ? COLOUR.red : percent >= 75 ? COLOUR.yellow : COLOUR.green;
  return `${c}${text}${COLOUR.off}`;
}

function namespaceLine(n: NamespaceFigures, colour: boolean, named: boolean): string {
  const who = named ? `[${n.netns}] ` : '';
  const events = `new ${rate(n.newPerSec)}/s  destroy ${rate(n.destroyPerSec)}/s${
    n.eventOverruns > 0 ? ` (events lost: ${n.eventOverruns} overruns)` : ''
  }`;
  const stats = `drop ${rate(n.drop)}/s  early_drop ${rate(n.early_drop)}/s  insert_failed ${rate(n.insert_failed)}/s`;
  return `${who}entries ${int(n.entries)} / ${int(n.max)} (${fullness(n.percent, colour)})  ${events}  ${stats}`;
}

/** What the screen adds to a frame: the selection, and what takes the bottom line. */
export interface ScreenState {
  /** The selected row. */
  selected: number;
  /** Show the key help instead of the groups. */
  help: boolean;
  /** The bottom line: a prompt (the filter being typed, a question) or what a key did. */
  prompt?: string;
  status?: string;
  /** The key help, as [keys, what] pairs. */
  keys: readonly (readonly [string, string])[];
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
  /** A screen with keys: the row marker column, the help page, the bottom line. */
  screen?: ScreenState;
}

/** A group's keys as a person reads them: `src 10.1.0.0/16, dport 80` (and its namespace). */
export function describeGroup(g: TopGroup, keys: readonly string[]): string {
  return keys.map((k, i) => `${k} ${keyTexts(g.key, keys)[i]}`).join(', ');
}

function tableLines(s: TopSnapshot, o: FrameOptions): string[] {
  const c = o.colour;
  const lines: string[] = [];
  const acct = s.groups.some((g) => g.counters);
  const marker = o.screen !== undefined;
  const head = ['COUNT', '%', 'CHANGE', 'RATE', ...(acct ? ['PACKETS', 'BYTES'] : []),
    ...s.by.map((k) => k.toUpperCase())];
  const rows = s.groups.map((g) => {
    const pk = g.counters ? g.counters.original.packets + g.counters.reply.packets : 0;
    const by = g.counters ? g.counters.original.bytes + g.counters.reply.bytes : 0;
    const share = s.matched > 0 ? (100 * g.count) / s.matched : 0;
    return [int(g.count), share.toFixed(1), signed(g.change), signed(g.rate, '/s'),
      ...(acct ? [g.counters ? human(pk) : '-', g.counters ? human(by) : '-'] : []), ...keyTexts(g.key, s.keys)];
  });
  const numeric = acct ? 6 : 4;
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (r: string[]): string =>
    r.map((v, i) => (i < numeric ? v.padStart(widths[i]!) : i === r.length - 1 ? v : v.padEnd(widths[i]!))).join('  ');
  const mark = (i: number): string => (!marker ? '' : i === o.screen!.selected ? '> ' : '  ');
  lines.push(c ? `${COLOUR.reverse}${mark(-1)}${fmt(head)}${COLOUR.off}` : `${mark(-1)}${fmt(head)}`);
  rows.forEach((r, i) => {
    const text = `${mark(i)}${fmt(r)}`;
    lines.push(c && marker && i === o.screen!.selected ? `${COLOUR.bold}${text}${COLOUR.off}` : text);
  });
  if (s.groups.length === 0) {
    lines.push(
      c
        ? `${COLOUR.dim}(no entries${s.text ? ' match the filter' : ''})${COLOUR.off}`
        : `(no entries${s.text ? ' match the filter' : ''})`,
    );
  }
  if (s.groupCount > s.groups.length) lines.push(`... ${int(s.groupCount - s.groups.length)} more groups`);
  return lines;
}

/** One frame as lines. */
export function renderFrame(s: TopSnapshot, o: FrameOptions): string[] {
  const c = o.colour;
  const b = (t: string): string => (c ? `${COLOUR.bold}${t}${COLOUR.off}` : t);
  const lines: string[] = [];
  const clock = s.time.slice(11, 19);
  lines.push(
    `${b('nfct top')} - ${o.title}  every ${s.interval}s  by ${s.by.join(',')}  sort ${s.sort}${
      s.text ? `  filter ${s.text}` : ''
    }  ${clock} UTC`,
  );
  const many = s.namespaces.length > 1;
  if (many) {
    const fullest = [...s.namespaces].sort((x, y) => y.percent - x.percent)[0]!;
    lines.push(
      `namespaces ${s.namespaces.length}  entries ${int(s.entries)}  fullest [${fullest.netns}] ${
        int(fullest.entries)
      } / ${int(fullest.max)} (${fullness(fullest.percent, c)})`,
    );
  }
  const shown = many ? [...s.namespaces].sort((x, y) => y.entries - x.entries).slice(0, 5) : s.namespaces;
  for (const n of shown) lines.push(namespaceLine(n, c, many));
  if (many && s.namespaces.length > shown.length) {
    lines.push(`  ... ${s.namespaces.length - shown.length} more namespaces`);
  }
  lines.push('');
  if (o.screen?.help) {
    lines.push(b('Keys'));
    for (const [k, what] of o.screen.keys) lines.push(`  ${k.padEnd(18)}${what}`);
    lines.push('', '(any key returns)');
  } else lines.push(...tableLines(s, o));
  const bottom = o.screen?.prompt ?? o.screen?.status;
  if (o.help || bottom) {
    const helpLine = bottom ?? 'g/G: group by  s: sort  +/-: interval  /: filter  d: delete  ?: keys  q: quit';
    const room = o.rows ?? Infinity;
    while (lines.length < room - 1 && o.rows !== undefined) lines.push('');
    lines.push(c && !bottom ? `${COLOUR.dim}${helpLine}${COLOUR.off}` : helpLine);
  }
  let out = o.rows !== undefined && lines.length > o.rows
    ? [...lines.slice(0, o.rows - 1), lines[lines.length - 1]!]
    : lines;
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

/** The snapshot as one NDJSON line (schema/top.json). */
export function topLine(s: TopSnapshot, filter: string | undefined): string {
  const body = {
    interval: s.interval,
    by: s.by,
    sort: s.sort,
    ...(filter || s.text ? { filter: [filter, s.text && `text ${s.text}`].filter(Boolean).join(', ') } : {}),
    entries: s.entries,
    matched: s.matched,
    namespaces: s.namespaces.map(({ netns, netnsObject, ...n }) => ({ netns: netnsObject ?? { label: netns }, ...n })),
    groupCount: s.groupCount,
    groups: s.groups.map((g) => ({ key: g.key, count: g.count, change: g.change ?? null, rate: g.rate ?? null,
      ...(g.counters ? { counters: g.counters } : {}) })
    ),
  };
  return withHead(lineHead('top', s.time, 'received'), JSON.stringify(body));
}
